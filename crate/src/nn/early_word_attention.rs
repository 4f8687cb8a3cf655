//! Word attention inside the first stage (`model.gan.first_stage_attention`): the 16×16
//! feature grid of `INIT_STAGE_G` attends over the words (AttnGAN Eq. 2–3,
//! `nn/word_attention.rs`) and adds what it reads back through a 1×1 convolution:
//! h ← h + g·M·c, with M starting at zero and g = [`MIX_GAIN`].
//!
//! AttnGAN's first stage sees only the sentence vector (§3.1), so the layout of a two-object
//! scene (which object goes left) is decided from one vector that a mirrored caption moves
//! little, and the refinement stages then paint colours and shapes onto blobs that are already
//! placed. Here every cell of the grid that the layout grows from can pick the words it should
//! draw, while its features still say where it is (the first stage's fully connected seed gives
//! every cell of its 4×4 map its own weights). XMC-GAN (Zhang et al. 2021, §4) likewise feeds
//! word context into its generator at every resolution; the residual form with a zero start is
//! ours, so that a trained generator can gain the block at `--resume` and compute exactly what
//! it did before until M learns.

use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::nn::torch_autograd::Convolve;
use crate::nn::word_attention::WordAttention;

/// The first-stage up-blocks run before the attention: after two, the grid is 16×16.
pub const AFTER_UP_BLOCKS: usize = 2;

/// g, the run-time scale of M: Adam moves a weight by about the learning rate per step, so
/// from zero at the GAN's 5e-5 the plain M would need thousands of steps to reach the scale of
/// the features (measured: 700 steps moved it by at most 0.005). The effective weight g·M moves
/// g times faster, as with the equalised learning rate of ProGAN (Karras et al. 2018, §4.1).
pub const MIX_GAIN: f32 = 16.0;

/// Spread of the position term's A in a new block (`WordAttention::with_random_word_position`).
/// The mix M starts at zero, so neither M nor A would get a gradient if both started at zero.
/// A random A makes the offered context differ by place from the first step, while the block's
/// output is still the grid unchanged. Word features have norm ≈ 6.5 on Shapes, so a row of A
/// moves a logit by about g·0.02·6.5 ≈ 1 at the grid's edge.
pub const WORD_POSITION_STD: f64 = 0.02;

#[derive(Module, Debug)]
pub struct EarlyWordAttention<B: Backend> {
    att: WordAttention<B>,
    /// M [C, C, 1, 1], zero at the start.
    mix: Conv2d<B>,
}

impl<B: Backend> EarlyWordAttention<B> {
    /// `channels` of the grid, `word_dim` of the word features, `positional`: the logits
    /// also carry the cell's position (`model.gan.positional_attention`), from a random A.
    pub fn new(channels: usize, word_dim: usize, positional: bool, device: &B::Device) -> Self {
        Self {
            att: WordAttention::new(channels, word_dim, positional, device)
                .with_random_word_position(WORD_POSITION_STD, device),
            mix: Conv2dConfig::new([channels, channels], [1, 1])
                .with_bias(false)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// Switches the position term on (from a zero A, since M may have moved) or off (see
    /// `WordAttention::with_position`).
    pub fn with_position(mut self, on: bool, device: &B::Device) -> Self {
        self.att = self.att.with_position(on, device);
        self
    }

    /// This block with M set to `weight` [C, C, 1, 1] (tests of the modules that hold it).
    #[cfg(test)]
    pub(crate) fn with_mix(mut self, weight: Tensor<B, 4>) -> Self {
        self.mix.weight = burn::module::Param::from_tensor(weight);
        self
    }

    /// h [B, C, H, W], words [B, D, T], pad [B, T] → (h + g·M·context, attention [B, T, H, W]).
    pub fn forward(
        &self,
        h: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (context, attn) = self.att.forward(h.clone(), words, pad);
        (h + self.mix.convolve(context).mul_scalar(MIX_GAIN), attn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::word_attention::tests::inputs;
    use crate::{CpuBackend as B, CpuTrainBackend as AD};
    use burn::module::Param;
    use burn::tensor::Distribution;

    /// At the start the block passes the grid through unchanged; once M is not zero the words
    /// reach the grid, and different words change it.
    #[test]
    fn starts_as_identity_then_adds_word_context() {
        let dev = Default::default();
        let (h, words, pad) = inputs::<B>(&dev);
        let mut block = EarlyWordAttention::<B>::new(6, 5, false, &dev);
        let (out, attn) = block.forward(h.clone(), words.clone(), pad.clone());
        assert_eq!(attn.dims(), [2, 3, 4, 4]);
        let values = |t: Tensor<B, 4>| t.into_data().to_vec::<f32>().unwrap();
        assert_eq!(values(out), values(h.clone()));
        // Padding gets no attention; the real words' weights sum to one per cell.
        let a = attn.into_data().to_vec::<f32>().unwrap();
        assert!(a[2 * 16..3 * 16].iter().all(|v| *v < 1e-6));
        assert!((0..16).all(|q| (a[q] + a[16 + q] - 1.0).abs() < 1e-5));

        block.mix.weight = Param::from_tensor(Tensor::random([6, 6, 1, 1], Distribution::Normal(0.0, 0.5), &dev));
        let (moved, _) = block.forward(h.clone(), words.clone(), pad.clone());
        let (other, _) = block.forward(h.clone(), words.mul_scalar(-1.0), pad);
        let gap = |a: Tensor<B, 4>, b: Tensor<B, 4>| (a - b).abs().max().into_scalar();
        assert!(gap(moved.clone(), h) > 1e-3);
        assert!(gap(moved, other) > 1e-3);
    }

    /// From the zero start the gradient reaches M, so the block can begin to learn; once M
    /// moves it reaches the attention's projection too.
    #[test]
    fn gradients_reach_the_mix_then_the_attention() {
        let dev = Default::default();
        let (h, words, pad) = inputs::<AD>(&dev);
        let mut block = EarlyWordAttention::<AD>::new(6, 5, true, &dev);
        let norm = |g: Option<Tensor<B, 4>>| g.map_or(0.0, |g| g.abs().sum().into_scalar());
        let grads = block.forward(h.clone(), words.clone(), pad.clone()).0.powf_scalar(2.0).sum().backward();
        assert!(norm(block.mix.weight.grad(&grads)) > 0.0);
        block.mix.weight = Param::from_tensor(Tensor::random([6, 6, 1, 1], Distribution::Normal(0.0, 0.5), &dev));
        let grads = block.forward(h, words, pad).0.powf_scalar(2.0).sum().backward();
        assert!(norm(block.att.projection_weight().grad(&grads)) > 0.0);
    }
}
