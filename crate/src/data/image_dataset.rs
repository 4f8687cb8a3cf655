//! One split of a captioned image dataset (AttnGAN's birds/COCO folders, or the plain folder
//! format) as a batch source for training and evaluation.
//!
//! Training batches draw (image, caption) pairs from the step's RNG, then the random crop and
//! flip (see [`ImagePipeline`]), so a run is reproducible and resumes exactly. An image that
//! cannot be decoded is skipped with one warning, remembered, counted
//! ([`ImageDataset::unreadable`]) and another example is drawn in its place.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use image::RgbImage;
use rand::Rng;

use crate::data::batcher::{HostBatch, push_image};
use crate::data::cub_crop::{BBox, crop_box};
use crate::data::image_pipeline::{ImagePipeline, decode, test_square};
use crate::data::shapes::Split;
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

/// One image with its captions.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    /// How messages name it: the file stem (AttnGAN layout) or the listed file (folder).
    pub name: String,
    pub path: PathBuf,
    /// CUB bounding box: the bird is cropped at 1.5× the box (birds only).
    pub bbox: Option<BBox>,
    /// Equal ids mark "same content" pairs for the DAMSM loss (birds: the species).
    pub class_id: u64,
    /// At least one caption, each with at least one word.
    pub captions: Vec<String>,
}

/// A split of an image dataset.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    /// `birds`, `coco` or `folder`.
    pub kind: String,
    pub root: PathBuf,
    pub split: Split,
    pub records: Vec<ImageRecord>,
    /// The dataset's own vocabulary (AttnGAN's `captions.pickle`), if it has one.
    pub vocab: Option<Vocab>,
    pub pipeline: ImagePipeline,
    unreadable: Arc<Mutex<BTreeSet<PathBuf>>>,
}

/// Give up on a batch after this many unreadable draws beyond the batch size.
const MAX_FAILED_DRAWS: usize = 100;

