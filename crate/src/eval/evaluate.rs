//! `t2i eval`: how well a model's images follow their captions on the Shapes test split.
//!
//! Per stage: the procedural judge's attribute accuracy (all scenes, scenes with a held-out
//! color–shape pair, the others), the share of images with every attribute right, diversity
//! across seeds; for the final stage R-precision (1 true caption among 100, Xu et al. 2018
//! §4.1) and a Fréchet distance on the DAMSM image encoder's global features, when DAMSM
//! encoders are available (a GAN training run carries them).

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;
use serde_json::{Value, json};
use web_time::Instant;

use crate::config::DataConfig;
use crate::data::batcher::{content_key, push_image, tokens_tensor};
use crate::data::shapes::{self, HELD_OUT, Split};
use crate::error::{Error, Result};
use crate::eval::fid::frechet_distance;
use crate::eval::judge::{AttributeTally, Count, judge, score};
use crate::eval::r_precision::r_precision_from_scores;
use crate::models::damsm::cosine_matrix;
use crate::pipeline::{GenerateOptions, Pipeline};
use crate::train::damsm::Damsm;

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Test scenes (scene i uses caption i mod 5 and noise seed `noise_seed + i`).
    pub scenes: usize,
    pub noise_seed: u64,
    /// Captions × seeds for the diversity measure.
    pub diversity_captions: usize,
    pub diversity_seeds: usize,
    /// Captions generated per forward pass.
    pub batch_size: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { scenes: 500, noise_seed: 0, diversity_captions: 8, diversity_seeds: 8, batch_size: 16 }
    }
}

/// Accuracy per attribute, serialisable.
#[derive(Clone, Debug, Serialize)]
pub struct Accuracy {
    pub scenes: usize,
    pub background: f64,
    pub count: f64,
    pub color: f64,
    pub shape: f64,
    pub size: f64,
    pub position: f64,
    pub relation: f64,
    /// All attributes of all scenes pooled.
    pub attributes: f64,
    /// Share of images whose every attribute is right.
    pub all_correct: f64,
}

impl Accuracy {
    fn from(t: &AttributeTally) -> Self {
        let r = |c: Count| c.rate();
        Self {
            scenes: t.all_correct.total,
            background: r(t.background),
            count: r(t.count),
            color: r(t.color),
            shape: r(t.shape),
            size: r(t.size),
            position: r(t.position),
            relation: r(t.relation),
            attributes: r(t.attributes()),
            all_correct: r(t.all_correct),
        }
    }
}

/// Results for one generator stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageEval {
    pub size: usize,
    pub all: Accuracy,
    /// Scenes containing at least one held-out color–shape pair.
    pub held_out: Accuracy,
    /// The other scenes.
    pub seen: Accuracy,
    /// Mean absolute pixel difference (0–1) between images of one caption under different seeds.
    pub diversity: f64,
    /// R-precision on this stage's images (DAMSM encoders; final stage only).
    pub r_precision: Option<f64>,
    /// Fréchet distance on DAMSM global image features vs real test images (final stage only).
    pub fid_damsm: Option<f64>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub scenes: usize,
    /// Scenes per held-out pair, e.g. "purple star": 61.
    pub held_out_pairs: Vec<(String, usize)>,
    pub stages: Vec<StageEval>,
    /// The same measures on real test images: the ceiling of R-precision and the judge, and
    /// the FID between two disjoint sets of real images (its floor at this sample size).
    pub real: Value,
    pub seconds: f64,
}

