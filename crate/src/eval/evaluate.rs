//! `t2i eval`: how well a model's images follow their captions on a test split.
//!
//! Per stage: diversity across seeds; on Shapes the procedural judge's attribute accuracy (all
//! scenes, scenes with a held-out color–shape pair, the others) and the share of images with
//! every attribute right; for the final stage R-precision (1 true caption among 100, Xu et al.
//! 2018 §4.1) and a Fréchet distance on the DAMSM image encoder's global features, when DAMSM
//! encoders are available (a GAN training run carries them). On image datasets (birds, COCO,
//! folder) there is no judge: R-precision, FID and diversity are reported.

use std::ops::Range;

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;
use serde_json::{Value, json};
use web_time::Instant;

use crate::config::DataConfig;
use crate::data::batcher::{ShapesSource, content_key, push_image, tokens_tensor};
use crate::data::shapes::{self, HELD_OUT, Split};
use crate::data::source::DataSource;
use crate::error::{Error, Result};
use crate::eval::count_errors::CountErrors;
use crate::eval::fid::frechet_distance;
use crate::eval::judge::{AttributeTally, Count, judge, score};
use crate::eval::layout_scores::{BoxAccuracy, score_layout};
use crate::eval::naming_order::NamingOrder;
use crate::eval::r_precision::r_precision_from_scores;
use crate::eval::relation_errors::RelationErrors;
use crate::eval::scene_records::SceneRecord;
use crate::eval::shape_confusion::ShapeConfusion;
use crate::models::damsm::cosine_matrix;
use crate::pipeline::{GenerateOptions, LayoutView, Pipeline};
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
    /// Condition on the conditioning augmentation's mean instead of a sample (`t2i sample
    /// --use-mean`) for the scenes; the diversity measure always samples.
    pub use_mean: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { scenes: 500, noise_seed: 0, diversity_captions: 8, diversity_seeds: 8, batch_size: 16, use_mean: false }
    }
}

/// Accuracy per attribute, serialisable.
#[derive(Clone, Debug, Serialize)]
pub struct Accuracy {
    pub scenes: usize,
    /// Over the scenes whose caption names the background (generated images; real images:
    /// all scenes).
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
    /// The Shapes judge's accuracy (None on other datasets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<Accuracy>,
    /// Scenes containing at least one held-out color–shape pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<Accuracy>,
    /// The other scenes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Accuracy>,
    /// Which shape the judge read for each true shape (Shapes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape_confusion: Option<ShapeConfusion>,
    /// How the relation was read in two-object scenes (Shapes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_errors: Option<RelationErrors>,
    /// Which way the object count went wrong (Shapes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_errors: Option<CountErrors>,
    /// Attribute accuracy of the objects two-object captions name first and second (Shapes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_order: Option<NamingOrder>,
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
    /// The dataset kind: `shapes`, `birds`, `coco` or `folder`.
    pub dataset: String,
    /// Test examples evaluated (scenes or images).
    pub scenes: usize,
    /// Scenes per held-out pair, e.g. "purple star": 61.
    pub held_out_pairs: Vec<(String, usize)>,
    pub stages: Vec<StageEval>,
    /// The same measures on real test images: the ceiling of R-precision and the judge, and
    /// the FID between two disjoint sets of real images (its floor at this sample size).
    pub real: Value,
    /// The layout model: box-level scores of its inferred layouts against the scenes
    /// (`eval/layout_scores.rs`), before any pixel is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<BoxAccuracy>,
    pub seconds: f64,
    /// Every Shapes scene at the final stage, as generated and judged (`eval/scene_records.rs`);
    /// written on its own (`t2i eval --per-scene`), not in the report's JSON.
    #[serde(skip)]
    pub scene_records: Vec<SceneRecord>,
}

