//! Which way the judge's object count went wrong: an object too many (a stray blob or a
//! duplicate), two objects of one colour drawn into each other (the judge reads touching
//! regions of one colour as one object), or an object lost. The count accuracy alone cannot
//! tell a generator that litters the canvas from one that drops the second object.

use std::fmt;

use serde::Serialize;

use crate::data::shapes::Scene;
use crate::eval::judge::JudgedScene;

/// Counts over all scenes; every scene lands in exactly one of `right`, `extra`, `merged`
/// and `lost`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CountErrors {
    pub right: usize,
    /// More objects found than the caption names.
    pub extra: usize,
    /// Scenes in `extra` whose caption names one object.
    pub extra_single: usize,
    /// A two-object caption whose objects share a colour, read as one object of that colour:
    /// the two were drawn touching or overlapping.
    pub merged: usize,
    /// Fewer objects found than the caption names, not explained as a merge (one of two
    /// missing, or nothing drawn).
    pub lost: usize,
    /// Scenes in `lost` where nothing at all was found.
    pub lost_all: usize,
}

impl CountErrors {
    /// Adds one scene: its truth and what the judge read from the generated image.
    pub fn add(&mut self, truth: &Scene, judged: &JudgedScene) {
        let wanted = truth.objects.len();
        if judged.found == wanted {
            self.right += 1;
        } else if judged.found > wanted {
            self.extra += 1;
            self.extra_single += usize::from(wanted == 1);
        } else if is_merge(truth, judged) {
            self.merged += 1;
        } else {
            self.lost += 1;
            if judged.found == 0 {
                self.lost_all += 1;
            }
        }
    }

    /// Scenes counted.
    pub fn scenes(&self) -> usize {
        self.right + self.extra + self.merged + self.lost
    }
}

/// Two same-coloured objects read as a single object of their colour.
fn is_merge(truth: &Scene, judged: &JudgedScene) -> bool {
    match (truth.objects.as_slice(), judged.objects.as_slice()) {
        ([a, b], [one]) => a.color == b.color && one.color == a.color,
        _ => false,
    }
}

impl fmt::Display for CountErrors {
    /// A one-row Markdown table of counts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| scenes | count right | an object too many (one-object captions) | two of one colour merged | \
             lost (nothing drawn) |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|")?;
        writeln!(
            f,
            "| {} | {} | {} ({}) | {} | {} ({}) |",
            self.scenes(),
            self.right,
            self.extra,
            self.extra_single,
            self.merged,
            self.lost,
            self.lost_all
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shapes::{self, Example, Split};
    use crate::eval::judge::judge;
    use crate::eval::relation_errors::tests::moved;

    fn tally(examples: &[Example], draw: impl Fn(&Scene) -> Option<Scene>) -> (CountErrors, usize) {
        let mut m = CountErrors::default();
        let mut n = 0;
        for e in examples {
            let Some(drawn) = draw(&e.scene) else { continue };
            n += 1;
            m.add(&e.scene, &judge(&shapes::render(&drawn, 128).unwrap()));
        }
        (m, n)
    }

    fn examples() -> Vec<Example> {
        (0..120).map(|i| shapes::example(0, Split::Test, i)).collect()
    }

    /// Real scenes count right; dropping an object reads as lost, and drawing one object
    /// twice (the copy mirrored through the centre) as one too many.
    #[test]
    fn real_dropped_and_doubled_scenes() {
        let examples = examples();
        let (real, n) = tally(&examples, |s| Some(s.clone()));
        assert_eq!(real.scenes(), n);
        assert!(real.right * 50 >= n * 49, "{real}");

        let (dropped, n) = tally(&examples, |s| {
            let mut d = s.clone();
            d.objects.pop();
            Some(d)
        });
        assert_eq!(dropped.scenes(), n);
        assert!(dropped.lost * 50 >= n * 49, "{dropped}");
        let single = examples.iter().filter(|e| e.scene.objects.len() == 1).count();
        assert!(single > 0 && dropped.lost_all >= single * 49 / 50, "{dropped}, {single} one-object scenes");

        // One-object scenes with a copy of the object placed across the canvas centre; a copy
        // that would overlap the original (object near the centre) is skipped.
        let (doubled, n) = tally(&examples, |s| {
            let [o] = s.objects.as_slice() else { return None };
            let [x0, y0, x1, y1] = o.bbox;
            let copy = shapes::Object { bbox: [1.0 - x1, 1.0 - y1, 1.0 - x0, 1.0 - y0], ..*o };
            let apart = (x1 < copy.bbox[0] || copy.bbox[2] < x0) || (y1 < copy.bbox[1] || copy.bbox[3] < y0);
            let mut d = s.clone();
            d.objects.push(copy);
            apart.then_some(d)
        });
        assert!(n >= 10, "{n} doubled scenes");
        assert!(doubled.extra * 50 >= n * 49 && doubled.extra_single == doubled.extra, "{doubled}");
    }

    /// Two-object scenes recoloured to one colour and drawn with both objects at the same
    /// centre read as merged; with two colours, the same overlap still shows two objects.
    #[test]
    fn overlapping_objects_of_one_colour_read_as_merged() {
        let examples: Vec<Example> = examples().into_iter().filter(|e| e.scene.objects.len() == 2).collect();
        assert!(examples.len() >= 40, "{} two-object scenes", examples.len());
        // Both objects centred on their midpoint.
        let stacked = |s: &Scene| moved(s, |_| [0.0, 0.0]);
        let one_colour: Vec<Example> = examples
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.scene.objects[1].color = e.scene.objects[0].color;
                e
            })
            .collect();
        let (merged, n) = tally(&one_colour, |s| Some(stacked(s)));
        assert_eq!(merged.scenes(), n);
        assert!(merged.merged * 50 >= n * 49, "{merged}");

        // Objects of two colours: the judge splits by colour, so nothing is merged (the front
        // object may hide a small back one entirely, which counts as lost).
        let two_colours: Vec<Example> =
            examples.into_iter().filter(|e| e.scene.objects[0].color != e.scene.objects[1].color).collect();
        let (split, _) = tally(&two_colours, |s| Some(stacked(s)));
        assert_eq!(split.merged, 0, "{split}");
    }

    #[test]
    fn table_has_one_row_of_counts() {
        let m = CountErrors { right: 7, extra: 2, extra_single: 1, merged: 1, lost: 3, lost_all: 1 };
        let text = m.to_string();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().nth(2).is_some_and(|l| l == "| 13 | 7 | 2 (1) | 1 | 3 (1) |"), "{text}");
    }
}
