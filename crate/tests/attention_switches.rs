//! The generator's attention switches turned on when an AttnGAN run resumes:
//! `model.gan.positional_attention`, then `model.gan.first_stage_attention`. Each time the
//! trained generator loads, gains its new weights, which then learn, the run's directory
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

/// The weights whose names `pick` selects in the run's saved generator and in its moving
/// average, flattened (empty where the checkpoint has none).
fn weights(run: &std::path::Path, pick: fn(&str) -> bool) -> (Vec<f32>, Vec<f32>) {
    let dev = Default::default();
    let dir = RunDir::open(run).unwrap();
    let m = dir.model_config();
    let read = |section: &str| -> Vec<f32> {
        let g = dir.checkpoint.load_module(section, Generator::<B>::new(&m.gan, &m.text, &dev), &dev).unwrap();
        g.collect(None, None, false)
            .into_iter()
            .filter(|s| pick(&s.full_path()))
            .flat_map(|s| s.to_data().unwrap().to_vec::<f32>().unwrap())
            .collect()
    };
    (read("generator"), read("generator_ema"))
}

/// The run's directory samples every stage through the pipeline, with pixels in each.
fn sample(run: &std::path::Path, stages: usize) {
    let p = Pipeline::<B>::load(run, &Default::default()).unwrap();
    let g = p.generate("a big red circle left of a small blue square", GenerateOptions { seed: 1, use_mean: false });
    let g = g.unwrap();
    assert_eq!(g.stages.len(), stages);
    assert!(g.stages.iter().all(|s| s.as_raw().iter().any(|&v| v != 0)));
}

#[test]
fn attention_switches_join_a_resumed_run_and_learn() {
    let root = scratch("attention-switches");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 12;
    let run = root.join("gan");

    let opts = TrainOptions { max_steps: Some(3), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, Some(&damsm), &opts, &dev).unwrap();
    let position_weights = |run| weights(run, |n| n.starts_with("next.") && n.ends_with("att.word_position"));
    assert_eq!(position_weights(&run), (vec![], vec![]));

    // As `t2i train gan --resume` is used: the switch made in the run's config.toml.
    cfg.model.gan.positional_attention = true;
    std::fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
    let resume = TrainOptions { resume: true, max_steps: Some(3), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (live, ema) = position_weights(&run);
    // One A [2, D] per refinement stage, moved off zero by three steps; the average follows.
    assert_eq!(live.len(), (cfg.model.gan.stages - 1) * 2 * cfg.model.text.feature_dim());
    assert_eq!(ema.len(), live.len());
    assert!(live.iter().all(|v| v.is_finite()) && live.iter().any(|v| *v != 0.0), "{live:?}");
    assert!(ema.iter().any(|v| *v != 0.0) && ema != live, "the average lags the live weights: {ema:?}");
    assert_eq!(logged(&run, "loss_g").len(), 6);

    sample(&run, cfg.model.gan.stages);

    // Switching it off again would drop trained weights: refused, nothing lost.
    cfg.model.gan.positional_attention = false;
    let err = train_gan::<AD>(&cfg, None, &resume, &dev).unwrap_err().to_string();
    assert!(err.contains("different model"), "{err}");
    assert_eq!(logged(&run, "loss_g").len(), 6);
    assert_eq!(position_weights(&run).0, live);

    // The first stage's word attention joins next: its mixing weights start at zero and move,
    // and its logits carry positions too (the position switch is on).
    let mix = |run| weights(run, |n| n.starts_with("init.att.mix"));
    assert_eq!(mix(&run), (vec![], vec![]));
    cfg.model.gan.positional_attention = true;
    cfg.model.gan.first_stage_attention = true;
    std::fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (live, ema) = mix(&run);
    let channels = (cfg.model.gan.gf * 16) >> 2;
    assert_eq!(live.len(), channels * channels);
    assert!(live.iter().all(|v| v.is_finite()) && live.iter().any(|v| *v != 0.0));
    assert!(ema.iter().any(|v| *v != 0.0) && ema != live);
    assert_eq!(
        weights(&run, |n| n.starts_with("init.att.att.word_position")).0.len(),
        2 * cfg.model.text.feature_dim()
    );
    assert_eq!(logged(&run, "loss_g").len(), 9);
    sample(&run, cfg.model.gan.stages);
    cfg.model.gan.first_stage_attention = false;
    let err = train_gan::<AD>(&cfg, None, &resume, &dev).unwrap_err().to_string();
    assert!(err.contains("different model"), "{err}");
    assert_eq!(mix(&run).0, live);
}
