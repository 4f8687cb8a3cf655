// The model engine shared by the page and the widgets: reads the model list, downloads a
// model's files (progress, Cache API), and runs the wasm in a module worker. One engine per
// (model, backend) for the whole page: getEngine() hands every caller the same promise.
//
// Worker protocol (see worker.js). Requests carry an `id`:
//   {id, op: 'load', backend, config, vocab, weights: Blob}
//   {id, op: 'generate', caption, seed}      {id, op: 'tokenize', caption}
// Replies:
//   {id, type: 'stage', value}               partial result after each stage (generate only)
//   {id, type: 'done', value}                the answer
//   {id, type: 'error', message, fatal}      fatal: the wasm instance is dead (trap/panic)

/** The folder that holds `weights/` (the repo root, one level above this file). */
export const ROOT_URL = new URL('../', import.meta.url);

const CACHE_NAME = 't2i-weights-v1';
const BACKENDS = ['auto', 'webgpu', 'cpu'];

const modelLists = new Map(); // base href -> Promise<index.json>
const engines = new Map(); // "base|model|backend" -> {promise, listeners, last}

function baseOf(baseUrl) {
  return new URL(baseUrl ?? ROOT_URL, ROOT_URL);
}

async function fetchOk(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e.message}`);
  }
  if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status}`);
  return res;
}

/** `weights/index.json` under `baseUrl` (default: the repo root): `{default, models: [{id, title}]}`. */
export function listModels(baseUrl) {
  const base = baseOf(baseUrl);
  if (!modelLists.has(base.href)) {
    const p = (async () => {
      const res = await fetchOk(new URL('weights/index.json', base), { cache: 'no-cache' });
      const index = await res.json();
      if (!index || !Array.isArray(index.models) || index.models.length === 0) {
        throw new Error('weights/index.json lists no models');
      }
      const models = index.models.map((m) => ({ id: String(m.id), title: String(m.title ?? m.id) }));
      const def = models.some((m) => m.id === index.default) ? index.default : models[0].id;
      return { default: def, models };
    })();
    p.catch(() => modelLists.delete(base.href));
    modelLists.set(base.href, p);
  }
  return modelLists.get(base.href);
}

/**
 * The engine for `model` (default: index.json's default) on `backend`
 * ('auto' | 'webgpu' | 'cpu'). `onProgress({phase, loaded, total})` follows the download
 * (phase 'download' | 'cache' | 'init'). A failed load is forgotten so the next call retries.
 */
export async function getEngine({ model, backend = 'auto', onProgress, noCache = false, baseUrl } = {}) {
  const base = baseOf(baseUrl);
  if (!BACKENDS.includes(backend)) {
    throw new Error(`unknown backend "${backend}": use auto, webgpu or cpu`);
  }
  if (!model) model = (await listModels(base)).default;
  const key = `${base.href}|${model}|${backend}`;
  let entry = engines.get(key);
  if (!entry) {
    entry = { listeners: new Set(), last: null, promise: null, settled: false };
    const report = (p) => {
      entry.last = p;
      for (const f of entry.listeners) {
        try {
          f(p);
        } catch (e) {
          console.error(e);
        }
      }
    };
    entry.promise = Engine.open(base, model, backend, noCache, report);
    const settle = () => {
      entry.settled = true;
      entry.listeners.clear();
    };
    entry.promise.then(settle, () => {
      settle();
      if (engines.get(key) === entry) engines.delete(key);
    });
    engines.set(key, entry);
  }
  if (onProgress && !entry.settled) {
    entry.listeners.add(onProgress);
    if (entry.last) onProgress(entry.last);
  }
  return entry.promise;
}

/** Download `url` as a Blob, reporting progress; total from Content-Length (or `expected`). */
async function download(url, expected, noCache, report) {
  const res = await fetchOk(url, { cache: noCache ? 'no-store' : 'no-cache' });
  const total = Number(res.headers.get('Content-Length')) || expected || 0;
  report({ phase: 'download', loaded: 0, total });
  if (!res.body || !res.body.getReader) {
    const blob = await res.blob();
    report({ phase: 'download', loaded: blob.size, total: total || blob.size });
    return blob;
  }
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    report({ phase: 'download', loaded, total });
  }
  return new Blob(chunks);
}