impl EvalReport {
    /// A plain-text table: one column per stage.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let pct = |v: f64| format!("{:.1} %", 100.0 * v);
        let mut push = |name: &str, f: &dyn Fn(&StageEval) -> String| {
            rows.push((name.to_string(), self.stages.iter().map(f).collect()));
        };
        push("background", &|s| pct(s.all.background));
        push("object count", &|s| pct(s.all.count));
        push("color", &|s| pct(s.all.color));
        push("shape", &|s| pct(s.all.shape));
        push("size", &|s| pct(s.all.size));
        push("position (1 object)", &|s| pct(s.all.position));
        push("relation (2 objects)", &|s| pct(s.all.relation));
        push("all attributes right", &|s| pct(s.all.all_correct));
        push("  held-out pairs", &|s| pct(s.held_out.all_correct));
        push("  seen pairs", &|s| pct(s.seen.all_correct));
        push("color, held-out", &|s| pct(s.held_out.color));
        push("shape, held-out", &|s| pct(s.held_out.shape));
        push("diversity (mean abs. pixel difference across seeds)", &|s| format!("{:.3}", s.diversity));
        push("R-precision (DAMSM)", &|s| s.r_precision.map(pct).unwrap_or_else(|| "—".into()));
        push("FID (DAMSM features)", &|s| s.fid_damsm.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into()));
        let head: Vec<String> = self.stages.iter().map(|s| format!("{0}×{0}", s.size)).collect();
        let mut out = format!("| measure ({} test scenes) | {} |\n", self.scenes, head.join(" | "));
        out += &format!("|---|{}\n", "---:|".repeat(head.len()));
        for (name, cells) in rows {
            out += &format!("| {name} | {} |\n", cells.join(" | "));
        }
        out
    }

    /// One line on the final stage: all-attributes-right, color, shape, R-precision.
    pub fn headline(&self) -> String {
        let Some(s) = self.stages.last() else { return String::new() };
        format!(
            "eval {} px: all right {:.1} %, color {:.1} %, shape {:.1} %, background {:.1} %, R-precision {}",
            s.size,
            100.0 * s.all.all_correct,
            100.0 * s.all.color,
            100.0 * s.all.shape,
            100.0 * s.all.background,
            s.r_precision.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "—".into())
        )
    }

    /// One line on the real-image references.
    pub fn real_summary(&self) -> String {
        let pct = |v: Option<f64>| v.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "—".into());
        let r = &self.real;
        format!(
            "real test images: judge all-attributes-right {}, R-precision {}, FID (DAMSM features) between two \
             disjoint real sets {}",
            pct(r["judge"]["all_correct"].as_f64()),
            pct(r["r_precision"].as_f64()),
            r["fid_damsm_real_vs_real"].as_f64().map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into()),
        )
    }
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let s: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    s as f64 / (a.as_raw().len().max(1) as f64 * 255.0)
}

/// DAMSM global features [n, D] of images (any stage size; the encoder pools to its size).
fn image_codes<B: Backend>(damsm: &Damsm<B>, images: &[RgbImage], device: &B::Device) -> Result<(Vec<f32>, usize)> {
    let mut all = Vec::new();
    let mut dim = 0;
    for chunk in images.chunks(32) {
        let side = chunk[0].width() as usize;
        let mut data = Vec::with_capacity(chunk.len() * 3 * side * side);
        for img in chunk {
            push_image(img, &mut data);
        }
        let t = Tensor::<B, 4>::from_data(TensorData::new(data, [chunk.len(), 3, side, side]), device);
        let g = damsm.image.forward(t).global;
        dim = g.dims()[1];
        all.extend(g.into_data().to_vec::<f32>().map_err(|e| Error::Other(format!("{e:?}")))?);
    }
    Ok((all, dim))
}

fn sentence_codes<B: Backend>(damsm: &Damsm<B>, captions: &[String], device: &B::Device) -> Result<Tensor<B, 2>> {
    let mut out = Vec::new();
    for chunk in captions.chunks(32) {
        let rows: Vec<Vec<u32>> = chunk
            .iter()
            .map(|c| {
                let ids = damsm.vocab.encode(c).ids;
                if ids.is_empty() { vec![1] } else { ids }
            })
            .collect();
        out.push(damsm.text.forward(tokens_tensor(&rows, device)).sentence);
    }
    Ok(Tensor::cat(out, 0))
}

fn r_precision_of<B: Backend>(
    damsm: &Damsm<B>,
    images: &[RgbImage],
    captions: &[String],
    keys: &[String],
    device: &B::Device,
) -> Result<f64> {
    let (codes, d) = image_codes(damsm, images, device)?;
    let img = Tensor::<B, 2>::from_data(TensorData::new(codes, [images.len(), d]), device);
    let sims = cosine_matrix(img, sentence_codes(damsm, captions, device)?);
    let scores = sims.into_data().to_vec::<f32>().map_err(|e| Error::Other(format!("{e:?}")))?;
    r_precision_from_scores(&scores, images.len(), keys, 0)
}

