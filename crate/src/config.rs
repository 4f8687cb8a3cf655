//! Model and training configuration as data (TOML files, JSON inside checkpoints).
//!
//! Unknown fields are rejected by serde (`deny_unknown_fields`); impossible values are
//! rejected by [`RunConfig::validate`], which names the offending field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The text encoder (AttnGAN's `RNN_ENCODER`, a BiLSTM).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Vocabulary size including index 0 (`<end>`); filled in from the vocabulary.
    #[serde(default)]
    pub vocab_size: usize,
    /// Word embedding width (AttnGAN: 300).
    pub embedding_dim: usize,
    /// Hidden width per direction (AttnGAN: 128, so word features are 256-d).
    pub hidden_dim: usize,
    /// Dropout on word embeddings during DAMSM training (AttnGAN: 0.5).
    pub dropout: f64,
    /// `bilstm` (AttnGAN's `RNN_ENCODER`) or `cae` (the BiLSTM followed by CAE-GAN's
    /// cross-attention encoder over a learned visual memory).
    #[serde(default = "default_encoder", skip_serializing_if = "is_default_encoder")]
    pub encoder: String,
    /// Slots of the cross-attention encoder's learned visual memory (`encoder = "cae"`).
    #[serde(default = "default_memory_slots", skip_serializing_if = "is_default_memory_slots")]
    pub memory_slots: usize,
}

fn default_encoder() -> String {
    "bilstm".into()
}
fn is_default_encoder(e: &str) -> bool {
    e == "bilstm"
}
fn default_memory_slots() -> usize {
    16
}
fn is_default_memory_slots(n: &usize) -> bool {
    *n == 16
}

impl TextConfig {
    /// Width of word and sentence features (`nef` in AttnGAN): both directions.
    pub fn feature_dim(&self) -> usize {
        2 * self.hidden_dim
    }
}

/// The DAMSM image encoder and matching loss (AttnGAN §3.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DamsmConfig {
    /// Side of the images the encoder sees (the final stage is average-pooled to it).
    pub image_size: usize,
    /// Base channel width of the encoder CNN.
    pub width: usize,
    /// γ1: sharpness of the word-to-region attention (Eq. 9).
    pub gamma1: f64,
    /// γ2: importance of the most relevant word-context pair (Eq. 10).
    pub gamma2: f64,
    /// γ3: smoothing factor of the posterior (Eq. 11).
    pub gamma3: f64,
    /// How the global image code is read off the encoder's last grid: `pooled` (average over
    /// positions, as AttnGAN's Inception code; the default) or `spatial` (the grid flattened, so
    /// the sentence-level score can tell where things are).
    #[serde(default, skip_serializing_if = "GlobalCode::is_pooled")]
    pub global: GlobalCode,
}

/// The DAMSM global image code's pooling ([`DamsmConfig::global`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalCode {
    /// Average over the grid: position-invariant.
    #[default]
    Pooled,
    /// The whole grid through the linear map: position-aware.
    Spatial,
}

impl GlobalCode {
    fn is_pooled(&self) -> bool {
        *self == GlobalCode::Pooled
    }
}

/// The multi-stage generator and its discriminators (AttnGAN §3.1–3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    /// Generator family: `attngan` (word attention), `dmgan` (dynamic memory), `ecagan`
    /// (word attention, CARAFE up-sampling in the first stage, ECA channel attention) or
    /// `ratgan` (one generator of recurrent affine transformations, `models/rat_gan.rs`) or
    /// `layout` (Hong et al. 2018: text → boxes → masks → image, `models/layout/`, configured
    /// by `[model.layout]`).
    pub variant: String,
    /// Number of stages: 1 (64 px), 2 (64, 128) or 3 (64, 128, 256). RAT-GAN has one
    /// generator whose output has the last stage's side.
    pub stages: usize,
    /// Generator width `GF_DIM` (the first stage starts at 16·gf channels).
    pub gf: usize,
    /// Discriminator width `DF_DIM`.
    pub df: usize,
    /// Noise dimension `Z_DIM`.
    pub z_dim: usize,
    /// Conditioning-augmentation output `CONDITION_DIM`.
    pub cond_dim: usize,
    /// Residual blocks per refinement stage `R_NUM`.
    pub res_blocks: usize,
    /// Sampling only: redraw every noise value with |z| above this threshold (truncated
    /// normal, as DF-GAN and RAT-GAN sample; their configs use 0.88). 0: off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncation: f64,
    /// The refinement stages' word attention also sees where each region is (AttnGAN and
    /// ECAGAN; `nn/word_attention.rs`). May be switched on when a run resumes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub positional_attention: bool,
    /// The first stage's 16×16 grid also attends over the words (AttnGAN and ECAGAN;
    /// `nn/early_word_attention.rs`). May be switched on when a run resumes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub first_stage_attention: bool,
}

impl GanConfig {
    /// The generator families (see `models/attngan.rs`).
    pub const VARIANTS: [&'static str; 5] = ["attngan", "dmgan", "ecagan", "ratgan", "layout"];
    /// True for the generators that draw only the final size (RAT-GAN, the layout model).
    pub fn single_stage(&self) -> bool {
        self.is_rat() || self.is_layout()
    }
    /// RAT-GAN (`models/rat_gan.rs`).
    pub fn is_rat(&self) -> bool {
        self.variant == "ratgan"
    }
    /// Hong et al.'s layout model (`models/layout/`).
    pub fn is_layout(&self) -> bool {
        self.variant == "layout"
    }
    /// The sides of the images the generator draws: every stage's, or RAT-GAN's one.
    pub fn output_sizes(&self) -> Vec<usize> {
        if self.single_stage() {
            vec![self.final_size()]
        } else {
            (0..self.stages).map(|i| self.stage_size(i)).collect()
        }
    }
    /// Image side of stage `i` (0-based): 64·2^i.
    pub fn stage_size(&self, i: usize) -> usize {
        64 << i
    }
    pub fn final_size(&self) -> usize {
        self.stage_size(self.stages - 1)
    }
}

/// Everything needed to build the networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub text: TextConfig,
    pub damsm: DamsmConfig,
    pub gan: GanConfig,
    /// The layout model's box, shape and image networks (`variant = "layout"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutConfig>,
}

