//! Shapes: a procedural, deterministic dataset of captioned images.
//!
//! Every scene is drawn on a 256×256 canvas: a white, black or gray background with one or
//! two objects, each a circle, square, upward triangle or five-pointed star in one of eight
//! colors and one of two sizes (bounding-box side ≈ 22 % or 42 % of the canvas, ±2 %).
//! One object sits left / right / top / bottom / center; two objects stand in a relation
//! (A left of / right of / above / below B), each in its own half of the canvas.
//! Smaller images are exact box averages of the anti-aliased 256 px render.
//!
//! Four color–shape pairs ([`HELD_OUT`]) never occur in the train split; in the test split
//! half of the scenes contain at least one of them, the other half none, so compositional
//! generalisation can be measured. Each scene has five captions drawn from templates with
//! synonyms, all lowercase words from [`all_words`], at most [`MAX_CAPTION_WORDS`] long.
//!
//! Scene `i` of `(seed, split)` depends only on `(seed, split, i)`: a per-scene ChaCha8
//! generator is keyed by a splitmix64 hash of the three, and only exact uniform draws are
//! taken from it, so pixels and captions are identical on every platform.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use image::{GrayImage, ImageFormat, RgbImage};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tiny_skia::{Color, FillRule, Mask, Paint, PathBuilder, Pixmap, Rect, Transform};

/// Side of the square canvas every scene is rendered on, in pixels.
pub const CANVAS: u32 = 256;
/// Captions generated per scene.
pub const CAPTIONS_PER_SCENE: usize = 5;
/// Upper bound on the number of words in any caption.
pub const MAX_CAPTION_WORDS: usize = 18;

const CANVAS_F: f32 = CANVAS as f32;
/// Size jitter, as a fraction of the canvas side.
const SIZE_JITTER: f32 = 0.02;
/// Jitter of an object's centre around its anchor, as a fraction of the canvas side.
const POSITION_JITTER: f32 = 0.03;
/// Jitter across the split axis for two-object scenes, as a fraction of the canvas side.
const CROSS_JITTER: f32 = 0.10;
/// Probability that a caption ends with "on a <bg> background".
const BACKGROUND_CLAUSE_P: f32 = 0.5;
/// Probability that a two-object caption is phrased from the second object's viewpoint.
const SWAP_P: f32 = 0.25;
/// Extra draws allowed to avoid repeating a caption within a scene.
const CAPTION_RETRIES: usize = 8;

/// Star vertices for outer radius 1 centred at the origin (y down), apex first; inner radius 0.45.
const STAR: [(f32, f32); 10] = [
    (0.0, -1.0),
    (0.264_503_36, -0.364_057_65),
    (0.951_056_5, -0.309_017),
    (0.427_975_43, 0.139_057_65),
    (0.587_785_24, 0.809_017),
    (0.0, 0.45),
    (-0.587_785_24, 0.809_017),
    (-0.427_975_43, 0.139_057_65),
    (-0.951_056_5, -0.309_017),
    (-0.264_503_36, -0.364_057_65),
];
/// Height of the unit star (apex to the lower points).
const STAR_HEIGHT: f32 = 1.809_017;
/// Width of the unit star (between the side points).
const STAR_WIDTH: f32 = 1.902_113;

/// Defines a fieldless enum with serde names, `ALL`, `name()` and `Display`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// Lowercase name, identical to the serde name.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// Canvas background color.
    Background { White => "white", Black => "black", Gray => "gray" }
}

named_enum! {
    /// Object fill color; none equals a background color.
    ObjColor {
        Red => "red", Orange => "orange", Yellow => "yellow", Green => "green",
        Cyan => "cyan", Blue => "blue", Purple => "purple", Pink => "pink",
    }
}

named_enum! {
    /// Object outline.
    ShapeKind { Circle => "circle", Square => "square", Triangle => "triangle", Star => "star" }
}

named_enum! {
    /// Object size class.
    Size { Small => "small", Large => "large" }
}

named_enum! {
    /// Where a lone object sits on the canvas.
    Position { Left => "left", Right => "right", Top => "top", Bottom => "bottom", Center => "center" }
}

named_enum! {
    /// Spatial relation of the first object to the second.
    Relation { LeftOf => "left_of", RightOf => "right_of", Above => "above", Below => "below" }
}

named_enum! {
    /// Dataset split; the train split excludes the [`HELD_OUT`] pairs.
    Split { Train => "train", Test => "test" }
}

impl Background {
    /// sRGB color.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Background::White => [255, 255, 255],
            Background::Black => [0, 0, 0],
            Background::Gray => [128, 128, 128],
        }
    }
}

