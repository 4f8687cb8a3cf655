//! The one inference path: caption → tokens → text features → generator stages → images
//! and per-word attention maps. The CLI, training sample sheets, evaluation, tests and the
//! wasm API all call [`Pipeline::generate`].

use std::path::Path;

use burn::prelude::*;
use image::RgbImage;
use web_time::Instant;

use crate::config::ModelConfig;
use crate::data::batcher::{image_from_chw, tokens_tensor};
use crate::error::{Error, Result};
use crate::models::attngan::Generator;
use crate::rng::sample_noise;
use crate::text::rnn_encoder::RnnEncoder;
use crate::text::vocab::Vocab;
use crate::train::run_dir::RunDir;

/// One attention map: `data` is row-major h×w, summing over words to 1 at every pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

/// Everything one caption produces.
#[derive(Clone, Debug)]
pub struct Generation {
    /// One image per stage (64, 128, 256 px).
    pub stages: Vec<RgbImage>,
    /// `attention[s][t]`: map of token t used by refinement stage s+1.
    pub attention: Vec<Vec<Map>>,
    /// The words the model saw, in order.
    pub tokens: Vec<String>,
    /// Words of the caption the vocabulary does not know (not seen by the model).
    pub unknown_words: Vec<String>,
    /// True when the caption had more than 18 words and was cut.
    pub truncated: bool,
    /// (label, milliseconds) for text encoding and each stage.
    pub timings: Vec<(String, f64)>,
}

/// Options of one request.
#[derive(Clone, Copy, Debug)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Use the conditioning mean μ instead of sampling c = μ + σ·ε.
    pub use_mean: bool,
}

/// Which generator weights of a training checkpoint to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// The exponential moving average (what samples and exports use).
    Ema,
    /// The weights of the last optimizer step.
    Live,
}

/// Text encoder + generator + vocabulary, on one backend.
#[derive(Clone, Debug)]
pub struct Pipeline<B: Backend> {
    pub config: ModelConfig,
    pub vocab: Vocab,
    pub text: RnnEncoder<B>,
    pub generator: Generator<B>,
    pub device: B::Device,
}

impl<B: Backend> Pipeline<B> {
    /// Load a trained GAN run directory (config.toml, vocab.json, checkpoint.t2i); the
    /// generator is the EMA copy.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        Self::load_weights(dir, Weights::Ema, device)
    }

    /// Load with the chosen generator weights.
    pub fn load_weights(dir: &Path, weights: Weights, device: &B::Device) -> Result<Self> {
        let run = RunDir::open(dir)?;
        run.require_kind("gan", "sampling needs a trained GAN (t2i train gan)")?;
        let config = run.model_config();
        let ck = &run.checkpoint;
        let text = ck.load_module("text_encoder", RnnEncoder::new(&config.text, device), device)?;
        let section = match weights {
            Weights::Ema => "generator_ema",
            Weights::Live => "generator",
        };
        let generator = ck.load_module(section, Generator::new(&config.gan, &config.text, device), device)?;
        Ok(Self { config, vocab: run.vocab, text, generator, device: device.clone() })
    }

    /// Generate every stage for one caption.
    pub fn generate(&self, caption: &str, opts: GenerateOptions) -> Result<Generation> {
        let mut out = self.generate_batch(&[caption], &[opts])?;
        Ok(out.remove(0))
    }

    /// Generate for several captions at once (one forward pass).
    pub fn generate_batch(&self, captions: &[&str], opts: &[GenerateOptions]) -> Result<Vec<Generation>> {
        if captions.is_empty() || captions.len() != opts.len() {
            return Err(Error::Other("generate_batch needs one option per caption".into()));
        }
        let mut encoded = Vec::new();
        for caption in captions {
            let enc = self.vocab.encode(caption);
            if enc.tokens.is_empty() {
                return Err(Error::Caption { caption: caption.to_string(), msg: "is empty (no words)".into() });
            }
            if enc.ids.is_empty() {
                return Err(Error::Caption {
                    caption: caption.to_string(),
                    msg: format!("no word is in the vocabulary (unknown: {})", enc.unknown.join(", ")),
                });
            }
            encoded.push(enc);
        }
        let n = captions.len();
        let (z_dim, c_dim) = (self.config.gan.z_dim, self.config.gan.cond_dim);
        let mut z = Vec::with_capacity(n * z_dim);
        let mut eps = Vec::with_capacity(n * c_dim);
        for o in opts {
            let (zi, ei) = sample_noise(o.seed, z_dim, c_dim);
            z.extend(zi);
            // ε = 0 gives c = μ exactly, per caption.
            if o.use_mean {
                eps.extend(std::iter::repeat_n(0.0, c_dim));
            } else {
                eps.extend(ei);
            }
        }
        let dev = &self.device;
        let t0 = Instant::now();
        let rows: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
        let feats = self.text.forward(tokens_tensor(&rows, dev));
        let z = Tensor::<B, 2>::from_data(TensorData::new(z, [n, z_dim]), dev);
        let eps = Some(Tensor::<B, 2>::from_data(TensorData::new(eps, [n, c_dim]), dev));
        let t_text = t0.elapsed().as_secs_f64() * 1e3;
        let t1 = Instant::now();
        let out = self.generator.forward(z, feats.sentence, feats.words, feats.pad, eps);
        let mut images = Vec::new();
        for img in out.images {
            let side = img.dims()[2];
            images.push((side, to_vec(img)?));
        }
        let t_gen = t1.elapsed().as_secs_f64() * 1e3;
        let mut attention = Vec::new();
        for a in out.attention {
            let [_, t, h, w] = a.dims();
            attention.push((t, h, w, to_vec(a)?));
        }
        let mut result = Vec::with_capacity(n);
        for (k, enc) in encoded.iter().enumerate() {
            let stages = images
                .iter()
                .map(|(side, data)| image_from_chw(&data[k * 3 * side * side..(k + 1) * 3 * side * side], *side))
                .collect();
            let len = enc.ids.len();
            let maps = attention
                .iter()
                .map(|(t, h, w, data)| {
                    (0..len)
                        .map(|ti| {
                            let off = (k * t + ti) * h * w;
                            Map { h: *h, w: *w, data: data[off..off + h * w].to_vec() }
                        })
                        .collect()
                })
                .collect();
            result.push(Generation {
                stages,
                attention: maps,
                tokens: enc.kept.iter().map(|&i| enc.tokens[i].clone()).collect(),
                unknown_words: enc.unknown.clone(),
                truncated: enc.truncated,
                timings: vec![("text".into(), t_text / n as f64), ("generator".into(), t_gen / n as f64)],
            });
        }
        Ok(result)
    }
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data().to_vec::<f32>().map_err(|e| Error::Other(format!("cannot read tensor: {e:?}")))
}

/// The attention sheet of a generation (stage images with per-word overlays).
pub fn attention_sheet(g: &Generation, cell: u32) -> RgbImage {
    let stages: Vec<RgbImage> = g.stages.iter().skip(1).cloned().collect();
    let maps: Vec<Vec<Vec<f32>>> = g.attention.iter().map(|s| s.iter().map(|m| m.data.clone()).collect()).collect();
    let sizes: Vec<(usize, usize)> =
        g.attention.iter().map(|s| s.first().map(|m| (m.h, m.w)).unwrap_or((1, 1))).collect();
    crate::render::sheet::attention_sheet(&stages, &maps, &sizes, &g.tokens, cell)
}