/// Hong et al. 2018 (“Inferring Semantic Layout for Hierarchical Text-to-Image Synthesis”):
/// the box generator (§3.1), the shape generator (§3.2) and the layout-conditioned image
/// generator (§3.3). The image generator's widths and noise come from `[model.gan]` (gf, df,
/// z_dim) and it draws `[model.gan]`'s final size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// Object classes the boxes are labelled with (Shapes: the four outlines); the box
    /// generator's categorical has one more outcome, the end token.
    pub classes: Vec<String>,
    /// Most boxes one caption can produce (sampling stops here even without the end token).
    pub max_objects: usize,
    /// Components of each 2-D Gaussian mixture, (x, y) and (w, h) (the paper: K).
    pub mixtures: usize,
    /// Width of the box generator's LSTM.
    pub box_hidden: usize,
    /// Side of the layout maps (box maps, masks, the semantic layout): 32 or 64.
    pub mask_size: usize,
    /// Base channel width of the shape generator and its discriminators.
    pub shape_width: usize,
    /// Noise channels added to each box's features in the shape generator.
    pub shape_noise: usize,
    /// λ_l, λ_b: weights of the label and box terms of the box NLL (the paper: 4 and 1).
    pub lambda_label: f64,
    pub lambda_box: f64,
    /// Weight of the shape generator's reconstruction term (discriminator features and pixels).
    pub lambda_shape_rec: f64,
}

impl LayoutConfig {
    /// Outcomes of the label distribution: the classes and the end token (the last index).
    pub fn outcomes(&self) -> usize {
        self.classes.len() + 1
    }
    /// Index of the end token.
    pub fn end_token(&self) -> usize {
        self.classes.len()
    }
}

