// Hostile and unknown captions: markup in a caption is shown as text, never parsed;
// unknown words are listed; a caption with no known word is an error the page recovers from.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

let env;
before(async () => { env = await h.setup(); });
after(async () => { await env?.close(); });

const XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script> a red circle';
const XSS2 = '<svg onload="window.__pwned=2"></svg><iframe src="javascript:parent.__pwned=3"></iframe> a blue square';

/** Everything an injection could leave behind, read from the page. */
function probe(page) {
  return page.evaluate(() => {
    const all = [...document.querySelectorAll('*')];
    return {
      pwned: typeof window.__pwned,
      imgX: document.querySelectorAll('img[src="x"]').length,
      svg: document.querySelectorAll('svg[onload]').length,
      iframes: document.querySelectorAll('iframe').length,
      scripts: [...document.scripts].filter((s) => s.textContent.includes('__pwned')).length,
      inlineHandlers: all.filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).map((e) => e.outerHTML.slice(0, 80)),
      unknownList: document.querySelector('#unknown-words')?.textContent ?? null,
      unknownChips: [...document.querySelectorAll('.word-chip.unknown')].map((e) => ({
        word: e.dataset.word, text: e.textContent, tag: e.tagName, children: e.children.length,
      })),
    };
  });
}

function assertClean(p, native, what) {
  assert.equal(p.pwned, 'undefined', `${what}: window.__pwned was set`);
  assert.equal(p.imgX, 0, `${what}: an <img src=x> was injected`);
  assert.equal(p.svg, 0, `${what}: an <svg onload> was injected`);
  assert.equal(p.iframes, 0, `${what}: an <iframe> was injected`);
  assert.equal(p.scripts, 0, `${what}: a <script> was injected`);
  assert.deepEqual(p.inlineHandlers, [], `${what}: elements with inline on* handlers`);
  // The unknown words are shown, as plain text, exactly as the tokenizer reports them.
  assert.ok(native.unknownWords.length > 0, 'native CLI reports unknown words');
  // (compared as sets: the page may or may not repeat a word that occurs twice)
  const uniq = (xs) => [...new Set(xs)].sort();
  assert.deepEqual(uniq(p.unknownChips.map((c) => c.word)), uniq(native.unknownWords), `${what}: unknown chips = native unknown words`);
  for (const c of p.unknownChips) {
    assert.equal(c.tag, 'SPAN', `${what}: unknown chip is a span`);
    assert.equal(c.children, 0, `${what}: unknown chip "${c.word}" has child elements`);
    assert.ok(c.text.includes(c.word), `${what}: unknown chip text ${JSON.stringify(c.text)} lacks ${JSON.stringify(c.word)}`);
  }
  for (const w of native.unknownWords)
    assert.ok(p.unknownList.includes(w), `${what}: #unknown-words ${JSON.stringify(p.unknownList)} lacks ${JSON.stringify(w)}`);
}

test('security: markup in a caption (URL or typed) is text, not DOM', { timeout: 180_000 }, async (t) => {
  const n1 = h.runNative('xss-1', XSS, 7);
  const n2 = h.runNative('xss-2', XSS2, 7);
  t.diagnostic(`unknown words: ${JSON.stringify(n1.unknownWords)}; ${JSON.stringify(n2.unknownWords)}`);

  const page = await env.openPage({ backend: 'cpu', caption: XSS, seed: 7 });
  await h.waitDone(page, 1);
  await h.sleep(500); // give an injected onerror time to fire
  assertClean(await probe(page), n1, 'caption from the URL');
  assert.equal(await page.inputValue('#caption'), XSS, '#caption shows the URL caption verbatim');
  const chips = await page.$$eval('button.word-chip', (els) => els.map((e) => e.dataset.word));
  assert.deepEqual(chips, n1.tokens, 'known-word chips');

  await h.typeCaption(page, XSS2);
  await h.sleep(500);
  assertClean(await probe(page), n2, 'typed caption');
  h.assertNoErrors(page);
  await page.close();
});

test('unknown words are listed; a caption of only unknown words is an error the page recovers from', { timeout: 180_000 }, async (t) => {
  const page = await env.openPage({ backend: 'cpu', caption: 'a red xylophone circle', seed: 7 });
  const seq = await h.waitDone(page, 1);
  assert.match(await page.textContent('#unknown-words'), /xylophone/, '#unknown-words');
  assert.equal(await page.locator('.word-chip.unknown[data-word="xylophone"]').count(), 1, 'unknown chip for "xylophone"');
  const img = await h.readCanvas(page, 128);
  assert.ok(Math.max(...h.channelStd(img)) > 2, 'image drawn despite the unknown word');
  assert.equal((await page.textContent('#error')).trim(), '', '#error is empty after a good generation');

  await h.settle(page);
  await page.fill('#caption', 'xylophone marimba');
  const st = await h.waitState(page, 'error', { timeout: 30_000 });
  t.diagnostic(`only-unknown caption → #error ${JSON.stringify(st.error)}`);
  assert.ok(st.error.trim().length > 0, '#error has a message');
  assert.equal(await page.getAttribute('#error', 'role'), 'alert', '#error role=alert');
  assert.ok(await page.locator('#error').isVisible(), '#error is visible');
  assert.equal(st.seq, seq, 'no generation is counted for the failed caption');

  // Recovery: a valid caption generates again and clears the error.
  await page.fill('#caption', 'a green star on a gray background');
  await h.waitDone(page, seq + 1, { timeout: 60_000 });
  const err = (await page.textContent('#error')).trim();
  assert.ok(err === '' || !(await page.locator('#error').isVisible()), `#error still shows ${JSON.stringify(err)}`);
  assert.equal(await page.locator('.word-chip.unknown').count(), 0, 'no unknown chips left');
  h.assertNoErrors(page, { console: true });
  await page.close();
});