impl ImageDataset {
    pub fn new(
        kind: &str,
        root: PathBuf,
        split: Split,
        records: Vec<ImageRecord>,
        vocab: Option<Vocab>,
        stage_sizes: Vec<usize>,
    ) -> Self {
        let pipeline = ImagePipeline::new(stage_sizes);
        Self { kind: kind.into(), root, split, records, vocab, pipeline, unreadable: Default::default() }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Decodes image `i` (and crops a bird to its box).
    pub fn image(&self, i: usize) -> std::result::Result<RgbImage, String> {
        let r = &self.records[i];
        let img = decode(&r.path)?;
        match r.bbox {
            None => Ok(img),
            Some(b) => {
                let [x1, y1, x2, y2] = crop_box(b, img.width(), img.height()).ok_or_else(|| {
                    format!("its bounding box {b:?} lies outside the {}×{} image", img.width(), img.height())
                })?;
                Ok(image::imageops::crop_imm(&img, x1, y1, x2 - x1, y2 - y1).to_image())
            }
        }
    }

    /// Image `i`, or `None` when it cannot be decoded (warned about once, then counted).
    pub fn readable_image(&self, i: usize) -> Option<RgbImage> {
        let path = &self.records[i].path;
        let mut bad = self.unreadable.lock().unwrap_or_else(|e| e.into_inner());
        if bad.contains(path) {
            return None;
        }
        match self.image(i) {
            Ok(img) => Some(img),
            Err(why) => {
                eprintln!("warning: skipping unreadable image {}: {why}", path.display());
                bad.insert(path.clone());
                None
            }
        }
    }

    /// How many distinct images were skipped as unreadable so far.
    pub fn unreadable(&self) -> usize {
        self.unreadable.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Caption `c` of image `i` and its ids; when it has no known word, the next caption of the
    /// image that has one.
    fn caption(&self, vocab: &Vocab, i: usize, c: usize) -> Result<(String, Vec<u32>)> {
        let caps = &self.records[i].captions;
        for k in 0..caps.len() {
            let caption = &caps[(c + k) % caps.len()];
            let ids = vocab.encode(caption).ids;
            if !ids.is_empty() {
                return Ok((caption.clone(), ids));
            }
        }
        Err(Error::Caption {
            caption: caps.first().cloned().unwrap_or_default(),
            msg: format!("no caption of {} has a word in the vocabulary", self.records[i].name),
        })
    }

    /// A random training batch: (image, caption) from `rng`, then a random crop and flip.
    pub fn batch(&self, vocab: &Vocab, rng: &mut impl Rng, batch_size: usize) -> Result<HostBatch> {
        if self.records.is_empty() {
            return Err(Error::data(&self.root, format!("the {} split has no images", self.split.name())));
        }
        let mut rows = Vec::with_capacity(batch_size);
        let mut failed = 0;
        while rows.len() < batch_size {
            let i = rng.random_range(0..self.records.len());
            let c = rng.random_range(0..self.records[i].captions.len());
            let Some(img) = self.readable_image(i) else {
                failed += 1;
                if failed > MAX_FAILED_DRAWS + batch_size || self.unreadable() == self.records.len() {
                    return Err(Error::data(
                        &self.root,
                        format!(
                            "{} unreadable images skipped and still no batch; run `t2i data check` on it",
                            self.unreadable()
                        ),
                    ));
                }
                continue;
            };
            let (caption, ids) = self.caption(vocab, i, c)?;
            rows.push((i, self.pipeline.train_views(&img, rng), caption, ids));
        }
        Ok(self.assemble(rows))
    }

    /// The batch of the given (image index, caption number) pairs with the evaluation view
    /// (centre crop, no flip); an unreadable image is an error.
    pub fn batch_of(&self, vocab: &Vocab, picks: &[(u64, usize)]) -> Result<HostBatch> {
        let mut rows = Vec::with_capacity(picks.len());
        for &(i, c) in picks {
            let i = self.index(i)?;
            let img = self.image(i).map_err(|why| Error::data(&self.records[i].path, why))?;
            let (caption, ids) = self.caption(vocab, i, c)?;
            rows.push((i, self.pipeline.test_views(&img), caption, ids));
        }
        Ok(self.assemble(rows))
    }

    fn index(&self, i: u64) -> Result<usize> {
        usize::try_from(i).ok().filter(|&i| i < self.records.len()).ok_or_else(|| {
            Error::data(&self.root, format!("example {i} is out of range ({} images)", self.records.len()))
        })
    }

    fn assemble(&self, rows: Vec<(usize, Vec<RgbImage>, String, Vec<u32>)>) -> HostBatch {
        let n = rows.len();
        let mut images: Vec<(usize, Vec<f32>)> =
            self.pipeline.stage_sizes.iter().map(|&s| (s, Vec::with_capacity(n * 3 * s * s))).collect();
        let mut tokens = Vec::with_capacity(n);
        let mut captions = Vec::with_capacity(n);
        let mut classes = Vec::with_capacity(n);
        for (i, views, caption, ids) in rows {
            for ((_, buf), view) in images.iter_mut().zip(&views) {
                push_image(view, buf);
            }
            tokens.push(ids);
            captions.push(caption);
            classes.push(self.records[i].class_id);
        }
        let same_class = classes.iter().map(|a| classes.iter().map(|b| a == b).collect()).collect();
        HostBatch { images, tokens, captions, same_class }
    }

    /// Every caption of every image.
    pub fn all_captions(&self) -> Vec<String> {
        self.records.iter().flat_map(|r| r.captions.iter().cloned()).collect()
    }

    /// The first caption of `n` images spread evenly over the split (fixed sample captions).
    pub fn sample_captions(&self, n: usize) -> Vec<String> {
        let len = self.records.len();
        (0..n.min(len)).map(|k| self.records[k * len / n.min(len)].captions[0].clone()).collect()
    }

    /// The first `n` images from `start` on that decode and have a caption with a known word.
    pub fn eval_indices(&self, vocab: &Vocab, start: u64, n: usize) -> Vec<u64> {
        (start as usize..self.records.len())
            .filter(|&i| self.caption(vocab, i, 0).is_ok() && self.readable_image(i).is_some())
            .take(n)
            .map(|i| i as u64)
            .collect()
    }

    /// Caption `k` (mod the image's count, skipping captions without a known word) of image `i`.
    pub fn eval_caption(&self, vocab: &Vocab, i: u64, k: usize) -> Result<String> {
        let i = self.index(i)?;
        Ok(self.caption(vocab, i, k % self.records[i].captions.len())?.0)
    }

    /// The evaluation view of image `i` at `side` px (centre crop of the rescaled image).
    pub fn real_image(&self, i: u64, side: u32) -> Result<RgbImage> {
        let i = self.index(i)?;
        let img = self.image(i).map_err(|why| Error::data(&self.records[i].path, why))?;
        Ok(test_square(&img, side))
    }

    /// Decodes every image; returns how many could not be (each warned about).
    pub fn decode_all(&self) -> usize {
        (0..self.records.len()).filter(|&i| self.readable_image(i).is_none()).count()
    }
}
