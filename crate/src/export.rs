//! `t2i export`: turn a GAN training run into an inference model directory (see
//! [`crate::weights`]) and check the result by generating from both.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::eval::evaluate::{EvalOptions, EvalReport, evaluate};
use crate::pipeline::{GenerateOptions, Pipeline, Weights};
use crate::train::damsm::damsm_from_run;
use crate::train::run_dir::RunDir;
use crate::train::test_source;
use crate::weights::{ExportConfig, ExportFiles, InferenceModel, TrainingInfo, WeightDtype, export};

/// What an export wrote and how faithful it is.
pub struct ExportReport {
    pub files: Vec<PathBuf>,
    /// Largest per-pixel difference (0–255) between the run's EMA generator and the exported
    /// model, over every stage, for one caption and seed.
    pub max_pixel_diff: u8,
    pub summary: String,
}

/// Export the EMA generator and text encoder of the run in `run_dir` to `out`.
pub fn export_run(
    run_dir: &Path,
    out: &Path,
    name: &str,
    dtype: WeightDtype,
    hardware: &str,
    note: &str,
    eval_scenes: usize,
) -> Result<ExportReport> {
    type B = crate::CpuBackend;
    let device: Device<B> = Default::default();
    // The run's checkpoint is read once; the DAMSM encoders (for --eval) come from it too.
    let run = RunDir::open(run_dir)?;
    let run_config = run.config.clone();
    let (step, wall_s) = (run.checkpoint.step, run.checkpoint.elapsed_s);
    let damsm = if eval_scenes > 0 { Some(damsm_from_run::<B>(&run, &device)?) } else { None };
    let source = Pipeline::<B>::from_run(run, Weights::Ema, &device)?;
    let model = InferenceModel::from_parts(source.text.clone(), source.net.clone());
    let data = &run_config.data;
    let description = match (data.kind.as_str(), &data.path) {
        ("shapes", _) => format!(
            "Shapes (procedural), data seed {}, {} training scenes, 5 captions each",
            data.seed, data.train_scenes
        ),
        (kind, Some(path)) => format!("{kind} data at {}", path.display()),
        (kind, None) => kind.to_string(),
    };
    let training = TrainingInfo {
        data: description,
        steps: step,
        batch_size: run_config.train.batch_size,
        wall_s,
        hardware: hardware.to_string(),
        note: note.to_string(),
    };
    let files = export(name, &model, &source.config, &source.vocab, dtype, training, Some(data.clone()))?;

    // Round trip: the exported bytes must reproduce the run's generator.
    let exported = Pipeline::<B>::from_export(&files.config, &files.vocab.to_json(), &files.weights, &device)?;
    // The check's caption: the test split's first, where the data opens (else vocabulary words).
    let first_test = test_source(&run_config, vec![]).ok().and_then(|s| s.sample_captions(1).into_iter().next());
    let (caption, max_pixel_diff) = round_trip(&source, &exported, first_test)?;

    // Quality, measured on the exported weights with the run's DAMSM encoders.
    let evaluation = match &damsm {
        Some(damsm) => {
            let opts = EvalOptions { scenes: eval_scenes, ..Default::default() };
            Some(evaluate(&exported, Some(damsm), &run_config.data, &opts)?)
        }
        None => None,
    };

    let card = model_card(&files.config, &caption, max_pixel_diff, evaluation.as_ref());
    let written = write_model_dir(out, &files, &card)?;
    let summary = format!(
        "exported {name} ({}): images {:?} px, {} bytes ({:?}), step {}; max pixel difference vs the run: \
         {max_pixel_diff}/255",
        family(&files.config.model),
        files.config.model.gan.output_sizes(),
        files.config.weights.bytes,
        dtype,
        files.config.training.steps,
    );
    Ok(ExportReport { files: written, max_pixel_diff, summary })
}

/// Generate `caption` (else the first vocabulary words) at seed 0 with both pipelines:
/// (caption, largest per-pixel difference over all stages, 0–255).
pub(crate) fn round_trip<B: Backend>(
    a: &Pipeline<B>,
    b: &Pipeline<B>,
    caption: Option<String>,
) -> Result<(String, u8)> {
    let caption = caption.unwrap_or_else(|| probe_caption(a));
    let opts = GenerateOptions { seed: 0, use_mean: false };
    let (x, y) = (a.generate(&caption, opts)?, b.generate(&caption, opts)?);
    let diff = x
        .stages
        .iter()
        .zip(&y.stages)
        .flat_map(|(p, q)| p.as_raw().iter().zip(q.as_raw()).map(|(u, v)| u.abs_diff(*v)))
        .max()
        .unwrap_or(0);
    Ok((caption, diff))
}

/// Write an exported model directory; config.json last, so a directory with a
/// config.json is complete.
pub(crate) fn write_model_dir(out: &Path, files: &ExportFiles, card: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    Ok(vec![
        write_atomic(&out.join(&files.config.weights.file), &files.weights)?,
        write_atomic(&out.join("vocab.json"), files.vocab.to_json().as_bytes())?,
        write_atomic(&out.join("MODEL_CARD.md"), card.as_bytes())?,
        write_atomic(&out.join("config.json"), files.config.to_json().as_bytes())?,
    ])
}

/// A caption every vocabulary can encode: its first few words.
fn probe_caption<B: Backend>(p: &Pipeline<B>) -> String {
    p.vocab.words().iter().skip(1).take(6).cloned().collect::<Vec<_>>().join(" ")
}