/// Evaluate `pipe` on the Shapes test split of `data`; `damsm` enables R-precision and FID.
pub fn evaluate<B: Backend>(
    pipe: &Pipeline<B>,
    damsm: Option<&Damsm<B>>,
    data: &DataConfig,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    if data.kind != "shapes" {
        return Err(Error::config("data.kind", "t2i eval needs the Shapes dataset (its judge reads Shapes images)"));
    }
    let n = opts.scenes.min(data.test_scenes as usize);
    if n < 2 {
        return Err(Error::Other(format!("need at least 2 test scenes, have {n}")));
    }
    let started = Instant::now();
    let device = &pipe.device;
    let examples: Vec<_> = (0..n as u64).map(|i| shapes::example(data.seed, Split::Test, i)).collect();
    let captions: Vec<String> =
        examples.iter().map(|e| e.captions[e.index as usize % e.captions.len()].clone()).collect();
    let stages = pipe.config.gan.stages;

    // Generate every scene's caption once, stage images kept per stage.
    let mut generated: Vec<Vec<RgbImage>> = vec![Vec::with_capacity(n); stages];
    let mut k = 0;
    for chunk in captions.chunks(opts.batch_size.max(1)) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let o: Vec<GenerateOptions> = (0..chunk.len())
            .map(|j| GenerateOptions { seed: opts.noise_seed + (k + j) as u64, use_mean: false })
            .collect();
        for g in pipe.generate_batch(&refs, &o)? {
            for (s, img) in g.stages.into_iter().enumerate() {
                generated[s].push(img);
            }
        }
        k += chunk.len();
    }

    // Diversity: several seeds for the first captions.
    let mut diversity = vec![0.0; stages];
    let (dc, ds) = (opts.diversity_captions.min(n), opts.diversity_seeds.max(2));
    for caption in captions.iter().take(dc) {
        let refs = vec![caption.as_str(); ds];
        let o: Vec<GenerateOptions> =
            (0..ds).map(|j| GenerateOptions { seed: 1_000_000 + j as u64, use_mean: false }).collect();
        let gens = pipe.generate_batch(&refs, &o)?;
        for (s, d) in diversity.iter_mut().enumerate() {
            let mut sum = 0.0;
            let mut pairs = 0;
            for a in 0..ds {
                for b in a + 1..ds {
                    sum += mean_abs_diff(&gens[a].stages[s], &gens[b].stages[s]);
                    pairs += 1;
                }
            }
            *d += sum / pairs as f64 / dc.max(1) as f64;
        }
    }

    let keys: Vec<String> = examples.iter().map(|e| content_key(&e.scene)).collect();
    let final_side = pipe.config.gan.final_size() as u32;
    let real: Vec<RgbImage> =
        examples.iter().map(|e| shapes::render(&e.scene, final_side)).collect::<std::result::Result<_, _>>()?;

    let mut out = Vec::with_capacity(stages);
    for (s, images) in generated.iter().enumerate() {
        let (mut all, mut held, mut seen) =
            (AttributeTally::default(), AttributeTally::default(), AttributeTally::default());
        for (img, ex) in images.iter().zip(&examples) {
            let sc = score(&ex.scene, &judge(img));
            all.add(&sc);
            if ex.scene.has_held_out() { &mut held } else { &mut seen }.add(&sc);
        }
        let last = s + 1 == stages;
        let (r_precision, fid_damsm) = match (damsm, last) {
            (Some(d), true) => {
                let rp = r_precision_of(d, images, &captions, &keys, device)?;
                let (fake, dim) = image_codes(d, images, device)?;
                let (truth, _) = image_codes(d, &real, device)?;
                (Some(rp), Some(frechet_distance(&fake, &truth, dim)?))
            }
            _ => (None, None),
        };
        out.push(StageEval {
            size: pipe.config.gan.stage_size(s),
            all: Accuracy::from(&all),
            held_out: Accuracy::from(&held),
            seen: Accuracy::from(&seen),
            diversity: diversity[s],
            r_precision,
            fid_damsm,
        });
    }

    // References from real images: the judge's and R-precision's ceilings, FID's floor.
    let mut real_tally = AttributeTally::default();
    for (img, ex) in real.iter().zip(&examples) {
        real_tally.add(&score(&ex.scene, &judge(img)));
    }
    let mut real_json = json!({ "judge": Accuracy::from(&real_tally) });
    if let Some(d) = damsm {
        let rp = r_precision_of(d, &real, &captions, &keys, device)?;
        let other: Vec<RgbImage> = (n as u64..2 * n as u64)
            .map(|i| shapes::render(&shapes::example(data.seed, Split::Test, i % data.test_scenes).scene, final_side))
            .collect::<std::result::Result<_, _>>()?;
        let (a, dim) = image_codes(d, &real, device)?;
        let (b, _) = image_codes(d, &other, device)?;
        real_json["r_precision"] = json!(rp);
        real_json["fid_damsm_real_vs_real"] = json!(frechet_distance(&a, &b, dim)?);
    }

    let held_out_pairs = HELD_OUT
        .iter()
        .map(|(c, sh)| {
            let count =
                examples.iter().filter(|e| e.scene.objects.iter().any(|o| o.color == *c && o.shape == *sh)).count();
            (format!("{} {}", c.name(), sh.name()), count)
        })
        .collect();
    Ok(EvalReport { scenes: n, held_out_pairs, stages: out, real: real_json, seconds: started.elapsed().as_secs_f64() })
}
