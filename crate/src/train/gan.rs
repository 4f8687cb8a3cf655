//! GAN training (`t2i train gan`): AttnGAN's alternating updates (`trainer.py`): every
//! stage discriminator on real, fake and mismatched pairs (+ MA-GP on real matched pairs when
//! `train.d_penalty` > 0, DF-GAN Eq. 2), then the generator on the
//! adversarial terms + λ·DAMSM + KL (+ λ1·perceptual when `train.lambda_perceptual` > 0, as
//! ECAGAN), then the EMA of generator weights. The DAMSM text and image encoders are frozen.

use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;
use web_time::Instant;

use super::checkpoint::Checkpoint;
use super::damsm::{Damsm, damsm_loss_from, damsm_loss_with_negatives, load_damsm_for, scalar};
use super::ema::Ema;
use super::losses::{DiscriminatorTerms, GeneratorTerms, HardNegatives, SlotTargets, WordTargets, kl_loss};
use super::ma_gp::ma_gp;
use super::metrics_log::MetricsLog;
use super::perceptual::perceptual_distance;
use super::{
    TrainOptions, TrainSummary, adam, check_finite, check_resume_config, prepare_run_dir, progress_bar, test_source,
    train_source,
};
use crate::config::{ModelConfig, RunConfig, TrainConfig};
use crate::data::batcher::tokens_tensor;
use crate::data::source::DataSource;
use crate::error::{Error, Result};
use crate::eval::counterfactual::{counterfactual_rows, row_weights};
use crate::eval::evaluate::{EvalOptions, evaluate};
use crate::models::attngan::Generator;
use crate::models::damsm::ImageEncoder;
use crate::models::discriminators::{DiscriminatorHeads, Discriminators};
use crate::nn::auxiliary_classifier::{BlindWords, word_presence};
use crate::nn::slot_classifier::slot_targets;
use crate::pipeline::{GenerateOptions, Net, Pipeline, attention_sheet};
use crate::render::sheet::grid;
use crate::rng::{Stream, normal, rng_for};
use crate::text::rnn_encoder::{RnnEncoder, TextFeatures};
use crate::text::vocab::Vocab;

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// Train (or resume) a GAN into `opts.out`; a fresh run needs the DAMSM run directory.
pub fn train_gan<B: AutodiffBackend>(
    cfg: &RunConfig,
    damsm_dir: Option<&Path>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    if cfg.model.gan.is_rat() {
        return super::rat_gan::train_rat_gan::<B>(cfg, damsm_dir, opts, device);
    }
    if cfg.model.gan.is_layout() {
        return super::layout::train_layout::<B>(cfg, damsm_dir, opts, device);
    }
    let sizes = cfg.model.gan.output_sizes();
    let RunStart { source, vocab, mc, text, image, log, resumed } =
        start_run::<B>(cfg, damsm_dir, opts, sizes, device)?;
    // Checked before any weights load: a word the vocabulary lacks is a config error.
    let blind = BlindWords::<B>::from_config(&cfg.train, &vocab, device)?;

    B::seed(device, t_seed(cfg));
    let mut generator = Generator::<B>::new(&mc.gan, &mc.text, device);
    let heads = DiscriminatorHeads::of(&cfg.train);
    let mut disc = Discriminators::<B>::new(&mc.gan, &mc.text, heads, device);
    let mut opt_g = adam(cfg).init::<B, Generator<B>>();
    let mut opt_d = adam(cfg).init::<B, Discriminators<B>>();
    let mut ema: Ema<Inner<B>> = Ema::new(&generator);
    let (mut step, mut elapsed) = (0, 0.0);
    if let Some(ck) = resumed {
        // A run may switch `train.d_word_level` or the auxiliary classifier on (or off) when
        // it resumes: the checkpoint's discriminators load as they were saved, then gain fresh
        // heads (or lose them).
        // Likewise the generator's positional word attention and first-stage word attention:
        // loaded without them when the checkpoint has none, then given their new weights
        // (which change nothing yet), and the average adopts those as they are.
        let saved_config = ck.run_config()?;
        let saved = DiscriminatorHeads::of(&saved_config.train);
        let saved_disc = disc.with_heads(&mc.gan, &mc.text, saved, device);
        let saved_gan = &saved_config.model.gan;
        let as_saved = generator.with_attention_switches(saved_gan, &mc.text, device);
        (generator, disc, opt_g, opt_d, ema) = resume_gan::<B, _, _, _, _>(
            &ck,
            "discriminators",
            (as_saved, saved_disc, opt_g, opt_d),
            Generator::<Inner<B>>::new(saved_gan, &mc.text, device),
            device,
        )?;
        if (mc.gan.positional_attention, mc.gan.first_stage_attention)
            != (saved_gan.positional_attention, saved_gan.first_stage_attention)
        {
            generator = generator.with_attention_switches(&mc.gan, &mc.text, device);
            ema.adopt_new(&generator);
        }
        disc = disc.with_heads(&mc.gan, &mc.text, heads, device);
        (step, elapsed) = (ck.step, ck.elapsed_s);
    }

    let sample_captions: Vec<String> = test_source(cfg, vec![])?.sample_captions(8);
    let total = cfg.train.gan_steps;
    let end = opts.max_steps.map_or(total, |m| (step + m).min(total));
    let pb = progress_bar(opts.progress, step, total);
    let bsz = cfg.train.batch_size;
    let mut last = Vec::new();
    let mut interrupted = false;
    let t = &cfg.train;

    let saver = GanSaver::<B>::new(opts, cfg, (&text, &image), "discriminators", elapsed);

    while step < end {
        let t0 = Instant::now();
        super::seed_step::<B>(device, t.seed, step);
        let host = source.batch(&vocab, &mut rng_for(t.seed, Stream::Data, step), bsz)?;
        let batch = host.to_device::<B>(device);
        let caption = text.forward(tokens_tensor::<Inner<B>>(&host.tokens, device)).into_autodiff::<B>();
        let (words, sentence, pad) = (caption.words.clone(), caption.sentence.clone(), caption.pad.clone());
        let mut noise = rng_for(t.seed, Stream::Noise, step);
        let z = Tensor::<B, 2>::from_data(
            TensorData::new(normal(&mut noise, bsz * mc.gan.z_dim), [bsz, mc.gan.z_dim]),
            device,
        );
        let eps = Tensor::<B, 2>::from_data(
            TensorData::new(normal(&mut noise, bsz * mc.gan.cond_dim), [bsz, mc.gan.cond_dim]),
            device,
        );
        let out = generator.forward(z, sentence.clone(), words.clone(), pad.clone(), Some(eps));

        // Discriminators (Eq. 5), on detached fakes; optionally counterfactual mismatches and
        // MA-GP on real matched pairs.
        let hard = (t.d_hard_negatives || t.g_hard_negatives)
            .then(|| hard_negatives::<B>(&text, &host.captions, &vocab, t, device))
            .flatten();
        let slots = (t.lambda_slot_classifier > 0.0)
            .then(|| slot_targets::<B>(&host.captions, device))
            .transpose()?
            .map(|targets| SlotTargets { targets, weight: t.lambda_slot_classifier });
        let word_targets = (t.lambda_aux_classifier > 0.0 || slots.is_some()).then(|| WordTargets {
            presence: word_presence::<B>(&host.tokens, mc.text.vocab_size, device),
            weight: t.lambda_aux_classifier,
            blind: blind.clone(),
            slots,
        });
        let add = |acc: Option<Tensor<B, 1>>, l: Tensor<B, 1>| {
            Some(match acc {
                Some(a) => a + l,
                None => l,
            })
        };
        let (mut d_aux, mut d_slots): (Option<f32>, Option<f32>) = (None, None);
        let mut d_loss: Option<Tensor<B, 1>> = None;
        let mut terms = [0.0f32; 5];
        let mut hard_term: Option<f32> = None;
        let mut penalty: Option<f32> = None;
        for (i, d) in disc.stages.iter().enumerate() {
            let dt = DiscriminatorTerms::new(
                d,
                batch.images[i].clone(),
                out.images[i].clone().detach(),
                &caption,
                hard.as_ref().filter(|_| t.d_hard_negatives),
                word_targets.as_ref(),
            );
            let mut l = dt.total();
            if let Some(h) = &dt.cond_hard {
                *hard_term.get_or_insert(0.0) += scalar(h.clone());
            }
            if let Some(a) = &dt.aux {
                *d_aux.get_or_insert(0.0) += scalar(a.clone());
            }
            if let Some(a) = &dt.slots {
                *d_slots.get_or_insert(0.0) += scalar(a.clone());
            }
            for (acc, term) in terms.iter_mut().zip([dt.real, dt.fake, dt.cond_real, dt.cond_fake, dt.cond_wrong]) {
                *acc += scalar(term);
            }
            if t.d_penalty > 0.0 {
                let logits = |x, s| {
                    let feat = d.features(x);
                    let text = TextFeatures { sentence: s, ..caption.clone() };
                    d.uncond_logits(&feat) + d.cond_logits(&feat, &text)
                };
                let gp = ma_gp(logits, batch.images[i].clone(), sentence.clone(), t.d_penalty, t.d_penalty_power);
                *penalty.get_or_insert(0.0) += scalar(gp.clone());
                l = l + gp;
            }
            d_loss = add(d_loss, l);
        }
        let d_loss = d_loss.ok_or_else(|| Error::Other("no stages".into()))?;
        let d_val = scalar(d_loss.clone());
        let gd = GradientsParams::from_grads(d_loss.backward(), &disc);
        disc = opt_d.step(t.lr_d, disc, gd);

        // Generator (Eq. 6–7): adversarial terms of every stage + λ·DAMSM on the last + KL,
        // + λ1·perceptual on the last (region features of the frozen DAMSM image encoder),
        // + λ_aux·the auxiliary classifiers' loss, λ_slot·the slot classifiers' and λ_cf·the counterfactual margin on every stage.
        let mut stage_terms: Option<Tensor<B, 1>> = None;
        let (mut adv, mut g_aux, mut g_slots, mut g_cf) = (0.0f32, None::<f32>, None::<f32>, None::<f32>);
        let margin = hard.as_ref().filter(|_| t.g_counterfactual_margin > 0.0).map(|h| (h, t.g_counterfactual_margin));
        for (i, d) in disc.stages.iter().enumerate() {
            let g = GeneratorTerms::new(d, out.images[i].clone(), &caption, word_targets.as_ref(), margin);
            adv += scalar(g.adv.clone());
            if let Some(m) = &g.counterfactual {
                *g_cf.get_or_insert(0.0) += scalar(m.clone());
            }
            if let Some(a) = &g.aux {
                *g_aux.get_or_insert(0.0) += scalar(a.clone());
            }
            if let Some(a) = &g.slots {
                *g_slots.get_or_insert(0.0) += scalar(a.clone());
            }
            stage_terms = add(stage_terms, g.total());
        }
        let stage_terms = stage_terms.ok_or_else(|| Error::Other("no stages".into()))?;
        let fin = out.images.len() - 1;
        let fake_feats = image.forward(out.images[fin].clone());
        let perceptual = (t.lambda_perceptual > 0.0).then(|| {
            let real = image.region_features(batch.images[fin].clone());
            perceptual_distance(fake_feats.regions.clone(), real).mul_scalar(t.lambda_perceptual)
        });
        // `train.g_hard_negatives`: the image→caption terms also rank each caption above its
        // one-attribute counterfactuals.
        let dl = match hard.as_ref().filter(|_| t.g_hard_negatives) {
            Some(h) => damsm_loss_with_negatives(
                fake_feats,
                words,
                sentence,
                pad,
                &batch.same_class,
                &h.text,
                &h.owners,
                &mc.damsm,
            ),
            None => damsm_loss_from(fake_feats, words, sentence, pad, &batch.same_class, &mc.damsm),
        };
        let (w_l, s_l) = (dl.words().mul_scalar(t.lambda), dl.sentence().mul_scalar(t.lambda));
        let kl = kl_loss(out.mu, out.logvar);
        let mut g_total = stage_terms + w_l.clone() + s_l.clone() + kl.clone();
        if let Some(p) = &perceptual {
            g_total = g_total + p.clone();
        }
        let mut values = vec![
            ("loss_d".to_string(), d_val),
            ("loss_g".to_string(), scalar(g_total.clone())),
            ("g_adv".to_string(), adv),
            ("w_loss".to_string(), scalar(w_l)),
            ("s_loss".to_string(), scalar(s_l)),
            ("kl".to_string(), scalar(kl)),
        ];
        // Eq. 5's terms summed over stages, to see which of them the discriminators win.
        let names = ["d_real", "d_fake", "d_cond_real", "d_cond_fake", "d_wrong"];
        values.extend(names.iter().zip(terms).map(|(n, v)| (n.to_string(), v)));
        values.extend(hard_term.map(|v| ("d_hard".to_string(), v)));
        values.extend(penalty.map(|v| ("ma_gp".to_string(), v)));
        values.extend(d_aux.map(|v| ("d_aux".to_string(), v)));
        values.extend(g_aux.map(|v| ("g_aux".to_string(), v)));
        values.extend(d_slots.map(|v| ("d_slots".to_string(), v)));
        values.extend(g_slots.map(|v| ("g_slots".to_string(), v)));
        values.extend(g_cf.map(|v| ("g_cf".to_string(), v)));
        if let Some(p) = perceptual {
            values.push(("perceptual".to_string(), scalar(p)));
        }
        check_finite(step + 1, &values)?;
        let gg = GradientsParams::from_grads(g_total.backward(), &generator);
        generator = opt_g.step(t.lr_g, generator, gg);
        ema.update(&generator, t.ema_decay, step);
        step += 1;

        let dt = t0.elapsed().as_secs_f64();
        log_step(&log, &pb, step, bsz as f64 / dt, &values, source.unreadable_images(), &[0, 1])?;
        last = values;
        // The EMA generator behind the inference pipeline, for samples and evaluation.
        let ema_pipeline = |generator: &Generator<B>| Pipeline {
            config: mc.clone(),
            vocab: vocab.clone(),
            text: text.clone(),
            net: Net::Stages(ema.apply(generator.valid())),
            device: device.clone(),
        };
        if periodic_due(t, step) {
            let damsm = Damsm { text: text.clone(), image: image.valid(), vocab: vocab.clone(), config: cfg.clone() };
            periodic(cfg, opts, step, &ema_pipeline(&generator), &damsm, &sample_captions, &log, &pb)?;
        }
        if opts.stop_requested() {
            interrupted = true;
            break;
        }
        if t.checkpoint_every > 0 && step.is_multiple_of(t.checkpoint_every) && step < end {
            saver.save(&generator, &disc, &opt_g, &opt_d, &ema, step)?;
        }
    }
    saver.save(&generator, &disc, &opt_g, &opt_d, &ema, step)?;
    pb.finish_and_clear();
    Ok(TrainSummary { step, interrupted, last_losses: last, skipped_images: source.unreadable_images() })
}

