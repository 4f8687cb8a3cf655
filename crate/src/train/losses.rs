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
    /// Conditional logit on real images with their captions' one-attribute counterfactuals
    /// (target fake), with `train.d_hard_negatives`.
    pub cond_hard: Option<Tensor<B, 1>>,
}

/// Counterfactual sentences of a batch (`train.d_hard_negatives`): row k changes one word of
/// the caption of image `owner[k]`.
#[derive(Clone, Debug)]
pub struct HardNegatives<B: Backend> {
    pub sentence: Tensor<B, 2>,
    pub owner: Tensor<B, 1, Int>,
}

impl<B: Backend> DiscriminatorTerms<B> {
    /// The terms of one stage's discriminator on a batch, with counterfactual mismatches
    /// when `hard` is given.
    pub fn new(
        d: &StageDiscriminator<B>,
        real: Tensor<B, 4>,
        fake: Tensor<B, 4>,
        sentence: Tensor<B, 2>,
        hard: Option<&HardNegatives<B>>,
    ) -> Self {
        let b = real.dims()[0];
        let feat_real = d.features(real);
        let feat_fake = d.features(fake);
        let cond_real = bce_logits(d.cond_logits(feat_real.clone(), sentence.clone()), true);
        let cond_fake = bce_logits(d.cond_logits(feat_fake.clone(), sentence.clone()), false);
        let wrong = d.cond_logits(feat_real.clone().narrow(0, 0, b - 1), sentence.narrow(0, 1, b - 1));
        let cond_hard = hard.map(|h| {
            let feat = feat_real.clone().select(0, h.owner.clone());
            bce_logits(d.cond_logits(feat, h.sentence.clone()), false)
        });
        Self {
            real: bce_logits(d.uncond_logits(feat_real), true),
            fake: bce_logits(d.uncond_logits(feat_fake), false),
            cond_real,
            cond_fake,
            cond_wrong: bce_logits(wrong, false),
            cond_hard,
        }
    }

