//! A slot classifier on a stage discriminator: AC-GAN's auxiliary classifier (Odena et al.
//! 2017 §3) with the scene as its class, read in image order (`data/caption_slots.rs`). From
//! the discriminator's 4×4 top features it predicts the arrangement (a lone object's five
//! positions, or a side-by-side or stacked pair) and, for slot 0 (the lone, left or upper
//! object) and slot 1 (the pair's other object), colour, shape and size, each a softmax.
//!
//! The word classifier (`nn/auxiliary_classifier.rs`) asks whether the image shows "red" and
//! "square" somewhere; this head asks which object is red, so a pair drawn mirrored or with
//! its colours swapped costs the generator here even where every word is present. Like the
//! word classifier it learns on real images only (`train/losses.rs`).

use crate::data::caption_slots::{Arrangement, caption_slots};
use crate::data::shapes::{ObjColor, ShapeKind, Size};
use crate::error::{Error, Result};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Classes per slot attribute: colour, shape, size.
const SLOT: [usize; 3] = [ObjColor::ALL.len(), ShapeKind::ALL.len(), Size::ALL.len()];
/// The softmax groups `(first logit, classes)`: the arrangement, then slot 0's colour, shape
/// and size, then slot 1's.
const GROUPS: [(usize, usize); 7] = {
    let a = Arrangement::CLASSES;
    let s = SLOT[0] + SLOT[1] + SLOT[2];
    [
        (0, a),
        (a, SLOT[0]),
        (a + SLOT[0], SLOT[1]),
        (a + SLOT[0] + SLOT[1], SLOT[2]),
        (a + s, SLOT[0]),
        (a + s + SLOT[0], SLOT[1]),
        (a + s + SLOT[0] + SLOT[1], SLOT[2]),
    ]
};
/// Logits the head gives per image.
pub const SLOT_LOGITS: usize = GROUPS[6].0 + GROUPS[6].1;
/// The side of the feature map the head reads (every stage discriminator ends at 4×4).
const SIDE: usize = 4;

/// The head: 4×4 top features [B, C, 4, 4] → slot logits [B, SLOT_LOGITS].
#[derive(Module, Debug)]
pub struct SlotClassifier<B: Backend> {
    out: Linear<B>,
}

impl<B: Backend> SlotClassifier<B> {
    /// `channels` of the top features (8df).
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self { out: LinearConfig::new(channels * SIDE * SIDE, SLOT_LOGITS).init(device) }
    }

    /// Slot logits [B, SLOT_LOGITS] of top features [B, C, 4, 4].
    pub fn forward(&self, top: Tensor<B, 4>) -> Tensor<B, 2> {
        let [b, c, h, w] = top.dims();
        self.out.forward(top.reshape([b, c * h * w]))
    }
}

/// The batch's targets as one-hot groups [B, SLOT_LOGITS]: one 1 per softmax group the
/// caption decides (a lone object leaves slot 1's groups all 0). An error names a caption
/// that is not a Shapes caption.
pub fn slot_targets<B: Backend>(captions: &[String], device: &B::Device) -> Result<Tensor<B, 2>> {
    let mut data = vec![0f32; captions.len() * SLOT_LOGITS];
    for (row, caption) in captions.iter().enumerate() {
        let slots = caption_slots(caption).ok_or_else(|| {
            Error::config(
                "train.lambda_slot_classifier",
                format!("needs Shapes captions (one object and a position, or two and a relation); got {caption:?}"),
            )
        })?;
        let base = row * SLOT_LOGITS;
        data[base + slots.arrangement.class()] = 1.0;
        for (k, o) in slots.objects.iter().enumerate() {
            let classes = [
                ObjColor::ALL.iter().position(|&c| c == o.color),
                ShapeKind::ALL.iter().position(|&s| s == o.shape),
                Size::ALL.iter().position(|&s| s == o.size),
            ];
            for (g, class) in classes.into_iter().enumerate() {
                let (first, _) = GROUPS[1 + 3 * k + g];
                data[base + first + class.unwrap_or(0)] = 1.0;
            }
        }
    }
    Ok(Tensor::from_data(TensorData::new(data, [captions.len(), SLOT_LOGITS]), device))
}

