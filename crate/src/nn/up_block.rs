//! Up-sampling block of AttnGAN's generator: nearest ×2, 3×3 conv, batch norm, GLU.

use crate::nn::batch_norm::BatchNorm;
use crate::nn::glu::glu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::conv3x3;

/// `upBlock(in, out)`: doubles the side; the convolution makes 2·out channels that GLU halves.
#[derive(Module, Debug)]
pub struct UpBlock<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
}

impl<B: Backend> UpBlock<B> {
    pub fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(cin, cout * 2, device), bn: BatchNorm::new(cout * 2, device) }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let x = upsample_nearest(x, [h * 2, w * 2]);
        glu(self.bn.forward(self.conv.forward(x)))
    }
}

/// Nearest-neighbour resize (PyTorch's `Upsample(mode='nearest')`).
pub fn upsample_nearest<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    interpolate(x, size, InterpolateOptions::new(InterpolateMode::Nearest))
}
