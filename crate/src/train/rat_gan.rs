//! RAT-GAN training (`t2i train gan` with `variant = "ratgan"`; Ye et al. 2022, §3.4, after
//! DF-GAN): the frozen DAMSM text encoder gives the sentence vector; the discriminator
//! minimises the hinge loss on real/matched, fake and mismatched pairs (the latter two
//! halved) plus MA-GP (`ma_gp.rs`) on real/matched pairs; the generator minimises −D(G(z), s).
//! The paper's optimiser is Adam(β = (0, 0.9)) with learning rates 1e-4 (G) and 4e-4 (D):
//! `configs/compare/ratgan.toml` sets them. The EMA of generator weights is kept as for the
//! other variants (samples, evaluation and export use it).

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use web_time::Instant;

use super::damsm::{Damsm, scalar};
use super::ema::Ema;
use super::gan::{GanSaver, RunStart, hard_negatives, log_step, periodic, periodic_due, resume_gan, start_run};
use super::losses::{hinge_d, hinge_g};
use super::ma_gp::{POWER, WEIGHT, ma_gp};
use super::{TrainOptions, TrainSummary, adam, check_finite, progress_bar, test_source};
use crate::config::RunConfig;
use crate::data::batcher::tokens_tensor;
use crate::error::Result;
use crate::models::rat_gan::{RatDiscriminator, RatGenerator};
use crate::pipeline::{Net, Pipeline};
use crate::rng::{Stream, normal, rng_for};

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// Train (or resume) a RAT-GAN run into `opts.out`; a fresh run needs the DAMSM run directory.
pub fn train_rat_gan<B: AutodiffBackend>(
    cfg: &RunConfig,
    damsm_dir: Option<&Path>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let sizes = cfg.model.gan.output_sizes();
    let RunStart { source, vocab, mc, text, image, log, resumed } =
        start_run::<B>(cfg, damsm_dir, opts, sizes, device)?;

    B::seed(device, cfg.train.seed ^ 0x7261_7467);
    let mut generator = RatGenerator::<B>::new(&mc.gan, &mc.text, device);
    let mut disc = RatDiscriminator::<B>::new(&mc.gan, &mc.text, device);
    let mut opt_g = adam(cfg).init::<B, RatGenerator<B>>();
    let mut opt_d = adam(cfg).init::<B, RatDiscriminator<B>>();
    let mut ema: Ema<Inner<B>> = Ema::new(&generator);
    let (mut step, mut elapsed) = (0, 0.0);
    if let Some(ck) = resumed {
        (generator, disc, opt_g, opt_d, ema) = resume_gan::<B, _, _, _, _>(
            &ck,
            "discriminator",
            (generator, disc, opt_g, opt_d),
            RatGenerator::<Inner<B>>::new(&mc.gan, &mc.text, device),
            device,
        )?;
        (step, elapsed) = (ck.step, ck.elapsed_s);
    }

    let sample_captions: Vec<String> = test_source(cfg, vec![])?.sample_captions(8);
    let t = &cfg.train;
    let total = t.gan_steps;
    let end = opts.max_steps.map_or(total, |m| (step + m).min(total));
    let pb = progress_bar(opts.progress, step, total);
    let bsz = t.batch_size;
    let mut last = Vec::new();
    let mut interrupted = false;

    let saver = GanSaver::<B>::new(opts, cfg, (&text, &image), "discriminator", elapsed);

    while step < end {
        let t0 = Instant::now();
        super::seed_step::<B>(device, t.seed, step);
        let host = source.batch(&vocab, &mut rng_for(t.seed, Stream::Data, step), bsz)?;
        let batch = host.to_device::<B>(device);
        let sentence =
            Tensor::<B, 2>::from_inner(text.forward(tokens_tensor::<Inner<B>>(&host.tokens, device)).sentence);
        let mut noise = rng_for(t.seed, Stream::Noise, step);
        let z = Tensor::<B, 2>::from_data(
            TensorData::new(normal(&mut noise, bsz * mc.gan.z_dim), [bsz, mc.gan.z_dim]),
            device,
        );
        let real = batch.images[0].clone();
        let fake = generator.forward(z, sentence.clone());

        // Discriminator: hinge on matched, fake and mismatched (image i, sentence i+1; with
        // `train.d_hard_negatives` also the captions' counterfactuals) + MA-GP.
        let feat_real = disc.features(real.clone());
        let d_real = disc.judge(feat_real.clone(), sentence.clone()).logits;
        let d_wrong =
            disc.judge(feat_real.clone().narrow(0, 0, bsz - 1), sentence.clone().narrow(0, 1, bsz - 1)).logits;
        let d_hard = t
            .d_hard_negatives
            .then(|| hard_negatives::<B>(&text, &host.captions, &vocab, t, device))
            .flatten()
            .map(|h| (disc.judge(feat_real.select(0, h.owner), h.text.sentence).logits, h.weight));
        let d_fake = disc.forward(fake.clone().detach(), sentence.clone()).logits;
        let hinge = hinge_d(d_real, d_fake, d_wrong, d_hard);
        let gp = ma_gp(|x, s| disc.forward(x, s).logits, real, sentence.clone(), WEIGHT, POWER);
        let d_loss = hinge.clone() + gp.clone();
        let mut values = vec![
            ("loss_d".to_string(), scalar(d_loss.clone())),
            ("hinge_d".to_string(), scalar(hinge)),
            ("ma_gp".to_string(), scalar(gp)),
        ];
        check_finite(step + 1, &values)?;
        let gd = GradientsParams::from_grads(d_loss.backward(), &disc);
        disc = opt_d.step(t.lr_d, disc, gd);

        // Generator: −D(G(z), s) under the updated discriminator.
        let g_loss = hinge_g(disc.forward(fake, sentence).logits);
        values.push(("loss_g".to_string(), scalar(g_loss.clone())));
        check_finite(step + 1, &values)?;
        let gg = GradientsParams::from_grads(g_loss.backward(), &generator);
        generator = opt_g.step(t.lr_g, generator, gg);
        ema.update(&generator, t.ema_decay, step);
        step += 1;

        let dt = t0.elapsed().as_secs_f64();
        log_step(&log, &pb, step, bsz as f64 / dt, &values, source.unreadable_images(), &[0, 3])?;
        last = values;
        if periodic_due(t, step) {
            let pipe = Pipeline {
                config: mc.clone(),
                vocab: vocab.clone(),
                text: text.clone(),
                net: Net::Rat { generator: ema.apply(generator.valid()), discriminator: disc.valid() },
                device: device.clone(),
            };
            let damsm = Damsm { text: text.clone(), image: image.valid(), vocab: vocab.clone(), config: cfg.clone() };
            periodic(cfg, opts, step, &pipe, &damsm, &sample_captions, &log, &pb)?;
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
