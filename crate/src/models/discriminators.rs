//! AttnGAN's per-stage discriminators (`D_NET64/128/256`) with an unconditional logit
//! (is the image real?) and a conditional one (does it match the sentence?), §3.2 Eq. 4–5.
//!
//! Logits are returned before the sigmoid; the losses use the numerically stable
//! binary cross-entropy with logits, which equals the official Sigmoid + BCELoss.
//!
//! With `train.d_word_level` each stage's conditional logit also gets a word-level head
//! (`nn/word_level_discriminator.rs`, after ControlGAN) over the encoder's 8×8 features.
//! With `train.lambda_aux_classifier` > 0 each stage also predicts the caption's words from its
//! 4×4 features (`nn/auxiliary_classifier.rs`, after AC-GAN); `train.aux_colour_blind_words`
//! are read from a colour-free mix of the image (`nn/channel_mix.rs`),
//! `train.aux_shape_blind_words` from a shape-free permutation (`nn/pixel_permutation.rs`).
//! With `train.lambda_slot_classifier` > 0 each stage also predicts the caption's scene in
//! image order from its 4×4 features (`nn/slot_classifier.rs`).

use crate::nn::batch_norm::BatchNorm;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::config::{GanConfig, TextConfig, TrainConfig};
use crate::nn::auxiliary_classifier::{AuxiliaryClassifier, BlindWords, word_log_likelihoods};
use crate::nn::channel_mix::random_channel_mix;
use crate::nn::pixel_permutation::random_pixel_permutation;
use crate::nn::slot_classifier::{SlotClassifier, slot_log_likelihood};
use crate::nn::torch_autograd::{Convolve, leaky_relu};
use crate::nn::word_level_discriminator::WordLevelHead;
use crate::nn::{conv3x3, conv4x4_down};
use crate::text::rnn_encoder::TextFeatures;

const SLOPE: f64 = 0.2;

/// A view of an image batch that hides something from the auxiliary classifier.
type ImageView<B> = fn(Tensor<B, 4>) -> Tensor<B, 4>;

/// Convolution, optional batch norm, LeakyReLU(0.2).
#[derive(Module, Debug)]
pub struct ConvBnLrelu<B: Backend> {
    conv: Conv2d<B>,
    bn: Option<BatchNorm<B>>,
}

impl<B: Backend> ConvBnLrelu<B> {
    fn new(conv: Conv2d<B>, channels: usize, bn: bool, device: &B::Device) -> Self {
        Self { conv, bn: bn.then(|| BatchNorm::new(channels, device)) }
    }
    /// `downBlock`: 4×4 stride-2 convolution.
    pub fn down(cin: usize, cout: usize, bn: bool, device: &B::Device) -> Self {
        Self::new(conv4x4_down(cin, cout, device), cout, bn, device)
    }
    /// `Block3x3_leakRelu`.
    pub fn block3x3(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self::new(conv3x3(cin, cout, device), cout, true, device)
    }
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.conv.convolve(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        leaky_relu(x, SLOPE)
    }
}

/// `D_GET_LOGITS`: optional joint 3×3 block over [h ‖ sentence tiled 4×4], then a 4×4 stride-4 conv to one logit.
#[derive(Module, Debug)]
pub struct LogitHead<B: Backend> {
    joint: Option<ConvBnLrelu<B>>,
    out: Conv2d<B>,
}

impl<B: Backend> LogitHead<B> {
    fn new(ndf8: usize, cond_dim: Option<usize>, device: &B::Device) -> Self {
        Self {
            joint: cond_dim.map(|c| ConvBnLrelu::block3x3(ndf8 + c, ndf8, device)),
            out: Conv2dConfig::new([ndf8, 1], [4, 4]).with_stride([4, 4]).init(device),
        }
    }

    /// h [B, 8df, 4, 4], condition [B, D] (ignored by the unconditional head) → logits [B].
    pub fn forward(&self, h: Tensor<B, 4>, cond: Option<Tensor<B, 2>>) -> Tensor<B, 1> {
        let [b, _, s, _] = h.dims();
        let h = match (&self.joint, cond) {
            (Some(joint), Some(c)) => {
                let d = c.dims()[1];
                let tiled = c.reshape([b, d, 1, 1]).expand([b, d, s, s]);
                joint.forward(Tensor::cat(vec![h, tiled], 1))
            }
            _ => h,
        };
        self.out.convolve(h).reshape([b])
    }
}

