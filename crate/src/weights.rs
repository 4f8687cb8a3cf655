//! Exported inference models: `model.safetensors` + `config.json` + `vocab.json` (+ a
//! `MODEL_CARD.md` written by the CLI).
//!
//! Only what inference needs is exported: the text encoder and the generator (with its
//! conditioning augmentation), from the EMA copy. Tensors are named after the module tree
//! (`text_encoder.rnn.fwd.…`, `generator.next.0.…`) and stored as f32 or f16. Loading checks
//! the byte count and CRC-32 recorded in config.json, then every tensor's name, shape and
//! dtype against the modules the config builds, and reports every mismatch at once.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ParamId};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, TensorSnapshot};
use safetensors::{Dtype as StDtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::config::{DataConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::models::attngan::Generator;
use crate::models::layout::layout_model::LayoutGenerator;
use crate::models::rat_gan::{RatDiscriminator, RatGenerator};
use crate::pipeline::Net;
use crate::text::rnn_encoder::RnnEncoder;
use crate::text::vocab::Vocab;

/// Value of `format` in config.json.
pub const FORMAT: &str = "t2i-model";
/// Version of the exported layout; bumped when names or semantics change.
pub const VERSION: u32 = 1;

/// Storage precision of the exported tensors (computation is always f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    F32,
    F16,
}

impl WeightDtype {
    fn safetensors(self) -> StDtype {
        match self {
            WeightDtype::F32 => StDtype::F32,
            WeightDtype::F16 => StDtype::F16,
        }
    }
}

/// Where the tensors are and how to check that they arrived whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsInfo {
    pub file: String,
    pub dtype: WeightDtype,
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file, lowercase hex.
    pub crc32: String,
}

/// Provenance, shown in the model card and on the page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Dataset description (e.g. "Shapes, seed 0, 100000 training scenes").
    pub data: String,
    /// GAN optimisation steps.
    pub steps: u64,
    pub batch_size: usize,
    /// Wall-clock seconds of GAN training (DAMSM pretraining not included).
    pub wall_s: f64,
    /// Where it was trained (free text).
    pub hardware: String,
    /// Anything a user should know (e.g. "small CPU model, placeholder for the shipped one").
    pub note: String,
}

/// The `config.json` of an exported model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    pub format: String,
    pub version: u32,
    pub name: String,
    pub model: ModelConfig,
    pub weights: WeightsInfo,
    pub training: TrainingInfo,
    /// The dataset the model was trained on (what `t2i eval` evaluates it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataConfig>,
}

impl ExportConfig {
    /// Parse and check config.json text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let cfg: ExportConfig = serde_json::from_str(text)
            .map_err(|e| Error::Weights { file: origin.to_string(), msg: format!("invalid config: {e}") })?;
        if cfg.format != FORMAT {
            return Err(Error::Weights {
                file: origin.to_string(),
                msg: format!("format is {:?}, expected {FORMAT:?}", cfg.format),
            });
        }
        if cfg.version != VERSION {
            return Err(Error::Weights {
                file: origin.to_string(),
                msg: format!("version {} is not supported (this build reads version {VERSION})", cfg.version),
            });
        }
        cfg.model.validate()?;
        if cfg.model.text.vocab_size < 2 {
            return Err(Error::config("model.text.vocab_size", "must be at least 2 in an exported model"));
        }
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data structures cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The modules inference needs, under the names the safetensors file uses.
#[derive(Module, Debug)]
pub struct InferenceModel<B: Backend> {
    pub text_encoder: RnnEncoder<B>,
    /// The multi-stage generator (AttnGAN, DM-GAN, ECAGAN): tensors `generator.…`.
    pub generator: Option<Generator<B>>,
    /// RAT-GAN: `rat_generator.…` and the discriminator `discriminator.…` (its spatial
    /// attention is shown over the image).
    pub rat_generator: Option<RatGenerator<B>>,
    pub discriminator: Option<RatDiscriminator<B>>,
    /// The layout model (Hong et al.): box, shape and image generators, `layout.…`.
    pub layout: Option<LayoutGenerator<B>>,
}

impl<B: Backend> InferenceModel<B> {
    /// Freshly initialised modules of the shapes `model` describes.
    /// (A layout model without its `[model.layout]` section cannot pass validation, so the
    /// layout networks are always built for it.)
    pub fn new(model: &ModelConfig, device: &B::Device) -> Self {
        let text_encoder = RnnEncoder::new(&model.text, device);
        let none = Self { text_encoder, generator: None, rat_generator: None, discriminator: None, layout: None };
        if model.gan.is_layout() {
            Self { layout: LayoutGenerator::new(model, device).ok(), ..none }
        } else if model.gan.is_rat() {
            Self {
                rat_generator: Some(RatGenerator::new(&model.gan, &model.text, device)),
                discriminator: Some(RatDiscriminator::new(&model.gan, &model.text, device)),
                ..none
            }
        } else {
            Self { generator: Some(Generator::new(&model.gan, &model.text, device)), ..none }
        }
    }

