// The demo page (../index.html): caption → stage images with word attention overlays.
// Every piece of user or model text reaches the DOM through textContent or attributes.

import { listModels, getEngine, captionWords, MAX_WORDS } from './engine.js';
import { drawOverlay, drawBlended, colormapGradient, stageFrame, spatialFor, layoutFor, BOX_COLORS } from './overlay.js';
import { wordChip } from './chips.js';

const $ = (id) => document.getElementById(id);
const el = {
  app: $('app'),
  caption: $('caption'),
  seed: $('seed'),
  variation: $('variation'),
  model: $('model'),
  modelField: $('model-field'),
  modelNote: $('model-note'),
  captionHelp: $('caption-help'),
  loading: $('loading'),
  progress: $('progress'),
  progressLabel: $('progress-label'),
  status: $('status'),
  error: $('error'),
  stages: $('stages'),
  smooth: $('smooth'),
  download: $('download'),
  timings: $('timings'),
  chips: $('chips'),
  unknown: $('unknown-words'),
  wordNotes: $('word-notes'),
  layoutBoxes: $('layout-boxes'),
  opacity: $('opacity'),
  legend: $('legend-bar'),
  allWords: $('all-words'),
  sheet: $('sheet'),
  backend: $('backend'),
};

const params = new URLSearchParams(location.search);
const state = {
  backend: params.get('backend') || 'auto',
  noCache: params.get('nocache') === '1',
  modelId: params.get('model') || null,
  engine: null,
  enginePromise: null,
  figures: [], // [{size, figure, image, overlay, ms}]
  result: null, // the (partial or final) result whose images are on screen
  final: null, // {result, caption, seed} of the last finished generation
  chipsKey: '',
  pressed: null, // {index, word} of the pressed chip
  preview: null, // token index under the pointer / focus
  seq: 0,
  ticket: 0, // bumped by every new request; older generations are stale
  running: false,
  rerun: false,
  timer: 0,
};

const setState = (s) => (el.app.dataset.state = s);
const setStatus = (text) => (el.status.textContent = text);
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const fmtMB = (b) => `${(b / 1e6).toFixed(1)} MB`;

function showError(message) {
  el.error.textContent = message;
  setState('error');
}

function clearError() {
  el.error.textContent = '';
}

// ---- model and engine ----------------------------------------------------------------

function onProgress(p) {
  el.loading.hidden = false;
  if (p.phase === 'download') {
    el.progress.max = p.total || 1;
    if (p.total) el.progress.value = p.loaded;
    el.progressLabel.textContent = p.total
      ? `Downloading the weights: ${fmtMB(p.loaded)} of ${fmtMB(p.total)}`
      : `Downloading the weights: ${fmtMB(p.loaded)}`;
  } else if (p.phase === 'cache') {
    el.progress.max = 1;
    el.progress.value = 1;
    el.progressLabel.textContent = `Weights found in the browser cache (${fmtMB(p.total)})`;
  } else {
    el.progress.removeAttribute('value'); // indeterminate while the wasm starts up
    el.progressLabel.textContent = 'Starting the model…';
  }
}

function ensureEngine() {
  if (!state.enginePromise) {
    const id = state.modelId;
    setState('loading');
    setStatus('Loading the model…');
    el.loading.hidden = false;
    el.progress.removeAttribute('value');
    state.enginePromise = getEngine({ model: id, backend: state.backend, noCache: state.noCache, onProgress }).then(
      (engine) => {
        if (state.modelId === id) useEngine(engine);
        return engine;
      },
      (e) => {
        if (state.modelId === id) {
          state.enginePromise = null;
          el.loading.hidden = true;
        }
        throw new Error(`Could not load the model: ${e.message}`);
      },
    );
  }
  return state.enginePromise;
}

function useEngine(engine) {
  state.engine = engine;
  el.loading.hidden = true;
  el.app.dataset.backend = engine.backend;
  el.backend.textContent = engine.backend === 'webgpu' ? 'WebGPU' : 'CPU';
  el.backend.title = engine.backendNote;
  el.backend.dataset.backend = engine.backend;
  const training = engine.config?.training ?? {};
  el.modelNote.textContent = training.note ? `About this model: ${training.note}` : '';
  el.modelNote.hidden = !training.note;
  if (training.data) el.modelNote.title = `Trained on ${training.data}, ${training.steps ?? '?'} steps`;
  // The words this model knows, from its vocabulary (index 0 is the end token).
  const words = engine.vocab.slice(1).sort();
  el.captionHelp.textContent = words.length
    ? `Regenerates as you type. This model knows ${words.length} words: ${words.join(', ')}.`
    : 'Regenerates as you type.';
  buildStages(engine.sizes);
  setState('ready');
  setStatus(`Model ready on ${el.backend.textContent}.`);
}

