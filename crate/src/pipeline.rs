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
use crate::models::layout::boxes::LayoutBox;
use crate::models::layout::layout_model::LayoutGenerator;
use crate::models::layout::shape_generator::semantic_layout;
use crate::models::rat_gan::{RatDiscriminator, RatGenerator};
use crate::readback::read;
use crate::rng::{layout_rng, sample_noise, truncate_noise};
use crate::text::rnn_encoder::RnnEncoder;
use crate::text::vocab::{Encoded, Vocab};
use crate::train::run_dir::RunDir;
use crate::weights::{ExportConfig, load_model};

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
    /// (label, milliseconds) for text encoding and each stage (\"64px\", \"128px\", …).
    pub timings: Vec<(String, f64)>,
    /// RAT-GAN: the discriminator's spatial attention over the image (positions weighted by
    /// how much the sentence concerns them, summing to 1; `models/rat_gan.rs`), and its
    /// matching logit. None for the multi-stage generators.
    pub spatial_attention: Option<Map>,
    pub d_logit: Option<f32>,
    /// The layout model: the boxes it drew and each box's mask (`models/layout/`).
    pub layout: Option<LayoutView>,
    /// The generator's raw output per stage, CHW in [-1, 1] before rounding to pixels; only
    /// filled by [`Pipeline::generate_with`] with `keep_raw` (comparisons with PyTorch).
    pub raw: Vec<Vec<f32>>,
}

/// What the layout model inferred before drawing the image.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutView {
    /// The boxes in the order they were drawn, with their class names.
    pub boxes: Vec<LayoutBox>,
    pub labels: Vec<String>,
    /// One mask per box, values in [0, 1], zero outside the box.
    pub masks: Vec<Map>,
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

/// The image networks of a model.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per pipeline, never in bulk
pub enum Net<B: Backend> {
    /// AttnGAN, DM-GAN, ECAGAN: stages with word attention (or memory addressing).
    Stages(Generator<B>),
    /// RAT-GAN: one generator, and the discriminator whose spatial attention the page shows.
    Rat { generator: RatGenerator<B>, discriminator: RatDiscriminator<B> },
    /// Hong et al.: boxes → masks → image.
    Layout(LayoutGenerator<B>),
}

impl<B: Backend> Net<B> {
    /// Parameters of the generator (RAT-GAN: without its discriminator).
    pub fn generator_params(&self) -> usize {
        match self {
            Net::Stages(g) => g.num_params(),
            Net::Rat { generator, .. } => generator.num_params(),
            Net::Layout(g) => g.num_params(),
        }
    }
}

/// Text encoder + generator + vocabulary, on one backend.
#[derive(Clone, Debug)]
pub struct Pipeline<B: Backend> {
    pub config: ModelConfig,
    pub vocab: Vocab,
    pub text: RnnEncoder<B>,
    pub net: Net<B>,
    pub device: B::Device,
}