/// Optimisation and bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// Total optimisation steps for `train gan`.
    pub gan_steps: u64,
    /// Total optimisation steps for `train damsm`.
    pub damsm_steps: u64,
    pub lr_g: f64,
    pub lr_d: f64,
    /// DAMSM encoder learning rate (AttnGAN: 0.002).
    pub lr_damsm: f64,
    /// Adam β1, β2 (AttnGAN: 0.5, 0.999).
    pub betas: [f64; 2],
    /// λ, the weight of the DAMSM loss in the generator loss (Eq. 7).
    pub lambda: f64,
    /// λ1, the weight of the perceptual loss on the final stage (ECAGAN; `train/perceptual.rs`).
    /// 0 (the default, and what configs written before it existed mean): off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lambda_perceptual: f64,
    /// Weight k of a matching-aware zero-centred gradient penalty (MA-GP, DF-GAN Eq. 2;
    /// `train/ma_gp.rs`) on each AttnGAN stage discriminator's summed logits at real images
    /// with their own sentences. 0 (the default, and AttnGAN's own loss): off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub d_penalty: f64,
    /// The penalty's power p (DF-GAN: 6).
    #[serde(default = "default_penalty_power", skip_serializing_if = "is_default_penalty_power")]
    pub d_penalty_power: f64,
    /// DAMSM pretraining on Shapes: each image's caption also competes with copies of it that
    /// change one attribute word (`eval/counterfactual.rs`), as extra negatives of the
    /// image→caption terms, so that the encoders must tell those attributes apart (hard
    /// negatives, as NegCLIP, Yuksekgonul et al. 2023). Off by default (AttnGAN's loss).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub damsm_hard_negatives: bool,
    /// DAMSM training: keep the text encoder fixed and train only the image encoder. With
    /// `t2i train damsm --init <GAN run>` this sharpens the image side of a GAN run's DAMSM
    /// while the word and sentence features its generator is conditioned on stay exactly as
    /// they are. Off by default (AttnGAN trains both encoders jointly).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub damsm_freeze_text: bool,
    /// GAN training on Shapes: each conditional discriminator also scores every real image
    /// with its caption's one-attribute counterfactuals (`eval/counterfactual.rs`) as
    /// mismatched pairs, beside Eq. 5's random ones, so that D_i(x, ē) must bind colour,
    /// shape, size and place to the words and pass that on to the generator through Eq. 4.
    /// Off by default (AttnGAN's loss).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub d_hard_negatives: bool,
    /// With `d_hard_negatives`: weights of the counterfactual pairs by the attribute they
    /// change (`color`, `shape`, `size`, `position`, `background`; unnamed ones weigh 1),
    /// normalised to a mean of 1 over each batch's pairs so that the mismatched term keeps its
    /// share of Eq. 5. E.g. `position = 4.0` makes the mirrored relations ("left of" ↔ "right
    /// of") half of the pairs' weight, for a generator that draws two objects in each other's
    /// places. May be changed when a run resumes. Empty (the default): every pair weighs 1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub d_hard_negative_weights: BTreeMap<String, f64>,
    /// AttnGAN-family GANs on Shapes: the generator's DAMSM term (Eq. 7) also ranks each
    /// generated image's caption above that caption's one-attribute counterfactuals, as
    /// `damsm_hard_negatives` does for real images in pretraining. Eq. 7's negatives are the
    /// batch's other captions, which nearly always differ in colour or place as well, so the
    /// term rarely asks a generated image to show its shape; a counterfactual that changes
    /// only "star" to "circle" does. May be switched on when a run resumes. Off by default
    /// (AttnGAN's loss).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub g_hard_negatives: bool,
    /// With `d_hard_negatives` or `g_hard_negatives`: the GAN's counterfactual captions change
    /// the colour, shape and size word of every object in turn, not only the first word naming
    /// each attribute, so the object a two-object caption names second has pairs of its own
    /// (its errors are the more common ones: `t2i eval`'s naming-order table). Two-object
    /// captions then have eight counterfactuals instead of five; `d_hard_negative_weights`
    /// still weighs them by attribute. DAMSM pretraining keeps the first-word set. May be
    /// changed when a run resumes. Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counterfactual_each_object: bool,
    /// AttnGAN-family GANs with `d_hard_negatives`: weight λ_cf of a generator term that asks
    /// every stage discriminator to score each generated image as a better match for its own
    /// caption than for that caption's one-attribute counterfactuals,
    /// λ_cf·mean w·softplus(D(G(z), ē') − D(G(z), ē)) with the pairs' weights of
    /// `d_hard_negative_weights` (`GeneratorTerms::counterfactual`). Eq. 4 only asks for a
    /// high D(G(z), ē); this asks that the mirrored relation or the other shape score lower,
    /// which is what the discriminators learn from the counterfactual pairs on real images.
    /// May be changed when a run resumes. 0 (the default, and AttnGAN's loss): off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub g_counterfactual_margin: f64,
    /// AttnGAN-family GANs: every stage discriminator's conditional logit also gets a
    /// word-level head (after ControlGAN, Li et al. 2019 §3.3; `nn/word_level_discriminator.rs`)
    /// in which each word attends over the 8×8 image regions. May be switched on when a run
    /// resumes: the heads start at zero and leave the discriminators' logits unchanged. Off
    /// by default (AttnGAN's discriminators).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub d_word_level: bool,
    /// AttnGAN-family GANs: weight of an auxiliary classifier loss (after AC-GAN, Odena et al.
    /// 2017 §3; `nn/auxiliary_classifier.rs`). Every stage discriminator also predicts which
    /// vocabulary words the caption holds, learning on real images, and the generator's images
    /// must classify as their own captions' words. May be switched on when a run resumes.
    /// 0 (the default, and AttnGAN's loss): off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lambda_aux_classifier: f64,
    /// AttnGAN-family GANs on Shapes: weight of a slot classifier loss
    /// (`nn/slot_classifier.rs`, AC-GAN's classifier with the caption's scene as the class).
    /// Every stage discriminator also predicts the arrangement and each object's colour, shape
    /// and size in image order (left or upper object first), learning on real images, and the
    /// generator's images must classify as their own captions' scenes. May be switched on when
    /// a run resumes. 0 (the default): off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lambda_slot_classifier: f64,
    /// Words the auxiliary classifier reads colour-blind: from a random single-channel mix of
    /// the image (`nn/channel_mix.rs`), on real images for the discriminators and on generated
    /// ones for the generator, so that it cannot use colour as evidence for them (for Shapes:
    /// the shape words, whose training images never show the held-out colour–shape pairs).
    /// Costs one more pass through each stage discriminator's encoder per image set. May be
    /// changed when a run resumes. Empty (the default): every word is read from the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aux_colour_blind_words: Vec<String>,
    /// Words the auxiliary classifier reads shape-blind: from a random permutation of the
    /// image's pixels (`nn/pixel_permutation.rs`), which keeps every colour and no outline
    /// (for Shapes: the colour words, so that "purple" cannot count a star shape against it).
    /// Same cost and rules as `aux_colour_blind_words`; a word may be in one list only.
    /// Empty (the default): every word is read from the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aux_shape_blind_words: Vec<String>,
    /// Decay of the exponential moving average of generator weights (AttnGAN: 0.999).
    pub ema_decay: f64,
    /// Gradient-norm clip for the text encoder during DAMSM training (AttnGAN: 0.25).
    pub rnn_grad_clip: f64,
    /// Write sample grids every N steps (0: never).
    pub sample_every: u64,
    /// Write a checkpoint every N steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Evaluate the EMA generator (`t2i eval` on `eval_scenes` test scenes) every N GAN steps
    /// and append the result to metrics.jsonl (0: never).
    #[serde(default)]
    pub eval_every: u64,
    /// Test scenes per periodic evaluation.
    #[serde(default = "default_eval_scenes")]
    pub eval_scenes: usize,
    /// Seed of the host RNG that draws data and noise.
    pub seed: u64,
}

fn is_false(x: &bool) -> bool {
    !*x
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// DF-GAN's p (the `train` feature's `ma_gp::POWER`).
fn default_penalty_power() -> f64 {
    6.0
}

fn is_default_penalty_power(x: &f64) -> bool {
    *x == default_penalty_power()
}

fn default_eval_scenes() -> usize {
    200
}

/// Where training data come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `shapes` (procedural, infinite), `birds` or `coco` (AttnGAN's data folders) or `folder`
    /// (images + captions.jsonl).
    pub kind: String,
    /// The dataset folder, for every kind but `shapes` (relative paths are resolved from the
    /// working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Seed of the Shapes generator (scenes are a pure function of seed, split, index).
    #[serde(default)]
    pub seed: u64,
    /// Shapes: number of distinct training scenes cycled through (the vocabulary is built from
    /// them). Image datasets: use only the first N training images (0: all).
    #[serde(default)]
    pub train_scenes: u64,
    /// Shapes: number of test scenes used by evaluation. Image datasets: use only the first N
    /// test images (0: all).
    #[serde(default)]
    pub test_scenes: u64,
}

