//! CUB-200-2011 bounding boxes and AttnGAN's bird crop (`datasets.py`: `load_bbox`,
//! `get_imgs`): each bird is cut out at 1.5× its box, a square of half-side
//! r = int(max(w, h)·0.75) around the box centre, clipped to the image.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

/// A bounding box `[x, y, width, height]` in pixels, truncated to integers as the official
/// loader does (`pd.read_csv(...).astype(int)`).
pub type BBox = [i64; 4];

/// Reads `CUB_200_2011/images.txt` (`<id> <stem>.jpg`) and `bounding_boxes.txt`
/// (`<id> <x> <y> <width> <height>`) in `cub_dir`: boxes by file stem (name without `.jpg`).
///
/// Rows are joined by id (the official loader joins by row order; the files list the same ids
/// in the same order).
pub fn read_bounding_boxes(cub_dir: &Path) -> Result<HashMap<String, BBox>> {
    let images_txt = cub_dir.join("images.txt");
    let boxes_txt = cub_dir.join("bounding_boxes.txt");
    let mut boxes: HashMap<String, BBox> = HashMap::new();
    for (line_no, fields) in rows(&boxes_txt, "CUB's `<image id> <x> <y> <width> <height>` lines")? {
        let bad = || {
            Error::data(&boxes_txt, format!("line {line_no}: expected `<image id> <x> <y> <width> <height>` (numbers)"))
        };
        let nums: Vec<f64> = fields.iter().map(|f| f.parse::<f64>().map_err(|_| bad())).collect::<Result<_>>()?;
        if nums.len() != 5 || nums.iter().any(|v| !v.is_finite()) {
            return Err(bad());
        }
        // `astype(int)` truncates toward zero.
        boxes.insert(fields[0].clone(), [nums[1] as i64, nums[2] as i64, nums[3] as i64, nums[4] as i64]);
    }
    let mut by_stem = HashMap::with_capacity(boxes.len());
    for (line_no, fields) in rows(&images_txt, "CUB's `<image id> <class folder>/<name>.jpg` lines")? {
        let [id, file] = fields.as_slice() else {
            return Err(Error::data(&images_txt, format!("line {line_no}: expected `<image id> <path>.jpg`")));
        };
        let bbox = boxes.get(id).ok_or_else(|| {
            Error::data(&boxes_txt, format!("has no box for image id {id} ({file}, line {line_no} of images.txt)"))
        })?;
        let stem = file.rsplit_once('.').map_or(file.as_str(), |(stem, _)| stem);
        by_stem.insert(stem.to_owned(), *bbox);
    }
    Ok(by_stem)
}

/// Whitespace-separated fields of every non-blank line, with 1-based line numbers.
fn rows(path: &Path, expected: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::data(path, format!("cannot read it ({e}); it should hold {expected}")))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_owned).collect()))
        .collect())
}

/// The crop `[x1, y1, x2, y2]` (exclusive ends) of a bird with box `bbox` in a
/// `width`×`height` image, or `None` when it is empty (a box outside the image).
pub fn crop_box(bbox: BBox, width: u32, height: u32) -> Option<[u32; 4]> {
    let [x, y, w, h] = bbox;
    let r = (w.max(h) as f64 * 0.75) as i64;
    let cx = (2 * x + w).div_euclid(2);
    let cy = (2 * y + h).div_euclid(2);
    let x1 = (cx - r).max(0);
    let y1 = (cy - r).max(0);
    let x2 = (cx + r).min(width as i64);
    let y2 = (cy + r).min(height as i64);
    (x2 > x1 && y2 > y1).then_some([x1 as u32, y1 as u32, x2 as u32, y2 as u32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_one_and_a_half_box_clipped_to_the_image() {
        // Box 40×20 at (30, 50): r = 30, centre (50, 60) → [20, 30, 80, 90], 60×60.
        assert_eq!(crop_box([30, 50, 40, 20], 200, 200), Some([20, 30, 80, 90]));
        // Near the top-left corner the square is clipped.
        assert_eq!(crop_box([0, 0, 40, 40], 200, 100), Some([0, 0, 50, 50]));
        // Near the bottom-right corner too.
        assert_eq!(crop_box([90, 40, 20, 20], 100, 50), Some([85, 35, 100, 50]));
        // Odd sums floor like Python 2's integer division: (2·3 + 5) / 2 = 5.
        assert_eq!(crop_box([3, 3, 5, 5], 100, 100), Some([2, 2, 8, 8]));
        assert_eq!(crop_box([500, 500, 10, 10], 100, 100), None);
    }

    #[test]
    fn reads_and_joins_by_id() {
        let dir = std::env::temp_dir().join(format!("t2i-cub-crop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("images.txt"), "1 001.A/a_1.jpg\n2 002.B/b_2.jpg\n").unwrap();
        std::fs::write(dir.join("bounding_boxes.txt"), "2 1.9 2.0 3.5 4.0\n1 10 20 30 40\n").unwrap();
        let b = read_bounding_boxes(&dir).unwrap();
        assert_eq!(b["001.A/a_1"], [10, 20, 30, 40]);
        assert_eq!(b["002.B/b_2"], [1, 2, 3, 4]);
        std::fs::write(dir.join("bounding_boxes.txt"), "1 10 20 30\n").unwrap();
        let e = read_bounding_boxes(&dir).unwrap_err().to_string();
        assert!(e.contains("bounding_boxes.txt") && e.contains("line 1"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