impl<B: Backend> Pipeline<B> {
    /// Load a model directory on `device`: an exported model (config.json, vocab.json,
    /// model.safetensors — what `t2i export` writes) or a GAN training run (config.toml,
    /// vocab.json, checkpoint.t2i; the generator is the EMA copy).
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        Self::load_weights(dir, Weights::Ema, device)
    }

    /// Load with the chosen generator weights (`Live` needs a training run).
    pub fn load_weights(dir: &Path, weights: Weights, device: &B::Device) -> Result<Self> {
        if dir.join("config.json").is_file() && !dir.join("checkpoint.t2i").is_file() {
            if weights == Weights::Live {
                return Err(Error::Other(format!(
                    "{}: an exported model holds only the EMA weights; --live needs a training run",
                    dir.display()
                )));
            }
            return Self::load_export_dir(dir, device);
        }
        Self::from_run(RunDir::open(dir)?, weights, device)
    }

    /// Build from an opened GAN training run.
    pub fn from_run(run: RunDir, weights: Weights, device: &B::Device) -> Result<Self> {
        run.require_kind("gan", "sampling needs a trained GAN (t2i train gan)")?;
        let config = run.model_config();
        let ck = &run.checkpoint;
        let text = ck.load_module("text_encoder", RnnEncoder::new(&config.text, device), device)?;
        let section = match weights {
            Weights::Ema => "generator_ema",
            Weights::Live => "generator",
        };
        let net = if config.gan.is_layout() {
            Net::Layout(ck.load_module(section, LayoutGenerator::new(&config, device)?, device)?)
        } else if config.gan.is_rat() {
            let generator = ck.load_module(section, RatGenerator::new(&config.gan, &config.text, device), device)?;
            let discriminator =
                ck.load_module("discriminator", RatDiscriminator::new(&config.gan, &config.text, device), device)?;
            Net::Rat { generator, discriminator }
        } else {
            Net::Stages(ck.load_module(section, Generator::new(&config.gan, &config.text, device), device)?)
        };
        Ok(Self { config, vocab: run.vocab, text, net, device: device.clone() })
    }

    /// Load an exported model directory (config.json, vocab.json, model.safetensors).
    pub fn load_export_dir(dir: &Path, device: &B::Device) -> Result<Self> {
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| Error::io(dir.join(name), e));
        let config = String::from_utf8_lossy(&read("config.json")?).into_owned();
        let vocab = String::from_utf8_lossy(&read("vocab.json")?).into_owned();
        let cfg = ExportConfig::from_json(&config, &dir.join("config.json").display().to_string())?;
        let weights = read(&cfg.weights.file)?;
        Self::from_export(&cfg, &vocab, &weights, device)
    }

    /// Build from an exported model held in memory (what the browser fetched).
    pub fn from_export(cfg: &ExportConfig, vocab_json: &str, weights: &[u8], device: &B::Device) -> Result<Self> {
        let vocab = Vocab::from_json(vocab_json)?;
        if vocab.len() != cfg.model.text.vocab_size {
            return Err(Error::Weights {
                file: "vocab.json".into(),
                msg: format!("has {} words, config.json says {}", vocab.len(), cfg.model.text.vocab_size),
            });
        }
        let model = load_model::<B>(cfg, weights, device)?;
        let (text, net) = model.into_parts()?;
        Ok(Self { config: cfg.model.clone(), vocab, text, net, device: device.clone() })
    }

    /// Check a caption against the vocabulary: tokens, unknown words, and an error when
    /// nothing usable is left.
    pub fn encode(&self, caption: &str) -> Result<Encoded> {
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
        Ok(enc)
    }

    /// Generate every stage for one caption.
    pub fn generate(&self, caption: &str, opts: GenerateOptions) -> Result<Generation> {
        let mut out = self.generate_batch(&[caption], &[opts])?;
        Ok(out.remove(0))
    }

    /// Generate for several captions at once (one forward pass).
    pub fn generate_batch(&self, captions: &[&str], opts: &[GenerateOptions]) -> Result<Vec<Generation>> {
        futures_lite::future::block_on(self.run(captions, opts, None, false, &mut |_, _| {}))
    }

    /// Like [`Self::generate_batch`], with the noise z given ([captions × z_dim] values, e.g.
    /// from a `.npy` file) instead of drawn from each seed, and, with `keep_raw`, the raw
    /// stage outputs kept in [`Generation::raw`]. ε still comes from the seeds (or is 0 with
    /// `use_mean`).
    pub fn generate_with(
        &self,
        captions: &[&str],
        opts: &[GenerateOptions],
        z: Option<&[f32]>,
        keep_raw: bool,
    ) -> Result<Vec<Generation>> {
        futures_lite::future::block_on(self.run(captions, opts, z, keep_raw, &mut |_, _| {}))
    }

    /// Generate one caption, calling `on_stage(stage, generation so far)` as soon as each
    /// stage's image and attention maps are read back. Reads are asynchronous, as WebGPU in
    /// the browser requires; on the CPU they complete at once.
    pub async fn generate_async(
        &self,
        caption: &str,
        opts: GenerateOptions,
        on_stage: &mut dyn FnMut(usize, &Generation),
    ) -> Result<Generation> {
        let mut out = self.run(&[caption], &[opts], None, false, &mut |s, g| on_stage(s, &g[0])).await?;
        Ok(out.remove(0))
    }

    /// The inference path itself: text encoder, then stage by stage.
    async fn run(
        &self,
        captions: &[&str],
        opts: &[GenerateOptions],
        z_given: Option<&[f32]>,
        keep_raw: bool,
        on_stage: &mut dyn FnMut(usize, &[Generation]),
    ) -> Result<Vec<Generation>> {
        if captions.is_empty() || captions.len() != opts.len() {
            return Err(Error::Other("generate_batch needs one option per caption".into()));
        }
        let encoded = captions.iter().map(|c| self.encode(c)).collect::<Result<Vec<_>>>()?;
        let n = captions.len();
        let (z_dim, c_dim) = (self.config.gan.z_dim, self.config.gan.cond_dim);
        if let Some(zg) = z_given
            && zg.len() != n * z_dim
        {
            return Err(Error::Other(format!(
                "noise has {} values; {n} caption(s) × z_dim {z_dim} = {} are needed",
                zg.len(),
                n * z_dim
            )));
        }
        let mut z = Vec::with_capacity(n * z_dim);
        let mut eps = Vec::with_capacity(n * c_dim);
        let truncation = self.config.gan.truncation as f32;
        for o in opts {
            let (mut zi, ei) = sample_noise(o.seed, z_dim, c_dim);
            if truncation > 0.0 {
                truncate_noise(&mut zi, truncation, o.seed);
            }
            z.extend(zi);
            // ε = 0 gives c = μ exactly, per caption.
            if o.use_mean {
                eps.extend(std::iter::repeat_n(0.0, c_dim));
            } else {
                eps.extend(ei);
            }
        }
        let mut result: Vec<Generation> = encoded
            .iter()
            .map(|enc| Generation {
                stages: Vec::new(),
                attention: Vec::new(),
                tokens: enc.kept.iter().map(|&i| enc.tokens[i].clone()).collect(),
                unknown_words: enc.unknown.clone(),
                truncated: enc.truncated,
                timings: Vec::new(),
                spatial_attention: None,
                d_logit: None,
                layout: None,
                raw: Vec::new(),
            })
            .collect();
        let per = |ms: f64| ms / n as f64;

        let dev = &self.device;
        let t0 = Instant::now();
        let rows: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
        let feats = self.text.forward(tokens_tensor(&rows, dev));
        // Reading the (tiny) sentence vector makes the time honest on lazy backends.
        read(feats.sentence.clone()).await?;
        if let Some(zg) = z_given {
            z = zg.to_vec();
        }
        let z = Tensor::<B, 2>::from_data(TensorData::new(z, [n, z_dim]), dev);
        let eps = Some(Tensor::<B, 2>::from_data(TensorData::new(eps, [n, c_dim]), dev));
        let t_text = per(t0.elapsed().as_secs_f64() * 1e3);
        for g in result.iter_mut() {
            g.timings.push(("text".into(), t_text));
        }

        let generator = match &self.net {
            Net::Stages(g) => g,
            Net::Layout(layout) => {
                self.run_layout(layout, feats.sentence, z, opts, keep_raw, &mut result).await?;
                on_stage(0, &result);
                return Ok(result);
            }
            Net::Rat { generator, discriminator } => {
                let t = Instant::now();
                let img = generator.forward(z, feats.sentence.clone());
                let judged = discriminator.forward(img.clone(), feats.sentence);
                let side = img.dims()[2];
                let pixels = read(img).await?;
                let [_, mh, mw] = judged.attention.dims();
                let maps = read(judged.attention).await?;
                let logits = read(judged.logits).await?;
                let ms = per(t.elapsed().as_secs_f64() * 1e3);
                for (k, g) in result.iter_mut().enumerate() {
                    let chw = &pixels[k * 3 * side * side..(k + 1) * 3 * side * side];
                    g.stages.push(image_from_chw(chw, side));
                    if keep_raw {
                        g.raw.push(chw.to_vec());
                    }
                    g.spatial_attention =
                        Some(Map { h: mh, w: mw, data: maps[k * mh * mw..(k + 1) * mh * mw].to_vec() });
                    g.d_logit = Some(logits[k]);
                    g.timings.push((format!("{side}px"), ms));
                }
                on_stage(0, &result);
                return Ok(result);
            }
        };
        let mut h = None;
        for stage in 0..generator.num_stages() {
            let t = Instant::now();
            let (h_next, attn) = match h.take() {
                None => (
                    generator
                        .begin(z.clone(), feats.sentence.clone(), feats.words.clone(), feats.pad.clone(), eps.clone())
                        .0,
                    None,
                ),
                Some(prev) => {
                    let (h_next, attn) = generator.refine(stage, prev, feats.words.clone(), feats.pad.clone());
                    (h_next, Some(attn))
                }
            };
            let img = generator.image(stage, h_next.clone());
            let side = img.dims()[2];
            let pixels = read(img).await?;
            let maps = match attn {
                Some(a) => {
                    let [_, t, mh, mw] = a.dims();
                    Some((t, mh, mw, read(a).await?))
                }
                None => None,
            };
            let ms = per(t.elapsed().as_secs_f64() * 1e3);
            for (k, g) in result.iter_mut().enumerate() {
                let len = encoded[k].ids.len();
                let chw = &pixels[k * 3 * side * side..(k + 1) * 3 * side * side];
                g.stages.push(image_from_chw(chw, side));
                if keep_raw {
                    g.raw.push(chw.to_vec());
                }
                if let Some((t, mh, mw, data)) = &maps {
                    g.attention.push(
                        (0..len)
                            .map(|ti| {
                                let off = (k * t + ti) * mh * mw;
                                Map { h: *mh, w: *mw, data: data[off..off + mh * mw].to_vec() }
                            })
                            .collect(),
                    );
                }
                g.timings.push((format!("{side}px"), ms));
            }
            on_stage(stage, &result);
            h = Some(h_next);
        }
        Ok(result)
    }
}