async function openCache(noCache) {
  if (noCache || typeof caches === 'undefined') return null;
  try {
    return await caches.open(CACHE_NAME); // throws in insecure contexts / opaque origins
  } catch {
    return null;
  }
}

/**
 * The weights as a Blob, from the Cache API when a copy with the same CRC-32 is there,
 * else downloaded (and stored, dropping copies with another CRC-32). Returns {blob, cacheKey}
 * (cacheKey null when not cached).
 */
async function fetchWeights(url, info, noCache, report) {
  const cache = await openCache(noCache);
  const key = `${url.href.split('#')[0].split('?')[0]}?crc32=${encodeURIComponent(info.crc32 ?? '')}`;
  if (cache) {
    try {
      const hit = await cache.match(key);
      if (hit) {
        const blob = await hit.blob();
        if (!info.bytes || blob.size === info.bytes) {
          report({ phase: 'cache', loaded: blob.size, total: blob.size });
          return { blob, cacheKey: key };
        }
        await cache.delete(key);
      }
    } catch (e) {
      console.warn('t2i: weight cache unreadable, downloading', e);
    }
  }
  const blob = await download(url, info.bytes, noCache, report);
  if (info.bytes && blob.size !== info.bytes) {
    throw new Error(`${url.pathname.split('/').pop()} is ${blob.size} bytes, config.json says ${info.bytes} (truncated download?)`);
  }
  if (!cache) return { blob, cacheKey: null };
  try {
    const path = key.split('?')[0];
    for (const req of await cache.keys()) {
      if (req.url.split('?')[0] === path && req.url !== key) await cache.delete(req);
    }
    await cache.put(key, new Response(blob, { headers: { 'Content-Type': 'application/octet-stream' } }));
    return { blob, cacheKey: key };
  } catch (e) {
    console.warn('t2i: could not cache the weights', e); // quota, private mode, ...
    return { blob, cacheKey: null };
  }
}

async function dropCached(cacheKey) {
  if (!cacheKey) return;
  try {
    await (await caches.open(CACHE_NAME)).delete(cacheKey);
  } catch {
    /* nothing to drop */
  }
}

/** One loaded model in one worker. */
class Engine {
  static async open(base, model, backend, noCache, report) {
    const dir = new URL(`weights/${encodeURIComponent(model)}/`, base);
    const configText = await (await fetchOk(new URL('config.json', dir), { cache: 'no-store' })).text();
    let config;
    try {
      config = JSON.parse(configText);
    } catch (e) {
      throw new Error(`weights/${model}/config.json is not valid JSON: ${e.message}`);
    }
    const info = config.weights || {};
    const vocabText = await (await fetchOk(new URL('vocab.json', dir), { cache: noCache ? 'no-store' : 'no-cache' })).text();
    const weightsUrl = new URL(info.file || 'model.safetensors', dir);
    const { blob, cacheKey } = await fetchWeights(weightsUrl, info, noCache, report);
    report({ phase: 'init', loaded: blob.size, total: blob.size });
    const engine = new Engine(model, backend, config, { configText, vocabText, blob });
    try {
      await engine.#load();
    } catch (e) {
      engine.#kill();
      await dropCached(cacheKey); // maybe corrupt: download afresh next time
      throw e;
    }
    return engine;
  }

  #files;
  #worker = null;
  #ready = null; // Promise of the load reply while the worker is (re)loading
  #pending = new Map(); // id -> {resolve, reject, onStage}
  #nextId = 1;

  constructor(model, requested, config, files) {
    this.model = model;
    this.requested = requested;
    this.#files = files;
    this.backend = null;
    this.backendNote = '';
    this.config = config; // config.json as the file says
    try {
      this.vocab = JSON.parse(files.vocabText).words.map(String); // position = id; 0 is "<end>"
    } catch {
      this.vocab = [];
    }
    this.sizes = [];
  }

