//! A random single-channel mix of an RGB image: each image's three channels are averaged with
//! its own random convex weights w ~ Dirichlet(1, 1, 1) and the result is repeated into all
//! three channels. Shape, size and position survive; colour does not, because a hue's grey
//! level changes from image to image (pure red lands anywhere from black to white of the
//! range, as w_r does).
//!
//! The auxiliary word classifier reads its colour-blind words (`train.aux_colour_blind_words`)
//! from such a mix. A classifier that learns "star" from colour images of the training split
//! also learns which colours stars come in; a held-out pair (a colour never drawn as a star in
//! training) then reads as less of a star, and the generator is taught that shape depends on
//! colour. On the mix the colour carries no evidence, so the classifier has to judge the
//! outline alone.

use burn::prelude::*;
use burn::tensor::Distribution;

/// Smallest uniform draw, so that −ln u stays finite.
const MIN_U: f64 = 1e-6;

/// Each image of `img` [B, 3, H, W] as one random convex mix of its channels, repeated to
/// 3 channels. Values stay inside each pixel's channel range (a convex combination), so an
/// image in [−1, 1] stays in [−1, 1]. The weights come from the backend's random stream
/// (seeded per training step) and carry no gradient; the image does.
pub fn random_channel_mix<B: Backend>(img: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, _, _] = img.dims();
    // Dirichlet(1, …, 1) = normalised Exp(1) draws, Exp(1) = −ln U.
    let e = Tensor::<B, 2>::random([b, c], Distribution::Uniform(MIN_U, 1.0), &img.device()).log().neg();
    let w = e.clone() / e.sum_dim(1);
    let grey = (img * w.reshape([b, c, 1, 1])).sum_dim(1);
    grey.repeat_dim(1, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution::Uniform;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn every_channel_is_the_same_convex_mix() {
        let dev = Default::default();
        let img = Tensor::<B, 4>::random([3, 3, 5, 4], Uniform(-1.0, 1.0), &dev);
        let mixed = random_channel_mix(img.clone());
        assert_eq!(mixed.dims(), [3, 3, 5, 4]);
        let (x, m) = (values(img), values(mixed));
        let plane = 5 * 4;
        for b in 0..3 {
            for p in 0..plane {
                let ch = |v: &[f32], c: usize| v[(b * 3 + c) * plane + p];
                // The three output channels agree ...
                assert_eq!(ch(&m, 0), ch(&m, 1));
                assert_eq!(ch(&m, 0), ch(&m, 2));
                // ... and lie between the pixel's smallest and largest input channel.
                let lo = ch(&x, 0).min(ch(&x, 1)).min(ch(&x, 2));
                let hi = ch(&x, 0).max(ch(&x, 1)).max(ch(&x, 2));
                assert!(ch(&m, 0) >= lo - 1e-5 && ch(&m, 0) <= hi + 1e-5, "{} not in [{lo}, {hi}]", ch(&m, 0));
            }
        }
    }

    #[test]
    fn a_grey_image_is_left_as_it_is_and_colours_get_new_greys_per_image() {
        let dev = Default::default();
        let grey = Tensor::<B, 4>::random([2, 1, 3, 3], Uniform(-1.0, 1.0), &dev).repeat_dim(1, 3);
        let diff = values((random_channel_mix(grey.clone()) - grey).abs().max());
        assert!(diff[0] < 1e-5, "{diff:?}");
        // Pure red in 64 images: its grey level, 2·w_r − 1, should spread over the range.
        let red = Tensor::<B, 4>::from_floats([[[[1.0]], [[-1.0]], [[-1.0]]]], &dev).repeat_dim(0, 64);
        let levels = values(random_channel_mix(red).narrow(1, 0, 1).reshape([64]));
        let (lo, hi) = levels.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(lo < -0.5 && hi > 0.5, "red became greys in [{lo}, {hi}] only");
    }

    #[test]
    fn the_gradient_reaches_the_image() {
        let dev = Default::default();
        let img = Tensor::<AD, 4>::random([2, 3, 4, 4], Uniform(-1.0, 1.0), &dev).require_grad();
        let grads = random_channel_mix(img.clone()).sum().backward();
        // d(sum)/dx_c = 3·w_c per pixel, and the weights of an image sum to 1.
        let g = img.grad(&grads).unwrap();
        let per_image = g.sum_dim(3).sum_dim(2).sum_dim(1).reshape([2]).into_data().to_vec::<f32>().unwrap();
        for s in per_image {
            assert!((s - 3.0 * 16.0).abs() < 1e-3, "{s}");
        }
    }
}
