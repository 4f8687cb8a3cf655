//! GAN losses of AttnGAN (§3.2, Eq. 4–7) and the conditioning-augmentation KL term; the
//! hinge losses of RAT-GAN/DF-GAN.

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::models::discriminators::{StageDiscriminator, StageFeatures};
use crate::nn::auxiliary_classifier::BlindWords;
use crate::nn::softplus::softplus;
use crate::text::rnn_encoder::TextFeatures;

/// Binary cross-entropy with logits against a constant target (1 real, 0 fake), mean over
/// the batch: log(1 + e^{−x}) for target 1, log(1 + e^{x}) for 0.
pub fn bce_logits<B: Backend>(logits: Tensor<B, 1>, target_real: bool) -> Tensor<B, 1> {
    let x = if target_real { logits.neg() } else { logits };
    softplus(x).mean()
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
    /// λ_aux · the auxiliary classifier's loss on the real images (with
    /// `train.lambda_aux_classifier` and a stage that has the head).
    pub aux: Option<Tensor<B, 1>>,
    /// λ_slot · the slot classifier's loss on the real images (with
    /// `train.lambda_slot_classifier` and a stage that has the head).
    pub slots: Option<Tensor<B, 1>>,
}

/// What the auxiliary word classifiers are trained towards (`train.lambda_aux_classifier`):
/// the batch's word presence [B, V] (`nn/auxiliary_classifier.rs`), the loss weight, and the
/// words read from a view without colour or without shape (`train.aux_colour_blind_words`,
/// `train.aux_shape_blind_words`); with `train.lambda_slot_classifier` also the slot
/// classifier's targets.
#[derive(Clone, Debug)]
pub struct WordTargets<B: Backend> {
    pub presence: Tensor<B, 2>,
    pub weight: f64,
    pub blind: BlindWords<B>,
    pub slots: Option<SlotTargets<B>>,
}

/// What the slot classifiers are trained towards (`train.lambda_slot_classifier`): each
/// caption's scene in image order as one-hot groups [B, SLOT_LOGITS]
/// (`nn/slot_classifier.rs`), and the loss weight.
#[derive(Clone, Debug)]
pub struct SlotTargets<B: Backend> {
    pub targets: Tensor<B, 2>,
    pub weight: f64,
}

impl<B: Backend> WordTargets<B> {
    /// λ_aux · L_C of `d`'s classifier on image `img` with features `feat`: the negative
    /// log-likelihood of the caption's words, averaged over the batch (None where the stage
    /// has no classifier).
    fn loss(&self, d: &StageDiscriminator<B>, img: Tensor<B, 4>, feat: &StageFeatures<B>) -> Option<Tensor<B, 1>> {
        d.word_log_likelihood(img, feat, self.presence.clone(), &self.blind)
            .map(|ll| ll.mean().neg().mul_scalar(self.weight))
    }

    /// λ_slot · the slot classifier's negative log-likelihood of the captions' scenes,
    /// averaged over the batch (None without slot targets or where the stage has no head).
    fn slot_loss(&self, d: &StageDiscriminator<B>, feat: &StageFeatures<B>) -> Option<Tensor<B, 1>> {
        let s = self.slots.as_ref()?;
        d.slot_log_likelihood(feat, s.targets.clone()).map(|ll| ll.mean().neg().mul_scalar(s.weight))
    }
}

/// Counterfactual captions of a batch (`train.d_hard_negatives`): row k changes one word of
/// the caption of image `owner[k]`.
#[derive(Clone, Debug)]
pub struct HardNegatives<B: Backend> {
    pub text: TextFeatures<B>,
    pub owner: Tensor<B, 1, Int>,
    /// `owner` on the host.
    pub owners: Vec<usize>,
    /// Each row's weight in the discriminator's mismatched term, mean 1
    /// (`train.d_hard_negative_weights`).
    pub weight: Tensor<B, 1>,
}

