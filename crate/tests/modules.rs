//! Shapes, masking and gradients of every network module (tiny widths, CPU backend).

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use t2i::config::GlobalCode;
use t2i::config::RunConfig;
use t2i::data::batcher::tokens_tensor;
use t2i::models::attngan::Generator;
use t2i::models::damsm::{ImageEncoder, matching_loss, matching_loss_with_negatives, sentence_scores, word_scores};
use t2i::models::discriminators::{DiscriminatorHeads, Discriminators};
use t2i::nn::word_attention::WordAttention;
use t2i::text::rnn_encoder::{RnnEncoder, TextFeatures};
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

fn tiny() -> t2i::config::ModelConfig {
    let mut m = RunConfig::preset("tiny").unwrap().model;
    m.text.vocab_size = 20;
    m
}

fn rows() -> Vec<Vec<u32>> {
    vec![vec![3, 4, 5, 6, 7], vec![8, 9, 2], vec![1, 2, 3, 4, 5]]
}

#[test]
fn text_encoder_shapes_and_padding_mask() {
    let dev = Default::default();
    let m = tiny();
    let enc = RnnEncoder::<B>::new(&m.text, &dev);
    let f = enc.forward(tokens_tensor(&rows(), &dev));
    let d = m.text.feature_dim();
    assert_eq!(f.words.dims(), [3, d, 5]);
    assert_eq!(f.sentence.dims(), [3, d]);
    // Padded positions of row 1 (length 3) have zero features.
    let pad_feats = f.words.clone().narrow(0, 1, 1).narrow(2, 3, 2).abs().sum().into_scalar();
    assert_eq!(pad_feats, 0.0);
    // Extra padding changes nothing: the features of [8, 9, 2] alone equal those in the batch.
    let alone = enc.forward(tokens_tensor(&[vec![8, 9, 2]], &dev));
    let a = alone.sentence.into_data().to_vec::<f32>().unwrap();
    let b = f.sentence.narrow(0, 1, 1).into_data().to_vec::<f32>().unwrap();
    let max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(max < 1e-5, "padding leaked into the sentence vector: {max}");
    let w_alone = alone.words.into_data().to_vec::<f32>().unwrap();
    let w_batch = f.words.narrow(0, 1, 1).narrow(2, 0, 3).into_data().to_vec::<f32>().unwrap();
    let max = w_alone.iter().zip(&w_batch).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(max < 1e-5, "padding leaked into word features: {max}");
}

