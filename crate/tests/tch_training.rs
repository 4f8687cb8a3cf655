//! Training on LibTorch's CPU kernels (feature `tch`, run by `scripts/test-tch.sh`): a tiny
//! AttnGAN run with the matching-aware gradient penalty on its discriminators lowers their
//! Eq. 5 loss, every term is logged, and the run directory samples through the one pipeline on
//! both the LibTorch and the pure-Rust backend with the same pixels up to kernel rounding.
#![cfg(feature = "tch")]

mod common;

use burn::backend::Autodiff;
use burn::backend::libtorch::{LibTorch, LibTorchDevice};
use common::{scratch, tiny};
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::damsm::train_damsm;
use t2i::train::gan::train_gan;

type Tch = LibTorch<f32>;
type Ad = Autodiff<Tch>;

#[test]
fn a_tiny_tch_run_with_the_penalty_lowers_the_discriminator_loss_and_samples() {
    let root = scratch("tch-training");
    let dev = LibTorchDevice::Cpu;
    let mut cfg = tiny();
    cfg.train.damsm_steps = 2;
    let damsm = root.join("damsm");
    train_damsm::<Ad>(&cfg, &TrainOptions::new(&damsm), &dev).unwrap();
    cfg.train.gan_steps = 40;
    cfg.train.sample_every = 0;
    cfg.train.checkpoint_every = 40;
    cfg.train.lr_d = 2e-3;
    cfg.train.d_penalty = 0.5;
    cfg.train.d_penalty_power = 2.0;
    let run = root.join("gan");
    assert_eq!(train_gan::<Ad>(&cfg, Some(&damsm), &TrainOptions::new(&run), &dev).unwrap().step, 40);

    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("loss_d").is_some())
        .collect();
    assert_eq!(rows.len(), 40);
    let series = |key: &str| -> Vec<f64> {
        rows.iter().map(|r| r.get(key).and_then(|x| x.as_f64()).unwrap_or_else(|| panic!("{key} missing"))).collect()
    };
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    for key in ["d_real", "d_fake", "d_cond_real", "d_cond_fake", "d_wrong", "ma_gp"] {
        assert!(series(key).iter().all(|v| v.is_finite() && *v >= 0.0), "{key}: {:?}", series(key));
    }
    let d = series("loss_d");
    let (first, last) = (mean(&d[..5]), mean(&d[35..]));
    assert!(last < first - 0.1, "loss_d {first:.3} → {last:.3}: {d:?}");

    // The trained run samples on LibTorch and on the default CPU backend alike.
    let opts = GenerateOptions { seed: 5, use_mean: false };
    let caption = "a big red circle on the left";
    let on_tch = Pipeline::<Tch>::load(&run, &dev).unwrap().generate(caption, opts).unwrap();
    let on_cpu = Pipeline::<t2i::CpuBackend>::load(&run, &Default::default()).unwrap().generate(caption, opts).unwrap();
    assert_eq!(on_tch.stages.len(), on_cpu.stages.len());
    for (a, b) in on_tch.stages.iter().zip(&on_cpu.stages) {
        assert_eq!(a.dimensions(), b.dimensions());
        let max = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        assert!(max <= 3, "stage {:?} differs between LibTorch and CPU by {max}/255", a.dimensions());
        let spread = a.as_raw().iter().max().unwrap() - a.as_raw().iter().min().unwrap();
        assert!(spread > 20, "a flat image");
    }
}
