//! GAN losses of AttnGAN (§3.2, Eq. 4–7) and the conditioning-augmentation KL term; the
//! hinge losses of RAT-GAN/DF-GAN.

use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};

use crate::models::discriminators::StageDiscriminator;

/// Binary cross-entropy with logits against a constant target (1 real, 0 fake), mean over
/// the batch: log(1 + e^{−x}) for target 1, log(1 + e^{x}) for 0.
pub fn bce_logits<B: Backend>(logits: Tensor<B, 1>, target_real: bool) -> Tensor<B, 1> {
    let x = if target_real { logits.neg() } else { logits };
    softplus(x, 1.0).mean()
}

/// KL(N(μ, σ²) ‖ N(0, I)), averaged over elements as the official `KL_loss` does:
/// −½·mean(1 + log σ² − μ² − σ²).
pub fn kl_loss<B: Backend>(mu: Tensor<B, 2>, logvar: Tensor<B, 2>) -> Tensor<B, 1> {
    (logvar.clone().add_scalar(1.0) - mu.powi_scalar(2) - logvar.exp()).mean().mul_scalar(-0.5)
}

/// Eq. 5 for one stage, term by term (each a batch mean of binary cross-entropy with logits).
/// Mismatched pairs pair image i with sentence i+1.
pub struct DiscriminatorTerms<B: Backend> {
    /// Unconditional logit on real images (target real).
    pub real: Tensor<B, 1>,
    /// Unconditional logit on generated images (target fake).
    pub fake: Tensor<B, 1>,
    /// Conditional logit on real images with their own sentences (target real).
    pub cond_real: Tensor<B, 1>,
    /// Conditional logit on generated images with their sentences (target fake).
    pub cond_fake: Tensor<B, 1>,
    /// Conditional logit on real images with another image's sentence (target fake).
    pub cond_wrong: Tensor<B, 1>,
}

impl<B: Backend> DiscriminatorTerms<B> {
    /// The terms of one stage's discriminator on a batch.
    pub fn new(d: &StageDiscriminator<B>, real: Tensor<B, 4>, fake: Tensor<B, 4>, sentence: Tensor<B, 2>) -> Self {
        let b = real.dims()[0];
        let feat_real = d.features(real);
        let feat_fake = d.features(fake);
        let cond_real = bce_logits(d.cond_logits(feat_real.clone(), sentence.clone()), true);
        let cond_fake = bce_logits(d.cond_logits(feat_fake.clone(), sentence.clone()), false);
        let wrong = d.cond_logits(feat_real.clone().narrow(0, 0, b - 1), sentence.narrow(0, 1, b - 1));
        Self {
            real: bce_logits(d.uncond_logits(feat_real), true),
            fake: bce_logits(d.uncond_logits(feat_fake), false),
            cond_real,
            cond_fake,
            cond_wrong: bce_logits(wrong, false),
        }
    }

    /// The stage's loss, combined as the official code does:
    /// (real + cond_real)/2 + (fake + cond_fake + cond_wrong)/3.
    pub fn total(&self) -> Tensor<B, 1> {
        (self.real.clone() + self.cond_real.clone()).div_scalar(2.0)
            + (self.fake.clone() + self.cond_fake.clone() + self.cond_wrong.clone()).div_scalar(3.0)
    }
}

/// Eq. 4 for one stage: the generator wants both logits to say "real".
pub fn generator_adv_loss<B: Backend>(
    d: &StageDiscriminator<B>,
    fake: Tensor<B, 4>,
    sentence: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let feat = d.features(fake);
    bce_logits(d.uncond_logits(feat.clone()), true) + bce_logits(d.cond_logits(feat, sentence), true)
}

/// RAT-GAN's discriminator hinge loss (DF-GAN Eq. 1): max(0, 1 − D(x, s)) on real matched
/// pairs, plus half of max(0, 1 + D(G(z), s)) and half of max(0, 1 + D(x, ŝ)) on fakes and
/// mismatched pairs.
pub fn hinge_d<B: Backend>(real: Tensor<B, 1>, fake: Tensor<B, 1>, mismatched: Tensor<B, 1>) -> Tensor<B, 1> {
    let r = relu(real.neg().add_scalar(1.0)).mean();
    let f = relu(fake.add_scalar(1.0)).mean();
    let m = relu(mismatched.add_scalar(1.0)).mean();
    r + (f + m).div_scalar(2.0)
}

/// RAT-GAN's generator loss: −D(G(z), s).
pub fn hinge_g<B: Backend>(fake: Tensor<B, 1>) -> Tensor<B, 1> {
    fake.mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::CpuBackend;

    #[test]
    fn bce_and_kl_values() {
        let dev = Default::default();
        let x = Tensor::<B, 1>::from_floats([0.0, 0.0], &dev);
        let v: f32 = bce_logits(x, true).into_scalar();
        assert!((v - std::f32::consts::LN_2).abs() < 1e-6);
        let big = Tensor::<B, 1>::from_floats([30.0], &dev);
        assert!(bce_logits(big.clone(), true).into_scalar() < 1e-6);
        assert!((bce_logits(big, false).into_scalar() - 30.0).abs() < 1e-3);
        let zero = Tensor::<B, 2>::zeros([2, 3], &dev);
        assert!(kl_loss(zero.clone(), zero.clone()).into_scalar().abs() < 1e-7);
        let one = Tensor::<B, 2>::ones([2, 3], &dev);
        // μ = 1, log σ² = 0: −½(1 + 0 − 1 − 1) = 0.5
        assert!((kl_loss(one, zero).into_scalar() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn hinge_values() {
        let dev = Default::default();
        let t = |v: [f32; 2]| Tensor::<B, 1>::from_floats(v, &dev);
        // Confident and right everywhere: no loss.
        assert_eq!(hinge_d(t([2.0, 1.5]), t([-1.0, -3.0]), t([-2.0, -1.0])).into_scalar(), 0.0);
        // real 0 → 1; fake 0 → 1, halved; mismatched 1 → 2, halved: 1 + 0.5 + 1 = 2.5.
        assert!((hinge_d(t([0.0, 0.0]), t([0.0, 0.0]), t([1.0, 1.0])).into_scalar() - 2.5).abs() < 1e-6);
        assert_eq!(hinge_g(t([1.0, 3.0])).into_scalar(), -2.0);
    }
}
