//! Recurrent affine transformation (RAT-GAN, Ye et al. 2022, §3.2).
//!
//! DF-GAN fuses the sentence into the image features with independent channel-wise affines
//! γ·x + β. RAT-GAN ties them together with one LSTM: before each affine t the controller
//! steps once on the sentence vector s, (h_t, c_t) = LSTM(s, (h_{t−1}, c_{t−1})), and the
//! affine's γ_t and β_t are MLPs of h_t (Eq. 4–6). The initial state (h_0, c_0) comes from the
//! noise through two MLPs, so the noise also steers every fusion.
//!
//! γ is written 1 + Δγ with Δγ's (and β's) output layer initialised to zero, so at
//! initialisation every affine is the identity (the official code initialises the γ layer's
//! bias to 1 and its weights to 0, which is the same function).

use super::bilstm::lstm_update;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// The LSTM state threaded through the affines of one forward pass.
#[derive(Clone, Debug)]
pub struct ControllerState<B: Backend> {
    pub h: Tensor<B, 2>,
    pub c: Tensor<B, 2>,
    /// How many affines have stepped the controller so far.
    pub steps: usize,
}

/// Two-layer MLP, ReLU between (the official `fc_gamma`/`fc_beta` and initial-state nets).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    fc1: Linear<B>,
    fc2: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// `zero_out`: initialise the output layer to zero (the affine's Δγ and β).
    pub fn new(d_in: usize, d_hidden: usize, d_out: usize, zero_out: bool, device: &B::Device) -> Self {
        let out = LinearConfig::new(d_hidden, d_out);
        let out = if zero_out { out.with_initializer(Initializer::Zeros) } else { out };
        Self { fc1: LinearConfig::new(d_in, d_hidden).init(device), fc2: out.init(device) }
    }
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}

/// The shared LSTM cell (gates i, f, g, o) and the MLPs that derive (h_0, c_0) from z.
#[derive(Module, Debug)]
pub struct RecurrentController<B: Backend> {
    input: Linear<B>,
    hidden: Linear<B>,
    init_h: Mlp<B>,
    init_c: Mlp<B>,
    hidden_dim: usize,
}

impl<B: Backend> RecurrentController<B> {
    /// `cond_dim`: sentence width; `z_dim`: noise width; `hidden_dim`: LSTM width.
    pub fn new(cond_dim: usize, z_dim: usize, hidden_dim: usize, device: &B::Device) -> Self {
        Self {
            input: LinearConfig::new(cond_dim, 4 * hidden_dim).init(device),
            hidden: LinearConfig::new(hidden_dim, 4 * hidden_dim).init(device),
            init_h: Mlp::new(z_dim, hidden_dim, hidden_dim, false, device),
            init_c: Mlp::new(z_dim, hidden_dim, hidden_dim, false, device),
            hidden_dim,
        }
    }

    pub fn hidden_dim(&self) -> usize {
        self.hidden_dim
    }

    /// (h_0, c_0) from the noise z [B, Z].
    pub fn start(&self, z: Tensor<B, 2>) -> ControllerState<B> {
        ControllerState { h: self.init_h.forward(z.clone()), c: self.init_c.forward(z), steps: 0 }
    }

    /// One LSTM step on the sentence s [B, D].
    pub fn step(&self, s: Tensor<B, 2>, state: ControllerState<B>) -> ControllerState<B> {
        let hd = self.hidden_dim;
        let gates = self.input.forward(s) + self.hidden.forward(state.h);
        let (h, c) = lstm_update(gates, state.c, hd);
        ControllerState { h, c, steps: state.steps + 1 }
    }
}

/// One recurrent affine: steps the controller, then γ_t(h_t)·x + β_t(h_t) channel-wise.
#[derive(Module, Debug)]
pub struct RecurrentAffine<B: Backend> {
    gamma: Mlp<B>,
    beta: Mlp<B>,
}

impl<B: Backend> RecurrentAffine<B> {
    pub fn new(hidden_dim: usize, channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Mlp::new(hidden_dim, hidden_dim, channels, true, device),
            beta: Mlp::new(hidden_dim, hidden_dim, channels, true, device),
        }
    }

    /// x [B, C, H, W]; returns the transformed features and the advanced controller state.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        sentence: Tensor<B, 2>,
        controller: &RecurrentController<B>,
        state: ControllerState<B>,
    ) -> (Tensor<B, 4>, ControllerState<B>) {
        let state = controller.step(sentence, state);
        let [b, c, _, _] = x.dims();
        let gamma = self.gamma.forward(state.h.clone()).add_scalar(1.0).reshape([b, c, 1, 1]);
        let beta = self.beta.forward(state.h.clone()).reshape([b, c, 1, 1]);
        (x * gamma + beta, state)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tolerance};

    use super::*;
    type B = crate::CpuBackend;

    #[test]
    fn affine_is_the_identity_at_init() {
        let dev = Default::default();
        let ctrl = RecurrentController::<B>::new(6, 4, 8, &dev);
        let aff = RecurrentAffine::<B>::new(8, 3, &dev);
        let x = Tensor::<B, 4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
        let s = Tensor::<B, 2>::random([2, 6], Distribution::Normal(0.0, 1.0), &dev);
        let z = Tensor::<B, 2>::random([2, 4], Distribution::Normal(0.0, 1.0), &dev);
        let (y, state) = aff.forward(x.clone(), s, &ctrl, ctrl.start(z));
        y.into_data().assert_approx_eq::<f32>(&x.into_data(), Tolerance::absolute(1e-6));
        assert_eq!(state.steps, 1);
    }

    #[test]
    fn controller_state_depends_on_noise_and_history() {
        let dev = Default::default();
        let ctrl = RecurrentController::<B>::new(6, 4, 8, &dev);
        let s = Tensor::<B, 2>::random([1, 6], Distribution::Normal(0.0, 1.0), &dev);
        let z1 = Tensor::<B, 2>::random([1, 4], Distribution::Normal(0.0, 1.0), &dev);
        let z2 = Tensor::<B, 2>::random([1, 4], Distribution::Normal(0.0, 1.0), &dev);
        let a = ctrl.step(s.clone(), ctrl.start(z1.clone()));
        let b = ctrl.step(s.clone(), ctrl.start(z2));
        let diff = |x: Tensor<B, 2>, y: Tensor<B, 2>| (x - y).abs().max().into_scalar();
        assert!(diff(a.h.clone(), b.h.clone()) > 1e-4, "h_1 ignores the noise");
        // Same sentence, one more step: a recurrent state, not a function of s alone.
        let a2 = ctrl.step(s, a.clone());
        assert!(diff(a.h, a2.h) > 1e-4);
        assert_eq!(a2.steps, 2);
    }
}
