//! DAMSM pretraining (`t2i train damsm`): the text encoder and the image encoder learn a
//! shared space with the word-level and sentence-level matching losses (AttnGAN §3.3,
//! `pretrain_DAMSM.py`).

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use web_time::Instant;

use super::checkpoint::Checkpoint;
use super::metrics_log::MetricsLog;
use super::run_dir::RunDir;
use super::{
    TrainOptions, TrainSummary, adam, check_finite, check_resume_config, prepare_run_dir, progress_bar, train_source,
};
use crate::config::RunConfig;
use crate::data::batcher::HostBatch;
use crate::data::batcher::tokens_tensor;
use crate::error::{Error, Result};
use crate::eval::counterfactual::counterfactual_tokens;
use crate::eval::r_precision::r_precision;
use crate::models::damsm::{
    ImageEncoder, ImageFeatures, matching_loss, matching_loss_with_negatives, sentence_scores, word_scores,
};
use crate::rng::{Stream, rng_for};
use crate::text::rnn_encoder::{RnnEncoder, TextFeatures};
use crate::text::vocab::Vocab;

/// Trained DAMSM encoders on the inference backend.
pub struct Damsm<B: Backend> {
    pub text: RnnEncoder<B>,
    pub image: ImageEncoder<B>,
    pub vocab: Vocab,
    pub config: RunConfig,
}

/// The four DAMSM loss terms: words (image→caption, caption→image), sentence (both).
pub struct DamsmLoss<B: Backend> {
    pub w0: Tensor<B, 1>,
    pub w1: Tensor<B, 1>,
    pub s0: Tensor<B, 1>,
    pub s1: Tensor<B, 1>,
}

impl<B: Backend> DamsmLoss<B> {
    pub fn words(&self) -> Tensor<B, 1> {
        self.w0.clone() + self.w1.clone()
    }
    pub fn sentence(&self) -> Tensor<B, 1> {
        self.s0.clone() + self.s1.clone()
    }
}

/// DAMSM loss of images against captions (`same_class` marks non-diagonal true pairs).
pub fn damsm_loss<B: Backend>(
    image: &ImageEncoder<B>,
    images: Tensor<B, 4>,
    words: Tensor<B, 3>,
    sentence: Tensor<B, 2>,
    pad: Tensor<B, 2, Bool>,
    same_class: &[Vec<bool>],
    cfg: &crate::config::DamsmConfig,
) -> DamsmLoss<B> {
    damsm_loss_from(image.forward(images), words, sentence, pad, same_class, cfg)
}

/// [`damsm_loss`] from image features already computed.
pub fn damsm_loss_from<B: Backend>(
    feats: ImageFeatures<B>,
    words: Tensor<B, 3>,
    sentence: Tensor<B, 2>,
    pad: Tensor<B, 2, Bool>,
    same_class: &[Vec<bool>],
    cfg: &crate::config::DamsmConfig,
) -> DamsmLoss<B> {
    let (w0, w1) = matching_loss(word_scores(feats.regions, words, pad, cfg), same_class);
    let (s0, s1) = matching_loss(sentence_scores(feats.global, sentence, cfg), same_class);
    DamsmLoss { w0, w1, s0, s1 }
}

/// [`damsm_loss_from`] whose image→caption terms (words and sentence) also rank each image's
/// caption above its hard negatives: `extra` holds more captions, row k a counterfactual of
/// the caption of image `owner[k]`, against which only that image is scored.
#[allow(clippy::too_many_arguments)]
pub fn damsm_loss_with_negatives<B: Backend>(
    feats: ImageFeatures<B>,
    words: Tensor<B, 3>,
    sentence: Tensor<B, 2>,
    pad: Tensor<B, 2, Bool>,
    same_class: &[Vec<bool>],
    extra: &TextFeatures<B>,
    owner: &[usize],
    cfg: &crate::config::DamsmConfig,
) -> DamsmLoss<B> {
    let word = word_scores(feats.regions.clone(), words, pad, cfg);
    let sent = sentence_scores(feats.global.clone(), sentence, cfg);
    let (_, w1) = matching_loss(word.clone(), same_class);
    let (_, s1) = matching_loss(sent.clone(), same_class);
    let extra_words = word_scores(feats.regions, extra.words.clone(), extra.pad.clone(), cfg);
    let extra_sentences = sentence_scores(feats.global, extra.sentence.clone(), cfg);
    DamsmLoss {
        w0: matching_loss_with_negatives(word, same_class, extra_words, owner),
        w1,
        s0: matching_loss_with_negatives(sent, same_class, extra_sentences, owner),
        s1,
    }
}

