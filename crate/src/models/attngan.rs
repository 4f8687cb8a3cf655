//! AttnGAN's multi-stage attentional generator (Xu et al. 2018, §3.1; `G_NET`), and
//! DM-GAN's (Zhu et al. 2019) and ECAGAN's, which share it but for the refinement stages'
//! word fusion (DM-GAN) or CARAFE up-sampling and ECA channel attention (ECAGAN).
//!
//! h0 = F0(z, F_ca(ē)) at 64 px; h_i = F_i(h_{i-1}, F_i^attn(e, h_{i-1})) doubling the side
//! at each refinement stage; x_i = G_i(h_i) a 3×3 convolution and tanh.
//! With `model.gan.first_stage_attention` (ours, AttnGAN and ECAGAN) F0 also attends over the
//! words on its 16×16 grid (`nn/early_word_attention.rs`).
//!
//! ECAGAN (`variant = "ecagan"`) changes two things and keeps AttnGAN's word attention:
//! - the first stage's four up-blocks upsample with CARAFE (`nn/carafe.rs`) instead of
//!   nearest-neighbour copying; the 3×3 conv → BN → GLU after it stays (it mixes channels and
//!   halves them), followed by an ECA gate. Only the first stage: it grows the whole layout from
//!   a 4×4 seed (16× per side), where a fixed copy kernel leaves 2×2 blocks that later layers
//!   must undo and content-aware kernels help most, and its grids are small (≤ 32×32 before
//!   the last doubling), so kernel prediction stays affordable (the four CARAFE up-blocks make
//!   the whole generator's CPU forward ~30 % slower). A refinement stage's up-block works on
//!   64×64 or larger grids after word attention and residual blocks have sharpened the
//!   features; there CARAFE (a 100-channel content encoder and 25-tap reassembly at 64×64)
//!   measured 3.5× the nearest up-block: +0.9 s on a 1.1 s generator forward (cpu preset,
//!   batch 16);
//! - each refinement stage applies the ECA conv block (conv3x3 → BN → GLU → ECA,
//!   `nn/channel_attention.rs`) as a residual branch after its residual blocks, so the channels
//!   that word attention appended are re-weighted before up-sampling.
//!
//! The ECAGAN modules are `Option`s that are absent in the other variants, so AttnGAN's and
//! DM-GAN's parameter names and checkpoints are unchanged.

use crate::nn::batch_norm::BatchNorm;
use crate::nn::glu::glu;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;

use crate::config::{GanConfig, TextConfig};
use crate::nn::channel_attention::EcaConvBlock;
use crate::nn::conditioning_augmentation::ConditioningAugmentation;
use crate::nn::conv3x3;
use crate::nn::dynamic_memory::DynamicMemory;
use crate::nn::early_word_attention::{AFTER_UP_BLOCKS, EarlyWordAttention};
use crate::nn::res_block::ResBlock;
use crate::nn::torch_autograd::Convolve;
use crate::nn::up_block::UpBlock;
use crate::nn::word_attention::WordAttention;

/// `INIT_STAGE_G`: [z ‖ c] → FC (BN, GLU) → 4×4×16gf → four up-blocks → 64×64×gf
/// (ECAGAN: CARAFE up-blocks with ECA, [`UpBlock::carafe`]); optionally word attention on
/// the 16×16 grid between the second and third up-block.
#[derive(Module, Debug)]
pub struct InitStage<B: Backend> {
    fc: Linear<B>,
    bn: BatchNorm<B>,
    ups: Vec<UpBlock<B>>,
    att: Option<EarlyWordAttention<B>>,
    ngf: usize,
}