/// A stage discriminator's image features: the encoder's output [B, 8df, 4, 4] that the
/// sentence and unconditional heads read, and its 8×8 map [B, C, 8, 8] for the word-level head.
#[derive(Clone, Debug)]
pub struct StageFeatures<B: Backend> {
    pub top: Tensor<B, 4>,
    pub regions: Tensor<B, 4>,
}

impl<B: Backend> StageFeatures<B> {
    /// Rows `indices` of both maps.
    pub fn select(&self, indices: Tensor<B, 1, Int>) -> Self {
        Self { top: self.top.clone().select(0, indices.clone()), regions: self.regions.clone().select(0, indices) }
    }
    /// Rows `start..start + len` of both maps.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        Self { top: self.top.clone().narrow(0, start, len), regions: self.regions.clone().narrow(0, start, len) }
    }
}

/// The optional heads of the stage discriminators, as a run's `[train]` section asks for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiscriminatorHeads {
    /// A word-level head added to the conditional logit (`train.d_word_level`).
    pub word_level: bool,
    /// An auxiliary classifier of the caption's words (`train.lambda_aux_classifier` > 0).
    pub classifier: bool,
    /// A classifier of the caption's scene in image order (`train.lambda_slot_classifier` > 0).
    pub slots: bool,
}

impl DiscriminatorHeads {
    /// The heads that `train` trains.
    pub fn of(train: &TrainConfig) -> Self {
        Self {
            word_level: train.d_word_level,
            classifier: train.lambda_aux_classifier > 0.0,
            slots: train.lambda_slot_classifier > 0.0,
        }
    }
}

/// One stage's discriminator: the ×16 encoder, extra down-sampling for 128/256 px, two heads,
/// optionally a word-level head added to the conditional one and an auxiliary word classifier.
#[derive(Module, Debug)]
pub struct StageDiscriminator<B: Backend> {
    encoder: Vec<ConvBnLrelu<B>>,
    uncond: LogitHead<B>,
    cond: LogitHead<B>,
    words: Option<WordLevelHead<B>>,
    classifier: Option<AuxiliaryClassifier<B>>,
    slots: Option<SlotClassifier<B>>,
}

impl<B: Backend> StageDiscriminator<B> {
    /// `stage` 0, 1, 2 → image side 64, 128, 256; `cond_dim` = sentence and word width;
    /// `vocab` = words the auxiliary classifier predicts.
    pub fn new(
        stage: usize,
        df: usize,
        cond_dim: usize,
        vocab: usize,
        heads: DiscriminatorHeads,
        device: &B::Device,
    ) -> Self {
        // encode_image_by_16times: 3→df (no BN), df→2df, 2df→4df, 4df→8df, each stride 2.
        let mut encoder = vec![ConvBnLrelu::down(3, df, false, device)];
        for i in 0..3 {
            encoder.push(ConvBnLrelu::down(df << i, df << (i + 1), true, device));
        }
        // Extra down-blocks 8df→16df(→32df), then 3×3 blocks back to 8df.
        for i in 0..stage {
            encoder.push(ConvBnLrelu::down(df * (8 << i), df * (16 << i), true, device));
        }
        for i in (0..stage).rev() {
            encoder.push(ConvBnLrelu::block3x3(df * (16 << i), df * (8 << i), device));
        }
        let mut d = Self {
            encoder,
            uncond: LogitHead::new(df * 8, None, device),
            cond: LogitHead::new(df * 8, Some(cond_dim), device),
            words: None,
            classifier: None,
            slots: None,
        };
        d.set_word_level(stage, df, cond_dim, heads.word_level, device);
        d.set_classifier(df, vocab, heads.classifier, device);
        d.set_slot_classifier(df, heads.slots, device);
        d
    }

    /// Add a freshly initialised auxiliary word classifier over `vocab` words, or remove it.
    pub fn set_classifier(&mut self, df: usize, vocab: usize, on: bool, device: &B::Device) {
        self.classifier = match (on, self.classifier.take()) {
            (true, Some(head)) if head.vocab() == vocab => Some(head),
            (true, _) => Some(AuxiliaryClassifier::new(df * 8, vocab, device)),
            (false, _) => None,
        };
    }

    /// Add a freshly initialised slot classifier, or remove it.
    pub fn set_slot_classifier(&mut self, df: usize, on: bool, device: &B::Device) {
        self.slots = match (on, self.slots.take()) {
            (true, Some(head)) => Some(head),
            (true, None) => Some(SlotClassifier::new(df * 8, device)),
            (false, _) => None,
        };
    }

