// The demo page on the CPU (wasm) backend: generation on typing, equality with the native
// CLI, word chips and their attention overlays.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as h from './harness.mjs';

// Tolerances vs the native CLI, in 0-255 levels over all RGBA channels (see the report in
// the test output: the measured numbers are printed as diagnostics).
const CPU_MAX = 2;
const CPU_MEAN = 0.02;
// "Not blank": the largest per-channel standard deviation of a stage image.
const MIN_STD = 2;

const SEED = 7;
const CAPTION_A = 'a big red circle on the left on a white background';
const CAPTION_B = 'a small blue square on a black background';

let env;
before(async () => { env = await h.setup(); });
after(async () => { await env?.close(); });

function assertNotBlank(img, what) {
  const std = h.channelStd(img);
  assert.ok(Math.max(...std) > MIN_STD, `${what} looks blank: per-channel std ${std.map((x) => h.fmt(x, 2))}`);
  return std;
}

test('CPU path: typing a caption draws every stage; a new caption changes the image', { timeout: 240_000 }, async (t) => {
  const page = await env.openPage({ backend: 'cpu', seed: SEED });
  await h.waitDone(page, 1);
  const st = await h.appState(page);
  assert.equal(st.backend, 'cpu', 'data-backend');
  assert.match(await page.textContent('#backend'), /CPU/, '#backend text');

  await h.typeCaption(page, CAPTION_A);
  const a = {};
  for (const size of h.SIZES) {
    a[size] = await h.readCanvas(page, size);
    assert.equal(a[size].width, size, `canvas ${size} width`);
    assert.equal(a[size].height, size, `canvas ${size} height`);
    const std = assertNotBlank(a[size], `stage ${size} of "${CAPTION_A}"`);
    t.diagnostic(`"${CAPTION_A}" ${size}px per-channel std ${std.map((x) => h.fmt(x, 1)).join(', ')}`);
  }

  await h.typeCaption(page, CAPTION_B);
  for (const size of h.SIZES) {
    const b = await h.readCanvas(page, size);
    const std = assertNotBlank(b, `stage ${size} of "${CAPTION_B}"`);
    const d = h.diff(a[size], b);
    t.diagnostic(`"${CAPTION_B}" ${size}px std ${std.map((x) => h.fmt(x, 1)).join(', ')}; mean abs diff to A ${h.fmt(d.mean, 2)}`);
    assert.ok(d.mean > 20, `stage ${size}: white-background and black-background captions should differ (mean abs diff ${d.mean})`);
  }

  // A variation (new seed, same caption) redraws with a different image.
  const before = await h.readCanvas(page, 128);
  const seq = await h.settle(page);
  await page.click('#variation');
  await h.waitDone(page, seq + 1);
  const d = h.diff(before, await h.readCanvas(page, 128));
  t.diagnostic(`variation: mean abs diff ${h.fmt(d.mean, 2)}, max ${d.max}`);
  assert.ok(d.mean > 0.2, `#variation should change the image (mean abs diff ${d.mean})`);
  h.assertNoErrors(page);
  await page.close();
});

test('CPU path equals native `t2i sample` (same caption, seed, weights)', { timeout: 240_000 }, async (t) => {
  const cases = [
    { caption: CAPTION_A, seed: SEED },
    { caption: 'a tiny yellow star at the top on a gray background', seed: 123 },
  ];
  const natives = cases.map((c, i) => h.runNative(`cpu-native-${i}`, c.caption, c.seed));

  // Case 0 through the URL; case 1 by typing the caption and then the seed.
  const page = await env.openPage({ backend: 'cpu', caption: cases[0].caption, seed: cases[0].seed });
  await h.waitDone(page, 1);
  const worst = { max: 0, mean: 0 };
  const check = async (i) => {
    const res = await h.compareWithNative(page, natives[i]);
    for (const size of h.SIZES) {
      const d = res[size];
      t.diagnostic(`case ${i} ${size}px: max abs diff ${d.max}, mean ${h.fmt(d.mean, 4)}, >2 levels ${h.fmt(d.fracOver2 * 100, 2)}%`);
      worst.max = Math.max(worst.max, d.max);
      worst.mean = Math.max(worst.mean, d.mean);
      assert.ok(d.max <= CPU_MAX, `case ${i} stage ${size}: max abs diff ${d.max} > ${CPU_MAX}`);
      assert.ok(d.mean <= CPU_MEAN, `case ${i} stage ${size}: mean abs diff ${d.mean} > ${CPU_MEAN}`);
    }
  };
  await check(0);

  await h.typeCaption(page, cases[1].caption);
  const seq = await h.settle(page);
  await page.fill('#seed', String(cases[1].seed));
  await page.locator('#seed').blur(); // commit like a user tabbing out
  await h.waitDone(page, seq + 1);
  await h.settle(page);
  assert.equal(await page.inputValue('#seed'), String(cases[1].seed));
  await check(1);
  t.diagnostic(`CPU vs native worst: max ${worst.max}, mean ${h.fmt(worst.mean, 4)} (limits ${CPU_MAX} / ${CPU_MEAN})`);
  h.assertNoErrors(page);
  await page.close();
});

