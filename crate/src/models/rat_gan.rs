//! RAT-GAN (Ye et al. 2022): one generator of up-sampling blocks whose fusion layers are
//! recurrent affine transformations (`nn/recurrent_affine.rs`), and a discriminator of
//! residual down-sampling blocks with the matching-aware spatial-attention head
//! (`nn/spatial_attention.rs`). The backbone follows DF-GAN (Tao et al. 2022), which RAT-GAN
//! builds on.
//!
//! Generator: z → linear → 4×4×8nf; one block per side from 4 px to the output side, with a
//! nearest ×2 up-sampling between blocks; each block is
//! `RAT → LReLU → RAT → LReLU → conv3×3 → RAT → LReLU → RAT → LReLU → conv3×3` added to a
//! (1×1-projected) shortcut through a learnable gate that starts at 0; then LReLU, a 3×3
//! convolution to RGB and tanh. Channels are 8nf down to the last three sides, which get 4nf,
//! 2nf and nf (DF-GAN's schedule).
//!
//! Discriminator: 3×3 conv to ndf, then down-sampling blocks to 4×4
//! (`conv4×4/2 → LReLU → conv3×3 → LReLU` plus an average-pooled shortcut, gated from 0),
//! doubling the width up to 8ndf (DF-GAN goes to 16ndf; 8 keeps the exported head inside the
//! page's 10 MB budget), then the spatial-attention head.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2dConfig, InterpolateMode};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;
use burn::tensor::module::avg_pool2d;

use crate::config::{GanConfig, TextConfig};
use crate::nn::conv4x4_down;
use crate::nn::recurrent_affine::{ControllerState, RecurrentAffine, RecurrentController};
use crate::nn::spatial_attention::SpatialAttentionHead;
use crate::nn::torch_autograd::{Convolve, leaky_relu};

const SLOPE: f64 = 0.2;

fn conv3x3_bias<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

fn gate<B: Backend>(device: &B::Device) -> Param<Tensor<B, 1>> {
    Param::from_tensor(Tensor::zeros([1], device))
}

/// Width multiplier of the generator block at `side` when the output is `out` px.
fn g_mult(side: usize, out: usize) -> usize {
    match out / side {
        1 => 1,
        2 => 2,
        4 => 4,
        _ => 8,
    }
}

/// One generator block: four recurrent affines, two 3×3 convolutions, gated residual.
#[derive(Module, Debug)]
pub struct RatBlock<B: Backend> {
    affines: Vec<RecurrentAffine<B>>,
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    shortcut: Option<Conv2d<B>>,
    gate: Param<Tensor<B, 1>>,
}

impl<B: Backend> RatBlock<B> {
    fn new(cin: usize, cout: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            affines: vec![
                RecurrentAffine::new(hidden, cin, device),
                RecurrentAffine::new(hidden, cin, device),
                RecurrentAffine::new(hidden, cout, device),
                RecurrentAffine::new(hidden, cout, device),
            ],
            conv1: conv3x3_bias(cin, cout, device),
            conv2: conv3x3_bias(cout, cout, device),
            shortcut: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
            gate: gate(device),
        }
    }

    fn forward(
        &self,
        x: Tensor<B, 4>,
        sentence: &Tensor<B, 2>,
        ctrl: &RecurrentController<B>,
        mut state: ControllerState<B>,
        trace: &mut Option<Vec<Tensor<B, 2>>>,
    ) -> (Tensor<B, 4>, ControllerState<B>) {
        let mut h = x.clone();
        for (k, affine) in self.affines.iter().enumerate() {
            let (y, s) = affine.forward(h, sentence.clone(), ctrl, state);
            if let Some(t) = trace.as_mut() {
                t.push(s.h.clone());
            }
            state = s;
            h = leaky_relu(y, SLOPE);
            if k == 1 {
                h = self.conv1.convolve(h);
            }
        }
        let h = self.conv2.convolve(h);
        let short = match &self.shortcut {
            Some(c) => c.convolve(x),
            None => x,
        };
        let g = self.gate.val().reshape([1, 1, 1, 1]);
        (short + h * g, state)
    }
}

/// The RAT-GAN generator.
#[derive(Module, Debug)]
pub struct RatGenerator<B: Backend> {
    fc: Linear<B>,
    controller: RecurrentController<B>,
    blocks: Vec<RatBlock<B>>,
    to_rgb: Conv2d<B>,
    ngf8: usize,
}

