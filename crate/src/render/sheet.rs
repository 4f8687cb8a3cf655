//! Image grids and AttnGAN-style attention sheets (plain image code, no ML).
//!
//! Text is drawn with the public-domain 8×8 bitmap font from `font8x8`.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// Background of grids and sheets.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];
/// Color of labels in grids and sheets.
pub const TEXT_COLOR: [u8; 3] = [0, 0, 0];
/// Opacity of the colorized attention map in [`attention_sheet`].
pub const ATTENTION_ALPHA: f32 = 0.6;
/// Side of a glyph cell in pixels at scale 1.
pub const GLYPH: u32 = 8;

/// Viridis sampled at 0.0, 0.1, …, 1.0 (matplotlib).
const VIRIDIS: [[u8; 3]; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

/// Perceptual colormap (viridis: dark purple at 0, yellow at 1), linearly interpolated
/// between 11 control points; `v` is clamped to [0, 1] and NaN maps to 0.
pub fn colormap(v: f32) -> [u8; 3] {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let x = v * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let t = x - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    std::array::from_fn(|c| (a[c] as f32 + (b[c] as f32 - a[c] as f32) * t).round() as u8)
}

/// Samples an h×w row-major map bilinearly at output pixel (x, y) of an out_w×out_h
/// image (pixel centers aligned, edges clamped).
fn bilinear(map: &[f32], h: usize, w: usize, x: u32, y: u32, out_w: u32, out_h: u32) -> f32 {
    let coord = |o: u32, out: u32, n: usize| {
        let s = ((o as f32 + 0.5) * n as f32 / out as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i0 = s.floor() as usize;
        (i0, (i0 + 1).min(n - 1), s - i0 as f32)
    };
    let (x0, x1, tx) = coord(x, out_w, w);
    let (y0, y1, ty) = coord(y, out_h, h);
    let at = |r: usize, c: usize| map[r * w + c];
    let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
    let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
    top * (1.0 - ty) + bottom * ty
}

/// Upsamples a map (h×w, row-major) to the image size bilinearly, normalises it to [0, 1]
/// by its max (negatives and non-finite values count as 0), colorizes it with
/// [`colormap`] and blends it over the image with opacity `alpha` (clamped to [0, 1]).
///
/// # Panics
/// If `map.len() != h * w` or `h` or `w` is 0.
pub fn overlay_attention(img: &RgbImage, map: &[f32], h: usize, w: usize, alpha: f32) -> RgbImage {
    assert!(h > 0 && w > 0, "attention map size {h}x{w} is empty");
    assert_eq!(map.len(), h * w, "attention map has {} values, expected {h}x{w}", map.len());
    let clean: Vec<f32> = map.iter().map(|&v| if v.is_finite() { v.max(0.0) } else { 0.0 }).collect();
    let max = clean.iter().copied().fold(0.0f32, f32::max);
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    let alpha = if alpha.is_nan() { 0.0 } else { alpha.clamp(0.0, 1.0) };
    let (out_w, out_h) = img.dimensions();
    let mut out = img.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let v = bilinear(&clean, h, w, x, y, out_w, out_h) * scale;
        let c = colormap(v);
        for k in 0..3 {
            let blended = px[k] as f32 * (1.0 - alpha) + c[k] as f32 * alpha;
            px[k] = blended.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Width and height in pixels of `text` drawn by [`draw_text`] at `scale`.
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let s = GLYPH * scale.max(1);
    (text.chars().count() as u32 * s, s)
}

/// Draws `text` with its top-left corner at (x, y) in `color`, each font pixel a
/// `scale`×`scale` block (scale 0 acts as 1), clipped to the image. Printable ASCII is
/// drawn as is; other characters are shown as `?`.
pub fn draw_text(img: &mut RgbImage, x: i32, y: i32, text: &str, color: [u8; 3], scale: u32) {
    let scale = scale.max(1) as i64;
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let advance = GLYPH as i64 * scale;
    for (n, ch) in text.chars().enumerate() {
        let ch = if ch.is_ascii_graphic() || ch == ' ' { ch } else { '?' };
        let glyph = font8x8::legacy::BASIC_LEGACY[ch as usize];
        let gx = x as i64 + n as i64 * advance;
        if gx >= iw {
            break;
        }
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                let px0 = gx + col * scale;
                let py0 = y as i64 + row as i64 * scale;
                for py in py0.max(0)..(py0 + scale).min(ih) {
                    for px in px0.max(0)..(px0 + scale).min(iw) {
                        img.put_pixel(px as u32, py as u32, Rgb(color));
                    }
                }
            }
        }
    }
}

/// Cuts `text` to the characters that fit in `width` pixels at `scale`.
fn fit(text: &str, width: u32, scale: u32) -> String {
    let max = (width / (GLYPH * scale.max(1))) as usize;
    text.chars().take(max).collect()
}

/// Resizes `img` to exactly w×h (no-op if already that size).
fn resized(img: &RgbImage, w: u32, h: u32, filter: FilterType) -> RgbImage {
    if img.dimensions() == (w, h) { img.clone() } else { imageops::resize(img, w, h, filter) }
}

/// A grid of images, `cols` per row (at least 1), separated and framed by `pad` pixels
/// of [`BACKGROUND`]; with `labels`, a text strip under each cell holds its label (cut
/// to the cell width). Never fails: no cells gives a 1×1 image, cells of another size
/// than the first are resized to it.
pub fn grid(cells: &[RgbImage], cols: usize, pad: u32, labels: Option<&[String]>) -> RgbImage {
    let Some(first) = cells.first() else {
        return RgbImage::from_pixel(1, 1, Rgb(BACKGROUND));
    };
    let (cw, ch) = (first.width().max(1), first.height().max(1));
    let cols = cols.clamp(1, cells.len());
    let rows = cells.len().div_ceil(cols);
    let strip = if labels.is_some() { GLYPH + 4 } else { 0 };
    let width = cols as u32 * (cw + pad) + pad;
    let height = rows as u32 * (ch + strip + pad) + pad;
    let mut out = RgbImage::from_pixel(width, height, Rgb(BACKGROUND));
    for (i, cell) in cells.iter().enumerate() {
        let x = pad + (i % cols) as u32 * (cw + pad);
        let y = pad + (i / cols) as u32 * (ch + strip + pad);
        let cell = resized(cell, cw, ch, FilterType::Triangle);
        imageops::replace(&mut out, &cell, x as i64, y as i64);
        if let Some(label) = labels.and_then(|l| l.get(i)) {
            let text = fit(label, cw, 1);
            draw_text(&mut out, x as i32, (y + ch + 2) as i32, &text, TEXT_COLOR, 1);
        }
    }
    out
}

/// AttnGAN's attention sheet. One row per stage that has attention (`maps[i]` present
/// and non-empty): the first column is the stage image (labelled with its size), then
/// one column per word with the attention overlay and the word above it.
///
/// `stages[i]` is the image of stage i, `maps[i][t]` the map of word t with size
/// `map_sizes[i]` = (h, w) (a missing size is taken as square), `words` the labels.
/// Cells are upscaled (nearest) to `cell`×`cell` px so small stages stay readable.
/// A map whose length does not match its size is drawn as a blank cell marked `?`.
/// With no row to show the result is a 1×1 image.
pub fn attention_sheet(
    stages: &[RgbImage],
    maps: &[Vec<Vec<f32>>],
    map_sizes: &[(usize, usize)],
    words: &[String],
    cell: u32,
) -> RgbImage {
    let cell = cell.max(1);
    let pad = 4;
    let scale = (cell / 128).clamp(1, 4);
    let label_h = GLYPH * scale + 4;
    let rows: Vec<usize> = (0..stages.len()).filter(|&i| maps.get(i).is_some_and(|m| !m.is_empty())).collect();
    if rows.is_empty() {
        return RgbImage::from_pixel(1, 1, Rgb(BACKGROUND));
    }
    let n_words = rows.iter().map(|&i| maps[i].len()).max().unwrap_or(0).max(words.len());
    let cols = n_words as u32 + 1;
    let width = cols * (cell + pad) + pad;
    let height = rows.len() as u32 * (label_h + cell + pad) + pad;
    let mut out = RgbImage::from_pixel(width, height, Rgb(BACKGROUND));

    for (r, &i) in rows.iter().enumerate() {
        let stage = &stages[i];
        let y_label = pad + r as u32 * (label_h + cell + pad);
        let y = (y_label + label_h) as i64;
        let big = resized(stage, cell, cell, FilterType::Nearest);
        let size = format!("{}x{}", stage.width(), stage.height());
        let label_at = |out: &mut RgbImage, col: u32, text: &str| {
            let x = pad + col * (cell + pad);
            draw_text(out, x as i32, (y_label + 2) as i32, &fit(text, cell, scale), TEXT_COLOR, scale);
        };
        label_at(&mut out, 0, &size);
        imageops::replace(&mut out, &big, pad as i64, y);
        for t in 0..n_words {
            let col = t as u32 + 1;
            let x = (pad + col * (cell + pad)) as i64;
            if let Some(word) = words.get(t) {
                label_at(&mut out, col, word);
            }
            let Some(map) = maps[i].get(t) else { continue };
            let (h, w) = map_sizes.get(i).copied().unwrap_or_else(|| {
                let n = (map.len() as f64).sqrt().round() as usize;
                (n, n)
            });
            if h == 0 || w == 0 || map.len() != h * w {
                draw_text(&mut out, x as i32 + 2, y as i32 + 2, "?", TEXT_COLOR, scale);
                continue;
            }
            let overlay = overlay_attention(&big, map, h, w, ATTENTION_ALPHA);
            imageops::replace(&mut out, &overlay, x, y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(c: [u8; 3]) -> f32 {
        0.2126 * c[0] as f32 + 0.7152 * c[1] as f32 + 0.0722 * c[2] as f32
    }

    fn dist(a: [u8; 3], b: [u8; 3]) -> f32 {
        (0..3).map(|k| (a[k] as f32 - b[k] as f32).powi(2)).sum::<f32>().sqrt()
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 128]))
    }

    #[test]
    fn colormap_endpoints_and_monotone_luminance() {
        assert_eq!(colormap(0.0), [68, 1, 84]);
        assert_eq!(colormap(1.0), [253, 231, 37]);
        assert_eq!(colormap(-3.0), colormap(0.0));
        assert_eq!(colormap(7.0), colormap(1.0));
        assert_eq!(colormap(f32::NAN), colormap(0.0));
        assert_eq!(colormap(0.5), [33, 145, 140]);
        let mut prev = -1.0;
        for i in 0..=200 {
            let l = luminance(colormap(i as f32 / 200.0));
            assert!(l >= prev, "luminance drops at {i}");
            prev = l;
        }
    }

    #[test]
    fn overlay_alpha_zero_is_identity() {
        let img = gradient(20, 12);
        let map: Vec<f32> = (0..12).map(|i| i as f32).collect();
        assert_eq!(overlay_attention(&img, &map, 3, 4, 0.0), img);
        let full = overlay_attention(&img, &map, 3, 4, 1.0);
        assert_eq!(full.get_pixel(0, 0).0, colormap(0.0));
        assert_eq!(full.get_pixel(19, 11).0, colormap(1.0));
    }

    #[test]
    fn overlay_handles_zero_and_bad_values() {
        let img = gradient(8, 8);
        let out = overlay_attention(&img, &[0.0, -1.0, f32::NAN, f32::INFINITY], 2, 2, 1.0);
        assert!(out.pixels().all(|p| p.0 == colormap(0.0)));
    }

    #[test]
    #[should_panic(expected = "expected 2x2")]
    fn overlay_rejects_wrong_length() {
        overlay_attention(&gradient(4, 4), &[1.0; 3], 2, 2, 0.5);
    }

    #[test]
    fn grid_dimensions() {
        let cells: Vec<RgbImage> = (0..5).map(|_| gradient(10, 6)).collect();
        let g = grid(&cells, 3, 2, None);
        assert_eq!(g.dimensions(), (3 * 12 + 2, 2 * 8 + 2));
        let labels: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let g = grid(&cells, 3, 2, Some(&labels));
        assert_eq!(g.dimensions(), (38, 2 * (6 + 12 + 2) + 2));
        assert_eq!(grid(&cells, 10, 0, None).dimensions(), (50, 6));
        assert_eq!(grid(&cells, 0, 0, None).dimensions(), (10, 30));
        assert_eq!(grid(&[], 3, 2, None).dimensions(), (1, 1));
        // Cells of another size are resized to the first's.
        let mixed = [gradient(10, 6), gradient(3, 9)];
        assert_eq!(grid(&mixed, 2, 1, None).dimensions(), (23, 8));
        // Cell content is copied in place.
        let g = grid(&cells, 3, 2, None);
        assert_eq!(g.get_pixel(2 + 12 + 3, 2 + 4), cells[1].get_pixel(3, 4));
        assert_eq!(g.get_pixel(0, 0).0, BACKGROUND);
    }

    #[test]
    fn text_stays_in_its_box() {
        let color = [250, 10, 20];
        let mut img = RgbImage::new(60, 40);
        draw_text(&mut img, 10, 5, "ab", color, 2);
        let (tw, th) = text_size("ab", 2);
        assert_eq!((tw, th), (32, 16));
        let mut inside = 0;
        for (x, y, p) in img.enumerate_pixels() {
            let in_box = (10..10 + tw).contains(&x) && (5..5 + th).contains(&y);
            if p.0 == color {
                assert!(in_box, "pixel at ({x},{y}) outside the text box");
                inside += 1;
            } else {
                assert_eq!(p.0, [0, 0, 0]);
            }
        }
        assert!(inside > 20, "only {inside} text pixels");
    }

    #[test]
    fn text_clips_and_replaces_unknown() {
        let mut img = RgbImage::new(10, 10);
        draw_text(&mut img, -4, -3, "x", [255; 3], 1);
        draw_text(&mut img, 6, 6, "é€", [255; 3], 3);
        draw_text(&mut img, 100, 100, "far", [255; 3], 1);
        assert!(img.pixels().any(|p| p.0 == [255; 3]));
        let mut q = RgbImage::new(16, 8);
        let mut e = RgbImage::new(16, 8);
        draw_text(&mut q, 0, 0, "??", [255; 3], 1);
        draw_text(&mut e, 0, 0, "é\u{7}", [255; 3], 1);
        assert_eq!(q, e);
    }

    type SheetInputs = (Vec<RgbImage>, Vec<Vec<Vec<f32>>>, Vec<(usize, usize)>, Vec<String>);

    fn sheet_inputs(words: usize) -> SheetInputs {
        let stages = vec![gradient(64, 64), gradient(128, 128)];
        let sizes = vec![(8, 8), (16, 16)];
        let maps = sizes
            .iter()
            .map(|&(h, w)| {
                (0..words)
                    .map(|t| {
                        // Word t peaks at a different place; word 0 peaks at the top-left.
                        let (cy, cx) = ((t * 3 % h) as f32, (t * 5 % w) as f32);
                        (0..h * w)
                            .map(|k| {
                                let (y, x) = ((k / w) as f32, (k % w) as f32);
                                (-((y - cy).powi(2) + (x - cx).powi(2)) / (0.05 * (h * w) as f32)).exp()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let names = ["a", "small", "yellow", "bird", "perched"];
        let words = (0..words).map(|t| names[t % names.len()].to_string()).collect();
        (stages, maps, sizes, words)
    }

    #[test]
    fn sheet_dimensions_and_hot_spot() {
        let (stages, mut maps, sizes, words) = sheet_inputs(5);
        let cell = 96;
        let s = attention_sheet(&stages, &maps, &sizes, &words, cell);
        let label_h = GLYPH + 4;
        assert_eq!(s.dimensions(), (6 * (cell + 4) + 4, 2 * (label_h + cell + 4) + 4));

        // Word 0 of stage 0: all mass in the top-left map cell.
        maps[0][0] = vec![0.0; 64];
        maps[0][0][0] = 1.0;
        let s = attention_sheet(&stages, &maps, &sizes, &words, cell);
        let (x0, y0) = (4 + cell + 4, 4 + label_h);
        let hot = colormap(1.0);
        let tl = s.get_pixel(x0 + 1, y0 + 1).0;
        let br = s.get_pixel(x0 + cell - 2, y0 + cell - 2).0;
        let base_tl = imageops::resize(&stages[0], cell, cell, FilterType::Nearest).get_pixel(1, 1).0;
        assert!(dist(tl, hot) < dist(br, hot), "tl {tl:?} br {br:?}");
        assert!(dist(tl, hot) < dist(base_tl, hot));
    }

    #[test]
    fn sheet_skips_stages_without_attention() {
        let (mut stages, maps, sizes, words) = sheet_inputs(3);
        stages.insert(0, gradient(32, 32));
        let maps = [vec![], maps[0].clone(), maps[1].clone()];
        let sizes = [(0, 0), sizes[0], sizes[1]];
        let s = attention_sheet(&stages, &maps, &sizes, &words, 64);
        assert_eq!(s.dimensions(), (4 * 68 + 4, 2 * (12 + 64 + 4) + 4));
        assert_eq!(attention_sheet(&stages, &[], &[], &words, 64).dimensions(), (1, 1));
        // A malformed map does not panic.
        let bad = [vec![vec![1.0; 5]]];
        assert_eq!(attention_sheet(&stages[..1], &bad, &[(2, 2)], &words[..1], 64).width(), 2 * 68 + 4);
    }

    /// Writes /tmp/sheet_demo.png and /tmp/grid_demo.png for a visual check.
    #[test]
    #[ignore = "writes demo images"]
    fn write_demo_sheet() {
        let (stages, maps, sizes, words) = sheet_inputs(5);
        let s = attention_sheet(&stages, &maps, &sizes, &words, 128);
        let path = std::env::temp_dir().join("sheet_demo.png");
        s.save(&path).unwrap();
        let cells: Vec<RgbImage> = stages.clone();
        let labels = vec!["stage 0 64px".to_string(), "stage 1 128px".to_string()];
        grid(&cells, 2, 4, Some(&labels)).save(std::env::temp_dir().join("grid_demo.png")).unwrap();
    }
}
