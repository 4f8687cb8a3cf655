//! Word-level discriminator head, after ControlGAN's word-level discriminator (Li et al. 2019,
//! "Controllable Text-to-Image Generation", §3.3): every word looks for the image region that
//! fits it, and the matching score is an importance-weighted sum of per-word correlations.
//!
//! Words e [B, D, T] are projected into the region space (ẽ_i = W·e_i). Each word attends over
//! the N regions v_j of a discriminator feature map, α_{i,j} = softmax_j(ẽ_iᵀv_j / √C), giving
//! its region-context c_i = Σ_j α_{i,j} v_j. Its correlation with the image is
//! r_i = u·(c_i ⊙ ẽ_i) + b, and the words' importance β = softmax_i(w·e_i) over real words
//! (padding masked). The head's logit is Σ_i β_i r_i.
//!
//! ControlGAN reads the regions from a pretrained VGG and trains the head with the DAMSM-like
//! correlation loss; here the regions are the stage discriminator's own 8×8 features and the
//! logit is added to the sentence head's, so Eq. 5's matched, fake and mismatched terms train
//! both. A tiled sentence vector tells a 4×4 map only what the whole caption says; a word
//! matched against regions can say which attribute of which object is wrong.
//!
//! `u` and `b` start at zero, so a head added to a trained discriminator (`t2i train gan
//! --resume` with `train.d_word_level` newly on) leaves its logits unchanged until it learns.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::MASKED_LOGIT;

#[derive(Module, Debug)]
pub struct WordLevelHead<B: Backend> {
    /// W: word features → region channels.
    project: Linear<B>,
    /// w: a word's importance logit.
    importance: Linear<B>,
    /// u, b: a word's correlation from c_i ⊙ ẽ_i.
    correlation: Linear<B>,
}

