//! Word-level attention of the refinement stages (AttnGAN §3.1, Eq. 2–3;
//! `GlobalAttentionGeneral` in the official code).
//!
//! Word features e [B, D, T] are projected into the image feature space (U·e, a 1×1
//! convolution), every sub-region h_j attends over the words with a softmax over real
//! words only (padding is masked), and the word-context c_j = Σ_i β_{j,i} e'_i is returned
//! with the attention maps β laid out as [B, T, h, w].

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::{MASKED_LOGIT, conv1x1};
use crate::nn::torch_autograd::Convolve;

#[derive(Module, Debug)]
pub struct WordAttention<B: Backend> {
    conv_context: Conv2d<B>,
}

impl<B: Backend> WordAttention<B> {
    /// `image_dim` = channels of h, `word_dim` = width of the word features.
    pub fn new(image_dim: usize, word_dim: usize, device: &B::Device) -> Self {
        Self { conv_context: conv1x1(word_dim, image_dim, device) }
    }

    /// h [B, C, H, W], words [B, D, T], pad [B, T] (true on padding) →
    /// (word-context [B, C, H, W], attention [B, T, H, W]).
    pub fn forward(
        &self,
        h: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, c, ih, iw] = h.dims();
        let t = words.dims()[2];
        let q = ih * iw;
        let target = h.reshape([b, c, q]).swap_dims(1, 2); // [B, Q, C]
        let source = self.conv_context.convolve(words.unsqueeze_dim::<4>(3)).reshape([b, c, t]); // [B, C, T]
        let logits = target.matmul(source.clone()); // [B, Q, T]
        let mask = pad.unsqueeze_dim::<3>(1).expand([b, q, t]);
        let attn = softmax(logits.mask_fill(mask, MASKED_LOGIT), 2);
        let attn_t = attn.swap_dims(1, 2); // [B, T, Q]
        let context = source.matmul(attn_t.clone()).reshape([b, c, ih, iw]);
        (context, attn_t.reshape([b, t, ih, iw]))
    }
}