impl<B: Backend> HardNegatives<B> {
    /// `d`'s conditional logit of each counterfactual row against its caption's image, whose
    /// features are row `owner[k]` of `feat`.
    fn cond_logits(&self, d: &StageDiscriminator<B>, feat: &StageFeatures<B>) -> Tensor<B, 1> {
        d.cond_logits(&feat.select(self.owner.clone()), &self.text)
    }
}

impl<B: Backend> DiscriminatorTerms<B> {
    /// The terms of one stage's discriminator on a batch, with counterfactual mismatches
    /// when `hard` is given and the auxiliary classifier's loss on real images when `words` is.
    pub fn new(
        d: &StageDiscriminator<B>,
        real: Tensor<B, 4>,
        fake: Tensor<B, 4>,
        text: &TextFeatures<B>,
        hard: Option<&HardNegatives<B>>,
        words: Option<&WordTargets<B>>,
    ) -> Self {
        let b = real.dims()[0];
        let feat_real = d.features(real.clone());
        let feat_fake = d.features(fake);
        let cond_real = bce_logits(d.cond_logits(&feat_real, text), true);
        let cond_fake = bce_logits(d.cond_logits(&feat_fake, text), false);
        let wrong = d.cond_logits(&feat_real.narrow(0, b - 1), &text.narrow(1, b - 1));
        let cond_hard = hard.map(|h| softplus(h.cond_logits(d, &feat_real)).mul(h.weight.clone()).mean());
        let aux = words.and_then(|w| w.loss(d, real, &feat_real));
        let slots = words.and_then(|w| w.slot_loss(d, &feat_real));
        Self {
            real: bce_logits(d.uncond_logits(&feat_real), true),
            fake: bce_logits(d.uncond_logits(&feat_fake), false),
            cond_real,
            cond_fake,
            cond_wrong: bce_logits(wrong, false),
            cond_hard,
            aux,
            slots,
        }
    }

    /// The stage's loss, combined as the official code does:
    /// (real + cond_real)/2 + (fake + cond_fake + mismatched)/3, where the mismatched term is
    /// cond_wrong, or the mean of cond_wrong and cond_hard with counterfactuals (so that the
    /// mismatched pairs weigh as much as in Eq. 5), plus the classifiers' terms when present.
    pub fn total(&self) -> Tensor<B, 1> {
        let mismatched = match &self.cond_hard {
            Some(h) => (self.cond_wrong.clone() + h.clone()).div_scalar(2.0),
            None => self.cond_wrong.clone(),
        };
        let eq5 = (self.real.clone() + self.cond_real.clone()).div_scalar(2.0)
            + (self.fake.clone() + self.cond_fake.clone() + mismatched).div_scalar(3.0);
        [&self.aux, &self.slots].into_iter().flatten().fold(eq5, |acc, t| acc + t.clone())
    }
}

/// One stage's generator terms: Eq. 4 (both logits should say "real"); with `words` the
/// auxiliary classifier's loss on the generated images (AC-GAN's L_C for G: the image should
/// show its caption's words) and the slot classifier's (its scene, in image order); with
/// `margin` the counterfactual margin (`counterfactual`).
pub struct GeneratorTerms<B: Backend> {
    pub adv: Tensor<B, 1>,
    pub aux: Option<Tensor<B, 1>>,
    pub slots: Option<Tensor<B, 1>>,
    /// λ_cf · mean_k w_k·softplus(D(G(z)_i, ē'_k) − D(G(z)_i, ē_i)) over the counterfactual
    /// rows k of caption i (`train.g_counterfactual_margin`): the discriminator should score
    /// each generated image as a better match for its own caption than for any of that
    /// caption's one-attribute changes (a mirrored relation, another shape). A logistic
    /// ranking loss on the conditional logit, in the spirit of the matching-aware
    /// discriminator (GAN-INT-CLS, Reed et al. 2016 §4.2) turned round onto the generator.
    pub counterfactual: Option<Tensor<B, 1>>,
}

