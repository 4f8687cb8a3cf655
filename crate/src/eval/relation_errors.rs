//! How the judge reads the relation in two-object scenes: right, mirrored (the two objects
//! drawn in each other's places, e.g. "left of" drawn as "right of"), along the other axis
//! ("left of" drawn as "above"), or not readable because an object was not found. The
//! relation accuracy alone cannot tell a generator that binds the words of the two objects to
//! the wrong places (mirrored) from one that places them vaguely (other axis). Split by the
//! relation the caption states, it also shows whether mirroring follows the wording: a
//! generator that puts the first-named object left or on top by habit mirrors "right of" and
//! "below" captions.

use std::fmt;

use serde::Serialize;

use crate::data::caption_slots::caption_relation;
use crate::data::shapes::{Layout, Relation, Scene};
use crate::eval::judge::AttributeScores;

/// Counts over two-object scenes; every such scene lands in exactly one of `right`,
/// `mirrored`, `other_axis` and `unmatched`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelationErrors {
    pub right: usize,
    /// Read as the inverse relation: the objects swapped places.
    pub mirrored: usize,
    /// Mirrored scenes whose two objects both have the right colour and shape: the objects
    /// were drawn well, only each in the other's place.
    pub mirrored_objects_right: usize,
    /// Read along the other axis (the two centres further apart across than along).
    pub other_axis: usize,
    /// An object of the caption was not matched to any drawn object.
    pub unmatched: usize,
    /// The same scenes by the relation their caption states, first-named object to second.
    pub by_caption: ByCaptionRelation,
}

/// Two-object scenes, and how many of them were drawn mirrored, per relation as the caption
/// words it ("a red circle right of a blue square" counts under `right_of`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByCaptionRelation {
    pub left_of: MirroredOf,
    pub right_of: MirroredOf,
    pub above: MirroredOf,
    pub below: MirroredOf,
}

/// Scenes and mirrored scenes among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MirroredOf {
    pub scenes: usize,
    pub mirrored: usize,
}

impl ByCaptionRelation {
    fn get_mut(&mut self, relation: Relation) -> &mut MirroredOf {
        match relation {
            Relation::LeftOf => &mut self.left_of,
            Relation::RightOf => &mut self.right_of,
            Relation::Above => &mut self.above,
            Relation::Below => &mut self.below,
        }
    }

    /// The four tallies in `Relation::ALL` order: left of, right of, above, below.
    pub fn all(&self) -> [MirroredOf; 4] {
        [self.left_of, self.right_of, self.above, self.below]
    }
}

/// Whether a two-object scene was drawn mirrored: the relation read between the objects
/// matched to the scene's two is the inverse of the scene's (false for one-object scenes).
pub fn is_mirrored(truth: &Scene, scores: &AttributeScores) -> bool {
    match (truth.layout, scores.judged_relation) {
        (Layout::Pair(r), Some(j)) => j == r.inverse(),
        _ => false,
    }
}

impl RelationErrors {
    /// Adds one scene, generated for `caption`, as `score` judged it; one-object scenes are
    /// skipped, and a caption that states no relation counts in none of `by_caption`.
    pub fn add(&mut self, truth: &Scene, caption: &str, scores: &AttributeScores) {
        let Layout::Pair(relation) = truth.layout else { return };
        let mirrored = is_mirrored(truth, scores);
        match scores.judged_relation {
            None => self.unmatched += 1,
            Some(r) if r == relation => self.right += 1,
            Some(_) if mirrored => {
                self.mirrored += 1;
                if scores.objects.iter().all(|o| o.color && o.shape) {
                    self.mirrored_objects_right += 1;
                }
            }
            Some(_) => self.other_axis += 1,
        }
        if let Some(stated) = caption_relation(caption) {
            let tally = self.by_caption.get_mut(stated);
            tally.scenes += 1;
            tally.mirrored += usize::from(mirrored);
        }
    }

    /// Two-object scenes counted.
    pub fn scenes(&self) -> usize {
        self.right + self.mirrored + self.other_axis + self.unmatched
    }
}

impl fmt::Display for RelationErrors {
    /// Two Markdown tables: the counts, then the mirrored scenes by the caption's relation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| two-object scenes | relation right | mirrored (both objects' colour and shape right) | other axis | \
             object not found |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|")?;
        writeln!(
            f,
            "| {} | {} | {} ({}) | {} | {} |",
            self.scenes(),
            self.right,
            self.mirrored,
            self.mirrored_objects_right,
            self.other_axis,
            self.unmatched
        )?;
        writeln!(f, "\n| caption says | left of | right of | above | below |")?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        let cells: Vec<String> =
            self.by_caption.all().iter().map(|t| format!("{} of {}", t.mirrored, t.scenes)).collect();
        writeln!(f, "| mirrored | {} |", cells.join(" | "))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::shapes::{self, Split};
    use crate::eval::judge::{judge, score};