/// A whole run: model + training + data. This is what `configs/*.toml` hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub data: DataConfig,
}

impl RunConfig {
    /// Parse TOML and validate.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let cfg: RunConfig = toml::from_str(text).map_err(|e| Error::ConfigParse {
            path: origin.to_path_buf(),
            msg: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read a TOML file, or a preset by name (`tiny`, `cpu`, `paper`).
    pub fn load(path_or_preset: &str) -> Result<Self> {
        if let Some(cfg) = Self::preset(path_or_preset) {
            return Ok(cfg);
        }
        let path = Path::new(path_or_preset);
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The built-in presets, identical to the files in `configs/`.
    pub fn preset(name: &str) -> Option<Self> {
        let text = match name {
            "tiny" => include_str!("../../configs/tiny.toml"),
            "cpu" => include_str!("../../configs/cpu.toml"),
            "paper" => include_str!("../../configs/paper.toml"),
            _ => return None,
        };
        Self::from_toml(text, Path::new(name)).ok()
    }

    /// Check every value that serde cannot: ranges and consistency.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let t = &self.train;
        positive("train.batch_size", t.batch_size as f64)?;
        if t.batch_size < 2 {
            return Err(Error::config("train.batch_size", "must be at least 2 (mismatched pairs need two captions)"));
        }
        for (f, v) in [("train.lr_g", t.lr_g), ("train.lr_d", t.lr_d), ("train.lr_damsm", t.lr_damsm)] {
            positive(f, v)?;
        }
        for (i, b) in t.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                return Err(Error::config(&format!("train.betas[{i}]"), format!("{b} is not in [0, 1)")));
            }
        }
        if !(0.0..1.0).contains(&t.ema_decay) {
            return Err(Error::config("train.ema_decay", format!("{} is not in [0, 1)", t.ema_decay)));
        }
        if t.lambda < 0.0 {
            return Err(Error::config("train.lambda", "must be ≥ 0"));
        }
        non_negative("train.d_penalty", t.d_penalty)?;
        if !(t.d_penalty_power >= 1.0 && t.d_penalty_power.is_finite()) {
            return Err(Error::config("train.d_penalty_power", format!("{} must be ≥ 1", t.d_penalty_power)));
        }
        non_negative("train.lambda_perceptual", t.lambda_perceptual)?;
        positive("train.rnn_grad_clip", t.rnn_grad_clip)?;
        for (key, on) in [
            ("train.damsm_hard_negatives", t.damsm_hard_negatives),
            ("train.d_hard_negatives", t.d_hard_negatives),
            ("train.g_hard_negatives", t.g_hard_negatives),
        ] {
            if on && self.data.kind != "shapes" {
                return Err(Error::config(
                    key,
                    format!("changes Shapes caption words; data.kind {:?} has no such grammar", self.data.kind),
                ));
            }
        }
        if !t.d_hard_negative_weights.is_empty() && !t.d_hard_negatives {
            return Err(Error::config("train.d_hard_negative_weights", "needs train.d_hard_negatives = true"));
        }
        for (name, w) in &t.d_hard_negative_weights {
            // Attribute names live with the counterfactuals, which only training builds have.
            #[cfg(feature = "train")]
            if crate::eval::counterfactual::Attribute::from_name(name).is_none() {
                return Err(Error::config(
                    "train.d_hard_negative_weights",
                    format!("{name:?} is not an attribute (color, shape, size, position, background)"),
                ));
            }
            if !(*w >= 0.0 && w.is_finite()) {
                return Err(Error::config("train.d_hard_negative_weights", format!("{name} = {w} must be ≥ 0")));
            }
        }
        if t.counterfactual_each_object && !(t.d_hard_negatives || t.g_hard_negatives) {
            return Err(Error::config(
                "train.counterfactual_each_object",
                "needs train.d_hard_negatives or train.g_hard_negatives = true (it chooses their counterfactuals)",
            ));
        }
        non_negative("train.g_counterfactual_margin", t.g_counterfactual_margin)?;
        if t.g_counterfactual_margin > 0.0 && !t.d_hard_negatives {
            return Err(Error::config(
                "train.g_counterfactual_margin",
                "needs train.d_hard_negatives = true (the discriminators must learn the counterfactual pairs)",
            ));
        }
        if t.d_hard_negatives && self.model.gan.is_layout() {
            return Err(Error::config(
                "train.d_hard_negatives",
                "is for the AttnGAN-family and RAT-GAN discriminators; the layout model's image discriminator has none",
            ));
        }
        non_negative("train.lambda_aux_classifier", t.lambda_aux_classifier)?;
        for (key, words) in [
            ("train.aux_colour_blind_words", &t.aux_colour_blind_words),
            ("train.aux_shape_blind_words", &t.aux_shape_blind_words),
        ] {
            if !words.is_empty() && t.lambda_aux_classifier == 0.0 {
                return Err(Error::config(key, "needs the auxiliary classifier (train.lambda_aux_classifier > 0)"));
            }
        }
        if let Some(w) = t.aux_shape_blind_words.iter().find(|w| t.aux_colour_blind_words.contains(w)) {
            return Err(Error::config(
                "train.aux_shape_blind_words",
                format!("{w:?} is also in train.aux_colour_blind_words; a word is read from one view only"),
            ));
        }
        non_negative("train.lambda_slot_classifier", t.lambda_slot_classifier)?;
        if t.lambda_slot_classifier > 0.0 && self.data.kind != "shapes" {
            return Err(Error::config(
                "train.lambda_slot_classifier",
                format!("reads Shapes captions; data.kind is {:?}", self.data.kind),
            ));
        }
        for (key, on) in [
            ("train.d_word_level", t.d_word_level),
            ("train.lambda_aux_classifier", t.lambda_aux_classifier > 0.0),
            ("train.lambda_slot_classifier", t.lambda_slot_classifier > 0.0),
        ] {
            if on && self.model.gan.single_stage() {
                return Err(Error::config(
                    key,
                    format!(
                        "is for the AttnGAN-family stage discriminators; model.gan.variant {:?} has its own",
                        self.model.gan.variant
                    ),
                ));
            }
        }
        for (key, on) in [
            ("train.g_hard_negatives", t.g_hard_negatives),
            ("train.g_counterfactual_margin", t.g_counterfactual_margin > 0.0),
        ] {
            if on && self.model.gan.single_stage() {
                return Err(Error::config(
                    key,
                    format!(
                        "is for the AttnGAN-family generators; model.gan.variant {:?} has none",
                        self.model.gan.variant
                    ),
                ));
            }
        }
        if t.eval_every > 0 && t.eval_scenes < 2 {
            return Err(Error::config("train.eval_scenes", "must be at least 2 when train.eval_every is set"));
        }
        self.data.validate()
    }
}

