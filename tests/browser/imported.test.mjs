// Models imported from PyTorch checkpoints (`t2i import`) are ordinary exported models: the
// page loads them and draws all three stages (64, 128, 256 px) equal to the native CLI. The
// parity fixtures (a tiny AttnGAN and a tiny DM-GAN, tests/fixtures/*_parity) are imported
// here and offered to the page through an intercepted weights/index.json.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as h from './harness.mjs';

const CAPTION = 'a bird with red wings and yellow belly';
const SIZES = [64, 128, 256];
const VARIANTS = ['attngan', 'dmgan'];
const dirOf = (variant) => join(h.OUT, 'weights', `imported-${variant}`);

let env;
before(async () => {
  for (const variant of VARIANTS) {
    const fixture = join(h.ROOT, 'tests/fixtures', `${variant}_parity`);
    rmSync(dirOf(variant), { recursive: true, force: true });
    const args = ['import', '--text-encoder', join(fixture, 'text_encoder.pth'), '--generator', join(fixture, 'netG.pth'),
      '--captions', join(fixture, 'captions.pickle'), '--out', dirOf(variant)];
    const r = spawnSync(h.T2I_BIN, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`t2i ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  }
  env = await h.setup();
});
after(async () => { await env?.close(); });

/** Serve weights/index.json listing the imported models, and their files from h.OUT. */
async function offerImported(page) {
  const index = { default: 'imported-attngan', models: VARIANTS.map((v) => ({ id: `imported-${v}`, title: `imported ${v}` })) };
  await page.route('**/weights/index.json', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(index) }));
  for (const variant of VARIANTS) {
    for (const file of readdirSync(dirOf(variant))) {
      await page.route(`**/weights/imported-${variant}/${file}`, (route) => route.fulfill({ path: join(dirOf(variant), file) }));
    }
  }
}

for (const variant of VARIANTS) {
  test(`imported ${variant} checkpoint: three stages in the page equal the native CLI`, { timeout: 240_000 }, async (t) => {
    assert.ok(existsSync(join(dirOf(variant), 'config.json')), 'import wrote no config.json');
    const native = h.runNative(`imported-${variant}`, CAPTION, 3, { model: dirOf(variant) });
    const page = await env.openPage({ backend: 'cpu', nocache: 1, model: `imported-${variant}`, seed: 3, caption: CAPTION },
      { before: offerImported });
    await h.waitDone(page, 1);
    for (const size of SIZES) {
      const img = await h.readCanvas(page, size);
      assert.equal(img.width, size, `canvas ${size} width`);
    }
    const res = await h.compareWithNative(page, native, SIZES);
    for (const size of SIZES) {
      const d = res[size];
      t.diagnostic(`${variant} ${size}px vs native: max abs diff ${d.max}, mean ${h.fmt(d.mean, 4)}`);
      assert.ok(d.max <= 2 && d.mean <= 0.02, `${variant} stage ${size}: max ${d.max}, mean ${d.mean}`);
    }
    // One chip per word the model saw, each with an overlay per refinement stage.
    const chips = await page.locator('button.word-chip').count();
    assert.equal(chips, native.tokens.length, `chips ${chips} vs tokens ${native.tokens.join(' ')}`);
    h.assertNoErrors(page);
    await page.close();
  });
}
