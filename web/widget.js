// <t2i-widget caption="…" seed="0" model="ID" backend="auto"> — the generator as an
// embeddable element. One <script type="module" src=".../web/widget.js"></script> is enough;
// every widget on a page shares one engine per (model, backend) through engine.js.
//
// The host gets data-state (loading | done | error) and data-seq (finished generations).

import { getEngine, captionWords } from './engine.js';
import { drawOverlay, stageFrame } from './overlay.js';
import { wordChip } from './chips.js';

const CSS = `
:host { display: block; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: inherit; max-width: 100%; --t2i-size: 256px; --t2i-accent: #5b3fd1; --t2i-focus: #ff9f1c; }
:host([hidden]) { display: none; }
.w { display: inline-flex; flex-direction: column; gap: .5rem; padding: .75rem; max-width: 100%;
  border: 1px solid #8885; border-radius: 8px; background: color-mix(in srgb, canvas 92%, #888 8%); }
.stages { display: flex; gap: .6rem; align-items: flex-end; flex-wrap: wrap; }
.earlier { display: flex; flex-direction: column; gap: .4rem; }
figure { margin: 0; }
.frame { position: relative; border-radius: 4px; overflow: hidden; border: 1px solid #8886; }
.big .frame { width: var(--t2i-size); height: var(--t2i-size); max-width: 70vw; max-height: 70vw; }
.earlier .frame { width: calc(var(--t2i-size) / 3); height: calc(var(--t2i-size) / 3); }
canvas { position: absolute; inset: 0; width: 100%; height: 100%; display: block; image-rendering: pixelated; }
.stage-overlay { opacity: 0; pointer-events: none; transition: opacity .12s; }
.stage-overlay.active { opacity: .65; }
figcaption { font-size: .75rem; opacity: .75; }
.pending .stage-image { opacity: .35; }
.caption { margin: 0; font-style: italic; max-width: calc(var(--t2i-size) * 1.4); overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: .3rem; max-width: calc(var(--t2i-size) * 1.4); }
.word-chip { font: inherit; font-size: .85rem; padding: .1rem .55rem; border-radius: 999px;
  border: 1px solid #8888; background: transparent; color: inherit; }
button.word-chip { cursor: pointer; }
button.word-chip:hover, button.word-chip[aria-pressed="true"] { border-color: var(--t2i-accent);
  background: var(--t2i-accent); color: #fff; }
.word-chip.unknown { border-style: dashed; opacity: .7; text-decoration: line-through; cursor: help; }
.word-chip.dropped { border-style: dotted; opacity: .7; cursor: help; }
:focus-visible { outline: 3px solid var(--t2i-focus); outline-offset: 2px; }
.status { font-size: .75rem; opacity: .75; margin: 0; min-height: 1.1em; }
.error { margin: 0; color: #b00020; font-size: .85rem; overflow-wrap: anywhere; }
.error:empty { display: none; }
progress { width: 100%; }
progress[hidden] { display: none; }
`;

class T2iWidget extends HTMLElement {
  static observedAttributes = ['caption', 'seed', 'model', 'backend', 'nocache'];

