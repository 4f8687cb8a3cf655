//! The shape generator (Hong et al. 2018, §3.2): every box, given as a binary map on its
//! class channel, is encoded by strided convolutions with instance normalisation; a
//! bidirectional convolutional LSTM runs across the boxes (so each mask knows its
//! neighbours); noise is added per box; a decoder draws one mask per box, multiplied by the
//! box so nothing falls outside it.
//!
//! Two discriminators judge the masks: an instance-wise one sees (box map, mask) per box, a
//! global one all boxes and all masks at once. Its intermediate features also give the
//! reconstruction term (feature matching, the perceptual-style loss: no pretrained mask
//! network exists here) next to a pixel L1 to the true mask.

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::config::LayoutConfig;
use crate::nn::conv_lstm::BiConvLstm;
use crate::nn::group_norm::GroupNorm;
use crate::nn::torch_autograd::{Convolve, leaky_relu};
use crate::nn::up_block::upsample_nearest;
use crate::nn::{conv3x3, conv4x4_down};

/// Strided convolutions the box maps go through (side ÷ 8).
const DOWN: usize = 3;

/// Instance normalisation with affine parameters (group norm with one group per channel).
fn instance_norm<B: Backend>(channels: usize, device: &B::Device) -> GroupNorm<B> {
    GroupNorm::new(channels, channels, device)
}

/// conv → instance norm → activation.
#[derive(Module, Debug)]
pub struct ConvNorm<B: Backend> {
    conv: Conv2d<B>,
    norm: GroupNorm<B>,
}

impl<B: Backend> ConvNorm<B> {
    fn down(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self { conv: conv4x4_down(cin, cout, device), norm: instance_norm(cout, device) }
    }
    fn same(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(cin, cout, device), norm: instance_norm(cout, device) }
    }
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.norm.forward(self.conv.convolve(x))
    }
}

#[derive(Module, Debug)]
pub struct ShapeGenerator<B: Backend> {
    encoder: Vec<ConvNorm<B>>,
    lstm: BiConvLstm<B>,
    decoder: Vec<ConvNorm<B>>,
    out: Conv2d<B>,
    noise: usize,
}

impl<B: Backend> ShapeGenerator<B> {
    pub fn new(cfg: &LayoutConfig, device: &B::Device) -> Self {
        let (c, w) = (cfg.classes.len(), cfg.shape_width);
        let widths = [w, 2 * w, 4 * w];
        let mut encoder = Vec::new();
        let mut cin = c;
        for &cout in &widths {
            encoder.push(ConvNorm::down(cin, cout, device));
            cin = cout;
        }
        let hidden = 4 * w;
        let mut decoder = vec![ConvNorm::same(2 * hidden + cfg.shape_noise, hidden, device)];
        let mut cin = hidden;
        for &cout in widths.iter().rev() {
            decoder.push(ConvNorm::same(cin, cout, device));
            cin = cout;
        }
        Self {
            encoder,
            lstm: BiConvLstm::new(hidden, hidden, device),
            decoder,
            out: conv3x3(w, 1, device),
            noise: cfg.shape_noise,
        }
    }

    pub fn noise_dim(&self) -> usize {
        self.noise
    }

    /// Box maps [N, T, C, S, S], slot validity [N, T] and noise [N, T, noise] → masks
    /// [N, T, 1, S, S] in [0, 1], zero outside each box and on empty slots.
    pub fn forward(&self, boxes: Tensor<B, 5>, valid: Tensor<B, 2>, noise: Tensor<B, 3>) -> Tensor<B, 5> {
        let [n, t, c, s, _] = boxes.dims();
        let mut x = boxes.clone().reshape([n * t, c, s, s]);
        for layer in &self.encoder {
            x = leaky_relu(layer.forward(x), 0.2);
        }
        let [_, f, r, _] = x.dims();
        let context = self.lstm.forward(x.reshape([n, t, f, r, r]), valid).reshape([n * t, 2 * f, r, r]);
        let z = noise.reshape([n * t, self.noise, 1, 1]).expand([n * t, self.noise, r, r]);
        let mut y = relu(self.decoder[0].forward(Tensor::cat(vec![context, z], 1)));
        for layer in &self.decoder[1..] {
            let [_, _, h, w] = y.dims();
            y = relu(layer.forward(upsample_nearest(y, [h * 2, w * 2])));
        }
        let region = boxes.sum_dim(2).clamp(0.0, 1.0); // [N, T, 1, S, S]
        sigmoid(self.out.convolve(y)).reshape([n, t, 1, s, s]) * region
    }
}

/// Convolutional judge: strided conv blocks, mean over positions, one logit.
#[derive(Module, Debug)]
pub struct MaskJudge<B: Backend> {
    blocks: Vec<Conv2d<B>>,
    logit: Linear<B>,
}

impl<B: Backend> MaskJudge<B> {
    fn new(cin: usize, width: usize, device: &B::Device) -> Self {
        let widths = [width, 2 * width, 4 * width];
        let mut blocks = Vec::new();
        let mut c = cin;
        for &w in &widths[..DOWN] {
            blocks.push(conv4x4_down(c, w, device));
            c = w;
        }
        Self { blocks, logit: LinearConfig::new(c, 1).init(device) }
    }

