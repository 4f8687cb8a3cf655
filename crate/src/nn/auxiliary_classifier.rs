//! An auxiliary classifier on a stage discriminator, after AC-GAN (Odena et al. 2017,
//! "Conditional Image Synthesis with Auxiliary Classifier GANs", §3): besides "real or fake?"
//! the discriminator predicts the class, and the generator is trained to make its images
//! classify as the class it was asked for. TAC-GAN (Dash et al. 2017) carried the idea to
//! text-to-image with the sentence embedding; here the classes are the caption's words, as a
//! multi-label problem over the vocabulary: does the image show "star", "red", "left"?
//!
//! The head reads the discriminator's 4×4 top features whole (flattened, so that position
//! words can be told apart) and gives one logit per vocabulary word. Its loss is AC-GAN's
//! log-likelihood L_C as binary cross-entropy per word, summed over the vocabulary and averaged
//! over the batch. Unlike AC-GAN, the discriminator learns it on real images only
//! (`train/losses.rs`), so the classifier never learns what a generated "star" looks like; the
//! generator then has to draw what real stars look like to it.
//!
//! A matching score (the conditional logit, DAMSM) compares a caption with other captions in
//! the batch; this head says for every word on its own whether the image shows it, so a blob
//! asked to be a star is told so even when the batch holds no caption that differs only there.

use super::softplus::softplus;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// The classifier head: 4×4 top features [B, C, 4, 4] → word logits [B, V].
#[derive(Module, Debug)]
pub struct AuxiliaryClassifier<B: Backend> {
    out: Linear<B>,
}

/// The side of the feature map the head reads (every stage discriminator ends at 4×4).
const SIDE: usize = 4;

impl<B: Backend> AuxiliaryClassifier<B> {
    /// `channels` of the top features (8df), `vocab` words (id 0, the end token, included
    /// but never a target).
    pub fn new(channels: usize, vocab: usize, device: &B::Device) -> Self {
        Self { out: LinearConfig::new(channels * SIDE * SIDE, vocab).init(device) }
    }

    /// Word logits [B, V] of top features [B, C, 4, 4].
    pub fn forward(&self, top: Tensor<B, 4>) -> Tensor<B, 2> {
        let [b, c, h, w] = top.dims();
        self.out.forward(top.reshape([b, c * h * w]))
    }

    /// Number of words it predicts.
    pub fn vocab(&self) -> usize {
        self.out.weight.dims()[1]
    }
}

/// Per-word log-likelihood [B, V] of each image's word presence [B, V] under the head's
/// logits [B, V]: y·log σ(x) + (1 − y)·log(1 − σ(x)) = x·y − softplus(x) (stable for any x).
pub fn word_log_likelihoods<B: Backend>(logits: Tensor<B, 2>, presence: Tensor<B, 2>) -> Tensor<B, 2> {
    logits.clone() * presence - softplus(logits)
}

/// Log-likelihood [B] of each image's word presence: [`word_log_likelihoods`] summed over the
/// vocabulary.
pub fn log_likelihood<B: Backend>(logits: Tensor<B, 2>, presence: Tensor<B, 2>) -> Tensor<B, 1> {
    let b = logits.dims()[0];
    word_log_likelihoods(logits, presence).sum_dim(1).reshape([b])
}

/// Multi-label L_C: Σ_words BCE(logit, present), averaged over the batch (the negative mean
/// of [`log_likelihood`]).
pub fn classifier_loss<B: Backend>(logits: Tensor<B, 2>, presence: Tensor<B, 2>) -> Tensor<B, 1> {
    log_likelihood(logits, presence).mean().neg()
}