impl ObjColor {
    /// sRGB color.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            ObjColor::Red => [220, 40, 40],
            ObjColor::Orange => [245, 140, 30],
            ObjColor::Yellow => [240, 210, 40],
            ObjColor::Green => [40, 170, 60],
            ObjColor::Cyan => [40, 200, 210],
            ObjColor::Blue => [40, 80, 220],
            ObjColor::Purple => [140, 60, 180],
            ObjColor::Pink => [240, 120, 190],
        }
    }
}

impl ShapeKind {
    /// Caption words naming this shape.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            ShapeKind::Circle => &["circle", "disk", "dot"],
            ShapeKind::Square => &["square", "box"],
            ShapeKind::Triangle => &["triangle"],
            ShapeKind::Star => &["star"],
        }
    }

    /// Bounding-box width over height.
    pub fn aspect(self) -> f32 {
        match self {
            ShapeKind::Star => STAR_WIDTH / STAR_HEIGHT,
            _ => 1.0,
        }
    }
}

impl Size {
    /// Nominal bounding-box height as a fraction of the canvas side.
    pub fn fraction(self) -> f32 {
        match self {
            Size::Small => 0.22,
            Size::Large => 0.42,
        }
    }

    /// Caption words naming this size.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Size::Small => &["small", "little", "tiny"],
            Size::Large => &["large", "big"],
        }
    }
}

impl Position {
    /// Nominal object centre as fractions of the canvas side.
    pub fn anchor(self) -> [f32; 2] {
        match self {
            Position::Left => [0.25, 0.5],
            Position::Right => [0.75, 0.5],
            Position::Top => [0.5, 0.25],
            Position::Bottom => [0.5, 0.75],
            Position::Center => [0.5, 0.5],
        }
    }

    /// Caption phrases describing this position.
    pub fn phrases(self) -> &'static [&'static str] {
        match self {
            Position::Left => &["on the left", "on the left side", "at the left"],
            Position::Right => &["on the right", "on the right side", "at the right"],
            Position::Top => &["at the top", "near the top"],
            Position::Bottom => &["at the bottom", "near the bottom"],
            Position::Center => &["in the center", "at the center"],
        }
    }
}

impl Relation {
    /// The relation seen from the other object ("A left of B" ⇔ "B right of A").
    pub fn inverse(self) -> Relation {
        match self {
            Relation::LeftOf => Relation::RightOf,
            Relation::RightOf => Relation::LeftOf,
            Relation::Above => Relation::Below,
            Relation::Below => Relation::Above,
        }
    }

    /// Caption phrases describing this relation.
    pub fn phrases(self) -> &'static [&'static str] {
        match self {
            Relation::LeftOf => &["to the left of", "left of"],
            Relation::RightOf => &["to the right of", "right of"],
            Relation::Above => &["above", "over"],
            Relation::Below => &["below", "under"],
        }
    }

    /// Canvas halves `[x0, y0, x1, y1]` in pixels holding the first and second object.
    fn halves(self) -> ([f32; 4], [f32; 4]) {
        let h = CANVAS_F / 2.0;
        let (left, right) = ([0.0, 0.0, h, CANVAS_F], [h, 0.0, CANVAS_F, CANVAS_F]);
        let (top, bottom) = ([0.0, 0.0, CANVAS_F, h], [0.0, h, CANVAS_F, CANVAS_F]);
        match self {
            Relation::LeftOf => (left, right),
            Relation::RightOf => (right, left),
            Relation::Above => (top, bottom),
            Relation::Below => (bottom, top),
        }
    }
}

impl Split {
    fn id(self) -> u64 {
        match self {
            Split::Train => 1,
            Split::Test => 2,
        }
    }
}

impl FromStr for Split {
    type Err = ShapesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Split::ALL.into_iter().find(|split| split.name() == s).ok_or_else(|| ShapesError::UnknownSplit(s.to_owned()))
    }
}

/// Color–shape pairs that never appear in the train split.
pub const HELD_OUT: [(ObjColor, ShapeKind); 4] = [
    (ObjColor::Purple, ShapeKind::Star),
    (ObjColor::Orange, ShapeKind::Circle),
    (ObjColor::Cyan, ShapeKind::Triangle),
    (ObjColor::Pink, ShapeKind::Square),
];

/// Whether `(color, shape)` is one of the [`HELD_OUT`] compositions.
pub fn is_held_out(color: ObjColor, shape: ShapeKind) -> bool {
    HELD_OUT.contains(&(color, shape))
}