    /// The heads this discriminator has.
    pub fn heads(&self) -> DiscriminatorHeads {
        DiscriminatorHeads {
            word_level: self.words.is_some(),
            classifier: self.classifier.is_some(),
            slots: self.slots.is_some(),
        }
    }

    /// Add a freshly initialised word-level head (whose logit starts at 0), or remove it.
    pub fn set_word_level(&mut self, stage: usize, df: usize, cond_dim: usize, on: bool, device: &B::Device) {
        self.words = match (on, self.words.take()) {
            (true, Some(head)) => Some(head),
            (true, None) => Some(WordLevelHead::new(Self::region_channels(stage, df), cond_dim, device)),
            (false, _) => None,
        };
    }

    /// Whether the conditional logit includes the word-level head.
    pub fn word_level(&self) -> bool {
        self.words.is_some()
    }

    /// Encoder layers up to the 8×8 map: 3 + stage down-samplings (of 4 + stage, followed by
    /// stage 3×3 blocks).
    fn region_layers(&self) -> usize {
        (self.encoder.len() + 4) / 2 - 1
    }

    /// Channels of the 8×8 map: 4df at 64 px, 8df at 128, 16df at 256.
    fn region_channels(stage: usize, df: usize) -> usize {
        df * (4 << stage)
    }

    /// Image [B, 3, s, s] → features (4×4 and 8×8 maps).
    pub fn features(&self, img: Tensor<B, 4>) -> StageFeatures<B> {
        let (to_regions, to_top) = self.encoder.split_at(self.region_layers());
        let regions = to_regions.iter().fold(img, |x, layer| layer.forward(x));
        let top = to_top.iter().fold(regions.clone(), |x, layer| layer.forward(x));
        StageFeatures { top, regions }
    }
    /// The auxiliary classifier's word logits [B, V] (None without the head).
    pub fn word_logits(&self, feat: &StageFeatures<B>) -> Option<Tensor<B, 2>> {
        self.classifier.as_ref().map(|head| head.forward(feat.top.clone()))
    }
    /// Log-likelihood [B] the auxiliary classifier gives each image's caption words
    /// `presence` [B, V] (None without the head). Words in `blind.colour` are read from a
    /// random channel mix of `img` (`nn/channel_mix.rs`), those in `blind.shape` from a random
    /// pixel permutation (`nn/pixel_permutation.rs`), each one more pass through the encoder;
    /// the others from `feat`, the features of `img` itself.
    pub fn word_log_likelihood(
        &self,
        img: Tensor<B, 4>,
        feat: &StageFeatures<B>,
        presence: Tensor<B, 2>,
        blind: &BlindWords<B>,
    ) -> Option<Tensor<B, 1>> {
        let logits = self.word_logits(feat)?;
        let b = logits.dims()[0];
        let mut seen = word_log_likelihoods(logits, presence.clone());
        let views: [(_, ImageView<B>); 2] =
            [(&blind.colour, random_channel_mix), (&blind.shape, random_pixel_permutation)];
        for (mask, view) in views {
            if let Some(mask) = mask {
                let logits = self.word_logits(&self.features(view(img.clone())))?;
                seen = seen * mask.clone().neg().add_scalar(1.0)
                    + word_log_likelihoods(logits, presence.clone()) * mask.clone();
            }
        }
        Some(seen.sum_dim(1).reshape([b]))
    }
    /// Log-likelihood [B] the slot classifier gives each image's scene `targets`
    /// [B, SLOT_LOGITS] (`nn/slot_classifier.rs`; None without the head).
    pub fn slot_log_likelihood(&self, feat: &StageFeatures<B>, targets: Tensor<B, 2>) -> Option<Tensor<B, 1>> {
        self.slots.as_ref().map(|head| slot_log_likelihood(head.forward(feat.top.clone()), targets))
    }
    pub fn uncond_logits(&self, feat: &StageFeatures<B>) -> Tensor<B, 1> {
        self.uncond.forward(feat.top.clone(), None)
    }
    /// Does the image match the caption: the sentence head, plus the word-level head when present.
    pub fn cond_logits(&self, feat: &StageFeatures<B>, text: &TextFeatures<B>) -> Tensor<B, 1> {
        let sentence = self.cond.forward(feat.top.clone(), Some(text.sentence.clone()));
        match &self.words {
            Some(head) => sentence + head.forward(feat.regions.clone(), text.words.clone(), text.pad.clone()),
            None => sentence,
        }
    }
}