/// Train (or resume) DAMSM into `opts.out`.
pub fn train_damsm<B: AutodiffBackend>(
    cfg: &RunConfig,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let source = train_source(cfg, vec![cfg.model.damsm.image_size])?;
    // A new run started from another run's encoders is checked before anything is written.
    let init = match (&opts.init, opts.resume) {
        (Some(dir), false) => Some(load_damsm_for::<B>(cfg, dir, device)?),
        _ => None,
    };
    let vocab_from = opts.init.as_ref().filter(|_| !opts.resume).map(|d| d.join("vocab.json"));
    let vocab = prepare_run_dir(cfg, opts, vocab_from.as_deref(), &source)?;
    let mut model_cfg = cfg.model.clone();
    model_cfg.text.vocab_size = vocab.len();
    B::seed(device, cfg.train.seed);
    let (mut text, mut image) = match init {
        Some(d) => (d.text, d.image),
        None => (
            RnnEncoder::<B>::new(&model_cfg.text, device),
            ImageEncoder::<B>::new(&model_cfg.damsm, &model_cfg.text, device),
        ),
    };
    let mut opt_text = adam(cfg).init::<B, RnnEncoder<B>>();
    let mut opt_image = adam(cfg).init::<B, ImageEncoder<B>>();
    let ckpt_path = opts.out.join("checkpoint.t2i");
    let mut step = 0;
    let mut elapsed = 0.0;
    let log = MetricsLog::new(&opts.out.join("metrics.jsonl"));
    if opts.resume {
        let ck = Checkpoint::load(&ckpt_path)?;
        if ck.kind != "damsm" {
            return Err(Error::Checkpoint { path: ckpt_path, msg: format!("is a {} checkpoint, not damsm", ck.kind) });
        }
        check_resume_config(cfg, &ck.config, &ckpt_path)?;
        text = ck.load_module("text_encoder", text, device)?;
        image = ck.load_module("image_encoder", image, device)?;
        opt_text = opt_text.load_record(ck.record("opt_text", device)?);
        opt_image = opt_image.load_record(ck.record("opt_image", device)?);
        step = ck.step;
        elapsed = ck.elapsed_s;
        log.truncate_after(step)?;
    }
    let freeze_text = cfg.train.damsm_freeze_text;
    if freeze_text {
        // No gradient is tracked through the text encoder: only the image encoder learns.
        text = text.no_grad();
    }
    let total = cfg.train.damsm_steps;
    let end = opts.max_steps.map_or(total, |m| (step + m).min(total));
    let pb = progress_bar(opts.progress, step, total);
    let lr = cfg.train.lr_damsm;
    let mut last = Vec::new();
    let started = Instant::now();
    let save = |text: &RnnEncoder<B>, image: &ImageEncoder<B>, ot: &_, oi: &_, step: u64, elapsed: f64| -> Result<()> {
        let mut ck = Checkpoint::new("damsm", step, cfg.to_toml(), elapsed);
        ck.put_module::<B, _>("text_encoder", text)?;
        ck.put_module::<B, _>("image_encoder", image)?;
        ck.put_record::<B, _>("opt_text", Optimizer::<RnnEncoder<B>, B>::to_record(ot))?;
        ck.put_record::<B, _>("opt_image", Optimizer::<ImageEncoder<B>, B>::to_record(oi))?;
        ck.save(&ckpt_path)
    };
    let mut interrupted = false;
    while step < end {
        let t0 = Instant::now();
        super::seed_step::<B>(device, cfg.train.seed, step);
        let mut rng = rng_for(cfg.train.seed, Stream::Data, step);
        let host: HostBatch = source.batch(&vocab, &mut rng, cfg.train.batch_size)?;
        let batch = host.to_device::<B>(device);
        let feats = text.forward(batch.tokens.clone());
        let l = if cfg.train.damsm_hard_negatives {
            hard_negative_loss(&text, &image, &host, &batch, feats, &vocab, &cfg.model.damsm, device)
        } else {
            damsm_loss(
                &image,
                batch.images[0].clone(),
                feats.words,
                feats.sentence,
                feats.pad,
                &batch.same_class,
                &cfg.model.damsm,
            )
        };
        let (wl, sl) = (l.words(), l.sentence());
        let loss = wl.clone() + sl.clone();
        let values = vec![("w_loss".to_string(), scalar(wl)), ("s_loss".to_string(), scalar(sl))];
        check_finite(step + 1, &values)?;
        let mut grads = loss.backward();
        if !freeze_text {
            let mut g_text = GradientsParams::from_module(&mut grads, &text);
            super::grad_clip::clip_global_norm(&mut g_text, &text, cfg.train.rnn_grad_clip);
            text = opt_text.step(lr, text, g_text);
        }
        let g_image = GradientsParams::from_module(&mut grads, &image);
        image = opt_image.step(lr, image, g_image);
        step += 1;
        let dt = t0.elapsed().as_secs_f64();
        let mut fields: Vec<(&str, serde_json::Value)> =
            vec![("step", step.into()), ("images_per_s", (cfg.train.batch_size as f64 / dt).into())];
        for (k, v) in &values {
            fields.push((k.as_str(), (*v as f64).into()));
        }
        if source.unreadable_images() > 0 {
            fields.push(("skipped_images", source.unreadable_images().into()));
        }
        log.append(&fields)?;
        pb.set_position(step);
        pb.set_message(format!(
            "w {:.3} s {:.3} {:.1} img/s",
            values[0].1,
            values[1].1,
            cfg.train.batch_size as f64 / dt
        ));
        last = values;
        let every = cfg.train.checkpoint_every;
        if opts.stop_requested() {
            interrupted = true;
            break;
        }
        if every > 0 && step % every == 0 && step < end {
            save(&text, &image, &opt_text, &opt_image, step, elapsed + started.elapsed().as_secs_f64())?;
        }
    }
    save(&text, &image, &opt_text, &opt_image, step, elapsed + started.elapsed().as_secs_f64())?;
    pb.finish_and_clear();
    if step == total && !interrupted {
        let damsm = Damsm { text: text.valid(), image: image.valid(), vocab, config: cfg.clone() };
        let r = r_precision(&damsm, 100, cfg.train.seed, &device.clone())?;
        log.append(&[("step", step.into()), ("r_precision", r.into())])?;
        last.push(("r_precision".into(), r as f32));
    }
    Ok(TrainSummary { step, interrupted, last_losses: last, skipped_images: source.unreadable_images() })
}

