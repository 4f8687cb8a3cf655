//! Word-level attention of the refinement stages (AttnGAN §3.1, Eq. 2–3;
//! `GlobalAttentionGeneral` in the official code).
//!
//! Word features e [B, D, T] are projected into the image feature space (U·e, a 1×1
//! convolution), every sub-region h_j attends over the words with a softmax over real
//! words only (padding is masked), and the word-context c_j = Σ_i β_{j,i} e'_i is returned
//! with the attention maps β laid out as [B, T, h, w].
//!
//! Optionally (`model.gan.positional_attention`) the query of each sub-region also carries
//! where it is: h_j + W·p_j, with p_j = (x, y) ∈ [-1, 1]² the region's centre and W [C, 2]
//! learned, starting at zero. Eq. 2 compares content only, so two objects of one size offer
//! the same query wherever they stand; "a red circle right of a blue square" then cannot tell
//! the right-hand object from the left-hand one, while the contextual word features (BiLSTM
//! states) do know which noun phrase precedes "right of". The position term lets a region on
//! the right prefer the words in the right-hand role. This extension is ours, not AttnGAN's.
//! The coordinates enter scaled by [`POSITION_GAIN`]: Adam moves each weight by about the
//! learning rate per step whatever its gradient, so the gain sets how fast a zero start can
//! reach the scale of the image features (at 5e-5 a step, about 1 in 2,500 steps).

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::{MASKED_LOGIT, conv1x1};
use crate::nn::torch_autograd::Convolve;

/// Scale of the region coordinates in the position term (see the module doc).
pub const POSITION_GAIN: f32 = 8.0;

#[derive(Module, Debug)]
pub struct WordAttention<B: Backend> {
    conv_context: Conv2d<B>,
    /// W [C, 2] of the position term of the query (see the module doc), when switched on.
    position: Option<Param<Tensor<B, 2>>>,
}

impl<B: Backend> WordAttention<B> {
    /// `image_dim` = channels of h, `word_dim` = width of the word features, `positional`:
    /// queries carry the region's position (starting at zero, so the output is Eq. 2's).
    pub fn new(image_dim: usize, word_dim: usize, positional: bool, device: &B::Device) -> Self {
        let s = Self { conv_context: conv1x1(word_dim, image_dim, device), position: None };
        s.with_position(positional, device)
    }

    /// Switches the position term on (a zero W unless it is already on, so a trained
    /// attention computes what it did before) or off.
    pub fn with_position(mut self, on: bool, device: &B::Device) -> Self {
        self.position = match (on, self.position.take()) {
            (true, Some(w)) => Some(w),
            (true, None) => {
                let c = self.conv_context.weight.dims()[0];
                Some(Param::from_tensor(Tensor::zeros([c, 2], device)))
            }
            (false, _) => None,
        };
        self
    }

    /// U [C, D, 1, 1], the projection of the words into the image feature space.
    #[cfg(test)]
    pub(crate) fn projection_weight(&self) -> Tensor<B, 4> {
        self.conv_context.weight.val()
    }

    /// Whether queries carry the region's position.
    pub fn positional(&self) -> bool {
        self.position.is_some()
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
        let mut query = h.reshape([b, c, q]); // [B, C, Q]
        if let Some(w) = &self.position {
            let centres = region_centres::<B>(ih, iw, &query.device()).mul_scalar(POSITION_GAIN);
            let offset = w.val().matmul(centres.transpose()); // [C, Q]
            query = query + offset.unsqueeze_dim::<3>(0);
        }
        let target = query.swap_dims(1, 2); // [B, Q, C]
        let source = self.conv_context.convolve(words.unsqueeze_dim::<4>(3)).reshape([b, c, t]); // [B, C, T]
        let logits = target.matmul(source.clone()); // [B, Q, T]
        let mask = pad.unsqueeze_dim::<3>(1).expand([b, q, t]);
        let attn = softmax(logits.mask_fill(mask, MASKED_LOGIT), 2);
        let attn_t = attn.swap_dims(1, 2); // [B, T, Q]
        let context = source.matmul(attn_t.clone()).reshape([b, c, ih, iw]);
        (context, attn_t.reshape([b, t, ih, iw]))
    }
}