/// What every GAN training loop starts from: the data, the run's vocabulary and model config,
/// the frozen DAMSM encoders (from the DAMSM run, or on `--resume` from the checkpoint), the
/// metrics log (cut back to the checkpoint's step), and on `--resume` the checked checkpoint
/// for the loop's own modules and optimisers.
pub(crate) struct RunStart<B: AutodiffBackend> {
    pub source: DataSource,
    pub vocab: Vocab,
    pub mc: ModelConfig,
    pub text: RnnEncoder<Inner<B>>,
    pub image: ImageEncoder<B>,
    pub log: MetricsLog,
    pub resumed: Option<Checkpoint>,
}

/// The batch's counterfactual sentences through the frozen text encoder
/// (`train.d_hard_negatives`, `train.g_hard_negatives`; every object's words with
/// `train.counterfactual_each_object`), each weighted by the attribute it changes
/// (`train.d_hard_negative_weights`); `None` when no caption names an attribute.
pub(crate) fn hard_negatives<B: AutodiffBackend>(
    text: &RnnEncoder<Inner<B>>,
    captions: &[String],
    vocab: &Vocab,
    t: &TrainConfig,
    device: &B::Device,
) -> Option<HardNegatives<B>> {
    let rows = counterfactual_rows(captions, vocab, t.counterfactual_each_object);
    if rows.is_empty() {
        return None;
    }
    let weight = row_weights(&rows, &t.d_hard_negative_weights);
    let (owners, tokens): (Vec<usize>, Vec<Vec<u32>>) = rows.into_iter().map(|r| (r.owner, r.tokens)).unzip();
    let text = text.forward(tokens_tensor::<Inner<B>>(&tokens, device)).into_autodiff::<B>();
    let ids: Vec<i64> = owners.iter().map(|&i| i as i64).collect();
    let n = ids.len();
    Some(HardNegatives {
        text,
        owner: Tensor::from_data(TensorData::new(ids, [n]), device),
        owners,
        weight: Tensor::from_data(TensorData::new(weight, [n]), device),
    })
}

