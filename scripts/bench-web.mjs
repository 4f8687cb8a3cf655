#!/usr/bin/env node
// Benchmark of the demo page in headless Chromium (WebGPU = SwiftShader on a machine without
// a GPU) and on the CPU (wasm), next to the native CLI, plus the download size of the wasm.
//
//   node scripts/bench-web.mjs [--json FILE] [--captions N] [--backends webgpu,cpu]
//
// Cold start: navigation → final-stage image, fresh browser profile (no HTTP / Cache API /
// code cache). Warm cache: a second page load in the same profile. Warm caption → image:
// median over N captions after a first one, measured in the page (an init script records
// when the caption input fires, when #app goes busy, when each stage canvas is drawn, and
// when data-seq changes), plus the engine's own per-step times from #timings.
// Native: `t2i sample --repeat 10` medians (T2I_BIN, else target/release/t2i, else debug).

import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as h from '../tests/browser/harness.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const JSON_OUT = arg('--json', null);
const N = Number(arg('--captions', 5));
const BACKENDS = arg('--backends', 'webgpu,cpu').split(',');
const SEED = 7;
const CAPTIONS = [
  'a big red circle on the left on a white background',
  'a small blue square on a black background',
  'a green star at the top on a gray background',
  'a tiny yellow triangle below a purple circle',
  'a large orange square on the right on a white background',
  'a pink star in the center on a black background',
  'a little cyan circle at the bottom on a gray background',
  'a big purple triangle above a red square',
  'a small green circle on the left on a black background',
  'a yellow star on the right on a white background',
];

