// Every model-zoo variant runs in the page: DM-GAN, ECAGAN, CAE-GAN (cross-attention text
// encoder + DM-GAN generator) and RAT-GAN. Tiny models are trained and exported here with the
// native CLI (2 GAN steps: this checks the browser path, not quality), offered to the page
// through an intercepted weights/index.json, and drawn equal to the native CLI. RAT-GAN draws
// one 128 px image with the discriminator's spatial attention as its overlay, labelled so. The
// layout model (Hong et al.) draws one 64 px image with its boxes and masks as the overlay, and
// lists the same boxes the CLI writes to boxes.json.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as h from './harness.mjs';

const CAPTION = 'a small red circle above a large blue square';
const ROOT = join(h.OUT, 'variants');
// id → [variant, text encoder]
const MODELS = {
  'tiny-dmgan': ['dmgan', 'bilstm'],
  'tiny-ecagan': ['ecagan', 'bilstm'],
  'tiny-caegan': ['dmgan', 'cae'],
  'tiny-ratgan': ['ratgan', 'bilstm'],
  'tiny-layout': ['layout', 'bilstm'],
};
const dirOf = (id) => join(ROOT, 'weights', id);

function t2i(args) {
  const r = spawnSync(h.T2I_BIN, args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`t2i ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** configs/tiny.toml with the variant and text encoder set. */
function tinyConfig(variant, encoder) {
  if (variant === 'layout') return join(h.ROOT, 'configs/tiny-layout.toml');
  let text = readFileSync(join(h.ROOT, 'configs/tiny.toml'), 'utf8').replace('variant = "attngan"', `variant = "${variant}"`);
  if (encoder !== 'bilstm') text = text.replace('[model.damsm]', `encoder = "${encoder}"\n\n[model.damsm]`);
  const path = join(ROOT, `${variant}-${encoder}.toml`);
  writeFileSync(path, text);
  return path;
}

let env;
before(async () => {
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(ROOT, { recursive: true });
  const damsm = {};
  for (const [id, [variant, encoder]] of Object.entries(MODELS)) {
    const cfg = tinyConfig(variant, encoder);
    if (!damsm[encoder]) {
      damsm[encoder] = join(ROOT, `damsm-${encoder}`);
      t2i(['train', 'damsm', '--config', cfg, '--out', damsm[encoder], '--steps', '2', '--quiet']);
    }
    const run = join(ROOT, `run-${id}`);
    t2i(['train', 'gan', '--config', cfg, '--damsm', damsm[encoder], '--out', run, '--steps', '2', '--quiet']);
    t2i(['export', '--checkpoint', run, '--out', dirOf(id), '--dtype', 'f16']);
  }
  env = await h.setup();
});
after(async () => { await env?.close(); });

async function offer(page) {
  const index = { default: 'tiny-dmgan', models: Object.keys(MODELS).map((id) => ({ id, title: id })) };
  await page.route('**/weights/index.json', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(index) }));
  for (const id of Object.keys(MODELS)) {
    for (const file of readdirSync(dirOf(id))) {
      await page.route(`**/weights/${id}/${file}`, (route) => route.fulfill({ path: join(dirOf(id), file) }));
    }
  }
}

for (const [id, [variant]] of Object.entries(MODELS)) {
  test(`${id}: the page draws what the native CLI draws`, { timeout: 240_000 }, async (t) => {
    const sizes = { ratgan: [128], layout: [64] }[variant] ?? [64, 128];
    const native = h.runNative(id, CAPTION, 5, { model: dirOf(id) });
    const page = await env.openPage({ backend: 'cpu', nocache: 1, model: id, seed: 5, caption: CAPTION }, { before: offer });
    await h.waitDone(page, 1);
    const drawn = await page.$$eval('canvas.stage-image', (els) => els.map((e) => Number(e.dataset.size)));
    assert.deepEqual(drawn, sizes, `${id}: stage canvases`);
    const res = await h.compareWithNative(page, native, sizes);
    for (const size of sizes) {
      t.diagnostic(`${id} ${size}px vs native: max ${res[size].max}, mean ${h.fmt(res[size].mean, 4)}`);
      assert.ok(res[size].max <= 2 && res[size].mean <= 0.02, `${id} ${size}px: ${JSON.stringify(res[size])}`);
      assert.ok(Math.max(...h.channelStd(await h.readCanvas(page, size))) > 0, `${id} ${size}px is flat`);
    }
    const overlay = () => h.readCanvas(page, `canvas.stage-overlay[data-size="${sizes.at(-1)}"]`);
    if (variant === 'layout') {
      // No word is pressed, yet the overlay shows the layout; the page lists the CLI's boxes.
      assert.ok(h.alphaStats(await overlay()).nonzero > 0, 'layout overlay is empty');
      const note = await page.locator('#word-notes').textContent();
      assert.match(note, /layout/i, `note: ${note}`);
      const boxes = JSON.parse(readFileSync(join(native.dir, 'boxes.json'), 'utf8'));
      assert.ok(boxes.length >= 1, 'the CLI wrote no boxes');
      const listed = await page.$$eval('#layout-boxes li', (els) => els.map((e) => e.dataset.label));
      assert.deepEqual(listed, boxes.map((b) => b.label), 'page and CLI boxes differ');
    } else if (variant === 'ratgan') {
      // No word is pressed, yet the overlay shows D's spatial attention, and the page says what it is.
      assert.ok(h.alphaStats(await overlay()).nonzero > 0, 'RAT-GAN overlay is empty');
      const note = await page.locator('#word-notes').textContent();
      assert.match(note, /discriminator/i, `note: ${note}`);
      assert.ok(native.stdout.includes('d_attention.png'), 'the CLI writes the D attention too');
    } else {
      assert.equal(h.alphaStats(await overlay()).nonzero, 0, 'overlay drawn before a word is chosen');
      await page.locator('button.word-chip', { hasText: 'red' }).first().click();
      assert.ok(h.alphaStats(await overlay()).nonzero > 0, `${id}: no overlay for "red"`);
    }
    h.assertNoErrors(page);
    await page.close();
  });
}