async function switchModel(id) {
  state.modelId = id;
  state.engine = null;
  state.enginePromise = null;
  state.result = null;
  state.final = null;
  state.pressed = null;
  state.chipsKey = '';
  el.chips.replaceChildren();
  el.sheet.replaceChildren();
  updateUrl();
  schedule(0);
}

// ---- stage images --------------------------------------------------------------------

function buildStages(sizes) {
  if (state.figures.length === sizes.length && state.figures.every((f, i) => f.size === sizes[i])) return;
  state.figures = sizes.map((size, i) => {
    const figure = document.createElement('figure');
    figure.className = 'stage';
    figure.dataset.size = String(size);
    figure.dataset.pending = '';
    const { frame, image, overlay } = stageFrame(size, `Stage ${i + 1}, ${size} × ${size} pixels: not generated yet`);
    const cap = document.createElement('figcaption');
    const dims = document.createElement('span');
    dims.className = 'dims';
    dims.textContent = `${size} × ${size}`;
    const ms = document.createElement('span');
    ms.className = 'ms';
    cap.append(dims, ms);
    figure.append(frame, cap);
    return { size, figure, image, overlay, ms };
  });
  el.stages.replaceChildren(...state.figures.map((f) => f.figure));
}

function markPending() {
  for (const f of state.figures) f.figure.dataset.pending = '';
  el.stages.classList.remove('stale');
}

// Draw a partial or final result: the images of the stages it has, then overlays.
function drawResult(result, caption, seed) {
  result.stages.forEach((st, i) => {
    const f = state.figures[i];
    if (!f || f.size !== st.size) return;
    f.image.getContext('2d').putImageData(new ImageData(st.rgba, st.size, st.size), 0, 0);
    f.image.setAttribute('aria-label', `Stage ${i + 1} of ${state.figures.length}, ${st.size} × ${st.size} pixels, generated from the caption “${caption}” with seed ${seed}`);
    f.ms.textContent = fmtMs(st.ms);
    delete f.figure.dataset.pending;
  });
  state.result = result;
  renderChips(caption, result);
  renderOverlays();
}

// ---- word chips and overlays ---------------------------------------------------------

const SPATIAL_NOTE = 'RAT-GAN has no word attention: the overlay shows where its discriminator looked to '
  + 'judge whether the image matches the whole caption (spatial attention, one map for the sentence).';

const LAYOUT_NOTE = 'This model first infers a layout from the caption (Hong et al. 2018): boxes with their '
  + 'class, then a mask inside each box; the image is painted from that layout. The overlay shows the layout; '
  + 'the model has no per-word attention.';

/** The layout model's boxes, listed under the word chips (label and box in percent of the side). */
function renderLayoutList(result) {
  const layout = layoutFor(result);
  el.layoutBoxes.hidden = !layout;
  if (!layout) {
    el.layoutBoxes.replaceChildren();
    return;
  }
  const items = layout.boxes.map((b, i) => {
    const li = document.createElement('li');
    li.className = 'layout-box';
    li.dataset.label = b.label;
    li.style.setProperty('--box-color', `rgb(${BOX_COLORS[i % BOX_COLORS.length].join(' ')})`);
    const pct = b.bbox.map((v) => Math.round(v * 100));
    li.textContent = `${b.label}: x ${pct[0]}–${pct[2]} %, y ${pct[1]}–${pct[3]} %`;
    return li;
  });
  el.layoutBoxes.replaceChildren(...items);
}

function renderChips(caption, result) {
  const words = captionWords(caption, result, state.engine?.vocab ?? []);
  const key = JSON.stringify([!!result, words]);
  if (key === state.chipsKey) return;
  state.chipsKey = key;
  const handlers = { onPreview: setPreview, onToggle: togglePressed };
  const chips = words.map((w) => wordChip(w, !!result, handlers));
  el.chips.replaceChildren(...chips);
  const unknown = words.filter((w) => w.kind === 'unknown').map((w) => w.word);
  el.unknown.textContent = unknown.length
    ? `Not in the vocabulary (ignored): ${[...new Set(unknown)].join(', ')}`
    : '';
  const notes = [];
  if (words.some((w) => w.kind === 'dropped') || result?.truncated) {
    notes.push(`The model reads at most ${MAX_WORDS} known words; the rest were cut.`);
  }
  if (spatialFor(result)) notes.push(SPATIAL_NOTE);
  if (layoutFor(result)) notes.push(LAYOUT_NOTE);
  el.wordNotes.textContent = notes.join(' ');
  renderLayoutList(result);
  // Keep the pressed word if the same word sits at the same index.
  const p = state.pressed;
  if (p && !words.some((w) => w.kind === 'known' && w.index === p.index && w.word === p.word)) state.pressed = null;
  state.preview = null;
  syncPressed();
}

