//! From an image file to the per-stage training images, as AttnGAN's `main.py` transform and
//! `datasets.get_imgs` do: with `imsize` the largest stage side, scale the shorter side to
//! int(imsize·76/64) (bilinear, aspect kept: torchvision's `Scale`), take a random
//! imsize×imsize crop and a random horizontal flip, then resize that square to each smaller
//! stage's side. Evaluation takes the centre crop and no flip, so it is deterministic.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{ImageReader, RgbImage};
use rand::Rng;

/// The stage sides a dataset serves (each 64·2^i in practice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePipeline {
    pub stage_sizes: Vec<usize>,
}

impl ImagePipeline {
    pub fn new(stage_sizes: Vec<usize>) -> Self {
        Self { stage_sizes }
    }

    /// The side of the square crop: the largest stage side (64 when there is none).
    pub fn imsize(&self) -> u32 {
        self.stage_sizes.iter().copied().max().unwrap_or(64) as u32
    }

    /// Random crop and flip drawn from `rng`, then every stage's image.
    pub fn train_views(&self, img: &RgbImage, rng: &mut impl Rng) -> Vec<RgbImage> {
        let size = self.imsize();
        let scaled = scale_shorter(img, load_size(size));
        let x = rng.random_range(0..=scaled.width() - size);
        let y = rng.random_range(0..=scaled.height() - size);
        let mut square = imageops::crop_imm(&scaled, x, y, size, size).to_image();
        if rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut square);
        }
        self.stages(square)
    }

    /// Centre crop, no flip, then every stage's image.
    pub fn test_views(&self, img: &RgbImage) -> Vec<RgbImage> {
        self.stages(test_square(img, self.imsize()))
    }

    fn stages(&self, square: RgbImage) -> Vec<RgbImage> {
        self.stage_sizes
            .iter()
            .map(|&s| {
                let s = s as u32;
                if s == square.width() { square.clone() } else { imageops::resize(&square, s, s, FilterType::Triangle) }
            })
            .collect()
    }
}

/// The side the shorter image side is scaled to before cropping: int(imsize·76/64).
pub fn load_size(imsize: u32) -> u32 {
    imsize * 76 / 64
}

/// The deterministic evaluation view of side `size`: shorter side to [`load_size`], centre crop.
pub fn test_square(img: &RgbImage, size: u32) -> RgbImage {
    let scaled = scale_shorter(img, load_size(size));
    // torchvision's CenterCrop: offset int(round((w − size) / 2)).
    let x = ((scaled.width() - size) as f64 / 2.0).round() as u32;
    let y = ((scaled.height() - size) as f64 / 2.0).round() as u32;
    imageops::crop_imm(&scaled, x, y, size, size).to_image()
}

/// Scales so the shorter side is `size` and the longer keeps the aspect ratio (int-truncated,
/// as torchvision's `Scale`); bilinear with PIL-style antialiasing when shrinking.
pub fn scale_shorter(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = if w <= h {
        (size, ((size as u64 * h as u64) / w.max(1) as u64) as u32)
    } else {
        (((size as u64 * w as u64) / h.max(1) as u64) as u32, size)
    };
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    imageops::resize(img, nw.max(size), nh.max(size), FilterType::Triangle)
}

/// Decodes an image file (format from its content) as RGB8; the error says why, without the path.
pub fn decode(path: &Path) -> Result<RgbImage, String> {
    let reader = ImageReader::open(path).map_err(|e| e.to_string())?;
    let img = reader.with_guessed_format().map_err(|e| e.to_string())?.decode().map_err(|e| e.to_string())?;
    let img = img.to_rgb8();
    if img.width() == 0 || img.height() == 0 {
        return Err("the image is empty".into());
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 7]))
    }

    #[test]
    fn scale_keeps_aspect_and_crops_square() {
        assert_eq!(scale_shorter(&gradient(300, 200), 76).dimensions(), (114, 76));
        assert_eq!(scale_shorter(&gradient(50, 100), 152).dimensions(), (152, 304));
        assert_eq!(load_size(64), 76);
        assert_eq!(load_size(128), 152);
        assert_eq!(load_size(256), 304);
        let p = ImagePipeline::new(vec![64, 128]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let views = p.train_views(&gradient(300, 200), &mut rng);
        assert_eq!(views.iter().map(|v| v.dimensions()).collect::<Vec<_>>(), [(64, 64), (128, 128)]);
        let again = p.train_views(&gradient(300, 200), &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        assert_eq!(views, again, "views must be a pure function of the RNG");
        let t = p.test_views(&gradient(300, 200));
        assert_eq!(t, p.test_views(&gradient(300, 200)));
        // Centre crop of a horizontal gradient: the middle column is mid-gray in red.
        let mid = t[1].get_pixel(64, 64)[0] as i32;
        assert!((mid - 127).abs() < 6, "{mid}");
    }
}
