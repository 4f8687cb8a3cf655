//! DAMSM pretraining on the tiny preset learns to tell matching pairs from shuffled ones.

use std::path::Path;

mod common;

use common::{scratch, tiny};
use t2i::train::damsm::{damsm_loss, load_damsm, train_damsm};
use t2i::train::{TrainOptions, test_source};
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

fn damsm_losses(dir: &Path, shift: usize) -> f32 {
    let dev = Default::default();
    let d = load_damsm::<B>(dir, &dev).unwrap();
    let cfg = &d.config;
    let src = test_source(cfg, vec![cfg.model.damsm.image_size]).unwrap();
    let n = 8u64;
    let images = src.batch_of(&d.vocab, &(0..n).map(|i| (i, 0)).collect::<Vec<_>>()).unwrap();
    let caps = src.batch_of(&d.vocab, &(0..n).map(|i| ((i + shift as u64) % n, 0)).collect::<Vec<_>>()).unwrap();
    let b_img = images.to_device::<B>(&dev);
    let b_cap = caps.to_device::<B>(&dev);
    let f = d.text.forward(b_cap.tokens);
    let none = vec![vec![false; n as usize]; n as usize];
    let l = damsm_loss(&d.image, b_img.images[0].clone(), f.words, f.sentence, f.pad, &none, &cfg.model.damsm);
    (l.words() + l.sentence()).into_scalar()
}

#[test]
fn damsm_matches_better_than_shuffled_after_training() {
    trains_and_matches("damsm", tiny());
}

/// The spatial global code and the counterfactual hard negatives (`configs/shapes-spatial.toml`).
#[test]
fn damsm_with_spatial_code_and_hard_negatives_trains() {
    let mut cfg = tiny();
    cfg.model.damsm.global = t2i::config::GlobalCode::Spatial;
    cfg.train.damsm_hard_negatives = true;
    trains_and_matches("damsm-hard", cfg);
}

fn trains_and_matches(name: &str, cfg: t2i::config::RunConfig) {
    let dir = scratch(name);
    let s = train_damsm::<AD>(&cfg, &TrainOptions::new(&dir), &Default::default()).unwrap();
    assert_eq!(s.step, 150);
    let matched = damsm_losses(&dir, 0);
    let shuffled = damsm_losses(&dir, 3);
    assert!(matched < shuffled, "matched {matched} vs shuffled {shuffled}");
    let log = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert!(log.contains("r_precision"));
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let w0 = first["w_loss"].as_f64().unwrap() + first["s_loss"].as_f64().unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().nth(149).unwrap()).unwrap();
    let w1 = last["w_loss"].as_f64().unwrap() + last["s_loss"].as_f64().unwrap();
    assert!(w1 < w0, "DAMSM training loss did not fall: {w0} → {w1}");
    std::fs::remove_dir_all(&dir).ok();
}
