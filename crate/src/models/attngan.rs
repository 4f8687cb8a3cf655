//! AttnGAN's multi-stage attentional generator (Xu et al. 2018, §3.1; `G_NET`), and
//! DM-GAN's (Zhu et al. 2019), which shares it but for the refinement stages' word fusion.
//!
//! h0 = F0(z, F_ca(ē)) at 64 px; h_i = F_i(h_{i-1}, F_i^attn(e, h_{i-1})) doubling the side
//! at each refinement stage; x_i = G_i(h_i) a 3×3 convolution and tanh.

use crate::nn::batch_norm::BatchNorm;
use crate::nn::glu::glu;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;

use crate::config::{GanConfig, TextConfig};
use crate::nn::conditioning_augmentation::ConditioningAugmentation;
use crate::nn::conv3x3;
use crate::nn::dynamic_memory::DynamicMemory;
use crate::nn::res_block::ResBlock;
use crate::nn::up_block::UpBlock;
use crate::nn::word_attention::WordAttention;

/// `INIT_STAGE_G`: [z ‖ c] → FC (BN, GLU) → 4×4×16gf → four up-blocks → 64×64×gf.
#[derive(Module, Debug)]
pub struct InitStage<B: Backend> {
    fc: Linear<B>,
    bn: BatchNorm<B>,
    ups: Vec<UpBlock<B>>,
    ngf: usize,
}

impl<B: Backend> InitStage<B> {
    pub fn new(ngf: usize, input_dim: usize, device: &B::Device) -> Self {
        let ups = (0..4).map(|i| UpBlock::new(ngf >> i, ngf >> (i + 1), device)).collect();
        Self {
            fc: LinearConfig::new(input_dim, ngf * 4 * 4 * 2).with_bias(false).init(device),
            bn: BatchNorm::new(ngf * 4 * 4 * 2, device),
            ups,
            ngf,
        }
    }

    pub fn forward(&self, z: Tensor<B, 2>, c: Tensor<B, 2>) -> Tensor<B, 4> {
        let b = z.dims()[0];
        let x = glu(self.bn.forward(self.fc.forward(Tensor::cat(vec![c, z], 1))));
        let mut h = x.reshape([b, self.ngf, 4, 4]);
        for up in &self.ups {
            h = up.forward(h);
        }
        h
    }
}

/// `NEXT_STAGE_G`: words fused into the image features, then residual blocks and an
/// up-block. AttnGAN fuses by word attention, [h ‖ context]; DM-GAN by its dynamic memory,
/// [h' ‖ h'] with h' the memory-refined features (as the official DM-GAN code does).
/// Exactly one of `att` and `memory` is present.
#[derive(Module, Debug)]
pub struct NextStage<B: Backend> {
    att: Option<WordAttention<B>>,
    memory: Option<DynamicMemory<B>>,
    res: Vec<ResBlock<B>>,
    up: UpBlock<B>,
}

impl<B: Backend> NextStage<B> {
    /// `variant`: `attngan` or `dmgan` (validated by the config).
    pub fn new(variant: &str, ngf: usize, word_dim: usize, res_blocks: usize, device: &B::Device) -> Self {
        let memory = variant == "dmgan";
        Self {
            att: (!memory).then(|| WordAttention::new(ngf, word_dim, device)),
            memory: memory.then(|| DynamicMemory::new(ngf, word_dim, device)),
            res: (0..res_blocks).map(|_| ResBlock::new(ngf * 2, device)).collect(),
            up: UpBlock::new(ngf * 2, ngf, device),
        }
    }

    /// Returns the next hidden state and the attention maps [B, T, h, w] over the input grid.
    pub fn forward(
        &self,
        h: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (mut x, attn) = match (&self.memory, &self.att) {
            (Some(memory), _) => {
                let (refined, attn) = memory.forward(h, words, pad);
                (Tensor::cat(vec![refined.clone(), refined], 1), attn)
            }
            (None, Some(att)) => {
                let (context, attn) = att.forward(h.clone(), words, pad);
                (Tensor::cat(vec![h, context], 1), attn)
            }
            (None, None) => unreachable!("NextStage::new always builds one word-fusion module"),
        };
        for block in &self.res {
            x = block.forward(x);
        }
        (self.up.forward(x), attn)
    }
}

