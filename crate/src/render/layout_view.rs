//! Pictures of an inferred layout (Hong et al.'s intermediate result): each box's mask tinted
//! in the box's own colour, the box outline and its class label, over a dark canvas or over
//! the generated image.

use image::{Rgb, RgbImage};

use super::sheet::draw_text;
use crate::pipeline::LayoutView;

/// Distinct colours for boxes in drawing order (they repeat after eight).
pub const BOX_COLORS: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
];

/// The layout drawn at `side`×`side`: over `base` (resized to fit) when given, else over a
/// dark gray canvas. Masks are blended at `alpha`; outlines and labels are opaque.
pub fn draw_layout(view: &LayoutView, side: u32, base: Option<&RgbImage>, alpha: f32) -> RgbImage {
    let mut img = match base {
        Some(b) => image::imageops::resize(b, side, side, image::imageops::FilterType::Nearest),
        None => RgbImage::from_pixel(side, side, Rgb([32, 32, 32])),
    };
    let alpha = alpha.clamp(0.0, 1.0);
    for (i, (b, mask)) in view.boxes.iter().zip(&view.masks).enumerate() {
        let color = BOX_COLORS[i % BOX_COLORS.len()];
        for (x, y, px) in img.enumerate_pixels_mut() {
            let mx = (x as usize * mask.w / side as usize).min(mask.w - 1);
            let my = (y as usize * mask.h / side as usize).min(mask.h - 1);
            let a = alpha * mask.data[my * mask.w + mx].clamp(0.0, 1.0);
            for k in 0..3 {
                px[k] = (px[k] as f32 * (1.0 - a) + color[k] as f32 * a).round() as u8;
            }
        }
        let s = side as f32;
        let [x0, y0, x1, y1] = b.bbox.map(|v| (v * s).round().clamp(0.0, s - 1.0) as u32);
        for x in x0..=x1 {
            img.put_pixel(x, y0, Rgb(color));
            img.put_pixel(x, y1, Rgb(color));
        }
        for y in y0..=y1 {
            img.put_pixel(x0, y, Rgb(color));
            img.put_pixel(x1, y, Rgb(color));
        }
        let label = view.labels.get(i).map(String::as_str).unwrap_or("?");
        let scale = if side >= 256 { 2 } else { 1 };
        draw_text(&mut img, x0 as i32 + 2, y0 as i32 + 2, label, color, scale);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::layout::boxes::LayoutBox;
    use crate::pipeline::Map;

    #[test]
    fn masks_tint_only_their_box_and_outlines_are_drawn() {
        let mut data = vec![0.0; 16 * 16];
        for y in 4..8 {
            for x in 4..8 {
                data[y * 16 + x] = 1.0;
            }
        }
        let view = LayoutView {
            boxes: vec![LayoutBox { class: 0, bbox: [0.25, 0.25, 0.5, 0.5] }],
            labels: vec!["circle".into()],
            masks: vec![Map { h: 16, w: 16, data }],
        };
        let img = draw_layout(&view, 64, None, 1.0);
        assert_eq!(img.get_pixel(24, 24).0, BOX_COLORS[0]); // inside the mask
        assert_eq!(img.get_pixel(60, 60).0, [32, 32, 32]); // far outside
        assert_eq!(img.get_pixel(16, 30).0, BOX_COLORS[0]); // left edge of the box
        let base = RgbImage::from_pixel(32, 32, Rgb([255, 255, 255]));
        let over = draw_layout(&view, 64, Some(&base), 0.5);
        assert_eq!(over.get_pixel(60, 60).0, [255, 255, 255]);
        assert_ne!(over.get_pixel(24, 24).0, [255, 255, 255]);
    }
}