    /// `scene` with each object's box moved so that its centre offset `d` from the pair's
    /// midpoint becomes `f(d)`.
    pub(crate) fn moved(scene: &Scene, f: fn([f32; 2]) -> [f32; 2]) -> Scene {
        let centers: Vec<[f32; 2]> = scene.objects.iter().map(|o| o.center()).collect();
        let mid = [(centers[0][0] + centers[1][0]) / 2.0, (centers[0][1] + centers[1][1]) / 2.0];
        let mut out = scene.clone();
        for (o, c) in out.objects.iter_mut().zip(&centers) {
            let d = f([c[0] - mid[0], c[1] - mid[1]]);
            let shift = [mid[0] + d[0] - c[0], mid[1] + d[1] - c[1]];
            let [x0, y0, x1, y1] = o.bbox;
            o.bbox = [x0 + shift[0], y0 + shift[1], x1 + shift[0], y1 + shift[1]];
        }
        out
    }

    /// Real scenes read right; the same scenes with the two objects in each other's places
    /// read mirrored with both objects right, and turned by 90° read along the other axis.
    #[test]
    fn real_swapped_and_turned_scenes() {
        let (mut real, mut swapped, mut turned) =
            (RelationErrors::default(), RelationErrors::default(), RelationErrors::default());
        let mut pairs = 0;
        for i in 0..150 {
            let e = shapes::example(0, Split::Test, i);
            if !matches!(e.scene.layout, Layout::Pair(_)) {
                continue;
            }
            pairs += 1;
            let read = |scene: &Scene| score(&e.scene, &judge(&shapes::render(scene, 128).unwrap()));
            let caption = &e.captions[0];
            real.add(&e.scene, caption, &read(&e.scene));
            swapped.add(&e.scene, caption, &read(&moved(&e.scene, |[x, y]| [-x, -y])));
            turned.add(&e.scene, caption, &read(&moved(&e.scene, |[x, y]| [-y, x])));
        }
        assert!(pairs >= 40, "{pairs} two-object scenes");
        for m in [&real, &swapped, &turned] {
            assert_eq!(m.scenes(), pairs, "{m}");
            let tallies = m.by_caption.all();
            assert_eq!(tallies.iter().map(|t| t.scenes).sum::<usize>(), pairs, "{m}");
            assert_eq!(tallies.iter().map(|t| t.mirrored).sum::<usize>(), m.mirrored, "{m}");
            // Captions word each relation both ways round.
            assert!(tallies.iter().all(|t| t.scenes > 0), "{m}");
        }
        assert!(real.right * 50 >= pairs * 49, "{real}");
        assert!(swapped.mirrored * 50 >= pairs * 49 && swapped.mirrored_objects_right * 50 >= pairs * 48, "{swapped}");
        assert!(turned.other_axis * 50 >= pairs * 49, "{turned}");
        let text = swapped.to_string();
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.contains(&format!("| {pairs} | ")), "{text}");
        let right_of = swapped.by_caption.right_of;
        assert!(
            text.contains(&format!(
                "| mirrored | {} of {} | {} of {} |",
                swapped.by_caption.left_of.mirrored,
                swapped.by_caption.left_of.scenes,
                right_of.mirrored,
                right_of.scenes
            )),
            "{text}"
        );
    }

    /// One-object scenes are not counted; a blank image leaves every pair unmatched.
    #[test]
    fn single_objects_skipped_and_missing_objects_unmatched() {
        let blank = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
        let mut m = RelationErrors::default();
        let mut pairs = 0;
        for i in 0..40 {
            let e = shapes::example(0, Split::Test, i);
            pairs += usize::from(matches!(e.scene.layout, Layout::Pair(_)));
            m.add(&e.scene, &e.captions[0], &score(&e.scene, &judge(&blank)));
        }
        assert!(pairs > 0);
        assert_eq!(m.by_caption.all().iter().map(|t| t.scenes).sum::<usize>(), pairs);
        assert_eq!(m, RelationErrors { unmatched: pairs, by_caption: m.by_caption, ..Default::default() });
    }
}
