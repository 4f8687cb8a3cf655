//! Image grids and attention sheets.

#[cfg(feature = "train")]
pub mod curves;
pub mod sheet;