test('word chips: one per known token; a clicked chip draws its attention overlay; sheet; download', { timeout: 180_000 }, async (t) => {
  const native = h.runNative('chips', CAPTION_A, SEED);
  const page = await env.openPage({ backend: 'cpu', caption: CAPTION_A, seed: SEED });
  await h.waitDone(page, 1);

  const chips = await page.$$eval('button.word-chip', (els) =>
    els.map((e) => ({ index: e.dataset.index, word: e.dataset.word, pressed: e.getAttribute('aria-pressed') })));
  assert.deepEqual(chips.map((c) => c.word), native.tokens, 'chip words = the tokens the model saw');
  assert.deepEqual(chips.map((c) => Number(c.index)), native.tokens.map((_, i) => i), 'chip data-index');

  const overlays = await page.$$eval('canvas.stage-overlay', (els) => els.map((e) => e.dataset.size));
  assert.ok(overlays.length > 0, 'canvas.stage-overlay exists');
  const readOverlays = async () => {
    const out = {};
    for (const size of overlays) out[size] = await h.readCanvas(page, `canvas.stage-overlay[data-size="${size}"]`);
    return out;
  };
  // Click a chip and poll until some overlay is drawn (the page may draw on the next frame).
  const clickChip = async (word) => {
    const chip = page.locator(`button.word-chip[data-word="${word}"]`).first();
    await chip.click();
    assert.equal(await chip.getAttribute('aria-pressed'), 'true', `chip "${word}" aria-pressed`);
    let o;
    for (let i = 0; i < 40; i++) {
      o = await readOverlays();
      if (Object.values(o).some((img) => h.alphaStats(img).nonzero > 0)) break;
      await h.sleep(50);
    }
    return o;
  };

  const red = await clickChip('red');
  for (const [size, img] of Object.entries(red)) {
    const a = h.alphaStats(img);
    t.diagnostic(`overlay ${size} after "red": ${h.fmt(a.frac * 100, 1)}% pixels drawn, max alpha ${a.max}`);
  }
  assert.ok(Object.values(red).some((img) => h.alphaStats(img).nonzero > 0), 'overlay empty after clicking "red"');

  const circle = await clickChip('circle');
  let best = 0;
  for (const size of overlays) {
    const d = h.diff(red[size], circle[size]);
    t.diagnostic(`overlay ${size}: "red" vs "circle" mean abs diff ${h.fmt(d.mean, 3)}, max ${d.max}`);
    best = Math.max(best, d.mean);
  }
  assert.ok(best > 0.5, `overlays of "red" and "circle" should differ (best mean abs diff ${best})`);

  // "All words" opens the sheet: one tile per token.
  await page.click('#all-words');
  assert.ok(await page.locator('#sheet').isVisible(), '#sheet visible after #all-words');
  assert.equal(await page.locator('#sheet canvas').count(), native.tokens.length, 'one sheet tile per token');

  // #download saves a PNG.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.click('#download')]);
  const png = await readFile(await download.path());
  t.diagnostic(`download: ${download.suggestedFilename()} (${png.length} bytes, ${png.readUInt32BE(16)}x${png.readUInt32BE(20)})`);
  assert.match(download.suggestedFilename(), /\.png$/);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])), 'download is a PNG');

  // The image canvases stay the pure generated RGBA (the overlay is separate).
  const res = await h.compareWithNative(page, native);
  for (const size of h.SIZES)
    assert.ok(res[size].max <= CPU_MAX, `stage ${size} changed after clicking chips (max diff ${res[size].max})`);
  h.assertNoErrors(page);
  await page.close();
});

test('rapid edits: the last caption and seed win, earlier generations are dropped', { timeout: 180_000 }, async (t) => {
  const last = 'a tiny green triangle at the bottom on a black background';
  const native = h.runNative('rapid', last, 5);
  const page = await env.openPage({ backend: 'cpu', seed: 1 });
  await h.waitDone(page, 1);
  // Edits inside the debounce, during a generation, then a seed change right after.
  await page.fill('#caption', 'a big red circle on a white background');
  await h.sleep(280);
  await page.fill('#caption', 'a yellow star on a gray background');
  await h.sleep(300);
  await page.fill('#caption', last);
  await h.sleep(100);
  await page.fill('#seed', '5');
  await h.settle(page, { quietMs: 1500 });
  const chips = await page.$$eval('button.word-chip', (els) => els.map((e) => e.dataset.word));
  assert.deepEqual(chips, native.tokens, 'chips belong to the last caption');
  const res = await h.compareWithNative(page, native);
  for (const size of h.SIZES) {
    t.diagnostic(`${size}px vs native(last caption, seed 5): max ${res[size].max}, mean ${h.fmt(res[size].mean, 4)}`);
    assert.ok(res[size].max <= CPU_MAX && res[size].mean <= CPU_MEAN, `stage ${size} is not the last caption's image`);
  }
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('caption'), last, 'URL caption updated');
  assert.equal(url.searchParams.get('seed'), '5', 'URL seed updated');
  h.assertNoErrors(page);
  await page.close();
});

test('weights cache: a reload takes model.safetensors from the Cache API; nocache=1 downloads it', { timeout: 120_000 }, async (t) => {
  const load = async (params) => {
    let n = 0;
    const page = await env.openPage({ backend: 'cpu', seed: 7, ...params }, {
      before: (p) => p.on('request', (r) => { if (r.url().endsWith('/model.safetensors')) n++; }),
    });
    await h.waitDone(page, 1);
    h.assertNoErrors(page);
    await page.close();
    return n;
  };
  await load({}); // make sure a copy is cached (earlier tests in this file may have done so)
  const cached = await load({});
  const fresh = await load({ nocache: 1 });
  t.diagnostic(`requests for model.safetensors: cached load ${cached}, nocache=1 load ${fresh}`);
  assert.equal(cached, 0, 'a reload should not request model.safetensors');
  assert.equal(fresh, 1, 'nocache=1 should download model.safetensors once');
});
