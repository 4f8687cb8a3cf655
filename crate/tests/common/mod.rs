//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

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
