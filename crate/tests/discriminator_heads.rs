//! The optional discriminator heads in the AttnGAN loop (`train.d_word_level`,
//! `train.lambda_aux_classifier`, `train.lambda_slot_classifier`): a run switched on when it resumes keeps its trained
//! discriminators, gains the heads, which then learn, and can drop them again.
//! (Its own test binary: backend seeding is process-wide, so no other training may run
//! beside it.)

mod common;

use burn::prelude::*;
use burn::tensor::Distribution::Normal;
use common::{logged, quick_damsm, scratch, tiny};
use t2i::CpuBackend as B;
use t2i::CpuTrainBackend as AD;
use t2i::eval::counterfactual::{ProbedDiscriminators, counterfactual_probe};
use t2i::models::discriminators::{DiscriminatorHeads, Discriminators};
use t2i::text::rnn_encoder::TextFeatures;
use t2i::train::TrainOptions;
use t2i::train::damsm::damsm_from_run;
use t2i::train::gan::train_gan;
use t2i::train::run_dir::RunDir;

/// The run's saved discriminators: how far each stage's word-level heads move its
/// conditional logit on random images and captions (None: the checkpoint has no heads), and
/// the heads its config names (every stage must have exactly those).
fn heads_effect(run: &std::path::Path) -> (Vec<Option<f32>>, DiscriminatorHeads) {
    let dev = Default::default();
    let dir = RunDir::open(run).unwrap();
    let m = dir.model_config();
    let heads = DiscriminatorHeads::of(&dir.checkpoint.run_config().unwrap().train);
    let disc = dir
        .checkpoint
        .load_module("discriminators", Discriminators::<B>::new(&m.gan, &m.text, heads, &dev), &dev)
        .unwrap();
    assert!(disc.stages.iter().all(|st| st.heads() == heads));
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
    (effect, heads)
}

