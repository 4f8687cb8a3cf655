//! Image grids and attention sheets.

#[cfg(feature = "train")]
pub mod curves;
pub mod layout_view;
pub mod sheet;
