//! Which shape the judge reads for each true shape: a confusion matrix over the Shapes test
//! scenes. The shape accuracy alone cannot tell a generator that draws one soft blob for every
//! caption (one full column) from one that draws four outlines but binds them to the wrong words
//! (mass spread off the diagonal).

use std::fmt;

use serde::Serialize;

use crate::data::shapes::{Scene, ShapeKind};
use crate::eval::judge::AttributeScores;

/// Columns: the four shapes as the judge read them, then "missing" (no judged object matched).
const COLUMNS: usize = 5;

/// Counts of (true shape, judged shape) over matched objects, plus unmatched true objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShapeConfusion {
    /// `counts[t][j]`: objects of true shape `ShapeKind::ALL[t]` read as `ShapeKind::ALL[j]`;
    /// `counts[t][4]`: objects of that shape that no judged object matched.
    pub counts: [[usize; COLUMNS]; 4],
}

impl ShapeConfusion {
    /// Adds one scene's objects, as `score` matched them.
    pub fn add(&mut self, truth: &Scene, scores: &AttributeScores) {
        for (object, s) in truth.objects.iter().zip(&scores.objects) {
            let column = s.judged_shape.map_or(COLUMNS - 1, index);
            self.counts[index(object.shape)][column] += 1;
        }
    }

    /// Share of matched objects whose judged shape is `shape`, over all true shapes: near 1
    /// for one shape means the generator draws that shape (or what reads as it) for everything.
    pub fn judged_share(&self, shape: ShapeKind) -> f64 {
        let matched: usize = self.counts.iter().map(|row| row[..4].iter().sum::<usize>()).sum();
        let read: usize = self.counts.iter().map(|row| row[index(shape)]).sum();
        if matched == 0 { 0.0 } else { read as f64 / matched as f64 }
    }

    /// Right over matched objects of true shape `shape` (its recall among found objects).
    pub fn recall(&self, shape: ShapeKind) -> f64 {
        let row = &self.counts[index(shape)];
        let matched: usize = row[..4].iter().sum();
        if matched == 0 { 0.0 } else { row[index(shape)] as f64 / matched as f64 }
    }
}

fn index(shape: ShapeKind) -> usize {
    ShapeKind::ALL.iter().position(|s| *s == shape).unwrap_or(0)
}

impl fmt::Display for ShapeConfusion {
    /// A Markdown table, one row per true shape, counts per judged shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ShapeKind::ALL.iter().map(|s| s.name()).collect();
        writeln!(f, "| true \\ judged | {} | missing | recall |", names.join(" | "))?;
        writeln!(f, "|---|{}", "---:|".repeat(COLUMNS + 1))?;
        for (shape, row) in ShapeKind::ALL.iter().zip(&self.counts) {
            let cells: Vec<String> = row.iter().map(usize::to_string).collect();
            writeln!(f, "| {} | {} | {:.1} % |", shape.name(), cells.join(" | "), 100.0 * self.recall(*shape))?;
        }
        let shares: Vec<String> =
            ShapeKind::ALL.iter().map(|s| format!("{:.1} %", 100.0 * self.judged_share(*s))).collect();
        writeln!(f, "| share judged | {} | | |", shares.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shapes::{self, Split};
    use crate::eval::judge::{judge, score};

    /// Real scenes: every found object sits on the diagonal, and the shares follow the data.
    #[test]
    fn real_scenes_fill_the_diagonal() {
        let mut m = ShapeConfusion::default();
        let mut objects = 0;
        for i in 0..120 {
            let e = shapes::example(0, Split::Test, i);
            let img = shapes::render(&e.scene, 128).unwrap();
            m.add(&e.scene, &score(&e.scene, &judge(&img)));
            objects += e.scene.objects.len();
        }
        let total: usize = m.counts.iter().flatten().sum();
        assert_eq!(total, objects);
        let off: usize = (0..4).map(|t| (0..COLUMNS).filter(|&j| j != t).map(|j| m.counts[t][j]).sum::<usize>()).sum();
        assert!(off * 50 <= objects, "{off} of {objects} off the diagonal:\n{m}");
        for s in ShapeKind::ALL {
            assert!(m.recall(s) > 0.95, "{s}: {m}");
            assert!((0.1..0.4).contains(&m.judged_share(s)), "{s}: {m}");
        }
    }

    /// A generator that draws every object as a circle fills the circle column.
    #[test]
    fn one_blob_for_everything_fills_one_column() {
        let mut m = ShapeConfusion::default();
        for i in 0..60 {
            let e = shapes::example(0, Split::Test, i);
            let mut drawn = e.scene.clone();
            drawn.objects.iter_mut().for_each(|o| o.shape = ShapeKind::Circle);
            let img = shapes::render(&drawn, 128).unwrap();
            m.add(&e.scene, &score(&e.scene, &judge(&img)));
        }
        assert!(m.judged_share(ShapeKind::Circle) > 0.95, "{m}");
        assert!(m.recall(ShapeKind::Circle) > 0.95 && m.recall(ShapeKind::Star) < 0.05, "{m}");
        let text = m.to_string();
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.contains("| star | "), "{text}");
    }
}
