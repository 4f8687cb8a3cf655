//! Bivariate Gaussian mixtures, the box generator's densities over (x, y) and (w, h)
//! (Hong et al. 2018, §3.1, Eq. 3; parameterised as Graves 2013, Eq. 18–25: mixture logits,
//! means, log standard deviations and a tanh correlation per component).
//!
//! A head emits 6·K numbers per row: K mixture logits, K·2 means, K·2 log σ, K correlations.
//! [`log_likelihood`] is the differentiable training term; [`HostMixture`] holds one row on the
//! host for sampling (drawn from the portable RNG, so every backend samples the same boxes).

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, tanh};
use rand::Rng;
use rand_distr::StandardNormal;

/// Bounds on log σ: keeps densities finite while a head is untrained.
const LOG_SIGMA_MIN: f64 = -6.0;
const LOG_SIGMA_MAX: f64 = 2.0;
/// |ρ| stays below this, so 1 − ρ² never reaches 0.
const RHO_MAX: f64 = 0.95;

/// Numbers a head must emit per row for `k` components.
pub fn head_width(k: usize) -> usize {
    6 * k
}

/// The parameters of a batch of mixtures.
#[derive(Clone, Debug)]
pub struct Mixture<B: Backend> {
    /// log π_k [B, K] (normalised).
    pub log_pi: Tensor<B, 2>,
    /// μ [B, K, 2].
    pub mu: Tensor<B, 3>,
    /// log σ [B, K, 2].
    pub log_sigma: Tensor<B, 3>,
    /// ρ [B, K].
    pub rho: Tensor<B, 2>,
}

impl<B: Backend> Mixture<B> {
    /// Split a head's raw output [B, 6K].
    pub fn from_raw(raw: Tensor<B, 2>, k: usize) -> Self {
        let [b, _] = raw.dims();
        let log_pi = log_softmax(raw.clone().narrow(1, 0, k), 1);
        let mu = raw.clone().narrow(1, k, 2 * k).reshape([b, k, 2]);
        let log_sigma = raw.clone().narrow(1, 3 * k, 2 * k).reshape([b, k, 2]).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX);
        let rho = tanh(raw.narrow(1, 5 * k, k)).mul_scalar(RHO_MAX);
        Self { log_pi, mu, log_sigma, rho }
    }

    /// log p(x) [B] of points x [B, 2]: log Σ_k π_k N(x; μ_k, Σ_k), with the bivariate normal
    /// log N = −log(2π σ_x σ_y √(1−ρ²)) − Z / (2(1−ρ²)),
    /// Z = d_x²/σ_x² + d_y²/σ_y² − 2ρ d_x d_y/(σ_x σ_y).
    pub fn log_likelihood(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let [b, k, _] = self.mu.dims();
        let d = (x.unsqueeze_dim::<3>(1) - self.mu.clone()) / self.log_sigma.clone().exp(); // [B, K, 2]
        let dx = d.clone().narrow(2, 0, 1).reshape([b, k]);
        let dy = d.narrow(2, 1, 1).reshape([b, k]);
        let one_m_rho2 = self.rho.clone().powi_scalar(2).neg().add_scalar(1.0);
        let z = dx.clone().powi_scalar(2) + dy.clone().powi_scalar(2) - (self.rho.clone() * dx * dy).mul_scalar(2.0);
        let log_sigma_sum = self.log_sigma.clone().sum_dim(2).reshape([b, k]);
        let log_n = (log_sigma_sum + one_m_rho2.clone().log().mul_scalar(0.5)).neg()
            - (z / one_m_rho2.mul_scalar(2.0))
            - (2.0 * std::f64::consts::PI).ln();
        log_sum_exp(self.log_pi.clone() + log_n)
    }
}

/// log Σ exp over dim 1 of [B, K] → [B], stable.
fn log_sum_exp<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 1> {
    let [b, _] = x.dims();
    let m = x.clone().max_dim(1).detach();
    ((x - m.clone()).exp().sum_dim(1).log() + m).reshape([b])
}

/// One mixture on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMixture {
    pub pi: Vec<f32>,
    pub mu: Vec<[f32; 2]>,
    pub sigma: Vec<[f32; 2]>,
    pub rho: Vec<f32>,
}

