//! `model.gan.positional_attention` switched on when an AttnGAN run resumes: the trained
//! generator loads, gains zero position weights, which then learn, the run's directory
//! samples through the pipeline, and the switch cannot be undone at a later resume.
//! (Its own test binary: backend seeding is process-wide, so no other training may run
//! beside it.)

mod common;

use burn::store::ModuleSnapshot;
use common::{logged, quick_damsm, scratch, tiny};
use t2i::models::attngan::Generator;
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::gan::train_gan;
use t2i::train::run_dir::RunDir;
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

/// The position weights of the run's saved generator and of its moving average, flattened
/// (empty where the checkpoint has none).
fn position_weights(run: &std::path::Path) -> (Vec<f32>, Vec<f32>) {
    let dev = Default::default();
    let dir = RunDir::open(run).unwrap();
    let m = dir.model_config();
    let read = |section: &str| -> Vec<f32> {
        let g = dir.checkpoint.load_module(section, Generator::<B>::new(&m.gan, &m.text, &dev), &dev).unwrap();
        g.collect(None, None, false)
            .into_iter()
            .filter(|s| s.full_path().contains("att.position"))
            .flat_map(|s| s.to_data().unwrap().to_vec::<f32>().unwrap())
            .collect()
    };
    (read("generator"), read("generator_ema"))
}

#[test]
fn positional_attention_joins_a_resumed_run_and_learns() {
    let root = scratch("positional-attention");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 12;
    let run = root.join("gan");

    let opts = TrainOptions { max_steps: Some(3), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, Some(&damsm), &opts, &dev).unwrap();
    assert_eq!(position_weights(&run), (vec![], vec![]));

    // As `t2i train gan --resume` is used: the switch made in the run's config.toml.
    cfg.model.gan.positional_attention = true;
    std::fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
    let resume = TrainOptions { resume: true, max_steps: Some(3), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (live, ema) = position_weights(&run);
    // One W [gf, 2] per refinement stage, moved off zero by three steps; the average follows.
    assert_eq!(live.len(), (cfg.model.gan.stages - 1) * cfg.model.gan.gf * 2);
    assert_eq!(ema.len(), live.len());
    assert!(live.iter().all(|v| v.is_finite()) && live.iter().any(|v| *v != 0.0), "{live:?}");
    assert!(ema.iter().any(|v| *v != 0.0) && ema != live, "the average lags the live weights: {ema:?}");
    assert_eq!(logged(&run, "loss_g").len(), 6);

    let p = Pipeline::<B>::load(&run, &dev).unwrap();
    let g = p.generate("a big red circle left of a small blue square", GenerateOptions { seed: 1, use_mean: false });
    let g = g.unwrap();
    assert_eq!(g.stages.len(), cfg.model.gan.stages);
    assert!(g.stages.iter().all(|s| s.as_raw().iter().any(|&v| v != 0)));

    // Switching it off again would drop trained weights: refused, nothing lost.
    cfg.model.gan.positional_attention = false;
    let err = train_gan::<AD>(&cfg, None, &resume, &dev).unwrap_err().to_string();
    assert!(err.contains("different model"), "{err}");
    assert_eq!(logged(&run, "loss_g").len(), 6);
    assert_eq!(position_weights(&run).0, live);
}
