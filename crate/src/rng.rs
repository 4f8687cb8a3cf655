//! Host-side, portable randomness: every backend (CPU, CUDA, WebGPU, wasm) sees the same
//! noise for the same seed, because noise is drawn here and uploaded, never by the backend.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Purposes of independent random streams derived from one seed.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Stream {
    /// Which scenes and captions make a training batch.
    Data = 1,
    /// Generator noise z and conditioning-augmentation ε during training.
    Noise = 2,
    /// Mismatched-pair permutation and other training draws.
    Misc = 3,
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The RNG of one (seed, stream, step): a pure function, so resuming at a step replays
/// exactly the stream an uninterrupted run would have drawn.
pub fn rng_for(seed: u64, stream: Stream, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(seed ^ (stream as u64).rotate_left(32)) ^ step))
}

/// `n` standard normal samples.
pub fn normal(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
}

/// The noise of one sampling request: z [n_z] then ε [n_eps], from the caller's seed alone.
pub fn sample_noise(seed: u64, n_z: usize, n_eps: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed));
    let z = normal(&mut rng, n_z);
    let eps = normal(&mut rng, n_eps);
    (z, eps)
}

/// Truncated normal noise (DF-GAN/RAT-GAN sampling): every value of `z` with |z| > `threshold`
/// is redrawn until it falls inside, from a stream of the request's seed, so the result is
/// again a pure function of the seed.
pub fn truncate_noise(z: &mut [f32], threshold: f32, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ 0x7472_756e_6361_7465));
    for v in z.iter_mut() {
        while v.abs() > threshold {
            *v = rng.sample::<f32, _>(StandardNormal);
        }
    }
}

/// The stream the layout model samples its boxes from at inference (labels, mixture
/// components and positions), a pure function of the request's seed.
pub fn layout_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ 0x6c61_796f_7574))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_pure_and_distinct() {
        let a: u64 = rng_for(7, Stream::Noise, 3).random();
        let b: u64 = rng_for(7, Stream::Noise, 3).random();
        let c: u64 = rng_for(7, Stream::Noise, 4).random();
        let d: u64 = rng_for(7, Stream::Data, 3).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let (z, e) = sample_noise(1, 100, 10);
        assert_eq!((z.len(), e.len()), (100, 10));
        let mean = z.iter().sum::<f32>() / 100.0;
        assert!(mean.abs() < 0.35, "{mean}");
        assert_eq!(sample_noise(1, 100, 10).0, z);
    }

    #[test]
    fn truncation_redraws_only_values_outside() {
        let (z, _) = sample_noise(3, 1000, 0);
        let mut t = z.clone();
        truncate_noise(&mut t, 0.88, 3);
        assert!(t.iter().all(|v| v.abs() <= 0.88));
        let kept = z.iter().zip(&t).filter(|(a, b)| a == b).count();
        assert_eq!(kept, z.iter().filter(|v| v.abs() <= 0.88).count());
        let mut again = z;
        truncate_noise(&mut again, 0.88, 3);
        assert_eq!(again, t);
    }
}
