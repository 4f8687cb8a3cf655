//! Conditioning augmentation (StackGAN, Zhang et al. 2017, §3.1; AttnGAN's `CA_NET`).
//!
//! The sentence vector is mapped to the mean and log-variance of a Gaussian, and the
//! condition is sampled from it: c = μ + σ·ε. The KL term that keeps it close to N(0, I)
//! lives in `train::losses::kl_loss`.

use crate::nn::glu::glu;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct ConditioningAugmentation<B: Backend> {
    fc: Linear<B>,
    cond_dim: usize,
}

/// Output of [`ConditioningAugmentation::forward`].
pub struct Conditioning<B: Backend> {
    pub code: Tensor<B, 2>,
    pub mu: Tensor<B, 2>,
    pub logvar: Tensor<B, 2>,
}

impl<B: Backend> ConditioningAugmentation<B> {
    pub fn new(text_dim: usize, cond_dim: usize, device: &B::Device) -> Self {
        Self { fc: LinearConfig::new(text_dim, cond_dim * 4).init(device), cond_dim }
    }

    /// `eps` [B, cond_dim] is drawn by the caller (host RNG); `None` returns c = μ.
    pub fn forward(&self, sentence: Tensor<B, 2>, eps: Option<Tensor<B, 2>>) -> Conditioning<B> {
        let x = glu(self.fc.forward(sentence));
        let mu = x.clone().narrow(1, 0, self.cond_dim);
        let logvar = x.narrow(1, self.cond_dim, self.cond_dim);
        let code = match eps {
            Some(eps) => mu.clone() + eps * logvar.clone().mul_scalar(0.5).exp(),
            None => mu.clone(),
        };
        Conditioning { code, mu, logvar }
    }
}
