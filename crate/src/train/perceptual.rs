//! Perceptual loss (ECAGAN's λ1 term; the feature reconstruction loss of Johnson et al.,
//! ECCV 2016, §3.3): the squared distance between features of a frozen network for the
//! generated and the real image, ‖φ(x̂) − φ(x)‖² / (C·H·W), averaged over the batch.
//!
//! No VGG-16 weights can be had here, so φ is the run's pretrained DAMSM image encoder: its
//! region features [B, D, r, r] (the local features DAMSM matches against words). The encoder
//! is frozen ([`burn::module::Module::no_grad`] in GAN training): gradients flow through it to
//! the generated image only.

use burn::prelude::*;

use crate::models::damsm::ImageEncoder;

/// Loss between images in [-1, 1] of the same shape: fake [B, 3, s, s] (gradients flow to it)
/// and real [B, 3, s, s] (a constant target).
pub fn perceptual_loss<B: Backend>(encoder: &ImageEncoder<B>, fake: Tensor<B, 4>, real: Tensor<B, 4>) -> Tensor<B, 1> {
    perceptual_distance(encoder.region_features(fake), encoder.region_features(real))
}

/// The same from features already computed: φ(fake) and φ(real) [B, D, r, r].
pub fn perceptual_distance<B: Backend>(fake: Tensor<B, 4>, real: Tensor<B, 4>) -> Tensor<B, 1> {
    (fake - real.detach()).powi_scalar(2).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    use crate::config::RunConfig;

    type AD = crate::CpuTrainBackend;

    fn encoder(dev: &burn::tensor::Device<AD>) -> ImageEncoder<AD> {
        let cfg = RunConfig::preset("tiny").expect("tiny preset");
        ImageEncoder::new(&cfg.model.damsm, &cfg.model.text, dev).no_grad()
    }

    #[test]
    fn zero_for_identical_images_positive_otherwise() {
        let dev = Default::default();
        let enc = encoder(&dev);
        let a = Tensor::<AD, 4>::random([2, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &dev);
        let b = Tensor::<AD, 4>::random([2, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &dev);
        assert_eq!(perceptual_loss(&enc, a.clone(), a.clone()).into_scalar(), 0.0);
        let d = perceptual_loss(&enc, a, b).into_scalar();
        assert!(d > 0.0 && d.is_finite(), "{d}");
        // Larger stages are pooled to the encoder's size, as in the DAMSM loss.
        let big = Tensor::<AD, 4>::random([2, 3, 128, 128], Distribution::Uniform(-1.0, 1.0), &dev);
        assert_eq!(perceptual_loss(&enc, big.clone(), big).dims(), [1]);
    }

    #[test]
    fn gradient_reaches_the_fake_only_and_the_encoder_stays_frozen() {
        let dev = Default::default();
        let enc = encoder(&dev);
        let fake = Tensor::<AD, 4>::random([2, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &dev).require_grad();
        let real = Tensor::<AD, 4>::random([2, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &dev).require_grad();
        let grads = perceptual_loss(&enc, fake.clone(), real.clone()).backward();
        let g = fake.grad(&grads).map(|g| g.abs().sum().into_scalar()).unwrap_or(0.0);
        assert!(g > 0.0, "no gradient reaches the fake image");
        let g_real = real.grad(&grads).map(|g| g.abs().sum().into_scalar()).unwrap_or(0.0);
        assert_eq!(g_real, 0.0, "the real image is a constant target");
        assert!(GradientsParams::from_grads(grads, &enc).is_empty(), "the frozen encoder got gradients");
    }
}
