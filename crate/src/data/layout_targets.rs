//! Ground-truth layouts for the layout model: the boxes and masks a Shapes scene keeps, in
//! the order its caption names the objects, with each object's shape as its class.

use crate::data::shapes::{Scene, object_masks};
use crate::error::{Error, Result};
use crate::models::layout::boxes::LayoutBox;

/// The labelled boxes of a scene; every shape must be one of `classes`.
pub fn scene_boxes(scene: &Scene, classes: &[String]) -> Result<Vec<LayoutBox>> {
    scene
        .objects
        .iter()
        .map(|o| {
            let class = classes.iter().position(|c| c == o.shape.name()).ok_or_else(|| {
                Error::config(
                    "model.layout.classes",
                    format!("has no class {:?} for a Shapes object (classes: {})", o.shape.name(), classes.join(", ")),
                )
            })?;
            Ok(LayoutBox { class, bbox: o.bbox })
        })
        .collect()
}

/// True masks of a batch of scenes as [N, T, 1, S, S] values in {0, 1} (objects past `slots`
/// dropped, empty slots 0).
pub fn scene_masks(scenes: &[&Scene], slots: usize, size: usize) -> Result<Vec<f32>> {
    let plane = size * size;
    let mut out = vec![0.0; scenes.len() * slots * plane];
    for (n, scene) in scenes.iter().enumerate() {
        for (t, mask) in object_masks(scene, size as u32)?.into_iter().take(slots).enumerate() {
            let base = (n * slots + t) * plane;
            for (dst, v) in out[base..base + plane].iter_mut().zip(mask.as_raw()) {
                *dst = if *v > 0 { 1.0 } else { 0.0 };
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shapes::{Split, example};

    #[test]
    fn masks_lie_inside_the_boxes_of_real_scenes() {
        let classes: Vec<String> = ["circle", "square", "triangle", "star"].map(String::from).to_vec();
        for i in 0..40 {
            let scene = example(0, Split::Train, i).scene;
            let boxes = scene_boxes(&scene, &classes).unwrap();
            assert_eq!(boxes.len(), scene.objects.len());
            let size = 64;
            let masks = scene_masks(&[&scene], 2, size).unwrap();
            for (t, b) in boxes.iter().enumerate() {
                let [x0, y0, x1, y1] = b.cells(size);
                let plane = &masks[t * size * size..(t + 1) * size * size];
                let on: f32 = plane.iter().sum();
                assert!(on > 0.0, "scene {i} object {t} has an empty mask");
                for y in 0..size {
                    for x in 0..size {
                        if plane[y * size + x] > 0.0 {
                            // Anti-aliased edges may reach the neighbouring cell.
                            assert!(
                                x + 1 >= x0 && x <= x1 && y + 1 >= y0 && y <= y1,
                                "scene {i}: ({x},{y}) outside {:?}",
                                b.bbox
                            );
                        }
                    }
                }
            }
        }
        let err = scene_boxes(&example(0, Split::Train, 0).scene, &["blob".to_string()]).unwrap_err().to_string();
        assert!(err.contains("model.layout.classes"), "{err}");
    }
}