    /// The stage's loss, combined as the official code does:
    /// (real + cond_real)/2 + (fake + cond_fake + mismatched)/3, where the mismatched term is
    /// cond_wrong, or the mean of cond_wrong and cond_hard with counterfactuals (so that the
    /// mismatched pairs weigh as much as in Eq. 5).
    pub fn total(&self) -> Tensor<B, 1> {
        let mismatched = match &self.cond_hard {
            Some(h) => (self.cond_wrong.clone() + h.clone()).div_scalar(2.0),
            None => self.cond_wrong.clone(),
        };
        (self.real.clone() + self.cond_real.clone()).div_scalar(2.0)
            + (self.fake.clone() + self.cond_fake.clone() + mismatched).div_scalar(3.0)
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
/// mismatched pairs. With counterfactual pairs (`train.d_hard_negatives`) the mismatched term
/// is the mean of the random and the counterfactual pairs' terms.
pub fn hinge_d<B: Backend>(
    real: Tensor<B, 1>,
    fake: Tensor<B, 1>,
    mismatched: Tensor<B, 1>,
    counterfactual: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let r = relu(real.neg().add_scalar(1.0)).mean();
    let f = relu(fake.add_scalar(1.0)).mean();
    let mut m = relu(mismatched.add_scalar(1.0)).mean();
    if let Some(c) = counterfactual {
        m = (m + relu(c.add_scalar(1.0)).mean()).div_scalar(2.0);
    }
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
    fn counterfactual_mismatches_join_the_wrong_pairs() {
        let dev = Default::default();
        let d = StageDiscriminator::<B>::new(0, 4, 8, &dev);
        let real = Tensor::<B, 4>::random([3, 3, 64, 64], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let fake = Tensor::<B, 4>::random([3, 3, 64, 64], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let sentence = Tensor::<B, 2>::random([3, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
        let changed = Tensor::<B, 2>::random([3, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
        // Two counterfactuals of caption 2, one of caption 0; caption 1 names no attribute.
        let owner = Tensor::<B, 1, Int>::from_data([2, 0, 2], &dev);
        let hard = HardNegatives { sentence: changed.clone(), owner };
        let plain = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), sentence.clone(), None);
        let with = DiscriminatorTerms::new(&d, real.clone(), fake, sentence, Some(&hard));
        assert!(plain.cond_hard.is_none());
        let v = |t: Tensor<B, 1>| t.into_scalar();
        // Every other term is unchanged.
        for (a, b) in [(plain.real.clone(), with.real.clone()), (plain.cond_wrong.clone(), with.cond_wrong.clone())] {
            assert!((v(a) - v(b)).abs() < 1e-6);
        }
        // The counterfactual term scores image owner[k] with sentence k.
        let feat = d.features(real);
        let rows =
            Tensor::cat(vec![feat.clone().narrow(0, 2, 1), feat.clone().narrow(0, 0, 1), feat.narrow(0, 2, 1)], 0);
        let expect = v(bce_logits(d.cond_logits(rows, changed), false));
        let got = v(with.cond_hard.clone().unwrap());
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
        // It shares the mismatched third of Eq. 5 with the random pairs.
        let base = v(plain.total()) - v(plain.cond_wrong.clone()) / 3.0;
        let total = base + (v(with.cond_wrong.clone()) + got) / 6.0;
        assert!((v(with.total()) - total).abs() < 1e-5);
    }

    #[test]
    fn the_counterfactual_term_teaches_d_to_bind_words() {
        use burn::module::AutodiffModule;
        use burn::optim::{AdamConfig, GradientsParams, Optimizer};
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        <AD as Backend>::seed(&dev, 7);
        let mut d = StageDiscriminator::<AD>::new(0, 4, 8, &dev);
        let real = Tensor::<AD, 4>::random([4, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let fake = Tensor::<AD, 4>::random([4, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let sentence = Tensor::<AD, 2>::random([4, 8], Normal(0.0, 1.0), &dev);
        // "One word changed": each counterfactual stays close to its caption.
        let changed = sentence.clone() + Tensor::random([4, 8], Normal(0.0, 0.5), &dev);
        let hard = HardNegatives { sentence: changed.clone(), owner: Tensor::from_data([0, 1, 2, 3], &dev) };
        // How often D(x_i, s_i) > D(x_i, s'_i), in eval mode.
        let ranked = |d: &StageDiscriminator<AD>| {
            let d = d.valid();
            let feat = d.features(real.clone().inner());
            let t = d.cond_logits(feat.clone(), sentence.clone().inner());
            let c = d.cond_logits(feat, changed.clone().inner());
            t.greater(c).int().sum().into_scalar() as i64
        };
        let mut opt = AdamConfig::new().init::<AD, StageDiscriminator<AD>>();
        let mut hard_loss = Vec::new();
        for _ in 0..40 {
            let terms = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), sentence.clone(), Some(&hard));
            hard_loss.push(terms.cond_hard.clone().unwrap().into_scalar());
            let grads = GradientsParams::from_grads(terms.total().backward(), &d);
            d = opt.step(2e-3, d, grads);
        }
        let (first, last) = (hard_loss[0], hard_loss[39]);
        assert!(last < first * 0.5, "counterfactual term {first} → {last}");
        assert_eq!(ranked(&d), 4, "every image should prefer its own caption");
    }

    #[test]
    fn hinge_values() {
        let dev = Default::default();
        let t = |v: [f32; 2]| Tensor::<B, 1>::from_floats(v, &dev);
        // Confident and right everywhere: no loss.
        assert_eq!(hinge_d(t([2.0, 1.5]), t([-1.0, -3.0]), t([-2.0, -1.0]), None).into_scalar(), 0.0);
        // real 0 → 1; fake 0 → 1, halved; mismatched 1 → 2, halved: 1 + 0.5 + 1 = 2.5.
        assert!((hinge_d(t([0.0, 0.0]), t([0.0, 0.0]), t([1.0, 1.0]), None).into_scalar() - 2.5).abs() < 1e-6);
        // Counterfactuals at 0 → 1 share the mismatched half: 1 + 0.5 + (2 + 1)/4 = 2.25.
        let with = hinge_d(t([0.0, 0.0]), t([0.0, 0.0]), t([1.0, 1.0]), Some(Tensor::from_floats([0.0; 3], &dev)));
        assert!((with.into_scalar() - 2.25).abs() < 1e-6);
        assert_eq!(hinge_g(t([1.0, 3.0])).into_scalar(), -2.0);
    }
}