/// Open a fresh or resumed GAN run in `opts.out` whose images have the sides `sizes`.
pub(crate) fn start_run<B: AutodiffBackend>(
    cfg: &RunConfig,
    damsm_dir: Option<&Path>,
    opts: &TrainOptions,
    sizes: Vec<usize>,
    device: &B::Device,
) -> Result<RunStart<B>> {
    let fresh = if opts.resume { None } else { Some(fresh_damsm::<B>(cfg, damsm_dir, device)?) };
    let source = train_source(cfg, sizes)?;
    let vocab_from = damsm_dir.filter(|_| !opts.resume).map(|d| d.join("vocab.json"));
    let vocab: Vocab = prepare_run_dir(cfg, opts, vocab_from.as_deref(), &source)?;
    let mut mc = cfg.model.clone();
    mc.text.vocab_size = vocab.len();
    let log = MetricsLog::new(&opts.out.join("metrics.jsonl"));
    let (text, image, resumed) = match fresh {
        Some(d) => (d.text.valid(), d.image.no_grad(), None),
        None => {
            let path = opts.out.join("checkpoint.t2i");
            let ck = Checkpoint::load(&path)?;
            if ck.kind != "gan" {
                return Err(Error::Checkpoint { path, msg: format!("is a {} checkpoint, not gan", ck.kind) });
            }
            check_resume_config(cfg, &ck.config, &path)?;
            log.truncate_after(ck.step)?;
            let (text, image) = match damsm_dir {
                // `--resume --damsm`: a refreshed DAMSM (e.g. `train damsm --init` on this run)
                // replaces the checkpoint's from this step on; the log records the change.
                Some(dir) => {
                    let d = fresh_damsm::<B>(cfg, Some(dir), device)?;
                    if d.vocab != vocab {
                        return Err(Error::Other(format!(
                            "{}: its vocabulary differs from this run's; a DAMSM can only replace one with the same words",
                            dir.display()
                        )));
                    }
                    log.append(&[("step", ck.step.into()), ("damsm_from", dir.display().to_string().into())])?;
                    (d.text.valid(), d.image.no_grad())
                }
                None => (
                    ck.load_module("text_encoder", RnnEncoder::new(&mc.text, device), device)?,
                    ck.load_module("image_encoder", ImageEncoder::<B>::new(&mc.damsm, &mc.text, device), device)?
                        .no_grad(),
                ),
            };
            (text, image, Some(ck))
        }
    };
    Ok(RunStart { source, vocab, mc, text, image, log, resumed })
}

