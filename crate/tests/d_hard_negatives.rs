//! `train.d_hard_negatives` in the GAN loops: real images paired with their captions'
//! one-attribute counterfactuals join the mismatched pairs of AttnGAN and RAT-GAN; and
//! `train.g_hard_negatives`, the same counterfactuals in the generator's DAMSM term; and
//! `train.g_counterfactual_margin`, the discriminators' view of them on generated images; and
//! `train.counterfactual_each_object`, which widens the pair set. (Its own test binary: backend seeding is process-wide, so no other training may run beside it.)

mod common;

use common::{logged, mean, quick_damsm, scratch, tiny};
use t2i::CpuTrainBackend as AD;
use t2i::train::TrainOptions;
use t2i::train::gan::train_gan;

#[test]
fn counterfactual_pairs_join_both_gan_loops() {
    let root = scratch("d-hard-negatives");
    let dev = Default::default();
    let mut cfg = tiny();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.d_hard_negatives = true;
    cfg.train.gan_steps = 20;

    // AttnGAN: the counterfactual term is logged beside Eq. 5's, per step. (That it trains
    // the discriminator is `losses.rs`'s test: 40 steps on two DAMSM steps' sentences are too
    // few to separate captions one word apart.)
    let run = root.join("attngan");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&run), &dev).unwrap();
    let hard = logged(&run, "d_hard");
    assert_eq!(hard.len(), 20, "every step logs d_hard");
    assert!(hard.iter().all(|h| h.is_finite() && *h > 0.0), "{hard:?}");
    // Untrained, every stage scores the pairs near 0: log 2 per stage.
    let first = mean(&hard[..5]) / cfg.model.gan.stages as f64;
    assert!((first - std::f64::consts::LN_2).abs() < 0.25, "d_hard starts at {first} per stage");
    // Without the option nothing is logged.
    cfg.train.d_hard_negatives = false;
    cfg.train.gan_steps = 2;
    let plain = root.join("plain");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&plain), &dev).unwrap();
    assert!(logged(&plain, "d_hard").is_empty());

    // `train.g_hard_negatives`: the generator's DAMSM term also ranks each caption above its
    // counterfactuals. The first step is the plain run's up to that term (same seed, data and
    // discriminator update), and more negatives can only raise the image→caption loss.
    cfg.train.g_hard_negatives = true;
    let g_hard = root.join("g-hard");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&g_hard), &dev).unwrap();
    assert!(logged(&g_hard, "d_hard").is_empty(), "the discriminators are untouched");
    assert_eq!(logged(&g_hard, "loss_d")[0], logged(&plain, "loss_d")[0]);
    for key in ["w_loss", "s_loss"] {
        let (with, without) = (logged(&g_hard, key)[0], logged(&plain, key)[0]);
        assert!(with.is_finite() && with > without, "{key}: {with} with counterfactuals, {without} without");
    }
    cfg.train.g_hard_negatives = false;

    // `train.g_counterfactual_margin`: the same pairs on the generated images, for G. The first
    // step's discriminator update is the d_hard run's, and the generator's loss differs from
    // that run's by exactly the logged margin; untrained, each stage's logit barely tells a
    // caption from its counterfactuals, so the margin starts near λ·log 2 per stage.
    cfg.train.d_hard_negatives = true;
    cfg.train.g_counterfactual_margin = 0.5;
    let margin = root.join("g-margin");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&margin), &dev).unwrap();
    let g_cf = logged(&margin, "g_cf");
    assert_eq!(g_cf.len(), 2, "every step logs g_cf");
    assert_eq!(logged(&margin, "loss_d")[0], logged(&run, "loss_d")[0]);
    let extra = logged(&margin, "loss_g")[0] - logged(&run, "loss_g")[0];
    assert!((extra - g_cf[0]).abs() < 1e-3 * g_cf[0].max(1.0), "loss_g grew by {extra}, g_cf {}", g_cf[0]);
    let per_stage = g_cf[0] / 0.5 / cfg.model.gan.stages as f64;
    assert!((per_stage - std::f64::consts::LN_2).abs() < 0.25, "g_cf starts at {per_stage} per stage");
    assert!(logged(&run, "g_cf").is_empty(), "off by default");
    cfg.train.g_counterfactual_margin = 0.0;

    // `train.counterfactual_each_object`: more pairs (the second object's colour, shape and
    // size words too), so the first step's d_hard is a mean over another set, still near
    // log 2 per stage, while Eq. 5's terms on the same images are unchanged.
    cfg.train.counterfactual_each_object = true;
    let each = root.join("each-object");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&each), &dev).unwrap();
    let each_hard = logged(&each, "d_hard")[0];
    assert_ne!(each_hard, hard[0], "the pair set must change");
    let per_stage = each_hard / cfg.model.gan.stages as f64;
    assert!((per_stage - std::f64::consts::LN_2).abs() < 0.25, "d_hard starts at {per_stage} per stage");
    for key in ["d_real", "d_fake", "d_wrong"] {
        assert_eq!(logged(&each, key)[0], logged(&run, key)[0], "{key}");
    }
    cfg.train.counterfactual_each_object = false;

    // RAT-GAN takes the option into its hinge loss.
    cfg.train.d_hard_negatives = true;
    cfg.model.gan.variant = "ratgan".into();
    let rat = root.join("ratgan");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&rat), &dev).unwrap();
    let hinge = logged(&rat, "hinge_d");
    assert_eq!(hinge.len(), 2);
    assert!(hinge.iter().all(|h| h.is_finite() && (h - 2.0).abs() < 0.5), "{hinge:?}");
}
