//! A short GAN run on the tiny preset: it checkpoints, resumes exactly, and its run
//! directory samples through the pipeline. (Its own test binary: backend seeding is
//! process-wide, so no other training may run beside it.)

use std::path::Path;

mod common;

use common::{scratch, tiny};
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::checkpoint::Checkpoint;
use t2i::train::damsm::train_damsm;
use t2i::train::gan::train_gan;
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

fn ema_weights(dir: &Path) -> Vec<f32> {
    let dev = Default::default();
    let p = Pipeline::<B>::load(dir, &dev).unwrap();
    let g = p.generate("a big red circle on the left", GenerateOptions { seed: 3, use_mean: false }).unwrap();
    g.stages.iter().flat_map(|s| s.as_raw().iter().map(|&v| v as f32)).collect()
}

#[test]
fn gan_checkpoints_resumes_exactly_and_samples() {
    let root = scratch("gan");
    let mut cfg = tiny();
    cfg.train.damsm_steps = 4;
    cfg.train.gan_steps = 4;
    cfg.train.checkpoint_every = 2;
    cfg.train.sample_every = 2;
    cfg.train.eval_every = 4;
    cfg.train.eval_scenes = 6;
    let dev = Default::default();
    let damsm = root.join("damsm");
    train_damsm::<AD>(&cfg, &TrainOptions::new(&damsm), &dev).unwrap();

    // A: four steps in one go.
    let a = root.join("a");
    let sa = train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&a), &dev).unwrap();
    assert_eq!(sa.step, 4);
    // B: two steps, stop, resume for the rest.
    let b = root.join("b");
    let mut ob = TrainOptions::new(&b);
    ob.max_steps = Some(2);
    ob.portable = true;
    assert_eq!(train_gan::<AD>(&cfg, Some(&damsm), &ob, &dev).unwrap().step, 2);
    assert_eq!(Checkpoint::load(&b.join("checkpoint.t2i")).unwrap().step, 2);

    // C: B's portable checkpoint (half precision, no optimiser state) in a run directory of its
    // own: it samples like B's full checkpoint up to f16 rounding and resumes with fresh optimisers.
    let c = root.join("c");
    std::fs::create_dir_all(&c).unwrap();
    for f in ["config.toml", "vocab.json", "metrics.jsonl"] {
        std::fs::copy(b.join(f), c.join(f)).unwrap();
    }
    std::fs::copy(b.join("portable.t2i"), c.join("checkpoint.t2i")).unwrap();
    let pc = Checkpoint::load(&c.join("checkpoint.t2i")).unwrap();
    assert!(pc.half && pc.step == 2 && pc.has("generator_ema") && !pc.has("opt_g") && !pc.has("opt_d"));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let (full, portable) = (size(&b.join("checkpoint.t2i")), size(&c.join("checkpoint.t2i")));
    assert!(portable * 2 < full, "portable checkpoint {portable} B vs full {full} B");
    let (wb, wc) = (ema_weights(&b), ema_weights(&c));
    let max = wb.iter().zip(&wc).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(max <= 4.0, "portable checkpoint samples differ from the full one by {max}/255");
    let mut oc = TrainOptions::new(&c);
    oc.resume = true;
    assert_eq!(train_gan::<AD>(&cfg, None, &oc, &dev).unwrap().step, 4);
    assert!(Checkpoint::load(&c.join("checkpoint.t2i")).unwrap().has("opt_g"));
    // A fresh run into an existing run directory is refused and changes nothing.
    let before = std::fs::read(b.join("checkpoint.t2i")).unwrap();
    let err = train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&b), &dev).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(before, std::fs::read(b.join("checkpoint.t2i")).unwrap());
    let mut ob = TrainOptions::new(&b);
    ob.resume = true;
    assert_eq!(train_gan::<AD>(&cfg, None, &ob, &dev).unwrap().step, 4);

    // Same step, same data and noise streams, same optimizer state → same weights.
    let (wa, wb) = (ema_weights(&a), ema_weights(&b));
    let max = wa.iter().zip(&wb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1.0, "resumed run diverged from the uninterrupted one: max pixel diff {max}");
    let la = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    let lb = std::fs::read_to_string(b.join("metrics.jsonl")).unwrap();
    // Four loss records and, at step 4, one evaluation record in each log.
    assert_eq!(la.lines().count(), 5);
    assert_eq!(lb.lines().count(), 5);
    let records = |s: &str| -> Vec<serde_json::Value> { s.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let eval = records(&la).into_iter().find(|r| r.get("eval").is_some()).expect("no eval record");
    assert_eq!(eval["step"].as_u64(), Some(4));
    assert_eq!(eval["eval"]["stages"].as_array().map(Vec::len), Some(2));
    assert!(eval["eval"]["stages"][1]["r_precision"].as_f64().is_some());
    let loss = |s: &str| -> Vec<f64> { records(s).iter().filter_map(|r| r["loss_d"].as_f64()).collect() };
    let (da, db) = (loss(&la), loss(&lb));
    for (x, y) in da.iter().zip(&db) {
        assert!((x - y).abs() < 1e-4, "loss streams differ: {da:?} vs {db:?}");
    }

    // Samples and the pipeline: right sizes, attention per word.
    assert!(a.join("samples/step_0000002.png").exists());
    assert!(a.join("samples/attention_0000004.png").exists());
    let p = Pipeline::<B>::load(&a, &dev).unwrap();
    let g = p
        .generate("a small blue square below a big yellow star", GenerateOptions { seed: 1, use_mean: false })
        .unwrap();
    assert_eq!(g.stages.iter().map(|i| i.width()).collect::<Vec<_>>(), vec![64, 128]);
    assert_eq!(g.attention.len(), 1);
    assert_eq!(g.attention[0].len(), g.tokens.len());
    assert_eq!((g.attention[0][0].h, g.attention[0][0].w), (64, 64));
    let again = p
        .generate("a small blue square below a big yellow star", GenerateOptions { seed: 1, use_mean: false })
        .unwrap();
    assert_eq!(g.stages[1], again.stages[1], "same seed must give the same image");
    let other = p
        .generate("a small blue square below a big yellow star", GenerateOptions { seed: 2, use_mean: false })
        .unwrap();
    assert_ne!(g.stages[1], other.stages[1], "different seeds gave the same image");
    let unk = p.generate("a purple xylophone", GenerateOptions { seed: 1, use_mean: true }).unwrap();
    assert_eq!(unk.unknown_words, vec!["xylophone".to_string()]);
    assert!(p.generate("   ", GenerateOptions { seed: 1, use_mean: true }).is_err());
    std::fs::remove_dir_all(&root).ok();
}
