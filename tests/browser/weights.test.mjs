// Damaged weight downloads: the page must refuse them with a readable message (CRC / byte
// count), go to data-state=error, and throw nothing uncaught.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import * as h from './harness.mjs';

const REAL = readFileSync(join(h.MODEL_DIR, 'model.safetensors'));

let env;
before(async () => { env = await h.setup(); });
after(async () => { await env?.close(); });

/**
 * Open the page with model.safetensors replaced by `body` (and config.json by `config`, if
 * given); returns {page, state, hits}.
 */
async function loadWith(body, config) {
  let hits = 0;
  const page = await env.openPage({ backend: 'cpu', nocache: 1, seed: 7 }, {
    before: async (p) => {
      await p.route('**/model.safetensors', (route) => {
        hits++;
        return route.fulfill({ status: 200, contentType: 'application/octet-stream', body });
      });
      if (config)
        await p.route(`**/weights/${h.MODEL}/config.json`, (route) =>
          route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(config) }));
    },
  });
  const state = await h.waitState(page, 'error', { timeout: 60_000 }).catch(async (e) => {
    throw new Error(`page did not go to data-state=error (${JSON.stringify(await h.appState(page))}): ${e.message}`);
  });
  return { page, state, hits };
}

test('flipped bytes in model.safetensors → CRC error', { timeout: 120_000 }, async (t) => {
  const body = Buffer.from(REAL);
  // Flip bytes inside the tensor data (past the header), so only the checksum can notice.
  for (const f of [0.4, 0.6, 0.9]) body[Math.floor(body.length * f)] ^= 0x5a;
  const { page, state, hits } = await loadWith(body);
  assert.ok(hits > 0, 'the weights request was not intercepted (served from a cache despite nocache=1?)');
  t.diagnostic(`#error: ${JSON.stringify(state.error)}`);
  assert.match(state.error, /crc|checksum/i, '#error mentions the CRC');
  assert.ok(await page.locator('#error').isVisible(), '#error is visible');
  h.assertNoErrors(page, { console: true });
  await page.close();
});

test('truncated model.safetensors → byte-count error', { timeout: 120_000 }, async (t) => {
  const { page, state, hits } = await loadWith(REAL.subarray(0, REAL.length - 4096));
  assert.ok(hits > 0, 'the weights request was not intercepted');
  t.diagnostic(`#error: ${JSON.stringify(state.error)}`);
  assert.match(state.error, /bytes|truncat/i, '#error mentions the byte count');
  assert.ok(await page.locator('#error').isVisible(), '#error is visible');
  h.assertNoErrors(page, { console: true });
  await page.close();
});

test('truncated model.safetensors with a matching size/CRC in config.json → the wasm rejects it', { timeout: 120_000 }, async (t) => {
  // config.json is rewritten to agree with the cut file, so neither the page's byte count nor
  // the CRC can notice: the safetensors parser inside the wasm must fail cleanly (an Error,
  // not a panic or a hang).
  const body = REAL.subarray(0, REAL.length >> 1);
  const config = JSON.parse(readFileSync(join(h.MODEL_DIR, 'config.json'), 'utf8'));
  config.weights.bytes = body.length;
  config.weights.crc32 = crc32(body).toString(16).padStart(8, '0');
  const { page, state, hits } = await loadWith(body, config);
  assert.ok(hits > 0, 'the weights request was not intercepted');
  t.diagnostic(`#error: ${JSON.stringify(state.error)}`);
  assert.doesNotMatch(state.error, /crc|config\.json says/i, 'the pre-checks should have passed');
  assert.match(state.error, /truncat|safetensors|short|end of|out of (range|bounds)|tensor/i, '#error says what is wrong with the file');
  assert.doesNotMatch(state.error, /panick|unreachable|RuntimeError/i, 'not a wasm panic/trap');
  h.assertNoErrors(page, { console: true });
  await page.close();
});

test('unknown model id → error naming the missing file', { timeout: 60_000 }, async (t) => {
  const page = await env.openPage({ backend: 'cpu', model: 'no-such-model' });
  const state = await h.waitState(page, 'error', { timeout: 30_000 });
  t.diagnostic(`#error: ${JSON.stringify(state.error)}`);
  assert.match(state.error, /no-such-model/, '#error names the model');
  assert.match(state.error, /404|not found/i, '#error says it was not found');
  h.assertNoErrors(page, { console: true });
  await page.close();
});