impl<B: Backend> InitStage<B> {
    /// `carafe`: ECAGAN's CARAFE up-blocks instead of AttnGAN's nearest ones.
    pub fn new(ngf: usize, input_dim: usize, carafe: bool, device: &B::Device) -> Self {
        let up = |cin, cout| if carafe { UpBlock::carafe(cin, cout, device) } else { UpBlock::new(cin, cout, device) };
        let ups = (0..4).map(|i| up(ngf >> i, ngf >> (i + 1))).collect();
        Self {
            fc: LinearConfig::new(input_dim, ngf * 4 * 4 * 2).with_bias(false).init(device),
            bn: BatchNorm::new(ngf * 4 * 4 * 2, device),
            ups,
            att: None,
            ngf,
        }
    }

    /// Switches the word attention of the 16×16 grid on (new, passing the grid through
    /// unchanged until it learns) or off; `positional` as for the refinement stages.
    pub fn with_attention(mut self, on: bool, word_dim: usize, positional: bool, device: &B::Device) -> Self {
        self.att = match (on, self.att.take()) {
            (true, Some(att)) => Some(att.with_position(positional, device)),
            (true, None) => Some(EarlyWordAttention::new(self.ngf >> AFTER_UP_BLOCKS, word_dim, positional, device)),
            (false, _) => None,
        };
        self
    }

