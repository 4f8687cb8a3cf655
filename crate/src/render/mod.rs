//! Image grids and attention sheets.

pub mod sheet;
