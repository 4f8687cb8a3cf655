// Shared helpers for the browser tests and scripts/bench-web.mjs: a static server over the
// repo root, headless Chromium (playwright-core, system /usr/bin/chromium, WebGPU on), the
// page's DOM hooks (data-state / data-seq on #app), canvas read-back, the native CLI
// reference and pixel statistics.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../../web/serve.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MODEL = 'shapes-attngan';
export const MODEL_DIR = join(ROOT, 'weights', MODEL);
export const T2I_BIN = process.env.T2I_BIN || join(ROOT, 'target/debug/t2i');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const OUT = join(ROOT, 'out/browser-test');
export const SIZES = [64, 128];

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Throw (never skip) when the wasm build or the page is missing: a missing build must fail. */
export function assertBuilt() {
  const need = [
    ['web/pkg/t2i_bg.wasm', 'run `scripts/web.sh build`'],
    ['web/pkg/t2i.js', 'run `scripts/web.sh build`'],
    ['index.html', 'the demo page is missing'],
    [`weights/${MODEL}/model.safetensors`, 'the shipped weights are missing'],
  ];
  for (const [p, hint] of need) {
    if (!existsSync(join(ROOT, p))) throw new Error(`${p} not found: ${hint}`);
  }
}

/**
 * Start the server and a fresh headless Chromium profile.
 * Returns {url, context, openPage, close}. Each page gets `page.t2iErrors`
 * = {console: [...], page: [...]} (console errors incl. workers, uncaught exceptions).
 */
export async function setup({ check = true } = {}) {
  if (check) assertBuilt();
  const server = await serve({ root: ROOT, port: 0 });
  const profile = await mkdtemp(join(tmpdir(), 't2i-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 1000 },
    });
  } catch (e) {
    await server.close();
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
  // launchPersistentContext opens a blank tab; close it so every page is ours.
  for (const p of context.pages()) await p.close();

  /** Open `index.html?params` (or `path`) and start collecting errors. */
  async function openPage(params = {}, { path = 'index.html', waitUntil = 'load', before } = {}) {
    const page = await context.newPage();
    trackErrors(page);
    page.setDefaultTimeout(180_000);
    if (before) await before(page); // e.g. page.route(...) before navigation
    await page.goto(server.url + path + query(params), { waitUntil });
    return page;
  }

  async function close() {
    await context.close().catch(() => {});
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
  return { url: server.url, context, openPage, close };
}

export function query(params) {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  return q ? `?${q}` : '';
}

export function trackErrors(page) {
  const errors = { console: [], page: [] };
  page.t2iErrors = errors;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url || '';
    if (/favicon\.ico$/.test(where)) return; // the browser's own favicon probe
    errors.console.push(where ? `${m.text()} (${where})` : m.text());
  });
  page.on('pageerror', (e) => errors.page.push(String(e && e.stack ? e.stack : e)));
  return errors;
}

/** The #app state: {state, seq, backend, error}. */
export function appState(page) {
  return page.evaluate(() => {
    const app = document.querySelector('#app');
    return {
      state: app?.dataset.state ?? null,
      seq: Number(app?.dataset.seq ?? NaN),
      backend: app?.dataset.backend ?? null,
      error: document.querySelector('#error')?.textContent ?? '',
    };
  });
}

/**
 * Wait until #app is data-state=done with data-seq >= seq; returns the seq. Fails fast with
 * the #error text when the page goes to data-state=error (unless `allowError`).
 */
export async function waitDone(page, seq = 1, { timeout = 180_000 } = {}) {
  const h = await page.waitForFunction(
    (seq) => {
      const app = document.querySelector('#app');
      if (!app) return false;
      if (app.dataset.state === 'error')
        return { error: document.querySelector('#error')?.textContent || '(empty #error)' };
      const n = Number(app.dataset.seq);
      return app.dataset.state === 'done' && n >= seq ? { seq: n } : false;
    },
    seq,
    { timeout, polling: 50 },
  );
  const v = await h.jsonValue();
  if (v.error) throw new Error(`page went to data-state=error: ${v.error}`);
  return v.seq;
}

/** Wait for a given data-state (e.g. "error"); returns appState. */
export async function waitState(page, state, { timeout = 180_000 } = {}) {
  await page.waitForFunction((s) => document.querySelector('#app')?.dataset.state === s, state, {
    timeout,
    polling: 50,
  });
  return appState(page);
}

/** Wait until the page is done and has stayed idle for `quietMs` (debounced input settled). */
export async function settle(page, { quietMs = 500, timeout = 180_000 } = {}) {
  const end = Date.now() + timeout;
  let last = null, since = Date.now();
  for (;;) {
    const s = await appState(page);
    if (s.state === 'error') throw new Error(`page went to data-state=error: ${s.error}`);
    const key = `${s.state}/${s.seq}`;
    if (key !== last) { last = key; since = Date.now(); }
    if (s.state === 'done' && Date.now() - since >= quietMs) return s.seq;
    if (Date.now() > end) throw new Error(`page did not settle (last ${key})`);
    await sleep(50);
  }
}

/** Assert that the page had no uncaught errors (and, unless allowed, no console errors). */
export function assertNoErrors(page, { console: allowConsole = false } = {}) {
  const e = page.t2iErrors;
  if (e.page.length) throw new Error(`uncaught page errors:\n${e.page.join('\n')}`);
  if (!allowConsole && e.console.length) throw new Error(`console errors:\n${e.console.join('\n')}`);
}