/// The DAMSM encoders of the run in `dir` (DAMSM or GAN), checked to serve a run configured by
/// `cfg`: same text encoder, image encoder and data config.
pub(crate) fn load_damsm_for<B: Backend>(cfg: &RunConfig, dir: &Path, device: &B::Device) -> Result<Damsm<B>> {
    let d = load_damsm::<B>(dir, device)?;
    check_same_encoders(cfg, &d.config, dir)?;
    Ok(d)
}

fn check_same_encoders(cfg: &RunConfig, other: &RunConfig, dir: &Path) -> Result<()> {
    if other.model.text != cfg.model.text || other.model.damsm != cfg.model.damsm || other.data != cfg.data {
        return Err(Error::Other(format!(
            "{}: its text encoder, image encoder or data config differ from this config",
            dir.display()
        )));
    }
    Ok(())
}

/// The DAMSM loss with `train.damsm_hard_negatives`: the image→caption terms (words and
/// sentence) also rank each image's caption above its one-attribute counterfactuals.
#[allow(clippy::too_many_arguments)]
fn hard_negative_loss<B: AutodiffBackend>(
    text: &RnnEncoder<B>,
    image: &ImageEncoder<B>,
    host: &HostBatch,
    batch: &crate::data::batcher::Batch<B>,
    feats: TextFeatures<B>,
    vocab: &Vocab,
    cfg: &crate::config::DamsmConfig,
    device: &B::Device,
) -> DamsmLoss<B> {
    let (owner, rows) = counterfactual_tokens(&host.captions, vocab);
    let img = image.forward(batch.images[0].clone());
    if rows.is_empty() {
        return damsm_loss_from(img, feats.words, feats.sentence, feats.pad, &batch.same_class, cfg);
    }
    let extra = text.forward(tokens_tensor::<B>(&rows, device));
    damsm_loss_with_negatives(img, feats.words, feats.sentence, feats.pad, &batch.same_class, &extra, &owner, cfg)
}

