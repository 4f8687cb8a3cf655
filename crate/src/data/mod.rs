//! Datasets and batching.

#[cfg(feature = "train")]
pub mod attngan_layout;
pub mod batcher;
pub mod caption_slots;
#[cfg(feature = "train")]
pub mod captions_pickle;
#[cfg(feature = "train")]
pub mod check;
#[cfg(feature = "train")]
pub mod cub_crop;
#[cfg(feature = "train")]
pub mod folder;
#[cfg(feature = "train")]
pub mod image_dataset;
#[cfg(feature = "train")]
pub mod image_pipeline;
#[cfg(feature = "train")]
pub mod layout_targets;
#[cfg(feature = "train")]
pub mod pickle_read;
pub mod shapes;
#[cfg(feature = "train")]
pub mod source;