    /// The modules of a pipeline.
    pub fn from_parts(text: RnnEncoder<B>, net: Net<B>) -> Self {
        let none = Self { text_encoder: text, generator: None, rat_generator: None, discriminator: None, layout: None };
        match net {
            Net::Stages(g) => Self { generator: Some(g), ..none },
            Net::Rat { generator, discriminator } => {
                Self { rat_generator: Some(generator), discriminator: Some(discriminator), ..none }
            }
            Net::Layout(g) => Self { layout: Some(g), ..none },
        }
    }

    /// Text encoder and image networks, for a pipeline.
    pub fn into_parts(self) -> Result<(RnnEncoder<B>, Net<B>)> {
        let net = match (self.generator, self.rat_generator, self.discriminator, self.layout) {
            (Some(g), None, None, None) => Net::Stages(g),
            (None, Some(generator), Some(discriminator), None) => Net::Rat { generator, discriminator },
            (None, None, None, Some(g)) => Net::Layout(g),
            _ => {
                return Err(Error::Other(
                    "a model needs a generator, RAT-GAN's generator and discriminator, or the layout networks".into(),
                ));
            }
        };
        Ok((self.text_encoder, net))
    }
}

/// Serialise the modules to safetensors bytes in `dtype`.
pub fn to_safetensors<B: Backend>(model: &InferenceModel<B>, dtype: WeightDtype) -> Result<Vec<u8>> {
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for snap in model.collect(None, None, false) {
        let name = snap.full_path();
        let data = snap.to_data().map_err(|e| Error::Other(format!("cannot read tensor {name}: {e:?}")))?;
        let values = data
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| Error::Other(format!("cannot read tensor {name}: {e:?}")))?;
        let bytes: Vec<u8> = match dtype {
            WeightDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            WeightDtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        };
        tensors.insert(name, (snap.shape.to_vec(), bytes));
    }
    let mut views = Vec::with_capacity(tensors.len());
    for (name, (shape, bytes)) in &tensors {
        let view = TensorView::new(dtype.safetensors(), shape.clone(), bytes)
            .map_err(|e| Error::Other(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    // One key: safetensors writes metadata in HashMap order, and equal exports must be equal bytes.
    let meta = HashMap::from([("format".to_string(), format!("{FORMAT}/{VERSION}"))]);
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Other(format!("cannot write safetensors: {e}")))
}

/// CRC-32 of `bytes` as lowercase hex, as recorded in [`WeightsInfo::crc32`].
pub fn crc32_hex(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// Build the inference modules from an exported model's three files (already read into
/// memory: the browser hands over fetched bytes). Every problem with the weights is listed
/// in one error.
pub fn load_model<B: Backend>(cfg: &ExportConfig, weights: &[u8], device: &B::Device) -> Result<InferenceModel<B>> {
    let file = cfg.weights.file.clone();
    let err = |msg: String| Error::Weights { file: file.clone(), msg };
    if weights.len() as u64 != cfg.weights.bytes {
        return Err(err(format!(
            "has {} bytes, config.json says {} (truncated or replaced file?)",
            weights.len(),
            cfg.weights.bytes
        )));
    }
    let crc = crc32_hex(weights);
    if crc != cfg.weights.crc32 {
        return Err(err(format!("CRC-32 is {crc}, config.json says {} (corrupt file?)", cfg.weights.crc32)));
    }
    let st = SafeTensors::deserialize(weights).map_err(|e| err(format!("not a safetensors file: {e}")))?;
    let want = cfg.weights.dtype.safetensors();
    let mut problems = Vec::new();
    let mut named = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != want {
            problems.push(format!("tensor {name}: dtype {:?}, config.json says {:?}", view.dtype(), cfg.weights.dtype));
        }
        match decode(view.data(), view.dtype()) {
            Some(values) => {
                named.insert(name, NamedTensor { shape: view.shape().to_vec(), values });
            }
            None => problems.push(format!("tensor {name}: dtype {:?} cannot be read", view.dtype())),
        }
    }
    apply_named(InferenceModel::<B>::new(&cfg.model, device), named, problems, &file, "config.json")
}

/// A tensor by name, as f32 values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Load `named` tensors (module-tree names such as `generator.next.0.up.conv.weight`) into
/// `model`. Missing tensors, shape mismatches, tensors the model does not have and the
/// caller's `problems` are all reported in one error about `file` ("does not match `against`").
pub fn apply_named<B: Backend, M: Module<B>>(
    mut model: M,
    mut named: BTreeMap<String, NamedTensor>,
    mut problems: Vec<String>,
    file: &str,
    against: &str,
) -> Result<M> {
    let err = |msg: String| Error::Weights { file: file.to_string(), msg };
    let expected = model.collect(None, None, false);
    let mut snapshots = Vec::with_capacity(expected.len());
    for snap in &expected {
        let name = snap.full_path();
        let Some(t) = named.remove(&name) else {
            if !problems.iter().any(|p| p.starts_with(&format!("tensor {name}:"))) {
                problems.push(format!("missing tensor {name} {:?}", snap.shape.as_slice()));
            }
            continue;
        };
        if t.shape != snap.shape.as_slice() {
            problems.push(format!("tensor {name}: shape {:?}, the config needs {:?}", t.shape, snap.shape.as_slice()));
            continue;
        }
        let data = TensorData::new(t.values, snap.shape.clone());
        let path: Vec<String> = name.split('.').map(str::to_string).collect();
        let containers = snap.container_stack.clone().unwrap_or_default();
        let id = snap.tensor_id.unwrap_or_else(ParamId::new);
        snapshots.push(TensorSnapshot::from_data(data, path, containers, id));
    }
    problems.extend(named.into_keys().map(|n| format!("unexpected tensor {n} (not part of this model)")));
    if !problems.is_empty() {
        return Err(err(format!(
            "does not match {against} ({} problem{}):\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        )));
    }
    let result = model.apply(snapshots, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let mut msgs: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        msgs.extend(result.missing.iter().map(|(p, _)| format!("not loaded: {p}")));
        return Err(err(format!("could not be applied:\n  {}", msgs.join("\n  "))));
    }
    Ok(model)
}

fn decode(bytes: &[u8], dtype: StDtype) -> Option<Vec<f32>> {
    Some(match dtype {
        StDtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        StDtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StDtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}

/// The three files of an exported model, as text and bytes.
pub struct ExportFiles {
    pub config: ExportConfig,
    pub vocab: Vocab,
    pub weights: Vec<u8>,
}

/// Everything `t2i export` writes, built in memory.
pub fn export<B: Backend>(
    name: &str,
    model: &InferenceModel<B>,
    config: &ModelConfig,
    vocab: &Vocab,
    dtype: WeightDtype,
    training: TrainingInfo,
    data: Option<DataConfig>,
) -> Result<ExportFiles> {
    let weights = to_safetensors(model, dtype)?;
    let config = ExportConfig {
        format: FORMAT.into(),
        version: VERSION,
        name: name.into(),
        model: config.clone(),
        weights: WeightsInfo {
            file: "model.safetensors".into(),
            dtype,
            bytes: weights.len() as u64,
            crc32: crc32_hex(&weights),
        },
        training,
        data,
    };
    Ok(ExportFiles { config, vocab: vocab.clone(), weights })
}
