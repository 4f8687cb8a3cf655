//! Training: DAMSM pretraining, GAN training, checkpoints, metrics.

// Without the `train` feature (the browser build) only checkpoints and run directories are used.
#![cfg_attr(not(feature = "train"), allow(unused_imports))]

pub mod checkpoint;
#[cfg(feature = "train")]
pub mod damsm;
pub mod ema;
#[cfg(feature = "train")]
pub mod gan;
pub mod grad_clip;
#[cfg(feature = "train")]
pub mod layout;
pub mod losses;
#[cfg(feature = "train")]
pub mod ma_gp;
pub mod metrics_log;
#[cfg(feature = "train")]
pub mod perceptual;
#[cfg(feature = "train")]
pub mod rat_gan;
pub mod run_dir;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::optim::AdamConfig;

use crate::config::RunConfig;
use crate::data::shapes::Split;
#[cfg(feature = "train")]
use crate::data::source::DataSource;
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

/// How a training command runs.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Run directory: config.toml, vocab.json, checkpoint.t2i, metrics.jsonl, samples/.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.t2i`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Set to true (e.g. by Ctrl-C) to checkpoint and stop after the current step.
    pub stop: Arc<AtomicBool>,
    /// Stop after this many steps in this invocation (None: run to the configured total).
    pub max_steps: Option<u64>,
    /// GAN runs: also write `portable.t2i` (half precision, no optimiser state) at every
    /// checkpoint; copied over `checkpoint.t2i`, it resumes the run with fresh optimisers.
    pub portable: bool,
    /// DAMSM runs: start the encoders from this run directory's checkpoint (a DAMSM or GAN
    /// run with the same text, image-encoder and data config) and take its vocabulary.
    pub init: Option<PathBuf>,
}

impl TrainOptions {
    pub fn new(out: &Path) -> Self {
        Self {
            out: out.to_path_buf(),
            resume: false,
            progress: false,
            stop: Arc::new(AtomicBool::new(false)),
            max_steps: None,
            portable: false,
            init: None,
        }
    }
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// What a training run ended with.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub step: u64,
    pub interrupted: bool,
    pub last_losses: Vec<(String, f32)>,
    /// Distinct images skipped as unreadable (image datasets; 0 for Shapes).
    pub skipped_images: usize,
}

#[cfg(feature = "train")]
pub(crate) fn adam(cfg: &RunConfig) -> AdamConfig {
    AdamConfig::new().with_beta_1(cfg.train.betas[0] as f32).with_beta_2(cfg.train.betas[1] as f32).with_epsilon(1e-8)
}

/// The training data source of a config.
#[cfg(feature = "train")]
pub fn train_source(cfg: &RunConfig, stage_sizes: Vec<usize>) -> Result<DataSource> {
    DataSource::open(&cfg.data, Split::Train, stage_sizes)
}

/// The test data source of a config.
#[cfg(feature = "train")]
pub fn test_source(cfg: &RunConfig, stage_sizes: Vec<usize>) -> Result<DataSource> {
    DataSource::open(&cfg.data, Split::Test, stage_sizes)
}

/// Prepare a fresh run directory (refusing to clobber an existing run) or check a resumed one.
/// Returns the vocabulary to use: a resumed run's own, else `vocab_from`'s, else the training
/// data's ([`DataSource::run_vocab`]: AttnGAN's captions.pickle as is, or built from captions).
#[cfg(feature = "train")]
pub(crate) fn prepare_run_dir(
    cfg: &RunConfig,
    opts: &TrainOptions,
    vocab_from: Option<&Path>,
    source: &DataSource,
) -> Result<Vocab> {
    let out = &opts.out;
    let ckpt = out.join("checkpoint.t2i");
    if opts.resume {
        if !ckpt.exists() {
            return Err(Error::Other(format!("--resume: {} does not exist", ckpt.display())));
        }
        return Ok(Vocab::load(&out.join("vocab.json"))?);
    }
    if ckpt.exists() {
        return Err(Error::Other(format!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let vocab = match vocab_from {
        Some(p) => Vocab::load(p)?,
        None => source.run_vocab(),
    };
    vocab.save(&out.join("vocab.json"))?;
    let cfg_path = out.join("config.toml");
    std::fs::write(&cfg_path, cfg.to_toml()).map_err(|e| Error::io(&cfg_path, e))?;
    let metrics = out.join("metrics.jsonl");
    if metrics.exists() {
        std::fs::remove_file(&metrics).map_err(|e| Error::io(&metrics, e))?;
    }
    Ok(vocab)
}

/// Check that a resumed checkpoint was made with the same model and data.
#[cfg(feature = "train")]
pub(crate) fn check_resume_config(cfg: &RunConfig, ckpt_config: &str, path: &Path) -> Result<()> {
    let mut old = RunConfig::from_toml(ckpt_config, path)?;
    // Positional word attention and the first stage's word attention may be switched on at a
    // resume (they start as no change), not off.
    old.model.gan.positional_attention |= cfg.model.gan.positional_attention;
    old.model.gan.first_stage_attention |= cfg.model.gan.first_stage_attention;
    if old.model != cfg.model || old.data != cfg.data || old.train.seed != cfg.train.seed {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            msg: "was made with a different model, data or seed config; resume with the run's own config.toml".into(),
        });
    }
    Ok(())
}

/// Reseed the backend's own RNG (dropout) from (seed, step), so a resumed run draws the
/// same dropout masks as an uninterrupted one.
#[cfg(feature = "train")]
pub(crate) fn seed_step<B: burn::tensor::backend::Backend>(device: &B::Device, seed: u64, step: u64) {
    B::seed(device, crate::rng::mix(seed ^ step.rotate_left(17)));
}

#[cfg(feature = "train")]
pub(crate) fn check_finite(step: u64, losses: &[(String, f32)]) -> Result<()> {
    let bad: Vec<&(String, f32)> = losses.iter().filter(|(_, v)| !v.is_finite()).collect();
    match bad.first() {
        // Every non-finite term is named, so that a total points to the part that broke.
        Some((_, value)) => Err(Error::NonFinite {
            step,
            loss: bad.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            value: *value,
        }),
        None => Ok(()),
    }
}

#[cfg(feature = "train")]
pub(crate) fn progress_bar(enabled: bool, start: u64, total: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_position(start);
    pb
}

#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;

    #[test]
    fn check_finite_names_every_non_finite_term() {
        let v = |pairs: &[(&str, f32)]| pairs.iter().map(|(n, x)| (n.to_string(), *x)).collect::<Vec<_>>();
        assert!(check_finite(3, &v(&[("loss_d", 1.0), ("loss_g", -2.5)])).is_ok());
        let err = check_finite(
            7,
            &v(&[("loss_d", 1.0), ("loss_g", f32::INFINITY), ("g_adv", f32::INFINITY), ("kl", f32::NAN)]),
        )
        .expect_err("infinite loss");
        match &err {
            Error::NonFinite { step, loss, value } => {
                assert_eq!((*step, loss.as_str()), (7, "loss_g, g_adv, kl"));
                assert_eq!(*value, f32::INFINITY);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("loss_g, g_adv, kl not finite"), "{err}");
    }
}
