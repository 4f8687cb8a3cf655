//! Gradient clipping by the global norm of a module's gradients (PyTorch's
//! `clip_grad_norm_`, which AttnGAN's DAMSM pretraining applies to the text encoder with
//! max norm 0.25). burn's optimizer-level clipping works per tensor, which is a different rule.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(p.id) {
            self.sum += g.powi_scalar(2).sum().into_scalar().elem::<f64>();
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(p.id) {
            self.grads.register::<B::InnerBackend, D>(p.id, g.mul_scalar(self.factor));
        }
    }
}

/// Scales all of `module`'s gradients by min(1, max_norm / ‖g‖₂) and returns the norm before clipping.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    grads: &mut GradientsParams,
    module: &M,
    max_norm: f64,
) -> f64 {
    let mut norm = SquaredNorm { grads, sum: 0.0 };
    module.visit(&mut norm);
    let total = norm.sum.sqrt();
    let factor = max_norm / (total + 1e-6);
    if factor < 1.0 {
        module.visit(&mut Scale { grads, factor });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuTrainBackend as AD;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn clips_the_global_norm_only_when_larger() {
        let dev = Default::default();
        let lin: Linear<AD> = LinearConfig::new(4, 3).init(&dev);
        let x = Tensor::<AD, 2>::ones([2, 4], &dev).mul_scalar(10.0);
        let grads_of = || GradientsParams::from_grads(lin.forward(x.clone()).sum().backward(), &lin);
        let mut g = grads_of();
        let before = clip_global_norm(&mut g, &lin, 1e9);
        assert!(before > 1.0);
        let mut g = grads_of();
        clip_global_norm(&mut g, &lin, 0.25);
        let after = clip_global_norm(&mut g, &lin, 1e9);
        assert!((after - 0.25).abs() < 1e-3, "{after}");
    }
}
