//! Labelled boxes and the maps the shape and image generators read them as.

use serde::{Deserialize, Serialize};

/// One object of a layout: a class index into `[model.layout] classes` and its box
/// `[x0, y0, x1, y1]` as fractions of the image side.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayoutBox {
    pub class: usize,
    pub bbox: [f32; 4],
}

impl LayoutBox {
    /// From centre and size (the box generator's parameters), clamped inside the canvas
    /// with a side of at least `MIN_SIDE`.
    pub fn from_center(class: usize, [cx, cy]: [f32; 2], [w, h]: [f32; 2]) -> Self {
        let w = w.clamp(MIN_SIDE, 1.0);
        let h = h.clamp(MIN_SIDE, 1.0);
        let cx = cx.clamp(w / 2.0, 1.0 - w / 2.0);
        let cy = cy.clamp(h / 2.0, 1.0 - h / 2.0);
        Self { class, bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0] }
    }

    /// (cx, cy, w, h).
    pub fn center_size(&self) -> [f32; 4] {
        let [x0, y0, x1, y1] = self.bbox;
        [(x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0]
    }

    /// Pixel range `[x0, y0, x1, y1)` the box covers on a `size`² grid: every cell whose
    /// centre lies inside the box, and at least one cell.
    pub fn cells(&self, size: usize) -> [usize; 4] {
        let s = size as f32;
        let lo = |v: f32| ((v * s - 0.5).ceil().max(0.0) as usize).min(size - 1);
        let hi =
            |v: f32, lo: usize| ((v * s - 0.5).floor() as isize + 1).clamp(lo as isize + 1, size as isize) as usize;
        let (x0, y0) = (lo(self.bbox[0]), lo(self.bbox[1]));
        [x0, y0, hi(self.bbox[2], x0), hi(self.bbox[3], y0)]
    }
}

/// Smallest box side the generator may draw (a fraction of the image side).
pub const MIN_SIDE: f32 = 0.04;

/// Box maps [N, T, C, S, S] (T = `slots`): slot t of layout n is 1 inside box t on its class
/// channel and 0 elsewhere; slots past a layout's boxes are all 0. Also the slot validity
/// [N, T] (1 for a real box).
pub fn box_maps(layouts: &[Vec<LayoutBox>], classes: usize, slots: usize, size: usize) -> (Vec<f32>, Vec<f32>) {
    let plane = size * size;
    let mut maps = vec![0.0; layouts.len() * slots * classes * plane];
    let mut valid = vec![0.0; layouts.len() * slots];
    for (n, boxes) in layouts.iter().enumerate() {
        for (t, b) in boxes.iter().take(slots).enumerate() {
            valid[n * slots + t] = 1.0;
            let [x0, y0, x1, y1] = b.cells(size);
            let base = ((n * slots + t) * classes + b.class.min(classes - 1)) * plane;
            for y in y0..y1 {
                maps[base + y * size + x0..base + y * size + x1].fill(1.0);
            }
        }
    }
    (maps, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_cover_the_box_on_its_class_channel_only() {
        let b = LayoutBox { class: 1, bbox: [0.25, 0.5, 0.75, 1.0] };
        assert_eq!(b.cells(8), [2, 4, 6, 8]);
        let (maps, valid) = box_maps(&[vec![b], vec![]], 3, 2, 8);
        assert_eq!(valid, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(maps.len(), 2 * 2 * 3 * 64);
        let on: f32 = maps[64..128].iter().sum();
        assert_eq!(on, 16.0); // 4 × 4 cells
        assert_eq!(maps.iter().sum::<f32>(), 16.0);
        assert_eq!(maps[64 + 4 * 8 + 2], 1.0);
        assert_eq!(maps[64 + 3 * 8 + 2], 0.0);
        // Degenerate and out-of-range boxes still cover one cell, inside the grid.
        let tiny = LayoutBox::from_center(0, [1.2, -0.3], [0.0, 0.0]);
        assert!(tiny.bbox.iter().all(|v| (0.0..=1.0).contains(v)));
        let [x0, y0, x1, y1] = tiny.cells(8);
        assert!(x1 > x0 && y1 > y0 && x1 <= 8 && y1 <= 8);
    }
}