/// Centres (x, y) ∈ [-1, 1]² of the cells of an h×w grid, row-major [h·w, 2].
fn region_centres<B: Backend>(h: usize, w: usize, device: &B::Device) -> Tensor<B, 2> {
    let coord = |i: usize, n: usize| (2.0 * i as f32 + 1.0) / n as f32 - 1.0;
    let data: Vec<f32> = (0..h * w).flat_map(|k| [coord(k % w, w), coord(k / w, h)]).collect();
    Tensor::from_data(TensorData::new(data, [h * w, 2]), device)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{CpuBackend as B, CpuTrainBackend as AD};
    use burn::tensor::Distribution;

    /// Random h [2, 6, 4, 4], words [2, 5, 3] and pad [2, 3] (the first caption padded at the end).
    pub(crate) fn inputs<B: Backend>(device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 3>, Tensor<B, 2, Bool>) {
        let h = Tensor::random([2, 6, 4, 4], Distribution::Normal(0.0, 1.0), device);
        let words = Tensor::random([2, 5, 3], Distribution::Normal(0.0, 1.0), device);
        let pad = Tensor::<B, 2, Int>::from_ints([[0, 0, 1], [0, 0, 0]], device).equal_elem(1);
        (h, words, pad)
    }

    #[test]
    fn region_centres_span_the_grid() {
        let c = region_centres::<B>(2, 4, &Default::default()).into_data().to_vec::<f32>().unwrap();
        // Row 0: x = -0.75, -0.25, 0.25, 0.75 at y = -0.5; row 1 at y = 0.5.
        assert_eq!(&c[..8], &[-0.75, -0.5, -0.25, -0.5, 0.25, -0.5, 0.75, -0.5]);
        assert_eq!(&c[8..10], &[-0.75, 0.5]);
    }

    #[test]
    fn the_position_term_starts_at_eq_2_and_then_moves_attention_by_place() {
        let dev = Default::default();
        let plain = WordAttention::<B>::new(6, 5, false, &dev);
        let (h, words, pad) = inputs::<B>(&dev);
        // Parameters initialise lazily: run the plain module before cloning it.
        let (c0, a0) = plain.forward(h.clone(), words.clone(), pad.clone());
        let positional = plain.clone().with_position(true, &dev);
        assert!(positional.positional() && !plain.positional());
        let (c1, a1) = positional.forward(h.clone(), words.clone(), pad.clone());
        c0.into_data().assert_approx_eq::<f32>(&c1.into_data(), burn::tensor::Tolerance::absolute(1e-6));
        a0.clone().into_data().assert_approx_eq::<f32>(&a1.into_data(), burn::tensor::Tolerance::absolute(1e-6));

        // With W ≠ 0 the same content attends differently on the left and the right: give
        // every region the same features, and the maps then differ only by position.
        let mut moved = positional.clone();
        moved.position = Some(Param::from_tensor(Tensor::random([6, 2], Distribution::Normal(0.0, 1.0), &dev)));
        let flat = Tensor::<B, 4>::ones([2, 6, 4, 4], &dev);
        let (_, same) = positional.forward(flat.clone(), words.clone(), pad.clone());
        let (_, by_place) = moved.forward(flat, words, pad.clone());
        let column = |a: &Tensor<B, 4>, x: usize| a.clone().slice([0..1, 0..1, 0..1, x..x + 1]).into_scalar();
        assert!((column(&same, 0) - column(&same, 3)).abs() < 1e-6);
        assert!((column(&by_place, 0) - column(&by_place, 3)).abs() > 1e-4);
        // Padding stays masked.
        let padded = by_place.slice([0..1, 2..3, 0..4, 0..4]).abs().max().into_scalar();
        assert!(padded < 1e-6, "{padded}");
        assert!(column(&a0, 0).is_finite());
    }

    #[test]
    fn the_position_weights_get_gradients() {
        let dev = Default::default();
        let att = WordAttention::<AD>::new(6, 5, true, &dev);
        let (h, words, pad) = inputs::<AD>(&dev);
        let (context, _) = att.forward(h, words, pad);
        let grads = context.powf_scalar(2.0).sum().backward();
        let w = att.position.as_ref().expect("on");
        let g = w.grad(&grads).expect("W has a gradient");
        assert!(g.abs().sum().into_scalar() > 0.0);
    }
}
