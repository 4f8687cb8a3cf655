//! Up-sampling block of AttnGAN's generator: nearest ×2, 3×3 conv, batch norm, GLU.
//!
//! ECAGAN's variant ([`UpBlock::carafe`]) upsamples with CARAFE instead of nearest-neighbour
//! copying and gates the result with ECA (conv3x3 → BN → GLU → ECA, the ECA conv block).

use crate::nn::batch_norm::BatchNorm;
use crate::nn::glu::glu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::carafe::{Carafe, CarafeConfig};
use super::channel_attention::Eca;
use super::conv3x3;
use crate::nn::torch_autograd::Convolve;

/// `upBlock(in, out)`: doubles the side; the convolution makes 2·out channels that GLU halves.
/// `carafe` and `eca` are absent in AttnGAN's and DM-GAN's blocks (so their parameter names
/// are the official ones) and present in ECAGAN's.
#[derive(Module, Debug)]
pub struct UpBlock<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
    carafe: Option<Carafe<B>>,
    eca: Option<Eca<B>>,
}

impl<B: Backend> UpBlock<B> {
    pub fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(cin, cout * 2, device), bn: BatchNorm::new(cout * 2, device), carafe: None, eca: None }
    }

    /// ECAGAN's up-block: CARAFE ×2 (default hyper-parameters) → conv3x3 → BN → GLU → ECA.
    pub fn carafe(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self {
            carafe: Some(CarafeConfig::new(cin).init(device)),
            eca: Some(Eca::new(cout, device)),
            ..Self::new(cin, cout, device)
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let x = match &self.carafe {
            Some(carafe) => carafe.forward(x),
            None => upsample_nearest(x, [h * 2, w * 2]),
        };
        let y = glu(self.bn.forward(self.conv.convolve(x)));
        match &self.eca {
            Some(eca) => eca.forward(y),
            None => y,
        }
    }
}

/// Nearest-neighbour resize (PyTorch's `Upsample(mode='nearest')`).
pub fn upsample_nearest<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    interpolate(x, size, InterpolateOptions::new(InterpolateMode::Nearest))
}
