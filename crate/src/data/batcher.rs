//! Turns dataset examples into batches: images per stage in [-1, 1], caption token ids
//! padded with 0, and the "same content" matrix the DAMSM loss needs.

use burn::prelude::*;
use image::RgbImage;
use rand::Rng;

use crate::data::shapes::{self, Example, Scene, Split};
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

/// A batch on the host, ready to upload to any backend.
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// One entry per stage: (side, NCHW data in [-1, 1]).
    pub images: Vec<(usize, Vec<f32>)>,
    /// Token ids per caption (known words only, ≤ 18, never empty).
    pub tokens: Vec<Vec<u32>>,
    pub captions: Vec<String>,
    /// `same_class[i][j]`: examples i and j describe the same content.
    pub same_class: Vec<Vec<bool>>,
}

/// A batch on a backend.
pub struct Batch<B: Backend> {
    pub images: Vec<Tensor<B, 4>>,
    pub tokens: Tensor<B, 2, Int>,
    pub same_class: Vec<Vec<bool>>,
}

impl HostBatch {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn to_device<B: Backend>(&self, device: &B::Device) -> Batch<B> {
        let n = self.len();
        let images = self
            .images
            .iter()
            .map(|(side, data)| Tensor::from_data(TensorData::new(data.clone(), [n, 3, *side, *side]), device))
            .collect();
        Batch { images, tokens: tokens_tensor(&self.tokens, device), same_class: self.same_class.clone() }
    }
}

/// Pads token rows with 0 to the longest row: [B, T].
pub fn tokens_tensor<B: Backend>(rows: &[Vec<u32>], device: &B::Device) -> Tensor<B, 2, Int> {
    let t = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut data = vec![0i64; rows.len() * t];
    for (r, row) in rows.iter().enumerate() {
        for (k, &id) in row.iter().enumerate() {
            data[r * t + k] = id as i64;
        }
    }
    Tensor::<B, 2, Int>::from_data(TensorData::new(data, [rows.len(), t]), device)
}

/// RGB8 image → CHW floats in [-1, 1], appended to `out`.
pub fn push_image(img: &RgbImage, out: &mut Vec<f32>) {
    let (w, h) = img.dimensions();
    let raw = img.as_raw();
    for c in 0..3 {
        for i in 0..(w * h) as usize {
            out.push(raw[i * 3 + c] as f32 / 127.5 - 1.0);
        }
    }
}

/// CHW floats in [-1, 1] → RGB8 image.
pub fn image_from_chw(data: &[f32], side: usize) -> RgbImage {
    let plane = side * side;
    RgbImage::from_fn(side as u32, side as u32, |x, y| {
        let i = y as usize * side + x as usize;
        let px = |c: usize| ((data[c * plane + i].clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
        image::Rgb([px(0), px(1), px(2)])
    })
}

/// A key equal for scenes that a caption cannot tell apart (same attributes and layout).
pub fn content_key(scene: &Scene) -> String {
    let objs: Vec<String> = scene.objects.iter().map(|o| format!("{:?}/{:?}/{:?}", o.color, o.shape, o.size)).collect();
    format!("{:?}|{:?}|{}", scene.background, scene.layout, objs.join(","))
}

/// The Shapes dataset as a batch source.
#[derive(Clone, Debug)]
pub struct ShapesSource {
    pub seed: u64,
    pub split: Split,
    /// Scenes are drawn from indices 0..scenes.
    pub scenes: u64,
    /// Image side per stage.
    pub stage_sizes: Vec<usize>,
}

impl ShapesSource {
    /// Captions of every scene, to build the vocabulary from.
    pub fn all_captions(&self) -> Vec<String> {
        (0..self.scenes).flat_map(|i| shapes::example(self.seed, self.split, i).captions).collect()
    }

    /// Caption 0 of each scene in `range` (fixed sample captions).
    pub fn all_captions_of(&self, range: std::ops::Range<u64>) -> Vec<String> {
        range.filter_map(|i| shapes::example(self.seed, self.split, i).captions.into_iter().next()).collect()
    }

    /// A random batch: scene indices and caption choice from `rng`.
    pub fn batch(&self, vocab: &Vocab, rng: &mut impl Rng, batch_size: usize) -> Result<HostBatch> {
        self.batch_of(vocab, &self.picks(rng, batch_size))
    }

    /// The (scene index, caption number) pairs [`Self::batch`] draws from `rng`.
    pub fn picks(&self, rng: &mut impl Rng, batch_size: usize) -> Vec<(u64, usize)> {
        (0..batch_size).map(|_| (rng.random_range(0..self.scenes), rng.random_range(0..5usize))).collect()
    }

    /// The batch of the given (scene index, caption number) pairs.
    pub fn batch_of(&self, vocab: &Vocab, picks: &[(u64, usize)]) -> Result<HostBatch> {
        let examples: Vec<(Example, usize)> =
            picks.iter().map(|&(i, c)| (shapes::example(self.seed, self.split, i), c)).collect();
        let mut images: Vec<(usize, Vec<f32>)> =
            self.stage_sizes.iter().map(|&s| (s, Vec::with_capacity(picks.len() * 3 * s * s))).collect();
        let mut tokens = Vec::new();
        let mut captions = Vec::new();
        for (ex, c) in &examples {
            for (side, buf) in images.iter_mut() {
                push_image(&shapes::render(&ex.scene, *side as u32)?, buf);
            }
            let caption = ex.captions[*c % ex.captions.len()].clone();
            let enc = vocab.encode(&caption);
            if enc.ids.is_empty() {
                return Err(Error::Caption { caption, msg: "no word of this caption is in the vocabulary".into() });
            }
            tokens.push(enc.ids);
            captions.push(caption);
        }
        let keys: Vec<String> = examples.iter().map(|(ex, _)| content_key(&ex.scene)).collect();
        let same_class = keys.iter().map(|a| keys.iter().map(|b| a == b).collect()).collect();
        Ok(HostBatch { images, tokens, captions, same_class })
    }
}
