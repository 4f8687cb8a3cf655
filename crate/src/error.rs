//! The library's error type: every failure a user can cause names what and where.

use std::path::PathBuf;

/// Errors surfaced to callers (CLI, tests, wasm). Never a panic for bad input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config field is unknown, missing or out of range; `field` is its dotted path.
    #[error("config: {field}: {msg}")]
    Config { field: String, msg: String },
    /// A config file could not be parsed.
    #[error("config {path}: {msg}")]
    ConfigParse { path: PathBuf, msg: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or weight file is corrupt, truncated or does not fit the model.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    /// An exported model file (config.json, model.safetensors) is corrupt or does not fit.
    #[error("{file}: {msg}")]
    Weights { file: String, msg: String },
    /// A caption cannot be used (empty, or no word known to the vocabulary).
    #[error("caption {caption:?}: {msg}")]
    Caption { caption: String, msg: String },
    /// The vocabulary file is invalid.
    #[error(transparent)]
    Vocab(#[from] crate::text::vocab::VocabError),
    /// The Shapes dataset refused a request.
    #[error(transparent)]
    Shapes(#[from] crate::data::shapes::ShapesError),
    /// A dataset file or folder is missing, malformed or inconsistent; `path` names it.
    #[error("{}: {msg}", .path.display())]
    Data { path: PathBuf, msg: String },
    /// A loss became NaN or infinite during training.
    #[error("step {step}: loss {loss} not finite ({value}); training stopped, last good checkpoint kept")]
    NonFinite { step: u64, loss: String, value: f32 },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn data(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Data { path: path.into(), msg: msg.into() }
    }
    pub fn config(field: &str, msg: impl Into<String>) -> Self {
        Error::Config { field: field.to_string(), msg: msg.into() }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
