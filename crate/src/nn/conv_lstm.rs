//! Convolutional LSTM (Shi et al. 2015, Eq. 3): the LSTM's matrix products replaced by 3×3
//! convolutions, so state and gates keep their spatial layout. The shape generator runs it
//! in both directions across the boxes of a layout (Hong et al. 2018, §3.2), so each box's
//! features see every other box.

use super::bilstm::lstm_update;
use crate::nn::torch_autograd::Convolve;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

/// One direction: gates (i, f, g, o) = conv3×3([x ‖ h]).
#[derive(Module, Debug)]
pub struct ConvLstm<B: Backend> {
    gates: Conv2d<B>,
    hidden: usize,
}

impl<B: Backend> ConvLstm<B> {
    pub fn new(input: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            gates: Conv2dConfig::new([input + hidden, 4 * hidden], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            hidden,
        }
    }

    /// Runs over `x` [B, T, C, H, W] in time order (reversed with `reverse`); `valid` [B, T]
    /// is 1 on real steps and 0 on padding, where the state is carried over unchanged and
    /// the output is 0. Returns the outputs [B, T, hidden, H, W].
    pub fn run(&self, x: Tensor<B, 5>, valid: Tensor<B, 2>, reverse: bool) -> Tensor<B, 5> {
        let [b, t, _, hh, ww] = x.dims();
        let hd = self.hidden;
        let device = x.device();
        let mut h = Tensor::<B, 4>::zeros([b, hd, hh, ww], &device);
        let mut c = Tensor::<B, 4>::zeros([b, hd, hh, ww], &device);
        let mut outputs: Vec<Tensor<B, 4>> = Vec::with_capacity(t);
        let order: Vec<usize> = if reverse { (0..t).rev().collect() } else { (0..t).collect() };
        for &step in &order {
            let xt = x.clone().narrow(1, step, 1).squeeze_dim::<4>(1);
            let g = self.gates.convolve(Tensor::cat(vec![xt, h.clone()], 1));
            let (h_new, c_new) = lstm_update(g, c.clone(), hd);
            let m = valid.clone().narrow(1, step, 1).reshape([b, 1, 1, 1]);
            let keep = m.clone().neg().add_scalar(1.0);
            c = c_new * m.clone() + c * keep.clone();
            h = h_new.clone() * m.clone() + h * keep;
            outputs.push(h_new * m);
        }
        if reverse {
            outputs.reverse();
        }
        Tensor::stack(outputs, 1)
    }
}

/// Both directions, outputs joined on channels: [B, T, 2·hidden, H, W].
#[derive(Module, Debug)]
pub struct BiConvLstm<B: Backend> {
    forward_dir: ConvLstm<B>,
    backward_dir: ConvLstm<B>,
}

impl<B: Backend> BiConvLstm<B> {
    pub fn new(input: usize, hidden: usize, device: &B::Device) -> Self {
        Self { forward_dir: ConvLstm::new(input, hidden, device), backward_dir: ConvLstm::new(input, hidden, device) }
    }

    pub fn forward(&self, x: Tensor<B, 5>, valid: Tensor<B, 2>) -> Tensor<B, 5> {
        let f = self.forward_dir.run(x.clone(), valid.clone(), false);
        let b = self.backward_dir.run(x, valid, true);
        Tensor::cat(vec![f, b], 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::CpuBackend;

    #[test]
    fn every_box_sees_every_other_and_padding_is_silent() {
        let dev = Default::default();
        let lstm = BiConvLstm::<B>::new(3, 4, &dev);
        let x = Tensor::<B, 5>::random([2, 3, 3, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let valid = Tensor::<B, 2>::from_floats([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], &dev);
        let y = lstm.forward(x.clone(), valid.clone());
        assert_eq!(y.dims(), [2, 3, 8, 4, 4]);
        // Padding outputs are zero.
        let pad = y.clone().narrow(0, 1, 1).narrow(1, 2, 1).abs().sum().into_scalar();
        assert_eq!(pad, 0.0);
        // Changing the last box changes the first box's output (through the backward pass)…
        let mut x2 = x.clone().into_data().to_vec::<f32>().unwrap();
        let n = 3 * 4 * 4;
        for v in &mut x2[2 * n..3 * n] {
            *v += 1.0;
        }
        let x2 = Tensor::<B, 5>::from_data(TensorData::new(x2, [2, 3, 3, 4, 4]), &dev);
        let y2 = lstm.forward(x2, valid.clone());
        let first = (y2.clone().narrow(0, 0, 1).narrow(1, 0, 1) - y.clone().narrow(0, 0, 1).narrow(1, 0, 1))
            .abs()
            .sum()
            .into_scalar();
        assert!(first > 0.0);
        // …while padded content never reaches the real boxes.
        let mut x3 = x.into_data().to_vec::<f32>().unwrap();
        let off = 3 * n + 2 * n;
        for v in &mut x3[off..off + n] {
            *v += 5.0;
        }
        let y3 = lstm.forward(Tensor::<B, 5>::from_data(TensorData::new(x3, [2, 3, 3, 4, 4]), &dev), valid);
        let real = (y3.narrow(0, 1, 1) - y.narrow(0, 1, 1)).abs().sum().into_scalar();
        assert_eq!(real, 0.0);
    }
}
