//! Bidirectional LSTM over padded batches, with padding masked out.
//!
//! Equivalent to PyTorch's `nn.LSTM(bidirectional=True)` run on a `pack_padded_sequence`:
//! the forward direction stops updating after each caption's last word, the backward
//! direction starts at it, and outputs at padded steps are zero. Gates use PyTorch's
//! stacked layout (i, f, g, o), so official weights map one to one.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

/// The LSTM update from pre-activation gates stacked (i, f, g, o) on dim 1 ([B, 4H] or, for the
/// convolutional LSTM, [B, 4H, h, w]) and the cell state c: c' = σ(f)·c + σ(i)·tanh(g),
/// h' = σ(o)·tanh(c'). Returns (h', c').
pub fn lstm_update<B: Backend, const D: usize>(
    gates: Tensor<B, D>,
    c: Tensor<B, D>,
    hidden: usize,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let i = sigmoid(gates.clone().narrow(1, 0, hidden));
    let f = sigmoid(gates.clone().narrow(1, hidden, hidden));
    let g = tanh(gates.clone().narrow(1, 2 * hidden, hidden));
    let o = sigmoid(gates.narrow(1, 3 * hidden, hidden));
    let c = f * c + i * g;
    (o * tanh(c.clone()), c)
}

/// One direction: W_ih x + b_ih + W_hh h + b_hh → gates (i, f, g, o).
#[derive(Module, Debug)]
pub struct LstmDirection<B: Backend> {
    pub input: Linear<B>,
    pub hidden: Linear<B>,
    pub hidden_dim: usize,
}

impl<B: Backend> LstmDirection<B> {
    pub fn new(input_dim: usize, hidden_dim: usize, device: &B::Device) -> Self {
        Self {
            input: LinearConfig::new(input_dim, 4 * hidden_dim).init(device),
            hidden: LinearConfig::new(hidden_dim, 4 * hidden_dim).init(device),
            hidden_dim,
        }
    }

    /// One step of the cell on x [B, D] from state (h, c) [B, H] → (h', c').
    pub fn step(&self, x: Tensor<B, 2>, h: Tensor<B, 2>, c: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        lstm_update(self.input.forward(x) + self.hidden.forward(h), c, self.hidden_dim)
    }

    /// Runs over `x` [B, T, D] in the given time order; `valid` [B, T] is 1 on words, 0 on padding.
    /// Returns outputs [B, T, H] (0 at padding) and the final hidden state [B, H].
    fn run(&self, x: Tensor<B, 3>, valid: Tensor<B, 2>, reverse: bool) -> (Tensor<B, 3>, Tensor<B, 2>) {
        let [b, t, _] = x.dims();
        let h_dim = self.hidden_dim;
        let device = x.device();
        let xw = self.input.forward(x); // [B, T, 4H], one matmul for all steps
        let mut h = Tensor::<B, 2>::zeros([b, h_dim], &device);
        let mut c = Tensor::<B, 2>::zeros([b, h_dim], &device);
        let mut outputs: Vec<Tensor<B, 2>> = Vec::with_capacity(t);
        let order: Vec<usize> = if reverse { (0..t).rev().collect() } else { (0..t).collect() };
        for &step in &order {
            let gates = xw.clone().narrow(1, step, 1).reshape([b, 4 * h_dim]) + self.hidden.forward(h.clone());
            let (h_new, c_new) = lstm_update(gates, c.clone(), h_dim);
            let m = valid.clone().narrow(1, step, 1); // [B, 1]
            let keep = m.clone().neg().add_scalar(1.0);
            c = c_new * m.clone() + c * keep.clone();
            h = h_new.clone() * m.clone() + h * keep;
            outputs.push(h_new * m);
        }
        if reverse {
            outputs.reverse();
        }
        (Tensor::stack(outputs, 1), h)
    }
}

/// Bidirectional wrapper: outputs [B, T, 2H] = [forward ‖ backward]; final states of both.
#[derive(Module, Debug)]
pub struct MaskedBiLstm<B: Backend> {
    pub forward_dir: LstmDirection<B>,
    pub backward_dir: LstmDirection<B>,
}

impl<B: Backend> MaskedBiLstm<B> {
    pub fn new(input_dim: usize, hidden_dim: usize, device: &B::Device) -> Self {
        Self {
            forward_dir: LstmDirection::new(input_dim, hidden_dim, device),
            backward_dir: LstmDirection::new(input_dim, hidden_dim, device),
        }
    }

    /// x [B, T, D], valid [B, T] → (outputs [B, T, 2H], final [B, 2H] = [h_fwd ‖ h_bwd]).
    pub fn forward(&self, x: Tensor<B, 3>, valid: Tensor<B, 2>) -> (Tensor<B, 3>, Tensor<B, 2>) {
        let (of, hf) = self.forward_dir.run(x.clone(), valid.clone(), false);
        let (ob, hb) = self.backward_dir.run(x, valid, true);
        (Tensor::cat(vec![of, ob], 2), Tensor::cat(vec![hf, hb], 1))
    }
}
