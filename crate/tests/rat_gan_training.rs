//! RAT-GAN's discriminator learns: a tiny run with the paper's optimiser (Adam β (0, 0.9)) at
//! a raised D learning rate lowers the hinge loss from its start near 2 (logits ≈ 0: 1 on
//! real pairs + ½·1 on fakes + ½·1 on mismatched). Its own test binary: backend seeding is
//! process-wide. Resuming it replays the uninterrupted run.

mod common;

use common::{logged, mean, quick_damsm, scratch, tiny};
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::gan::train_gan;
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

#[test]
fn a_tiny_run_lowers_the_discriminator_hinge_loss() {
    let root = scratch("rat-gan-training");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.model.gan.variant = "ratgan".into();
    cfg.train.gan_steps = 40;
    cfg.train.betas = [0.0, 0.9];
    cfg.train.lr_g = 1e-4;
    cfg.train.lr_d = 4e-3;
    let run = root.join("gan");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&run), &dev).unwrap();
    let hinge = logged(&run, "hinge_d");
    assert_eq!(hinge.len(), 40);
    let (first, last) = (mean(&hinge[..5]), mean(&hinge[35..]));
    assert!((first - 2.0).abs() < 0.05, "hinge starts at {first}");
    assert!(last < first - 0.15, "hinge {first:.3} → {last:.3}: {hinge:?}");
    // MA-GP is logged and grows from 0 as D's input gradients grow.
    assert_eq!(logged(&run, "ma_gp").len(), 40);

    // Resuming replays the uninterrupted run: 4 steps at once vs 2 + 2, evaluated at the end.
    cfg.train.gan_steps = 4;
    cfg.train.checkpoint_every = 2;
    cfg.train.eval_every = 4;
    cfg.train.eval_scenes = 4;
    let a = root.join("a");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&a), &dev).unwrap();
    let b = root.join("b");
    let mut ob = TrainOptions::new(&b);
    ob.max_steps = Some(2);
    assert_eq!(train_gan::<AD>(&cfg, Some(&damsm), &ob, &dev).unwrap().step, 2);
    let mut ob = TrainOptions::new(&b);
    ob.resume = true;
    assert_eq!(train_gan::<AD>(&cfg, None, &ob, &dev).unwrap().step, 4);
    let pixels = |dir: &std::path::Path| -> Vec<u8> {
        let pipe = Pipeline::<B>::load(dir, &dev).unwrap();
        let g = pipe.generate("a big red circle", GenerateOptions { seed: 2, use_mean: false }).unwrap();
        assert_eq!(g.stages.len(), 1);
        g.stages[0].as_raw().clone()
    };
    let (pa, pb) = (pixels(&a), pixels(&b));
    let max = pa.iter().zip(&pb).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(max <= 1, "resumed RAT-GAN run diverged: max pixel diff {max}");
    // The evaluation record reports the one 128 px image.
    let log = std::fs::read_to_string(b.join("metrics.jsonl")).unwrap();
    let eval: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v.get("eval").is_some())
        .unwrap();
    assert_eq!(eval["eval"]["stages"][0]["size"].as_u64(), Some(128));
    assert_eq!(eval["eval"]["stages"].as_array().map(Vec::len), Some(1));
    std::fs::remove_dir_all(&root).ok();
}