pub(crate) fn scalar<B: Backend>(t: Tensor<B, 1>) -> f32 {
    t.into_data().to_vec::<f32>().ok().and_then(|v| v.first().copied()).unwrap_or(f32::NAN)
}

/// Load trained DAMSM encoders from a run directory.
pub fn load_damsm<B: Backend>(dir: &Path, device: &B::Device) -> Result<Damsm<B>> {
    damsm_from_run(&RunDir::open(dir)?, device)
}

/// The DAMSM encoders of an opened DAMSM or GAN run (both checkpoints carry them).
pub fn damsm_from_run<B: Backend>(run: &RunDir, device: &B::Device) -> Result<Damsm<B>> {
    let m = run.model_config();
    let ck = &run.checkpoint;
    let text = ck.load_module("text_encoder", RnnEncoder::new(&m.text, device), device)?;
    let image = ck.load_module("image_encoder", ImageEncoder::new(&m.damsm, &m.text, device), device)?;
    Ok(Damsm { text, image, vocab: run.vocab.clone(), config: run.config.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution::Normal;

    type B = crate::CpuBackend;

    #[test]
    fn counterfactual_negatives_raise_only_the_image_to_caption_terms() {
        let dev = Default::default();
        let cfg = crate::config::RunConfig::preset("tiny").unwrap().model.damsm;
        let (n, d, t) = (3, 8, 4);
        let feats = || ImageFeatures::<B> {
            regions: Tensor::random([n, d, 4, 4], Normal(0.0, 1.0), &dev),
            global: Tensor::random([n, d], Normal(0.0, 1.0), &dev),
        };
        B::seed(&dev, 3);
        let img = feats();
        let text = TextFeatures::<B> {
            words: Tensor::random([n, d, t], Normal(0.0, 1.0), &dev),
            sentence: Tensor::random([n, d], Normal(0.0, 1.0), &dev),
            pad: Tensor::from_data(TensorData::new(vec![false; n * t], [n, t]), &dev),
        };
        let same = vec![vec![false; n]; n];
        let plain = damsm_loss_from(
            ImageFeatures { regions: img.regions.clone(), global: img.global.clone() },
            text.words.clone(),
            text.sentence.clone(),
            text.pad.clone(),
            &same,
            &cfg,
        );
        // Each image's own caption again as its counterfactual: a negative that scores as
        // high as the positive, so every row's cross-entropy strictly rises.
        let v = |x: Tensor<B, 1>| x.into_scalar();
        let hard = damsm_loss_with_negatives(
            img,
            text.words.clone(),
            text.sentence.clone(),
            text.pad.clone(),
            &same,
            &text,
            &[0, 1, 2],
            &cfg,
        );
        assert_eq!(v(hard.w1.clone()), v(plain.w1.clone()));
        assert_eq!(v(hard.s1.clone()), v(plain.s1.clone()));
        let (w0, s0, pw0, ps0) = (v(hard.w0), v(hard.s0), v(plain.w0), v(plain.s0));
        assert!(w0 > pw0 && s0 > ps0, "{w0} vs {pw0}, {s0} vs {ps0}");
        // Bounded by log 2 more per row: p/(p + p) can at most halve the true pair's share.
        assert!(w0 - pw0 <= std::f32::consts::LN_2 + 1e-4 && s0 - ps0 <= std::f32::consts::LN_2 + 1e-4);
    }
}
