//! Speed measurements for `t2i bench` (the table in docs/PERFORMANCE.md): generator
//! forward at batch 1 and 16 through the pipeline, and the real training loops' step times
//! (read from their metrics log, so data rendering is included). Medians in milliseconds.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use web_time::Instant;

use crate::config::RunConfig;
use crate::data::shapes;
use crate::error::{Error, Result};
use crate::pipeline::{GenerateOptions, Pipeline};
use crate::text::vocab::Vocab;
use crate::train::TrainOptions;
use crate::weights::InferenceModel;

/// Median of a sample (mean of the middle two for even sizes).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

/// Runs the measurements; `scratch` receives two short training runs.
/// `training: false` times only the generator forward passes.
pub fn run<A: AutodiffBackend>(
    cfg: &RunConfig,
    repeats: usize,
    training: bool,
    scratch: &Path,
    device: &A::Device,
) -> Result<Vec<(String, f64)>> {
    let mut rows = Vec::new();
    let vocab = Vocab::build(shapes::all_words(), 1);
    let mut mc = cfg.model.clone();
    mc.text.vocab_size = vocab.len();
    let (text, net) = InferenceModel::<A::InnerBackend>::new(&mc, device).into_parts()?;
    rows.push(("generator_parameters".to_string(), net.generator_params() as f64));
    let pipe = Pipeline::<A::InnerBackend> { config: mc.clone(), vocab, text, net, device: device.clone() };
    let caption = "a small red circle above a large blue square";
    for b in [1usize, 16] {
        let caps = vec![caption; b];
        let opts: Vec<GenerateOptions> = (0..b as u64).map(|s| GenerateOptions { seed: s, use_mean: false }).collect();
        let mut times = Vec::new();
        for i in 0..repeats + 2 {
            let t0 = Instant::now();
            pipe.generate_batch(&caps, &opts)?;
            if i >= 2 {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        rows.push((format!("g_forward_b{b}"), median(times)));
    }
    if !training {
        return Ok(rows);
    }
    let _ = std::fs::remove_dir_all(scratch);
    let steps = repeats as u64 + 2;
    let mut c = cfg.clone();
    c.train.damsm_steps = steps;
    c.train.gan_steps = steps;
    c.train.sample_every = 0;
    c.train.checkpoint_every = 0;
    let damsm_dir = scratch.join("damsm");
    crate::train::damsm::train_damsm::<A>(&c, &TrainOptions::new(&damsm_dir), device)?;
    rows.push((format!("damsm_step_b{}", c.train.batch_size), step_median(&damsm_dir)?));
    let gan_dir = scratch.join("gan");
    crate::train::gan::train_gan::<A>(&c, Some(&damsm_dir), &TrainOptions::new(&gan_dir), device)?;
    rows.push((format!("train_step_b{}", c.train.batch_size), step_median(&gan_dir)?));
    let _ = std::fs::remove_dir_all(scratch);
    Ok(rows)
}

/// Median step time (ms) of a run's metrics log, skipping two warm-up steps.
fn step_median(dir: &Path) -> Result<f64> {
    let p = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let cfg = RunConfig::load(&dir.join("config.toml").display().to_string())?;
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("images_per_s").and_then(|x| x.as_f64()))
        .skip(2)
        .map(|ips| cfg.train.batch_size as f64 / ips * 1e3)
        .collect();
    Ok(median(times))
}