impl DataConfig {
    pub fn validate(&self) -> Result<()> {
        match (self.kind.as_str(), &self.path) {
            ("shapes", None) => {
                positive("data.train_scenes", self.train_scenes as f64)?;
                positive("data.test_scenes", self.test_scenes as f64)
            }
            ("shapes", Some(_)) => Err(Error::config("data.path", "Shapes is procedural and reads no folder")),
            ("birds" | "coco" | "folder", Some(p)) if !p.as_os_str().is_empty() => Ok(()),
            ("birds" | "coco" | "folder", _) => {
                Err(Error::config("data.path", format!("data.kind {:?} needs the dataset folder", self.kind)))
            }
            (other, _) => Err(Error::config(
                "data.kind",
                format!("unknown dataset {other:?} (known: shapes, birds, coco, folder)"),
            )),
        }
    }
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        let x = &self.text;
        positive("model.text.embedding_dim", x.embedding_dim as f64)?;
        positive("model.text.hidden_dim", x.hidden_dim as f64)?;
        if !(0.0..1.0).contains(&x.dropout) {
            return Err(Error::config("model.text.dropout", format!("{} is not in [0, 1)", x.dropout)));
        }
        if !["bilstm", "cae"].contains(&x.encoder.as_str()) {
            return Err(Error::config(
                "model.text.encoder",
                format!("unknown encoder {:?} (known: bilstm, cae)", x.encoder),
            ));
        }
        positive("model.text.memory_slots", x.memory_slots as f64)?;
        let d = &self.damsm;
        if ![64, 128, 256].contains(&d.image_size) {
            return Err(Error::config(
                "model.damsm.image_size",
                format!("{} is not one of 64, 128, 256", d.image_size),
            ));
        }
        positive("model.damsm.width", d.width as f64)?;
        for (f, v) in
            [("model.damsm.gamma1", d.gamma1), ("model.damsm.gamma2", d.gamma2), ("model.damsm.gamma3", d.gamma3)]
        {
            positive(f, v)?;
        }
        let g = &self.gan;
        if !GanConfig::VARIANTS.contains(&g.variant.as_str()) {
            return Err(Error::config(
                "model.gan.variant",
                format!("unknown variant {:?} (known: {})", g.variant, GanConfig::VARIANTS.join(", ")),
            ));
        }
        if !(1..=3).contains(&g.stages) {
            return Err(Error::config("model.gan.stages", format!("{} is not 1, 2 or 3", g.stages)));
        }
        for (on, key) in [
            (g.positional_attention, "model.gan.positional_attention"),
            (g.first_stage_attention, "model.gan.first_stage_attention"),
        ] {
            if on && !["attngan", "ecagan"].contains(&g.variant.as_str()) {
                return Err(Error::config(
                    key,
                    format!("needs word attention (variant attngan or ecagan), not {:?}", g.variant),
                ));
            }
        }
        if d.image_size > g.final_size() {
            return Err(Error::config(
                "model.damsm.image_size",
                format!("{} exceeds the final stage size {}", d.image_size, g.final_size()),
            ));
        }
        if !(g.truncation >= 0.0 && g.truncation.is_finite()) {
            return Err(Error::config("model.gan.truncation", format!("{} must be ≥ 0 (0: off)", g.truncation)));
        }
        match (&self.layout, g.is_layout()) {
            (None, true) => {
                return Err(Error::config("model.layout", "variant \"layout\" needs a [model.layout] section"));
            }
            (Some(_), false) => {
                return Err(Error::config(
                    "model.layout",
                    format!("is only read by variant \"layout\", not {:?}", g.variant),
                ));
            }
            (Some(l), true) => l.validate(g)?,
            (None, false) => {}
        }
        if g.single_stage() && self.text.encoder != "bilstm" {
            return Err(Error::config(
                "model.text.encoder",
                format!("{} uses the frozen BiLSTM DAMSM encoder", g.variant),
            ));
        }
        for (f, v) in [
            ("model.gan.gf", g.gf),
            ("model.gan.df", g.df),
            ("model.gan.z_dim", g.z_dim),
            ("model.gan.cond_dim", g.cond_dim),
        ] {
            positive(f, v as f64)?;
        }
        Ok(())
    }
}

