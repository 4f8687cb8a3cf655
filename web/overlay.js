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
 * RAT-GAN the discriminator's spatial attention is drawn whatever the token.
 */
export function drawOverlay(canvas, result, stage, token) {
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