#[test]
fn heads_join_a_resumed_run_and_learn() {
    let root = scratch("word-level-d");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 16;
    let run = root.join("gan");

    // 4 steps with AttnGAN's discriminators.
    let opts = TrainOptions { max_steps: Some(4), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, Some(&damsm), &opts, &dev).unwrap();
    let (effect, heads) = heads_effect(&run);
    assert!(heads == DiscriminatorHeads::default() && effect.iter().all(Option::is_none), "{effect:?}");

    // Resumed with word-level heads: 4 more steps, every stage's head now moves its logit.
    cfg.train.d_word_level = true;
    let resume = TrainOptions { resume: true, max_steps: Some(4), ..TrainOptions::new(&run) };
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (effect, heads) = heads_effect(&run);
    assert!(heads.word_level && effect.len() == cfg.model.gan.stages, "{effect:?}");
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
    let (effect, heads) = heads_effect(&run);
    assert!(heads == DiscriminatorHeads::default() && effect.iter().all(Option::is_none), "{effect:?}");
    assert_eq!(logged(&run, "loss_d").len(), 12);
    assert!(logged(&run, "d_aux").is_empty());

    // The auxiliary word classifiers: 4 steps with them, which log both of their terms.
    cfg.train.lambda_aux_classifier = 0.5;
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (_, heads) = heads_effect(&run);
    assert_eq!(heads, DiscriminatorHeads { word_level: false, classifier: true, slots: false });
    let (d_aux, g_aux) = (logged(&run, "d_aux"), logged(&run, "g_aux"));
    assert_eq!((d_aux.len(), g_aux.len(), logged(&run, "loss_d").len()), (4, 4, 16));
    assert!(d_aux.iter().chain(&g_aux).all(|v| v.is_finite() && *v > 0.0), "{d_aux:?} {g_aux:?}");

    // Colour-blind shape words: a word the vocabulary lacks is refused before any step ...
    cfg.train.gan_steps = 20;
    cfg.train.aux_colour_blind_words = vec!["stars".into()];
    let err = train_gan::<AD>(&cfg, None, &resume, &dev).unwrap_err().to_string();
    assert!(err.contains("train.aux_colour_blind_words") && err.contains("\"stars\""), "{err}");
    assert_eq!(logged(&run, "loss_d").len(), 16, "nothing was trained or lost");
    // ... and known ones train: 4 more steps, both terms still logged.
    cfg.train.aux_colour_blind_words = ["circle", "square", "triangle", "star"].map(String::from).to_vec();
    cfg.train.aux_shape_blind_words = ["red", "blue"].map(String::from).to_vec();
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (d_aux, g_aux) = (logged(&run, "d_aux"), logged(&run, "g_aux"));
    assert_eq!((d_aux.len(), g_aux.len(), logged(&run, "loss_d").len()), (8, 8, 20));
    assert!(d_aux.iter().chain(&g_aux).all(|v| v.is_finite() && *v > 0.0), "{d_aux:?} {g_aux:?}");

    // `t2i probe` scores each stage's classifier too (the log-likelihood of the caption's
    // words, each from the view it was trained on).
    let dir = RunDir::open(&run).unwrap();
    let m = dir.model_config();
    let damsm = damsm_from_run::<B>(&dir, &dev).unwrap();
    let disc = ProbedDiscriminators::<B>::from_run(&dir, &damsm.vocab, &dev).unwrap().expect("a GAN checkpoint");
    assert_eq!(disc.disc.stages[0].heads(), heads);
    let count =
        |m: Option<Tensor<B, 2>>| m.expect("blind words").into_data().to_vec::<f32>().unwrap().iter().sum::<f32>();
    assert_eq!((count(disc.blind.colour.clone()), count(disc.blind.shape.clone())), (4.0, 2.0));
    let source = t2i::train::test_source(&dir.config, vec![m.damsm.image_size]).unwrap();
    let sizes = m.gan.output_sizes();
    let report = counterfactual_probe(&damsm, Some(disc), &source, 12, &dev).unwrap();
    assert_eq!(report.classifier_sizes, sizes);
    for r in &report.rows {
        assert_eq!(r.classifiers.len(), sizes.len(), "{}", report.table());
        assert!(r.scenes == 0 || r.classifiers.iter().all(|v| (0.0..=1.0).contains(v)), "{}", report.table());
    }
    assert!(report.table().contains("D64 class"), "{}", report.table());

    // The slot classifiers, switched on at a resume: every stage gains one, both terms log.
    cfg.train.gan_steps = 24;
    cfg.train.lambda_slot_classifier = 1.0;
    train_gan::<AD>(&cfg, None, &resume, &dev).unwrap();
    let (_, heads) = heads_effect(&run);
    assert_eq!(heads, DiscriminatorHeads { word_level: false, classifier: true, slots: true });
    let (d_slots, g_slots) = (logged(&run, "d_slots"), logged(&run, "g_slots"));
    assert_eq!((d_slots.len(), g_slots.len(), logged(&run, "loss_d").len()), (4, 4, 24));
    assert!(d_slots.iter().chain(&g_slots).all(|v| v.is_finite() && *v > 0.0), "{d_slots:?} {g_slots:?}");
    // The probe scores them too: the slot log-likelihood of the true caption against its change.
    let dir = RunDir::open(&run).unwrap();
    let disc = ProbedDiscriminators::<B>::from_run(&dir, &damsm.vocab, &dev).unwrap().expect("a GAN checkpoint");
    let report = counterfactual_probe(&damsm, Some(disc), &source, 12, &dev).unwrap();
    assert_eq!((report.classifier_sizes.clone(), report.slot_sizes.clone()), (sizes.clone(), sizes.clone()));
    for r in &report.rows {
        assert_eq!(r.slots.len(), sizes.len(), "{}", report.table());
        assert!(r.scenes == 0 || r.slots.iter().all(|v| (0.0..=1.0).contains(v)), "{}", report.table());
    }
    assert!(report.table().contains("D64 slots"), "{}", report.table());
}
