//! A run directory on disk: `config.toml`, `vocab.json`, `checkpoint.t2i`.

use std::path::{Path, PathBuf};

use crate::config::{ModelConfig, RunConfig};
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;
use crate::train::checkpoint::Checkpoint;

/// The three files every training run writes, read and validated together.
pub struct RunDir {
    pub path: PathBuf,
    pub config: RunConfig,
    pub vocab: Vocab,
    pub checkpoint: Checkpoint,
}

impl RunDir {
    pub fn open(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("config.toml");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let config = RunConfig::from_toml(&text, &cfg_path)?;
        let vocab = Vocab::load(&dir.join("vocab.json"))?;
        let checkpoint = Checkpoint::load(&dir.join("checkpoint.t2i"))?;
        Ok(Self { path: dir.to_path_buf(), config, vocab, checkpoint })
    }

    /// Fail unless the checkpoint is of `kind` (`damsm` or `gan`); `need` says what for.
    pub fn require_kind(&self, kind: &str, need: &str) -> Result<()> {
        if self.checkpoint.kind == kind {
            return Ok(());
        }
        Err(Error::Checkpoint {
            path: self.path.join("checkpoint.t2i"),
            msg: format!("is a {} checkpoint; {need}", self.checkpoint.kind),
        })
    }

    /// The model config with the vocabulary size filled in.
    pub fn model_config(&self) -> ModelConfig {
        let mut m = self.config.model.clone();
        m.text.vocab_size = self.vocab.len();
        m
    }
}
