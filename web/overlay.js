// Attention maps for display: the inferno colormap, bilinear upsampling, normalisation and
// blending over a stage image. Shared by the page (app.js) and the widget (widget.js).

// Inferno sampled at nine evenly spaced points; the 256-entry table interpolates linearly.
const INFERNO_STOPS = [
  [0, 0, 4], [27, 12, 65], [74, 12, 107], [120, 28, 109], [165, 44, 96],
  [207, 68, 70], [237, 105, 37], [251, 155, 6], [252, 255, 164],
];

/** 256 × RGB lookup table (Uint8Array of 768). */
export const INFERNO = (() => {
  const lut = new Uint8Array(256 * 3);
  const n = INFERNO_STOPS.length - 1;
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * n;
    const k = Math.min(Math.floor(x), n - 1);
    const f = x - k;
    for (let c = 0; c < 3; c++) {
      lut[i * 3 + c] = Math.round(INFERNO_STOPS[k][c] * (1 - f) + INFERNO_STOPS[k + 1][c] * f);
    }
  }
  return lut;
})();

/** CSS linear-gradient of the colormap, for a legend bar. */
export function colormapGradient() {
  const stops = INFERNO_STOPS.map(([r, g, b], i) => `rgb(${r} ${g} ${b}) ${(i / (INFERNO_STOPS.length - 1)) * 100}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/**
 * The attention map of token `token` to draw over stage `stage`: `attention[i]` belongs to
 * stage i + 1, so stage 0 borrows attention[0] too. Returns `{size, map}` (a view into the
 * result's array) or null when the model has no attention (one stage) or the token is out
 * of range.
 */
export function mapFor(result, stage, token) {
  const att = result && result.attention;
  if (!att || att.length === 0) return null;
  const a = att[Math.min(Math.max(stage - 1, 0), att.length - 1)];
  const n = a.size * a.size;
  if (token < 0 || (token + 1) * n > a.maps.length) return null;
  return { size: a.size, map: a.maps.subarray(token * n, (token + 1) * n) };
}

/**
 * Bilinear resample of a square `src` (side `s`, row-major) to side `d`, sampling at
 * pixel centres with clamped edges. Returns a new Float32Array(d * d).
 */
export function upsample(src, s, d) {
  const out = new Float32Array(d * d);
  if (s === d) {
    out.set(src);
    return out;
  }
  const scale = s / d;
  for (let y = 0; y < d; y++) {
    const fy = Math.min(Math.max((y + 0.5) * scale - 0.5, 0), s - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, s - 1);
    const wy = fy - y0;
    for (let x = 0; x < d; x++) {
      const fx = Math.min(Math.max((x + 0.5) * scale - 0.5, 0), s - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, s - 1);
      const wx = fx - x0;
      const top = src[y0 * s + x0] * (1 - wx) + src[y0 * s + x1] * wx;
      const bottom = src[y1 * s + x0] * (1 - wx) + src[y1 * s + x1] * wx;
      out[y * d + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/**
 * Colour image (ImageData, side `d`, opaque) of `map` (side `s`) upsampled to `d` and
 * normalised to its own maximum. A map that is all zero gives the colormap's lowest colour.
 */
export function colorize(map, s, d) {
  const up = upsample(map, s, d);
  let max = 0;
  for (let i = 0; i < up.length; i++) if (up[i] > max) max = up[i];
  const inv = max > 0 ? 255 / max : 0;
  const img = new ImageData(d, d);
  const px = img.data;
  for (let i = 0; i < up.length; i++) {
    const v = Math.min(255, Math.max(0, Math.round(up[i] * inv))) * 3;
    px[i * 4] = INFERNO[v];
    px[i * 4 + 1] = INFERNO[v + 1];
    px[i * 4 + 2] = INFERNO[v + 2];
    px[i * 4 + 3] = 255;
  }
  return img;
}

/**
 * RAT-GAN's overlay: the discriminator's spatial attention `{size, map}` over the image (one
 * map for the whole sentence; its generator has no word attention), or null for other models.
 */
export function spatialFor(result) {
  const a = result && result.spatialAttention;
  if (!a || !a.map || a.map.length !== a.size * a.size) return null;
  return { size: a.size, map: a.map };
}

/**
 * Draw the coloured map of `token` onto `canvas` (side = the stage size) or clear it. For
 * RAT-GAN the discriminator's spatial attention is drawn whatever the token, for the layout
 * model its boxes and masks.
 */
export function drawOverlay(canvas, result, stage, token) {
  const layout = layoutFor(result);
  if (layout) {
    // The layout model has no word maps: its overlay is the layout it drew the image from.
    drawLayout(canvas, layout);
    return true;
  }
  const ctx = canvas.getContext('2d');
  const d = canvas.width;
  const m = spatialFor(result) ?? (token == null ? null : mapFor(result, stage, token));
  if (!m) {
    ctx.clearRect(0, 0, d, canvas.height);
    return false;
  }
  ctx.putImageData(colorize(m.map, m.size, d), 0, 0);
  return true;
}

/** A canvas of `rgba` (side `size`). */
export function imageCanvas(rgba, size) {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), size, size), 0, 0);
  return c;
}

/**
 * Paint stage `stage` of `result` with token `token`'s map blended at `opacity` into
 * `canvas` (whose side is the stage size): the attention-sheet tile.
 */
export function drawBlended(canvas, result, stage, token, opacity) {
  const st = result.stages[stage];
  const ctx = canvas.getContext('2d');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(st.rgba), st.size, st.size), 0, 0);
  const layout = layoutFor(result);
  if (layout) {
    drawLayout(canvas, layout, { alpha: opacity, clear: false });
    return;
  }
  const m = spatialFor(result) ?? mapFor(result, stage, token);
  if (!m) return;
  const tmp = document.createElement('canvas');
  tmp.width = tmp.height = st.size;
  tmp.getContext('2d').putImageData(colorize(m.map, m.size, st.size), 0, 0);
  ctx.save();
  ctx.globalAlpha = opacity;
  ctx.drawImage(tmp, 0, 0);
  ctx.restore();
}

/**
 * The two stacked canvases of one stage: `canvas.stage-image` (the generated pixels) under
 * `canvas.stage-overlay` (attention), inside a `div.frame`. Shared by the page and the widget.
 */
export function stageFrame(size, label) {
  const frame = document.createElement('div');
  frame.className = 'frame';
  const image = document.createElement('canvas');
  image.className = 'stage-image';
  image.dataset.size = String(size);
  image.width = image.height = size;
  image.setAttribute('role', 'img');
  image.setAttribute('aria-label', label);
  const overlay = document.createElement('canvas');
  overlay.className = 'stage-overlay';
  overlay.dataset.size = String(size);
  overlay.width = overlay.height = size;
  overlay.setAttribute('aria-hidden', 'true');
  frame.append(image, overlay);
  return { frame, image, overlay };
}

/** Distinct colours of a layout's boxes in drawing order (the same as t2i's render/layout_view.rs). */
export const BOX_COLORS = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60],
];

/**
 * The layout model's inferred layout `{size, boxes: [{label, class, bbox}], masks}` (masks: one
 * size × size map per box), or null for other models or a malformed result.
 */
export function layoutFor(result) {
  const l = result && result.layout;
  if (!l || !Array.isArray(l.boxes) || !l.masks || l.masks.length !== l.boxes.length * l.size * l.size) return null;
  return l;
}

/**
 * Draw a layout onto `canvas` (side d): every mask tinted in its box's colour at `alpha`, the
 * box outlines and the class labels. With `clear`, the canvas is cleared first (an overlay);
 * otherwise it is drawn over what is there (a sheet tile).
 */
export function drawLayout(canvas, layout, { alpha = 0.55, clear = true } = {}) {
  const ctx = canvas.getContext('2d');
  const d = canvas.width;
  const s = layout.size;
  const tint = new ImageData(d, d);
  const px = tint.data;
  layout.boxes.forEach((_, i) => {
    const [r, g, b] = BOX_COLORS[i % BOX_COLORS.length];
    const m = layout.masks.subarray(i * s * s, (i + 1) * s * s);
    for (let y = 0; y < d; y++) {
      const my = Math.min(Math.floor((y * s) / d), s - 1);
      for (let x = 0; x < d; x++) {
        const v = m[my * s + Math.min(Math.floor((x * s) / d), s - 1)];
        if (!(v > 0.02)) continue;
        const k = (y * d + x) * 4;
        const a = Math.min(v, 1) * alpha * 255;
        if (a <= px[k + 3]) continue;
        px[k] = r;
        px[k + 1] = g;
        px[k + 2] = b;
        px[k + 3] = a;
      }
    }
  });
  const tmp = document.createElement('canvas');
  tmp.width = tmp.height = d;
  tmp.getContext('2d').putImageData(tint, 0, 0);
  if (clear) ctx.clearRect(0, 0, d, canvas.height);
  ctx.drawImage(tmp, 0, 0);
  const font = Math.max(9, Math.round(d / 16));
  ctx.save();
  ctx.lineWidth = Math.max(1, d / 128);
  ctx.font = `${font}px sans-serif`;
  ctx.textBaseline = 'top';
  layout.boxes.forEach((box, i) => {
    const [x0, y0, x1, y1] = box.bbox.map((v) => v * d);
    const color = `rgb(${BOX_COLORS[i % BOX_COLORS.length].join(' ')})`;
    ctx.strokeStyle = color;
    ctx.strokeRect(x0 + 0.5, y0 + 0.5, Math.max(x1 - x0 - 1, 1), Math.max(y1 - y0 - 1, 1));
    const w = ctx.measureText(box.label).width + 4;
    ctx.fillStyle = 'rgb(0 0 0 / 0.6)';
    ctx.fillRect(x0, y0, w, font + 2);
    ctx.fillStyle = color;
    ctx.fillText(box.label, x0 + 2, y0 + 1);
  });
  ctx.restore();
}