impl EvalReport {
    /// A plain-text table: one column per stage.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let pct = |v: f64| format!("{:.1} %", 100.0 * v);
        let mut push = |name: &str, f: &dyn Fn(&StageEval) -> String| {
            rows.push((name.to_string(), self.stages.iter().map(f).collect()));
        };
        let judged = self.stages.iter().all(|s| s.all.is_some());
        if judged {
            let acc = |a: &Option<Accuracy>, f: fn(&Accuracy) -> f64| a.as_ref().map(|a| pct(f(a))).unwrap_or_default();
            push("background (where the caption names it)", &|s| acc(&s.all, |a| a.background));
            push("object count", &|s| acc(&s.all, |a| a.count));
            push("color", &|s| acc(&s.all, |a| a.color));
            push("shape", &|s| acc(&s.all, |a| a.shape));
            push("size", &|s| acc(&s.all, |a| a.size));
            push("position (1 object)", &|s| acc(&s.all, |a| a.position));
            push("relation (2 objects)", &|s| acc(&s.all, |a| a.relation));
            push("all attributes right", &|s| acc(&s.all, |a| a.all_correct));
            push("  held-out pairs", &|s| acc(&s.held_out, |a| a.all_correct));
            push("  seen pairs", &|s| acc(&s.seen, |a| a.all_correct));
            push("color, held-out", &|s| acc(&s.held_out, |a| a.color));
            push("shape, held-out", &|s| acc(&s.held_out, |a| a.shape));
        } else {
            push("attribute accuracy (Shapes judge)", &|_| "n/a: not a Shapes dataset".into());
        }
        push("diversity (mean abs. pixel difference across seeds)", &|s| format!("{:.3}", s.diversity));
        push("R-precision (DAMSM)", &|s| s.r_precision.map(pct).unwrap_or_else(|| "—".into()));
        push("FID (DAMSM features)", &|s| s.fid_damsm.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into()));
        if let Some(l) = &self.layout {
            let same = |v: f64| vec![pct(v); self.stages.len()];
            rows.push(("layout: box count".into(), same(l.count)));
            rows.push(("layout: box classes".into(), same(l.classes)));
            rows.push(("layout: box sizes".into(), same(l.sizes)));
            rows.push(("layout: position / relation".into(), same(l.placement)));
            rows.push(("layout: all right".into(), same(l.all_correct)));
        }
        let head: Vec<String> = self.stages.iter().map(|s| format!("{0}×{0}", s.size)).collect();
        let what = if judged { "test scenes".to_string() } else { format!("{} test images", self.dataset) };
        let mut out = format!("| measure ({} {what}) | {} |\n", self.scenes, head.join(" | "));
        out += &format!("|---|{}\n", "---:|".repeat(head.len()));
        for (name, cells) in rows {
            out += &format!("| {name} | {} |\n", cells.join(" | "));
        }
        out
    }

    /// The final stage's error breakdowns as titled Markdown tables (Shapes only): which shape
    /// the judge read for each caption shape, how relations and object counts went wrong, and
    /// accuracy by the order a two-object caption names its objects.
    pub fn error_tables(&self) -> Vec<String> {
        let Some(s) = self.stages.last() else { return Vec::new() };
        let side = format!("{0}×{0}", s.size);
        [
            s.shape_confusion
                .as_ref()
                .map(|m| format!("Shapes the judge read at {side} (rows: the caption's shape):\n\n{m}")),
            s.relation_errors.as_ref().map(|m| format!("Relations the judge read at {side}:\n\n{m}")),
            s.count_errors.as_ref().map(|m| format!("Object counts the judge read at {side}:\n\n{m}")),
            s.naming_order
                .as_ref()
                .map(|m| format!("Two-object captions at {side}, by the order the caption names the objects:\n\n{m}")),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// One line on the final stage: all-attributes-right, color, shape, R-precision.
    pub fn headline(&self) -> String {
        let Some(s) = self.stages.last() else { return String::new() };
        let rp = s.r_precision.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "—".into());
        let Some(all) = &s.all else {
            let fid = s.fid_damsm.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
            return format!(
                "eval {} px on {}: R-precision {rp}, FID (DAMSM features) {fid}, diversity {:.3}",
                s.size, self.dataset, s.diversity
            );
        };
        format!(
            "eval {} px: all right {:.1} %, color {:.1} %, shape {:.1} %, background {:.1} %, R-precision {}",
            s.size,
            100.0 * all.all_correct,
            100.0 * all.color,
            100.0 * all.shape,
            100.0 * all.background,
            rp
        )
    }

    /// One line on the real-image references.
    pub fn real_summary(&self) -> String {
        let pct = |v: Option<f64>| v.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "—".into());
        let r = &self.real;
        let sizes = match r["fid_damsm_real_vs_real_sizes"].as_array().map(Vec::as_slice) {
            Some([a, b]) => format!(" ({a} and {b} images)"),
            _ => String::new(),
        };
        let fid = r["fid_damsm_real_vs_real"].as_f64().map(|v| format!("{v:.2}{sizes}")).unwrap_or_else(|| "—".into());
        if r.get("judge").is_none() {
            return format!(
                "real test images: R-precision {}, FID (DAMSM features) between two disjoint real sets {fid}",
                pct(r["r_precision"].as_f64())
            );
        }
        format!(
            "real test images: judge all-attributes-right {}, R-precision {}, FID (DAMSM features) between two \
             disjoint real sets {}",
            pct(r["judge"]["all_correct"].as_f64()),
            pct(r["r_precision"].as_f64()),
            fid,
        )
    }
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let s: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    s as f64 / (a.as_raw().len().max(1) as f64 * 255.0)
}