/// A new GAN run's DAMSM encoders, checked against the run's text, image and data config.
pub(crate) fn fresh_damsm<B: AutodiffBackend>(
    cfg: &RunConfig,
    damsm_dir: Option<&Path>,
    device: &B::Device,
) -> Result<Damsm<B>> {
    let dir = damsm_dir.ok_or_else(|| Error::Other("a new GAN run needs --damsm <DAMSM run directory>".into()))?;
    load_damsm_for::<B>(cfg, dir, device)
}

/// How a GAN loop writes its checkpoints: `checkpoint.t2i` in the run directory holds the
/// frozen DAMSM encoders, the live generator and discriminator (section `d_name`), the EMA
/// generator and both optimiser states; with `opts.portable` also `portable.t2i`, the same
/// models at half precision without the optimiser states. Every GAN loop (AttnGAN family,
/// RAT-GAN, layout) saves this way.
pub(crate) struct GanSaver<'a, B: AutodiffBackend> {
    pub opts: &'a TrainOptions,
    pub cfg: &'a RunConfig,
    pub encoders: (&'a RnnEncoder<Inner<B>>, &'a ImageEncoder<B>),
    pub d_name: &'static str,
    /// Training wall time before this invocation, seconds.
    pub elapsed_before: f64,
    pub started: Instant,
}

