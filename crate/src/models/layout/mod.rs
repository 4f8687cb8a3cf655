//! Hong et al. 2018, “Inferring Semantic Layout for Hierarchical Text-to-Image Synthesis”:
//! text → boxes ([`box_generator`], §3.1) → masks ([`shape_generator`], §3.2) → image
//! ([`layout_image`], §3.3), chained by [`layout_model`].

pub mod box_generator;
pub mod boxes;
pub mod layout_image;
pub mod layout_model;
pub mod shape_generator;