function syncPressed() {
  for (const b of el.chips.querySelectorAll('button.word-chip')) {
    b.setAttribute('aria-pressed', String(state.pressed?.index === Number(b.dataset.index)));
  }
}

function setPreview(index) {
  if (state.preview === index) return;
  state.preview = index;
  renderOverlays();
}

function togglePressed(index, word) {
  state.pressed = state.pressed?.index === index ? null : { index, word };
  syncPressed();
  renderOverlays();
}

function activeToken() {
  return state.preview ?? state.pressed?.index ?? null;
}

function renderOverlays() {
  const token = activeToken();
  const res = state.result;
  state.figures.forEach((f, i) => {
    const shown = !!res && i < res.stages.length && drawOverlay(f.overlay, res, i, token);
    if (!shown) f.overlay.getContext('2d').clearRect(0, 0, f.size, f.size);
    f.overlay.classList.toggle('active', shown);
  });
  const word = token == null ? null : el.chips.querySelector(`button.word-chip[data-index="${token}"]`)?.dataset.word;
  el.stages.dataset.word = word ?? '';
}

/** A sheet tile: stage `stage` with token `token`'s overlay at the chosen opacity, captioned. */
function sheetTile(result, stage, token, label, caption) {
  const size = result.stages[stage].size;
  const fig = document.createElement('figure');
  fig.className = 'sheet-tile';
  const c = document.createElement('canvas');
  c.width = c.height = size;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  drawBlended(c, result, stage, token, Number(el.opacity.value));
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(c, cap);
  return fig;
}

// The all-words sheet: the last stage with each word's map, one tile per word.
function renderSheet() {
  if (el.sheet.hidden) return;
  const fin = state.final;
  if (!fin) {
    el.sheet.replaceChildren();
    return;
  }
  const { result } = fin;
  const last = result.stages.length - 1;
  const size = result.stages[last].size;
  // One tile for the whole caption: the layout model's layout, or RAT-GAN's D attention.
  const whole = layoutFor(result)
    ? ['Inferred layout', `layout: ${result.layout.boxes.map((x) => x.label).join(', ')}`, LAYOUT_NOTE]
    : spatialFor(result)
      ? ['Discriminator spatial attention', 'discriminator attention (whole caption)', SPATIAL_NOTE]
      : null;
  if (whole) {
    const [what, caption, note] = whole;
    const p = document.createElement('p');
    p.textContent = note;
    el.sheet.replaceChildren(sheetTile(result, last, 0, `${what} over the ${size} × ${size} image`, caption), p);
    return;
  }
  if (!result.attention.length) {
    const p = document.createElement('p');
    p.textContent = 'This model has a single stage and no attention maps.';
    el.sheet.replaceChildren(p);
    return;
  }
  const tiles = result.tokens.map((word, t) =>
    sheetTile(result, last, t, `Attention of “${word}” over the ${size} × ${size} image`, word));
  el.sheet.replaceChildren(...tiles);
}

// ---- generation ----------------------------------------------------------------------

function readSeed() {
  const raw = el.seed.value.trim();
  const n = Number(raw);
  if (raw === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`The seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}.`);
  }
  return n;
}

// Ask for a generation in `delay` ms; anything requested earlier becomes stale.
function schedule(delay) {
  clearTimeout(state.timer);
  state.ticket++;
  if (state.engine) setState('busy');
  state.timer = setTimeout(run, delay);
}

// One generation at a time; a request made meanwhile runs when it finishes.
async function run() {
  if (state.running) {
    state.rerun = true;
    return;
  }
  state.running = true;
  try {
    do {
      state.rerun = false;
      await generateOnce(state.ticket);
    } while (state.rerun);
  } finally {
    state.running = false;
  }
}

async function generateOnce(ticket) {
  let engine;
  try {
    engine = await ensureEngine();
  } catch (e) {
    if (ticket === state.ticket) failed(e, el.caption.value);
    return;
  }
  if (ticket !== state.ticket) return;
  const caption = el.caption.value;
  let seed;
  try {
    if (!caption.trim()) throw new Error('Type a caption first.');
    seed = readSeed();
  } catch (e) {
    failed(e, caption);
    return;
  }
  setState('busy');
  setStatus('Generating…');
  markPending();
  try {
    const result = await engine.generate(caption, seed, (partial) => {
      if (ticket === state.ticket) drawResult(partial, caption, seed);
    });
    if (ticket !== state.ticket) return;
    drawResult(result, caption, seed);
    state.final = { result, caption, seed };
    clearError();
    showTimings(result);
    renderSheet();
    el.download.disabled = false;
    updateUrl();
    state.seq++;
    el.app.dataset.seq = String(state.seq);
    setState('done');
    const total = result.timings.reduce((s, t) => s + t.ms, 0);
    setStatus(`Done: ${result.stages.length} stages in ${fmtMs(total)}.`);
  } catch (e) {
    if (ticket === state.ticket) failed(e, caption);
  }
}