impl<'a, B: AutodiffBackend> GanSaver<'a, B> {
    /// A saver for a loop that starts now, `elapsed_before` seconds into the run.
    pub fn new(
        opts: &'a TrainOptions,
        cfg: &'a RunConfig,
        encoders: (&'a RnnEncoder<Inner<B>>, &'a ImageEncoder<B>),
        d_name: &'static str,
        elapsed_before: f64,
    ) -> Self {
        Self { opts, cfg, encoders, d_name, elapsed_before, started: Instant::now() }
    }

    pub fn save<G, D, OG, OD>(
        &self,
        generator: &G,
        disc: &D,
        og: &OG,
        od: &OD,
        ema: &Ema<Inner<B>>,
        step: u64,
    ) -> Result<()>
    where
        G: AutodiffModule<B>,
        G::InnerModule: Module<Inner<B>>,
        D: AutodiffModule<B>,
        OG: Optimizer<G, B>,
        OD: Optimizer<D, B>,
    {
        let (cfg, opts) = (self.cfg, self.opts);
        let elapsed_s = self.elapsed_before + self.started.elapsed().as_secs_f64();
        let models = |mut ck: Checkpoint| -> Result<Checkpoint> {
            ck.put_module::<Inner<B>, _>("text_encoder", self.encoders.0)?;
            ck.put_module::<B, _>("image_encoder", self.encoders.1)?;
            ck.put_module::<B, _>("generator", generator)?;
            ck.put_module::<B, _>(self.d_name, disc)?;
            ck.put_module::<Inner<B>, _>("generator_ema", &ema.apply(generator.valid()))?;
            Ok(ck)
        };
        let mut ck = models(Checkpoint::new("gan", step, cfg.to_toml(), elapsed_s))?;
        ck.put_record::<B, _>("opt_g", og.to_record())?;
        ck.put_record::<B, _>("opt_d", od.to_record())?;
        ck.save(&opts.out.join("checkpoint.t2i"))?;
        if opts.portable {
            models(Checkpoint::new("gan", step, cfg.to_toml(), elapsed_s).portable())?
                .save(&opts.out.join("portable.t2i"))?;
        }
        Ok(())
    }
}

