//! RAT-GAN's matching-aware spatial attention in the discriminator (Ye et al. 2022, §3.3).
//!
//! DF-GAN's head tiles the sentence vector over every position of the 4×4 image features.
//! RAT-GAN first asks, per position, how much the sentence concerns it: an MLP over
//! [image features ‖ sentence] gives x_wh, the weights are a_wh = σ(x_wh) / Σ σ(x) (a soft
//! threshold normalised over positions, not a softmax: positions do not compete
//! exponentially), and the sentence is spread over the positions by those weights. The
//! official code defines this module but never calls it; here it is the head.

use crate::nn::torch_autograd::{Convolve, leaky_relu};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

const SLOPE: f64 = 0.2;

/// Attention weights, the sentence spread by them, and the logit convolutions.
#[derive(Module, Debug)]
pub struct SpatialAttentionHead<B: Backend> {
    /// The per-position MLP: 1×1 convolutions over [features ‖ sentence].
    score1: Conv2d<B>,
    score2: Conv2d<B>,
    /// DF-GAN's `D_GET_LOGITS`: 3×3 conv over [features ‖ spread sentence], 4×4 conv to a logit.
    joint: Conv2d<B>,
    out: Conv2d<B>,
}

impl<B: Backend> SpatialAttentionHead<B> {
    /// `channels`: image feature width; `cond_dim`: sentence width; `hidden`: joint conv width.
    pub fn new(channels: usize, cond_dim: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            score1: Conv2dConfig::new([channels + cond_dim, channels], [1, 1]).init(device),
            score2: Conv2dConfig::new([channels, 1], [1, 1]).init(device),
            joint: Conv2dConfig::new([channels + cond_dim, hidden], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            out: Conv2dConfig::new([hidden, 1], [4, 4]).with_bias(false).init(device),
        }
    }

    /// The attention weights a [B, h, w] (positive, summing to 1 over positions).
    pub fn weights(&self, feat: Tensor<B, 4>, sentence: Tensor<B, 2>) -> Tensor<B, 3> {
        let [b, _, h, w] = feat.dims();
        let x = self
            .score2
            .forward(leaky_relu(self.score1.convolve(Tensor::cat(vec![feat, tile(sentence, h, w)], 1)), SLOPE));
        soft_threshold(x.reshape([b, h * w])).reshape([b, h, w])
    }

    /// feat [B, C, 4, 4], sentence [B, D] → (logits [B], attention weights [B, 4, 4]).
    pub fn forward(&self, feat: Tensor<B, 4>, sentence: Tensor<B, 2>) -> (Tensor<B, 1>, Tensor<B, 3>) {
        let [b, _, h, w] = feat.dims();
        let a = self.weights(feat.clone(), sentence.clone());
        // Spread: s·a_wh·(h·w), so uniform weights give DF-GAN's plain tiling.
        let spread = tile(sentence, h, w) * a.clone().mul_scalar((h * w) as f64).reshape([b, 1, h, w]);
        let x = leaky_relu(self.joint.convolve(Tensor::cat(vec![feat, spread], 1)), SLOPE);
        (self.out.convolve(x).reshape([b]), a)
    }
}

/// The paper's normalisation of scores x [B, N] over positions: σ(x) / Σ σ(x).
pub fn soft_threshold<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let s = sigmoid(x);
    s.clone() / s.sum_dim(1)
}

/// sentence [B, D] → [B, D, h, w], the same vector at every position.
fn tile<B: Backend>(sentence: Tensor<B, 2>, h: usize, w: usize) -> Tensor<B, 4> {
    let [b, d] = sentence.dims();
    sentence.reshape([b, d, 1, 1]).expand([b, d, h, w])
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::activation::softmax;

    use super::*;
    type B = crate::CpuBackend;

    #[test]
    fn weights_are_positive_sum_to_one_and_are_not_a_softmax() {
        let dev = Default::default();
        let head = SpatialAttentionHead::<B>::new(8, 6, 4, &dev);
        let feat = Tensor::<B, 4>::random([3, 8, 4, 4], Distribution::Normal(0.0, 2.0), &dev);
        let s = Tensor::<B, 2>::random([3, 6], Distribution::Normal(0.0, 1.0), &dev);
        let (logits, a) = head.forward(feat, s);
        assert_eq!(logits.dims(), [3]);
        assert_eq!(a.dims(), [3, 4, 4]);
        let v = a.clone().into_data().to_vec::<f32>().unwrap();
        assert!(v.iter().all(|&x| x > 0.0));
        for row in v.chunks(16) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // σ-normalisation, not a softmax: scores 0, 1, 2, 3 give 0.16, 0.24, 0.29, 0.31
        // (a softmax: 0.03, 0.09, 0.24, 0.64).
        let x = Tensor::<B, 2>::from_floats([[0.0, 1.0, 2.0, 3.0]], &dev);
        let a = soft_threshold(x.clone()).into_data().to_vec::<f32>().unwrap();
        let want = [0.1632, 0.2386, 0.2874, 0.3108];
        assert!(a.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-3), "{a:?}");
        let soft = softmax(x, 1).into_data().to_vec::<f32>().unwrap();
        assert!((soft[3] - a[3]).abs() > 0.3);
    }
}