/// DAMSM global features [n, D] of images (any stage size; the encoder pools to its size).
/// The two disjoint sets of test scenes whose FID is the floor for `n` evaluated scenes of a
/// split of `scenes`: the evaluated ones and the `n` after them (fewer where the split ends),
/// or the evaluated ones' two halves when fewer than 2 are left (wrapping around would compare
/// a set with itself, FID 0).
fn real_reference_sets(n: u64, scenes: u64) -> (Range<u64>, Range<u64>) {
    let n = n.min(scenes);
    if scenes - n >= 2 { (0..n, n..(2 * n).min(scenes)) } else { (0..n / 2, n / 2..n) }
}

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

/// Evaluate `pipe` on the test split of `data`; `damsm` enables R-precision and FID.
pub fn evaluate<B: Backend>(
    pipe: &Pipeline<B>,
    damsm: Option<&Damsm<B>>,
    data: &DataConfig,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let source = DataSource::open(data, Split::Test, vec![pipe.config.gan.final_size()])?;
    evaluate_on(pipe, damsm, &source, opts)
}

/// Evaluate `pipe` on a test source: the Shapes report, or the image-dataset report.
pub fn evaluate_on<B: Backend>(
    pipe: &Pipeline<B>,
    damsm: Option<&Damsm<B>>,
    source: &DataSource,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    match source {
        DataSource::Shapes(s) => evaluate_shapes(pipe, damsm, s, opts),
        DataSource::Images(_) => evaluate_images(pipe, damsm, source, opts),
    }
}

/// Images per stage, and the layout model's layouts (empty for the other generators).
type Generated = (Vec<Vec<RgbImage>>, Vec<LayoutView>);

/// Every caption generated once (noise seed `noise_seed` + its position), images per stage.
fn generate_all<B: Backend>(pipe: &Pipeline<B>, captions: &[String], opts: &EvalOptions) -> Result<Generated> {
    let mut generated: Vec<Vec<RgbImage>> =
        vec![Vec::with_capacity(captions.len()); pipe.config.gan.output_sizes().len()];
    let mut layouts = Vec::new();
    let mut k = 0;
    for chunk in captions.chunks(opts.batch_size.max(1)) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let o: Vec<GenerateOptions> = (0..chunk.len())
            .map(|j| GenerateOptions { seed: opts.noise_seed + (k + j) as u64, use_mean: opts.use_mean })
            .collect();
        for g in pipe.generate_batch(&refs, &o)? {
            for (s, img) in g.stages.into_iter().enumerate() {
                generated[s].push(img);
            }
            layouts.extend(g.layout);
        }
        k += chunk.len();
    }
    Ok((generated, layouts))
}

/// Diversity per stage: mean absolute pixel difference across seeds for the first captions.
fn diversity_of<B: Backend>(pipe: &Pipeline<B>, captions: &[String], opts: &EvalOptions) -> Result<Vec<f64>> {
    let stages = pipe.config.gan.output_sizes().len();
    let n = captions.len();
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

    Ok(diversity)
}

