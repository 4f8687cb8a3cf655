//! Building blocks shared by the generators, one concept per file.

pub mod auxiliary_classifier;
pub mod batch_norm;
pub mod bilstm;
pub mod carafe;
pub mod channel_attention;
pub mod channel_mix;
pub mod conditioning_augmentation;
pub mod conv_lstm;
pub mod dynamic_memory;
pub mod early_word_attention;
pub mod gaussian_mixture;
pub mod glu;
pub mod group_norm;
pub mod pixel_permutation;
pub mod recurrent_affine;
pub mod res_block;
pub mod slot_classifier;
pub mod softplus;
pub mod spatial_attention;
pub mod torch_autograd;
pub mod up_block;
pub mod word_attention;
pub mod word_level_discriminator;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

/// 3×3 convolution, stride 1, padding 1, no bias (AttnGAN's `conv3x3`).
pub fn conv3x3<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// 1×1 convolution without bias (AttnGAN's `conv1x1`).
pub fn conv1x1<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [1, 1]).with_bias(false).init(device)
}

/// 4×4 convolution with stride 2 and padding 1: halves the side (discriminator down-sampling).
pub fn conv4x4_down<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Large negative logit used to mask padded words before a softmax (finite, so gradients stay finite).
pub const MASKED_LOGIT: f32 = -1.0e9;

/// Test helper: the number of float parameters of `module` and the ids of those that got no
/// (or an all-zero) gradient from `grads`.
#[cfg(test)]
pub(crate) fn params_without_grad<M: burn::module::Module<crate::CpuTrainBackend>>(
    module: &M,
    grads: &<crate::CpuTrainBackend as burn::tensor::backend::AutodiffBackend>::Gradients,
) -> (usize, Vec<String>) {
    use burn::module::{ModuleVisitor, Param};
    type AD = crate::CpuTrainBackend;
    struct Grads<'a> {
        grads: &'a <AD as burn::tensor::backend::AutodiffBackend>::Gradients,
        zero: Vec<String>,
        count: usize,
    }
    impl ModuleVisitor<AD> for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AD, D>>) {
            self.count += 1;
            let g = param.val().grad(self.grads).map(|g| g.abs().sum().into_scalar()).unwrap_or(0.0);
            if g == 0.0 {
                self.zero.push(format!("{:?}", param.id));
            }
        }
    }
    let mut v = Grads { grads, zero: Vec::new(), count: 0 };
    module.visit(&mut v);
    (v.count, v.zero)
}
