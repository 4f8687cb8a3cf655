//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use t2i::config::RunConfig;

/// A fresh, empty directory under the system temp dir, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("t2i-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The tiny preset with batch 8 and 150 DAMSM steps.
pub fn tiny() -> RunConfig {
    let mut cfg = RunConfig::preset("tiny").unwrap();
    cfg.train.batch_size = 8;
    cfg.train.damsm_steps = 150;
    cfg
}

/// Two DAMSM steps on `cfg` into `root/damsm` (enough to give a GAN run its frozen
/// encoders), and `cfg` set for a short GAN run: no samples, one checkpoint at the end.
pub fn quick_damsm(cfg: &mut RunConfig, root: &Path) -> PathBuf {
    cfg.train.damsm_steps = 2;
    let damsm = root.join("damsm");
    t2i::train::damsm::train_damsm::<t2i::CpuTrainBackend>(
        cfg,
        &t2i::train::TrainOptions::new(&damsm),
        &Default::default(),
    )
    .unwrap();
    cfg.train.sample_every = 0;
    cfg.train.checkpoint_every = 0;
    damsm
}

/// The values of `key` in a run's `metrics.jsonl`, one per record that has it.
pub fn logged(run: &Path, key: &str) -> Vec<f64> {
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get(key).and_then(|x| x.as_f64()))
        .collect()
}

/// The mean of a non-empty series.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}
