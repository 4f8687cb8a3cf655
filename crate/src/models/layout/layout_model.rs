//! The three networks of Hong et al. 2018 chained: sentence → boxes (sampled on the host) →
//! masks → semantic layout → image. Training feeds the true boxes and masks to each stage
//! (teacher forcing, as the paper trains the stages); inference feeds each stage the
//! previous one's output.

use burn::prelude::*;
use rand::Rng;

use super::box_generator::BoxGenerator;
use super::boxes::{LayoutBox, box_maps};
use super::layout_image::{LayoutImageDiscriminator, LayoutImageGenerator};
use super::shape_generator::{ShapeDiscriminators, ShapeGenerator, semantic_layout};
use crate::config::{LayoutConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::rng::normal;

/// Box, shape and image generators (what inference and export need).
#[derive(Module, Debug)]
pub struct LayoutGenerator<B: Backend> {
    pub boxes: BoxGenerator<B>,
    pub shapes: ShapeGenerator<B>,
    pub image: LayoutImageGenerator<B>,
    classes: usize,
    slots: usize,
    mask_size: usize,
}

/// The discriminators of the shape and image stages (training only).
#[derive(Module, Debug)]
pub struct LayoutDiscriminator<B: Backend> {
    pub shapes: ShapeDiscriminators<B>,
    pub image: LayoutImageDiscriminator<B>,
}

/// The layout config of a model, or an error naming the missing section.
pub fn layout_config(model: &ModelConfig) -> Result<&LayoutConfig> {
    model.layout.as_ref().ok_or_else(|| Error::config("model.layout", "the layout model needs this section"))
}

/// What the chain draws for a batch.
#[derive(Clone, Debug)]
pub struct Drawn<B: Backend> {
    /// Box maps [N, T, C, S, S] and slot validity [N, T].
    pub box_maps: Tensor<B, 5>,
    pub valid: Tensor<B, 2>,
    /// Masks [N, T, 1, S, S].
    pub masks: Tensor<B, 5>,
    /// Semantic layout [N, C, S, S].
    pub layout: Tensor<B, 4>,
    /// Image [N, 3, side, side].
    pub image: Tensor<B, 4>,
}

impl<B: Backend> LayoutGenerator<B> {
    pub fn new(model: &ModelConfig, device: &B::Device) -> Result<Self> {
        let cfg = layout_config(model)?;
        let d = model.text.feature_dim();
        Ok(Self {
            boxes: BoxGenerator::new(cfg, d, device),
            shapes: ShapeGenerator::new(cfg, device),
            image: LayoutImageGenerator::new(&model.gan, cfg, d, device),
            classes: cfg.classes.len(),
            slots: cfg.max_objects,
            mask_size: cfg.mask_size,
        })
    }

    /// Box slots per layout (`max_objects`).
    pub fn slots(&self) -> usize {
        self.slots
    }
    pub fn mask_size(&self) -> usize {
        self.mask_size
    }

    /// The box maps of `layouts` on `device`: [N, T, C, S, S] and validity [N, T].
    pub fn box_tensors(&self, layouts: &[Vec<LayoutBox>], device: &B::Device) -> (Tensor<B, 5>, Tensor<B, 2>) {
        let (n, t, c, s) = (layouts.len(), self.slots, self.classes, self.mask_size);
        let (maps, valid) = box_maps(layouts, c, t, s);
        (
            Tensor::from_data(TensorData::new(maps, [n, t, c, s, s]), device),
            Tensor::from_data(TensorData::new(valid, [n, t]), device),
        )
    }

    /// Masks, layout and image from given boxes, sentence [N, D], noise z [N, Z] and shape
    /// noise [N, T, noise].
    pub fn draw(
        &self,
        layouts: &[Vec<LayoutBox>],
        sentence: Tensor<B, 2>,
        z: Tensor<B, 2>,
        shape_noise: Tensor<B, 3>,
    ) -> Drawn<B> {
        let (box_maps, valid) = self.box_tensors(layouts, &sentence.device());
        let masks = self.shapes.forward(box_maps.clone(), valid.clone(), shape_noise);
        let layout = semantic_layout(box_maps.clone(), masks.clone());
        let image = self.image.forward(layout.clone(), sentence, z);
        Drawn { box_maps, valid, masks, layout, image }
    }

    /// Shape noise [N, T, noise] drawn from per-caption RNGs (host side, portable).
    pub fn shape_noise<R: Rng>(&self, rngs: &mut [R], device: &B::Device) -> Tensor<B, 3> {
        let (t, k) = (self.slots, self.shapes.noise_dim());
        let values: Vec<f32> = rngs.iter_mut().flat_map(|r| normal(r, t * k)).collect();
        Tensor::from_data(TensorData::new(values, [rngs.len(), t, k]), device)
    }
}

impl<B: Backend> LayoutDiscriminator<B> {
    pub fn new(model: &ModelConfig, device: &B::Device) -> Result<Self> {
        let cfg = layout_config(model)?;
        Ok(Self {
            shapes: ShapeDiscriminators::new(cfg, device),
            image: LayoutImageDiscriminator::new(&model.gan, cfg, model.text.feature_dim(), device),
        })
    }
}
