//! Fréchet distance between two sets of feature vectors (Heusel et al. 2017, Eq. 6):
//! d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}).
//!
//! The published FID uses Inception-v3 pool features, which cannot be had here; t2i computes it
//! on the DAMSM image encoder's global features, so its values are labelled "FID (DAMSM
//! features)" and are comparable only between t2i models evaluated with the same encoder.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::{Error, Result};

/// Mean and covariance (unbiased) of `n` row vectors of width `d`, stored row-major.
pub fn moments(features: &[f32], d: usize) -> Result<(DVector<f64>, DMatrix<f64>)> {
    if d == 0 || !features.len().is_multiple_of(d) || features.len() / d < 2 {
        return Err(Error::Other(format!("FID needs at least 2 feature vectors of width {d}")));
    }
    let n = features.len() / d;
    let x = DMatrix::from_row_slice(n, d, &features.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let mean = x.row_mean().transpose();
    let centered = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let cov = centered.transpose() * &centered / (n as f64 - 1.0);
    Ok((mean, cov))
}

/// Square root of a symmetric positive semi-definite matrix (negative round-off clipped).
fn sqrt_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(m);
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// Fréchet distance between the Gaussians fitted to `a` and `b` (row-major, width `d`).
pub fn frechet_distance(a: &[f32], b: &[f32], d: usize) -> Result<f64> {
    let (m1, s1) = moments(a, d)?;
    let (m2, s2) = moments(b, d)?;
    // Tr((Σ₁Σ₂)^{1/2}) = Tr((Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}), a symmetric PSD matrix.
    let r1 = sqrt_psd(s1.clone());
    let inner = &r1 * &s2 * &r1;
    let inner = (&inner + inner.transpose()) * 0.5;
    let tr_sqrt: f64 = SymmetricEigen::new(inner).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    let diff = m1 - m2;
    Ok((diff.dot(&diff) + s1.trace() + s2.trace() - 2.0 * tr_sqrt).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    fn gaussian(n: usize, scales: &[f32], shift: &[f32], seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = Vec::new();
        for _ in 0..n {
            for (s, m) in scales.iter().zip(shift) {
                let z: f32 = rng.sample(StandardNormal);
                v.push(z * s + m);
            }
        }
        v
    }

    #[test]
    fn identical_sets_are_zero_and_shifts_add_their_square() {
        let a = gaussian(500, &[1.0, 2.0, 0.5], &[0.0; 3], 1);
        assert!(frechet_distance(&a, &a, 3).unwrap() < 1e-6);
        let b: Vec<f32> = a.iter().enumerate().map(|(i, v)| if i % 3 == 0 { v + 3.0 } else { *v }).collect();
        assert!((frechet_distance(&a, &b, 3).unwrap() - 9.0).abs() < 1e-6);
    }

    #[test]
    fn diagonal_covariances_match_the_closed_form() {
        // Independent axes: d² = Σ (σ₁ − σ₂)², up to sampling error.
        let a = gaussian(20000, &[1.0, 2.0], &[0.0, 0.0], 2);
        let b = gaussian(20000, &[3.0, 2.0], &[0.0, 0.0], 3);
        let d = frechet_distance(&a, &b, 2).unwrap();
        assert!((d - 4.0).abs() < 0.25, "{d}");
    }

    #[test]
    fn too_few_vectors_is_an_error() {
        assert!(frechet_distance(&[1.0, 2.0], &[1.0, 2.0], 2).is_err());
    }
}
