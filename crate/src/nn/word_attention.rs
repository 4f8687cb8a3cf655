//! Word-level attention of the refinement stages (AttnGAN §3.1, Eq. 2–3;
//! `GlobalAttentionGeneral` in the official code).
//!
//! Word features e [B, D, T] are projected into the image feature space (U·e, a 1×1
//! convolution), every sub-region h_j attends over the words with a softmax over real
//! words only (padding is masked), and the word-context c_j = Σ_i β_{j,i} e'_i is returned
//! with the attention maps β laid out as [B, T, h, w].
//!
//! Optionally (`model.gan.positional_attention`) each logit also carries where the region is
//! and where the word asks to be: logit_{j,i} = h_jᵀ(U·e_i) + g·p_jᵀ(A·e_i), with p_j = (x, y)
//! ∈ [-1, 1]² the region's centre, A [2, D] learned and g = [`POSITION_GAIN`]. Eq. 2 compares
//! content only, so two objects of one size offer the same query wherever they stand; "a red
//! circle right of a blue square" then cannot tell the right-hand object from the left-hand one,
//! while the contextual word features (BiLSTM states) do know which noun phrase precedes "right
//! of". A reads that role from the word features themselves, not through U: measured on the
//! shipped Shapes model (docs/MODELS.md, 2026-12-08), a linear read of the colour word's 256-d
//! feature tells its object's side in 93.8 % of one-size pairs, after the 128-px stage's U
//! (16-d) in 54.6 % (`scripts/word_role_probe.py`). The earlier form of this term, W·p_j added
//! to the query, reached the words only through U and sat at a saddle: its gradient needed a
//! side-aware U, and U's needed a non-zero W. This extension is ours, not AttnGAN's. A starts
//! at zero, so a trained attention computes Eq. 2 until it learns; the gain sets how fast that
//! zero start can move under Adam, which moves each weight by about the learning rate per step
//! whatever its gradient.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;

use super::{MASKED_LOGIT, conv1x1};
use crate::nn::torch_autograd::Convolve;

/// g, the scale of the position term (see the module doc).
pub const POSITION_GAIN: f32 = 8.0;

#[derive(Module, Debug)]
pub struct WordAttention<B: Backend> {
    conv_context: Conv2d<B>,
    /// A [2, D] of the position term (see the module doc): the place each word asks for,
    /// when switched on.
    word_position: Option<Param<Tensor<B, 2>>>,
}

impl<B: Backend> WordAttention<B> {
    /// `image_dim` = channels of h, `word_dim` = width of the word features, `positional`:
    /// the logits carry the position term (starting at zero, so the output is Eq. 2's).
    pub fn new(image_dim: usize, word_dim: usize, positional: bool, device: &B::Device) -> Self {
        let s = Self { conv_context: conv1x1(word_dim, image_dim, device), word_position: None };
        s.with_position(positional, device)
    }

    /// Switches the position term on (a zero A unless it is already on, so a trained
    /// attention computes what it did before) or off.
    pub fn with_position(mut self, on: bool, device: &B::Device) -> Self {
        self.word_position = match (on, self.word_position.take()) {
            (true, Some(a)) => Some(a),
            (true, None) => {
                let d = self.conv_context.weight.dims()[1];
                Some(Param::from_tensor(Tensor::zeros([2, d], device)))
            }
            (false, _) => None,
        };
        self
    }

    /// A drawn from N(0, std²) instead of zero, when the term is on: for a block whose output
    /// does not depend on the attention yet (the first stage's, whose mix starts at zero), so
    /// the word context it offers already differs by place and the mix has a reason to grow.
    pub fn with_random_word_position(mut self, std: f64, device: &B::Device) -> Self {
        if let Some(a) = &self.word_position {
            let dims = a.dims();
            self.word_position = Some(Param::from_tensor(Tensor::random(dims, Distribution::Normal(0.0, std), device)));
        }
        self
    }

    /// U [C, D, 1, 1], the projection of the words into the image feature space.
    #[cfg(test)]
    pub(crate) fn projection_weight(&self) -> Tensor<B, 4> {
        self.conv_context.weight.val()
    }

    /// Whether the logits carry the position term.
    pub fn positional(&self) -> bool {
        self.word_position.is_some()
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
        let source = self.conv_context.convolve(words.clone().unsqueeze_dim::<4>(3)).reshape([b, c, t]); // [B, C, T]
        let mut logits = target.matmul(source.clone()); // [B, Q, T]
        if let Some(a) = &self.word_position {
            let device = logits.device();
            let places = a.val().unsqueeze_dim::<3>(0).expand([b, 2, a.dims()[1]]).matmul(words); // [B, 2, T]
            let centres = region_centres::<B>(ih, iw, &device).mul_scalar(POSITION_GAIN);
            logits = logits + centres.unsqueeze_dim::<3>(0).expand([b, q, 2]).matmul(places);
        }
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

        // With A ≠ 0 the same content attends differently on the left and the right: give
        // every region the same features, and the maps then differ only by position. (A small
        // A, so that the softmax does not saturate to the same word on both sides.)
        let mut moved = positional.clone();
        moved.word_position = Some(Param::from_tensor(Tensor::random([2, 5], Distribution::Normal(0.0, 0.1), &dev)));
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
        let a = att.word_position.as_ref().expect("on");
        let g = a.grad(&grads).expect("A has a gradient");
        assert!(g.abs().sum().into_scalar() > 0.0);
    }

    /// A reads the word features themselves: even where the projection U shows nothing of
    /// the words (U = 0), a loss on where the words land reaches A from its zero start. (The
    /// earlier term W·p_j in the query got its gradient through U e only, so a U blind to the
    /// words' roles left it without a signal.)
    #[test]
    fn the_position_term_learns_without_the_projection() {
        let dev = Default::default();
        let mut att = WordAttention::<AD>::new(6, 5, true, &dev);
        att.conv_context.weight = Param::from_tensor(Tensor::zeros([6, 5, 1, 1], &dev));
        let (h, words, pad) = inputs::<AD>(&dev);
        let target = Tensor::<AD, 4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let (_, attn) = att.forward(h, words, pad);
        let grads = (attn * target).sum().backward();
        let g = att.word_position.as_ref().expect("on").grad(&grads).expect("A has a gradient");
        assert!(g.abs().sum().into_scalar() > 1e-4);
    }

    #[test]
    fn a_random_word_position_applies_only_when_the_term_is_on() {
        let dev = Default::default();
        let on = WordAttention::<B>::new(6, 5, true, &dev).with_random_word_position(0.1, &dev);
        let a = on.word_position.as_ref().expect("on").val();
        assert_eq!(a.dims(), [2, 5]);
        assert!(a.abs().max().into_scalar() > 0.0);
        let off = WordAttention::<B>::new(6, 5, false, &dev).with_random_word_position(0.1, &dev);
        assert!(!off.positional());
    }
}