impl<B: Backend> WordLevelHead<B> {
    /// `region_dim` = channels of the region features, `word_dim` = width of the word features.
    pub fn new(region_dim: usize, word_dim: usize, device: &B::Device) -> Self {
        Self {
            project: LinearConfig::new(word_dim, region_dim).with_bias(false).init(device),
            importance: LinearConfig::new(word_dim, 1).init(device),
            correlation: LinearConfig::new(region_dim, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }

    /// Per-word correlations r [B, T] and importance β [B, T] (0 on padding) of regions
    /// [B, C, H, W] with words [B, D, T], pad [B, T] (true on padding).
    pub fn word_scores(
        &self,
        regions: Tensor<B, 4>,
        words: Tensor<B, 3>,
        pad: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let [b, c, h, w] = regions.dims();
        let t = words.dims()[2];
        let scale = (c as f64).sqrt().recip();
        let v = regions.reshape([b, c, h * w]); // [B, C, N]
        let e = words.swap_dims(1, 2); // [B, T, D]
        let q = self.project.forward(e.clone()); // [B, T, C]
        let alpha = softmax(q.clone().matmul(v.clone()).mul_scalar(scale), 2); // [B, T, N]
        let context = alpha.matmul(v.swap_dims(1, 2)); // [B, T, C]
        let r = self.correlation.forward(context * q).reshape([b, t]);
        let beta = softmax(self.importance.forward(e).reshape([b, t]).mask_fill(pad, MASKED_LOGIT), 1);
        (r, beta)
    }

    /// The head's logit Σ_i β_i r_i [B].
    pub fn forward(&self, regions: Tensor<B, 4>, words: Tensor<B, 3>, pad: Tensor<B, 2, Bool>) -> Tensor<B, 1> {
        let b = regions.dims()[0];
        let (r, beta) = self.word_scores(regions, words, pad);
        (r * beta).sum_dim(1).reshape([b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::Distribution::Normal;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    fn pad_of(rows: &[&[bool]], dev: &burn::tensor::Device<B>) -> Tensor<B, 2, Bool> {
        let t = rows[0].len();
        let flat: Vec<bool> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), t]), dev)
    }

    #[test]
    fn starts_at_zero_and_ignores_padding() {
        let dev = Default::default();
        <B as Backend>::seed(&dev, 3);
        let head = WordLevelHead::<B>::new(6, 5, &dev);
        let regions = Tensor::<B, 4>::random([2, 6, 8, 8], Normal(0.0, 1.0), &dev);
        let words = Tensor::<B, 3>::random([2, 5, 4], Normal(0.0, 1.0), &dev);
        let pad = pad_of(&[&[false, false, false, true], &[false, false, true, true]], &dev);
        // A new head adds nothing to a discriminator's logit.
        let out = head.forward(regions.clone(), words.clone(), pad.clone());
        assert_eq!(out.dims(), [2]);
        assert_eq!(out.into_data().to_vec::<f32>().unwrap(), vec![0.0, 0.0]);

        // With a non-zero correlation: β sums to 1 over real words and is 0 on padding, and
        // changing a padded word's features changes nothing.
        let mut head = head;
        head.correlation.weight = head.correlation.weight.map(|w| w.ones_like());
        let (r, beta) = head.word_scores(regions.clone(), words.clone(), pad.clone());
        assert_eq!(r.dims(), [2, 4]);
        let beta: Vec<f32> = beta.into_data().to_vec().unwrap();
        assert!((beta[0..4].iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((beta[4..8].iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!((beta[3], beta[6], beta[7]), (0.0, 0.0, 0.0));
        let before: Vec<f32> = head.forward(regions.clone(), words.clone(), pad.clone()).into_data().to_vec().unwrap();
        let changed = words.clone().slice_assign([1..2, 0..5, 2..4], Tensor::ones([1, 5, 2], &dev).mul_scalar(9.0));
        let after: Vec<f32> = head.forward(regions, changed, pad).into_data().to_vec().unwrap();
        assert!((before[1] - after[1]).abs() < 1e-5, "{before:?} vs {after:?}");
        assert!(before[1].abs() > 1e-4, "a real score, not zero: {before:?}");
    }

    /// Each image holds one "object": a region carrying a direction in feature space; a word
    /// names it. Trained with binary cross-entropy on matched (1) and swapped (0) pairs, the
    /// head must learn to find the named region: every image ends up preferring its own word.
    #[test]
    fn learns_to_find_the_named_region() {
        use crate::nn::softplus::softplus;
        let dev = Default::default();
        <AD as Backend>::seed(&dev, 11);
        let (n, c, d) = (6, 8, 6);
        let mut head = WordLevelHead::<AD>::new(c, d, &dev);
        // Object k: feature direction k in one random region of an otherwise noisy 8×8 map.
        let mut regions = vec![0.0f32; n * c * 64];
        let mut word = vec![0.0f32; n * d * 2];
        for k in 0..n {
            let cell = (k * 13 + 5) % 64;
            for ch in 0..c {
                let noise = (((k * 31 + ch * 7) % 11) as f32 - 5.0) * 0.05;
                for j in 0..64 {
                    regions[(k * c + ch) * 64 + j] = noise * ((j % 3) as f32 - 1.0);
                }
            }
            regions[(k * c + k) * 64 + cell] = 3.0;
            // Word 0 names object k, word 1 is a function word the same for every caption.
            word[(k * d + k) * 2] = 1.0;
            word[(k * d + (d - 1)) * 2 + 1] = 1.0;
        }
        let regions = Tensor::<AD, 4>::from_data(TensorData::new(regions, [n, c, 8, 8]), &dev);
        let words = Tensor::<AD, 3>::from_data(TensorData::new(word, [n, d, 2]), &dev);
        let pad = Tensor::<AD, 2, Bool>::from_data(TensorData::new(vec![false; n * 2], [n, 2]), &dev);
        // Caption of image k+1 with image k.
        let shift = Tensor::<AD, 1, Int>::from_data(
            TensorData::new((0..n as i64).map(|k| (k + 1) % n as i64).collect(), [n]),
            &dev,
        );
        let wrong = words.clone().select(0, shift);
        const STEPS: usize = 300;
        let mut opt = AdamConfig::new().init::<AD, WordLevelHead<AD>>();
        let mut losses = Vec::new();
        for _ in 0..STEPS {
            let m = head.forward(regions.clone(), words.clone(), pad.clone());
            let w = head.forward(regions.clone(), wrong.clone(), pad.clone());
            // Binary cross-entropy with logits: matched → 1, mismatched → 0.
            let loss = softplus(m.neg()).mean() + softplus(w).mean();
            losses.push(loss.clone().into_scalar());
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = opt.step(1e-2, head, grads);
        }
        assert!(losses[STEPS - 1] < losses[0] * 0.3, "loss {} → {}", losses[0], losses[STEPS - 1]);
        let h = head.valid();
        let m = h.forward(regions.clone().inner(), words.inner(), pad.clone().inner());
        let w = h.forward(regions.inner(), wrong.inner(), pad.inner());
        assert_eq!(m.greater(w).int().sum().into_scalar() as usize, n, "every image should prefer its own word");
    }
}
