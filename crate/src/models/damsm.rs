//! The Deep Attentional Multimodal Similarity Model (AttnGAN §3.3, Eq. 8–14).
//!
//! AttnGAN's image encoder is Inception-v3; no pretrained weights can be had here, so the
//! encoder is a small CNN trained on the dataset itself: region features [B, D, r, r]
//! (r = 8 for 64-px input, 16 for 128 and 256 px; Inception gives 17×17) and a global
//! vector [B, D], D = the text feature width. The matching losses are the official ones:
//! word-level attention (γ1, γ2, γ3) and sentence-level cosine, each in both directions.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::module::avg_pool2d;

use crate::config::{DamsmConfig, GlobalCode, TextConfig};
use crate::nn::group_norm::GroupNorm;
use crate::nn::torch_autograd::{Convolve, leaky_relu};
use crate::nn::{MASKED_LOGIT, conv1x1, conv4x4_down};

/// Down-sampling layer of the encoder: 4×4 stride-2 conv, group norm, LeakyReLU.
///
/// Group norm rather than batch norm: the encoder is used frozen inside the generator's
/// autodiff graph, where a batch norm would switch to batch statistics and drift.
#[derive(Module, Debug)]
pub struct EncoderDown<B: Backend> {
    conv: Conv2d<B>,
    bn: GroupNorm<B>,
}

impl<B: Backend> EncoderDown<B> {
    fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        let groups = if cout.is_multiple_of(8) { 8 } else { 1 };
        Self { conv: conv4x4_down(cin, cout, device), bn: GroupNorm::new(groups, cout, device) }
    }
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        leaky_relu(self.bn.forward(self.conv.convolve(x)), 0.2)
    }
}

/// `CNN_ENCODER` stand-in: stem, down-sampling to the region grid, 1×1 projection to D for
/// regions, one more down-sampling, then global average pooling (or, `global = "spatial"`, the
/// flattened grid) and a linear map for the global code.
#[derive(Module, Debug)]
pub struct ImageEncoder<B: Backend> {
    stem: Conv2d<B>,
    downs: Vec<EncoderDown<B>>,
    regions: Conv2d<B>,
    tail: EncoderDown<B>,
    global: Linear<B>,
    image_size: usize,
    /// `global = "spatial"`: the last grid is flattened, not averaged.
    spatial: bool,
}

/// Region and global image features.
pub struct ImageFeatures<B: Backend> {
    /// [B, D, r, r]
    pub regions: Tensor<B, 4>,
    /// [B, D]
    pub global: Tensor<B, 2>,
}

impl<B: Backend> ImageEncoder<B> {
    pub fn new(cfg: &DamsmConfig, text: &TextConfig, device: &B::Device) -> Self {
        let w = cfg.width;
        let n_down = (cfg.image_size.ilog2() as usize).saturating_sub(4).max(3);
        let downs = (0..n_down).map(|i| EncoderDown::new(w << i.min(3), w << (i + 1).min(3), device)).collect();
        let top = w << n_down.min(3);
        // The tail halves the region grid (image_size / 2^n_down) once more.
        let tail_side = (cfg.image_size >> (n_down + 1)).max(1);
        let global_cells = if cfg.global == GlobalCode::Spatial { tail_side * tail_side } else { 1 };
        Self {
            stem: Conv2dConfig::new([3, w], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device),
            downs,
            regions: conv1x1(top, text.feature_dim(), device),
            tail: EncoderDown::new(top, top * 2, device),
            global: LinearConfig::new(top * 2 * global_cells, text.feature_dim()).init(device),
            image_size: cfg.image_size,
            spatial: cfg.global == GlobalCode::Spatial,
        }
    }

    /// Images in [-1, 1], side a multiple of the configured size (average-pooled down to it).
    pub fn forward(&self, img: Tensor<B, 4>) -> ImageFeatures<B> {
        let x = self.trunk(img);
        let regions = self.regions.convolve(x.clone());
        let t = self.tail.forward(x);
        let [b, c, h, w] = t.dims();
        let code =
            if self.spatial { t.reshape([b, c * h * w]) } else { t.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]) };
        ImageFeatures { regions, global: self.global.forward(code) }
    }

    /// Only the region features [B, D, r, r] of [`forward`](Self::forward) (no global code).
    pub fn region_features(&self, img: Tensor<B, 4>) -> Tensor<B, 4> {
        self.regions.convolve(self.trunk(img))
    }

    /// Pooling to the configured size, stem and down-sampling: the region grid before projection.
    fn trunk(&self, img: Tensor<B, 4>) -> Tensor<B, 4> {
        let side = img.dims()[2];
        let img = if side > self.image_size {
            let k = side / self.image_size;
            avg_pool2d(img, [k, k], [k, k], [0, 0], true, false)
        } else {
            img
        };
        let mut x = leaky_relu(self.stem.convolve(img), 0.2);
        for d in &self.downs {
            x = d.forward(x);
        }
        x
    }
}