impl HostMixture {
    /// One row of a head's raw output (6K values), read back to the host for sampling.
    pub fn from_raw(values: &[f32], k: usize) -> HostMixture {
        let logits = &values[..k];
        let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
        let sum: f32 = e.iter().sum();
        let clamp = |v: f32| v.clamp(LOG_SIGMA_MIN as f32, LOG_SIGMA_MAX as f32).exp();
        HostMixture {
            pi: e.iter().map(|v| v / sum).collect(),
            mu: (0..k).map(|i| [values[k + 2 * i], values[k + 2 * i + 1]]).collect(),
            sigma: (0..k).map(|i| [clamp(values[3 * k + 2 * i]), clamp(values[3 * k + 2 * i + 1])]).collect(),
            rho: (0..k).map(|i| values[5 * k + i].tanh() * RHO_MAX as f32).collect(),
        }
    }

    /// The density written out term by term (the reference the tests check against).
    pub fn density(&self, x: [f32; 2]) -> f64 {
        let mut p = 0.0;
        for k in 0..self.pi.len() {
            let (sx, sy, r) = (self.sigma[k][0] as f64, self.sigma[k][1] as f64, self.rho[k] as f64);
            let dx = (x[0] - self.mu[k][0]) as f64 / sx;
            let dy = (x[1] - self.mu[k][1]) as f64 / sy;
            let z = dx * dx + dy * dy - 2.0 * r * dx * dy;
            let norm = 2.0 * std::f64::consts::PI * sx * sy * (1.0 - r * r).sqrt();
            p += self.pi[k] as f64 * (-z / (2.0 * (1.0 - r * r))).exp() / norm;
        }
        p
    }

    /// Draw a point: a component by π, then the correlated normal of that component.
    pub fn sample(&self, rng: &mut impl Rng) -> [f32; 2] {
        let u: f32 = rng.random();
        let mut acc = 0.0;
        let mut k = self.pi.len() - 1;
        for (i, p) in self.pi.iter().enumerate() {
            acc += p;
            if u < acc {
                k = i;
                break;
            }
        }
        let z1: f32 = rng.sample(StandardNormal);
        let z2: f32 = rng.sample(StandardNormal);
        let r = self.rho[k];
        [
            self.mu[k][0] + self.sigma[k][0] * z1,
            self.mu[k][1] + self.sigma[k][1] * (r * z1 + (1.0 - r * r).max(0.0).sqrt() * z2),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use rand::SeedableRng;

    type B = crate::CpuBackend;

    #[test]
    fn log_likelihood_matches_the_direct_density() {
        let dev = Default::default();
        let k = 3;
        let raw = Tensor::<B, 2>::random([4, head_width(k)], Distribution::Normal(0.0, 0.7), &dev);
        let x = Tensor::<B, 2>::random([4, 2], Distribution::Uniform(-1.0, 1.0), &dev);
        let ll = Mixture::from_raw(raw.clone(), k).log_likelihood(x.clone()).into_data().to_vec::<f32>().unwrap();
        let raw_v = raw.into_data().to_vec::<f32>().unwrap();
        let x_v = x.into_data().to_vec::<f32>().unwrap();
        for r in 0..4 {
            let host = HostMixture::from_raw(&raw_v[r * 6 * k..(r + 1) * 6 * k], k);
            assert!((host.pi.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            let direct = host.density([x_v[2 * r], x_v[2 * r + 1]]).ln();
            assert!((ll[r] as f64 - direct).abs() < 1e-4, "row {r}: {} vs {direct}", ll[r]);
        }
    }

    #[test]
    fn samples_follow_the_component_moments() {
        let m = HostMixture { pi: vec![1.0], mu: vec![[0.3, -0.2]], sigma: vec![[0.1, 0.2]], rho: vec![0.8] };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = 20_000;
        let pts: Vec<[f32; 2]> = (0..n).map(|_| m.sample(&mut rng)).collect();
        let mean = |i: usize| pts.iter().map(|p| p[i] as f64).sum::<f64>() / n as f64;
        let (mx, my) = (mean(0), mean(1));
        let cov = pts.iter().map(|p| (p[0] as f64 - mx) * (p[1] as f64 - my)).sum::<f64>() / n as f64;
        let corr = cov / (0.1 * 0.2);
        assert!((mx - 0.3).abs() < 0.005 && (my + 0.2).abs() < 0.01, "{mx} {my}");
        assert!((corr - 0.8).abs() < 0.03, "{corr}");
        // Choosing among components follows π.
        let two = HostMixture {
            pi: vec![0.25, 0.75],
            mu: vec![[-5.0, 0.0], [5.0, 0.0]],
            sigma: vec![[0.1; 2]; 2],
            rho: vec![0.0; 2],
        };
        let right = (0..4000).filter(|_| two.sample(&mut rng)[0] > 0.0).count() as f64 / 4000.0;
        assert!((right - 0.75).abs() < 0.03, "{right}");
    }
}