  #root;
  #ui;
  #engine = null;
  #engineKey = '';
  #figures = [];
  #result = null;
  #caption = '';
  #pressed = null;
  #preview = null;
  #ticket = 0;
  #timer = 0;
  #seq = 0;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = CSS;
    const w = document.createElement('div');
    w.className = 'w';
    w.setAttribute('part', 'container');
    const stages = document.createElement('div');
    stages.className = 'stages';
    const caption = document.createElement('p');
    caption.className = 'caption';
    const chips = document.createElement('div');
    chips.className = 'chips';
    chips.setAttribute('role', 'group');
    chips.setAttribute('aria-label', 'Caption words: hover or focus one to see its attention');
    const progress = document.createElement('progress');
    progress.max = 1;
    progress.hidden = true;
    const status = document.createElement('p');
    status.className = 'status';
    status.setAttribute('aria-live', 'polite');
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    w.append(stages, caption, chips, progress, status, error);
    this.#root.append(style, w);
    this.#ui = { stages, caption, chips, progress, status, error };
    this.dataset.state = 'loading';
    this.dataset.seq = '0';
  }

  connectedCallback() {
    this.#schedule();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue !== newValue && this.isConnected) this.#schedule();
  }

  // Coalesce attribute changes made in one go into one generation.
  #schedule() {
    this.#ticket++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#generate(this.#ticket), 30);
  }

  #setState(s, status = '') {
    this.dataset.state = s;
    this.#ui.status.textContent = status;
  }

  async #engineFor() {
    const model = this.getAttribute('model') || undefined;
    const backend = this.getAttribute('backend') || 'auto';
    const noCache = this.hasAttribute('nocache');
    const key = `${model ?? ''}|${backend}`;
    if (this.#engine && this.#engineKey === key) return this.#engine;
    const { progress } = this.#ui;
    const engine = await getEngine({
      model,
      backend,
      noCache,
      onProgress: (p) => {
        progress.hidden = p.phase === 'init';
        progress.max = p.total || 1;
        progress.value = p.loaded;
        this.#ui.status.textContent = p.phase === 'init' ? 'Starting the model…' : 'Loading the model…';
      },
    }).finally(() => (progress.hidden = true));
    this.#engine = engine;
    this.#engineKey = key;
    this.#build(engine.sizes);
    return engine;
  }

  #build(sizes) {
    this.#figures = sizes.map((size, i) => {
      const fig = document.createElement('figure');
      fig.className = 'pending';
      const { frame, image, overlay } = stageFrame(size, `Stage ${i + 1}, ${size} × ${size} pixels`);
      const cap = document.createElement('figcaption');
      cap.textContent = `${size} × ${size}`;
      fig.append(frame, cap);
      return { size, fig, image, overlay, cap };
    });
    const last = this.#figures.at(-1);
    const big = document.createElement('div');
    big.className = 'big';
    if (last) big.append(last.fig);
    const earlier = document.createElement('div');
    earlier.className = 'earlier';
    earlier.append(...this.#figures.slice(0, -1).map((f) => f.fig));
    this.#ui.stages.replaceChildren(earlier, big);
  }

  async #generate(ticket) {
    const caption = this.getAttribute('caption') ?? '';
    const seedAttr = (this.getAttribute('seed') ?? '0').trim() || '0';
    this.#setState('loading', 'Loading…');
    this.#ui.caption.textContent = caption;
    try {
      const engine = await this.#engineFor();
      if (ticket !== this.#ticket) return;
      const seed = Number(seedAttr);
      if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a whole number ≥ 0, got "${seedAttr}"`);
      if (!caption.trim()) throw new Error('no caption: set the caption attribute');
      this.#setState('loading', 'Generating…');
      for (const f of this.#figures) f.fig.classList.add('pending');
      const draw = (res) => {
        if (ticket !== this.#ticket) return;
        res.stages.forEach((st, i) => {
          const f = this.#figures[i];
          if (!f || f.size !== st.size) return;
          f.image.getContext('2d').putImageData(new ImageData(st.rgba, st.size, st.size), 0, 0);
          f.image.setAttribute('aria-label', `Stage ${i + 1}, ${st.size} × ${st.size} pixels, generated from “${caption}”`);
          f.cap.textContent = `${st.size} × ${st.size} · ${Math.round(st.ms)} ms`;
          f.fig.classList.remove('pending');
        });
        this.#result = res;
        this.#chips(caption, res);
        this.#overlays();
      };
      const result = await engine.generate(caption, seed, draw);
      if (ticket !== this.#ticket) return;
      draw(result);
      this.#ui.error.textContent = '';
      this.#seq++;
      this.dataset.seq = String(this.#seq);
      const total = result.timings.reduce((s, t) => s + t.ms, 0);
      this.#setState('done', `${engine.backend === 'webgpu' ? 'WebGPU' : 'CPU'} · ${Math.round(total)} ms`);
      this.#ui.status.title = engine.backendNote;
    } catch (e) {
      if (ticket !== this.#ticket) return;
      for (const f of this.#figures) f.fig.classList.remove('pending');
      this.#ui.error.textContent = e.message || String(e);
      this.#setState('error');
      if (this.#engine) this.#chips(caption, null);
    }
  }

  #chips(caption, result) {
    const key = JSON.stringify([caption, result?.tokens ?? null]);
    if (key === this.#caption) return;
    this.#caption = key;
    this.#pressed = null;
    this.#preview = null;
    const words = captionWords(caption, result, this.#engine?.vocab ?? []);
    const handlers = {
      onPreview: (index) => this.#setPreview(index),
      onToggle: (index) => {
        this.#pressed = this.#pressed === index ? null : index;
        for (const c of this.#ui.chips.querySelectorAll('button')) {
          c.setAttribute('aria-pressed', String(Number(c.dataset.index) === this.#pressed));
        }
        this.#overlays();
      },
    };
    this.#ui.chips.replaceChildren(...words.map((w) => wordChip(w, !!result, handlers)));
  }

  #setPreview(index) {
    this.#preview = index;
    this.#overlays();
  }

  #overlays() {
    const token = this.#preview ?? this.#pressed;
    const res = this.#result;
    this.#figures.forEach((f, i) => {
      const shown = !!res && i < res.stages.length && drawOverlay(f.overlay, res, i, token);
      f.overlay.classList.toggle('active', shown);
    });
  }
}

if (!customElements.get('t2i-widget')) customElements.define('t2i-widget', T2iWidget);

export { T2iWidget };
