//! One record per evaluated Shapes scene at the final stage: the caption and noise seed that
//! reproduce the image (`t2i generate --seed`), what the scene holds, what the judge read, and
//! which attributes were wrong. The tables of `t2i eval` say how often something fails; these
//! records say for which captions, so a pattern (one wording, one colour, one side of the
//! canvas) can be found by filtering them rather than by regenerating images by hand.

use serde::Serialize;

use crate::data::caption_slots::caption_relation;
use crate::data::shapes::{Layout, Object, Relation, Scene};
use crate::eval::judge::{AttributeScores, JudgedScene};
use crate::eval::relation_errors::is_mirrored;

/// One scene as generated and judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SceneRecord {
    /// Test-split index of the scene.
    pub index: usize,
    pub caption: String,
    /// Noise seed the image was generated with.
    pub seed: u64,
    pub held_out: bool,
    pub all_right: bool,
    /// The attributes judged wrong: `background`, `count`, `layout`, and `object N colour`,
    /// `object N shape`, `object N size` (N = 1, 2 in scene order; `object N missing` where no
    /// drawn object matched it).
    pub wrong: Vec<String>,
    /// The scene's objects, "small red circle", in scene order.
    pub objects: Vec<String>,
    /// The scene's layout: a lone object's position, or `objects[0]`'s relation to `objects[1]`.
    pub layout: Layout,
    /// The relation the caption states between the object it names first and the one it
    /// names second (two-object captions only).
    pub caption_relation: Option<Relation>,
    /// The relation read between the drawn objects matched to `objects[0]` and `objects[1]`.
    pub judged_relation: Option<Relation>,
    /// The two objects were drawn in each other's places.
    pub mirrored: bool,
    /// Objects the judge found (before keeping the two largest).
    pub found: usize,
    /// The objects the judge kept, "large red circle at (0.25, 0.50)" (box centre as fractions
    /// of the side), largest first.
    pub judged: Vec<String>,
}

fn describe(o: &Object) -> String {
    format!("{} {} {}", o.size, o.color, o.shape)
}

impl SceneRecord {
    /// The record of `truth`, generated for `caption` with noise `seed`, judged as `judged`
    /// and scored as `scores` (already restricted to what the caption states).
    pub fn new(
        index: usize,
        caption: &str,
        seed: u64,
        truth: &Scene,
        judged: &JudgedScene,
        scores: &AttributeScores,
    ) -> Self {
        let mut wrong = Vec::new();
        if scores.background == Some(false) {
            wrong.push("background".to_owned());
        }
        if !scores.count {
            wrong.push("count".to_owned());
        }
        if !scores.layout {
            wrong.push("layout".to_owned());
        }
        for (k, o) in scores.objects.iter().enumerate() {
            let n = k + 1;
            if o.judged_shape.is_none() {
                wrong.push(format!("object {n} missing"));
                continue;
            }
            for (ok, what) in [(o.color, "colour"), (o.shape, "shape"), (o.size, "size")] {
                if !ok {
                    wrong.push(format!("object {n} {what}"));
                }
            }
        }
        let judged_objects = judged
            .objects
            .iter()
            .map(|o| {
                let [x, y] = o.center();
                format!("{} {} {} at ({x:.2}, {y:.2})", o.size, o.color, o.shape)
            })
            .collect();
        Self {
            index,
            caption: caption.to_owned(),
            seed,
            held_out: truth.has_held_out(),
            all_right: scores.all_correct(),
            wrong,
            objects: truth.objects.iter().map(describe).collect(),
            layout: truth.layout,
            caption_relation: match truth.layout {
                Layout::Pair(_) => caption_relation(caption),
                Layout::Single(_) => None,
            },
            judged_relation: scores.judged_relation,
            mirrored: is_mirrored(truth, scores),
            found: judged.found,
            judged: judged_objects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shapes::{self, Split};
    use crate::eval::judge::{judge, score};

    /// The first test scene with two objects, and its caption.
    fn pair_example() -> (Scene, String) {
        (0..200)
            .map(|i| shapes::example(0, Split::Test, i))
            .find(|e| matches!(e.scene.layout, Layout::Pair(_)))
            .map(|e| (e.scene.clone(), e.captions[0].clone()))
            .expect("a two-object scene among the first 200")
    }

    #[test]
    fn a_real_scene_reads_all_right() {
        let (scene, caption) = pair_example();
        let img = shapes::render(&scene, 128).expect("renders");
        let judged = judge(&img);
        let rec = SceneRecord::new(7, &caption, 42, &scene, &judged, &score(&scene, &judged).for_caption(&caption));
        assert!(rec.all_right, "{rec:?}");
        assert!(rec.wrong.is_empty());
        assert!(!rec.mirrored);
        assert_eq!((rec.index, rec.seed, rec.found), (7, 42, 2));
        assert_eq!(rec.objects.len(), 2);
        assert_eq!(rec.judged.len(), 2);
        let Layout::Pair(r) = scene.layout else { unreachable!() };
        assert_eq!(rec.judged_relation, Some(r));
        assert!(rec.caption_relation.is_some());
    }

    #[test]
    fn a_swapped_pair_is_recorded_as_mirrored() {
        let (scene, caption) = pair_example();
        // The same scene with the two objects' places exchanged: each object's box moves to
        // the other's centre.
        let mut swapped = scene.clone();
        let [a, b] = [scene.objects[0], scene.objects[1]];
        let shift = |o: &Object, to: [f32; 2]| {
            let [cx, cy] = o.center();
            let [x0, y0, x1, y1] = o.bbox;
            [x0 - cx + to[0], y0 - cy + to[1], x1 - cx + to[0], y1 - cy + to[1]]
        };
        swapped.objects[0].bbox = shift(&a, b.center());
        swapped.objects[1].bbox = shift(&b, a.center());
        let img = shapes::render(&swapped, 128).expect("renders");
        let judged = judge(&img);
        let rec = SceneRecord::new(0, &caption, 0, &scene, &judged, &score(&scene, &judged).for_caption(&caption));
        assert!(rec.mirrored, "{rec:?}");
        assert!(!rec.all_right);
        assert_eq!(rec.wrong, vec!["layout".to_owned()]);
    }

    #[test]
    fn a_blank_image_misses_every_object() {
        let (scene, caption) = pair_example();
        let blank = image::RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]));
        let judged = judge(&blank);
        let rec = SceneRecord::new(0, &caption, 0, &scene, &judged, &score(&scene, &judged).for_caption(&caption));
        assert!(!rec.all_right);
        assert!(rec.wrong.contains(&"object 1 missing".to_owned()));
        assert!(rec.wrong.contains(&"object 2 missing".to_owned()));
        assert!(rec.wrong.contains(&"count".to_owned()));
        assert_eq!((rec.found, rec.judged_relation, rec.mirrored), (0, None, false));
        let line = serde_json::to_string(&rec).expect("serialises");
        assert!(line.contains("\"caption\""), "{line}");
    }
}
