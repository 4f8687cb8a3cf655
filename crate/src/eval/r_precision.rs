//! R-precision (Xu et al. 2018, §4): for each image, rank its true caption among 99
//! mismatched ones by the cosine of the DAMSM global image code and sentence vector;
//! R-precision is the share of images whose true caption ranks first (R = 1).

use burn::prelude::*;
use rand::seq::index::sample;

use crate::error::{Error, Result};
use crate::models::damsm::cosine_matrix;
use crate::rng::{Stream, rng_for};
use crate::train::damsm::Damsm;
use crate::train::test_source;

/// R-precision over the first `n` usable test examples with real images (1 true caption among
/// up to 100); fewer when the test split is smaller.
pub fn r_precision<B: Backend>(damsm: &Damsm<B>, n: usize, seed: u64, device: &B::Device) -> Result<f64> {
    let cfg = &damsm.config;
    let source = test_source(cfg, vec![cfg.model.damsm.image_size])?;
    let indices = source.eval_indices(&damsm.vocab, 0, n);
    let picks: Vec<(u64, usize)> = indices.iter().map(|&i| (i, 0)).collect();
    let mut globals = Vec::new();
    let mut sentences = Vec::new();
    for chunk in picks.chunks(32) {
        let host = source.batch_of(&damsm.vocab, chunk)?;
        let batch = host.to_device::<B>(device);
        globals.push(damsm.image.forward(batch.images[0].clone()).global);
        sentences.push(damsm.text.forward(batch.tokens).sentence);
    }
    if globals.is_empty() {
        return Err(Error::Other(format!("R-precision: the {} test split has no usable example", source.kind())));
    }
    let keys = source.keys(&indices);
    let sims = cosine_matrix(Tensor::cat(globals, 0), Tensor::cat(sentences, 0));
    r_precision_from_scores(&sims.into_data().to_vec::<f32>().unwrap_or_default(), indices.len(), &keys, seed)
}

/// R-precision from an [n, n] image×caption score matrix; captions with the same content
/// key as the image are never drawn as mismatches.
pub fn r_precision_from_scores(scores: &[f32], n: usize, keys: &[String], seed: u64) -> Result<f64> {
    let mut hits = 0usize;
    for i in 0..n {
        let others: Vec<usize> = (0..n).filter(|&j| j != i && keys[j] != keys[i]).collect();
        let k = others.len().min(99);
        let mut rng = rng_for(seed, Stream::Misc, i as u64);
        let chosen = sample(&mut rng, others.len(), k);
        let truth = scores[i * n + i];
        if chosen.iter().all(|j| scores[i * n + others[j]] < truth) {
            hits += 1;
        }
    }
    Ok(hits as f64 / n.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_chance_scores() {
        let n = 10;
        let keys: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let diag: Vec<f32> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
        assert_eq!(r_precision_from_scores(&diag, n, &keys, 1).unwrap(), 1.0);
        let anti: Vec<f32> = diag.iter().map(|v| 1.0 - v).collect();
        assert_eq!(r_precision_from_scores(&anti, n, &keys, 1).unwrap(), 0.0);
    }
}
