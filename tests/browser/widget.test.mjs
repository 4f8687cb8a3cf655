// web/embed-example.html: both <t2i-widget> elements finish, draw, and draw different images.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

let env;
before(async () => { env = await h.setup(); });
after(async () => { await env?.close(); });

test('embed example: two widgets reach done with different, non-blank images', { timeout: 480_000 }, async (t) => {
  const page = await env.openPage({}, { path: 'web/embed-example.html' });
  const n = await page.locator('t2i-widget').count();
  assert.equal(n, 2, 'two <t2i-widget> elements');
  // Tag the hosts so the canvas read-back can address each shadow root.
  await page.$$eval('t2i-widget', (els) => els.forEach((e, i) => e.setAttribute('data-test-id', `w${i}`)));

  const h0 = Date.now();
  const states = await page.waitForFunction(() => {
    const els = [...document.querySelectorAll('t2i-widget')];
    if (els.some((e) => e.dataset.state === 'error')) return els.map((e) => e.dataset.state);
    return els.every((e) => e.dataset.state === 'done' && Number(e.dataset.seq) >= 1) && els.map((e) => e.dataset.state);
  }, null, { timeout: 460_000, polling: 100 }).then((x) => x.jsonValue());
  t.diagnostic(`both widgets settled in ${((Date.now() - h0) / 1000).toFixed(1)} s: ${states}`);
  assert.deepEqual(states, ['done', 'done'], 'widget data-state');

  const imgs = [];
  for (let i = 0; i < 2; i++) {
    const host = `t2i-widget[data-test-id="w${i}"]`;
    const sizes = await page.evaluate((host) =>
      [...document.querySelector(host).shadowRoot.querySelectorAll('canvas.stage-image')].map((c) => Number(c.dataset.size)), host);
    assert.ok(sizes.length > 0, `widget ${i} has canvas.stage-image in its open shadow root`);
    const size = Math.max(...sizes);
    const img = await h.readCanvas(page, `canvas.stage-image[data-size="${size}"]`, { host });
    const std = h.channelStd(img);
    t.diagnostic(`widget ${i}: ${size}px, per-channel std ${std.map((x) => h.fmt(x, 1)).join(', ')}`);
    assert.equal(img.width, size);
    assert.ok(Math.max(...std) > 2, `widget ${i} image is blank`);
    imgs.push(img);
    // Same picture as the native CLI for the widget's caption and seed.
    const attr = await page.evaluate((host) => {
      const e = document.querySelector(host);
      return { caption: e.getAttribute('caption'), seed: Number(e.getAttribute('seed') || 0) };
    }, host);
    const native = h.runNative(`widget-${i}`, attr.caption, attr.seed);
    const d = h.diff(img, await h.loadNativePng(page, native.url(size)));
    t.diagnostic(`widget ${i} (${JSON.stringify(attr.caption)}, seed ${attr.seed}) vs native: max ${d.max}, mean ${h.fmt(d.mean, 4)}`);
    assert.ok(d.max <= 8 && d.mean <= 0.1, `widget ${i} differs from native: max ${d.max}, mean ${d.mean}`);
  }
  const d = h.diff(imgs[0], imgs[1]);
  t.diagnostic(`widget 0 vs 1: mean abs diff ${h.fmt(d.mean, 2)}`);
  assert.ok(d.mean > 2, `the two widgets drew (nearly) the same image (mean abs diff ${d.mean})`);

  // Changing an attribute regenerates that widget only.
  const seqs = () => page.$$eval('t2i-widget', (els) => els.map((e) => Number(e.dataset.seq)));
  const [s0, s1] = await seqs();
  const caption = 'a big green star on a gray background';
  await page.$eval('t2i-widget[data-test-id="w0"]', (e, c) => e.setAttribute('caption', c), caption);
  await page.waitForFunction((s0) => {
    const e = document.querySelector('t2i-widget[data-test-id="w0"]');
    if (e.dataset.state === 'error') return true;
    return e.dataset.state === 'done' && Number(e.dataset.seq) > s0;
  }, s0, { timeout: 120_000, polling: 100 });
  assert.equal(await page.getAttribute('t2i-widget[data-test-id="w0"]', 'data-state'), 'done', 'widget 0 after caption change');
  assert.equal((await seqs())[1], s1, 'widget 1 did not regenerate');
  const size = imgs[0].width;
  const native = h.runNative('widget-0b', caption, await page.$eval('t2i-widget[data-test-id="w0"]', (e) => Number(e.getAttribute('seed') || 0)));
  const again = await h.readCanvas(page, `canvas.stage-image[data-size="${size}"]`, { host: 't2i-widget[data-test-id="w0"]' });
  const dn = h.diff(again, await h.loadNativePng(page, native.url(size)));
  t.diagnostic(`widget 0 after caption change vs native: max ${dn.max}, mean ${h.fmt(dn.mean, 4)}`);
  assert.ok(dn.max <= 8 && dn.mean <= 0.1, `widget 0 after caption change differs from native: max ${dn.max}, mean ${dn.mean}`);
  h.assertNoErrors(page);
  await page.close();
});