/// `GET_IMAGE_G`: 3×3 convolution to RGB and tanh.
#[derive(Module, Debug)]
pub struct ImageHead<B: Backend> {
    conv: Conv2d<B>,
}

impl<B: Backend> ImageHead<B> {
    pub fn new(ngf: usize, device: &B::Device) -> Self {
        Self { conv: conv3x3(ngf, 3, device) }
    }
    pub fn forward(&self, h: Tensor<B, 4>) -> Tensor<B, 4> {
        tanh(self.conv.forward(h))
    }
}

/// The whole generator `G_NET`.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    pub ca: ConditioningAugmentation<B>,
    init: InitStage<B>,
    heads: Vec<ImageHead<B>>,
    next: Vec<NextStage<B>>,
}

/// Generator output: one image per stage in [-1, 1], attention maps per refinement stage.
pub struct GeneratorOutput<B: Backend> {
    pub images: Vec<Tensor<B, 4>>,
    /// `attention[i]` [B, T, s, s] belongs to stage i+1 (computed on stage i's grid).
    pub attention: Vec<Tensor<B, 4>>,
    pub mu: Tensor<B, 2>,
    pub logvar: Tensor<B, 2>,
}

impl<B: Backend> Generator<B> {
    pub fn new(gan: &GanConfig, text: &TextConfig, device: &B::Device) -> Self {
        let nef = text.feature_dim();
        let gf = gan.gf;
        Self {
            ca: ConditioningAugmentation::new(nef, gan.cond_dim, device),
            init: InitStage::new(gf * 16, gan.z_dim + gan.cond_dim, device),
            heads: (0..gan.stages).map(|_| ImageHead::new(gf, device)).collect(),
            next: (1..gan.stages).map(|_| NextStage::new(&gan.variant, gf, nef, gan.res_blocks, device)).collect(),
        }
    }

    /// Number of stages (images of 64·2^i px).
    pub fn num_stages(&self) -> usize {
        self.heads.len()
    }

    /// Stage 0 (`INIT_STAGE_G`): conditioning augmentation of the sentence vector, then the
    /// 4×4 → 64×64 feature map h₀. `eps` [B, cond] or `None` for c = μ.
    pub fn begin(
        &self,
        z: Tensor<B, 2>,
        sentence: Tensor<B, 2>,
        eps: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 4>, crate::nn::conditioning_augmentation::Conditioning<B>) {
        let cond = self.ca.forward(sentence, eps);
        let h = self.init.forward(z, cond.code.clone());
        (h, cond)
    }

    /// Refinement stage `stage` ≥ 1 (`NEXT_STAGE_G`): h_{i-1} and word features → h_i and
    /// the word attention [B, T, s, s] computed on h_{i-1}'s grid (AttnGAN Eq. 2).
    pub fn refine(
        &self,
        stage: usize,
        h: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        self.next[stage - 1].forward(h, words, pad)
    }

    /// The image of stage `stage` in [-1, 1] (`GET_IMAGE_G`).
    pub fn image(&self, stage: usize, h: Tensor<B, 4>) -> Tensor<B, 4> {
        self.heads[stage].forward(h)
    }

    /// All stages at once. z [B, Z], sentence [B, D], words [B, D, T], pad [B, T]; `eps`
    /// [B, cond] or `None` for c = μ.
    pub fn forward(
        &self,
        z: Tensor<B, 2>,
        sentence: Tensor<B, 2>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
        eps: Option<Tensor<B, 2>>,
    ) -> GeneratorOutput<B> {
        let (mut h, cond) = self.begin(z, sentence, eps);
        let mut images = vec![self.image(0, h.clone())];
        let mut attention = Vec::new();
        for stage in 1..self.num_stages() {
            let (h_next, attn) = self.refine(stage, h, words.clone(), pad.clone());
            h = h_next;
            images.push(self.image(stage, h.clone()));
            attention.push(attn);
        }
        GeneratorOutput { images, attention, mu: cond.mu, logvar: cond.logvar }
    }
}
