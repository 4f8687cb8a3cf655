//! Softplus, log(1 + eˣ), finite for every finite input.
//!
//! burn 0.21's `activation::softplus` evaluates log(1 + eˣ) as written, and eˣ overflows f32
//! once x > 88.7. Every binary cross-entropy with logits here is a softplus (BCE(x, 1) =
//! softplus(−x)), so a discriminator that rejects one generated image with a logit below −88.7
//! turned the generator's loss into ∞ (step 26,152 of the default Shapes run). burn's
//! `log_sigmoid` is computed with the log-sum-exp shift and has its own backward, and
//! softplus(x) = −log σ(−x), so this is that: finite in both tails, with gradient σ(x)
//! everywhere, also at x = 0 (where max(x, 0) + log1p(e^{−|x|}) gets 0 from burn's |x| and ReLU).

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;

/// Element-wise softplus(x) = log(1 + eˣ) = −log σ(−x).
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    log_sigmoid(x.neg()).neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    const XS: [f32; 7] = [-1000.0, -100.0, -10.0, 0.0, 10.0, 100.0, 1000.0];

    #[test]
    fn values_match_the_definition_and_stay_finite_in_both_tails() {
        let x = Tensor::<B, 1>::from_floats(XS, &Default::default());
        let got = softplus(x).into_data().to_vec::<f32>().expect("f32");
        for (&x, &y) in XS.iter().zip(&got) {
            // log(1 + eˣ) in f64, where it does not overflow for these inputs.
            let want = (1.0 + (x as f64).exp()).ln() as f32;
            let want = if want.is_finite() { want } else { x };
            assert!(y.is_finite(), "softplus({x}) = {y}");
            assert!((y - want).abs() <= 1e-6 * want.abs().max(1.0), "softplus({x}) = {y}, want {want}");
        }
        // The naive form this replaces is infinite at the top end on the same backend.
        let naive = burn::tensor::activation::softplus(Tensor::<B, 1>::from_floats([100.0], &Default::default()), 1.0);
        assert!(naive.into_scalar().is_infinite());
    }

    #[test]
    fn gradient_is_the_logistic_function() {
        let dev = Default::default();
        let x = Tensor::<AD, 1>::from_floats(XS, &dev).require_grad();
        let grads = softplus(x.clone()).sum().backward();
        let g = x.grad(&grads).expect("gradient").into_data().to_vec::<f32>().expect("f32");
        for (&x, &g) in XS.iter().zip(&g) {
            let want = 1.0 / (1.0 + (-(x as f64)).exp()) as f32;
            assert!((g - want).abs() < 1e-6, "d softplus/dx at {x} = {g}, want {want}");
        }
    }
}
