//! Box-level scores of the layout model against the caption's scene (Hong et al. 2018 §4.2
//! evaluate their box generator the same way, on the layout before any pixel is drawn): is the
//! number of boxes right, their classes, their sizes, and where they sit — the lone object's
//! position, or the relation between the two.
//!
//! Boxes are matched to the scene's objects by class (in drawing order when classes tie), so
//! a caption that names the objects in the other order is not penalised.

use serde::Serialize;

use crate::data::shapes::{Layout, Scene, Size};
use crate::eval::judge::{position_of, relation_between};
use crate::models::layout::boxes::LayoutBox;

/// The judge's boundary between small (≈ 0.22) and large (≈ 0.42) boxes.
const SIZE_SPLIT: f32 = 0.32;

/// One layout's verdicts; `None` where the measure does not apply (wrong count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxScore {
    pub count: bool,
    pub classes: Option<bool>,
    pub sizes: Option<bool>,
    pub placement: Option<bool>,
}

impl BoxScore {
    pub fn all_correct(&self) -> bool {
        self.count && self.classes == Some(true) && self.sizes == Some(true) && self.placement == Some(true)
    }
}

/// Score `boxes` (classes index `classes`) against the scene a caption describes.
pub fn score_layout(scene: &Scene, boxes: &[LayoutBox], classes: &[String]) -> BoxScore {
    let n = scene.objects.len();
    if boxes.len() != n {
        return BoxScore { count: false, classes: None, sizes: None, placement: None };
    }
    let class_of = |b: &LayoutBox| classes.get(b.class).map(String::as_str).unwrap_or("");
    let size_of = |b: &LayoutBox| {
        let [_, _, w, h] = b.center_size();
        if w.max(h) >= SIZE_SPLIT { Size::Large } else { Size::Small }
    };
    // order[o] = the box matched to object o; (class matches, size matches) of an order.
    let matches = |order: &[usize]| -> (usize, usize) {
        let hits = |f: &dyn Fn(usize, &LayoutBox) -> bool| {
            order.iter().enumerate().filter(|(o, b)| f(*o, &boxes[**b])).count()
        };
        (hits(&|o, b| class_of(b) == scene.objects[o].shape.name()), hits(&|o, b| size_of(b) == scene.objects[o].size))
    };
    let identity: Vec<usize> = (0..n).collect();
    let order = if n == 2 && matches(&[1, 0]) > matches(&identity) { vec![1, 0] } else { identity };
    let (class_hits, size_hits) = matches(&order);
    let (classes_ok, sizes_ok) = (class_hits == n, size_hits == n);
    let center = |b: usize| {
        let [cx, cy, _, _] = boxes[b].center_size();
        [cx, cy]
    };
    let placement = match scene.layout {
        Layout::Single(p) => position_of(center(order[0])) == p,
        Layout::Pair(r) => relation_between(center(order[0]), center(order[1])) == r,
    };
    BoxScore { count: true, classes: Some(classes_ok), sizes: Some(sizes_ok), placement: Some(placement) }
}

/// Shares of layouts right per measure (classes, sizes, placement among layouts whose count
/// is right).
#[derive(Clone, Debug, Default, Serialize)]
pub struct BoxAccuracy {
    pub layouts: usize,
    pub count: f64,
    pub classes: f64,
    pub sizes: f64,
    pub placement: f64,
    pub all_correct: f64,
    /// Mean boxes per layout.
    pub mean_boxes: f64,
}

impl BoxAccuracy {
    pub fn from_scores(scores: &[(BoxScore, usize)]) -> Self {
        let n = scores.len().max(1) as f64;
        let counted: Vec<&BoxScore> = scores.iter().map(|(s, _)| s).filter(|s| s.count).collect();
        let m = counted.len().max(1) as f64;
        let share = |f: fn(&BoxScore) -> Option<bool>| counted.iter().filter(|s| f(s) == Some(true)).count() as f64 / m;
        Self {
            layouts: scores.len(),
            count: counted.len() as f64 / n,
            classes: share(|s| s.classes),
            sizes: share(|s| s.sizes),
            placement: share(|s| s.placement),
            all_correct: scores.iter().filter(|(s, _)| s.all_correct()).count() as f64 / n,
            mean_boxes: scores.iter().map(|(_, b)| *b as f64).sum::<f64>() / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::layout_targets::scene_boxes;
    use crate::data::shapes::{Split, example};

    fn classes() -> Vec<String> {
        ["circle", "square", "triangle", "star"].map(String::from).to_vec()
    }

    #[test]
    fn true_boxes_score_perfectly_and_swapped_or_missing_boxes_do_not() {
        let cl = classes();
        let mut scores = Vec::new();
        for i in 0..200 {
            let scene = example(0, Split::Test, i).scene;
            let boxes = scene_boxes(&scene, &cl).unwrap();
            let s = score_layout(&scene, &boxes, &cl);
            assert!(s.all_correct(), "scene {i}: {s:?} {scene:?}");
            scores.push((s, boxes.len()));
            // Reversed drawing order is matched back by class (or, for equal classes, still
            // scores its classes and sizes).
            let rev: Vec<LayoutBox> = boxes.iter().rev().cloned().collect();
            let r = score_layout(&scene, &rev, &cl);
            assert_eq!((r.count, r.classes, r.sizes), (true, Some(true), Some(true)));
            // A missing box fails the count.
            assert!(!score_layout(&scene, &boxes[1..], &cl).count);
            // Moving a lone object to the opposite side fails its position.
            if let Layout::Single(_) = scene.layout {
                let mut moved = boxes.clone();
                let [x0, y0, x1, y1] = moved[0].bbox;
                moved[0].bbox = [1.0 - x1, 1.0 - y1, 1.0 - x0, 1.0 - y0];
                let center = moved[0].center_size();
                if (center[0] - 0.5).abs() > 0.15 || (center[1] - 0.5).abs() > 0.15 {
                    assert_eq!(score_layout(&scene, &moved, &cl).placement, Some(false), "scene {i}");
                }
            }
        }
        let acc = BoxAccuracy::from_scores(&scores);
        assert_eq!((acc.count, acc.classes, acc.sizes, acc.placement, acc.all_correct), (1.0, 1.0, 1.0, 1.0, 1.0));
        assert!(acc.mean_boxes > 1.0 && acc.mean_boxes < 2.0);
    }
}
