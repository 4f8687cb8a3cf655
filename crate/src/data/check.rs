//! `t2i data check`: load a dataset folder's index for both splits, decode every image and
//! count what training would see (images, captions, vocabulary, unreadable images).

use std::fmt;
use std::path::Path;

use crate::config::DataConfig;
use crate::data::shapes::Split;
use crate::data::source::DataSource;
use crate::error::{Error, Result};

/// Counts for one split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitCheck {
    pub split: Split,
    pub images: usize,
    pub captions: usize,
    /// Images that could not be decoded (training skips them).
    pub unreadable: usize,
}

/// What `t2i data check` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub kind: String,
    pub splits: Vec<SplitCheck>,
    pub vocab_size: usize,
    /// True when the vocabulary is the folder's `captions.pickle`.
    pub vocab_from_pickle: bool,
}

/// Checks the `kind` (`birds`, `coco`, `folder`) dataset at `path`.
pub fn check(kind: &str, path: &Path) -> Result<CheckReport> {
    if kind == "shapes" {
        return Err(Error::Other("Shapes is procedural: there is no folder to check".into()));
    }
    let data =
        DataConfig { kind: kind.into(), path: Some(path.to_path_buf()), seed: 0, train_scenes: 0, test_scenes: 0 };
    let mut splits = Vec::new();
    let mut vocab = None;
    for split in [Split::Train, Split::Test] {
        let source = DataSource::open(&data, split, vec![64])?;
        let DataSource::Images(d) = &source else {
            return Err(Error::Other(format!("{kind} is not an image dataset")));
        };
        let unreadable = d.decode_all();
        splits.push(SplitCheck { split, images: d.len(), captions: source.all_captions().len(), unreadable });
        if split == Split::Train {
            vocab = Some((source.run_vocab().len(), source.vocab().is_some()));
        }
    }
    let (vocab_size, vocab_from_pickle) = vocab.unwrap_or_default();
    Ok(CheckReport { kind: kind.into(), splits, vocab_size, vocab_from_pickle })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.splits {
            writeln!(
                f,
                "{} {}: {} images, {} captions, {} unreadable images (skipped in training)",
                self.kind,
                s.split.name(),
                s.images,
                s.captions,
                s.unreadable
            )?;
        }
        let from = if self.vocab_from_pickle { "captions.pickle" } else { "built from the training captions" };
        write!(f, "vocabulary: {} words ({from})", self.vocab_size)
    }
}
