//! Matching-aware zero-centred gradient penalty (MA-GP; DF-GAN, Tao et al. 2022, Eq. 2, used
//! by RAT-GAN): k·E[‖(∇_x D(x, s), ∇_s D(x, s))‖^p] on real images with their own sentences,
//! k = 2, p = 6 (the official `MA_GP`).
//!
//! Its gradient with respect to the discriminator's parameters θ needs second-order
//! derivatives, which burn 0.21's autodiff does not build. It is computed instead from the
//! identity ‖g‖ = u·g with u = g/‖g‖: u is taken from a first-order pass and held fixed, and
//! the directional derivative u·∇D is a central difference,
//! n = (D(x + εu_x, s + εu_s) − D(x − εu_x, s − εu_s)) / 2ε,
//! which first-order autodiff differentiates in θ. Since d‖g‖ = u·dg, ∂n/∂θ = ∂‖g‖/∂θ up to
//! O(ε²), and the penalty's value and parameter gradient are those of MA-GP (exactly so for a
//! discriminator that is linear in its inputs; `tests` compares with the closed form).

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// The official weight k and power p.
pub const WEIGHT: f64 = 2.0;
pub const POWER: f64 = 6.0;
/// Step ε of the central difference, in input units along a unit direction.
pub const STEP: f64 = 1e-2;

/// MA-GP of the per-sample logits `d(x, s)` [B] at images x [B, C, H, W] and sentences s [B, D].
/// The result is differentiable in the parameters `d` closes over (x and s are detached).
pub fn ma_gp<B, F>(d: F, x: Tensor<B, 4>, s: Tensor<B, 2>, weight: f64, power: f64) -> Tensor<B, 1>
where
    B: AutodiffBackend,
    F: Fn(Tensor<B, 4>, Tensor<B, 2>) -> Tensor<B, 1>,
{
    let [b, c, h, w] = x.dims();
    let dim = s.dims()[1];
    let x = x.detach();
    let s = s.detach();
    // 1. The input gradient g (first order), per sample, held fixed.
    let xg = x.clone().require_grad();
    let sg = s.clone().require_grad();
    let grads = d(xg.clone(), sg.clone()).sum().backward();
    let device = x.device();
    let gx = xg.grad(&grads).unwrap_or_else(|| Tensor::zeros([b, c, h, w], &device));
    let gs = sg.grad(&grads).unwrap_or_else(|| Tensor::zeros([b, dim], &device));
    let norm2 = gx.clone().powi_scalar(2).reshape([b, c * h * w]).sum_dim(1) + gs.clone().powi_scalar(2).sum_dim(1);
    let norm = norm2.sqrt(); // [B, 1]
    // Zero gradient (a constant discriminator): u = 0, and the penalty is exactly 0.
    let inv = norm.clone().greater_elem(0.0).float() / norm.clamp_min(1e-30);
    let ux = Tensor::<B, 4>::from_inner(gx * inv.clone().reshape([b, 1, 1, 1]));
    let us = Tensor::<B, 2>::from_inner(gs * inv);
    // 2. The directional derivative u·∇D, differentiable in θ.
    let plus = d(x.clone() + ux.clone().mul_scalar(STEP), s.clone() + us.clone().mul_scalar(STEP));
    let minus = d(x - ux.mul_scalar(STEP), s - us.mul_scalar(STEP));
    let n = (plus - minus).div_scalar(2.0 * STEP);
    n.abs().powf_scalar(power).mean().mul_scalar(weight)
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::Distribution;

    use super::*;
    type AD = crate::CpuTrainBackend;

    #[test]
    fn zero_for_a_constant_discriminator() {
        let dev = Default::default();
        let bias = Param::from_tensor(Tensor::<AD, 1>::from_floats([0.7], &dev));
        let x = Tensor::<AD, 4>::random([3, 3, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let s = Tensor::<AD, 2>::random([3, 5], Distribution::Normal(0.0, 1.0), &dev);
        let d = |x: Tensor<AD, 4>, _s: Tensor<AD, 2>| {
            x.mul_scalar(0.0).sum_dim(3).sum_dim(2).sum_dim(1).reshape([3]) + bias.val().expand([3])
        };
        let gp = ma_gp(d, x, s, WEIGHT, POWER);
        assert_eq!(gp.into_scalar(), 0.0);
    }

    #[test]
    fn matches_the_closed_form_for_a_linear_discriminator() {
        // D(x, s) = Σ w·x + Σ v·s: ∇D = (w, v) for every sample, MA-GP = k‖(w, v)‖^p and
        // ∂/∂w = k·p‖(w, v)‖^{p−2}·w.
        let dev = Default::default();
        let w = Param::from_tensor(Tensor::<AD, 4>::random([1, 2, 3, 3], Distribution::Normal(0.0, 0.3), &dev));
        let v = Param::from_tensor(Tensor::<AD, 2>::random([1, 4], Distribution::Normal(0.0, 0.3), &dev));
        let x = Tensor::<AD, 4>::random([5, 2, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let s = Tensor::<AD, 2>::random([5, 4], Distribution::Normal(0.0, 1.0), &dev);
        let d = |x: Tensor<AD, 4>, s: Tensor<AD, 2>| {
            (x * w.val()).sum_dim(3).sum_dim(2).sum_dim(1).reshape([5]) + (s * v.val()).sum_dim(1).reshape([5])
        };
        let gp = ma_gp(d, x, s, WEIGHT, POWER);
        let norm2: f32 = w.val().powi_scalar(2).sum().into_scalar() + v.val().powi_scalar(2).sum().into_scalar();
        let norm = norm2.sqrt();
        let want = WEIGHT as f32 * norm.powf(POWER as f32);
        let got: f32 = gp.clone().into_scalar();
        assert!((got - want).abs() <= 1e-3 * want, "{got} vs {want}");
        let grads = gp.backward();
        let gw = w.val().grad(&grads).expect("w gets a gradient");
        let want_gw = w.val().inner().mul_scalar(WEIGHT as f32 * POWER as f32 * norm.powf(POWER as f32 - 2.0));
        let err = (gw - want_gw.clone()).abs().max().into_scalar();
        let scale = want_gw.abs().max().into_scalar();
        assert!(err <= 1e-3 * scale, "gradient off by {err} (scale {scale})");
    }
}
