//! t2i — the AttnGAN family of text-to-image GANs on burn.
//!
//! One crate for training (native CPU or CUDA), sampling and browser inference. The one
//! inference path is [`pipeline::Pipeline`]; configs are data ([`config`]).

#[cfg(feature = "train")]
pub mod bench;
pub mod config;
pub mod data;
pub mod error;
#[cfg(feature = "train")]
pub mod eval;
#[cfg(all(feature = "train", any(feature = "flex", feature = "ndarray")))]
pub mod export;
#[cfg(feature = "train")]
pub mod import;
pub mod models;
pub mod nn;
#[cfg(feature = "train")]
pub mod npy;
pub mod pipeline;
pub mod readback;
pub mod render;
pub mod rng;
pub mod text;
pub mod train;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web;
pub mod weights;

pub use error::{Error, Result};

/// The default CPU backend (pure-Rust `flex`; see docs/PERFORMANCE.md for the choice).
#[cfg(feature = "flex")]
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend when built with `--no-default-features --features ndarray`.
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub type CpuBackend = burn::backend::NdArray;

/// The CPU backend with automatic differentiation, for training.
#[cfg(any(feature = "flex", feature = "ndarray"))]
pub type CpuTrainBackend = burn::backend::Autodiff<CpuBackend>;