impl LayoutConfig {
    pub fn validate(&self, gan: &GanConfig) -> Result<()> {
        if self.classes.is_empty() || self.classes.iter().any(|c| c.trim().is_empty()) {
            return Err(Error::config("model.layout.classes", "needs at least one non-empty class name"));
        }
        for (f, v) in [
            ("model.layout.max_objects", self.max_objects),
            ("model.layout.mixtures", self.mixtures),
            ("model.layout.box_hidden", self.box_hidden),
            ("model.layout.shape_width", self.shape_width),
            ("model.layout.shape_noise", self.shape_noise),
        ] {
            positive(f, v as f64)?;
        }
        if ![32, 64].contains(&self.mask_size) || self.mask_size > gan.final_size() {
            return Err(Error::config(
                "model.layout.mask_size",
                format!("{} is not 32 or 64 (and at most the image side {})", self.mask_size, gan.final_size()),
            ));
        }
        for (f, v) in [
            ("model.layout.lambda_label", self.lambda_label),
            ("model.layout.lambda_box", self.lambda_box),
            ("model.layout.lambda_shape_rec", self.lambda_shape_rec),
        ] {
            non_negative(f, v)?;
        }
        Ok(())
    }
}

fn positive(field: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() { Ok(()) } else { Err(Error::config(field, format!("{v} must be positive"))) }
}

