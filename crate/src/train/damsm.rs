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
use crate::text::rnn_encoder::RnnEncoder;
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

/// Train (or resume) DAMSM into `opts.out`.
pub fn train_damsm<B: AutodiffBackend>(
    cfg: &RunConfig,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let source = train_source(cfg, vec![cfg.model.damsm.image_size])?;
    let vocab = prepare_run_dir(cfg, opts, None, &source)?;
    let mut model_cfg = cfg.model.clone();
    model_cfg.text.vocab_size = vocab.len();
    B::seed(device, cfg.train.seed);
    let mut text = RnnEncoder::<B>::new(&model_cfg.text, device);
    let mut image = ImageEncoder::<B>::new(&model_cfg.damsm, &model_cfg.text, device);
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
        let mut g_text = GradientsParams::from_module(&mut grads, &text);
        super::grad_clip::clip_global_norm(&mut g_text, &text, cfg.train.rnn_grad_clip);
        let g_image = GradientsParams::from_module(&mut grads, &image);
        text = opt_text.step(lr, text, g_text);
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

/// The DAMSM loss with `train.damsm_hard_negatives`: the image→caption terms (words and
/// sentence) also rank each image's caption above its one-attribute counterfactuals.
#[allow(clippy::too_many_arguments)]
fn hard_negative_loss<B: AutodiffBackend>(
    text: &RnnEncoder<B>,
    image: &ImageEncoder<B>,
    host: &HostBatch,
    batch: &crate::data::batcher::Batch<B>,
    feats: crate::text::rnn_encoder::TextFeatures<B>,
    vocab: &Vocab,
    cfg: &crate::config::DamsmConfig,
    device: &B::Device,
) -> DamsmLoss<B> {
    let (owner, rows) = counterfactual_tokens(&host.captions, vocab);
    let img = image.forward(batch.images[0].clone());
    let words = word_scores(img.regions.clone(), feats.words, feats.pad, cfg);
    let sentences = sentence_scores(img.global.clone(), feats.sentence, cfg);
    let (w0, w1) = matching_loss(words.clone(), &batch.same_class);
    let (s0, s1) = matching_loss(sentences.clone(), &batch.same_class);
    if rows.is_empty() {
        return DamsmLoss { w0, w1, s0, s1 };
    }
    let extra = text.forward(tokens_tensor::<B>(&rows, device));
    let w0 = matching_loss_with_negatives(
        words,
        &batch.same_class,
        word_scores(img.regions, extra.words, extra.pad, cfg),
        &owner,
    );
    let s0 = matching_loss_with_negatives(
        sentences,
        &batch.same_class,
        sentence_scores(img.global, extra.sentence, cfg),
        &owner,
    );
    DamsmLoss { w0, w1, s0, s1 }
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