#[test]
fn word_attention_sums_to_one_over_real_words() {
    let dev = Default::default();
    let att = WordAttention::<B>::new(6, 10, false, &dev);
    let h = Tensor::<B, 4>::random([2, 6, 4, 4], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let words = Tensor::<B, 3>::random([2, 10, 5], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let pad = tokens_tensor::<B>(&[vec![1, 2, 3, 4, 5], vec![1, 2]], &dev).equal_elem(0);
    let (ctx, attn) = att.forward(h, words, pad);
    assert_eq!(ctx.dims(), [2, 6, 4, 4]);
    assert_eq!(attn.dims(), [2, 5, 4, 4]);
    let sums = attn.clone().sum_dim(1).into_data().to_vec::<f32>().unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    let padded = attn.narrow(0, 1, 1).narrow(1, 2, 3).abs().sum().into_scalar();
    assert!(padded < 1e-12, "attention on padding: {padded}");
}

#[test]
fn generator_and_discriminator_shapes() {
    let dev = Default::default();
    for stages in 1..=3 {
        let mut m = tiny();
        m.gan.stages = stages;
        let g = Generator::<B>::new(&m.gan, &m.text, &dev);
        let d = m.text.feature_dim();
        let z = Tensor::<B, 2>::zeros([2, m.gan.z_dim], &dev);
        let s = Tensor::<B, 2>::ones([2, d], &dev);
        let w = Tensor::<B, 3>::ones([2, d, 4], &dev);
        let pad = tokens_tensor::<B>(&[vec![1, 2, 3, 4], vec![1, 2]], &dev).equal_elem(0);
        let out = g.forward(z, s.clone(), w.clone(), pad.clone(), None);
        assert_eq!(out.images.len(), stages);
        for (i, img) in out.images.iter().enumerate() {
            assert_eq!(img.dims(), [2, 3, 64 << i, 64 << i]);
            let max = img.clone().abs().max().into_scalar();
            assert!(max <= 1.0);
        }
        assert_eq!(out.attention.len(), stages - 1);
        for (i, a) in out.attention.iter().enumerate() {
            assert_eq!(a.dims(), [2, 4, 64 << i, 64 << i]);
        }
        assert_eq!(out.mu.dims(), [2, m.gan.cond_dim]);
        let text = TextFeatures { words: w, sentence: s.clone(), pad };
        for on in [false, true] {
            let heads = DiscriminatorHeads { word_level: on, classifier: on, slots: on };
            let disc = Discriminators::<B>::new(&m.gan, &m.text, heads, &dev);
            for (i, st) in disc.stages.iter().enumerate() {
                let f = st.features(out.images[i].clone());
                assert_eq!(f.top.dims(), [2, m.gan.df * 8, 4, 4]);
                assert_eq!(f.regions.dims()[2..], [8, 8]);
                assert_eq!(st.uncond_logits(&f).dims(), [2]);
                assert_eq!(st.cond_logits(&f, &text).dims(), [2]);
                assert_eq!(st.word_logits(&f).map(|w| w.dims()), on.then_some([2, m.text.vocab_size]));
                let no_targets = Tensor::<B, 2>::zeros([2, t2i::nn::slot_classifier::SLOT_LOGITS], &dev);
                assert_eq!(st.slot_log_likelihood(&f, no_targets).map(|l| l.dims()), on.then_some([2]));
            }
        }
    }
}

#[test]
fn damsm_encoder_shapes_and_scores() {
    let dev = Default::default();
    let m = tiny();
    let enc = ImageEncoder::<B>::new(&m.damsm, &m.text, &dev);
    let img = Tensor::<B, 4>::zeros([3, 3, 128, 128], &dev);
    let f = enc.forward(img);
    let d = m.text.feature_dim();
    assert_eq!(f.regions.dims(), [3, d, 8, 8]);
    assert_eq!(f.global.dims(), [3, d]);
    let text = RnnEncoder::<B>::new(&m.text, &dev).forward(tokens_tensor(&rows(), &dev));
    let ws = word_scores(f.regions, text.words, text.pad, &m.damsm);
    assert_eq!(ws.dims(), [3, 3]);
    let ss = sentence_scores(f.global, text.sentence, &m.damsm);
    assert_eq!(ss.dims(), [3, 3]);
    // Perfect scores give a near-zero loss; masked same-class pairs are not negatives.
    let perfect = Tensor::<B, 2>::eye(3, &dev).mul_scalar(50.0);
    let same = vec![vec![false; 3]; 3];
    let (l0, l1) = matching_loss(perfect, &same);
    assert!(l0.into_scalar() < 1e-6 && l1.into_scalar() < 1e-6);
    let flat = Tensor::<B, 2>::ones([3, 3], &dev);
    let mut same = vec![vec![false; 3]; 3];
    same[0][1] = true;
    same[1][0] = true;
    let (l0, _) = matching_loss(flat, &same);
    // rows 0 and 1 see 2 candidates, row 2 sees 3: mean of ln2, ln2, ln3.
    let want = (2.0 * 2f32.ln() + 3f32.ln()) / 3.0;
    assert!((l0.into_scalar() - want).abs() < 1e-5);
}

#[test]
fn hard_negatives_compete_only_with_their_own_image() {
    let dev = Default::default();
    let scores = Tensor::<B, 2>::eye(2, &dev).mul_scalar(5.0);
    let same = vec![vec![false; 2]; 2];
    let base = matching_loss(scores.clone(), &same).0.into_scalar();
    // Image 0's counterfactual scores as high as its caption: ln 2 is added to row 0 alone
    // (≈, the off-diagonal e^0 terms are tiny); image 1's counterfactual scores far below.
    let extra = Tensor::<B, 2>::from_floats([[5.0, 9.0], [-3.0, -20.0]], &dev);
    let with = matching_loss_with_negatives(scores.clone(), &same, extra, &[0, 1]).into_scalar();
    assert!((with - base - 2f32.ln() / 2.0).abs() < 0.02, "{base} {with}");
    // Extras owned by the other image are masked: their high scores change nothing.
    let swapped = Tensor::<B, 2>::from_floats([[9.0, -20.0], [-20.0, 9.0]], &dev);
    let masked = matching_loss_with_negatives(scores, &same, swapped, &[1, 0]).into_scalar();
    assert!((masked - base).abs() < 1e-5, "{base} {masked}");
}

#[test]
fn spatial_global_code_reads_the_whole_grid() {
    let dev = Default::default();
    let mut m = tiny();
    m.damsm.image_size = 64;
    let mut params = Vec::new();
    for global in [GlobalCode::Pooled, GlobalCode::Spatial] {
        m.damsm.global = global;
        let enc = ImageEncoder::<B>::new(&m.damsm, &m.text, &dev);
        params.push(enc.num_params());
        // A 128-px image is pooled to the encoder's 64 px first; both give one code per image.
        for side in [64, 128] {
            let img = Tensor::<B, 4>::random([2, 3, side, side], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
            let f = enc.forward(img);
            assert_eq!(f.global.dims(), [2, m.text.feature_dim()], "{global:?} {side}");
            assert!(f.global.abs().max().into_scalar().is_finite());
        }
    }
    // 64 px: 8×8 regions, a 4×4 tail grid of 2·8·width channels; the spatial map reads all 16
    // cells, so its linear layer has 15 more weights per channel and output dimension.
    let tail_channels = 2 * 8 * m.damsm.width;
    assert_eq!(params[1] - params[0], 15 * tail_channels * m.text.feature_dim());
}

#[test]
fn gradients_flow_to_every_generator_parameter() {
    let dev = Default::default();
    let m = tiny();
    let g = Generator::<AD>::new(&m.gan, &m.text, &dev);
    let d = m.text.feature_dim();
    let z = Tensor::<AD, 2>::random([2, m.gan.z_dim], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let s = Tensor::<AD, 2>::random([2, d], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<AD, 3>::random([2, d, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let pad = tokens_tensor::<AD>(&[vec![1, 2, 3], vec![1, 2, 3]], &dev).equal_elem(0);
    let eps = Tensor::<AD, 2>::random([2, m.gan.cond_dim], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let out = g.forward(z, s, w, pad, Some(eps));
    let loss =
        out.images.iter().fold(Tensor::<AD, 1>::zeros([1], &dev), |acc, i| acc + i.clone().powi_scalar(2).mean());
    let grads = GradientsParams::from_grads(loss.backward(), &g);
    let n_params = g.num_params();
    assert!(n_params > 0);
    // Every trainable tensor (not batch-norm running statistics) gets a nonzero gradient.
    struct Check<'a>(&'a GradientsParams, usize, Vec<String>);
    impl burn::module::ModuleVisitor<AD> for Check<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<AD, D>>) {
            if !p.val().is_require_grad() {
                return;
            }
            self.1 += 1;
            match self.0.get::<B, D>(p.id) {
                Some(g) if g.clone().abs().sum().into_scalar() > 0.0 => {}
                _ => self.2.push(format!("{:?}", p.id)),
            }
        }
    }
    let mut c = Check(&grads, 0, vec![]);
    g.visit(&mut c);
    assert!(c.1 > 20, "{}", c.1);
    assert!(c.2.is_empty(), "parameters without gradient: {:?}", c.2);
    assert_eq!(g.valid().num_params(), n_params);
}