/// Which vocabulary words each caption holds: [B, V], 1 where word id k occurs in row i's
/// tokens (id 0, the end token, never; ids ≥ `vocab` are ignored).
pub fn word_presence<B: Backend>(tokens: &[Vec<u32>], vocab: usize, device: &B::Device) -> Tensor<B, 2> {
    let mut data = vec![0f32; tokens.len() * vocab];
    for (row, ids) in tokens.iter().enumerate() {
        for &id in ids.iter().filter(|&&id| id != 0 && (id as usize) < vocab) {
            data[row * vocab + id as usize] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(data, [tokens.len(), vocab]), device)
}

/// The vocabulary ids of `words`, the value of config key `key`: a clear error for a word
/// the run's vocabulary does not hold, since its classifier could never learn it.
fn word_ids(key: &str, words: &[String], vocab: &Vocab) -> Result<Vec<u32>> {
    words
        .iter()
        .map(|w| {
            vocab
                .id(w)
                .filter(|&id| id != 0)
                .ok_or_else(|| Error::config(key, format!("{w:?} is not a word of the run's vocabulary")))
        })
        .collect()
}

/// The words the classifier reads from a view of the image that hides something, as [1, V]
/// masks (a one-row [`word_presence`]): `colour` from a random channel mix (`nn/channel_mix.rs`, no colour),
/// `shape` from a random pixel permutation (`nn/pixel_permutation.rs`, no outline).
#[derive(Clone, Debug)]
pub struct BlindWords<B: Backend> {
    pub colour: Option<Tensor<B, 2>>,
    pub shape: Option<Tensor<B, 2>>,
}

impl<B: Backend> BlindWords<B> {
    /// Every word read from the image itself.
    pub fn none() -> Self {
        Self { colour: None, shape: None }
    }

    /// `train.aux_colour_blind_words` and `train.aux_shape_blind_words` over a `vocab`-word
    /// head (errors name the key of a word the vocabulary lacks).
    pub fn from_config(train: &TrainConfig, vocab: &Vocab, device: &B::Device) -> Result<Self> {
        let mask = |key: &str, words: &[String]| -> Result<Option<Tensor<B, 2>>> {
            match words {
                [] => Ok(None),
                words => Ok(Some(word_presence::<B>(&[word_ids(key, words, vocab)?], vocab.len(), device))),
            }
        };
        Ok(Self {
            colour: mask("train.aux_colour_blind_words", &train.aux_colour_blind_words)?,
            shape: mask("train.aux_shape_blind_words", &train.aux_shape_blind_words)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::Distribution::Normal;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    #[test]
    fn presence_marks_each_word_once_and_never_the_end_token() {
        let dev = Default::default();
        let p = word_presence::<B>(&[vec![3, 1, 3, 0], vec![2], vec![9, 5]], 6, &dev);
        assert_eq!(p.dims(), [3, 6]);
        let v: Vec<f32> = p.into_data().to_vec().unwrap();
        assert_eq!(
            v,
            vec![
                0., 1., 0., 1., 0., 0., //
                0., 0., 1., 0., 0., 0., //
                0., 0., 0., 0., 0., 1., // id 9 is outside the vocabulary
            ]
        );
    }

    #[test]
    fn loss_is_binary_cross_entropy_summed_over_words() {
        let dev = Default::default();
        let logits = Tensor::<B, 2>::from_floats([[0.0, 2.0], [-1.0, 0.5]], &dev);
        let presence = Tensor::<B, 2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &dev);
        let got = classifier_loss(logits, presence).into_scalar();
        // −log σ(0) − log(1 − σ(2)) − log(1 − σ(−1)) − log σ(0.5), over 2 images.
        let nll = |x: f32, y: f32| if y > 0.5 { (1.0 + (-x).exp()).ln() } else { (1.0 + x.exp()).ln() };
        let want = (nll(0.0, 1.0) + nll(2.0, 0.0) + nll(-1.0, 0.0) + nll(0.5, 1.0)) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    /// Features that carry word k as a bump at position k of the 4×4 map: the head learns to
    /// read every word of every image, position words included (the map is not pooled).
    #[test]
    fn learns_which_words_an_image_shows() {
        let dev = Default::default();
        let (c, vocab, n) = (8, 12, 24);
        let tokens: Vec<Vec<u32>> = (0..n).map(|i| vec![1 + (i % 11) as u32, 1 + ((i * 7 + 3) % 11) as u32]).collect();
        let mut feats = Tensor::<AD, 4>::random([n, c, SIDE, SIDE], Normal(0.0, 0.3), &dev).into_data();
        {
            let values = feats.as_mut_slice::<f32>().unwrap();
            for (i, ids) in tokens.iter().enumerate() {
                for &id in ids {
                    let (y, x) = ((id as usize - 1) / SIDE, (id as usize - 1) % SIDE);
                    values[((i * c) * SIDE + y) * SIDE + x] += 2.0;
                }
            }
        }
        let feats = Tensor::<AD, 4>::from_data(feats, &dev);
        let presence = word_presence::<AD>(&tokens, vocab, &dev);
        let mut head = AuxiliaryClassifier::<AD>::new(c, vocab, &dev);
        assert_eq!(head.vocab(), vocab);
        let mut opt = AdamConfig::new().init();
        let start = classifier_loss(head.forward(feats.clone()), presence.clone()).into_scalar();
        for _ in 0..200 {
            let loss = classifier_loss(head.forward(feats.clone()), presence.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = opt.step(0.01, head, grads);
        }
        let end = classifier_loss(head.forward(feats.clone()), presence.clone()).into_scalar();
        assert!(end < 0.1 * start, "loss {start} → {end}");
        let probs: Vec<f32> = head.valid().forward(feats.inner()).into_data().to_vec().unwrap();
        let truth: Vec<f32> = presence.inner().into_data().to_vec().unwrap();
        for (k, (p, t)) in probs.iter().zip(&truth).enumerate() {
            assert_eq!(*p > 0.0, *t > 0.5, "image {} word {}: logit {p}", k / vocab, k % vocab);
        }
    }

    #[test]
    fn blind_words_become_masks_and_unknown_ones_an_error() {
        let words = ["<end>", "a", "red", "star", "circle"].map(String::from).to_vec();
        let vocab = Vocab::from_words(words).unwrap();
        let dev = Default::default();
        let mut train = crate::config::RunConfig::preset("tiny").unwrap().train;
        train.aux_colour_blind_words = vec!["star".into(), "circle".into()];
        train.aux_shape_blind_words = vec!["red".into()];
        let blind = BlindWords::<B>::from_config(&train, &vocab, &dev).unwrap();
        let v = |t: Option<Tensor<B, 2>>| t.unwrap().into_data().to_vec::<f32>().unwrap();
        assert_eq!(v(blind.colour), vec![0., 0., 0., 1., 1.]);
        assert_eq!(v(blind.shape), vec![0., 0., 1., 0., 0.]);
        for bad in ["stars", "<end>", ""] {
            let mut t = train.clone();
            t.aux_shape_blind_words = vec![bad.to_string()];
            let err = BlindWords::<B>::from_config(&t, &vocab, &dev).unwrap_err().to_string();
            assert!(err.contains("train.aux_shape_blind_words") && err.contains(&format!("{bad:?}")), "{err}");
        }
        // Per word, the terms sum to the log-likelihood.
        let logits = Tensor::<B, 2>::from_floats([[0.5, -1.0, 2.0]], &dev);
        let presence = Tensor::<B, 2>::from_floats([[1.0, 0.0, 1.0]], &dev);
        let sum = word_log_likelihoods(logits.clone(), presence.clone()).sum().into_scalar();
        assert!((sum - log_likelihood(logits, presence).into_scalar()).abs() < 1e-6);
    }
}
