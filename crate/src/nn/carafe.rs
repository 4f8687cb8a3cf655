//! CARAFE, content-aware reassembly of features (Wang et al., ICCV 2019, §3), written with
//! plain tensor ops (the official operator is a CUDA kernel).
//!
//! Upsampling by σ in two steps:
//! - **kernel prediction** (§3.1): a channel compressor (1×1 conv, C → C_m), a
//!   content encoder (k_enc×k_enc conv, C_m → σ²·k_up²), a pixel shuffle to
//!   [B, k_up², σH, σW] and a softmax over the k_up² positions, so every output pixel has its
//!   own normalised k_up×k_up kernel;
//! - **content-aware reassembly** (§3.2): output pixel l' = (i', j') is the kernel-
//!   weighted sum of the k_up×k_up neighbourhood of its source pixel l = (⌊i'/σ⌋, ⌊j'/σ⌋),
//!   zero outside the input.
//!
//! The reassembly gathers the k_up² shifted copies of the zero-padded input once, at input
//! resolution, and contracts them with the kernels of the σ² output pixels that share a source
//! pixel in one batched matrix product ([B·H·W] products of [σ², k²] × [k², C]), so nothing of
//! size C·k² is ever materialised at output resolution. On flex it costs ~3× a nearest up-block
//! at C = 32, 32→64 px (see the `speed` test below).

use crate::nn::torch_autograd::Convolve;
use burn::module::Initializer;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Hyper-parameters of a [`Carafe`] upsampler; the defaults are the paper's.
#[derive(Config, Debug)]
pub struct CarafeConfig {
    /// Channels C of the features to upsample.
    pub channels: usize,
    /// Compressed channels C_m of the kernel predictor (at most C: a "compressor" that widens
    /// small inputs would only add cost).
    #[config(default = 64)]
    pub compressed: usize,
    /// Reassembly kernel side k_up (odd).
    #[config(default = 5)]
    pub k_up: usize,
    /// Content-encoder kernel side k_enc (odd).
    #[config(default = 3)]
    pub k_enc: usize,
    /// Upsampling ratio σ.
    #[config(default = 2)]
    pub scale: usize,
}

impl CarafeConfig {
    /// Build the module. Kernel sides must be odd and every size positive (they are code
    /// constants, not user input).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Carafe<B> {
        assert!(self.k_up % 2 == 1 && self.k_enc % 2 == 1, "CARAFE kernel sides must be odd");
        assert!(self.channels > 0 && self.scale > 0, "CARAFE needs channels and a scale");
        let cm = self.compressed.min(self.channels).max(1);
        let p = self.k_enc / 2;
        let out = self.scale * self.scale * self.k_up * self.k_up;
        Carafe {
            compressor: Conv2dConfig::new([self.channels, cm], [1, 1]).init(device),
            // As the official code: a near-zero encoder, so training starts from uniform
            // (box-filter) kernels.
            encoder: Conv2dConfig::new([cm, out], [self.k_enc, self.k_enc])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_initializer(Initializer::Normal { mean: 0.0, std: 0.001 })
                .init(device),
            k_up: self.k_up,
            scale: self.scale,
        }
    }
}

/// CARAFE upsampler: [B, C, H, W] → [B, C, σH, σW].
#[derive(Module, Debug)]
pub struct Carafe<B: Backend> {
    /// Channel compressor (1×1, C → C_m).
    compressor: Conv2d<B>,
    /// Content encoder (k_enc×k_enc, C_m → σ²·k_up²).
    encoder: Conv2d<B>,
    k_up: usize,
    scale: usize,
}

