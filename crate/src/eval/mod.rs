//! Evaluation.

pub mod r_precision;
