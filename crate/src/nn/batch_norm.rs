//! Batch normalisation (Ioffe & Szegedy 2015) laid out for fast CPU kernels.
//!
//! Same parameters and semantics as PyTorch's `BatchNorm1d/2d` (γ, β, running mean and
//! unbiased running variance, momentum 0.1, ε 1e-5; batch statistics while training, i.e.
//! on an autodiff backend, running statistics otherwise), so official checkpoints map one
//! to one. Unlike burn's generic `BatchNorm`, which broadcasts [1, C, 1, 1] tensors over
//! [B, C, H, W] (a strided, element-at-a-time path on the flex backend), the input is
//! viewed as [B·C, H·W] rows and normalised with one per-row scale and shift, which flex
//! runs as contiguous SIMD loops. Statistics are sums over contiguous rows.

use burn::module::{Param, RunningState};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

impl<B: Backend> BatchNorm<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// x [B, C, …] → normalised x, per channel.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let (b, c) = (dims[0], dims[1]);
        let inner: usize = dims[2..].iter().product();
        let n = (b * inner) as f64;
        let device = x.device();
        if !B::ad_enabled(&device) {
            let mean = self.running_mean.value_sync().to_device(&device);
            let var = self.running_var.value_sync().to_device(&device);
            return self.scale_shift(x, mean, var);
        }
        if let Some((y, mean, var)) =
            super::torch_autograd::batch_norm_train(&x, &self.gamma.val(), &self.beta.val(), self.epsilon)
        {
            self.update_running(mean, var, n);
            return y;
        }
        let per_channel = |t: Tensor<B, 2>| t.sum_dim(1).reshape([b, c]).sum_dim(0).reshape([c]).div_scalar(n);
        let rows = x.clone().reshape([b * c, inner]);
        let mean = per_channel(rows.clone());
        let var = (per_channel(rows.powi_scalar(2)) - mean.clone().powi_scalar(2)).clamp_min(0.0);
        self.update_running(mean.clone().detach(), var.clone().detach(), n);
        self.scale_shift(x, mean, var)
    }

    /// Running averages (momentum m) of the batch mean and the unbiased batch variance over
    /// `n` values per channel.
    fn update_running(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>, n: f64) {
        let device = mean.device();
        let m = self.momentum;
        let unbiased = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
        let rm = self.running_mean.value_sync().to_device(&device);
        let rv = self.running_var.value_sync().to_device(&device);
        self.running_mean.update((rm.mul_scalar(1.0 - m) + mean.mul_scalar(m)).detach());
        self.running_var.update((rv.mul_scalar(1.0 - m) + var.mul_scalar(m * unbiased)).detach());
    }

    /// (x − mean)/√(var + ε)·γ + β as one scale and shift per [B·C] row.
    fn scale_shift<const D: usize>(&self, x: Tensor<B, D>, mean: Tensor<B, 1>, var: Tensor<B, 1>) -> Tensor<B, D> {
        let dims = x.dims();
        let (b, c) = (dims[0], dims[1]);
        let inner: usize = dims[2..].iter().product();
        let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - mean * scale.clone();
        let per_row = |v: Tensor<B, 1>| v.reshape([1, c]).repeat_dim(0, b).reshape([b * c, 1]);
        (x.reshape([b * c, inner]) * per_row(scale) + per_row(shift)).reshape(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::CpuBackend;
    type AD = crate::CpuTrainBackend;

    fn reference(x: &[f32], b: usize, c: usize, inner: usize) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for ch in 0..c {
            let vals: Vec<f32> =
                (0..b).flat_map(|i| (0..inner).map(move |k| (i * c + ch) * inner + k)).map(|j| x[j]).collect();
            let mean = vals.iter().sum::<f32>() / vals.len() as f32;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / vals.len() as f32;
            for i in 0..b {
                for k in 0..inner {
                    let j = (i * c + ch) * inner + k;
                    out[j] = (x[j] - mean) / (var + 1e-5).sqrt();
                }
            }
        }
        out
    }

    #[test]
    fn training_uses_batch_statistics_and_updates_running_ones() {
        let dev = Default::default();
        let (b, c, h) = (3, 2, 4);
        let data: Vec<f32> = (0..b * c * h * h).map(|i| ((i * 37 % 11) as f32) * 0.3 - 1.0).collect();
        let bn = BatchNorm::<AD>::new(c, &dev);
        let x = Tensor::<AD, 4>::from_data(TensorData::new(data.clone(), [b, c, h, h]), &dev);
        let y = bn.forward(x).into_data().to_vec::<f32>().unwrap();
        let want = reference(&data, b, c, h * h);
        let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{err}");
        // Running mean moved 10 % of the way to the batch mean of channel 0.
        let n = b * h * h;
        let ch0: f32 =
            (0..b).flat_map(|i| (0..h * h).map(move |k| i * c * h * h + k)).map(|j| data[j]).sum::<f32>() / n as f32;
        let rm = bn.running_mean.value_sync().into_data().to_vec::<f32>().unwrap();
        assert!((rm[0] - 0.1 * ch0).abs() < 1e-5, "{rm:?} vs {}", 0.1 * ch0);
        // Inference uses the running statistics: with fresh stats (0, 1) it is ~identity.
        let inf = BatchNorm::<B>::new(c, &dev);
        let x = Tensor::<B, 2>::from_data(TensorData::new(vec![0.5f32, -2.0, 3.0, 1.0], [2, c]), &dev);
        let y = inf.forward(x).into_data().to_vec::<f32>().unwrap();
        assert!((y[2] - 3.0 / (1.0f32 + 1e-5).sqrt()).abs() < 1e-5);
    }
}
