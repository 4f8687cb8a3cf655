//! Residual block of AttnGAN's refinement stages.

use crate::nn::batch_norm::BatchNorm;
use crate::nn::glu::glu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv3x3;
use crate::nn::torch_autograd::Convolve;

/// `ResBlock(c)`: x + BN(conv3x3(GLU(BN(conv3x3(x, 2c))), c)).
#[derive(Module, Debug)]
pub struct ResBlock<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm<B>,
}

impl<B: Backend> ResBlock<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            conv1: conv3x3(channels, channels * 2, device),
            bn1: BatchNorm::new(channels * 2, device),
            conv2: conv3x3(channels, channels, device),
            bn2: BatchNorm::new(channels, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = glu(self.bn1.forward(self.conv1.convolve(x.clone())));
        self.bn2.forward(self.conv2.convolve(y)) + x
    }
}