    /// z [B, Z], c [B, cond]; words [B, D, T] and pad [B, T] feed the optional attention.
    pub fn forward(
        &self,
        z: Tensor<B, 2>,
        c: Tensor<B, 2>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> Tensor<B, 4> {
        let b = z.dims()[0];
        let x = glu(self.bn.forward(self.fc.forward(Tensor::cat(vec![c, z], 1))));
        let mut h = x.reshape([b, self.ngf, 4, 4]);
        for (i, up) in self.ups.iter().enumerate() {
            if i == AFTER_UP_BLOCKS
                && let Some(att) = &self.att
            {
                h = att.forward(h, words.clone(), pad.clone()).0;
            }
            h = up.forward(h);
        }
        h
    }
}

/// `NEXT_STAGE_G`: words fused into the image features, then residual blocks and an
/// up-block. AttnGAN fuses by word attention, [h ‖ context]; DM-GAN by its dynamic memory,
/// [h' ‖ h'] with h' the memory-refined features (as the official DM-GAN code does).
/// Exactly one of `att` and `memory` is present; `eca` (ECAGAN: x + ECA-block(x) after the
/// residual blocks) only with `att`.
#[derive(Module, Debug)]
pub struct NextStage<B: Backend> {
    att: Option<WordAttention<B>>,
    memory: Option<DynamicMemory<B>>,
    res: Vec<ResBlock<B>>,
    eca: Option<EcaConvBlock<B>>,
    up: UpBlock<B>,
}

impl<B: Backend> NextStage<B> {
    /// `variant`: `attngan`, `dmgan` or `ecagan` (validated by the config); `positional`:
    /// the word attention's logits carry the region's position (`nn/word_attention.rs`).
    pub fn new(
        variant: &str,
        ngf: usize,
        word_dim: usize,
        res_blocks: usize,
        positional: bool,
        device: &B::Device,
    ) -> Self {
        let memory = variant == "dmgan";
        Self {
            att: (!memory).then(|| WordAttention::new(ngf, word_dim, positional, device)),
            memory: memory.then(|| DynamicMemory::new(ngf, word_dim, device)),
            res: (0..res_blocks).map(|_| ResBlock::new(ngf * 2, device)).collect(),
            eca: (variant == "ecagan").then(|| EcaConvBlock::new(ngf * 2, ngf * 2, device)),
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
        if let Some(eca) = &self.eca {
            x = x.clone() + eca.forward(x);
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
        tanh(self.conv.convolve(h))
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
            init: InitStage::new(gf * 16, gan.z_dim + gan.cond_dim, gan.variant == "ecagan", device).with_attention(
                gan.first_stage_attention,
                nef,
                gan.positional_attention,
                device,
            ),
            heads: (0..gan.stages).map(|_| ImageHead::new(gf, device)).collect(),
            next: (1..gan.stages)
                .map(|_| NextStage::new(&gan.variant, gf, nef, gan.res_blocks, gan.positional_attention, device))
                .collect(),
        }
    }

    /// Sets both attention switches to `gan`'s: the first stage's word attention
    /// (`model.gan.first_stage_attention`) and the position term in every word attention
    /// (`model.gan.positional_attention`). What a switch adds to a trained generator starts
    /// at zero, so the generator computes what it did before until the new weights learn.
    pub fn with_attention_switches(mut self, gan: &GanConfig, text: &TextConfig, device: &B::Device) -> Self {
        let positional = gan.positional_attention;
        self.init = self.init.with_attention(gan.first_stage_attention, text.feature_dim(), positional, device);
        for stage in &mut self.next {
            stage.att = stage.att.take().map(|a| a.with_position(positional, device));
        }
        self
    }

    /// Number of stages (images of 64·2^i px).
    pub fn num_stages(&self) -> usize {
        self.heads.len()
    }

    /// Stage 0 (`INIT_STAGE_G`): conditioning augmentation of the sentence vector, then the
    /// 4×4 → 64×64 feature map h₀ (the words [B, D, T] and pad [B, T] reach it only with
    /// `model.gan.first_stage_attention`). `eps` [B, cond] or `None` for c = μ.
    pub fn begin(
        &self,
        z: Tensor<B, 2>,
        sentence: Tensor<B, 2>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
        eps: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 4>, crate::nn::conditioning_augmentation::Conditioning<B>) {
        let cond = self.ca.forward(sentence, eps);
        let h = self.init.forward(z, cond.code.clone(), words, pad);
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
        let (mut h, cond) = self.begin(z, sentence, words.clone(), pad.clone(), eps);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use burn::module::Module;
    use burn::store::ModuleSnapshot;
    use burn::tensor::Distribution;

    use super::*;
    use crate::config::RunConfig;

    type B = crate::CpuBackend;

    fn generator(preset: &str, variant: &str) -> (Generator<B>, RunConfig) {
        let mut cfg = RunConfig::preset(preset).expect("preset");
        cfg.model.gan.variant = variant.into();
        (Generator::new(&cfg.model.gan, &cfg.model.text, &Default::default()), cfg)
    }

    fn shapes(g: &Generator<B>) -> BTreeMap<String, Vec<usize>> {
        g.collect(None, None, false).into_iter().map(|s| (s.full_path(), s.shape.to_vec())).collect()
    }

    #[test]
    fn ecagan_adds_modules_and_renames_none_of_attngans() {
        let (attn, _) = generator("tiny", "attngan");
        let (eca, _) = generator("tiny", "ecagan");
        let (a, e) = (shapes(&attn), shapes(&eca));
        for (name, shape) in &a {
            assert_eq!(e.get(name), Some(shape), "{name}");
        }
        let extra: Vec<&String> = e.keys().filter(|k| !a.contains_key(*k)).collect();
        assert!(extra.iter().any(|k| k.starts_with("init.ups.0.carafe.")), "{extra:?}");
        assert!(extra.iter().any(|k| k.starts_with("next.0.eca.")), "{extra:?}");
        assert!(extra.iter().all(|k| k.contains(".carafe.") || k.contains(".eca.")), "{extra:?}");
        // The refinement stages keep AttnGAN's nearest up-block and word attention.
        assert!(!e.keys().any(|k| k.starts_with("next.0.up.carafe") || k.contains("memory")));
    }

    /// Random generator inputs for two captions of five words, the second padded after three.
    struct Inputs {
        z: Tensor<B, 2>,
        sentence: Tensor<B, 2>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    }

    fn inputs(cfg: &RunConfig) -> Inputs {
        let dev = Default::default();
        let d = cfg.model.text.feature_dim();
        let normal = Distribution::Normal(0.0, 1.0);
        Inputs {
            z: Tensor::random([2, cfg.model.gan.z_dim], normal, &dev),
            sentence: Tensor::random([2, d], normal, &dev),
            words: Tensor::random([2, d, 5], normal, &dev),
            pad: Tensor::<B, 2, Int>::from_data([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], &dev).equal_elem(1),
        }
    }

    #[test]
    fn ecagan_generates_every_stage() {
        let (g, cfg) = generator("tiny", "ecagan");
        let Inputs { z, sentence, words, pad } = inputs(&cfg);
        let out = g.forward(z, sentence, words, pad, None);
        assert_eq!(out.images.iter().map(|i| i.dims()).collect::<Vec<_>>(), vec![[2, 3, 64, 64], [2, 3, 128, 128]]);
        assert_eq!(out.attention[0].dims(), [2, 5, 64, 64]);
        let m = out.images[1].clone().abs().max().into_scalar();
        assert!(m.is_finite() && m <= 1.0, "{m}");
    }

    /// Switched on in a trained generator, the first stage's word attention adds only its own
    /// weights and leaves every image as it was; with its mix trained, the first stage's image
    /// follows the words as well as the sentence.
    #[test]
    fn first_stage_attention_starts_as_no_change() {
        let (g, cfg) = generator("tiny", "attngan");
        let dev = Default::default();
        let Inputs { z, sentence, words, pad } = inputs(&cfg);
        let run = |g: &Generator<B>, words: Tensor<B, 3>| {
            let out = g.forward(z.clone(), sentence.clone(), words, pad.clone(), None);
            out.images.into_iter().map(|i| i.into_data().to_vec::<f32>().unwrap()).collect::<Vec<_>>()
        };
        let before = run(&g, words.clone());
        let before_names = shapes(&g);
        let mut gan = cfg.model.gan.clone();
        gan.first_stage_attention = true;
        let g = g.with_attention_switches(&gan, &cfg.model.text, &dev);
        assert_eq!(run(&g, words.clone()), before);
        let after_names = shapes(&g);
        let added: Vec<&String> = after_names.keys().filter(|k| !before_names.contains_key(*k)).collect();
        assert!(!added.is_empty() && added.iter().all(|k| k.starts_with("init.att.")), "{added:?}");
        assert_eq!(g.num_params(), Generator::<B>::new(&gan, &cfg.model.text, &dev).num_params());

        let mut g = g;
        let att = g.init.att.take().unwrap();
        let c = (cfg.model.gan.gf * 16) >> AFTER_UP_BLOCKS;
        let trained = Tensor::<B, 4>::random([c, c, 1, 1], Distribution::Normal(0.0, 0.3), &dev);
        g.init.att = Some(att.with_mix(trained));
        let moved = run(&g, words.clone());
        let other = run(&g, words.mul_scalar(-1.0));
        let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-4);
        assert!(differs(&moved[0], &before[0]), "the 64-px image takes in the words");
        assert!(differs(&moved[0], &other[0]), "and depends on which words");
    }

    /// Parameter counts and generator forward times of the three variants at the cpu preset.
    /// `cargo test -p t2i --lib attngan::tests::variant_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn variant_cost() {
        let dev = Default::default();
        for variant in GanConfig::VARIANTS {
            let (g, cfg) = generator("cpu", variant);
            let d = cfg.model.text.feature_dim();
            let bsz = 16;
            let z = Tensor::<B, 2>::random([bsz, cfg.model.gan.z_dim], Distribution::Normal(0.0, 1.0), &dev);
            let sentence = Tensor::<B, 2>::random([bsz, d], Distribution::Normal(0.0, 1.0), &dev);
            let words = Tensor::<B, 3>::random([bsz, d, 10], Distribution::Normal(0.0, 1.0), &dev);
            let pad = Tensor::<B, 2, Int>::zeros([bsz, 10], &dev).equal_elem(1);
            let mut times = Vec::new();
            for _ in 0..4 {
                let t0 = web_time::Instant::now();
                let out = g.forward(z.clone(), sentence.clone(), words.clone(), pad.clone(), None);
                drop(out.images);
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!("{variant}: {} parameters, forward batch {bsz}: {:.0} ms", g.num_params(), times[1]);
        }
    }
}
