//! Efficient channel attention, ECA (Wang et al., "ECA-Net", CVPR 2020, §3.2).
//!
//! Squeeze-and-excitation without the dimensionality reduction: global average pooling gives
//! one descriptor per channel, a 1-D convolution of kernel size k across the channel axis
//! models local cross-channel interaction with k weights shared by all channels (§3.2.2:
//! ω = σ(C1D_k(y))), and the sigmoid gates rescale the channels. k grows with the channel
//! count (§3.2.3): k = ψ(C) = |log₂(C)/γ + b/γ|_odd, γ = 2, b = 1.
//!
//! Also the ECA conv block of ECAGAN's generator: conv3x3 → BN → GLU → ECA.

use burn::nn::PaddingConfig1d;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::batch_norm::BatchNorm;
use super::conv3x3;
use super::glu::glu;
use crate::nn::torch_autograd::Convolve;

/// The adaptive kernel size ψ(C) with γ = 2, b = 1, made odd as the official code does
/// (truncate, then round an even value up): C = 16 → 3, 64 → 3, 256 → 5, 512 → 5.
pub fn eca_kernel_size(channels: usize) -> usize {
    let (gamma, b) = (2.0, 1.0);
    let t = (((channels.max(1) as f64).log2() + b) / gamma).abs() as usize;
    if t % 2 == 1 { t } else { t + 1 }
}

/// ECA: x [B, C, …] → x · σ(C1D_k(GAP(x))) per channel.
#[derive(Module, Debug)]
pub struct Eca<B: Backend> {
    /// The 1-D convolution across channels (one input and output channel, no bias).
    conv: Conv1d<B>,
}

impl<B: Backend> Eca<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        let k = eca_kernel_size(channels);
        let p = (k - 1) / 2;
        Self {
            conv: Conv1dConfig::new(1, 1, k)
                .with_padding(PaddingConfig1d::Explicit(p, p))
                .with_bias(false)
                .init(device),
        }
    }

    /// The channel gates ω ∈ (0, 1), [B, C].
    pub fn gates<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, 2> {
        let dims = x.dims();
        let (b, c) = (dims[0], dims[1]);
        let inner: usize = dims[2..].iter().product();
        let pooled = x.reshape([b * c, inner]).mean_dim(1).reshape([b, 1, c]);
        sigmoid(self.conv.forward(pooled)).reshape([b, c])
    }

    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let (b, c) = (dims[0], dims[1]);
        let inner: usize = dims[2..].iter().product();
        let gates = self.gates(x.clone()).reshape([b * c, 1]);
        // One scale per [B·C] row: flex's fast contiguous path (see batch_norm.rs).
        (x.reshape([b * c, inner]) * gates).reshape(dims)
    }
}

/// ECAGAN's ECA conv block: conv3x3 (cin → 2·cout) → BN → GLU → ECA.
#[derive(Module, Debug)]
pub struct EcaConvBlock<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
    eca: Eca<B>,
}

impl<B: Backend> EcaConvBlock<B> {
    pub fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(cin, cout * 2, device), bn: BatchNorm::new(cout * 2, device), eca: Eca::new(cout, device) }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.eca.forward(glu(self.bn.forward(self.conv.convolve(x))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;

    #[test]
    fn adaptive_kernel_size() {
        let ks: Vec<usize> = [1, 4, 16, 32, 64, 128, 256, 512, 1024].iter().map(|&c| eca_kernel_size(c)).collect();
        assert_eq!(ks, vec![1, 1, 3, 3, 3, 5, 5, 5, 5]);
        assert!((1..2000).all(|c| eca_kernel_size(c) % 2 == 1));
    }

    #[test]
    fn gates_lie_in_the_unit_interval_and_scale_channels() {
        let dev = Default::default();
        let eca = Eca::<B>::new(64, &dev);
        let x = Tensor::<B, 4>::random([2, 64, 5, 3], Distribution::Normal(1.0, 3.0), &dev);
        let g = eca.gates(x.clone());
        assert_eq!(g.dims(), [2, 64]);
        let (lo, hi) = (g.clone().min().into_scalar(), g.clone().max().into_scalar());
        assert!(lo > 0.0 && hi < 1.0, "gates in [{lo}, {hi}]");
        let y = eca.forward(x.clone());
        let want = x * g.reshape([2, 64, 1, 1]);
        let d = (y - want).abs().max().into_scalar();
        assert!(d < 1e-6, "{d}");
        // C = 64: three weights shared by every channel (k = ψ(64) = 3).
        assert_eq!(eca.conv.weight.val().dims(), [1, 1, 3]);
    }

    #[test]
    fn block_halves_glu_channels_and_keeps_the_side() {
        let dev = Default::default();
        let block = EcaConvBlock::<B>::new(8, 6, &dev);
        let x = Tensor::<B, 4>::random([2, 8, 7, 5], Distribution::Normal(0.0, 1.0), &dev);
        assert_eq!(block.forward(x).dims(), [2, 6, 7, 5]);
    }

    #[test]
    fn gradients_reach_the_channel_convolution() {
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        let eca = Eca::<AD>::new(16, &dev);
        let x = Tensor::<AD, 4>::random([2, 16, 4, 4], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let target = Tensor::<AD, 4>::random([2, 16, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let grads = (eca.forward(x.clone()) * target).sum().backward();
        let gw = eca.conv.weight.val().grad(&grads).map(|g| g.abs().sum().into_scalar()).unwrap_or(0.0);
        assert!(gw > 0.0, "no gradient reaches the 1-D convolution");
        assert!(x.grad(&grads).is_some());
    }
}