/// A GAN loop's state restored from `ck`: generator, discriminator (section `d_name`), EMA
/// generator (loaded into `ema_template`), and the optimisers where the checkpoint has them
/// (a portable checkpoint does not: they restart from `og`, `od`).
#[allow(clippy::type_complexity)]
pub(crate) fn resume_gan<B, G, D, OG, OD>(
    ck: &Checkpoint,
    d_name: &str,
    (generator, disc, og, od): (G, D, OG, OD),
    ema_template: G::InnerModule,
    device: &B::Device,
) -> Result<(G, D, OG, OD, Ema<Inner<B>>)>
where
    B: AutodiffBackend,
    G: AutodiffModule<B>,
    G::InnerModule: Module<Inner<B>>,
    D: AutodiffModule<B>,
    OG: Optimizer<G, B>,
    OD: Optimizer<D, B>,
{
    let generator = ck.load_module("generator", generator, device)?;
    let disc = ck.load_module(d_name, disc, device)?;
    let (og, od) = if ck.has("opt_g") && ck.has("opt_d") {
        (og.load_record(ck.record("opt_g", device)?), od.load_record(ck.record("opt_d", device)?))
    } else {
        (og, od)
    };
    let ema_model = ck.load_module("generator_ema", ema_template, device)?;
    let ema = Ema::resume(&generator, &ema_model);
    Ok((generator, disc, og, od, ema))
}