/// Write `bytes` to a temporary file beside `path`, then rename it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(path.to_path_buf())
}

/// The "Model" section of a model card: family, sizes, widths and the text encoder.
pub(crate) fn model_table(m: &crate::config::ModelConfig) -> String {
    let sizes: Vec<String> = m.gan.output_sizes().iter().map(|s| format!("{s} px")).collect();
    let encoder = if m.text.encoder == "cae" {
        format!("BiLSTM + cross-attention encoder ({} memory slots)", m.text.memory_slots)
    } else {
        "BiLSTM".to_string()
    };
    let mut s = format!(
        "## Model\n\n| part | setting |\n|---|---|\n| family | {} |\n| images | {} |\n| generator width GF | {} |\n\
         | noise z | {} |\n",
        family(m),
        sizes.join(", "),
        m.gan.gf,
        m.gan.z_dim,
    );
    if let Some(l) = m.layout.as_ref().filter(|_| m.gan.is_layout()) {
        s += &format!(
            "| box generator | LSTM {} units, {} mixture components, at most {} boxes of {} |\n\
             | shape generator | width {}, noise {}, masks {} px |\n| image generator | residual blocks {} |\n",
            l.box_hidden,
            l.mixtures,
            l.max_objects,
            l.classes.join(", "),
            l.shape_width,
            l.shape_noise,
            l.mask_size,
            m.gan.res_blocks
        );
    } else if m.gan.is_rat() {
        s += &format!(
            "| LSTM controller | {} units |\n| discriminator width DF | {} (exported for its spatial attention) |\n",
            m.gan.cond_dim, m.gan.df
        );
        if m.gan.truncation > 0.0 {
            s += &format!("| noise truncation | {} |\n", m.gan.truncation);
        }
    } else {
        s +=
            &format!("| condition (CA) | {} |\n| residual blocks per stage | {} |\n", m.gan.cond_dim, m.gan.res_blocks);
    }
    s += &format!(
        "| text encoder | {encoder}, embedding {}, hidden 2×{}, vocabulary {} words |\n\n",
        m.text.embedding_dim, m.text.hidden_dim, m.text.vocab_size
    );
    s
}

/// The paper a model's networks follow.
pub(crate) fn family(m: &crate::config::ModelConfig) -> &'static str {
    match (m.gan.variant.as_str(), m.text.encoder.as_str()) {
        ("dmgan", "cae") => "CAE-GAN (cross-attention text encoder, DM-GAN generator)",
        ("dmgan", _) => "DM-GAN (Zhu et al. 2019)",
        ("ecagan", _) => "ECAGAN (CARAFE up-sampling, ECA channel attention)",
        ("ratgan", _) => "RAT-GAN (Ye et al. 2022)",
        ("layout", _) => "Layout model (Hong et al. 2018: text → boxes → masks → image)",
        _ => "AttnGAN (Xu et al. 2018)",
    }
}

/// The model card: data, config, training, files, and the export check.
fn model_card(cfg: &ExportConfig, probe: &str, diff: u8, evaluation: Option<&EvalReport>) -> String {
    let m = &cfg.model;
    let t = &cfg.training;
    let mut s = format!("# {}\n\n", cfg.name);
    s += &format!("{} text-to-image generator trained with the `t2i` crate.\n\n", family(m));
    if !t.note.is_empty() {
        s += &format!("> {}\n\n", t.note);
    }
    s += "## Data\n\n";
    s += &format!("{}.\n\n", t.data);
    s += &model_table(m);
    s += "## Training\n\n";
    s += &format!(
        "| | |\n|---|---|\n| GAN steps | {} |\n| batch size | {} |\n| GAN wall time | {:.1} min |\n| hardware | {} |\n\n",
        t.steps,
        t.batch_size,
        t.wall_s / 60.0,
        t.hardware,
    );
    if let Some(e) = evaluation {
        s += "## Evaluation (`t2i eval`)\n\n";
        if e.dataset == "shapes" {
            s += &format!(
                "Shapes test split, {} scenes (one caption each, noise seed = scene index), judged from pixels by \
                 the procedural judge (`eval/judge.rs`). ",
                e.scenes
            );
        } else {
            s += &format!("{} test split, {} images (one caption each, noise seed = index). ", e.dataset, e.scenes);
        }
        s += "R-precision and FID use this run's DAMSM encoders; FID on DAMSM features is not comparable with \
              published FIDs (Inception features).\n\n";
        s += &e.table();
        for t in e.error_tables() {
            s += &format!("\n{t}");
        }
        s += &format!("\nReference, {}.\n\n", e.real_summary());
    }
    s += "## Files\n\n";
    s += &format!(
        "`{}`: {} bytes, {:?} storage, CRC-32 {}; EMA generator weights and the text encoder{} \
         (no DAMSM image encoder).\n\n",
        cfg.weights.file,
        cfg.weights.bytes,
        cfg.weights.dtype,
        cfg.weights.crc32,
        if m.gan.is_layout() {
            " (box, shape and image generators)"
        } else if m.gan.is_rat() {
            ", and the discriminator for its spatial attention"
        } else {
            " only, no discriminators"
        }
    );
    s += "## Export check\n\n";
    s += &format!(
        "Generating \"{probe}\" (seed 0) from the training run and from these files differs by at most \
         {diff}/255 per pixel over all stages.\n"
    );
    s
}