impl<B: Backend> RatGenerator<B> {
    /// Output side `gan.final_size()`, width nf = `gan.gf`, LSTM width `gan.cond_dim`.
    pub fn new(gan: &GanConfig, text: &TextConfig, device: &B::Device) -> Self {
        let out = gan.final_size();
        let nf = gan.gf;
        let hidden = gan.cond_dim;
        let mut blocks = Vec::new();
        let mut cin = 8 * nf;
        let mut side = 4;
        while side <= out {
            let cout = nf * g_mult(side, out);
            blocks.push(RatBlock::new(cin, cout, hidden, device));
            cin = cout;
            side *= 2;
        }
        Self {
            fc: LinearConfig::new(gan.z_dim, 8 * nf * 16).init(device),
            controller: RecurrentController::new(text.feature_dim(), gan.z_dim, hidden, device),
            blocks,
            to_rgb: conv3x3_bias(nf, 3, device),
            ngf8: 8 * nf,
        }
    }

    /// Number of recurrent affines (controller steps per forward pass).
    pub fn num_affines(&self) -> usize {
        self.blocks.len() * 4
    }

    /// z [B, Z], sentence [B, D] → image [B, 3, s, s] in [-1, 1].
    pub fn forward(&self, z: Tensor<B, 2>, sentence: Tensor<B, 2>) -> Tensor<B, 4> {
        self.forward_traced(z, sentence, &mut None)
    }

    /// [`Self::forward`], also pushing the controller's h_t after each affine into `trace`.
    pub fn forward_traced(
        &self,
        z: Tensor<B, 2>,
        sentence: Tensor<B, 2>,
        trace: &mut Option<Vec<Tensor<B, 2>>>,
    ) -> Tensor<B, 4> {
        let b = z.dims()[0];
        let mut state = self.controller.start(z.clone());
        let mut h = self.fc.forward(z).reshape([b, self.ngf8, 4, 4]);
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                let [_, _, s, _] = h.dims();
                h = Interpolate2dConfig::new()
                    .with_output_size(Some([2 * s, 2 * s]))
                    .with_mode(InterpolateMode::Nearest)
                    .init()
                    .forward(h);
            }
            let (y, s) = block.forward(h, &sentence, &self.controller, state, trace);
            h = y;
            state = s;
        }
        tanh(self.to_rgb.convolve(leaky_relu(h, SLOPE)))
    }

    /// The controller, for tests that replay its steps.
    pub fn controller(&self) -> &RecurrentController<B> {
        &self.controller
    }
}

/// One discriminator block: conv4×4/2 → LReLU → conv3×3 → LReLU, plus a pooled shortcut.
#[derive(Module, Debug)]
pub struct DownBlock<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    shortcut: Option<Conv2d<B>>,
    gate: Param<Tensor<B, 1>>,
}