fn evaluate_shapes<B: Backend>(
    pipe: &Pipeline<B>,
    damsm: Option<&Damsm<B>>,
    data: &ShapesSource,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let n = opts.scenes.min(data.scenes as usize);
    if n < 2 {
        return Err(Error::Other(format!("need at least 2 test scenes, have {n}")));
    }
    let started = Instant::now();
    let device = &pipe.device;
    let examples: Vec<_> = (0..n as u64).map(|i| shapes::example(data.seed, Split::Test, i)).collect();
    let captions: Vec<String> =
        examples.iter().map(|e| e.captions[e.index as usize % e.captions.len()].clone()).collect();
    let sizes = pipe.config.gan.output_sizes();
    let stages = sizes.len();
    let (generated, layouts) = generate_all(pipe, &captions, opts)?;
    let diversity = diversity_of(pipe, &captions, opts)?;
    let layout = match &pipe.config.layout {
        Some(l) if layouts.len() == examples.len() => {
            let scores: Vec<_> = layouts
                .iter()
                .zip(&examples)
                .map(|(v, e)| (score_layout(&e.scene, &v.boxes, &l.classes), v.boxes.len()))
                .collect();
            Some(BoxAccuracy::from_scores(&scores))
        }
        _ => None,
    };

    let keys: Vec<String> = examples.iter().map(|e| content_key(&e.scene)).collect();
    let final_side = pipe.config.gan.final_size() as u32;
    let real: Vec<RgbImage> =
        examples.iter().map(|e| shapes::render(&e.scene, final_side)).collect::<std::result::Result<_, _>>()?;

    let mut out = Vec::with_capacity(stages);
    let mut scene_records = Vec::with_capacity(n);
    for (s, images) in generated.iter().enumerate() {
        let (mut all, mut held, mut seen) =
            (AttributeTally::default(), AttributeTally::default(), AttributeTally::default());
        let mut confusion = ShapeConfusion::default();
        let mut relations = RelationErrors::default();
        let mut counts = CountErrors::default();
        let mut order = NamingOrder::default();
        let last = s + 1 == stages;
        for (i, ((img, ex), caption)) in images.iter().zip(&examples).zip(&captions).enumerate() {
            let judged = judge(img);
            counts.add(&ex.scene, &judged);
            let sc = score(&ex.scene, &judged).for_caption(caption);
            if last {
                let seed = opts.noise_seed + i as u64;
                scene_records.push(SceneRecord::new(i, caption, seed, &ex.scene, &judged, &sc));
            }
            order.add(&ex.scene, caption, &sc);
            all.add(&sc);
            confusion.add(&ex.scene, &sc);
            relations.add(&ex.scene, caption, &sc);
            if ex.scene.has_held_out() { &mut held } else { &mut seen }.add(&sc);
        }
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
            size: sizes[s],
            all: Some(Accuracy::from(&all)),
            held_out: Some(Accuracy::from(&held)),
            seen: Some(Accuracy::from(&seen)),
            shape_confusion: Some(confusion),
            relation_errors: Some(relations),
            count_errors: Some(counts),
            naming_order: Some(order),
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
        real_json["r_precision"] = json!(rp);
        let (a, b) = real_reference_sets(n as u64, data.scenes);
        if a.end - a.start >= 2 && b.end - b.start >= 2 {
            let render = |ids: Range<u64>| {
                ids.map(|i| shapes::render(&shapes::example(data.seed, Split::Test, i).scene, final_side))
                    .collect::<std::result::Result<Vec<_>, _>>()
            };
            let (fa, dim) = image_codes(d, &render(a.clone())?, device)?;
            let (fb, _) = image_codes(d, &render(b.clone())?, device)?;
            real_json["fid_damsm_real_vs_real"] = json!(frechet_distance(&fa, &fb, dim)?);
            real_json["fid_damsm_real_vs_real_sizes"] = json!([a.end - a.start, b.end - b.start]);
        }
    }

    let held_out_pairs = HELD_OUT
        .iter()
        .map(|(c, sh)| {
            let count =
                examples.iter().filter(|e| e.scene.objects.iter().any(|o| o.color == *c && o.shape == *sh)).count();
            (format!("{} {}", c.name(), sh.name()), count)
        })
        .collect();
    Ok(EvalReport {
        dataset: "shapes".into(),
        scenes: n,
        held_out_pairs,
        stages: out,
        real: real_json,
        layout,
        seconds: started.elapsed().as_secs_f64(),
        scene_records,
    })
}

