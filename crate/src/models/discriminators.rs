//! AttnGAN's per-stage discriminators (`D_NET64/128/256`) with an unconditional logit
//! (is the image real?) and a conditional one (does it match the sentence?), §3.2 Eq. 4–5.
//!
//! Logits are returned before the sigmoid; the losses use the numerically stable
//! binary cross-entropy with logits, which equals the official Sigmoid + BCELoss.

use crate::nn::batch_norm::BatchNorm;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::config::{GanConfig, TextConfig};
use crate::nn::torch_autograd::{Convolve, leaky_relu};
use crate::nn::{conv3x3, conv4x4_down};

const SLOPE: f64 = 0.2;

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

/// One stage's discriminator: the ×16 encoder, extra down-sampling for 128/256 px, two heads.
#[derive(Module, Debug)]
pub struct StageDiscriminator<B: Backend> {
    encoder: Vec<ConvBnLrelu<B>>,
    uncond: LogitHead<B>,
    cond: LogitHead<B>,
}

impl<B: Backend> StageDiscriminator<B> {
    /// `stage` 0, 1, 2 → image side 64, 128, 256.
    pub fn new(stage: usize, df: usize, cond_dim: usize, device: &B::Device) -> Self {
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
        Self {
            encoder,
            uncond: LogitHead::new(df * 8, None, device),
            cond: LogitHead::new(df * 8, Some(cond_dim), device),
        }
    }

    /// Image [B, 3, s, s] → features [B, 8df, 4, 4].
    pub fn features(&self, img: Tensor<B, 4>) -> Tensor<B, 4> {
        self.encoder.iter().fold(img, |x, layer| layer.forward(x))
    }
    pub fn uncond_logits(&self, feat: Tensor<B, 4>) -> Tensor<B, 1> {
        self.uncond.forward(feat, None)
    }
    pub fn cond_logits(&self, feat: Tensor<B, 4>, sentence: Tensor<B, 2>) -> Tensor<B, 1> {
        self.cond.forward(feat, Some(sentence))
    }
}

/// All stage discriminators of a run.
#[derive(Module, Debug)]
pub struct Discriminators<B: Backend> {
    pub stages: Vec<StageDiscriminator<B>>,
}

impl<B: Backend> Discriminators<B> {
    pub fn new(gan: &GanConfig, text: &TextConfig, device: &B::Device) -> Self {
        Self {
            stages: (0..gan.stages).map(|i| StageDiscriminator::new(i, gan.df, text.feature_dim(), device)).collect(),
        }
    }
}
