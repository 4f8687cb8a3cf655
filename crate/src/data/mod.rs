//! Datasets and batching.

pub mod batcher;
pub mod shapes;
