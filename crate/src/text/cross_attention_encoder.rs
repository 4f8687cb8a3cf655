//! CAE-GAN's cross-attention text encoder (Tan et al., "Text-to-Image Generation Technology
//! Based on Transformer Cross Attention", Computer Science 49(2), 2022): the BiLSTM's word
//! features attend to image features, so that the text code is aligned with what images of
//! it look like before it reaches a DM-GAN-style generator.
//!
//! With word features e [B, D, T], the BiLSTM sentence vector ē and image features
//! v [B, D_v, R]:
//! 1. cross-attention from normalised words: Q = LN(eᵀ)W_Q, K = vᵀW_K, V = vᵀW_V (width d),
//!    A = dropout(softmax(QKᵀ/√d)) over the R image positions;
//! 2. projection back to the word width, added to the words: H = eᵀ + (A·V)W_O;
//! 3. self-attention over the real words of LN(H) (padding masked, scaled, softmax), added:
//!    O = H + softmax(N W_q (N W_k)ᵀ/√D)·N W_v with N = LN(H);
//! 4. outputs: the word matrix W = Oᵀ [B, D, T] (0 at padding) and the sentence code
//!    f_c = ē + the mean over real words of O − eᵀ.
//!
//! The normalisations sit before each attention (pre-LN), both attentions add to what came
//! in, and the two maps that write into that sum (W_O, W_v) start near zero, so an untrained
//! encoder passes the BiLSTM's features through nearly unchanged. A
//! post-LN form (LN after each residual, f_c the mean of O) measured far worse under DAMSM
//! pretraining at equal steps; at lr_damsm 0.002 no form learns, at 0.0002 this one does (docs/MODELS.md).
//!
//! **What feeds the image side at inference.** A caption alone has no image. The encoder
//! therefore owns a learned visual memory, `image_memory` [R, D_v]: R learned image-feature
//! vectors used in place of v whenever no image is given, which the browser and `t2i sample`
//! always do. Whether training should show real image features (DAMSM region features) at
//! all is a measured choice, not assumed; see docs/MODELS.md once measured.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::nn::MASKED_LOGIT;

/// Widths of the encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossAttentionConfig {
    /// D: width of the word features (2 × the BiLSTM's hidden size).
    pub word_dim: usize,
    /// D_v: width of the image features.
    pub image_dim: usize,
    /// d: width of the cross-attention queries, keys and values.
    pub attention_dim: usize,
    /// R: slots of the learned visual memory.
    pub memory_slots: usize,
    /// Dropout on the cross-attention weights.
    pub dropout: f64,
}

#[derive(Module, Debug)]
pub struct CrossAttentionEncoder<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    out: Linear<B>,
    norm_cross: LayerNorm<B>,
    self_query: Linear<B>,
    self_key: Linear<B>,
    self_value: Linear<B>,
    norm_self: LayerNorm<B>,
    /// The learned visual memory [R, D_v] used when no image is given.
    image_memory: Param<Tensor<B, 2>>,
    drop: Dropout,
    attention_dim: usize,
}

/// Encoder outputs.
pub struct CrossAttended<B: Backend> {
    /// W [B, D, T], 0 at padding.
    pub words: Tensor<B, 3>,
    /// f_c [B, D].
    pub sentence: Tensor<B, 2>,
    /// Cross-attention weights [B, T, R] (rows of real words sum to 1).
    pub cross_attention: Tensor<B, 3>,
}