/// One object of a scene.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub color: ObjColor,
    pub shape: ShapeKind,
    pub size: Size,
    /// Tight bounding box `[x0, y0, x1, y1]` as fractions of the canvas side.
    pub bbox: [f32; 4],
}

impl Object {
    /// Centre of the bounding box as fractions of the canvas side.
    pub fn center(&self) -> [f32; 2] {
        let [x0, y0, x1, y1] = self.bbox;
        [(x0 + x1) / 2.0, (y0 + y1) / 2.0]
    }

    /// Outline in canvas pixels, derived from the bounding box; `None` if degenerate.
    fn path(&self) -> Option<tiny_skia::Path> {
        let [x0, y0, x1, y1] = self.bbox.map(|v| v * CANVAS_F);
        let cx = (x0 + x1) / 2.0;
        match self.shape {
            ShapeKind::Circle => PathBuilder::from_circle(cx, (y0 + y1) / 2.0, (x1 - x0).min(y1 - y0) / 2.0),
            ShapeKind::Square => Rect::from_ltrb(x0, y0, x1, y1).map(PathBuilder::from_rect),
            ShapeKind::Triangle => polygon([(cx, y0), (x1, y1), (x0, y1)]),
            ShapeKind::Star => {
                let r = (y1 - y0) / STAR_HEIGHT;
                let cy = y0 + r;
                polygon(STAR.map(|(ux, uy)| (cx + ux * r, cy + uy * r)))
            }
        }
    }
}

/// How the objects are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One object at a position.
    Single(Position),
    /// Two objects: `objects[0]` REL `objects[1]`.
    Pair(Relation),
}

/// Ground truth of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub background: Background,
    pub objects: Vec<Object>,
    pub layout: Layout,
}

impl Scene {
    /// Whether any object has a held-out color–shape pair.
    pub fn has_held_out(&self) -> bool {
        self.objects.iter().any(|o| is_held_out(o.color, o.shape))
    }
}

/// A scene with its captions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub index: u64,
    pub scene: Scene,
    pub captions: Vec<String>,
}

/// One line of `captions.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptionRecord {
    pub file: String,
    pub captions: Vec<String>,
}

/// One line of `ground_truth.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthRecord {
    pub file: String,
    pub index: u64,
    pub scene: Scene,
}

/// Errors of rendering and writing the dataset.
#[derive(Debug, thiserror::Error)]
pub enum ShapesError {
    #[error("image size {0} must be a positive divisor of the {CANVAS} px canvas")]
    BadSize(u32),
    #[error("unknown split `{0}` (expected `train` or `test`)")]
    UnknownSplit(String),
    #[error("I/O error on {}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write image {}", .path.display())]
    Image { path: PathBuf, source: image::ImageError },
    #[error("cannot write JSON to {}", .path.display())]
    Json { path: PathBuf, source: serde_json::Error },
}

/// Scene `index` of `(seed, split)` with its captions; a pure function of the three.
pub fn example(seed: u64, split: Split, index: u64) -> Example {
    let mut rng = scene_rng(seed, split, index);
    let scene = sample_scene(&mut rng, split);
    let captions = captions(&scene, &mut rng);
    Example { index, scene, captions }
}