impl<B: Backend> GeneratorTerms<B> {
    pub fn new(
        d: &StageDiscriminator<B>,
        fake: Tensor<B, 4>,
        text: &TextFeatures<B>,
        words: Option<&WordTargets<B>>,
        margin: Option<(&HardNegatives<B>, f64)>,
    ) -> Self {
        let feat = d.features(fake.clone());
        let cond = d.cond_logits(&feat, text);
        let counterfactual = margin.map(|(h, lambda)| {
            let own = cond.clone().select(0, h.owner.clone());
            softplus(h.cond_logits(d, &feat) - own).mul(h.weight.clone()).mean().mul_scalar(lambda)
        });
        let adv = bce_logits(d.uncond_logits(&feat), true) + bce_logits(cond, true);
        let slots = words.and_then(|w| w.slot_loss(d, &feat));
        Self { aux: words.and_then(|w| w.loss(d, fake, &feat)), slots, adv, counterfactual }
    }

    /// Eq. 4 plus the classifiers' terms and the counterfactual margin when present.
    pub fn total(&self) -> Tensor<B, 1> {
        [&self.aux, &self.slots, &self.counterfactual]
            .into_iter()
            .flatten()
            .fold(self.adv.clone(), |acc, t| acc + t.clone())
    }
}

/// RAT-GAN's discriminator hinge loss (DF-GAN Eq. 1): max(0, 1 − D(x, s)) on real matched
/// pairs, plus half of max(0, 1 + D(G(z), s)) and half of max(0, 1 + D(x, ŝ)) on fakes and
/// mismatched pairs. With counterfactual pairs (`train.d_hard_negatives`) the mismatched term
/// is the mean of the random and the counterfactual pairs' terms, the latter weighted per pair
/// (`counterfactual` holds the logits and their weights, mean 1).
pub fn hinge_d<B: Backend>(
    real: Tensor<B, 1>,
    fake: Tensor<B, 1>,
    mismatched: Tensor<B, 1>,
    counterfactual: Option<(Tensor<B, 1>, Tensor<B, 1>)>,
) -> Tensor<B, 1> {
    let r = relu(real.neg().add_scalar(1.0)).mean();
    let f = relu(fake.add_scalar(1.0)).mean();
    let mut m = relu(mismatched.add_scalar(1.0)).mean();
    if let Some((c, w)) = counterfactual {
        m = (m + relu(c.add_scalar(1.0)).mul(w).mean()).div_scalar(2.0);
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
    use crate::models::discriminators::DiscriminatorHeads;
    use crate::nn::auxiliary_classifier::{BlindWords, classifier_loss, word_presence};
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
        // A discriminator certain beyond f32's e^x range: the loss is the logit's size, not ∞.
        let certain = Tensor::<B, 1>::from_floats([-300.0, 300.0], &dev);
        assert!((bce_logits(certain.clone(), true).into_scalar() - 150.0).abs() < 1e-3);
        assert!((bce_logits(certain, false).into_scalar() - 150.0).abs() < 1e-3);
        let zero = Tensor::<B, 2>::zeros([2, 3], &dev);
        assert!(kl_loss(zero.clone(), zero.clone()).into_scalar().abs() < 1e-7);
        let one = Tensor::<B, 2>::ones([2, 3], &dev);
        // μ = 1, log σ² = 0: −½(1 + 0 − 1 − 1) = 0.5
        assert!((kl_loss(one, zero).into_scalar() - 0.5).abs() < 1e-6);
    }

    /// Text features with `sentence` and random words (the last of 3 padded in row 0).
    fn text_with<Bk: Backend>(sentence: Tensor<Bk, 2>) -> TextFeatures<Bk> {
        let [n, d] = sentence.dims();
        let dev = sentence.device();
        let mut pad = vec![false; n * 3];
        pad[2] = true;
        TextFeatures {
            words: Tensor::random([n, d, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &dev),
            sentence,
            pad: Tensor::from_data(TensorData::new(pad, [n, 3]), &dev),
        }
    }

    #[test]
    fn counterfactual_mismatches_join_the_wrong_pairs() {
        let dev = Default::default();
        let mut d = StageDiscriminator::<B>::new(0, 4, 8, 6, DiscriminatorHeads::default(), &dev);
        let real = Tensor::<B, 4>::random([3, 3, 64, 64], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let fake = Tensor::<B, 4>::random([3, 3, 64, 64], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let text = text_with(Tensor::<B, 2>::random([3, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &dev));
        let changed = text_with(Tensor::<B, 2>::random([3, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &dev));
        // Two counterfactuals of caption 2, one of caption 0; caption 1 names no attribute.
        let owner = Tensor::<B, 1, Int>::from_data([2, 0, 2], &dev);
        let ones = Tensor::<B, 1>::ones([3], &dev);
        let hard = HardNegatives { text: changed.clone(), owner: owner.clone(), owners: vec![2, 0, 2], weight: ones };
        let weight = Tensor::<B, 1>::from_floats([0.5, 2.0, 0.5], &dev);
        let weighted = HardNegatives { text: changed.clone(), owner, owners: vec![2, 0, 2], weight: weight.clone() };
        let v = |t: Tensor<B, 1>| t.into_scalar();
        // Without and with the word-level head (whose logit starts at 0, so it is perturbed first).
        for word_level in [false, true] {
            d.set_word_level(0, 4, 8, word_level, &dev);
            if word_level {
                d = d.map(&mut Perturb);
            }
            let plain = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, None, None);
            let with = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, Some(&hard), None);
            assert!(plain.cond_hard.is_none());
            // Every other term is unchanged.
            for (a, b) in [(plain.real.clone(), with.real.clone()), (plain.cond_wrong.clone(), with.cond_wrong.clone())]
            {
                let (a, b) = (v(a), v(b));
                assert!((a - b).abs() < 1e-6, "word_level {word_level}: {a} vs {b}");
            }
            // The counterfactual term scores image owner[k] with caption k.
            let feat = d.features(real.clone());
            let rows = feat.select(Tensor::from_data([2, 0, 2], &dev));
            let expect = v(bce_logits(d.cond_logits(&rows, &changed), false));
            let got = v(with.cond_hard.clone().unwrap());
            assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
            // Weighted (`train.d_hard_negative_weights`): each pair's term times its weight.
            let w = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, Some(&weighted), None);
            let per_pair = softplus(d.cond_logits(&rows, &changed));
            let expect = v(per_pair.clone().mul(weight.clone()).mean());
            let got_w = v(w.cond_hard.clone().unwrap());
            assert!((got_w - expect).abs() < 1e-5, "{got_w} vs {expect}");
            assert!((got_w - v(per_pair.mean())).abs() > 1e-4, "the weights change the term");
            // It shares the mismatched third of Eq. 5 with the random pairs.
            let base = v(plain.total()) - v(plain.cond_wrong.clone()) / 3.0;
            let total = base + (v(with.cond_wrong.clone()) + got) / 6.0;
            assert!((v(with.total()) - total).abs() < 1e-5);
        }
    }

    /// Sets every all-zero parameter to 0.1, so that zero-initialised layers contribute.
    struct Perturb;
    impl burn::module::ModuleMapper<B> for Perturb {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            param.map(|t| if t.clone().abs().max().into_scalar() == 0.0 { t.add_scalar(0.1) } else { t })
        }
    }

    #[test]
    fn the_counterfactual_term_teaches_d_to_bind_words() {
        use burn::module::AutodiffModule;
        use burn::optim::{AdamConfig, GradientsParams, Optimizer};
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        <AD as Backend>::seed(&dev, 7);
        let mut d = StageDiscriminator::<AD>::new(0, 4, 8, 6, DiscriminatorHeads::default(), &dev);
        let real = Tensor::<AD, 4>::random([4, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let fake = Tensor::<AD, 4>::random([4, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let sentence = Tensor::<AD, 2>::random([4, 8], Normal(0.0, 1.0), &dev);
        // "One word changed": each counterfactual stays close to its caption.
        let changed = sentence.clone() + Tensor::random([4, 8], Normal(0.0, 0.5), &dev);
        let (text, changed) = (text_with(sentence), text_with(changed));
        let hard = HardNegatives {
            text: changed.clone(),
            owner: Tensor::from_data([0, 1, 2, 3], &dev),
            owners: vec![0, 1, 2, 3],
            weight: Tensor::ones([4], &dev),
        };
        let inner = |t: &TextFeatures<AD>| TextFeatures {
            words: t.words.clone().inner(),
            sentence: t.sentence.clone().inner(),
            pad: t.pad.clone().inner(),
        };
        // How often D(x_i, s_i) > D(x_i, s'_i), in eval mode.
        let ranked = |d: &StageDiscriminator<AD>| {
            let d = d.valid();
            let feat = d.features(real.clone().inner());
            let t = d.cond_logits(&feat, &inner(&text));
            let c = d.cond_logits(&feat, &inner(&changed));
            t.greater(c).int().sum().into_scalar() as i64
        };
        let mut opt = AdamConfig::new().init::<AD, StageDiscriminator<AD>>();
        let mut hard_loss = Vec::new();
        for _ in 0..40 {
            let terms = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, Some(&hard), None);
            hard_loss.push(terms.cond_hard.clone().unwrap().into_scalar());
            let grads = GradientsParams::from_grads(terms.total().backward(), &d);
            d = opt.step(2e-3, d, grads);
        }
        let (first, last) = (hard_loss[0], hard_loss[39]);
        assert!(last < first * 0.5, "counterfactual term {first} → {last}");
        assert_eq!(ranked(&d), 4, "every image should prefer its own caption");
    }

    /// The classifier's term: on real images only for D, on the generated ones for G, weighted,
    /// and its gradient reaches the generated image.
    #[test]
    fn auxiliary_classifier_terms() {
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        let heads = DiscriminatorHeads { word_level: false, classifier: true, slots: false };
        let d = StageDiscriminator::<AD>::new(0, 4, 8, 6, heads, &dev);
        let real = Tensor::<AD, 4>::random([3, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let fake = Tensor::<AD, 4>::random([3, 3, 64, 64], Uniform(-1.0, 1.0), &dev).require_grad();
        let text = text_with(Tensor::<AD, 2>::random([3, 8], Normal(0.0, 1.0), &dev));
        let presence = word_presence::<AD>(&[vec![1, 4], vec![2], vec![5, 3, 1]], 6, &dev);
        let words = WordTargets { presence: presence.clone(), weight: 0.5, blind: BlindWords::none(), slots: None };
        let v = |t: Tensor<AD, 1>| t.into_scalar();

        let plain = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, None, None);
        let with = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, None, Some(&words));
        assert!(plain.aux.is_none());
        let expect = 0.5 * v(classifier_loss(d.word_logits(&d.features(real.clone())).unwrap(), presence.clone()));
        let got = v(with.aux.clone().unwrap());
        assert!(expect > 0.0 && (got - expect).abs() < 1e-5, "{got} vs {expect}");
        assert!((v(with.total()) - v(plain.total()) - got).abs() < 1e-4);
        // Not on the generated images: another fake leaves D's term as it was.
        let other = Tensor::<AD, 4>::random([3, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let again = DiscriminatorTerms::new(&d, real.clone(), other, &text, None, Some(&words));
        assert!((v(again.aux.unwrap()) - got).abs() < 1e-6);

        // G: the term is the classifier's loss on the generated images, and it moves them.
        let g = GeneratorTerms::new(&d, fake.clone(), &text, Some(&words), None);
        let g_plain = GeneratorTerms::new(&d, fake.clone(), &text, None, None);
        assert!(g_plain.aux.is_none());
        let expect = 0.5 * v(classifier_loss(d.word_logits(&d.features(fake.clone())).unwrap(), presence));
        let got = v(g.aux.clone().unwrap());
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
        assert!((v(g.total()) - v(g_plain.adv.clone()) - got).abs() < 1e-4);
        let grads = g.aux.unwrap().backward();
        let grad = fake.grad(&grads).expect("the generated image gets a gradient");
        assert!(grad.abs().sum().into_scalar() > 0.0);
        // A stage without the head adds nothing even when asked.
        let bare = StageDiscriminator::<AD>::new(0, 4, 8, 6, DiscriminatorHeads::default(), &dev);
        assert!(GeneratorTerms::new(&bare, fake, &text, Some(&words), None).aux.is_none());
    }

    /// The slot classifier's term: D's on real images only (without the word classifier's
    /// head), G's on the generated ones, both in the totals, and D learns real Shapes scenes
    /// with it: 30 steps on 8 real images lower its loss.
    #[test]
    fn slot_classifier_terms_and_learning() {
        use crate::data::batcher::push_image;
        use crate::data::shapes::{Split, example, render};
        use crate::nn::slot_classifier::slot_targets;
        use burn::optim::{AdamConfig, GradientsParams, Optimizer};
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        <AD as Backend>::seed(&dev, 3);
        let heads = DiscriminatorHeads { word_level: false, classifier: false, slots: true };
        let mut d = StageDiscriminator::<AD>::new(0, 4, 8, 6, heads, &dev);
        let examples: Vec<_> = (0..8).map(|i| example(0, Split::Train, i)).collect();
        let mut pixels = Vec::new();
        for ex in &examples {
            push_image(&render(&ex.scene, 64).unwrap(), &mut pixels);
        }
        let real = Tensor::<AD, 4>::from_data(TensorData::new(pixels, [8, 3, 64, 64]), &dev);
        let captions: Vec<String> = examples.iter().map(|ex| ex.captions[0].clone()).collect();
        let slots = SlotTargets { targets: slot_targets::<AD>(&captions, &dev).unwrap(), weight: 2.0 };
        let presence = word_presence::<AD>(&vec![vec![1]; 8], 6, &dev);
        let words = WordTargets { presence, weight: 0.5, blind: BlindWords::none(), slots: Some(slots.clone()) };
        let fake = Tensor::<AD, 4>::random([8, 3, 64, 64], Uniform(-1.0, 1.0), &dev).require_grad();
        let text = text_with(Tensor::<AD, 2>::random([8, 8], Normal(0.0, 1.0), &dev));
        let v = |t: Tensor<AD, 1>| t.into_scalar();

        let terms = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, None, Some(&words));
        assert!(terms.aux.is_none(), "no word classifier on this stage");
        let ll = d.slot_log_likelihood(&d.features(real.clone()), slots.targets.clone()).unwrap();
        let expect = -2.0 * v(ll.mean());
        let got = v(terms.slots.clone().unwrap());
        assert!(expect > 0.0 && (got - expect).abs() < 1e-4, "{got} vs {expect}");
        let plain = DiscriminatorTerms::new(&d, real.clone(), fake.clone(), &text, None, None);
        assert!((v(terms.total()) - v(plain.total()) - got).abs() < 1e-4);
        let other = Tensor::<AD, 4>::random([8, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let again = DiscriminatorTerms::new(&d, real.clone(), other, &text, None, Some(&words));
        assert!((v(again.slots.unwrap()) - got).abs() < 1e-5, "D's term reads real images only");

        let g = GeneratorTerms::new(&d, fake.clone(), &text, Some(&words), None);
        let g_slots = g.slots.clone().expect("G's slot term");
        assert!((v(g.total()) - v(g.adv.clone()) - v(g_slots.clone())).abs() < 1e-4);
        let grad = fake.grad(&g_slots.backward()).expect("the generated image gets a gradient");
        assert!(grad.abs().sum().into_scalar() > 0.0);

        let mut opt = AdamConfig::new().init::<AD, StageDiscriminator<AD>>();
        let mut losses = Vec::new();
        for _ in 0..30 {
            let feat = d.features(real.clone());
            let loss = d.slot_log_likelihood(&feat, slots.targets.clone()).unwrap().mean().neg();
            losses.push(v(loss.clone()));
            let grads = GradientsParams::from_grads(loss.backward(), &d);
            d = opt.step(2e-3, d, grads);
        }
        assert!(losses[29] < losses[0] * 0.5, "slot loss {} → {}", losses[0], losses[29]);
    }

    /// The counterfactual margin: its value per row and weight, its place in the generator's
    /// total, and that descending it on the generated images makes D prefer their own captions.
    #[test]
    fn the_counterfactual_margin_moves_generated_images_towards_their_captions() {
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        <AD as Backend>::seed(&dev, 3);
        let d = StageDiscriminator::<AD>::new(0, 4, 8, 6, DiscriminatorHeads::default(), &dev);
        let text = text_with(Tensor::<AD, 2>::random([3, 8], Normal(0.0, 1.0), &dev));
        let changed = text_with(Tensor::<AD, 2>::random([3, 8], Normal(0.0, 1.0), &dev));
        let hard = HardNegatives {
            text: changed.clone(),
            owner: Tensor::from_data([2, 0, 2], &dev),
            owners: vec![2, 0, 2],
            weight: Tensor::from_floats([0.5, 2.0, 0.5], &dev),
        };
        let margin = |x: Tensor<AD, 4>| {
            let g = GeneratorTerms::new(&d, x, &text, None, Some((&hard, 0.5)));
            (g.counterfactual.clone().unwrap(), g)
        };
        let v = |t: Tensor<AD, 1>| t.into_scalar();
        let mut x = Tensor::<AD, 4>::random([3, 3, 64, 64], Uniform(-1.0, 1.0), &dev);

        let (m, g) = margin(x.clone());
        let feat = d.features(x.clone());
        let own = d.cond_logits(&feat, &text).select(0, hard.owner.clone());
        let other = d.cond_logits(&feat.select(hard.owner.clone()), &changed);
        let per_row = softplus(other - own).mul(hard.weight.clone());
        let expect = 0.5 * v(per_row.mean());
        assert!(expect > 0.0 && (v(m.clone()) - expect).abs() < 1e-5, "{} vs {expect}", v(m));
        assert!((v(g.total()) - v(g.adv.clone()) - expect).abs() < 1e-4);
        assert!(GeneratorTerms::new(&d, x.clone(), &text, None, None).counterfactual.is_none());

        // Gradient steps on the images alone lower the margin.
        let first = v(m);
        for _ in 0..20 {
            let x_grad = x.clone().require_grad();
            let (m, _) = margin(x_grad.clone());
            let grad = x_grad.grad(&m.backward()).expect("the generated image gets a gradient");
            let step = grad.clone().div_scalar(grad.abs().max().into_scalar() + 1e-12).mul_scalar(0.05);
            x = Tensor::from_inner((x.inner() - step).clamp(-1.0, 1.0));
        }
        let last = v(margin(x).0);
        assert!(last < first * 0.8, "margin {first} → {last}");
    }

    /// Blind words are read from a view of the image: colour-blind ones from a channel mix, so
    /// that on a grey image (which the mix leaves alone) the term is the plain one; shape-blind
    /// ones from a pixel permutation, which leaves a uniform image alone. On a colour image
    /// either view changes the term, and the generated image still gets the gradient.
    #[test]
    fn blind_words_read_their_views_of_the_image() {
        use burn::tensor::Distribution::{Normal, Uniform};
        type AD = crate::CpuTrainBackend;
        let dev = Default::default();
        let heads = DiscriminatorHeads { word_level: false, classifier: true, slots: false };
        let d = StageDiscriminator::<AD>::new(0, 4, 8, 6, heads, &dev);
        let grey = Tensor::<AD, 4>::random([3, 1, 64, 64], Uniform(-1.0, 1.0), &dev).repeat_dim(1, 3);
        let colour = Tensor::<AD, 4>::random([3, 3, 64, 64], Uniform(-1.0, 1.0), &dev);
        let text = text_with(Tensor::<AD, 2>::random([3, 8], Normal(0.0, 1.0), &dev));
        let presence = word_presence::<AD>(&[vec![1, 4], vec![2], vec![5, 3, 1]], 6, &dev);
        let seeing = WordTargets { presence: presence.clone(), weight: 0.5, blind: BlindWords::none(), slots: None };
        let blind_to = |colour: &[u32], shape: &[u32]| WordTargets {
            blind: BlindWords {
                colour: Some(word_presence::<AD>(&[colour.to_vec()], 6, &dev)),
                shape: Some(word_presence::<AD>(&[shape.to_vec()], 6, &dev)),
            },
            ..seeing.clone()
        };
        let blind = blind_to(&[3, 4], &[]);
        let aux = |real: &Tensor<AD, 4>, w: &WordTargets<AD>| {
            DiscriminatorTerms::new(&d, real.clone(), colour.clone(), &text, None, Some(w)).aux.unwrap().into_scalar()
        };
        let (a, b) = (aux(&grey, &seeing), aux(&grey, &blind));
        assert!((a - b).abs() < 1e-4 * a.abs().max(1.0), "grey image: {a} vs {b}");
        let (a, b) = (aux(&colour, &seeing), aux(&colour, &blind));
        assert!((a - b).abs() > 1e-4, "colour image: {a} vs {b}");

        // A uniform image looks the same permuted: the shape-blind words read as before too.
        let flat = Tensor::<AD, 4>::ones([3, 3, 64, 64], &dev).mul_scalar(0.3);
        let (a, b) = (aux(&flat, &seeing), aux(&flat, &blind_to(&[3], &[1, 2])));
        assert!((a - b).abs() < 1e-4 * a.abs().max(1.0), "uniform image: {a} vs {b}");
        let (a, b) = (aux(&colour, &seeing), aux(&colour, &blind_to(&[], &[1, 2])));
        assert!((a - b).abs() > 1e-4, "colour image, shape-blind: {a} vs {b}");

        let all = blind_to(&[1, 2, 3], &[4, 5]);
        let fake = colour.require_grad();
        let g = GeneratorTerms::new(&d, fake.clone(), &text, Some(&all), None);
        let grads = g.aux.unwrap().backward();
        let grad = fake.grad(&grads).expect("the generated image gets a gradient through the mix");
        assert!(grad.abs().sum().into_scalar() > 0.0);
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
        let c = |v: [f32; 3]| Tensor::<B, 1>::from_floats(v, &dev);
        let with = hinge_d(t([0.0, 0.0]), t([0.0, 0.0]), t([1.0, 1.0]), Some((c([0.0; 3]), c([1.0; 3]))));
        assert!((with.into_scalar() - 2.25).abs() < 1e-6);
        // Weighted counterfactuals: terms 1, 1, 2 times weights 0, 0, 3 → mean 2; 1 + (1 + 2)/2.
        let weighted =
            hinge_d(t([0.0, 0.0]), t([0.0, 0.0]), t([1.0, 1.0]), Some((c([0.0, 0.0, 1.0]), c([0.0, 0.0, 3.0]))));
        assert!((weighted.into_scalar() - 2.5).abs() < 1e-6);
        assert_eq!(hinge_g(t([1.0, 3.0])).into_scalar(), -2.0);
    }
}