    /// x [N, cin, S, S] → (logits [N], features of every block).
    fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 1>, Vec<Tensor<B, 4>>) {
        let mut feats = Vec::new();
        let mut h = x;
        for b in &self.blocks {
            h = leaky_relu(b.convolve(h), 0.2);
            feats.push(h.clone());
        }
        let [n, c, _, _] = h.dims();
        let pooled = h.mean_dim(3).mean_dim(2).reshape([n, c]);
        (self.logit.forward(pooled).reshape([n]), feats)
    }
}

/// The instance-wise and the global mask discriminators.
#[derive(Module, Debug)]
pub struct ShapeDiscriminators<B: Backend> {
    instance: MaskJudge<B>,
    global: MaskJudge<B>,
}

/// What the discriminators say about one set of masks.
pub struct ShapeJudgement<B: Backend> {
    /// One logit per box slot [N·T] (empty slots included; mask them with the validity).
    pub instance: Tensor<B, 1>,
    /// One logit per layout [N].
    pub global: Tensor<B, 1>,
    /// The global discriminator's block features (for the reconstruction term).
    pub features: Vec<Tensor<B, 4>>,
}

impl<B: Backend> ShapeDiscriminators<B> {
    pub fn new(cfg: &LayoutConfig, device: &B::Device) -> Self {
        let c = cfg.classes.len();
        Self {
            instance: MaskJudge::new(c + 1, cfg.shape_width, device),
            global: MaskJudge::new(2 * c, cfg.shape_width, device),
        }
    }

    /// Box maps [N, T, C, S, S] and masks [N, T, 1, S, S].
    pub fn forward(&self, boxes: Tensor<B, 5>, masks: Tensor<B, 5>) -> ShapeJudgement<B> {
        let [n, t, c, s, _] = boxes.dims();
        let pairs = Tensor::cat(vec![boxes.clone(), masks.clone()], 2).reshape([n * t, c + 1, s, s]);
        let (instance, _) = self.instance.forward(pairs);
        let all_boxes = boxes.clone().sum_dim(1).clamp(0.0, 1.0).reshape([n, c, s, s]);
        let (global, features) = self.global.forward(Tensor::cat(vec![all_boxes, semantic_layout(boxes, masks)], 1));
        ShapeJudgement { instance, global, features }
    }
}

/// The semantic layout [N, C, S, S]: per class, the union (maximum) of its boxes' masks.
pub fn semantic_layout<B: Backend>(boxes: Tensor<B, 5>, masks: Tensor<B, 5>) -> Tensor<B, 4> {
    let [n, _, c, s, _] = boxes.dims();
    // Box maps are one-hot over classes, so box · mask puts each mask on its class channel.
    (boxes * masks).max_dim(1).reshape([n, c, s, s])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    use crate::models::layout::boxes::{LayoutBox, box_maps};

    type B = crate::CpuBackend;

    fn cfg() -> LayoutConfig {
        crate::config::RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny-layout.toml"))
            .unwrap()
            .model
            .layout
            .unwrap()
    }

    #[test]
    fn masks_stay_inside_their_boxes() {
        let cfg = cfg();
        let dev = Default::default();
        let g = ShapeGenerator::<B>::new(&cfg, &dev);
        let (c, t, s) = (cfg.classes.len(), cfg.max_objects, cfg.mask_size);
        let layouts = vec![
            vec![
                LayoutBox { class: 0, bbox: [0.1, 0.1, 0.4, 0.5] },
                LayoutBox { class: 2, bbox: [0.5, 0.5, 0.9, 0.8] },
            ],
            vec![LayoutBox { class: 1, bbox: [0.3, 0.2, 0.7, 0.6] }],
        ];
        let (maps, valid) = box_maps(&layouts, c, t, s);
        let boxes = Tensor::<B, 5>::from_data(TensorData::new(maps.clone(), [2, t, c, s, s]), &dev);
        let valid_t = Tensor::<B, 2>::from_data(TensorData::new(valid, [2, t]), &dev);
        let noise = Tensor::<B, 3>::random([2, t, cfg.shape_noise], Distribution::Normal(0.0, 1.0), &dev);
        let masks = g.forward(boxes.clone(), valid_t, noise);
        assert_eq!(masks.dims(), [2, t, 1, s, s]);
        let m = masks.clone().into_data().to_vec::<f32>().unwrap();
        let plane = s * s;
        let mut inside = 0.0;
        for slot in 0..2 * t {
            for p in 0..plane {
                let in_box = (0..c).any(|ch| maps[(slot * c + ch) * plane + p] == 1.0);
                let v = m[slot * plane + p];
                assert!((0.0..=1.0).contains(&v));
                if in_box {
                    inside += v;
                } else {
                    assert_eq!(v, 0.0, "slot {slot} pixel {p} outside its box");
                }
            }
        }
        assert!(inside > 0.0);
        let d = ShapeDiscriminators::<B>::new(&cfg, &dev);
        let j = d.forward(boxes.clone(), masks.clone());
        assert_eq!((j.instance.dims(), j.global.dims()), ([2 * t], [2]));
        let layout = semantic_layout(boxes, masks);
        assert_eq!(layout.dims(), [2, c, s, s]);
        // The second layout has only class 1.
        let l = layout.into_data().to_vec::<f32>().unwrap();
        let class_sum = |n: usize, ch: usize| l[(n * c + ch) * plane..(n * c + ch + 1) * plane].iter().sum::<f32>();
        assert!(class_sum(1, 1) > 0.0 && class_sum(1, 0) == 0.0 && class_sum(1, 2) == 0.0);
    }
}