fn non_negative(field: &str, v: f64) -> Result<()> {
    if v >= 0.0 && v.is_finite() { Ok(()) } else { Err(Error::config(field, format!("{v} must be ≥ 0"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        for name in ["tiny", "cpu", "paper"] {
            let cfg = RunConfig::preset(name).unwrap_or_else(|| panic!("preset {name} invalid"));
            cfg.validate().unwrap();
        }
        // Every config file in the repo (presets and run configs such as shapes.toml) loads.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        for sub in [dir.clone(), dir.join("compare")] {
            for entry in std::fs::read_dir(&sub).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    RunConfig::load(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
            }
        }
        let paper = RunConfig::preset("paper").unwrap();
        assert_eq!((paper.model.gan.gf, paper.model.gan.df, paper.model.gan.z_dim), (32, 64, 100));
        assert_eq!(paper.model.text.feature_dim(), 256);
        assert_eq!(paper.train.lambda, 5.0);
    }

    #[test]
    fn unknown_field_is_named() {
        let mut text = include_str!("../../configs/tiny.toml").to_string();
        text = text.replace("[model.gan]", "[model.gan]\nwidht = 3");
        let err = RunConfig::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("widht"), "{err}");
    }

    #[test]
    fn impossible_value_is_named() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        cfg.model.gan.stages = 4;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("model.gan.stages"), "{err}");
        let round = RunConfig::from_toml(&RunConfig::preset("cpu").unwrap().to_toml(), Path::new("r")).unwrap();
        assert!(!RunConfig::preset("cpu").unwrap().to_toml().contains("path"));
        assert_eq!(round, RunConfig::preset("cpu").unwrap());
    }

    #[test]
    fn perceptual_weight_defaults_to_zero_and_is_validated() {
        // Configs (and checkpoints' embedded configs) from before the field parse as λ1 = 0 and
        // serialise back without it.
        let tiny = RunConfig::preset("tiny").unwrap();
        assert_eq!(tiny.train.lambda_perceptual, 0.0);
        assert!(!tiny.to_toml().contains("lambda_perceptual"));
        let eca = RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/shapes-ecagan.toml")).unwrap();
        assert_eq!((eca.model.gan.variant.as_str(), eca.train.lambda_perceptual), ("ecagan", 1.0));
        assert_eq!(RunConfig::from_toml(&eca.to_toml(), Path::new("r")).unwrap(), eca);
        let mut cfg = tiny;
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            cfg.train.lambda_perceptual = bad;
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains("train.lambda_perceptual"), "{err}");
        }
    }

    #[test]
    fn discriminator_penalty_defaults_off_and_is_validated() {
        // Off and absent from the TOML unless set; DF-GAN's power 6 unless given.
        let mut cfg = RunConfig::preset("cpu").unwrap();
        assert_eq!((cfg.train.d_penalty, cfg.train.d_penalty_power), (0.0, 6.0));
        let text = cfg.to_toml();
        assert!(!text.contains("d_penalty"), "{text}");
        cfg.train.d_penalty = 0.5;
        cfg.train.d_penalty_power = 2.0;
        let text = cfg.to_toml();
        assert!(text.contains("d_penalty = 0.5") && text.contains("d_penalty_power = 2.0"), "{text}");
        assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        for (weight, power, field) in
            [(-1.0, 2.0, "train.d_penalty"), (f64::NAN, 2.0, "train.d_penalty"), (1.0, 0.5, "train.d_penalty_power")]
        {
            let mut bad = cfg.clone();
            bad.train.d_penalty = weight;
            bad.train.d_penalty_power = power;
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn damsm_options_round_trip_and_hard_negatives_need_shapes() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        // Defaults are left out of written configs, so older runs read back unchanged.
        assert!(!cfg.to_toml().contains("global") && !cfg.to_toml().contains("hard_negatives"));
        cfg.model.damsm.global = GlobalCode::Spatial;
        cfg.train.damsm_hard_negatives = true;
        cfg.validate().unwrap();
        let text = cfg.to_toml();
        assert!(text.contains("global = \"spatial\"") && text.contains("damsm_hard_negatives = true"), "{text}");
        assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        cfg.data.kind = "folder".into();
        cfg.data.path = Some(PathBuf::from("x"));
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.damsm_hard_negatives"), "{err}");
        cfg.train.damsm_hard_negatives = false;
        cfg.train.d_hard_negatives = true;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.d_hard_negatives"), "{err}");
        let mut layout = RunConfig::from_toml(include_str!("../../configs/tiny-layout.toml"), Path::new("l")).unwrap();
        layout.data.kind = "shapes".into();
        layout.train.d_hard_negatives = true;
        let err = layout.validate().unwrap_err().to_string();
        assert!(err.contains("train.d_hard_negatives") && err.contains("layout"), "{err}");
        let bad = RunConfig::from_toml(&text.replace("\"spatial\"", "\"max\""), Path::new("r"));
        assert!(bad.is_err());
        let next = RunConfig::from_toml(include_str!("../../configs/shapes-spatial.toml"), Path::new("s")).unwrap();
        assert!(next.model.damsm.global == GlobalCode::Spatial && next.train.damsm_hard_negatives);
    }

    /// A config key and what switches it on.
    type Switch = (&'static str, fn(&mut GanConfig));

    /// The generator's two attention switches.
    fn attention_switches() -> [Switch; 2] {
        [
            ("positional_attention", |g| g.positional_attention = true),
            ("first_stage_attention", |g| g.first_stage_attention = true),
        ]
    }

    #[test]
    fn attention_switches_need_word_attention_and_round_trip() {
        for (key, switch_on) in attention_switches() {
            let mut cfg = RunConfig::preset("tiny").unwrap();
            assert!(!cfg.to_toml().contains(key), "off is not written");
            switch_on(&mut cfg.model.gan);
            cfg.validate().unwrap();
            let text = cfg.to_toml();
            assert!(text.contains(&format!("{key} = true")), "{text}");
            assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
            cfg.model.gan.variant = "dmgan".into();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("model.gan.{key}")) && err.contains("dmgan"), "{err}");
        }
    }

    #[cfg(feature = "train")]
    #[test]
    fn a_resume_may_switch_attention_on_not_off() {
        for (key, switch_on) in attention_switches() {
            let mut off = RunConfig::preset("tiny").unwrap();
            let mut on = off.clone();
            switch_on(&mut on.model.gan);
            let path = Path::new("checkpoint.t2i");
            crate::train::check_resume_config(&on, &off.to_toml(), path).unwrap();
            let err = crate::train::check_resume_config(&off, &on.to_toml(), path).unwrap_err().to_string();
            assert!(err.contains("different model"), "{key}: {err}");
            off.model.gan.gf += 1;
            assert!(crate::train::check_resume_config(&on, &off.to_toml(), path).is_err(), "{key}");
        }
    }

    #[test]
    fn hard_negative_weights_are_checked_and_round_trip() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        cfg.train.d_hard_negative_weights = BTreeMap::from([("position".to_string(), 4.0)]);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.d_hard_negative_weights") && err.contains("d_hard_negatives = true"), "{err}");
        cfg.train.d_hard_negatives = true;
        cfg.validate().unwrap();
        let text = cfg.to_toml();
        assert!(text.contains("[train.d_hard_negative_weights]\nposition = 4.0"), "{text}");
        assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        for (name, w, says) in [("place", 1.0, "not an attribute"), ("shape", -1.0, "≥ 0"), ("color", f64::NAN, "≥ 0")]
        {
            let mut bad = cfg.clone();
            bad.train.d_hard_negative_weights.insert(name.into(), w);
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("train.d_hard_negative_weights") && err.contains(says), "{name}: {err}");
        }
    }

    #[test]
    fn counterfactual_margin_needs_the_discriminators_pairs() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert!(!cfg.to_toml().contains("g_counterfactual_margin"));
        cfg.train.g_counterfactual_margin = 0.5;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.g_counterfactual_margin") && err.contains("d_hard_negatives"), "{err}");
        cfg.train.d_hard_negatives = true;
        cfg.validate().unwrap();
        let text = cfg.to_toml();
        assert!(text.contains("g_counterfactual_margin = 0.5"), "{text}");
        assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        for w in [-0.5, f64::INFINITY] {
            let mut bad = cfg.clone();
            bad.train.g_counterfactual_margin = w;
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("train.g_counterfactual_margin") && err.contains("≥ 0"), "{w}: {err}");
        }
        let mut rat = cfg.clone();
        rat.model.gan.variant = "ratgan".into();
        let err = rat.validate().unwrap_err().to_string();
        assert!(err.contains("train.g_counterfactual_margin") && err.contains("ratgan"), "{err}");
    }

    #[test]
    fn word_level_discriminators_are_for_stage_gans() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert!(!cfg.train.d_word_level && !cfg.to_toml().contains("d_word_level"));
        cfg.train.d_word_level = true;
        cfg.validate().unwrap();
        assert!(cfg.to_toml().contains("d_word_level = true"));
        assert_eq!(RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap(), cfg);
        for variant in ["ratgan", "layout"] {
            let mut other = if variant == "layout" {
                RunConfig::from_toml(include_str!("../../configs/tiny-layout.toml"), Path::new("l")).unwrap()
            } else {
                let mut c = cfg.clone();
                c.model.gan.variant = variant.into();
                c
            };
            other.train.d_word_level = true;
            let err = other.validate().unwrap_err().to_string();
            assert!(err.contains("train.d_word_level") && err.contains(variant), "{err}");
        }
    }

    #[test]
    fn auxiliary_classifier_is_for_stage_gans_and_validated() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert_eq!(cfg.train.lambda_aux_classifier, 0.0);
        assert!(!cfg.to_toml().contains("lambda_aux_classifier"));
        cfg.train.lambda_aux_classifier = 0.5;
        cfg.validate().unwrap();
        assert!(cfg.to_toml().contains("lambda_aux_classifier = 0.5"));
        assert_eq!(RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap(), cfg);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let mut c = cfg.clone();
            c.train.lambda_aux_classifier = bad;
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("train.lambda_aux_classifier"), "{err}");
        }
        let mut layout = RunConfig::from_toml(include_str!("../../configs/tiny-layout.toml"), Path::new("l")).unwrap();
        layout.train.lambda_aux_classifier = 0.5;
        let err = layout.validate().unwrap_err().to_string();
        assert!(err.contains("train.lambda_aux_classifier") && err.contains("layout"), "{err}");

        // Colour-blind words: round trip, and only with the classifier on.
        cfg.train.aux_colour_blind_words = vec!["star".into(), "circle".into()];
        cfg.validate().unwrap();
        assert!(cfg.to_toml().contains("aux_colour_blind_words"), "{}", cfg.to_toml());
        assert_eq!(RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap(), cfg);
        cfg.train.aux_shape_blind_words = vec!["red".into()];
        cfg.validate().unwrap();
        assert_eq!(RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap(), cfg);
        let mut twice = cfg.clone();
        twice.train.aux_shape_blind_words.push("star".into());
        let err = twice.validate().unwrap_err().to_string();
        assert!(err.contains("train.aux_shape_blind_words") && err.contains("\"star\""), "{err}");
        cfg.train.lambda_aux_classifier = 0.0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.aux_colour_blind_words"), "{err}");
        cfg.train.aux_colour_blind_words.clear();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.aux_shape_blind_words"), "{err}");
    }

    #[test]
    fn generator_hard_negatives_and_frozen_text_are_validated_and_round_trip() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert!(!cfg.train.g_hard_negatives && !cfg.train.damsm_freeze_text);
        assert!(!cfg.to_toml().contains("g_hard_negatives") && !cfg.to_toml().contains("freeze_text"));
        cfg.train.g_hard_negatives = true;
        cfg.train.damsm_freeze_text = true;
        cfg.validate().unwrap();
        let text = cfg.to_toml();
        assert!(text.contains("g_hard_negatives = true") && text.contains("damsm_freeze_text = true"), "{text}");
        assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        let mut rat = cfg.clone();
        rat.model.gan.variant = "ratgan".into();
        let err = rat.validate().unwrap_err().to_string();
        assert!(err.contains("train.g_hard_negatives") && err.contains("ratgan"), "{err}");
        let mut folder = cfg.clone();
        folder.data.kind = "folder".into();
        folder.data.path = Some(PathBuf::from("x"));
        let err = folder.validate().unwrap_err().to_string();
        assert!(err.contains("train.g_hard_negatives"), "{err}");
    }

    #[test]
    fn slot_classifier_is_for_shapes_stage_gans_and_validated() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert!(!cfg.to_toml().contains("lambda_slot_classifier"));
        cfg.train.lambda_slot_classifier = 1.5;
        cfg.validate().unwrap();
        assert!(cfg.to_toml().contains("lambda_slot_classifier = 1.5"));
        assert_eq!(RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap(), cfg);
        for bad in [-1.0, f64::NAN] {
            let mut c = cfg.clone();
            c.train.lambda_slot_classifier = bad;
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("train.lambda_slot_classifier"), "{err}");
        }
        let mut folder = cfg.clone();
        folder.data.kind = "folder".into();
        folder.data.path = Some(PathBuf::from("x"));
        let err = folder.validate().unwrap_err().to_string();
        assert!(err.contains("train.lambda_slot_classifier") && err.contains("folder"), "{err}");
        let mut rat = cfg.clone();
        rat.model.gan.variant = "ratgan".into();
        let err = rat.validate().unwrap_err().to_string();
        assert!(err.contains("train.lambda_slot_classifier") && err.contains("ratgan"), "{err}");
    }

    #[test]
    fn counterfactual_each_object_needs_hard_negatives_and_round_trips() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        assert!(!cfg.to_toml().contains("counterfactual_each_object"));
        cfg.train.counterfactual_each_object = true;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("train.counterfactual_each_object") && err.contains("hard_negatives"), "{err}");
        for (d, g) in [(true, false), (false, true)] {
            cfg.train.d_hard_negatives = d;
            cfg.train.g_hard_negatives = g;
            cfg.validate().unwrap();
            let text = cfg.to_toml();
            assert!(text.contains("counterfactual_each_object = true"), "{text}");
            assert_eq!(RunConfig::from_toml(&text, Path::new("r")).unwrap(), cfg);
        }
    }

    #[test]
    fn image_datasets_need_a_path() {
        let mut cfg = RunConfig::preset("tiny").unwrap();
        cfg.data.kind = "birds".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("data.path"), "{err}");
        cfg.data.path = Some(PathBuf::from("data/birds"));
        cfg.validate().unwrap();
        let round = RunConfig::from_toml(&cfg.to_toml(), Path::new("r")).unwrap();
        assert_eq!(round.data, cfg.data);
        cfg.data.kind = "flowers".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("data.kind") && err.contains("flowers"), "{err}");
        cfg.data.kind = "shapes".into();
        assert!(cfg.validate().unwrap_err().to_string().contains("data.path"));
        // A folder run needs no Shapes fields.
        let text = include_str!("../../configs/tiny.toml")
            .replace("kind = \"shapes\"", "kind = \"folder\"\npath = \"x\"")
            .replace("train_scenes = 2000\n", "")
            .replace("test_scenes = 200\n", "")
            .replace("seed = 0\n", "");
        let cfg = RunConfig::from_toml(&text, Path::new("f.toml")).unwrap();
        assert_eq!(cfg.data.path.as_deref(), Some(Path::new("x")));
    }
}