impl<B: Backend> Pipeline<B> {
    /// The layout model's chain: boxes sampled per caption (from the seed's layout stream),
    /// masks, semantic layout, image.
    async fn run_layout(
        &self,
        net: &LayoutGenerator<B>,
        sentence: Tensor<B, 2>,
        z: Tensor<B, 2>,
        opts: &[GenerateOptions],
        keep_raw: bool,
        result: &mut [Generation],
    ) -> Result<()> {
        let n = opts.len();
        let per = |ms: f64| ms / n as f64;
        let labels = self.config.layout.as_ref().map(|l| l.classes.clone()).unwrap_or_default();
        let t = Instant::now();
        let mut rngs: Vec<_> = opts.iter().map(|o| layout_rng(o.seed)).collect();
        let layouts = net.boxes.sample(sentence.clone(), net.slots(), &mut rngs, read::<B, 2>).await?;
        let t_boxes = per(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let shape_noise = net.shape_noise(&mut rngs, &self.device);
        let (box_maps, valid) = net.box_tensors(&layouts, &self.device);
        let masks = net.shapes.forward(box_maps.clone(), valid, shape_noise);
        let layout = semantic_layout(box_maps, masks.clone());
        let [_, slots, _, ms, _] = masks.dims();
        let mask_values = read(masks).await?;
        let t_masks = per(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let img = net.image.forward(layout, sentence, z);
        let side = img.dims()[2];
        let pixels = read(img).await?;
        let t_image = per(t.elapsed().as_secs_f64() * 1e3);
        for (k, (g, boxes)) in result.iter_mut().zip(layouts).enumerate() {
            let chw = &pixels[k * 3 * side * side..(k + 1) * 3 * side * side];
            g.stages.push(image_from_chw(chw, side));
            if keep_raw {
                g.raw.push(chw.to_vec());
            }
            let masks = (0..boxes.len())
                .map(|b| {
                    let off = (k * slots + b) * ms * ms;
                    Map { h: ms, w: ms, data: mask_values[off..off + ms * ms].to_vec() }
                })
                .collect();
            let names =
                boxes.iter().map(|b| labels.get(b.class).cloned().unwrap_or_else(|| b.class.to_string())).collect();
            g.layout = Some(LayoutView { boxes, labels: names, masks });
            g.timings.extend([("boxes".into(), t_boxes), ("masks".into(), t_masks), (format!("{side}px"), t_image)]);
        }
        Ok(())
    }
}

/// The attention sheet of a generation (stage images with per-word overlays).
pub fn attention_sheet(g: &Generation, cell: u32) -> RgbImage {
    let stages: Vec<RgbImage> = g.stages.iter().skip(1).cloned().collect();
    let maps: Vec<Vec<Vec<f32>>> = g.attention.iter().map(|s| s.iter().map(|m| m.data.clone()).collect()).collect();
    let sizes: Vec<(usize, usize)> =
        g.attention.iter().map(|s| s.first().map(|m| (m.h, m.w)).unwrap_or((1, 1))).collect();
    crate::render::sheet::attention_sheet(&stages, &maps, &sizes, &g.tokens, cell)
}