/** Replace the caption text (fires input events, like typing) and wait for the next image. */
export async function typeCaption(page, caption, { timeout } = {}) {
  const seq = await settle(page);
  await page.fill('#caption', caption);
  return waitDone(page, seq + 1, { timeout });
}

// Pixel read-back runs in the page (inline, so a page CSP without 'unsafe-eval' is fine);
// data comes back as a base64 string (fast over CDP).
function decode({ width, height, b64 }) {
  return { width, height, data: new Uint8Array(Buffer.from(b64, 'base64')) };
}

/**
 * Read a canvas's pixels. `selector` is either a stage size (→ canvas.stage-image[data-size])
 * or a CSS selector. `host` optionally names an element whose open shadow root holds it.
 */
export async function readCanvas(page, selector, { host = null } = {}) {
  const sel = typeof selector === 'number' ? `canvas.stage-image[data-size="${selector}"]` : selector;
  const r = await page.evaluate(
    ([sel, host]) => {
      const root = host ? document.querySelector(host)?.shadowRoot : document;
      const c = root?.querySelector(sel);
      if (!c) return { missing: `${host ? host + ' >>> ' : ''}${sel}` };
      if (!c.width || !c.height) return { missing: `${sel} has size ${c.width}x${c.height}` };
      const o = new OffscreenCanvas(c.width, c.height);
      const ctx = o.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(c, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let s = '';
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, b64: btoa(s) };
    },
    [sel, host],
  );
  if (r.missing) throw new Error(`canvas not found: ${r.missing}`);
  return decode(r);
}

/** Decode a PNG served at `url` (relative to the page) in the page, without colour conversion. */
export async function loadNativePng(page, url) {
  const r = await page.evaluate(
    async (url) => {
      const res = await fetch(url, { cache: 'no-store' });
      if (!res.ok) return { missing: `${url}: HTTP ${res.status}` };
      const bmp = await createImageBitmap(await res.blob(), {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
      });
      const o = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = o.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bmp, 0, 0);
      const d = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
      let s = '';
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: bmp.width, height: bmp.height, b64: btoa(s) };
    },
    url,
  );
  if (r.missing) throw new Error(`cannot load ${r.missing}`);
  return decode(r);
}

/** Per-channel (R, G, B) standard deviation of an RGBA image. */
export function channelStd({ data }) {
  const n = data.length / 4;
  const out = [];
  for (let c = 0; c < 3; c++) {
    let s = 0, s2 = 0;
    for (let i = c; i < data.length; i += 4) { s += data[i]; s2 += data[i] * data[i]; }
    const m = s / n;
    out.push(Math.sqrt(Math.max(0, s2 / n - m * m)));
  }
  return out;
}

/** Mean of every channel value (RGBA). */
export function mean({ data }) {
  let s = 0;
  for (const v of data) s += v;
  return s / data.length;
}

/** Difference of two RGBA images of the same size, in 0-255 levels over all channels. */
export function diff(a, b) {
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(`size mismatch: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let sum = 0, max = 0, over2 = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    sum += d;
    if (d > max) max = d;
    if (d > 2) over2++;
  }
  return { mean: sum / a.data.length, max, fracOver2: over2 / a.data.length };
}

/** Non-zero alpha count / max alpha: is an overlay canvas drawn at all? */
export function alphaStats({ data }) {
  let nonzero = 0, max = 0;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i]) nonzero++;
    if (data[i] > max) max = data[i];
  }
  return { nonzero, max, frac: nonzero / (data.length / 4) };
}

export const fmt = (x, d = 3) => (Number.isInteger(x) ? String(x) : x.toFixed(d));

/**
 * Run the native CLI: `t2i sample --model weights/MODEL CAPTION --seed SEED --out DIR`.
 * Returns {dir, url(size) → path relative to the served root, tokens, unknownWords, timings?}.
 */
export function runNative(name, caption, seed, { repeat = 0, bin = T2I_BIN, model = MODEL_DIR } = {}) {
  if (!existsSync(bin)) throw new Error(`native CLI ${bin} not found: run \`cargo build\` or set T2I_BIN`);
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = ['sample', '--model', model, caption, '--seed', String(seed), '--out', dir];
  if (repeat) args.push('--repeat', String(repeat));
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0)
    throw new Error(`${bin} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  const line = (prefix) => r.stdout.split('\n').find((l) => l.startsWith(prefix))?.slice(prefix.length).trim();
  const tokens = (line('tokens:') ?? '').split(/\s+/).filter(Boolean);
  const unknownWords = (line('unknown words (ignored):') ?? '').split(', ').filter(Boolean);
  const rel = relative(ROOT, dir);
  return { dir, tokens, unknownWords, stdout: r.stdout, url: (size) => `/${rel}/stage_${size}.png` };
}

/** Compare every stage canvas of `page` with native PNGs; returns {size: diff}. */
export async function compareWithNative(page, native, sizes = SIZES) {
  const out = {};
  for (const size of sizes) {
    const web = await readCanvas(page, size);
    const ref = await loadNativePng(page, native.url(size));
    out[size] = diff(web, ref);
  }
  return out;
}

export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}
