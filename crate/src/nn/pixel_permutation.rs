//! A random permutation of each image's pixels: every image keeps exactly its own colours, in
//! the same amounts, but in a new random place each. Outlines, and so shapes, are gone.
//!
//! The auxiliary word classifier reads its shape-blind words (`train.aux_shape_blind_words`,
//! for Shapes the colour words) from such a permutation. Trained on colour images of the
//! training split, "purple" also learns which shapes purple comes in, and a held-out pair (a
//! purple star, say) reads as less purple; the generator is then taught that colour depends on
//! shape. On the permuted image the shape carries no evidence. The counterpart for shape
//! words is `nn/channel_mix.rs`.

use burn::prelude::*;
use burn::tensor::Distribution;

/// `img` [B, C, H, W] with each image's pixels (all channels of a pixel together) moved by
/// its own random permutation. The permutations come from the backend's random stream
/// (seeded per training step) and carry no gradient; the pixel values do.
pub fn random_pixel_permutation<B: Backend>(img: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = img.dims();
    let device = img.device();
    // The ranks of i.i.d. uniform draws are a uniformly random permutation.
    let order = Tensor::<B, 2>::random([b, h * w], Distribution::Uniform(0.0, 1.0), &device).argsort(1);
    let index = order.reshape([b, 1, h * w]).repeat_dim(1, c);
    img.reshape([b, c, h * w]).gather(2, index).reshape([b, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution::Uniform;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    /// Pixel i of image b as its channel values.
    fn pixels(t: Tensor<B, 4>) -> Vec<Vec<[f32; 3]>> {
        let [b, _, h, w] = t.dims();
        let v: Vec<f32> = t.into_data().to_vec().unwrap();
        (0..b).map(|n| (0..h * w).map(|p| [0, 1, 2].map(|c| v[(n * 3 + c) * h * w + p])).collect()).collect()
    }

    #[test]
    fn every_image_keeps_its_pixels_whole_and_moves_them() {
        let dev = Default::default();
        let img = Tensor::<B, 4>::random([2, 3, 6, 5], Uniform(-1.0, 1.0), &dev);
        let out = random_pixel_permutation(img.clone());
        assert_eq!(out.dims(), [2, 3, 6, 5]);
        let key = |p: &[f32; 3]| p.map(f32::to_bits);
        for (before, after) in pixels(img).into_iter().zip(pixels(out)) {
            // The same pixels, channels kept together: a permutation of the image's own.
            let (mut a, mut b): (Vec<_>, Vec<_>) = (before.iter().map(key).collect(), after.iter().map(key).collect());
            assert_ne!(a, b, "30 pixels should move");
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn the_gradient_reaches_every_pixel_once() {
        let dev = Default::default();
        let img = Tensor::<AD, 4>::random([2, 3, 4, 4], Uniform(-1.0, 1.0), &dev).require_grad();
        let grads = random_pixel_permutation(img.clone()).sum().backward();
        let g: Vec<f32> = img.grad(&grads).unwrap().into_data().to_vec().unwrap();
        assert!(g.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{g:?}");
    }
}