/// Log-likelihood [B] of each image's targets [B, SLOT_LOGITS] under the head's logits: the
/// sum over the softmax groups the caption decides of log p(true class).
pub fn slot_log_likelihood<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    let b = logits.dims()[0];
    GROUPS
        .iter()
        .map(|&(first, n)| {
            let log_p = log_softmax(logits.clone().narrow(1, first, n), 1);
            (log_p * targets.clone().narrow(1, first, n)).sum_dim(1)
        })
        .reduce(|a, b| a + b)
        .map_or_else(|| Tensor::zeros([b], &logits.device()), |t| t.reshape([b]))
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::CpuBackend;
    type A = crate::CpuTrainBackend;

    #[test]
    fn targets_mark_one_class_per_decided_group() {
        let dev = Default::default();
        let caps = ["a large red circle to the right of a small blue box", "a tiny green star in the center"]
            .map(String::from);
        let t = slot_targets::<B>(&caps, &dev).unwrap().into_data().to_vec::<f32>().unwrap();
        let row = |r: usize| &t[r * SLOT_LOGITS..(r + 1) * SLOT_LOGITS];
        let ones = |r: usize| row(r).iter().enumerate().filter(|(_, v)| **v == 1.0).map(|(i, _)| i).collect::<Vec<_>>();
        // Pair, side by side; slot 0 is the blue box (left), slot 1 the red circle.
        let a = Arrangement::CLASSES;
        assert_eq!(ones(0), vec![a - 2, a + 5, a + 8 + 1, a + 12, a + 14, a + 14 + 8, a + 14 + 12 + 1]);
        // Lone object at the centre: slot 1 all zero.
        assert_eq!(ones(1), vec![4, a + 3, a + 8 + 3, a + 12]);
        assert_eq!(SLOT_LOGITS, a + 28);
        let err = slot_targets::<B>(&["a bird".to_string()], &dev).unwrap_err().to_string();
        assert!(err.contains("train.lambda_slot_classifier") && err.contains("a bird"), "{err}");
    }

    /// The log-likelihood is Σ log softmax over the decided groups: 0 for certain logits,
    /// −Σ log n for uniform ones, and its gradient raises the true classes.
    #[test]
    fn log_likelihood_sums_the_decided_groups() {
        let dev = Default::default();
        let caps = ["a large red circle to the right of a small blue box", "a tiny green star in the center"]
            .map(String::from);
        let targets = slot_targets::<A>(&caps, &dev).unwrap();
        let logits = Tensor::<A, 2>::zeros([2, SLOT_LOGITS], &dev).require_grad();
        let ll = slot_log_likelihood(logits.clone(), targets.clone()).into_data().to_vec::<f32>().unwrap();
        let uniform = |groups: &[usize]| -groups.iter().map(|&n| (n as f32).ln()).sum::<f32>();
        assert!((ll[0] - uniform(&[7, 8, 4, 2, 8, 4, 2])).abs() < 1e-4, "{ll:?}");
        assert!((ll[1] - uniform(&[7, 8, 4, 2])).abs() < 1e-4, "{ll:?}");
        let grads = slot_log_likelihood(logits.clone(), targets.clone()).sum().backward();
        let g = logits.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        let t = targets.into_data().to_vec::<f32>().unwrap();
        for (i, (g, t)) in g.iter().zip(&t).enumerate() {
            if *t == 1.0 {
                assert!(*g > 0.0, "logit {i}: {g}");
            }
        }
        // Slot 1 of the lone object is undecided: no gradient there.
        assert!(g[SLOT_LOGITS + GROUPS[4].0..2 * SLOT_LOGITS].iter().all(|v| v.abs() < 1e-7));
        let sure = targets_logits(&t[..SLOT_LOGITS]);
        let ll = slot_log_likelihood(sure, slot_targets::<A>(&caps[..1], &dev).unwrap()).into_scalar();
        assert!(ll.abs() < 1e-3, "{ll}");
    }

    /// Logits of 50 on the true classes and 0 elsewhere: a near-certain head.
    fn targets_logits(t: &[f32]) -> Tensor<A, 2> {
        Tensor::from_data(
            TensorData::new(t.iter().map(|v| v * 50.0).collect::<Vec<_>>(), [1, SLOT_LOGITS]),
            &Default::default(),
        )
    }

    #[test]
    fn the_head_reads_4x4_features() {
        let dev = Default::default();
        let head = SlotClassifier::<B>::new(8, &dev);
        assert_eq!(head.forward(Tensor::zeros([3, 8, 4, 4], &dev)).dims(), [3, SLOT_LOGITS]);
    }
}
