//! Refreshing a GAN run's DAMSM: `train damsm --init <GAN run>` with the text encoder frozen
//! trains only the image encoder, and `train gan --resume --damsm` puts the result into the
//! run (logged), while mismatched encoders are refused before anything is written.
//! (Its own test binary: backend seeding is process-wide, so no other training may run
//! beside it.)

mod common;

use burn::prelude::*;
use burn::tensor::Distribution::Uniform;
use common::{logged, quick_damsm, scratch, tiny};
use t2i::CpuBackend as B;
use t2i::CpuTrainBackend as AD;
use t2i::train::TrainOptions;
use t2i::train::damsm::{Damsm, load_damsm, train_damsm};
use t2i::train::gan::train_gan;

/// The encoders' outputs on fixed tokens and images: sentence codes and region features.
fn outputs(d: &Damsm<B>) -> (Vec<f32>, Vec<f32>) {
    let dev = Default::default();
    let n = d.vocab.len() as i64;
    let ids: Vec<i64> = (0..12).map(|i| 1 + i % (n - 1)).collect();
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [2, 6]), &dev);
    let sentence = d.text.forward(tokens).sentence.into_data().to_vec::<f32>().unwrap();
    B::seed(&dev, 7);
    let side = d.config.model.damsm.image_size;
    let img = Tensor::<B, 4>::random([2, 3, side, side], Uniform(-1.0, 1.0), &dev);
    let regions = d.image.region_features(img).into_data().to_vec::<f32>().unwrap();
    (sentence, regions)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_gan_runs_damsm_is_refreshed_with_its_text_encoder_kept() {
    let root = scratch("damsm-refresh");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 8;
    let run = root.join("gan");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions { max_steps: Some(2), ..TrainOptions::new(&run) }, &dev).unwrap();
    let before = outputs(&load_damsm::<B>(&run, &dev).unwrap());

    // Image encoder only, from the GAN run's encoders.
    let mut dcfg = cfg.clone();
    dcfg.train.damsm_steps = 12;
    dcfg.train.damsm_freeze_text = true;
    dcfg.train.damsm_hard_negatives = true;
    let refreshed = root.join("refreshed");
    let init = TrainOptions { init: Some(run.clone()), ..TrainOptions::new(&refreshed) };
    let s = train_damsm::<AD>(&dcfg, &init, &dev).unwrap();
    assert_eq!(s.step, 12);
    assert_eq!(
        std::fs::read_to_string(refreshed.join("vocab.json")).unwrap(),
        std::fs::read_to_string(run.join("vocab.json")).unwrap(),
        "the new run takes the GAN run's vocabulary"
    );
    let new = outputs(&load_damsm::<B>(&refreshed, &dev).unwrap());
    assert_eq!(max_diff(&new.0, &before.0), 0.0, "the frozen text encoder must not move");
    assert!(max_diff(&new.1, &before.1) > 1e-4, "the image encoder learns");
    // The GAN run resumes with the refreshed encoders: logged, saved, and training goes on.
    let resume = TrainOptions { resume: true, max_steps: Some(2), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, Some(&refreshed), &resume, &dev).unwrap();
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let swaps: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("damsm_from").is_some())
        .collect();
    assert_eq!(swaps.len(), 1, "{log}");
    assert_eq!(swaps[0]["step"], 2);
    assert_eq!(swaps[0]["damsm_from"].as_str(), Some(refreshed.display().to_string().as_str()));
    assert_eq!(logged(&run, "loss_d").len(), 4);
    let after = outputs(&load_damsm::<B>(&run, &dev).unwrap());
    assert_eq!(max_diff(&after.0, &new.0), 0.0);
    assert_eq!(max_diff(&after.1, &new.1), 0.0, "the checkpoint now carries the refreshed image encoder");

    // Encoders of another shape are refused, and the target directory stays unwritten.
    let mut wide = dcfg.clone();
    wide.model.damsm.width *= 2;
    let other = root.join("other");
    let err = train_damsm::<AD>(&wide, &TrainOptions { init: Some(run.clone()), ..TrainOptions::new(&other) }, &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("differ from this config"), "{err}");
    assert!(!other.exists());
    let mut wide_damsm = wide.clone();
    wide_damsm.train.damsm_steps = 2;
    wide_damsm.train.damsm_freeze_text = false;
    let wide_dir = root.join("wide-damsm");
    train_damsm::<AD>(&wide_damsm, &TrainOptions::new(&wide_dir), &dev).unwrap();
    let err = train_gan::<AD>(&cfg, Some(&wide_dir), &resume, &dev).unwrap_err().to_string();
    assert!(err.contains("differ from this config"), "{err}");
    assert_eq!(logged(&run, "loss_d").len(), 4, "a refused resume trains nothing");
    assert_eq!(std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(), log, "nor logs anything");
    std::fs::remove_dir_all(&root).ok();
}