impl<B: Backend> DownBlock<B> {
    fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self {
            conv1: conv4x4_down(cin, cout, device),
            conv2: Conv2dConfig::new([cout, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            shortcut: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
            gate: gate(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let r = leaky_relu(self.conv2.convolve(leaky_relu(self.conv1.convolve(x.clone()), SLOPE)), SLOPE);
        let s = match &self.shortcut {
            Some(c) => c.convolve(x),
            None => x,
        };
        let s = avg_pool2d(s, [2, 2], [2, 2], [0, 0], true, false);
        s + r * self.gate.val().reshape([1, 1, 1, 1])
    }
}

/// The RAT-GAN discriminator; its head's spatial attention is what the page shows.
#[derive(Module, Debug)]
pub struct RatDiscriminator<B: Backend> {
    stem: Conv2d<B>,
    blocks: Vec<DownBlock<B>>,
    head: SpatialAttentionHead<B>,
}

/// Discriminator output: logits [B] and attention weights [B, 4, 4].
pub struct RatJudgement<B: Backend> {
    pub logits: Tensor<B, 1>,
    pub attention: Tensor<B, 3>,
}

impl<B: Backend> RatDiscriminator<B> {
    pub fn new(gan: &GanConfig, text: &TextConfig, device: &B::Device) -> Self {
        let ndf = gan.df;
        let mut blocks = Vec::new();
        let mut c = ndf;
        let mut side = gan.final_size();
        while side > 4 {
            let next = (2 * c).min(8 * ndf);
            blocks.push(DownBlock::new(c, next, device));
            c = next;
            side /= 2;
        }
        Self {
            stem: conv3x3_bias(3, ndf, device),
            blocks,
            head: SpatialAttentionHead::new(c, text.feature_dim(), 2 * ndf, device),
        }
    }

    /// Image [B, 3, s, s] → features [B, C, 4, 4].
    pub fn features(&self, img: Tensor<B, 4>) -> Tensor<B, 4> {
        self.blocks.iter().fold(self.stem.convolve(img), |x, b| b.forward(x))
    }

    /// Features and sentence → logits and the spatial attention.
    pub fn judge(&self, feat: Tensor<B, 4>, sentence: Tensor<B, 2>) -> RatJudgement<B> {
        let (logits, attention) = self.head.forward(feat, sentence);
        RatJudgement { logits, attention }
    }

    pub fn forward(&self, img: Tensor<B, 4>, sentence: Tensor<B, 2>) -> RatJudgement<B> {
        self.judge(self.features(img), sentence)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tolerance};

    use super::*;
    use crate::config::RunConfig;

    type B = crate::CpuBackend;

    fn cfg() -> RunConfig {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        cfg.model.gan.variant = "ratgan".into();
        cfg
    }

    #[test]
    fn shapes_of_generator_and_discriminator() {
        let cfg = cfg();
        let dev = Default::default();
        let (g, t) = (&cfg.model.gan, &cfg.model.text);
        let g_net = RatGenerator::<B>::new(g, t, &dev);
        let d = RatDiscriminator::<B>::new(g, t, &dev);
        let z = Tensor::<B, 2>::random([2, g.z_dim], Distribution::Normal(0.0, 1.0), &dev);
        let s = Tensor::<B, 2>::random([2, t.feature_dim()], Distribution::Normal(0.0, 1.0), &dev);
        let img = g_net.forward(z, s.clone());
        assert_eq!(img.dims(), [2, 3, 128, 128]);
        assert!(img.clone().abs().max().into_scalar() <= 1.0);
        let j = d.forward(img, s);
        assert_eq!(j.logits.dims(), [2]);
        assert_eq!(j.attention.dims(), [2, 4, 4]);
        // 4, 8, …, 128 px: six blocks of four affines.
        assert_eq!(g_net.num_affines(), 24);
    }

    #[test]
    fn controller_threads_through_every_affine_in_order() {
        let cfg = cfg();
        let dev = Default::default();
        let (g, t) = (&cfg.model.gan, &cfg.model.text);
        let g_net = RatGenerator::<B>::new(g, t, &dev);
        let z = Tensor::<B, 2>::random([2, g.z_dim], Distribution::Normal(0.0, 1.0), &dev);
        let s = Tensor::<B, 2>::random([2, t.feature_dim()], Distribution::Normal(0.0, 1.0), &dev);
        let mut trace = Some(Vec::new());
        g_net.forward_traced(z.clone(), s.clone(), &mut trace);
        let trace = trace.unwrap();
        assert_eq!(trace.len(), g_net.num_affines());
        // Replaying the controller from (h0, c0) = MLP(z): affine t sees exactly step t.
        let mut state = g_net.controller().start(z);
        for (k, h) in trace.into_iter().enumerate() {
            state = g_net.controller().step(s.clone(), state);
            assert_eq!(state.steps, k + 1);
            h.into_data().assert_approx_eq::<f32>(&state.h.clone().into_data(), Tolerance::absolute(1e-6));
        }
    }

    #[test]
    fn residual_gates_start_closed() {
        // Gates at 0 and γ = 1, β = 0: each generator block is its shortcut at init, so the
        // image depends on the sentence only through training.
        let cfg = cfg();
        let dev = Default::default();
        let (g, t) = (&cfg.model.gan, &cfg.model.text);
        let g_net = RatGenerator::<B>::new(g, t, &dev);
        let z = Tensor::<B, 2>::random([1, g.z_dim], Distribution::Normal(0.0, 1.0), &dev);
        let s1 = Tensor::<B, 2>::random([1, t.feature_dim()], Distribution::Normal(0.0, 1.0), &dev);
        let s2 = Tensor::<B, 2>::random([1, t.feature_dim()], Distribution::Normal(0.0, 1.0), &dev);
        let a = g_net.forward(z.clone(), s1).into_data();
        a.assert_approx_eq::<f32>(&g_net.forward(z, s2).into_data(), Tolerance::absolute(1e-6));
    }
}
