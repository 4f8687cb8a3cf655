//! AttnGAN's own data folders, read as the official loader does (`code/datasets.py`,
//! `TextDataset`):
//!
//! ```text
//! birds/                                   coco/
//!   train/filenames.pickle  test/…           train/filenames.pickle  test/…
//!   captions.pickle (optional)               captions.pickle (optional)
//!   text/<stem>.txt                          text/<stem>.txt
//!   CUB_200_2011/images/<stem>.jpg           images/<stem>.jpg
//!   CUB_200_2011/images.txt, bounding_boxes.txt
//! ```
//!
//! `filenames.pickle` lists file stems such as `001.Black_footed_Albatross/Black_Footed_Albatross_0046_18`.
//! With `captions.pickle` its captions (word ids, `CAPTIONS_PER_IMAGE` consecutive ones per
//! stem) and vocabulary are used and `text/` is not read, as officially. Without it, the first
//! `CAPTIONS_PER_IMAGE` lines with a word of `text/<stem>.txt` are the captions (empty lines
//! are skipped as officially); fewer is an error naming the file, because the official loader
//! would silently misalign every later image's captions.
//!
//! Birds are cropped at 1.5× their CUB box ([`crate::data::cub_crop`]) and their class id is
//! the species number of the stem's folder (`001.` → 1), which is what the official
//! `class_info.pickle` holds; a COCO image is its own class.

use std::path::{Path, PathBuf};

use crate::data::captions_pickle::CaptionsPickle;
use crate::data::cub_crop::read_bounding_boxes;
use crate::data::image_dataset::{ImageDataset, ImageRecord};
use crate::data::pickle_read;
use crate::data::shapes::Split;
use crate::error::{Error, Result};
use crate::text::tokenizer::tokenize_all;

/// Which of AttnGAN's datasets a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttnGanKind {
    /// CUB-200-2011 birds (`data/birds`).
    Birds,
    /// MS-COCO 2014 (`data/coco`).
    Coco,
}

impl AttnGanKind {
    /// `birds` or `coco`.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "birds" => Some(Self::Birds),
            "coco" => Some(Self::Coco),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Birds => "birds",
            Self::Coco => "coco",
        }
    }

    /// The official `TEXT.CAPTIONS_PER_IMAGE` (`cfg/bird_attn2.yml`, `cfg/coco_attn2.yml`).
    pub fn captions_per_image(self) -> usize {
        match self {
            Self::Birds => 10,
            Self::Coco => 5,
        }
    }

    /// Where the `<stem>.jpg` files are.
    pub fn image_dir(self, root: &Path) -> PathBuf {
        match self {
            Self::Birds => root.join("CUB_200_2011").join("images"),
            Self::Coco => root.join("images"),
        }
    }
}

/// Reads one split of an AttnGAN data folder (images are checked to exist, not decoded).
pub fn load(root: &Path, kind: AttnGanKind, split: Split, stage_sizes: Vec<usize>) -> Result<ImageDataset> {
    if !root.is_dir() {
        return Err(Error::data(
            root,
            format!(
                "is not a folder; expected AttnGAN's data/{} layout (train/ and test/filenames.pickle, text/, {})",
                kind.name(),
                match kind {
                    AttnGanKind::Birds => "CUB_200_2011/",
                    AttnGanKind::Coco => "images/",
                }
            ),
        ));
    }
    let list = root.join(split.name()).join("filenames.pickle");
    let stems = pickle_read::string_list(&list, "the list of image file stems of this split")?;
    let per = kind.captions_per_image();

    let pickle_path = root.join("captions.pickle");
    let (captions, vocab) = if pickle_path.is_file() {
        let pickle = CaptionsPickle::load(&pickle_path)?;
        let ids = pickle.split(split);
        if ids.len() != stems.len() * per {
            return Err(Error::data(
                &pickle_path,
                format!(
                    "has {} {} captions but {} lists {} images × {per} captions = {}",
                    ids.len(),
                    split.name(),
                    list.display(),
                    stems.len(),
                    stems.len() * per
                ),
            ));
        }
        let mut captions = Vec::with_capacity(stems.len());
        for (k, chunk) in ids.chunks(per).enumerate() {
            let texts: Vec<String> = chunk.iter().filter(|c| !c.is_empty()).map(|c| pickle.text(c)).collect();
            if texts.is_empty() {
                return Err(Error::data(
                    &pickle_path,
                    format!("every {} caption of {} is empty", split.name(), stems[k]),
                ));
            }
            captions.push(texts);
        }
        (captions, Some(pickle.vocab))
    } else {
        let texts = stems.iter().map(|s| read_captions(&root.join("text").join(format!("{s}.txt")), per));
        (texts.collect::<Result<Vec<_>>>()?, None)
    };

    let boxes = match kind {
        AttnGanKind::Birds => Some(read_bounding_boxes(&root.join("CUB_200_2011"))?),
        AttnGanKind::Coco => None,
    };
    let image_dir = kind.image_dir(root);
    let mut records = Vec::with_capacity(stems.len());
    for (k, (stem, captions)) in stems.into_iter().zip(captions).enumerate() {
        let path = image_dir.join(format!("{stem}.jpg"));
        if !path.is_file() {
            return Err(Error::data(&path, format!("is missing: {} lists {stem}", list.display())));
        }
        let (bbox, class_id) = match &boxes {
            Some(b) => {
                let bbox = b.get(&stem).copied().ok_or_else(|| {
                    Error::data(root.join("CUB_200_2011/images.txt"), format!("does not list {stem}.jpg"))
                })?;
                (
                    Some(bbox),
                    species(&stem).ok_or_else(|| {
                        Error::data(&list, format!("{stem} is not in a numbered species folder like `001.Name/`"))
                    })?,
                )
            }
            None => (None, k as u64),
        };
        records.push(ImageRecord { name: stem, path, bbox, class_id, captions });
    }
    Ok(ImageDataset::new(kind.name(), root.to_path_buf(), split, records, vocab, stage_sizes))
}

/// The species number of a CUB stem: `001.Black_footed_Albatross/…` → 1.
pub fn species(stem: &str) -> Option<u64> {
    let folder = stem.split('/').next()?;
    folder.split_once('.')?.0.parse().ok()
}

/// The first `per` captions with a word in a caption file (one per line).
fn read_captions(path: &Path, per: usize) -> Result<Vec<String>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::data(path, format!("cannot read it ({e}); it should hold {per} captions, one per line")))?;
    let text = pickle_read::decode_bytes(&bytes);
    let captions: Vec<String> =
        text.lines().map(str::trim).filter(|l| !tokenize_all(l).is_empty()).take(per).map(str::to_owned).collect();
    if captions.len() < per {
        return Err(Error::data(
            path,
            format!("has {} captions with words; AttnGAN's layout needs {per} per image", captions.len()),
        ));
    }
    Ok(captions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn species_from_stem() {
        assert_eq!(species("001.Black_footed_Albatross/Black_Footed_Albatross_0046_18"), Some(1));
        assert_eq!(species("200.Common_Yellowthroat/x"), Some(200));
        assert_eq!(species("COCO_train2014_000000000009"), None);
    }
}