impl<B: Backend> Carafe<B> {
    /// The normalised reassembly kernels [B, k_up², σH, σW] (§3.1): channel k of output pixel
    /// (i', j') weights neighbour (dy, dx) = (k / k_up, k % k_up) − k_up/2 of its source pixel.
    pub fn kernels(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let logits = self.encoder.convolve(self.compressor.convolve(x));
        softmax(pixel_shuffle(logits, self.scale), 1)
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, _, h, w] = x.dims();
        let (kk, s2) = (self.k_up * self.k_up, self.scale * self.scale);
        // The kernels grouped by source pixel, [B, k², σ², H, W]: the pixel shuffle of
        // `kernels` without moving any data (the softmax is over k² either way).
        let logits = self.encoder.convolve(self.compressor.convolve(x.clone())).reshape([b, kk, s2, h, w]);
        reassemble_grouped(x, softmax(logits, 1), self.k_up, self.scale)
    }
}

/// Sub-pixel rearrangement (PyTorch's `PixelShuffle`): [B, C·s², H, W] → [B, C, sH, sW], input
/// channel c·s² + a·s + b going to output pixel (s·i + a, s·j + b) of channel c.
pub fn pixel_shuffle<B: Backend>(x: Tensor<B, 4>, s: usize) -> Tensor<B, 4> {
    let [b, cs, h, w] = x.dims();
    let c = cs / (s * s);
    x.reshape([b, c, s, s, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([b, c, h * s, w * s])
}

/// Content-aware reassembly (§3.2): x [B, C, H, W], kernels [B, k², sH, sW] (any
/// weights; CARAFE's are normalised) → [B, C, sH, sW], zero padding at the borders.
pub fn reassemble<B: Backend>(x: Tensor<B, 4>, kernels: Tensor<B, 4>, k_up: usize, s: usize) -> Tensor<B, 4> {
    let [b, kk, sh, sw] = kernels.dims();
    let (h, w) = (sh / s, sw / s);
    let grouped = kernels.reshape([b, kk, h, s, w, s]).permute([0, 1, 3, 5, 2, 4]).reshape([b, kk, s * s, h, w]);
    reassemble_grouped(x, grouped, k_up, s)
}

/// [`reassemble`] with the kernels grouped by source pixel: [B, k², s², H, W], phase
/// a·s + b of source pixel (i, j) being output pixel (s·i + a, s·j + b).
///
/// Layout, chosen for flex's fast copies (≤ 2-D after merging dims) and batched GEMM:
/// x goes pixel-major, [B, H, W, C], zero-padded by r = k_up/2 (one spare row at the bottom)
/// and flattened to [B, L, C]. Neighbour (dy, dx) of every pixel is then one contiguous
/// window of that buffer, starting at dy·W_p + dx, if each row is taken at the padded width
/// W_p = W + 2r ("wide" pixels; the 2r extra columns per row are computed and dropped).
/// Stacking the k² windows gives [B, k², H·W_p, C]; each pixel's [s², k²] × [k², C] product
/// (a batched GEMM over strided views) yields its s² output pixels.
pub fn reassemble_grouped<B: Backend>(x: Tensor<B, 4>, kernels: Tensor<B, 5>, k_up: usize, s: usize) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    let (r, kk, s2) = (k_up / 2, k_up * k_up, s * s);
    let wp = w + 2 * r;
    let q = h * wp;
    let padded = x.permute([0, 2, 3, 1]).pad([(r, r + 1), (r, r), (0, 0)], 0.0); // [B, H+2r+1, W_p, C]
    let len = (h + 2 * r + 1) * wp;
    let flat = padded.reshape([b, len, c]);
    let windows: Vec<Tensor<B, 3>> = (0..kk)
        .map(|k| {
            let start = (k / k_up) * wp + k % k_up;
            flat.clone().slice([0..b, start..start + q, 0..c])
        })
        .collect();
    // Stacked on dim 1 the cat copies whole [Q, C] blocks; the GEMM reads the [k², C] matrix
    // of each pixel through strides, and its input gradient comes out [B, Q, k², C], whose
    // per-window slices are plain row copies.
    let neighbours = Tensor::stack::<4>(windows, 1).swap_dims(1, 2); // [B, Q, k², C] view
    let kernels = kernels.pad([(0, 2 * r)], 0.0).reshape([b, kk, s2, q]).permute([0, 3, 2, 1]); // [B, Q, s², k²] view
    let out = kernels.matmul(neighbours); // [B, Q, s², C]
    out.reshape([b, h, wp, s, s, c]).slice([0..b, 0..h, 0..w, 0..s, 0..s, 0..c]).permute([0, 5, 1, 3, 2, 4]).reshape([
        b,
        c,
        h * s,
        w * s,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;

    #[test]
    fn doubles_the_side_and_kernels_are_normalised() {
        let dev = Default::default();
        let m = CarafeConfig::new(6).init::<B>(&dev);
        let x = Tensor::<B, 4>::random([2, 6, 5, 3], Distribution::Normal(0.0, 1.0), &dev);
        assert_eq!(m.forward(x.clone()).dims(), [2, 6, 10, 6]);
        // A larger encoder so the kernels are far from uniform.
        let mut m = m;
        m.encoder.weight = m.encoder.weight.map(|w| w.mul_scalar(2000.0));
        let k = m.kernels(x);
        assert_eq!(k.dims(), [2, 25, 10, 6]);
        let min = k.clone().min().into_scalar();
        assert!(min >= 0.0, "negative kernel weight {min}");
        let sums = k.clone().sum_dim(1);
        let err = sums.sub_scalar(1.0).abs().max().into_scalar();
        assert!(err < 1e-5, "kernels sum to 1 ± {err}");
        let spread = (k.clone().max() - k.min()).into_scalar();
        assert!(spread > 0.05, "kernels stayed uniform ({spread})");
    }

    #[test]
    fn forward_is_reassembly_with_the_predicted_kernels() {
        let dev = Default::default();
        let mut m = CarafeConfig::new(5).init::<B>(&dev);
        m.encoder.weight = m.encoder.weight.map(|w| w.mul_scalar(1000.0));
        let x = Tensor::<B, 4>::random([2, 5, 3, 6], Distribution::Normal(0.0, 1.0), &dev);
        let want = reassemble(x.clone(), m.kernels(x.clone()), 5, 2);
        let d = (m.forward(x) - want).abs().max().into_scalar();
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn reassembly_matches_nested_loops() {
        let dev = Default::default();
        let (b, c, h, w, k_up, s) = (2, 3, 4, 5, 5, 2);
        let x = Tensor::<B, 4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
        let kernels = Tensor::<B, 4>::random([b, k_up * k_up, h * s, w * s], Distribution::Uniform(-1.0, 1.0), &dev);
        let got = reassemble(x.clone(), kernels.clone(), k_up, s).into_data().to_vec::<f32>().unwrap();
        let xv = x.into_data().to_vec::<f32>().unwrap();
        let kv = kernels.into_data().to_vec::<f32>().unwrap();
        let (oh, ow, r) = (h * s, w * s, (k_up / 2) as isize);
        let mut max_diff = 0.0f32;
        for bi in 0..b {
            for ci in 0..c {
                for i in 0..oh {
                    for j in 0..ow {
                        let (si, sj) = ((i / s) as isize, (j / s) as isize);
                        let mut acc = 0.0f32;
                        for dy in 0..k_up as isize {
                            for dx in 0..k_up as isize {
                                let (y, xx) = (si + dy - r, sj + dx - r);
                                if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                    continue;
                                }
                                let k = (dy * k_up as isize + dx) as usize;
                                let kw = kv[((bi * k_up * k_up + k) * oh + i) * ow + j];
                                acc += kw * xv[((bi * c + ci) * h + y as usize) * w + xx as usize];
                            }
                        }
                        let g = got[((bi * c + ci) * oh + i) * ow + j];
                        max_diff = max_diff.max((g - acc).abs());
                    }
                }
            }
        }
        assert!(max_diff < 1e-5, "max |diff| {max_diff}");
    }

    #[test]
    fn a_centre_only_kernel_is_nearest_neighbour() {
        let dev = Default::default();
        let x = Tensor::<B, 4>::random([1, 2, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let mut centre = vec![0.0f32; 25 * 6 * 8];
        centre[12 * 48..13 * 48].fill(1.0);
        let kernels = Tensor::<B, 4>::from_data(TensorData::new(centre, [1, 25, 6, 8]), &dev);
        let near = crate::nn::up_block::upsample_nearest(x.clone(), [6, 8]);
        let d = (reassemble(x, kernels, 5, 2) - near).abs().max().into_scalar();
        assert!(d < 1e-6, "{d}");
    }

    #[test]
    fn gradients_reach_every_parameter() {
        type AD = crate::CpuTrainBackend;

        let dev = Default::default();
        let m = CarafeConfig::new(8).with_compressed(4).init::<AD>(&dev);
        let x = Tensor::<AD, 4>::random([2, 8, 4, 4], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let target = Tensor::<AD, 4>::random([2, 8, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let grads = (m.forward(x.clone()) * target).sum().backward();
        assert!(x.grad(&grads).is_some_and(|g| g.abs().sum().into_scalar() > 0.0), "no gradient reaches the input");
        let (count, zero) = crate::nn::params_without_grad(&m, &grads);
        assert_eq!(count, 4, "weights and biases of compressor and encoder");
        assert!(zero.is_empty(), "parameters without gradient: {zero:?}");
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::nn::up_block::{UpBlock, upsample_nearest};
    use burn::tensor::Distribution;
    use web_time::Instant;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    fn median_ms(mut f: impl FnMut(), reps: usize) -> f64 {
        f();
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[reps / 2]
    }

    /// CARAFE up-block against AttnGAN's nearest up-block at the first stage's sizes (cpu
    /// preset, gf 16, batch 16) and one refinement-stage size (32 ch, 64→128).
    /// `cargo test -p t2i --lib carafe::speed -- --ignored --nocapture --test-threads 1`
    #[test]
    #[ignore]
    fn carafe_vs_nearest_up_block() {
        let dev = Default::default();
        for (bsz, c, side) in [(16, 256, 4), (16, 128, 8), (16, 64, 16), (16, 32, 32), (16, 32, 64), (1, 32, 32)] {
            let x = Tensor::<B, 4>::random([bsz, c, side, side], Distribution::Normal(0.0, 1.0), &dev);
            let near = UpBlock::<B>::new(c, c / 2, &dev);
            let car = UpBlock::<B>::carafe(c, c / 2, &dev);
            let n = median_ms(|| drop(near.forward(x.clone())), 7);
            let k = median_ms(|| drop(car.forward(x.clone())), 7);
            let m = CarafeConfig::new(c).init::<B>(&dev);
            let grouped = Tensor::<B, 5>::random([bsz, 25, 4, side, side], Distribution::Uniform(0.0, 0.1), &dev);
            let up_n = median_ms(|| drop(upsample_nearest(x.clone(), [side * 2, side * 2])), 7);
            let up_k = median_ms(|| drop(m.forward(x.clone())), 7);
            let re = median_ms(|| drop(reassemble_grouped(x.clone(), grouped.clone(), 5, 2)), 7);
            // Forward + backward on the autodiff backend.
            let xa = Tensor::<AD, 4>::from_inner(x.clone()).require_grad();
            let near_a = UpBlock::<AD>::new(c, c / 2, &dev);
            let car_a = UpBlock::<AD>::carafe(c, c / 2, &dev);
            let nb = median_ms(|| drop(near_a.forward(xa.clone()).sum().backward()), 5);
            let kb = median_ms(|| drop(car_a.forward(xa.clone()).sum().backward()), 5);
            println!(
                "B {bsz} C {c} {side}→{}: up-block fwd nearest {n:.1} ms, CARAFE {k:.1} ms ({:.2}×); fwd+bwd {nb:.1} vs {kb:.1} ms ({:.2}×); upsampling alone: nearest {up_n:.1}, CARAFE {up_k:.1} (reassembly {re:.1})",
                side * 2,
                k / n,
                kb / nb
            );
        }
    }
}
