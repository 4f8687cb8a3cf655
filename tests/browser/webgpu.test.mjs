// The demo page on WebGPU (SwiftShader in headless Chromium here): the backend is reported
// and the image matches the native CLI. One generation only: SwiftShader is slow.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

// GPU float order and f32 kernels differ from the CPU path, so the bound is looser than
// cpu.test.mjs; the measured numbers are printed as diagnostics.
const GPU_MAX = 8;
const GPU_MEAN = 0.1;

let env;
before(async () => { env = await h.setup(); });
after(async () => { await env?.close(); });

test('WebGPU path: reports WebGPU and equals native within tolerance', { timeout: 420_000 }, async (t) => {
  const caption = 'a big red circle on the left on a white background';
  const native = h.runNative('webgpu-native', caption, 7);
  const page = await env.openPage({ backend: 'webgpu', caption, seed: 7 });
  const t0 = Date.now();
  await h.waitDone(page, 1, { timeout: 400_000 });
  t.diagnostic(`load + first generation on WebGPU: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const st = await h.appState(page);
  assert.equal(st.backend, 'webgpu', 'data-backend');
  const label = await page.textContent('#backend');
  t.diagnostic(`#backend: ${JSON.stringify(label.trim())}`);
  assert.match(label, /WebGPU/, '#backend text');
  t.diagnostic(`#timings: ${JSON.stringify((await page.textContent('#timings')).trim())}`);

  const res = await h.compareWithNative(page, native);
  for (const size of h.SIZES) {
    const d = res[size];
    t.diagnostic(`WebGPU vs native ${size}px: max abs diff ${d.max}, mean ${h.fmt(d.mean, 4)}, >2 levels ${h.fmt(d.fracOver2 * 100, 2)}%`);
    assert.ok(Math.max(...h.channelStd(await h.readCanvas(page, size))) > 2, `stage ${size} is blank`);
    assert.ok(d.max <= GPU_MAX, `stage ${size}: max abs diff ${d.max} > ${GPU_MAX}`);
    assert.ok(d.mean <= GPU_MEAN, `stage ${size}: mean abs diff ${d.mean} > ${GPU_MEAN}`);
  }
  h.assertNoErrors(page);
  await page.close();
});