/// The image-dataset report: the first `opts.scenes` usable test images, caption i mod count of
/// image i, R-precision and FID against their centre crops, diversity; no judge.
fn evaluate_images<B: Backend>(
    pipe: &Pipeline<B>,
    damsm: Option<&Damsm<B>>,
    source: &DataSource,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let started = Instant::now();
    let device = &pipe.device;
    let vocab = &pipe.vocab;
    let indices = source.eval_indices(vocab, 0, opts.scenes);
    let n = indices.len();
    if n < 2 {
        return Err(Error::Other(format!("need at least 2 usable {} test images, have {n}", source.kind())));
    }
    let captions: Vec<String> =
        indices.iter().map(|&i| source.eval_caption(vocab, i, i as usize)).collect::<Result<_>>()?;
    let sizes = pipe.config.gan.output_sizes();
    let stages = sizes.len();
    let (generated, _) = generate_all(pipe, &captions, opts)?;
    let diversity = diversity_of(pipe, &captions, opts)?;
    let keys = source.keys(&indices);
    let final_side = pipe.config.gan.final_size() as u32;
    let real: Vec<RgbImage> = indices.iter().map(|&i| source.real_image(i, final_side)).collect::<Result<_>>()?;

    let mut out = Vec::with_capacity(stages);
    for (s, images) in generated.iter().enumerate() {
        let (r_precision, fid_damsm) = match (damsm, s + 1 == stages) {
            (Some(d), true) => {
                let rp = r_precision_of(d, images, &captions, &keys, device)?;
                let (fake, dim) = image_codes(d, images, device)?;
                let (truth, _) = image_codes(d, &real, device)?;
                (Some(rp), Some(frechet_distance(&fake, &truth, dim)?))
            }
            _ => (None, None),
        };
        let size = sizes[s];
        out.push(StageEval {
            size,
            all: None,
            held_out: None,
            seen: None,
            shape_confusion: None,
            relation_errors: None,
            count_errors: None,
            naming_order: None,
            diversity: diversity[s],
            r_precision,
            fid_damsm,
        });
    }

    // References from real images: R-precision's ceiling; FID between disjoint real sets, its
    // floor at this sample size (when the split holds a second set of at least 2 images).
    let mut real_json = json!({});
    if let Some(d) = damsm {
        real_json["r_precision"] = json!(r_precision_of(d, &real, &captions, &keys, device)?);
        let start = indices.last().map_or(0, |&i| i + 1);
        let other: Vec<RgbImage> = source
            .eval_indices(vocab, start, n)
            .iter()
            .map(|&i| source.real_image(i, final_side))
            .collect::<Result<_>>()?;
        if other.len() >= 2 {
            let (a, dim) = image_codes(d, &real, device)?;
            let (b, _) = image_codes(d, &other, device)?;
            real_json["fid_damsm_real_vs_real"] = json!(frechet_distance(&a, &b, dim)?);
            real_json["fid_damsm_real_vs_real_sizes"] = json!([real.len(), other.len()]);
        }
    }
    Ok(EvalReport {
        dataset: source.kind().to_string(),
        scenes: n,
        held_out_pairs: Vec::new(),
        stages: out,
        real: real_json,
        layout: None,
        seconds: started.elapsed().as_secs_f64(),
        scene_records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::real_reference_sets;

    #[test]
    fn real_reference_sets_are_disjoint() {
        assert_eq!(real_reference_sets(500, 2000), (0..500, 500..1000));
        assert_eq!(real_reference_sets(1500, 2000), (0..1500, 1500..2000));
        // The whole split (or all but one scene): its two halves, never a set against itself.
        assert_eq!(real_reference_sets(2000, 2000), (0..1000, 1000..2000));
        assert_eq!(real_reference_sets(1999, 2000), (0..999, 999..1999));
        assert_eq!(real_reference_sets(5000, 2000), (0..1000, 1000..2000));
    }
}
