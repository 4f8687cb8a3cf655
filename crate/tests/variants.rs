//! Every generator variant (`model.gan.variant`) trains on the tiny preset, exports, and
//! generates from the exported files with per-word maps (RAT-GAN: the discriminator's
//! spatial attention) that sum to one. (Its own test
//! binary: backend seeding is process-wide, so no other training may run beside it.)

mod common;

use common::{scratch, tiny};
use t2i::config::GanConfig;
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::damsm::train_damsm;
use t2i::train::gan::train_gan;
use t2i::weights::WeightDtype;
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

#[test]
fn every_variant_trains_exports_and_generates() {
    let root = scratch("variants");
    let dev = Default::default();
    let mut cfg = tiny();
    cfg.train.damsm_steps = 2;
    cfg.train.gan_steps = 2;
    let damsm = root.join("damsm");
    train_damsm::<AD>(&cfg, &TrainOptions::new(&damsm), &dev).unwrap();
    // Every generator variant with AttnGAN's BiLSTM, and CAE-GAN: the cross-attention encoder
    // with DM-GAN's generator (its DAMSM run trains the encoder).
    // (The layout model needs its own config section: tests/layout_training.rs.)
    let mut cases: Vec<(&str, &str)> =
        GanConfig::VARIANTS.iter().filter(|v| **v != "layout").map(|v| (*v, "bilstm")).collect();
    cases.push(("dmgan", "cae"));
    let mut cae_cfg = cfg.clone();
    cae_cfg.model.text.encoder = "cae".into();
    let cae_damsm = root.join("damsm-cae");
    train_damsm::<AD>(&cae_cfg, &TrainOptions::new(&cae_damsm), &dev).unwrap();
    for (variant, encoder) in cases {
        cfg.model.gan.variant = variant.to_string();
        cfg.model.text.encoder = encoder.to_string();
        // ECAGAN trains with its perceptual loss (λ1), as configs/shapes-ecagan.toml does.
        cfg.train.lambda_perceptual = if variant == "ecagan" { 1.0 } else { 0.0 };
        let damsm = if encoder == "cae" { cae_damsm.clone() } else { damsm.clone() };
        let variant = &*format!("{variant}-{encoder}");
        let run = root.join(variant);
        let summary = train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&run), &dev).unwrap();
        assert_eq!(summary.step, 2, "{variant}");
        assert!(summary.last_losses.iter().all(|(_, v)| v.is_finite()), "{variant}: {:?}", summary.last_losses);
        let perceptual = summary.last_losses.iter().find(|(k, _)| k == "perceptual").map(|(_, v)| *v);
        assert_eq!(perceptual.is_some(), cfg.train.lambda_perceptual > 0.0, "{variant}: {:?}", summary.last_losses);
        assert!(perceptual.is_none_or(|p| p > 0.0), "{variant}: perceptual loss {perceptual:?}");
        let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert_eq!(log.contains("\"perceptual\""), perceptual.is_some(), "{variant}: metrics.jsonl");
        let out = root.join(format!("{variant}-export"));
        let report = t2i::export::export_run(&run, &out, variant, WeightDtype::F32, "test", "", 0).unwrap();
        assert_eq!(report.max_pixel_diff, 0, "{variant}: export does not reproduce the run");
        let pipe = Pipeline::<B>::load(&out, &dev).unwrap();
        assert_eq!(format!("{}-{}", pipe.config.gan.variant, pipe.config.text.encoder), variant);
        assert_eq!(pipe.text.cae.is_some(), encoder == "cae");
        let g = pipe.generate("a big red circle on the left", GenerateOptions { seed: 4, use_mean: false }).unwrap();
        if cfg.model.gan.single_stage() {
            // RAT-GAN: one 128 px image, no word maps, the discriminator's spatial attention.
            assert_eq!(g.stages.iter().map(|s| s.width()).collect::<Vec<_>>(), vec![128], "{variant}");
            assert!(g.attention.is_empty());
            let a = g.spatial_attention.as_ref().expect("RAT-GAN reports D's spatial attention");
            assert_eq!((a.h, a.w), (4, 4));
            assert!(a.data.iter().all(|&v| v > 0.0) && (a.data.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{a:?}");
            assert!(g.d_logit.is_some_and(f32::is_finite));
            continue;
        }
        assert!(g.spatial_attention.is_none());
        assert_eq!(g.stages.iter().map(|s| s.width()).collect::<Vec<_>>(), vec![64, 128], "{variant}");
        let maps = &g.attention[0];
        assert_eq!(maps.len(), g.tokens.len());
        for p in 0..maps[0].data.len() {
            let s: f32 = maps.iter().map(|m| m.data[p]).sum();
            assert!((s - 1.0).abs() < 1e-4, "{variant}: maps sum to {s} at pixel {p}");
        }
    }
    std::fs::remove_dir_all(&root).ok();
}
