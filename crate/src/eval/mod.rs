//! Evaluation.

pub mod evaluate;
pub mod fid;
pub mod judge;
pub mod r_precision;