function failed(e, caption) {
  showError(e.message || String(e));
  setStatus('');
  el.stages.classList.add('stale');
  for (const f of state.figures) delete f.figure.dataset.pending;
  state.result = null;
  if (state.engine) renderChips(caption, null);
  else {
    el.chips.replaceChildren();
    el.unknown.textContent = '';
    state.chipsKey = '';
  }
  renderOverlays();
}

function showTimings(result) {
  const total = result.timings.reduce((s, t) => s + t.ms, 0);
  const parts = result.timings.map((t) => `${t.label} ${fmtMs(t.ms)}`);
  el.timings.textContent = `Timings (${el.backend.textContent}): ${parts.join(' · ')} · total ${fmtMs(total)}`;
}

function updateUrl() {
  const p = new URLSearchParams(location.search);
  p.set('caption', el.caption.value);
  p.set('seed', el.seed.value);
  if (state.modelId) p.set('model', state.modelId);
  history.replaceState(null, '', `${location.pathname}?${p}${location.hash}`);
}

// ---- download ------------------------------------------------------------------------

function downloadPng() {
  const fin = state.final;
  if (!fin) return;
  const { result, caption, seed } = fin;
  const big = Math.max(...result.stages.map((s) => s.size));
  const gap = 8;
  const canvas = document.createElement('canvas');
  canvas.width = result.stages.length * big + (result.stages.length - 1) * gap;
  canvas.height = big;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = el.smooth.checked;
  result.stages.forEach((st, i) => {
    const c = document.createElement('canvas');
    c.width = c.height = st.size;
    c.getContext('2d').putImageData(new ImageData(st.rgba, st.size, st.size), 0, 0);
    ctx.drawImage(c, i * (big + gap), 0, big, big);
  });
  const slug = caption.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'image';
  canvas.toBlob((blob) => {
    if (!blob) return showError('The browser could not encode the PNG.');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `t2i-${slug}-seed${seed}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
}

// ---- wiring --------------------------------------------------------------------------

function wire() {
  el.caption.addEventListener('input', () => schedule(250));
  el.caption.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      schedule(0);
    }
  });
  el.seed.addEventListener('input', () => schedule(150));
  el.variation.addEventListener('click', () => {
    el.seed.value = String(Math.floor(Math.random() * 2 ** 31));
    schedule(0);
  });
  el.model.addEventListener('change', () => switchModel(el.model.value));
  el.opacity.addEventListener('input', () => {
    el.app.style.setProperty('--overlay-opacity', el.opacity.value);
    renderSheet();
  });
  el.smooth.addEventListener('change', () => el.stages.classList.toggle('pixelated', !el.smooth.checked));
  el.allWords.addEventListener('click', () => {
    const open = el.sheet.hidden;
    el.sheet.hidden = !open;
    el.allWords.setAttribute('aria-pressed', String(open));
    el.allWords.setAttribute('aria-expanded', String(open));
    renderSheet();
  });
  el.download.addEventListener('click', downloadPng);
  el.chips.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.pressed) {
      state.pressed = null;
      syncPressed();
      renderOverlays();
    }
  });
}

async function init() {
  el.legend.style.background = colormapGradient();
  el.app.style.setProperty('--overlay-opacity', el.opacity.value);
  el.modelNote.hidden = true;
  if (params.has('caption')) el.caption.value = params.get('caption');
  if (params.has('seed')) el.seed.value = params.get('seed');
  wire();
  try {
    const { default: def, models } = await listModels();
    if (!state.modelId) state.modelId = def;
    if (models.length > 1) {
      el.model.replaceChildren(
        ...models.map((m) => {
          const o = document.createElement('option');
          o.value = m.id;
          o.textContent = m.title;
          return o;
        }),
      );
      if (!models.some((m) => m.id === state.modelId)) {
        const o = document.createElement('option');
        o.value = o.textContent = state.modelId;
        el.model.append(o);
      }
      el.model.value = state.modelId;
      el.model.hidden = el.modelField.hidden = false;
    }
  } catch (e) {
    if (!state.modelId) {
      el.loading.hidden = true;
      showError(`Could not read the model list: ${e.message}`);
      return;
    }
  }
  schedule(0);
}

init();