  // Start a worker and load the model into it.
  #load() {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 't2i' });
    this.#worker = worker;
    worker.onmessage = (ev) => this.#onMessage(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault();
      const why = ev.message || 'the worker script failed to load';
      this.#die(`The model worker stopped (${why}).`);
    };
    worker.onmessageerror = () => this.#die('The model worker sent a message that could not be read.');
    const { configText, vocabText, blob } = this.#files;
    this.#ready = this.#request({ op: 'load', backend: this.requested, config: configText, vocab: vocabText, weights: blob })
      .then((info) => {
        this.backend = info.backend;
        this.backendNote = info.backendNote;
        this.sizes = Array.from(info.sizes);
      })
      .catch((e) => {
        this.#kill();
        throw e;
      });
    return this.#ready;
  }

  #request(msg, onStage) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onStage });
      this.#worker.postMessage({ id, ...msg });
    });
  }

  #onMessage(msg) {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'stage') {
      if (p.onStage) {
        try {
          p.onStage(msg.value);
        } catch (e) {
          console.error(e);
        }
      }
      return;
    }
    this.#pending.delete(msg.id);
    if (msg.type === 'done') p.resolve(msg.value);
    else if (msg.fatal) {
      p.reject(new Error(`The model crashed (${msg.message}); it will be reloaded on the next request.`));
      this.#die(`The model crashed (${msg.message}); it will be reloaded on the next request.`);
    } else p.reject(new Error(msg.message));
  }

  // The worker is gone or unusable: reject everything in flight, reload on next use.
  #die(message) {
    this.#kill();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new Error(message));
  }

  #kill() {
    if (this.#worker) this.#worker.terminate();
    this.#worker = null;
    this.#ready = null;
  }

  async #ensure() {
    if (!this.#ready) this.#load();
    await this.#ready;
  }

  /** `{tokens, unknownWords, truncated}`; rejects for an empty caption or no known word. */
  async tokenize(caption) {
    await this.#ensure();
    return this.#request({ op: 'tokenize', caption: String(caption) });
  }

  /**
   * Generate all stages; `onStage(partial)` gets the result so far after each stage.
   * Requests run one at a time in the worker, in call order.
   */
  async generate(caption, seed, onStage) {
    await this.#ensure();
    return this.#request({ op: 'generate', caption: String(caption), seed: Number(seed) }, onStage);
  }
}

// Caption words, split like the Rust tokenizer (lowercase, Unicode `\w+`).
const WORD_RE = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+/gu;
/** Known words the model reads per caption (AttnGAN's WORDS_NUM). */
export const MAX_WORDS = 18;

export function splitWords(caption) {
  return String(caption).replaceAll('\uFFFD\uFFFD', ' ').toLowerCase().match(WORD_RE) ?? [];
}

/**
 * The caption's words in order for display, each `{word, kind, index}`: kind 'known'
 * (index = its token index in the result), 'unknown' (not in the vocabulary) or 'dropped'
 * (known but past the 18-word limit). With a `result` the words are aligned with its
 * `tokens` and `unknownWords`; without one they are classified with `vocab` (may be empty).
 */
export function captionWords(caption, result, vocab = []) {
  const words = splitWords(caption);
  const out = [];
  if (result) {
    const tokens = result.tokens ?? [];
    const unknown = result.unknownWords ?? [];
    let t = 0;
    let u = 0;
    for (const word of words) {
      if (t < tokens.length && word === tokens[t]) out.push({ word, kind: 'known', index: t++ });
      else if (u < unknown.length && word === unknown[u]) {
        out.push({ word, kind: 'unknown', index: -1 });
        u++;
      }
      else out.push({ word, kind: 'dropped', index: -1 });
    }
    // Should the split ever disagree with the model's, still offer every token.
    for (; t < tokens.length; t++) out.push({ word: tokens[t], kind: 'known', index: t });
    return out;
  }
  const known = new Set(vocab.slice(1));
  let n = 0;
  for (const word of words) {
    if (!known.has(word)) out.push({ word, kind: 'unknown', index: -1 });
    else if (n < MAX_WORDS) out.push({ word, kind: 'known', index: n++ });
    else out.push({ word, kind: 'dropped', index: -1 });
  }
  return out;
}
