//! DM-GAN's dynamic memory refinement (Zhu et al., CVPR 2019, §3.2; the refinement stage
//! `NEXT_STAGE_G` of the official code), used in place of AttnGAN's word attention.
//!
//! With image features R [B, C, H, W] and word features W [B, D, T]:
//! - **memory writing** (Eq. 3–4): a gate g_i = σ(A·w_i + B·r̄) per word from the word and the
//!   mean image feature r̄ (not back-propagated into R, as in the official code), and memory
//!   slots m_i = M_w(w_i)·g_i + M_r(r̄)·(1 − g_i), both maps 1×1 projections with ReLU to 2C;
//! - **key addressing and value reading** (Eq. 5–6): keys φ_K(m_i) and values φ_V(m_i) (1×1,
//!   ReLU, to C), α_{i,j} = softmax_i(r_jᵀ φ_K(m_i)) over real words (these are the attention
//!   maps the page shows), o_j = Σ_i α_{i,j} φ_V(m_i);
//! - **response gate** (Eq. 7–8): g^r_j = σ(W[o_j, r_j] + b), r_j^new = o_j·g^r_j + r_j·(1 − g^r_j).
//!
//! The 1×1 convolutions over words are [`Linear`] layers over [B, T, ·].

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, softmax};

use super::MASKED_LOGIT;
use crate::nn::torch_autograd::Convolve;

#[derive(Module, Debug)]
pub struct DynamicMemory<B: Backend> {
    /// A: word → writing-gate logit.
    word_gate: Linear<B>,
    /// B: mean image feature → writing-gate logit.
    image_gate: Linear<B>,
    /// M_w: word → memory slot (2C).
    write_word: Linear<B>,
    /// M_r: mean image feature → memory slot (2C).
    write_image: Linear<B>,
    /// φ_K: memory → key (C).
    key: Linear<B>,
    /// φ_V: memory → value (C).
    value: Linear<B>,
    /// Response gate over [R ‖ O] (1×1 convolution to one channel).
    response: Conv2d<B>,
}

impl<B: Backend> DynamicMemory<B> {
    /// `image_dim` = C (channels of R), `word_dim` = D.
    pub fn new(image_dim: usize, word_dim: usize, device: &B::Device) -> Self {
        let c = image_dim;
        Self {
            word_gate: LinearConfig::new(word_dim, 1).with_bias(false).init(device),
            image_gate: LinearConfig::new(c, 1).with_bias(false).init(device),
            write_word: LinearConfig::new(word_dim, 2 * c).init(device),
            write_image: LinearConfig::new(c, 2 * c).init(device),
            key: LinearConfig::new(2 * c, c).init(device),
            value: LinearConfig::new(2 * c, c).init(device),
            response: Conv2dConfig::new([2 * c, 1], [1, 1]).init(device),
        }
    }

    /// h [B, C, H, W], words [B, D, T], pad [B, T] (true on padding) →
    /// (refined features [B, C, H, W], addressing weights [B, T, H, W]).
    pub fn forward(
        &self,
        h: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, c, ih, iw] = h.dims();
        let t = words.dims()[2];
        let q = ih * iw;
        let flat = h.clone().reshape([b, c, q]);
        // r̄: the mean image feature, detached as in the official code.
        let mean = flat.clone().mean_dim(2).reshape([b, c]).detach();
        let words_t = words.swap_dims(1, 2); // [B, T, D]

        // Memory writing (Eq. 3–4).
        let gate =
            sigmoid(self.word_gate.forward(words_t.clone()) + self.image_gate.forward(mean.clone()).reshape([b, 1, 1]));
        let from_words = relu(self.write_word.forward(words_t)); // [B, T, 2C]
        let from_image = relu(self.write_image.forward(mean)).reshape([b, 1, 2 * c]);
        let memory = from_words * gate.clone() + from_image * gate.neg().add_scalar(1.0);

        // Key addressing and value reading (Eq. 5–6).
        let key = relu(self.key.forward(memory.clone())); // [B, T, C]
        let value = relu(self.value.forward(memory)); // [B, T, C]
        let logits = flat.swap_dims(1, 2).matmul(key.swap_dims(1, 2)); // [B, Q, T]
        let mask = pad.unsqueeze_dim::<3>(1).expand([b, q, t]);
        let attn = softmax(logits.mask_fill(mask, MASKED_LOGIT), 2).swap_dims(1, 2); // [B, T, Q]
        let read = value.swap_dims(1, 2).matmul(attn.clone()).reshape([b, c, ih, iw]);

        // Response gate (Eq. 7–8).
        let g = sigmoid(self.response.convolve(Tensor::cat(vec![h.clone(), read.clone()], 1))); // [B, 1, H, W]
        let g = g.expand([b, c, ih, iw]);
        let refined = read * g.clone() + h * g.neg().add_scalar(1.0);
        (refined, attn.reshape([b, t, ih, iw]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;

    #[test]
    fn addressing_sums_to_one_over_real_words_and_shapes_hold() {
        let dev = Default::default();
        let m = DynamicMemory::<B>::new(8, 6, &dev);
        let h = Tensor::<B, 4>::random([2, 8, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
        let words = Tensor::<B, 3>::random([2, 6, 4], Distribution::Normal(0.0, 1.0), &dev);
        // Caption 0 has 4 words, caption 1 has 2.
        let pad = Tensor::<B, 2, Int>::from_data([[0, 0, 0, 0], [0, 0, 1, 1]], &dev).equal_elem(1);
        let (out, attn) = m.forward(h, words, pad);
        assert_eq!(out.dims(), [2, 8, 5, 4]);
        assert_eq!(attn.dims(), [2, 4, 5, 4]);
        let a = attn.into_data().to_vec::<f32>().unwrap();
        for bi in 0..2 {
            for p in 0..20 {
                let s: f32 = (0..4).map(|ti| a[(bi * 4 + ti) * 20 + p]).sum();
                assert!((s - 1.0).abs() < 1e-5, "sum {s}");
            }
        }
        let padded: f32 = a[(4 + 2) * 20..(4 + 4) * 20].iter().sum();
        assert!(padded < 1e-6, "padding got weight {padded}");
    }

    #[test]
    fn gradients_reach_every_parameter() {
        type AD = crate::CpuTrainBackend;

        let dev = Default::default();
        let m = DynamicMemory::<AD>::new(8, 6, &dev);
        let h = Tensor::<AD, 4>::random([2, 8, 4, 4], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let words = Tensor::<AD, 3>::random([2, 6, 3], Distribution::Normal(0.0, 1.0), &dev);
        let pad = Tensor::<AD, 2, Int>::from_data([[0, 0, 0], [0, 0, 1]], &dev).equal_elem(1);
        let (out, attn) = m.forward(h.clone(), words, pad);
        let target = Tensor::<AD, 4>::random([2, 8, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let loss = (out * target).sum() + attn.powi_scalar(2).sum();
        let grads = loss.backward();
        assert!(h.grad(&grads).is_some(), "no gradient reaches the image features");
        let (count, zero) = crate::nn::params_without_grad(&m, &grads);
        assert_eq!(count, 12, "weights and biases of the seven maps");
        assert!(zero.is_empty(), "parameters without gradient: {zero:?}");
    }
}
