//! Gated linear unit over channels (Dauphin et al. 2017), AttnGAN's `GLU`: the first half
//! of the channels times the sigmoid of the second half.
//!
//! Written over [B, 2, C·H·W] so each half is a 2-D view with unit inner stride, which
//! flex copies and maps with its fast 2-D paths, instead of a 4-D strided walk.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// x [B, 2C, …] → [B, C, …].
pub fn glu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let mut dims = x.dims();
    let b = dims[0];
    let c = dims[1] / 2;
    let rest: usize = dims[2..].iter().product();
    let pairs = x.reshape([b, 2, c * rest]);
    let value = pairs.clone().narrow(1, 0, 1).reshape([b, c * rest]);
    let gate = pairs.narrow(1, 1, 1).reshape([b, c * rest]);
    dims[1] = c;
    (value * sigmoid(gate)).reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::CpuBackend;

    #[test]
    fn matches_burn_glu() {
        let dev = Default::default();
        let x = Tensor::<B, 4>::random([3, 8, 5, 4], burn::tensor::Distribution::Normal(0.0, 2.0), &dev);
        let d = (glu(x.clone()) - burn::tensor::activation::glu(x, 1)).abs().max().into_scalar();
        assert!(d < 1e-6, "{d}");
        let y = Tensor::<B, 2>::random([2, 6], burn::tensor::Distribution::Normal(0.0, 2.0), &dev);
        let d = (glu(y.clone()) - burn::tensor::activation::glu(y, 1)).abs().max().into_scalar();
        assert!(d < 1e-6, "{d}");
    }
}
