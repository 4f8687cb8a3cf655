//! The layout-conditioned image generator and its discriminator (Hong et al. 2018, §3.3).
//!
//! Generator: an encoder downsamples the semantic layout (side ÷ 4); the sentence is
//! spatially replicated and gated into it by a sigmoid of the layout features (the paper's
//! attention gate, so text lands where the layout says objects are); spatially replicated
//! noise is joined; residual blocks; a decoder upsamples ×2 at a time with the layout,
//! resized, injected again at every step (the paper's cascaded refinement), to the image side.
//!
//! Discriminator: sees the image with the layout joined as channels, then the sentence joined
//! to the down-sampled features, and gives one logit (matched, mismatched-caption and fake
//! pairs are told apart in training).

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::module::avg_pool2d;

use crate::config::{GanConfig, LayoutConfig};
use crate::nn::group_norm::GroupNorm;
use crate::nn::torch_autograd::{Convolve, leaky_relu};
use crate::nn::up_block::upsample_nearest;
use crate::nn::{conv1x1, conv3x3, conv4x4_down};

/// The layout resized to `side` (average pooling down, nearest up).
pub fn resize_layout<B: Backend>(layout: Tensor<B, 4>, side: usize) -> Tensor<B, 4> {
    let [_, _, s, _] = layout.dims();
    if side == s {
        layout
    } else if side < s {
        let k = s / side;
        avg_pool2d(layout, [k, k], [k, k], [0, 0], true, false)
    } else {
        upsample_nearest(layout, [side, side])
    }
}

/// conv3×3 → instance norm → ReLU, keeping the side.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    conv: Conv2d<B>,
    norm: GroupNorm<B>,
}

impl<B: Backend> Block<B> {
    fn new(cin: usize, cout: usize, down: bool, device: &B::Device) -> Self {
        let conv = if down { conv4x4_down(cin, cout, device) } else { conv3x3(cin, cout, device) };
        Self { conv, norm: GroupNorm::new(cout, cout, device) }
    }
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(self.norm.forward(self.conv.convolve(x)))
    }
}

/// x + conv(block(x)).
#[derive(Module, Debug)]
pub struct Residual<B: Backend> {
    a: Block<B>,
    b: Conv2d<B>,
    norm: GroupNorm<B>,
}

