//! Evaluation.

pub mod count_errors;
pub mod counterfactual;
pub mod evaluate;
pub mod fid;
pub mod judge;
pub mod layout_scores;
pub mod naming_order;
pub mod r_precision;
pub mod relation_errors;
pub mod scene_records;
pub mod shape_confusion;
