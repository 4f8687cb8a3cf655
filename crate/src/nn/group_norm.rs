//! Group normalisation (Wu & He 2018) laid out for fast CPU kernels: statistics over rows
//! of [B·G, (C/G)·H·W], then one per-(sample, channel) scale and shift over rows of
//! [B·C, H·W] (see `batch_norm.rs` for why). Same parameters as PyTorch's `GroupNorm`.

use burn::module::Param;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct GroupNorm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub groups: usize,
    pub epsilon: f64,
}

impl<B: Backend> GroupNorm<B> {
    /// `groups` must divide `channels`.
    pub fn new(groups: usize, channels: usize, device: &B::Device) -> Self {
        assert!(groups > 0 && channels.is_multiple_of(groups), "{groups} groups do not divide {channels} channels");
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            groups,
            epsilon: 1e-5,
        }
    }

    /// x [B, C, H, W] → normalised x.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let dims = x.dims();
        let [b, c, h, w] = dims;
        let g = self.groups;
        let n = (c / g) * h * w;
        let grouped = x.reshape([b * g, n]);
        let mean = grouped.clone().sum_dim(1).div_scalar(n as f64); // [B·G, 1]
        let var = (grouped.clone().powi_scalar(2).sum_dim(1).div_scalar(n as f64) - mean.clone().powi_scalar(2))
            .clamp_min(0.0);
        let inv = var.add_scalar(self.epsilon).sqrt().recip(); // [B·G, 1]
        // Per (sample, channel): scale = γ_c·inv_{b,g(c)}, shift = β_c − mean_{b,g(c)}·scale.
        let per_channel = |t: Tensor<B, 2>| t.reshape([b, g, 1]).repeat_dim(2, c / g).reshape([b, c]);
        let gamma = self.gamma.val().reshape([1, c]).repeat_dim(0, b);
        let beta = self.beta.val().reshape([1, c]).repeat_dim(0, b);
        let scale = per_channel(inv) * gamma;
        let shift = beta - per_channel(mean) * scale.clone();
        (grouped.reshape([b * c, h * w]) * scale.reshape([b * c, 1]) + shift.reshape([b * c, 1])).reshape(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::CpuBackend;

    #[test]
    fn matches_burn_group_norm() {
        let dev = Default::default();
        let x = Tensor::<B, 4>::random([2, 8, 3, 5], burn::tensor::Distribution::Normal(1.0, 2.0), &dev);
        let ours = GroupNorm::<B>::new(4, 8, &dev).forward(x.clone());
        let theirs = burn::nn::GroupNormConfig::new(4, 8).init::<B>(&dev).forward(x);
        let d = (ours - theirs).abs().max().into_scalar();
        assert!(d < 1e-4, "{d}");
    }
}