impl<B: Backend> Residual<B> {
    fn new(c: usize, device: &B::Device) -> Self {
        Self { a: Block::new(c, c, false, device), b: conv3x3(c, c, device), norm: GroupNorm::new(c, c, device) }
    }
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        x.clone() + self.norm.forward(self.b.convolve(self.a.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct LayoutImageGenerator<B: Backend> {
    stem: Block<B>,
    down: Vec<Block<B>>,
    text: Linear<B>,
    gate: Conv2d<B>,
    noise: Linear<B>,
    fuse: Block<B>,
    residual: Vec<Residual<B>>,
    up: Vec<Block<B>>,
    out: Conv2d<B>,
    image_size: usize,
}

impl<B: Backend> LayoutImageGenerator<B> {
    /// `sentence_dim`: width of the sentence vector.
    pub fn new(gan: &GanConfig, layout: &LayoutConfig, sentence_dim: usize, device: &B::Device) -> Self {
        let (c, w) = (layout.classes.len(), 2 * gan.gf);
        let deep = 4 * w;
        let side = layout.mask_size / 4;
        let ups = (gan.final_size() / side).trailing_zeros() as usize;
        let mut up = Vec::new();
        let mut cin = deep;
        for i in 0..ups {
            let cout = (deep >> (i + 1)).max(w / 2).max(4);
            up.push(Block::new(cin + c, cout, false, device));
            cin = cout;
        }
        Self {
            stem: Block::new(c, w, false, device),
            down: vec![Block::new(w, 2 * w, true, device), Block::new(2 * w, deep, true, device)],
            text: LinearConfig::new(sentence_dim, deep).init(device),
            gate: conv1x1(deep, deep, device),
            noise: LinearConfig::new(gan.z_dim, w).init(device),
            fuse: Block::new(2 * deep + w, deep, false, device),
            residual: (0..gan.res_blocks.max(1)).map(|_| Residual::new(deep, device)).collect(),
            up,
            out: conv3x3(cin, 3, device),
            image_size: gan.final_size(),
        }
    }

    /// Semantic layout [N, C, S, S], sentence [N, D], noise [N, Z] → image [N, 3, side, side]
    /// in [−1, 1].
    pub fn forward(&self, layout: Tensor<B, 4>, sentence: Tensor<B, 2>, z: Tensor<B, 2>) -> Tensor<B, 4> {
        let mut x = self.stem.forward(layout.clone());
        for d in &self.down {
            x = d.forward(x);
        }
        let [n, deep, r, _] = x.dims();
        let text = self.text.forward(sentence).reshape([n, deep, 1, 1]).expand([n, deep, r, r]);
        let gated = sigmoid(self.gate.convolve(x.clone())) * text;
        let zc = self.noise.forward(z);
        let [_, zw] = zc.dims();
        let noise = zc.reshape([n, zw, 1, 1]).expand([n, zw, r, r]);
        let mut h = self.fuse.forward(Tensor::cat(vec![x, gated, noise], 1));
        for block in &self.residual {
            h = block.forward(h);
        }
        for block in &self.up {
            let [_, _, s, _] = h.dims();
            let up = upsample_nearest(h, [2 * s, 2 * s]);
            h = block.forward(Tensor::cat(vec![up, resize_layout(layout.clone(), 2 * s)], 1));
        }
        tanh(self.out.convolve(h))
    }

    pub fn image_size(&self) -> usize {
        self.image_size
    }
}

/// Image + layout + caption → one logit.
#[derive(Module, Debug)]
pub struct LayoutImageDiscriminator<B: Backend> {
    down: Vec<Conv2d<B>>,
    text: Linear<B>,
    joint: Conv2d<B>,
    logit: Linear<B>,
}

/// Side the discriminator brings images down to before joining the sentence.
const JOINT_SIDE: usize = 8;

impl<B: Backend> LayoutImageDiscriminator<B> {
    pub fn new(gan: &GanConfig, layout: &LayoutConfig, sentence_dim: usize, device: &B::Device) -> Self {
        let steps = (gan.final_size() / JOINT_SIDE).trailing_zeros() as usize;
        let mut down = Vec::new();
        let mut c = 3 + layout.classes.len();
        for i in 0..steps {
            let w = (gan.df << i).min(8 * gan.df);
            down.push(conv4x4_down(c, w, device));
            c = w;
        }
        Self {
            down,
            text: LinearConfig::new(sentence_dim, gan.df).init(device),
            joint: conv3x3(c + gan.df, c, device),
            logit: LinearConfig::new(c, 1).init(device),
        }
    }

    /// Image [N, 3, side, side], layout [N, C, S, S], sentence [N, D] → logits [N].
    pub fn forward(&self, image: Tensor<B, 4>, layout: Tensor<B, 4>, sentence: Tensor<B, 2>) -> Tensor<B, 1> {
        let [n, _, side, _] = image.dims();
        let mut h = Tensor::cat(vec![image, resize_layout(layout, side)], 1);
        for conv in &self.down {
            h = leaky_relu(conv.convolve(h), 0.2);
        }
        let [_, _, r, _] = h.dims();
        let t = self.text.forward(sentence);
        let [_, tw] = t.dims();
        let t = t.reshape([n, tw, 1, 1]).expand([n, tw, r, r]);
        let h = leaky_relu(self.joint.convolve(Tensor::cat(vec![h, t], 1)), 0.2);
        let [_, c, _, _] = h.dims();
        self.logit.forward(h.mean_dim(3).mean_dim(2).reshape([n, c])).reshape([n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;

    #[test]
    fn shapes_and_layout_resizing() {
        let cfg = crate::config::RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny-layout.toml"))
            .unwrap();
        let (gan, layout) = (&cfg.model.gan, cfg.model.layout.as_ref().unwrap());
        let dev = Default::default();
        let g = LayoutImageGenerator::<B>::new(gan, layout, 8, &dev);
        let d = LayoutImageDiscriminator::<B>::new(gan, layout, 8, &dev);
        let (c, s) = (layout.classes.len(), layout.mask_size);
        let l = Tensor::<B, 4>::random([2, c, s, s], Distribution::Uniform(0.0, 1.0), &dev);
        let sent = Tensor::<B, 2>::random([2, 8], Distribution::Normal(0.0, 1.0), &dev);
        let z = Tensor::<B, 2>::random([2, gan.z_dim], Distribution::Normal(0.0, 1.0), &dev);
        let img = g.forward(l.clone(), sent.clone(), z);
        let side = gan.final_size();
        assert_eq!(img.dims(), [2, 3, side, side]);
        let v = img.clone().into_data().to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert_eq!(d.forward(img, l.clone(), sent).dims(), [2]);
        // Resizing keeps the mean (pooling) and the values (nearest).
        let half = resize_layout(l.clone(), s / 2);
        let m0 = l.clone().mean().into_scalar();
        assert!((half.mean().into_scalar() - m0).abs() < 1e-5);
        assert!((resize_layout(l, 2 * s).mean().into_scalar() - m0).abs() < 1e-5);
    }
}