// Runs before the page's scripts: timestamps of the events we measure (performance.now(),
// i.e. ms since navigation start).
const PROBE = () => {
  const log = (window.__bench = { events: [] });
  const push = (kind, extra) => log.events.push({ kind, t: performance.now(), ...extra });
  document.addEventListener('input', (e) => { if (e.target?.id === 'caption') push('input'); }, true);
  new MutationObserver((ms) => {
    for (const m of ms) {
      if (m.target.id !== 'app') continue;
      const v = m.target.getAttribute(m.attributeName);
      if (m.attributeName === 'data-state') push('state', { state: v });
      if (m.attributeName === 'data-seq') push('seq', { seq: Number(v) });
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-seq'] });
  const hook = (proto, name) => {
    const orig = proto?.[name];
    if (!orig) return;
    proto[name] = function (...a) {
      const c = this.canvas;
      if (c?.classList?.contains('stage-image')) push('draw', { size: Number(c.dataset.size) });
      return orig.apply(this, a);
    };
  };
  hook(globalThis.CanvasRenderingContext2D?.prototype, 'putImageData');
  hook(globalThis.CanvasRenderingContext2D?.prototype, 'drawImage');
  hook(globalThis.ImageBitmapRenderingContext?.prototype, 'transferFromImageBitmap');
};

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => (Number.isFinite(x) ? (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 100 ? 1 : 0)} ms`) : '–');
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;

/** Per-step engine times ("text 1.2 ms · 64px 30 ms ...") parsed from #timings. */
function parseTimings(text) {
  const out = {};
  for (const m of text.matchAll(/(text|\d+\s*px)\D{0,12}?([\d.]+)\s*(ms|s)\b/gi))
    out[m[1].replace(/\s+/g, '').toLowerCase()] = Number(m[2]) * (m[3].toLowerCase() === 's' ? 1000 : 1);
  return out;
}

const events = (page) => page.evaluate(() => window.__bench.events);

/** Navigation → first final-stage image (data-seq 1), in page time. */
async function pageLoad(env, backend, caption) {
  const page = await env.context.newPage();
  h.trackErrors(page);
  let weightRequests = 0;
  page.on('request', (r) => { if (r.url().endsWith('/model.safetensors')) weightRequests++; });
  await page.addInitScript(PROBE);
  await page.goto(env.url + 'index.html' + h.query({ backend, caption, seed: SEED }));
  await h.waitDone(page, 1, { timeout: 600_000 });
  const ev = await events(page);
  const done = ev.find((e) => e.kind === 'seq' && e.seq >= 1)?.t;
  const final = ev.find((e) => e.kind === 'draw' && e.size === h.SIZES.at(-1))?.t;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { dcl: n?.domContentLoadedEventEnd, load: n?.loadEventEnd };
  });
  return { page, cold: done, finalDraw: final, weightRequests, ...nav };
}

/** Type captions; per caption: input → busy → each stage drawn → seq. */
async function captions(page, list) {
  const rows = [];
  for (const caption of list) {
    const seq = await h.settle(page);
    const from = (await events(page)).length;
    await page.fill('#caption', caption);
    await h.waitDone(page, seq + 1, { timeout: 600_000 });
    const ev = (await events(page)).slice(from);
    const input = ev.find((e) => e.kind === 'input')?.t;
    // Generation start: the last data-state=busy before the first stage is drawn (the page
    // also sets busy as soon as the input arrives, before its debounce).
    const firstDraw = ev.find((e) => e.kind === 'draw')?.t ?? Infinity;
    const busy = ev.filter((e) => e.kind === 'state' && e.state === 'busy' && e.t <= firstDraw).at(-1)?.t;
    const row = { caption, busyToDone: NaN, inputToDone: NaN, draw: {}, engine: {} };
    const done = ev.find((e) => e.kind === 'seq' && e.seq >= seq + 1)?.t;
    row.busyToDone = done - busy;
    row.inputToDone = done - input;
    for (const s of h.SIZES) row.draw[s] = ev.find((e) => e.kind === 'draw' && e.size === s)?.t - busy;
    row.timingsText = (await page.textContent('#timings')).trim();
    row.engine = parseTimings(row.timingsText);
    rows.push(row);
  }
  return rows;
}

async function benchBackend(backend) {
  const env = await h.setup(); // fresh profile: nothing cached
  try {
    const cold = await pageLoad(env, backend, CAPTIONS[0]);
    const actual = await h.appState(cold.page);
    const label = (await cold.page.textContent('#backend')).trim();
    await cold.page.close();
    const warm = await pageLoad(env, backend, CAPTIONS[0]);
    const rows = await captions(warm.page, CAPTIONS.slice(1, N + 2)); // first one is warm-up
    const errs = warm.page.t2iErrors.page;
    await warm.page.close();
    const measured = rows.slice(1);
    const med = (f) => median(measured.map(f));
    const steps = [...new Set(measured.flatMap((r) => Object.keys(r.engine)))];
    return {
      backend, actual: actual.backend, label, pageErrors: errs,
      coldMs: cold.cold, warmLoadMs: warm.cold,
      weightRequests: [cold.weightRequests, warm.weightRequests],
      stageDrawMs: Object.fromEntries(h.SIZES.map((s) => [s, med((r) => r.draw[s])])),
      busyToDoneMs: med((r) => r.busyToDone),
      inputToDoneMs: med((r) => r.inputToDone),
      engineMs: Object.fromEntries(steps.map((k) => [k, med((r) => r.engine[k])])),
      captions: rows,
    };
  } finally {
    await env.close();
  }
}

function nativeBench() {
  const release = join(h.ROOT, 'target/release/t2i');
  const bin = process.env.T2I_BIN || (existsSync(release) ? release : h.T2I_BIN);
  const r = h.runNative('bench-native', CAPTIONS[0], SEED, { repeat: 10, bin });
  const stepsMs = JSON.parse(readFileSync(join(r.dir, 'timings.json'), 'utf8'));
  return { bin, build: /release/.test(bin) ? 'release' : /debug/.test(bin) ? 'debug' : '?', stepsMs };
}

function sizes() {
  const out = {};
  for (const f of ['web/pkg/t2i_bg.wasm', 'web/pkg/t2i.js']) {
    const buf = readFileSync(join(h.ROOT, f));
    out[f] = {
      raw: buf.length,
      gzip: gzipSync(buf, { level: 9 }).length,
      brotli: brotliCompressSync(buf, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length },
      }).length,
    };
  }
  out.weights = { raw: statSync(join(h.MODEL_DIR, 'model.safetensors')).size };
  return out;
}

h.assertBuilt();
const result = { model: h.MODEL, date: new Date().toISOString(), captions: N, backends: {}, sizes: sizes() };
for (const b of BACKENDS) {
  process.stderr.write(`bench: ${b} ...\n`);
  result.backends[b] = await benchBackend(b);
}
process.stderr.write('bench: native ...\n');
result.native = nativeBench();

// ---- markdown ----
const B = BACKENDS.map((b) => result.backends[b]);
const nat = result.native.stepsMs;
const head = B.map((b) => (b.actual === 'webgpu' ? 'WebGPU (SwiftShader)' : b.actual === 'cpu' ? 'CPU (wasm)' : b.backend));
const lines = [];
const row = (name, cells, native = '') => lines.push(`| ${name} | ${cells.join(' | ')} | ${native} |`);
lines.push(`Model \`${h.MODEL}\`, headless Chromium (${h.CHROMIUM}), ${new Date().toISOString().slice(0, 10)}; warm numbers are medians of ${N} captions after a first one.`, '');
lines.push(`| | ${head.join(' | ')} | native CLI (${result.native.build}, median of 10) |`);
lines.push(`|---|${B.map(() => '---:').join('|')}|---:|`);
const cum = (upto) => h.SIZES.filter((s) => s <= upto).reduce((a, s) => a + (nat[`${s}px`] ?? NaN), nat.text ?? 0);
row('cold start: navigation → final image (fresh profile)', B.map((b) => ms(b.coldMs)));
row('warm cache: navigation → final image', B.map((b) => ms(b.warmLoadMs)));
row('model.safetensors requests (cold / warm load)', B.map((b) => b.weightRequests.join(' / ')));
for (const s of h.SIZES) row(`caption → ${s}px drawn (from generation start)`, B.map((b) => ms(b.stageDrawMs[s])), ms(cum(s)));
row('caption → done (generation start → data-seq)', B.map((b) => ms(b.busyToDoneMs)), ms(cum(h.SIZES.at(-1))));
row('typing → done (incl. input debounce)', B.map((b) => ms(b.inputToDoneMs)));
const steps = [...new Set([...B.flatMap((b) => Object.keys(b.engineMs)), ...Object.keys(nat)])];
for (const k of steps) row(`engine step \`${k}\` (#timings)`, B.map((b) => ms(b.engineMs[k])), ms(nat[k]));
lines.push('');
lines.push('| file | raw | gzip -9 | brotli -11 |', '|---|---:|---:|---:|');
for (const [f, s] of Object.entries(result.sizes))
  lines.push(`| ${f === 'weights' ? `weights/${h.MODEL}/model.safetensors` : f} | ${kib(s.raw)} | ${s.gzip ? kib(s.gzip) : ''} | ${s.brotli ? kib(s.brotli) : ''} |`);
for (const b of B) if (b.pageErrors.length) lines.push('', `page errors (${b.backend}): ${b.pageErrors.join('; ')}`);
console.log(lines.join('\n'));
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(result, null, 2) + '\n');
