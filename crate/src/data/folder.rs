//! The plain folder format: images anywhere under a folder and a `captions.jsonl` beside them,
//! one JSON object per line:
//!
//! ```text
//! {"file": "birds/robin.jpg", "captions": ["a small bird with a red breast", "…"], "split": "train"}
//! ```
//!
//! `file` is relative to the folder; `split` (`train` or `test`) is optional: without it an
//! image goes to the test split when CRC-32 of its `file` string is divisible by 10 (about
//! 10 %, the same on every machine and independent of line order). Other keys are ignored, so
//! the output of `t2i data shapes` is such a folder. Captions without a word are dropped; a line
//! that cannot be used is an error with its line number. Every image is its own class.

use std::path::{Component, Path};

use serde::Deserialize;

use crate::data::image_dataset::{ImageDataset, ImageRecord};
use crate::data::shapes::Split;
use crate::error::{Error, Result};
use crate::text::tokenizer::tokenize_all;

/// The caption index inside a dataset folder.
pub const CAPTIONS_FILE: &str = "captions.jsonl";

#[derive(Deserialize)]
struct Line {
    file: String,
    captions: Vec<String>,
    #[serde(default)]
    split: Option<String>,
}

/// The split of an image listed without one: test when CRC-32(`file`) % 10 == 0.
pub fn default_split(file: &str) -> Split {
    if crc32fast::hash(file.as_bytes()).is_multiple_of(10) { Split::Test } else { Split::Train }
}

/// Reads the images of one split (checked to exist, not decoded).
pub fn load(root: &Path, split: Split, stage_sizes: Vec<usize>) -> Result<ImageDataset> {
    let index = root.join(CAPTIONS_FILE);
    let text = std::fs::read_to_string(&index).map_err(|e| {
        Error::data(
            &index,
            format!(
                "cannot read it ({e}); a folder dataset needs {CAPTIONS_FILE} with lines \
                 {{\"file\": \"a.jpg\", \"captions\": [\"…\"]}}"
            ),
        )
    })?;
    let mut records = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Error::data(&index, format!("line {}: {msg}", k + 1));
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            bad(format!("{e}; expected {{\"file\": \"a.jpg\", \"captions\": [\"…\"], \"split\": \"train\"|\"test\"}}"))
        })?;
        let in_split = match line.split.as_deref() {
            None => default_split(&line.file),
            Some("train") => Split::Train,
            Some("test") => Split::Test,
            Some(other) => return Err(bad(format!("split {other:?} is neither \"train\" nor \"test\""))),
        };
        let rel = Path::new(&line.file);
        if line.file.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(bad(format!("file {:?} must be a path inside the folder", line.file)));
        }
        let captions: Vec<String> =
            line.captions.iter().map(|c| c.trim().to_owned()).filter(|c| !tokenize_all(c).is_empty()).collect();
        if captions.is_empty() {
            return Err(bad(format!("{} has no caption with a word", line.file)));
        }
        let path = root.join(rel);
        if !path.is_file() {
            return Err(bad(format!("image {} does not exist", path.display())));
        }
        if in_split == split {
            records.push(ImageRecord { name: line.file, path, bbox: None, class_id: k as u64, captions });
        }
    }
    Ok(ImageDataset::new("folder", root.to_path_buf(), split, records, None, stage_sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_split_is_about_a_tenth_and_stable() {
        let test = (0..2000).filter(|i| default_split(&format!("img_{i}.jpg")) == Split::Test).count();
        assert!((150..250).contains(&test), "{test}");
        assert_eq!(default_split("a/b.jpg"), default_split("a/b.jpg"));
    }
}
