//! The one data source behind DAMSM training, GAN training, sample captions, R-precision and
//! evaluation: the procedural Shapes scenes or a split of an image dataset (AttnGAN's birds
//! and COCO folders, or the plain folder format), chosen by the run config's `[data]`.
//!
//! Examples are addressed by index and captions by number, as Shapes scenes always were; a
//! Shapes source behaves exactly as [`ShapesSource`] on its own.

use image::RgbImage;
use rand::Rng;

use crate::config::DataConfig;
use crate::data::attngan_layout::{self, AttnGanKind};
use crate::data::batcher::{HostBatch, ShapesSource, content_key};
use crate::data::folder;
use crate::data::image_dataset::ImageDataset;
use crate::data::shapes::{self, Split};
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

/// Dataset kinds `[data] kind` accepts.
pub const KINDS: [&str; 4] = ["shapes", "birds", "coco", "folder"];

/// A split of a dataset, serving images at `stage_sizes`.
#[derive(Clone, Debug)]
pub enum DataSource {
    Shapes(ShapesSource),
    Images(ImageDataset),
}

impl DataSource {
    /// Opens `split` of the dataset `data` describes. For image datasets `train_scenes` and
    /// `test_scenes`, when not 0, keep only the split's first that many images.
    pub fn open(data: &DataConfig, split: Split, stage_sizes: Vec<usize>) -> Result<Self> {
        let cap = match split {
            Split::Train => data.train_scenes,
            Split::Test => data.test_scenes,
        };
        if data.kind == "shapes" {
            return Ok(Self::Shapes(ShapesSource { seed: data.seed, split, scenes: cap, stage_sizes }));
        }
        let root = data
            .path
            .as_deref()
            .ok_or_else(|| Error::config("data.path", format!("data.kind {:?} needs the dataset folder", data.kind)))?;
        let mut ds = match (data.kind.as_str(), AttnGanKind::parse(&data.kind)) {
            ("folder", _) => folder::load(root, split, stage_sizes)?,
            (_, Some(kind)) => attngan_layout::load(root, kind, split, stage_sizes)?,
            (other, None) => {
                return Err(Error::config(
                    "data.kind",
                    format!("unknown dataset {other:?} (known: {})", KINDS.join(", ")),
                ));
            }
        };
        if cap > 0 {
            ds.records.truncate(cap as usize);
        }
        Ok(Self::Images(ds))
    }

    /// `shapes`, `birds`, `coco` or `folder`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Shapes(_) => "shapes",
            Self::Images(d) => &d.kind,
        }
    }

    /// Number of examples (scenes or images).
    pub fn len(&self) -> usize {
        match self {
            Self::Shapes(s) => s.scenes as usize,
            Self::Images(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset's own vocabulary (AttnGAN's `captions.pickle`), if it ships one.
    pub fn vocab(&self) -> Option<&Vocab> {
        match self {
            Self::Shapes(_) => None,
            Self::Images(d) => d.vocab.as_ref(),
        }
    }

    /// The vocabulary a new run on this split uses: the dataset's own, else one built from
    /// its captions (every word seen at least once).
    pub fn run_vocab(&self) -> Vocab {
        match self.vocab() {
            Some(v) => v.clone(),
            None => {
                let caps = self.all_captions();
                Vocab::build(caps.iter().map(String::as_str), 1)
            }
        }
    }

    /// Every caption of the split.
    pub fn all_captions(&self) -> Vec<String> {
        match self {
            Self::Shapes(s) => s.all_captions(),
            Self::Images(d) => d.all_captions(),
        }
    }

    /// `n` fixed captions for sample grids.
    pub fn sample_captions(&self, n: usize) -> Vec<String> {
        match self {
            Self::Shapes(s) => s.all_captions_of(0..n as u64),
            Self::Images(d) => d.sample_captions(n),
        }
    }

    /// A random training batch drawn from `rng`.
    pub fn batch(&self, vocab: &Vocab, rng: &mut impl Rng, batch_size: usize) -> Result<HostBatch> {
        match self {
            Self::Shapes(s) => s.batch(vocab, rng, batch_size),
            Self::Images(d) => d.batch(vocab, rng, batch_size),
        }
    }

    /// The batch of given (example, caption number) pairs, deterministic (no augmentation).
    pub fn batch_of(&self, vocab: &Vocab, picks: &[(u64, usize)]) -> Result<HostBatch> {
        match self {
            Self::Shapes(s) => s.batch_of(vocab, picks),
            Self::Images(d) => d.batch_of(vocab, picks),
        }
    }

    /// Up to `n` examples from `start` on that evaluation can use (images that decode and have
    /// a caption with a known word).
    pub fn eval_indices(&self, vocab: &Vocab, start: u64, n: usize) -> Vec<u64> {
        match self {
            Self::Shapes(s) => (start..s.scenes).take(n).collect(),
            Self::Images(d) => d.eval_indices(vocab, start, n),
        }
    }

    /// Caption `k` (mod the example's count) of example `i`.
    pub fn eval_caption(&self, vocab: &Vocab, i: u64, k: usize) -> Result<String> {
        match self {
            Self::Shapes(s) => {
                let e = shapes::example(s.seed, s.split, i);
                Ok(e.captions[k % e.captions.len()].clone())
            }
            Self::Images(d) => d.eval_caption(vocab, i, k),
        }
    }

    /// Keys equal for examples a caption cannot tell apart: Shapes scenes with the same
    /// content; for image datasets each image (R-precision then draws mismatched captions from
    /// every other image, as the paper's protocol).
    pub fn keys(&self, indices: &[u64]) -> Vec<String> {
        match self {
            Self::Shapes(s) => {
                indices.iter().map(|&i| content_key(&shapes::example(s.seed, s.split, i).scene)).collect()
            }
            Self::Images(_) => indices.iter().map(u64::to_string).collect(),
        }
    }

    /// The real image of example `i` at `side` px, as evaluation compares it.
    pub fn real_image(&self, i: u64, side: u32) -> Result<RgbImage> {
        match self {
            Self::Shapes(s) => Ok(shapes::render(&shapes::example(s.seed, s.split, i).scene, side)?),
            Self::Images(d) => d.real_image(i, side),
        }
    }

    /// Distinct images skipped as unreadable so far (always 0 for Shapes).
    pub fn unreadable_images(&self) -> usize {
        match self {
            Self::Shapes(_) => 0,
            Self::Images(d) => d.unreadable(),
        }
    }
}