/// Append one step's losses and speed to metrics.jsonl and show them on the progress bar
/// (`shown`: the indices of `values` the bar shows, as "name value").
pub(crate) fn log_step(
    log: &MetricsLog,
    pb: &indicatif::ProgressBar,
    step: u64,
    images_per_s: f64,
    values: &[(String, f32)],
    skipped_images: usize,
    shown: &[usize],
) -> Result<()> {
    let mut fields: Vec<(&str, serde_json::Value)> = vec![("step", step.into()), ("images_per_s", images_per_s.into())];
    for (k, v) in values {
        fields.push((k.as_str(), (*v as f64).into()));
    }
    if skipped_images > 0 {
        fields.push(("skipped_images", skipped_images.into()));
    }
    log.append(&fields)?;
    pb.set_position(step);
    let parts: Vec<String> = shown.iter().filter_map(|&i| values.get(i)).map(|(k, v)| format!("{k} {v:.3}")).collect();
    pb.set_message(format!("{} {images_per_s:.1} img/s", parts.join(" ")));
    Ok(())
}

/// Whether `step` writes samples or evaluates.
pub(crate) fn periodic_due(t: &TrainConfig, step: u64) -> bool {
    (t.sample_every > 0 && step.is_multiple_of(t.sample_every))
        || (t.eval_every > 0 && step.is_multiple_of(t.eval_every))
}

/// The periodic work of a GAN run on the EMA pipeline: sample sheets every `sample_every`
/// steps, and every `eval_every` steps `t2i eval` on `eval_scenes` test scenes appended to
/// metrics.jsonl.
#[allow(clippy::too_many_arguments)]
pub(crate) fn periodic<B: Backend>(
    cfg: &RunConfig,
    opts: &TrainOptions,
    step: u64,
    pipe: &Pipeline<B>,
    damsm: &Damsm<B>,
    sample_captions: &[String],
    log: &MetricsLog,
    pb: &indicatif::ProgressBar,
) -> Result<()> {
    let t = &cfg.train;
    if t.sample_every > 0 && step.is_multiple_of(t.sample_every) {
        write_samples(pipe, sample_captions, &opts.out.join("samples"), step)?;
    }
    if t.eval_every > 0 && step.is_multiple_of(t.eval_every) {
        let eval_opts =
            EvalOptions { scenes: t.eval_scenes, diversity_captions: 4, diversity_seeds: 4, ..Default::default() };
        let report = evaluate(pipe, Some(damsm), &cfg.data, &eval_opts)?;
        let value = serde_json::to_value(&report).map_err(|e| Error::Other(format!("eval report: {e}")))?;
        log.append(&[("step", step.into()), ("eval", value)])?;
        pb.println(format!("step {step}: {}", report.headline()));
    }
    Ok(())
}

/// A grid of every stage for fixed captions and seeds, plus the attention sheet of the first.
pub fn write_samples<B: Backend>(pipe: &Pipeline<B>, captions: &[String], dir: &Path, step: u64) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let caps: Vec<&str> = captions.iter().map(String::as_str).collect();
    let opts: Vec<GenerateOptions> =
        (0..caps.len() as u64).map(|s| GenerateOptions { seed: s, use_mean: false }).collect();
    let gens = pipe.generate_batch(&caps, &opts)?;
    let size = gens[0].stages.last().map(|i| i.width()).unwrap_or(64);
    let cells: Vec<RgbImage> = gens
        .iter()
        .flat_map(|g| {
            g.stages.iter().map(move |s| image::imageops::resize(s, size, size, image::imageops::FilterType::Nearest))
        })
        .collect();
    let stages = gens[0].stages.len();
    let labels: Vec<String> = gens
        .iter()
        .flat_map(|g| (0..stages).map(move |i| if i == 0 { g.tokens.join(" ") } else { String::new() }))
        .collect();
    let sheet = grid(&cells, stages * 2, 4, Some(&labels));
    let p = dir.join(format!("step_{step:07}.png"));
    sheet.save(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
    if let (Some(view), Some(img)) = (&gens[0].layout, gens[0].stages.last()) {
        let p = dir.join(format!("layout_{step:07}.png"));
        let side = img.width().max(256);
        crate::render::layout_view::draw_layout(view, side, Some(img), 0.6)
            .save(&p)
            .map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
    }
    if gens[0].attention.iter().any(|a| !a.is_empty()) {
        let p = dir.join(format!("attention_{step:07}.png"));
        attention_sheet(&gens[0], 128).save(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

fn t_seed(cfg: &RunConfig) -> u64 {
    cfg.train.seed ^ 0x6761_6e00
}