impl<B: Backend> CrossAttentionEncoder<B> {
    pub fn new(cfg: &CrossAttentionConfig, device: &B::Device) -> Self {
        let (dw, dv, d) = (cfg.word_dim, cfg.image_dim, cfg.attention_dim);
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        // The two maps that write into the residual stream start near zero, so training
        // starts from the BiLSTM's features (as zero-initialised residual branches do).
        let small =
            |i, o| LinearConfig::new(i, o).with_initializer(Initializer::Normal { mean: 0.0, std: 1e-3 }).init(device);
        Self {
            query: lin(dw, d),
            key: lin(dv, d),
            value: lin(dv, d),
            out: small(d, dw),
            norm_cross: LayerNormConfig::new(dw).init(device),
            self_query: lin(dw, dw),
            self_key: lin(dw, dw),
            self_value: small(dw, dw),
            norm_self: LayerNormConfig::new(dw).init(device),
            image_memory: Param::from_tensor(Tensor::random(
                [cfg.memory_slots, dv],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                device,
            )),
            drop: DropoutConfig::new(cfg.dropout).init(),
            attention_dim: d,
        }
    }

    /// words [B, D, T], sentence ē [B, D], pad [B, T] (true on padding), image features
    /// [B, D_v, R] or `None` for the learned visual memory.
    pub fn forward(
        &self,
        words: Tensor<B, 3>,
        sentence: Tensor<B, 2>,
        pad: Tensor<B, 2, Bool>,
        image: Option<Tensor<B, 3>>,
    ) -> CrossAttended<B> {
        let [b, dw, t] = words.dims();
        let regions = match image {
            Some(v) => v.swap_dims(1, 2), // [B, R, D_v]
            None => {
                let [r, dv] = self.image_memory.dims();
                self.image_memory.val().unsqueeze_dim::<3>(0).expand([b, r, dv])
            }
        };
        let e = words.swap_dims(1, 2); // [B, T, D]
        let valid = pad.clone().bool_not().float().unsqueeze_dim::<3>(2); // [B, T, 1]

        // 1–2: cross-attention from the normalised words to the image side, added to the words.
        let q = self.query.forward(self.norm_cross.forward(e.clone()));
        let k = self.key.forward(regions.clone());
        let v = self.value.forward(regions);
        let scale = 1.0 / (self.attention_dim as f64).sqrt();
        let cross = softmax(q.matmul(k.swap_dims(1, 2)).mul_scalar(scale), 2); // [B, T, R]
        let context = self.drop.forward(cross.clone()).matmul(v);
        let h = e.clone() + self.out.forward(context);

        // 3: self-attention over real words, added.
        let n = self.norm_self.forward(h.clone());
        let sq = self.self_query.forward(n.clone());
        let sk = self.self_key.forward(n.clone());
        let sv = self.self_value.forward(n);
        let logits = sq.matmul(sk.swap_dims(1, 2)).mul_scalar(1.0 / (dw as f64).sqrt()); // [B, T, T]
        let key_pad = pad.unsqueeze_dim::<3>(1).expand([b, t, t]);
        let att = softmax(logits.mask_fill(key_pad, MASKED_LOGIT), 2);
        let o = (h + att.matmul(sv)) * valid.clone();

        // 4: word matrix and sentence code (ē plus the mean update of the real words).
        let count = valid.clone().sum_dim(1).clamp_min(1.0).reshape([b, 1]); // [B, 1]
        let update = (o.clone() - e * valid).sum_dim(1).reshape([b, dw]) / count;
        let sentence = sentence + update;
        CrossAttended { words: o.swap_dims(1, 2), sentence, cross_attention: cross }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    fn cfg() -> CrossAttentionConfig {
        CrossAttentionConfig { word_dim: 8, image_dim: 6, attention_dim: 4, memory_slots: 5, dropout: 0.1 }
    }

    fn pad<Bk: Backend>(dev: &Bk::Device) -> Tensor<Bk, 2, Bool> {
        // Caption 0 has 3 words, caption 1 has 1.
        Tensor::<Bk, 2, Int>::from_data([[0, 0, 0], [0, 1, 1]], dev).equal_elem(1)
    }

    #[test]
    fn shapes_normalisation_and_padding() {
        let dev = Default::default();
        let enc = CrossAttentionEncoder::<B>::new(&cfg(), &dev);
        let words = Tensor::<B, 3>::random([2, 8, 3], Distribution::Normal(0.0, 1.0), &dev);
        let sent = Tensor::<B, 2>::random([2, 8], Distribution::Normal(0.0, 1.0), &dev);
        let image = Tensor::<B, 3>::random([2, 6, 7], Distribution::Normal(0.0, 1.0), &dev);
        for img in [Some(image), None] {
            let r = if img.is_some() { 7 } else { 5 };
            let out = enc.forward(words.clone(), sent.clone(), pad(&dev), img);
            assert_eq!(out.words.dims(), [2, 8, 3]);
            assert_eq!(out.sentence.dims(), [2, 8]);
            assert_eq!(out.cross_attention.dims(), [2, 3, r]);
            let sums = out.cross_attention.sum_dim(2).into_data().to_vec::<f32>().unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
            let w = out.words.clone().into_data().to_vec::<f32>().unwrap();
            // Caption 1's padded words (t = 1, 2) are zero in every channel.
            assert!((0..8).all(|c| w[(8 + c) * 3 + 1] == 0.0 && w[(8 + c) * 3 + 2] == 0.0));
            // Caption 1's sentence code is ē plus its only word's update.
            let s = out.sentence.into_data().to_vec::<f32>().unwrap();
            let (e, sb) =
                (words.clone().into_data().to_vec::<f32>().unwrap(), sent.clone().into_data().to_vec::<f32>().unwrap());
            assert!((0..8).all(|c| (s[8 + c] - (sb[8 + c] + w[(8 + c) * 3] - e[(8 + c) * 3])).abs() < 1e-5));
        }
    }

    #[test]
    fn padding_does_not_change_real_words() {
        let dev = Default::default();
        let enc = CrossAttentionEncoder::<B>::new(&cfg(), &dev);
        let words = Tensor::<B, 3>::random([1, 8, 2], Distribution::Normal(0.0, 1.0), &dev);
        let padded =
            Tensor::cat(vec![words.clone(), Tensor::random([1, 8, 2], Distribution::Normal(0.0, 1.0), &dev)], 2);
        let none = Tensor::<B, 2, Int>::from_data([[0, 0]], &dev).equal_elem(1);
        let two = Tensor::<B, 2, Int>::from_data([[0, 0, 1, 1]], &dev).equal_elem(1);
        let sent = Tensor::<B, 2>::random([1, 8], Distribution::Normal(0.0, 1.0), &dev);
        let a = enc.forward(words, sent.clone(), none, None);
        let b = enc.forward(padded, sent, two, None);
        let d = (a.sentence - b.sentence).abs().max().into_scalar();
        assert!(d < 1e-5, "padding leaked into the sentence code: {d}");
    }

    #[test]
    fn gradients_reach_every_parameter_and_the_memory() {
        let dev = Default::default();
        let mut c = cfg();
        c.dropout = 0.0;
        let enc = CrossAttentionEncoder::<AD>::new(&c, &dev);
        let words = Tensor::<AD, 3>::random([2, 8, 3], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let target = Tensor::<AD, 3>::random([2, 8, 3], Distribution::Normal(0.0, 1.0), &dev);
        let sent = Tensor::<AD, 2>::random([2, 8], Distribution::Normal(0.0, 1.0), &dev);
        let out = enc.forward(words.clone(), sent, pad(&dev), None);
        let loss = (out.words * target).sum() + out.sentence.powi_scalar(2).sum();
        let grads = loss.backward();
        assert!(words.grad(&grads).is_some());
        let (count, zero) = crate::nn::params_without_grad(&enc, &grads);
        // 7 linear layers (weight + bias), 2 layer norms (γ, β), the memory.
        assert_eq!(count, 7 * 2 + 2 * 2 + 1);
        assert!(zero.is_empty(), "parameters without gradient: {zero:?}");
    }
}
