//! The `t2i` command line: data, train, sample, export, bench.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use t2i::config::RunConfig;
use t2i::data::shapes::{self, Split};
use t2i::pipeline::{GenerateOptions, Pipeline, Weights, attention_sheet};
use t2i::train::TrainOptions;
use t2i::train::run_dir::RunDir;
use t2i::weights::WeightDtype;

#[derive(Parser)]
#[command(name = "t2i", version, about = "AttnGAN-family text-to-image GANs: data, training, sampling")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DeviceArg {
    /// Pure-Rust CPU backend (always available).
    Cpu,
    /// NVIDIA GPU (build with --features cuda).
    Cuda,
    /// WebGPU/Vulkan/Metal through wgpu (build with --features wgpu).
    Wgpu,
    /// LibTorch's CPU kernels (build with --features tch against a pip-installed PyTorch).
    Tch,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DtypeArg {
    F32,
    F16,
}

impl From<DtypeArg> for WeightDtype {
    fn from(d: DtypeArg) -> Self {
        match d {
            DtypeArg::F32 => WeightDtype::F32,
            DtypeArg::F16 => WeightDtype::F16,
        }
    }
}

/// `--name`, or else the output directory's name (export and import).
fn model_name(name: Option<String>, out: &std::path::Path) -> Result<String> {
    match name {
        Some(n) => Ok(n),
        None => out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("--out has no directory name; pass --name"),
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Datasets.
    Data {
        #[command(subcommand)]
        what: DataCmd,
    },
    /// Train DAMSM encoders or the GAN.
    Train {
        #[command(subcommand)]
        what: TrainCmd,
    },
    /// Generate every stage for a caption and write PNGs (images, attention sheet).
    Sample {
        /// A trained GAN run directory (config.toml, vocab.json, checkpoint.t2i).
        #[arg(long)]
        model: PathBuf,
        /// The caption.
        caption: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Use the conditioning mean μ instead of sampling ε.
        #[arg(long)]
        use_mean: bool,
        /// Use the live generator weights instead of their moving average.
        #[arg(long)]
        live: bool,
        /// Also time N more generations and write the median per step to OUT/timings.json.
        #[arg(long, default_value_t = 0)]
        repeat: usize,
        /// Take the noise z from this .npy file ([z_dim] or [1, z_dim] floats) instead of the seed.
        #[arg(long)]
        noise: Option<PathBuf>,
        /// Also write each stage's raw output (stage_<side>.npy, [1, 3, side, side] in [-1, 1])
        /// and attention maps (attention_<side>.npy, [1, words, h, w]) next to the PNGs.
        #[arg(long)]
        npy: bool,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
    /// Export a trained GAN run for inference (browser and CLI): model.safetensors (EMA
    /// generator + text encoder), config.json, vocab.json and MODEL_CARD.md.
    Export {
        /// The GAN run directory (config.toml, vocab.json, checkpoint.t2i).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Output directory, e.g. weights/shapes-attngan.
        #[arg(long)]
        out: PathBuf,
        /// Model name (default: the output directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Storage precision; f16 halves the download (computation stays f32).
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
        /// Where it was trained (free text for the model card), e.g. "2-core x86 CPU".
        #[arg(long, default_value = "not recorded")]
        hardware: String,
        /// A note for the model card and the page.
        #[arg(long, default_value = "")]
        note: String,
        /// Evaluate the exported weights on this many test scenes (t2i eval) for the model card.
        #[arg(long, default_value_t = 0)]
        eval: usize,
    },
    /// Import the published AttnGAN checkpoints (PyTorch .pth, zip or legacy format) as an
    /// exported model directory that the page, `t2i sample` and `t2i eval` load.
    Import {
        /// The DAMSM text encoder, e.g. text_encoder200.pth (RNN_ENCODER state dict).
        #[arg(long)]
        text_encoder: PathBuf,
        /// The generator, e.g. netG_epoch_600.pth (G_NET state dict).
        #[arg(long)]
        generator: PathBuf,
        /// The dataset's captions.pickle: its ixtoword is the encoder's vocabulary.
        #[arg(long, required_unless_present = "vocab", conflicts_with = "vocab")]
        captions: Option<PathBuf>,
        /// A vocab.json instead of captions.pickle.
        #[arg(long)]
        vocab: Option<PathBuf>,
        /// A run config (e.g. configs/birds.toml): the widths read from the checkpoints must
        /// match it, and its [data] becomes the model's dataset (for t2i eval).
        #[arg(long)]
        config: Option<String>,
        /// Output directory, e.g. weights/birds-attngan.
        #[arg(long)]
        out: PathBuf,
        /// Model name (default: the output directory's name).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
    },
    /// Evaluate a model on its dataset's test split: diversity, with DAMSM encoders R-precision
    /// and FID on DAMSM features, and on Shapes the procedural judge's attribute accuracy per
    /// stage (all, held-out and seen color–shape pairs). Prints a table; --json writes everything.
    Eval {
        /// A GAN run directory (carries the DAMSM encoders) or an exported model directory.
        #[arg(long)]
        model: PathBuf,
        /// A DAMSM (or GAN) run directory whose encoders score R-precision and FID (default:
        /// the model's own run directory when it is one).
        #[arg(long)]
        damsm: Option<PathBuf>,
        /// Number of test scenes.
        #[arg(long, default_value_t = 500)]
        scenes: usize,
        /// Use the live generator weights instead of their moving average.
        #[arg(long)]
        live: bool,
        /// Generate the scenes from the conditioning mean μ instead of sampling ε (diversity
        /// still samples).
        #[arg(long)]
        use_mean: bool,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write one JSON line per Shapes test scene (final stage): caption, noise seed, the
        /// scene, what the judge read, and the attributes it found wrong.
        #[arg(long)]
        per_scene: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
    /// Counterfactual-caption probe of a Shapes run: for real test scenes, how often the DAMSM
    /// scores and each stage discriminator's conditional logit prefer the true caption over one
    /// with a single attribute word changed (colour, shape, size, position, background); 50 % is
    /// chance. Shows which attributes the training signals can see at all.
    Probe {
        /// A GAN run directory (DAMSM encoders and discriminators) or a DAMSM run directory.
        #[arg(long)]
        run: PathBuf,
        /// Number of test scenes.
        #[arg(long, default_value_t = 500)]
        scenes: usize,
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
    /// Plot a run's training curves (losses; accuracy and R-precision when it evaluated itself) as SVG.
    Plot {
        /// A run directory (its metrics.jsonl) or a metrics.jsonl file.
        run: PathBuf,
        /// A second run (directory or metrics.jsonl) to compare with: its evaluation curves are
        /// drawn dashed beside RUN's, and a table of both runs at the steps both evaluated is
        /// printed (RUN / AGAINST, final stage, per cent).
        #[arg(long)]
        against: Option<PathBuf>,
        /// Output SVG (default: RUN/curves.svg).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Moving-average window for the losses, in steps.
        #[arg(long, default_value_t = 25)]
        window: usize,
    },
    /// Time generator forward (batch 1, 16) and DAMSM/GAN training steps; prints a table.
    Bench {
        /// Config file or preset.
        #[arg(long, default_value = "cpu")]
        config: String,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Also write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Time only the generator forward passes (no training steps).
        #[arg(long)]
        forward_only: bool,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Write Shapes scenes to disk: images/*.png, captions.jsonl, ground_truth.jsonl.
    Shapes {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 16)]
        count: u64,
        #[arg(long, default_value_t = 256)]
        size: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Check a dataset folder: load its index, decode every image, print counts (images,
    /// captions, vocabulary size, unreadable images).
    Check {
        /// birds or coco (AttnGAN's data folders) or folder (images + captions.jsonl).
        #[arg(long)]
        kind: String,
        #[arg(long)]
        path: PathBuf,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Config file (TOML) or preset name: tiny, cpu, paper. Default: the run's own
    /// config.toml with --resume, else `cpu`.
    #[arg(long)]
    config: Option<String>,
    /// Run directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint (its own config.toml is used if --config is not given).
    #[arg(long)]
    resume: bool,
    /// Stop after this many steps in this invocation (checkpoint kept; resume later).
    #[arg(long)]
    steps: Option<u64>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// GAN runs: also write OUT/portable.t2i at every checkpoint (the models at half precision,
    /// no optimiser state, about a quarter of the size). Copied over OUT/checkpoint.t2i on
    /// another machine, `--resume` continues from it with fresh optimisers.
    #[arg(long)]
    portable: bool,
}

#[derive(Subcommand)]
enum TrainCmd {
    /// Pretrain the DAMSM text and image encoders.
    Damsm {
        #[command(flatten)]
        args: TrainArgs,
        /// Start a new DAMSM run from the encoders (and vocabulary) of this DAMSM or GAN run
        /// directory instead of from scratch; with `train.damsm_freeze_text` only the image
        /// encoder learns. Its result can replace a GAN run's DAMSM: `train gan --resume --damsm`.
        #[arg(long)]
        init: Option<PathBuf>,
    },
    /// Train the GAN with frozen DAMSM encoders.
    Gan {
        #[command(flatten)]
        args: TrainArgs,
        /// The DAMSM run directory: needed for a new run; with --resume its encoders replace
        /// the checkpoint's (same vocabulary and text, image-encoder and data config).
        #[arg(long)]
        damsm: Option<PathBuf>,
    },
}

/// Runs `$body` with `$B` bound to the backend type and `$dev` to its device.
macro_rules! with_backend {
    ($arg:expr, $B:ident, $dev:ident, $body:block) => {
        match $arg {
            DeviceArg::Cpu => {
                type $B = t2i::CpuBackend;
                let $dev: burn::tensor::Device<$B> = Default::default();
                $body
            }
            #[cfg(feature = "cuda")]
            DeviceArg::Cuda => {
                type $B = burn::backend::Cuda;
                let $dev: burn::tensor::Device<$B> = Default::default();
                $body
            }
            #[cfg(feature = "wgpu")]
            DeviceArg::Wgpu => {
                type $B = burn::backend::Wgpu;
                let $dev: burn::tensor::Device<$B> = Default::default();
                $body
            }
            #[cfg(feature = "tch")]
            DeviceArg::Tch => {
                type $B = burn::backend::LibTorch;
                let $dev: burn::tensor::Device<$B> = burn::backend::libtorch::LibTorchDevice::Cpu;
                $body
            }
            #[allow(unreachable_patterns)]
            other => bail!(
                "this t2i was built without {other:?} support; rebuild with `--features {}`",
                format!("{other:?}").to_lowercase()
            ),
        }
    };
}

/// glibc hands every buffer over its dynamic mmap threshold (128 KiB, rising to at most 32 MiB) to
/// a fresh `mmap` and returns it on free, so a training step's tensors of a few MiB cost a page
/// fault per 4 KiB page, every step: 19 % of a `tch` GAN step in the kernel, measured with perf.
/// Keeping such buffers in the heap and freed memory with the process lets the allocator reuse
/// them: GAN step 693 → 582 ms (`cpu` preset, docs/PERFORMANCE.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_memory();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn train_options(a: &TrainArgs) -> Result<(RunConfig, TrainOptions)> {
    let cfg_src = match (&a.config, a.resume) {
        (Some(c), _) => c.clone(),
        (None, true) => a.out.join("config.toml").display().to_string(),
        (None, false) => "cpu".to_string(),
    };
    let cfg = RunConfig::load(&cfg_src)?;
    let mut opts = TrainOptions::new(&a.out);
    opts.resume = a.resume;
    opts.progress = !a.quiet;
    opts.max_steps = a.steps;
    opts.portable = a.portable;
    let stop = opts.stop.clone();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing this step and writing a checkpoint (Ctrl-C again to abort)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok((cfg, opts))
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Data { what: DataCmd::Shapes { out, split, count, size, seed } } => {
            let split: Split = split.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            shapes::write_dataset(&out, seed, split, count, size)?;
            println!("wrote {count} {split:?} scenes at {size} px to {}", out.display());
        }
        Cmd::Data { what: DataCmd::Check { kind, path } } => {
            println!("{}", t2i::data::check::check(&kind, &path)?);
        }
        Cmd::Train { what } => {
            let (args, damsm, init) = match &what {
                TrainCmd::Damsm { args, init } => (args, None, init.clone()),
                TrainCmd::Gan { args, damsm } => (args, Some(damsm.clone()), None),
            };
            let (cfg, mut opts) = train_options(args)?;
            opts.init = init;
            let summary = with_backend!(args.device, B, dev, {
                match &damsm {
                    None => t2i::train::damsm::train_damsm::<burn::backend::Autodiff<B>>(&cfg, &opts, &dev)?,
                    Some(d) => {
                        t2i::train::gan::train_gan::<burn::backend::Autodiff<B>>(&cfg, d.as_deref(), &opts, &dev)?
                    }
                }
            });
            let losses: Vec<String> = summary.last_losses.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            let how = if summary.interrupted { "interrupted at" } else { "reached" };
            println!("{how} step {} in {}: {}", summary.step, opts.out.display(), losses.join(", "));
            if summary.skipped_images > 0 {
                println!("{} unreadable images were skipped (see the warnings above)", summary.skipped_images);
            }
        }
        Cmd::Bench { config, repeats, json, forward_only, device } => {
            let cfg = RunConfig::load(&config)?;
            let scratch = std::env::temp_dir().join(format!("t2i-bench-{}", std::process::id()));
            let rows = with_backend!(device, B, dev, {
                t2i::bench::run::<burn::backend::Autodiff<B>>(&cfg, repeats.max(1), !forward_only, &scratch, &dev)?
            });
            println!("{:<20} {:>12}", "measurement", "median ms");
            for (k, v) in &rows {
                if k.ends_with("parameters") {
                    println!("{k:<20} {v:>12} (count)");
                } else {
                    println!("{k:<20} {v:>12.1}");
                }
            }
            if let Some(p) = json {
                let obj: serde_json::Map<String, serde_json::Value> =
                    rows.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
                std::fs::write(&p, serde_json::Value::Object(obj).to_string())
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
        }
        Cmd::Eval { model, damsm, scenes, live, use_mean, json, per_scene, device } => {
            let report = with_backend!(device, B, dev, {
                let weights = if live { Weights::Live } else { Weights::Ema };
                // A training run's checkpoint is read once: generator, and its DAMSM encoders
                // unless --damsm names others.
                let (pipe, encoders) = if model.join("checkpoint.t2i").is_file() {
                    let run = RunDir::open(&model)?;
                    let own = match damsm {
                        None => Some(t2i::train::damsm::damsm_from_run::<B>(&run, &dev)?),
                        Some(_) => None,
                    };
                    (Pipeline::<B>::from_run(run, weights, &dev)?, own)
                } else {
                    (Pipeline::<B>::load_weights(&model, weights, &dev)?, None)
                };
                let encoders = match (&damsm, encoders) {
                    (Some(d), _) => Some(t2i::train::damsm::load_damsm::<B>(d, &dev)?),
                    (None, own) => own,
                };
                let exported = model.join("config.json");
                let data = match (&encoders, exported.is_file()) {
                    (Some(e), _) => e.config.data.clone(),
                    (None, true) => {
                        let text = std::fs::read_to_string(&exported)
                            .with_context(|| format!("cannot read {}", exported.display()))?;
                        t2i::weights::ExportConfig::from_json(&text, &exported.display().to_string())?
                            .data
                            .with_context(|| format!("{} does not name its dataset", exported.display()))?
                    }
                    (None, false) => bail!("{}: no dataset to evaluate on", model.display()),
                };
                let opts = t2i::eval::evaluate::EvalOptions { scenes, use_mean, ..Default::default() };
                t2i::eval::evaluate::evaluate(&pipe, encoders.as_ref(), &data, &opts)?
            });
            print!("{}", report.table());
            for t in report.error_tables() {
                println!("\n{t}");
            }
            let pairs: Vec<String> = report.held_out_pairs.iter().map(|(p, n)| format!("{p} {n}")).collect();
            if !pairs.is_empty() {
                println!("held-out pairs among the scenes: {}", pairs.join(", "));
            }
            println!("{}", report.real_summary());
            println!("took {:.1} s", report.seconds);
            if let Some(p) = json {
                let text = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
                std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
                println!("wrote {}", p.display());
            }
            if let Some(p) = per_scene {
                if report.scene_records.is_empty() {
                    bail!("--per-scene: the {} evaluation has no per-scene records (Shapes only)", report.dataset);
                }
                let mut lines = String::new();
                for r in &report.scene_records {
                    lines += &serde_json::to_string(r).context("cannot serialise a scene record")?;
                    lines.push('\n');
                }
                std::fs::write(&p, lines).with_context(|| format!("cannot write {}", p.display()))?;
                println!("wrote {} ({} scenes)", p.display(), report.scene_records.len());
            }
        }
        Cmd::Probe { run, scenes, json, device } => {
            let report = with_backend!(device, B, dev, {
                let dir = RunDir::open(&run)?;
                let damsm = t2i::train::damsm::damsm_from_run::<B>(&dir, &dev)?;
                use t2i::eval::counterfactual::{ProbedDiscriminators, counterfactual_probe};
                let disc = ProbedDiscriminators::<B>::from_run(&dir, &damsm.vocab, &dev)?;
                let source = t2i::train::test_source(&dir.config, vec![dir.model_config().damsm.image_size])?;
                counterfactual_probe(&damsm, disc, &source, scenes, &dev)?
            });
            print!("{}", report.table());
            if let Some(p) = json {
                let text = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
                std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
                println!("wrote {}", p.display());
            }
        }
        Cmd::Plot { run, out, window, against } => {
            let metrics_of = |p: &PathBuf| if p.is_dir() { p.join("metrics.jsonl") } else { p.clone() };
            let dir = if run.is_dir() { run.clone() } else { run.parent().map(PathBuf::from).unwrap_or_default() };
            let out = out.unwrap_or_else(|| dir.join("curves.svg"));
            let curves = t2i::render::curves::read_metrics(&metrics_of(&run))?;
            let other = against.as_ref().map(|a| t2i::render::curves::read_metrics(&metrics_of(a))).transpose()?;
            t2i::render::curves::plot_svg(&curves, &out, window, other.as_ref())?;
            if let (Some(other), Some(a)) = (&other, &against) {
                println!("{} / {} (final stage):", run.display(), a.display());
                print!(
                    "{}",
                    t2i::render::curves::comparison_table(&t2i::render::curves::compare_evals(&curves, other))
                );
            }
            println!("wrote {}", out.display());
        }
        Cmd::Export { checkpoint, out, name, dtype, hardware, note, eval } => {
            let name = model_name(name, &out)?;
            let dtype = WeightDtype::from(dtype);
            let report = t2i::export::export_run(&checkpoint, &out, &name, dtype, &hardware, &note, eval)?;
            for f in &report.files {
                println!("wrote {}", f.display());
            }
            println!("{}", report.summary);
        }
        Cmd::Import { text_encoder, generator, captions, vocab, config, out, name, dtype } => {
            let name = model_name(name, &out)?;
            let vocab = match (captions, vocab) {
                (Some(p), _) => t2i::data::captions_pickle::CaptionsPickle::load(&p)?.vocab,
                (None, Some(p)) => t2i::text::vocab::Vocab::load(&p)?,
                (None, None) => bail!("pass --captions captions.pickle (or --vocab vocab.json)"),
            };
            let config = config.map(|c| RunConfig::load(&c)).transpose()?;
            let dtype = WeightDtype::from(dtype);
            let src = t2i::import::ImportSource { text_encoder, generator, vocab, config };
            let report = t2i::import::import_to_dir(&src, &out, &name, dtype)?;
            for f in &report.files {
                println!("wrote {}", f.display());
            }
            println!("{}", report.summary);
        }
        Cmd::Sample { model, caption, seed, out, use_mean, live, repeat, noise, npy, device } => {
            with_backend!(device, B, dev, {
                let weights = if live { Weights::Live } else { Weights::Ema };
                let pipe = Pipeline::<B>::load_weights(&model, weights, &dev)?;
                let z = match &noise {
                    Some(p) => Some(t2i::npy::read(p)?.data),
                    None => None,
                };
                let opts = GenerateOptions { seed, use_mean };
                let mut gens =
                    pipe.generate_with(&[caption.as_str()], &[opts], z.as_deref(), npy).with_context(|| {
                        noise.as_ref().map(|p| format!("noise from {}", p.display())).unwrap_or_default()
                    })?;
                let g = gens.remove(0);
                std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
                for img in &g.stages {
                    let p = out.join(format!("stage_{}.png", img.width()));
                    img.save(&p).with_context(|| format!("cannot write {}", p.display()))?;
                    println!("wrote {}", p.display());
                }
                if npy {
                    for (img, raw) in g.stages.iter().zip(&g.raw) {
                        let side = img.width() as usize;
                        let p = out.join(format!("stage_{side}.npy"));
                        t2i::npy::write(&p, &[1, 3, side, side], raw)?;
                        println!("wrote {}", p.display());
                    }
                    for (maps, img) in g.attention.iter().zip(g.stages.iter().skip(1)) {
                        let (h, w) = maps.first().map(|m| (m.h, m.w)).unwrap_or((0, 0));
                        let data: Vec<f32> = maps.iter().flat_map(|m| m.data.iter().copied()).collect();
                        let p = out.join(format!("attention_{}.npy", img.width()));
                        t2i::npy::write(&p, &[1, maps.len(), h, w], &data)?;
                        println!("wrote {}", p.display());
                    }
                }
                if let (Some(m), Some(img)) = (&g.spatial_attention, g.stages.last()) {
                    // RAT-GAN: the discriminator's spatial attention over the image.
                    let p = out.join("d_attention.png");
                    t2i::render::sheet::overlay_attention(img, &m.data, m.h, m.w, 0.6)
                        .save(&p)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    println!(
                        "wrote {} (discriminator spatial attention; D logit {:.3})",
                        p.display(),
                        g.d_logit.unwrap_or(f32::NAN)
                    );
                    if npy {
                        let p = out.join("d_attention.npy");
                        t2i::npy::write(&p, &[1, m.h, m.w], &m.data)?;
                        println!("wrote {}", p.display());
                    }
                }
                if let (Some(view), Some(img)) = (&g.layout, g.stages.last()) {
                    // The layout model: boxes (JSON), the masks over a dark canvas and over the image.
                    let boxes: Vec<serde_json::Value> = view
                        .boxes
                        .iter()
                        .zip(&view.labels)
                        .map(|(b, l)| serde_json::json!({ "label": l, "class": b.class, "bbox": b.bbox }))
                        .collect();
                    let p = out.join("boxes.json");
                    std::fs::write(&p, serde_json::to_string_pretty(&boxes)?)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    println!("wrote {} ({} boxes: {})", p.display(), boxes.len(), view.labels.join(", "));
                    let side = img.width().max(256);
                    for (name, base) in [("layout.png", None), ("layout_overlay.png", Some(img))] {
                        let p = out.join(name);
                        t2i::render::layout_view::draw_layout(view, side, base, 0.6)
                            .save(&p)
                            .with_context(|| format!("cannot write {}", p.display()))?;
                        println!("wrote {}", p.display());
                    }
                    if npy && let Some(m) = view.masks.first() {
                        let data: Vec<f32> = view.masks.iter().flat_map(|m| m.data.iter().copied()).collect();
                        let p = out.join("masks.npy");
                        t2i::npy::write(&p, &[view.masks.len(), m.h, m.w], &data)?;
                        println!("wrote {}", p.display());
                    }
                }
                if !g.attention.is_empty() {
                    let p = out.join("attention.png");
                    attention_sheet(&g, 128).save(&p).with_context(|| format!("cannot write {}", p.display()))?;
                    println!("wrote {}", p.display());
                }
                println!("tokens: {}", g.tokens.join(" "));
                if !g.unknown_words.is_empty() {
                    println!("unknown words (ignored): {}", g.unknown_words.join(", "));
                }
                if g.truncated {
                    println!("caption truncated to 18 words");
                }
                if repeat > 0 {
                    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
                    for _ in 0..repeat {
                        runs.push(pipe.generate(&caption, GenerateOptions { seed, use_mean })?.timings);
                    }
                    let mut obj = serde_json::Map::new();
                    let mut line = Vec::new();
                    for (i, (label, _)) in g.timings.iter().enumerate() {
                        let ms = t2i::bench::median(runs.iter().map(|r| r[i].1).collect());
                        line.push(format!("{label} {ms:.1} ms"));
                        obj.insert(label.clone(), ms.into());
                    }
                    println!("timings (median of {repeat}): {}", line.join(", "));
                    let p = out.join("timings.json");
                    std::fs::write(&p, serde_json::Value::Object(obj).to_string())
                        .with_context(|| format!("cannot write {}", p.display()))?;
                }
            });
        }
    }
    Ok(())
}