/// All stage discriminators of a run.
#[derive(Module, Debug)]
pub struct Discriminators<B: Backend> {
    pub stages: Vec<StageDiscriminator<B>>,
}

impl<B: Backend> Discriminators<B> {
    /// Every stage's discriminator with the optional `heads` (the classifier predicts
    /// `text.vocab_size` words).
    pub fn new(gan: &GanConfig, text: &TextConfig, heads: DiscriminatorHeads, device: &B::Device) -> Self {
        let dim = text.feature_dim();
        Self {
            stages: (0..gan.stages)
                .map(|i| StageDiscriminator::new(i, gan.df, dim, text.vocab_size, heads, device))
                .collect(),
        }
    }

    /// Give every stage exactly the optional `heads`: missing ones start fresh, extra ones are
    /// dropped, the rest keep their weights (a run resumed with other `[train]` options).
    pub fn with_heads(
        mut self,
        gan: &GanConfig,
        text: &TextConfig,
        heads: DiscriminatorHeads,
        device: &B::Device,
    ) -> Self {
        for (i, d) in self.stages.iter_mut().enumerate() {
            d.set_word_level(i, gan.df, text.feature_dim(), heads.word_level, device);
            d.set_classifier(gan.df, text.vocab_size, heads.classifier, device);
            d.set_slot_classifier(gan.df, heads.slots, device);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution::Normal;

    type B = crate::CpuBackend;

    #[test]
    fn every_stage_reads_8x8_regions() {
        let dev = Default::default();
        for stage in 0..3 {
            let d = StageDiscriminator::<B>::new(
                stage,
                2,
                4,
                5,
                DiscriminatorHeads { word_level: true, classifier: true, slots: true },
                &dev,
            );
            let side = 64 << stage;
            let f = d.features(Tensor::random([1, 3, side, side], Normal(0.0, 1.0), &dev));
            assert_eq!(f.top.dims(), [1, 16, 4, 4], "stage {stage}");
            assert_eq!(f.regions.dims(), [1, 2 * (4 << stage), 8, 8], "stage {stage}");
            assert_eq!(d.word_logits(&f).map(|w| w.dims()), Some([1, 5]), "stage {stage}");
        }
    }

    #[test]
    fn a_new_word_level_head_leaves_the_logit_unchanged() {
        let dev = Default::default();
        <B as Backend>::seed(&dev, 5);
        let plain = StageDiscriminator::<B>::new(1, 2, 4, 5, DiscriminatorHeads::default(), &dev);
        let feat = plain.features(Tensor::random([2, 3, 128, 128], Normal(0.0, 1.0), &dev));
        let text = TextFeatures {
            words: Tensor::random([2, 4, 3], Normal(0.0, 1.0), &dev),
            sentence: Tensor::random([2, 4], Normal(0.0, 1.0), &dev),
            pad: Tensor::<B, 2, Int>::from_data([[0, 0, 1], [0, 0, 0]], &dev).equal_elem(1),
        };
        // (Scored before cloning: burn initialises parameters lazily, on first use.)
        let a: Vec<f32> = plain.cond_logits(&feat, &text).into_data().to_vec().unwrap();
        let u: Vec<f32> = plain.uncond_logits(&feat).into_data().to_vec().unwrap();
        let mut grown = plain.clone();
        grown.set_word_level(1, 2, 4, true, &dev);
        assert!(grown.word_level() && !plain.word_level());
        let b: Vec<f32> = grown.cond_logits(&feat, &text).into_data().to_vec().unwrap();
        assert_eq!(a, b);
        grown.set_word_level(1, 2, 4, false, &dev);
        assert!(!grown.word_level());
        // The classifier is a head of its own: adding it leaves both logits as they were.
        grown.set_classifier(2, 5, true, &dev);
        assert_eq!(grown.heads(), DiscriminatorHeads { word_level: false, classifier: true, slots: false });
        let c: Vec<f32> = grown.cond_logits(&feat, &text).into_data().to_vec().unwrap();
        assert_eq!(a, c);
        assert_eq!(grown.uncond_logits(&feat).into_data().to_vec::<f32>().unwrap(), u);
        assert_eq!(grown.word_logits(&feat).unwrap().dims(), [2, 5]);
        assert!(plain.word_logits(&feat).is_none());
    }
}
