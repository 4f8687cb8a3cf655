// The module worker that owns the wasm instance (protocol described in engine.js).
// Requests are handled one at a time, in arrival order; typed arrays are transferred.

let model = null;
let queue = Promise.resolve();

function transferables(value) {
  const out = new Set();
  for (const s of value?.stages ?? []) if (s.rgba?.buffer) out.add(s.rgba.buffer);
  for (const a of value?.attention ?? []) if (a.maps?.buffer) out.add(a.maps.buffer);
  if (value?.spatialAttention?.map?.buffer) out.add(value.spatialAttention.map.buffer);
  if (value?.layout?.masks?.buffer) out.add(value.layout.masks.buffer);
  return [...out];
}

function messageOf(e) {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

// A trap ("unreachable" after a Rust panic, out of memory, ...) leaves the instance unusable.
const isFatal = (e) => typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError;

async function handle(msg) {
  switch (msg.op) {
    case 'load': {
      // Imported here rather than statically so that a missing pkg/ comes back as a message.
      let mod;
      try {
        mod = await import('./pkg/t2i.js');
        await mod.default();
      } catch (e) {
        throw new Error(`could not load the wasm module (web/pkg/t2i.js, t2i_bg.wasm): ${messageOf(e)}`);
      }
      const bytes = new Uint8Array(await msg.weights.arrayBuffer());
      model = await mod.T2i.create(msg.backend, msg.config, msg.vocab, bytes);
      return { backend: model.backend, backendNote: model.backendNote, sizes: Array.from(model.sizes) };
    }
    case 'tokenize': {
      const t = model.tokenize(msg.caption);
      return { tokens: Array.from(t.tokens), unknownWords: Array.from(t.unknownWords), truncated: !!t.truncated };
    }
    case 'generate':
      return model.generate(msg.caption, msg.seed, (partial) => {
        self.postMessage({ id: msg.id, type: 'stage', value: partial }, transferables(partial));
      });
    default:
      throw new Error(`unknown request ${msg.op}`);
  }
}

self.onmessage = (ev) => {
  const msg = ev.data;
  queue = queue.then(async () => {
    try {
      if (msg.op !== 'load' && !model) throw new Error('no model is loaded');
      const value = await handle(msg);
      self.postMessage({ id: msg.id, type: 'done', value }, transferables(value));
    } catch (e) {
      self.postMessage({ id: msg.id, type: 'error', message: messageOf(e), fatal: isFatal(e) });
    }
  });
};
