//! `train.d_word_level` in the AttnGAN loop: a run switched on when it resumes keeps its
//! trained discriminators, gains word-level heads that then learn, and can drop them again.
//! (Its own test binary: backend seeding is process-wide, so no other training may run
//! beside it.)

mod common;

use burn::prelude::*;
use burn::tensor::Distribution::Normal;
use common::{logged, quick_damsm, scratch, tiny};
use t2i::CpuBackend as B;
use t2i::CpuTrainBackend as AD;
use t2i::models::discriminators::Discriminators;
use t2i::text::rnn_encoder::TextFeatures;
use t2i::train::TrainOptions;
use t2i::train::gan::train_gan;
use t2i::train::run_dir::RunDir;

/// The run's saved discriminators, and how far each stage's word-level heads move its
/// conditional logit on random images and captions (None: the checkpoint has no heads).
fn heads_effect(run: &std::path::Path) -> (Vec<Option<f32>>, bool) {
    let dev = Default::default();
    let dir = RunDir::open(run).unwrap();
    let m = dir.model_config();
    let on = dir.checkpoint.run_config().unwrap().train.d_word_level;
    let disc = dir
        .checkpoint
        .load_module("discriminators", Discriminators::<B>::new(&m.gan, &m.text, on, &dev), &dev)
        .unwrap();
    let d = m.text.feature_dim();
    let text = TextFeatures {
        words: Tensor::random([4, d, 5], Normal(0.0, 1.0), &dev),
        sentence: Tensor::random([4, d], Normal(0.0, 1.0), &dev),
        pad: Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![false; 20], [4, 5]), &dev),
    };
    let effect = disc
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let side = 64 << i;
            let feat = st.features(Tensor::random([4, 3, side, side], Normal(0.0, 1.0), &dev));
            let with = st.cond_logits(&feat, &text);
            let mut plain = st.clone();
            plain.set_word_level(i, m.gan.df, d, false, &dev);
            let without = plain.cond_logits(&feat, &text);
            st.word_level().then(|| (with - without).abs().max().into_scalar())
        })
        .collect();
    (effect, on)
}

#[test]
fn word_level_heads_join_a_resumed_run_and_learn() {
    let root = scratch("word-level-d");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 12;
    let run = root.join("gan");

    // 4 steps with AttnGAN's discriminators.
    let opts = TrainOptions { max_steps: Some(4), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, Some(&damsm), &opts, &dev).unwrap();
    let (effect, on) = heads_effect(&run);
    assert!(!on && effect.iter().all(Option::is_none), "{effect:?}");

    // Resumed with word-level heads: 4 more steps, every stage's head now moves its logit.
    cfg.train.d_word_level = true;
    let resume = TrainOptions { resume: true, max_steps: Some(4), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (effect, on) = heads_effect(&run);
    assert!(on && effect.len() == cfg.model.gan.stages, "{effect:?}");
    for e in &effect {
        let e = e.expect("every stage has a head");
        assert!(e.is_finite() && e > 1e-4, "a trained head changes the logit: {effect:?}");
    }
    let loss_d = logged(&run, "loss_d");
    assert_eq!(loss_d.len(), 8, "one record per step across the resume");
    assert!(loss_d.iter().all(|v| v.is_finite()), "{loss_d:?}");

    // And switched off again: the heads are dropped, training goes on.
    cfg.train.d_word_level = false;
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (effect, on) = heads_effect(&run);
    assert!(!on && effect.iter().all(Option::is_none), "{effect:?}");
    assert_eq!(logged(&run, "loss_d").len(), 12);
}