/// Word-level image–caption scores R(Q_i, D_j) for every image i and caption j (Eq. 9–11),
/// already multiplied by γ3: [B_img, B_cap].
pub fn word_scores<B: Backend>(
    regions: Tensor<B, 4>,
    words: Tensor<B, 3>,
    pad: Tensor<B, 2, Bool>,
    cfg: &DamsmConfig,
) -> Tensor<B, 2> {
    let [bi, d, rh, rw] = regions.dims();
    let [bj, _, t] = words.dims();
    let s = rh * rw;
    let ctx = regions.reshape([bi, d, s]); // [Bi, D, S]
    let ctx_t = ctx.swap_dims(1, 2); // [Bi, S, D]
    // Region-to-word logits for every pair: [Bi, S, Bj·T] → [Bi, Bj, S, T].
    let words_flat = words.clone().swap_dims(0, 1).reshape([d, bj * t]);
    let logits = ctx_t.clone().reshape([bi * s, d]).matmul(words_flat).reshape([bi, s, bj, t]).swap_dims(1, 2);
    // Eq. 8: normalise over the (real) words of each caption for every region.
    let word_mask = pad.clone().reshape([1, bj, 1, t]).expand([bi, bj, s, t]);
    let attn = softmax(logits.mask_fill(word_mask, MASKED_LOGIT), 3);
    // Eq. 9: attention of each word over regions, sharpened by γ1.
    let attn = softmax(attn.swap_dims(2, 3).mul_scalar(cfg.gamma1), 3); // [Bi, Bj, T, S]
    let context = attn.reshape([bi, bj * t, s]).matmul(ctx_t).reshape([bi, bj, t, d]); // c_i per word
    let w = words.swap_dims(1, 2).unsqueeze_dim::<4>(0); // [1, Bj, T, D]
    let dot = (context.clone() * w.clone()).sum_dim(3);
    // Clamp before the square root: padded words have zero norm, and √0 has an infinite slope.
    let norms = (context.powi_scalar(2).sum_dim(3) * w.powi_scalar(2).sum_dim(3)).clamp_min(1e-16).sqrt();
    let cos = (dot / norms).reshape([bi, bj, t]);
    // Eq. 10: R(Q, D) = log Σ_i exp(γ2 R(c_i, e_i)) over real words.
    let valid = pad.bool_not().float().reshape([1, bj, t]);
    let summed = (cos.mul_scalar(cfg.gamma2).exp() * valid).sum_dim(2).reshape([bi, bj]);
    summed.log().mul_scalar(cfg.gamma3)
}

/// Sentence-level scores: cosine of global image codes and sentence vectors × γ3, [B_img, B_cap].
pub fn sentence_scores<B: Backend>(global: Tensor<B, 2>, sentence: Tensor<B, 2>, cfg: &DamsmConfig) -> Tensor<B, 2> {
    cosine_matrix(global, sentence).mul_scalar(cfg.gamma3)
}

/// Pairwise cosine similarity of rows: [N, D] × [M, D] → [N, M].
pub fn cosine_matrix<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    let na = a.clone().powi_scalar(2).sum_dim(1).clamp_min(1e-16).sqrt(); // [N, 1]
    let nb = b.clone().powi_scalar(2).sum_dim(1).clamp_min(1e-16).sqrt(); // [M, 1]
    let denom = na.matmul(nb.transpose());
    a.matmul(b.transpose()) / denom
}

/// Both directions of the matching loss (Eq. 12–13) for a score matrix [B_img, B_cap]
/// whose diagonal holds the true pairs. `same_class[i][j]` marks pairs other than the
/// diagonal that describe the same content; they are excluded as negatives, as the
/// official code does with class ids.
pub fn matching_loss<B: Backend>(scores: Tensor<B, 2>, same_class: &[Vec<bool>]) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let (n, device) = (scores.dims()[0], scores.device());
    let scores = scores.mask_fill(same_class_mask(n, same_class, &device), MASKED_LOGIT);
    (diagonal_cross_entropy(scores.clone()), diagonal_cross_entropy(scores.transpose()))
}

/// The image→caption term of [`matching_loss`] with extra negative captions: `extra` [B, M]
/// scores every image against M more captions, of which image i competes only with those
/// whose `owner` is i (its hard negatives); the others are masked out.
pub fn matching_loss_with_negatives<B: Backend>(
    scores: Tensor<B, 2>,
    same_class: &[Vec<bool>],
    extra: Tensor<B, 2>,
    owner: &[usize],
) -> Tensor<B, 1> {
    let [n, m] = extra.dims();
    let device = scores.device();
    let others = bool_matrix(n, m, |i, j| owner[j] != i, &device);
    diagonal_cross_entropy(Tensor::cat(
        vec![
            scores.mask_fill(same_class_mask(n, same_class, &device), MASKED_LOGIT),
            extra.mask_fill(others, MASKED_LOGIT),
        ],
        1,
    ))
}

/// The off-diagonal pairs of an n×n score matrix that describe the same content: they are
/// not negatives of each other.
fn same_class_mask<B: Backend>(n: usize, same_class: &[Vec<bool>], device: &B::Device) -> Tensor<B, 2, Bool> {
    bool_matrix(n, n, |i, j| i != j && same_class[i][j], device)
}

/// An [n, m] boolean tensor whose entry (i, j) is `f(i, j)`.
fn bool_matrix<B: Backend>(
    n: usize,
    m: usize,
    f: impl Fn(usize, usize) -> bool,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let data: Vec<bool> = (0..n).flat_map(|i| (0..m).map(move |j| (i, j))).map(|(i, j)| f(i, j)).collect();
    Tensor::<B, 1, Bool>::from_data(TensorData::new(data, [n * m]), device).reshape([n, m])
}

/// Cross-entropy of each row against the label "its own index": −mean_i log softmax(x_i)_i.
/// `logits` is [N, K] with K ≥ N; columns past N are extra negatives only.
pub fn diagonal_cross_entropy<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = logits.dims()[0];
    let eye = Tensor::<B, 2>::eye(n, &logits.device());
    (log_softmax(logits, 1).slice([0..n, 0..n]) * eye).sum().neg().div_scalar(n as f64)
}