// ---------------------------------------------------------------------------------------
// Randomness: only exact uniform draws, so results do not depend on the platform.

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn scene_rng(seed: u64, split: Split, index: u64) -> ChaCha8Rng {
    let mut state = seed;
    let mut state = splitmix64(&mut state) ^ split.id();
    let mut state = splitmix64(&mut state) ^ index;
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Uniform in `[0, 1)` with 24 bits.
fn unit(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in `[-amplitude, amplitude)`.
fn jitter(rng: &mut ChaCha8Rng, amplitude: f32) -> f32 {
    (2.0 * unit(rng) - 1.0) * amplitude
}

fn coin(rng: &mut ChaCha8Rng, p: f32) -> bool {
    unit(rng) < p
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    let i = (u64::from(rng.next_u32()) * items.len() as u64) >> 32;
    items[i as usize]
}

// ---------------------------------------------------------------------------------------
// Scene sampling.

fn sample_scene(rng: &mut ChaCha8Rng, split: Split) -> Scene {
    let background = pick(rng, &Background::ALL);
    let count = if coin(rng, 0.5) { 1 } else { 2 };
    let kinds = sample_kinds(rng, split, count);
    let mut objects = Vec::with_capacity(count);
    for (color, shape) in kinds {
        let size = pick(rng, &Size::ALL);
        let height = (size.fraction() + jitter(rng, SIZE_JITTER)) * CANVAS_F;
        // The bbox is filled in by the layout below.
        objects.push((Object { color, shape, size, bbox: [0.0; 4] }, height));
    }

    let full = [0.0, 0.0, CANVAS_F, CANVAS_F];
    let layout = if count == 1 {
        let position = pick(rng, &Position::ALL);
        let anchor = position.anchor().map(|v| v * CANVAS_F);
        let amplitude = [POSITION_JITTER * CANVAS_F; 2];
        let (object, height) = &mut objects[0];
        object.bbox = place(rng, object.shape, *height, anchor, amplitude, full);
        Layout::Single(position)
    } else {
        let relation = pick(rng, &Relation::ALL);
        let (first, second) = relation.halves();
        for ((object, height), region) in objects.iter_mut().zip([first, second]) {
            let anchor = [(region[0] + region[2]) / 2.0, (region[1] + region[3]) / 2.0];
            let (along, across) = (POSITION_JITTER * CANVAS_F, CROSS_JITTER * CANVAS_F);
            let amplitude = match relation {
                Relation::LeftOf | Relation::RightOf => [along, across],
                Relation::Above | Relation::Below => [across, along],
            };
            object.bbox = place(rng, object.shape, *height, anchor, amplitude, region);
        }
        Layout::Pair(relation)
    };

    let objects = objects.into_iter().map(|(object, _)| object).collect();
    Scene { background, objects, layout }
}

/// Distinct color–shape pairs for `count` objects, honouring the split's held-out rule.
fn sample_kinds(rng: &mut ChaCha8Rng, split: Split, count: usize) -> Vec<(ObjColor, ShapeKind)> {
    // Test scenes: half carry a held-out pair at a random slot (others free), half carry none.
    let novel_slot = match split {
        Split::Train => None,
        Split::Test => coin(rng, 0.5).then(|| pick(rng, &[0, 1][..count])),
    };
    let mut kinds = Vec::with_capacity(count);
    if novel_slot.is_some() {
        kinds.push(pick(rng, &HELD_OUT));
    }
    while kinds.len() < count {
        let kind = (pick(rng, &ObjColor::ALL), pick(rng, &ShapeKind::ALL));
        let allowed = novel_slot.is_some() || !is_held_out(kind.0, kind.1);
        if allowed && !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if let Some(slot) = novel_slot {
        kinds.swap(0, slot);
    }
    kinds
}

/// Jittered, clamped bbox (fractions) of a shape of `height` px around `anchor` within `region`.
fn place(
    rng: &mut ChaCha8Rng,
    shape: ShapeKind,
    height: f32,
    anchor: [f32; 2],
    amplitude: [f32; 2],
    region: [f32; 4],
) -> [f32; 4] {
    let half = [height * shape.aspect() / 2.0, height / 2.0];
    let mut center = [0.0; 2];
    for axis in 0..2 {
        let c = anchor[axis] + jitter(rng, amplitude[axis]);
        let (lo, hi) = (region[axis] + half[axis], region[axis + 2] - half[axis]);
        center[axis] = c.min(hi).max(lo);
    }
    [center[0] - half[0], center[1] - half[1], center[0] + half[0], center[1] + half[1]].map(|v| v / CANVAS_F)
}

// ---------------------------------------------------------------------------------------
// Captions. Placeholders: {a}/{b} noun phrases, {pos}/{rel} phrases, {bg} background word.

const SINGLE_TEMPLATES: [&str; 5] =
    ["{a} {pos}", "there is {a} {pos}", "{a} is {pos}", "{pos} there is {a}", "a picture of {a} {pos}"];
const PAIR_TEMPLATES: [&str; 4] = ["{a} {rel} {b}", "{a} is {rel} {b}", "there is {a} {rel} {b}", "{a} sits {rel} {b}"];
const BACKGROUND_CLAUSE: &str = "on a {bg} background";

/// Whether a caption names the scene's background (it ends with [`BACKGROUND_CLAUSE`]). Every
/// caption names the objects and their layout; the background only with probability
/// [`BACKGROUND_CLAUSE_P`].
pub fn states_background(caption: &str) -> bool {
    caption.split_whitespace().any(|w| w == "background")
}

/// "a <size> <color> <shape>" with random synonyms.
fn noun_phrase(object: &Object, rng: &mut ChaCha8Rng) -> [&'static str; 4] {
    let size = pick(rng, object.size.words());
    let shape = pick(rng, object.shape.words());
    ["a", size, object.color.name(), shape]
}

fn caption(scene: &Scene, rng: &mut ChaCha8Rng) -> String {
    let (template, a, b, phrase) = match scene.layout {
        Layout::Single(position) => {
            let template = pick(rng, &SINGLE_TEMPLATES);
            let a = noun_phrase(&scene.objects[0], rng);
            (template, a, None, pick(rng, position.phrases()))
        }
        Layout::Pair(relation) => {
            let (mut first, mut second, mut relation) = (&scene.objects[0], &scene.objects[1], relation);
            if coin(rng, SWAP_P) {
                std::mem::swap(&mut first, &mut second);
                relation = relation.inverse();
            }
            let template = pick(rng, &PAIR_TEMPLATES);
            let a = noun_phrase(first, rng);
            let b = noun_phrase(second, rng);
            (template, a, Some(b), pick(rng, relation.phrases()))
        }
    };
    let clause = coin(rng, BACKGROUND_CLAUSE_P).then_some(BACKGROUND_CLAUSE);

    let mut words: Vec<&str> = Vec::with_capacity(MAX_CAPTION_WORDS);
    for token in template.split(' ').chain(clause.into_iter().flat_map(|c| c.split(' '))) {
        match token {
            "{a}" => words.extend(a),
            "{b}" => words.extend(b.into_iter().flatten()),
            "{pos}" | "{rel}" => words.extend(phrase.split(' ')),
            "{bg}" => words.push(scene.background.name()),
            word => words.push(word),
        }
    }
    words.join(" ")
}

/// Five captions, redrawing (a few times at most) any that repeats an earlier one.
fn captions(scene: &Scene, rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(CAPTIONS_PER_SCENE);
    while out.len() < CAPTIONS_PER_SCENE {
        let mut text = caption(scene, rng);
        for _ in 0..CAPTION_RETRIES {
            if !out.contains(&text) {
                break;
            }
            text = caption(scene, rng);
        }
        out.push(text);
    }
    out
}

/// Every word any caption can contain, sorted and deduplicated.
pub fn all_words() -> Vec<&'static str> {
    let phrases = SINGLE_TEMPLATES
        .into_iter()
        .chain(PAIR_TEMPLATES)
        .chain([BACKGROUND_CLAUSE, "a"])
        .chain(Position::ALL.into_iter().flat_map(|p| p.phrases().iter().copied()))
        .chain(Relation::ALL.into_iter().flat_map(|r| r.phrases().iter().copied()))
        .chain(Size::ALL.into_iter().flat_map(|s| s.words().iter().copied()))
        .chain(ShapeKind::ALL.into_iter().flat_map(|s| s.words().iter().copied()))
        .chain(ObjColor::ALL.map(ObjColor::name))
        .chain(Background::ALL.map(Background::name));
    let mut words: Vec<&'static str> = phrases.flat_map(|p| p.split(' ')).filter(|w| !w.starts_with('{')).collect();
    words.sort_unstable();
    words.dedup();
    words
}

// ---------------------------------------------------------------------------------------
// Rendering.

/// Downsampling factor for an output `size`, or `BadSize`.
fn factor(size: u32) -> Result<usize, ShapesError> {
    if !CANVAS.is_multiple_of(size) {
        return Err(ShapesError::BadSize(size));
    }
    Ok((CANVAS / size) as usize)
}

fn polygon(points: impl IntoIterator<Item = (f32, f32)>) -> Option<tiny_skia::Path> {
    let mut builder = PathBuilder::new();
    for (i, (x, y)) in points.into_iter().enumerate() {
        if i == 0 {
            builder.move_to(x, y);
        } else {
            builder.line_to(x, y);
        }
    }
    builder.close();
    builder.finish()
}

/// Box-averages a `CANVAS`² image with `channels` interleaved channels by `factor`,
/// mapping each block mean through `map` into `dst`.
fn box_downsample(src: &[u8], channels: usize, factor: usize, dst: &mut [u8], map: impl Fn(f32) -> u8) {
    let side = CANVAS as usize;
    let out = side / factor;
    let scale = 1.0 / (factor * factor) as f32;
    for oy in 0..out {
        for ox in 0..out {
            for c in 0..channels {
                let mut sum = 0u32;
                for y in oy * factor..(oy + 1) * factor {
                    let row = y * side;
                    for x in ox * factor..(ox + 1) * factor {
                        sum += u32::from(src[(row + x) * channels + c]);
                    }
                }
                dst[(oy * out + ox) * channels + c] = map(sum as f32 * scale);
            }
        }
    }
}

/// Renders the scene at `size`×`size` (a divisor of [`CANVAS`]): background, then objects
/// in order, anti-aliased at 256 px and box-averaged down.
pub fn render(scene: &Scene, size: u32) -> Result<RgbImage, ShapesError> {
    let factor = factor(size)?;
    let mut pixmap = Pixmap::new(CANVAS, CANVAS).expect("canvas size is valid");
    let [r, g, b] = scene.background.rgb();
    pixmap.fill(Color::from_rgba8(r, g, b, 255));
    for object in &scene.objects {
        let Some(path) = object.path() else { continue };
        let [r, g, b] = object.color.rgb();
        let mut paint = Paint { anti_alias: true, ..Paint::default() };
        paint.set_color_rgba8(r, g, b, 255);
        pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
    }
    // Everything is opaque, so premultiplied RGBA is plain RGBA.
    let rgb: Vec<u8> = pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut image = RgbImage::new(size, size);
    box_downsample(&rgb, 3, factor, &mut image, |m| m.round() as u8);
    Ok(image)
}

/// Per-object masks at `size` (a divisor of [`CANVAS`]): 255 where the box-averaged
/// anti-aliased coverage is at least 0.5, else 0. Occlusion is ignored.
pub fn object_masks(scene: &Scene, size: u32) -> Result<Vec<GrayImage>, ShapesError> {
    let factor = factor(size)?;
    let masks = scene.objects.iter().map(|object| {
        let mut coverage = Mask::new(CANVAS, CANVAS).expect("canvas size is valid");
        if let Some(path) = object.path() {
            coverage.fill_path(&path, FillRule::Winding, true, Transform::identity());
        }
        let mut mask = GrayImage::new(size, size);
        box_downsample(coverage.data(), 1, factor, &mut mask, |m| if m >= 127.5 { 255 } else { 0 });
        mask
    });
    Ok(masks.collect())
}

// ---------------------------------------------------------------------------------------
// Writing.

/// Writes `count` examples of `(seed, split)` at `size` px to `dir`: `images/<split>_<index:06>.png`,
/// `captions.jsonl` ([`CaptionRecord`] lines) and `ground_truth.jsonl` ([`GroundTruthRecord`] lines).
pub fn write_dataset(dir: &Path, seed: u64, split: Split, count: u64, size: u32) -> Result<(), ShapesError> {
    factor(size)?;
    let images = dir.join("images");
    fs::create_dir_all(&images).map_err(|source| ShapesError::Io { path: images.clone(), source })?;
    let mut captions = JsonLines::create(dir.join("captions.jsonl"))?;
    let mut truth = JsonLines::create(dir.join("ground_truth.jsonl"))?;
    for index in 0..count {
        let Example { scene, captions: texts, .. } = example(seed, split, index);
        let file = format!("images/{split}_{index:06}.png");
        let path = dir.join(&file);
        render(&scene, size)?
            .save_with_format(&path, ImageFormat::Png)
            .map_err(|source| ShapesError::Image { path, source })?;
        captions.write(&CaptionRecord { file: file.clone(), captions: texts })?;
        truth.write(&GroundTruthRecord { file, index, scene })?;
    }
    captions.finish()?;
    truth.finish()
}

/// A JSON-lines file that remembers its path for errors.
struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonLines {
    fn create(path: PathBuf) -> Result<Self, ShapesError> {
        match File::create(&path) {
            Ok(file) => Ok(JsonLines { path, out: BufWriter::new(file) }),
            Err(source) => Err(ShapesError::Io { path, source }),
        }
    }

    fn write(&mut self, record: &impl Serialize) -> Result<(), ShapesError> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(|source| ShapesError::Json { path: self.path.clone(), source })?;
        self.out.write_all(b"\n").map_err(|source| self.io_error(source))
    }

    fn finish(mut self) -> Result<(), ShapesError> {
        self.out.flush().map_err(|source| self.io_error(source))
    }

    fn io_error(&self, source: std::io::Error) -> ShapesError {
        ShapesError::Io { path: self.path.clone(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn singles(split: Split, n: u64) -> impl Iterator<Item = Example> {
        (0..n).map(move |i| example(11, split, i)).filter(|e| e.scene.objects.len() == 1)
    }

    #[test]
    fn deterministic_per_index() {
        for index in [0, 1, 17, 123_456] {
            let (a, b) = (example(7, Split::Train, index), example(7, Split::Train, index));
            assert_eq!(a, b);
            assert_eq!(render(&a.scene, 256).unwrap(), render(&b.scene, 256).unwrap());
        }
        let scenes: Vec<Scene> = (0..20).map(|i| example(7, Split::Test, i).scene).collect();
        let distinct = scenes.iter().enumerate().filter(|(i, s)| !scenes[..*i].contains(s)).count();
        assert_eq!(distinct, 20);
        assert_ne!(example(7, Split::Train, 3).scene, example(8, Split::Train, 3).scene);
        assert_ne!(example(7, Split::Train, 3).scene, example(7, Split::Test, 3).scene);
    }

    #[test]
    fn held_out_pairs_respect_splits() {
        for i in 0..5_000 {
            let scene = example(3, Split::Train, i).scene;
            assert!(!scene.has_held_out(), "train scene {i} has a held-out pair");
        }
        let mut seen = HashSet::new();
        let mut novel = 0;
        for i in 0..2_000 {
            let scene = example(3, Split::Test, i).scene;
            novel += usize::from(scene.has_held_out());
            seen.extend(scene.objects.iter().map(|o| (o.color, o.shape)));
        }
        assert!(HELD_OUT.iter().all(|pair| seen.contains(pair)));
        assert_eq!(seen.len(), 32);
        assert!((900..1100).contains(&novel), "{novel} of 2000 test scenes are novel");
    }

    #[test]
    fn two_objects_differ_and_sit_in_their_halves() {
        for i in 0..2_000 {
            let scene = example(5, Split::Test, i).scene;
            let Layout::Pair(relation) = scene.layout else {
                continue;
            };
            let [a, b] = [&scene.objects[0], &scene.objects[1]];
            assert_ne!((a.color, a.shape), (b.color, b.shape));
            let (lo, hi) = (0.5 - 1e-5, 0.5 + 1e-5);
            let ok = match relation {
                Relation::LeftOf => a.bbox[2] <= hi && b.bbox[0] >= lo,
                Relation::RightOf => a.bbox[0] >= lo && b.bbox[2] <= hi,
                Relation::Above => a.bbox[3] <= hi && b.bbox[1] >= lo,
                Relation::Below => a.bbox[1] >= lo && b.bbox[3] <= hi,
            };
            assert!(ok, "scene {i}: {scene:?}");
            for o in [a, b] {
                assert!(o.bbox.iter().all(|v| (0.0..=1.0).contains(v)));
            }
        }
    }

    #[test]
    fn captions_are_well_formed() {
        let vocab: HashSet<&str> = all_words().into_iter().collect();
        let (mut longest, mut named, mut total) = (0, 0, 0);
        for split in Split::ALL {
            for i in 0..2_000 {
                let Example { scene, captions, .. } = example(1, split, i);
                assert_eq!(captions.len(), CAPTIONS_PER_SCENE);
                for caption in &captions {
                    let words: Vec<&str> = caption.split(' ').collect();
                    longest = longest.max(words.len());
                    assert!(words.len() <= MAX_CAPTION_WORDS, "{caption}");
                    assert!(words.iter().all(|w| vocab.contains(w)), "{caption}");
                    for object in &scene.objects {
                        assert!(words.contains(&object.color.name()), "{caption}");
                        assert!(object.shape.words().iter().any(|w| words.contains(w)), "{caption}");
                        assert!(object.size.words().iter().any(|w| words.contains(w)), "{caption}");
                    }
                    // The background is named exactly when the caption says "background".
                    assert_eq!(states_background(caption), words.contains(&scene.background.name()), "{caption}");
                    named += usize::from(states_background(caption));
                    total += 1;
                }
            }
        }
        assert_eq!(longest, MAX_CAPTION_WORDS);
        let share = named as f64 / total as f64;
        assert!((share - f64::from(BACKGROUND_CLAUSE_P)).abs() < 0.02, "{share}");
        assert!(vocab.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn split_parses() {
        assert_eq!("train".parse::<Split>().unwrap(), Split::Train);
        assert_eq!("test".parse::<Split>().unwrap(), Split::Test);
        assert!(matches!("val".parse::<Split>(), Err(ShapesError::UnknownSplit(_))));
        assert_eq!(serde_json::to_string(&Split::Test).unwrap(), "\"test\"");
    }

    #[test]
    fn render_sizes_and_colors() {
        let mut checked = 0;
        for ex in singles(Split::Test, 200) {
            let scene = &ex.scene;
            for size in [64, 128, 256] {
                let image = render(scene, size).unwrap();
                assert_eq!(image.dimensions(), (size, size));
            }
            let image = render(scene, 256).unwrap();
            assert_eq!(image.get_pixel(0, 0).0, scene.background.rgb());
            assert_eq!(image.get_pixel(255, 255).0, scene.background.rgb());
            let object = &scene.objects[0];
            let [cx, cy] = object.center().map(|v| (v * CANVAS_F) as u32);
            let pixel = image.get_pixel(cx, cy).0;
            let want = object.color.rgb();
            assert!((0..3).all(|c| pixel[c].abs_diff(want[c]) <= 2), "{pixel:?} vs {want:?}");
            checked += 1;
        }
        assert!(checked > 50);
        assert!(matches!(render(&example(0, Split::Train, 0).scene, 100), Err(ShapesError::BadSize(100))));
        assert!(matches!(object_masks(&example(0, Split::Train, 0).scene, 0), Err(ShapesError::BadSize(0))));
    }

    #[test]
    fn small_image_is_box_average() {
        for i in 0..10 {
            let scene = example(2, Split::Train, i).scene;
            let full = render(&scene, 256).unwrap();
            let small = render(&scene, 64).unwrap();
            for (x, y, pixel) in small.enumerate_pixels() {
                for c in 0..3 {
                    let sum: u32 = (0..16).map(|k| u32::from(full.get_pixel(x * 4 + k % 4, y * 4 + k / 4)[c])).sum();
                    assert_eq!(pixel[c], (sum as f32 / 16.0).round() as u8);
                }
            }
        }
    }

    #[test]
    fn masks_match_geometry() {
        for i in 0..300 {
            let scene = example(4, Split::Test, i).scene;
            for size in [64, 256] {
                let masks = object_masks(&scene, size).unwrap();
                assert_eq!(masks.len(), scene.objects.len());
                for (mask, object) in masks.iter().zip(&scene.objects) {
                    let s = size as f32;
                    let [x0, y0, x1, y1] = object.bbox.map(|v| v * s);
                    let mut area = 0.0;
                    for (x, y, p) in mask.enumerate_pixels() {
                        assert!(p[0] == 0 || p[0] == 255);
                        if p[0] == 0 {
                            continue;
                        }
                        area += 1.0;
                        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                        assert!(px > x0 - 1.0 && px < x1 + 1.0 && py > y0 - 1.0 && py < y1 + 1.0);
                    }
                    let side = (y1 - y0) / s;
                    let fill = match object.shape {
                        ShapeKind::Circle => std::f32::consts::FRAC_PI_4,
                        ShapeKind::Square => 1.0,
                        ShapeKind::Triangle => 0.5,
                        // 5 · R · r · sin 36° with R = h / 1.809, r = 0.45 R.
                        ShapeKind::Star => 5.0 * 0.45 * 0.587_785 / (STAR_HEIGHT * STAR_HEIGHT),
                    };
                    let expected = fill * side * side;
                    let actual = area / (s * s);
                    let rel = (actual - expected).abs() / expected;
                    assert!(rel < 0.1, "{object:?} at {size}: {actual} vs {expected}");
                    let nominal = object.size.fraction();
                    assert!((side - nominal).abs() <= SIZE_JITTER + 1e-4);
                }
            }
        }
    }

    #[test]
    fn vocabulary_is_sorted_and_small() {
        let words = all_words();
        assert!(words.windows(2).all(|w| w[0] < w[1]));
        assert!(words.len() < 60, "{}", words.len());
        for w in ["a", "big", "gray", "under", "center", "disk", "background"] {
            assert!(words.contains(&w), "{w}");
        }
    }

    #[test]
    fn writes_dataset() {
        let dir =
            std::env::temp_dir().join(format!("t2i_shapes_{}_{:?}", std::process::id(), std::thread::current().id()));
        let _ = fs::remove_dir_all(&dir);
        write_dataset(&dir, 9, Split::Test, 3, 64).unwrap();
        let captions = fs::read_to_string(dir.join("captions.jsonl")).unwrap();
        let truth = fs::read_to_string(dir.join("ground_truth.jsonl")).unwrap();
        assert_eq!(captions.lines().count(), 3);
        assert_eq!(truth.lines().count(), 3);
        for (i, (c, t)) in captions.lines().zip(truth.lines()).enumerate() {
            let c: CaptionRecord = serde_json::from_str(c).unwrap();
            let t: GroundTruthRecord = serde_json::from_str(t).unwrap();
            let ex = example(9, Split::Test, i as u64);
            assert_eq!(c.file, format!("images/test_{i:06}.png"));
            assert_eq!(c.captions, ex.captions);
            assert_eq!((t.file.as_str(), t.index), (c.file.as_str(), i as u64));
            assert_eq!(t.scene, ex.scene);
            let png = image::open(dir.join(&c.file)).unwrap().to_rgb8();
            assert_eq!(png, render(&t.scene, 64).unwrap());
        }
        fs::remove_dir_all(&dir).unwrap();
        let bad = write_dataset(&dir, 9, Split::Test, 1, 48);
        assert!(matches!(bad, Err(ShapesError::BadSize(48))));
    }
}
