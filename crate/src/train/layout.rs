//! Training the layout model (`t2i train gan` with `variant = "layout"`; Hong et al. 2018).
//!
//! Each step trains the three stages on the same Shapes batch, each from the ground truth
//! (teacher forcing, as the paper trains its stages separately):
//! - boxes: NLL λ_l·L_label + λ_b·L_box of the true box sequence (§3.1, Eq. 4);
//! - masks: the instance-wise and global discriminators on (true boxes, true masks) against
//!   (true boxes, generated masks), and for the generator their adversarial terms plus
//!   λ_rec·(feature matching on the global discriminator + pixel L1 to the true masks) (§3.2);
//! - image: from the true semantic layout; the discriminator on real/matched, fake and
//!   mismatched-caption pairs (AttnGAN's weighting: real + (fake + mismatched)/2), the
//!   generator's adversarial term plus λ1·perceptual on the frozen DAMSM image encoder (§3.3).
//!
//! The generator terms act on disjoint parameters, so one Adam step on their sum is three
//! separate steps; the same holds for the discriminators. The EMA copy of the generators is
//! what sampling, evaluation and export use.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use web_time::Instant;

use super::damsm::{Damsm, scalar};
use super::ema::Ema;
use super::gan::{GanSaver, RunStart, log_step, periodic, periodic_due, resume_gan, start_run};
use super::losses::bce_logits;
use super::perceptual::perceptual_distance;
use super::{TrainOptions, TrainSummary, adam, check_finite, progress_bar, test_source};
use crate::config::RunConfig;
use crate::data::batcher::tokens_tensor;
use crate::data::layout_targets::{scene_boxes, scene_masks};
use crate::data::shapes;
use crate::data::source::DataSource;
use crate::error::{Error, Result};
use crate::models::layout::box_generator::BoxSequence;
use crate::models::layout::layout_model::{LayoutDiscriminator, LayoutGenerator, layout_config};
use crate::models::layout::shape_generator::semantic_layout;
use crate::pipeline::{Net, Pipeline};
use crate::rng::{Stream, normal, rng_for};

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// Mean of `x` [N] over the entries where `weight` [N] is 1.
fn masked_mean<B: Backend>(x: Tensor<B, 1>, weight: Tensor<B, 1>, count: f32) -> Tensor<B, 1> {
    (x * weight).sum().div_scalar(count.max(1.0))
}

/// BCE with logits against a constant target on the selected entries only.
fn masked_bce<B: Backend>(logits: Tensor<B, 1>, real: bool, weight: Tensor<B, 1>, count: f32) -> Tensor<B, 1> {
    let x = if real { logits.neg() } else { logits };
    masked_mean(crate::nn::softplus::softplus(x), weight, count)
}

/// Train (or resume) a layout model run into `opts.out`; a fresh run needs the DAMSM run.
pub fn train_layout<B: AutodiffBackend>(
    cfg: &RunConfig,
    damsm_dir: Option<&Path>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let sizes = cfg.model.gan.output_sizes();
    let lc = layout_config(&cfg.model)?.clone();
    if cfg.data.kind != "shapes" {
        return Err(Error::config(
            "data.kind",
            "the layout model trains on boxes and masks, which only the Shapes data carries",
        ));
    }
    let RunStart { source, vocab, mc, text, image, log, resumed } =
        start_run::<B>(cfg, damsm_dir, opts, sizes, device)?;
    let DataSource::Shapes(shapes_src) = &source else {
        return Err(Error::config("data.kind", "the layout model needs the Shapes data"));
    };

    B::seed(device, cfg.train.seed ^ 0x6c61_796f);
    let mut generator = LayoutGenerator::<B>::new(&mc, device)?;
    let mut disc = LayoutDiscriminator::<B>::new(&mc, device)?;
    let mut opt_g = adam(cfg).init::<B, LayoutGenerator<B>>();
    let mut opt_d = adam(cfg).init::<B, LayoutDiscriminator<B>>();
    let mut ema: Ema<Inner<B>> = Ema::new(&generator);
    let (mut step, mut elapsed) = (0, 0.0);
    if let Some(ck) = resumed {
        (generator, disc, opt_g, opt_d, ema) = resume_gan::<B, _, _, _, _>(
            &ck,
            "discriminator",
            (generator, disc, opt_g, opt_d),
            LayoutGenerator::<Inner<B>>::new(&mc, device)?,
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
    let (slots, side) = (lc.max_objects, lc.mask_size);
    let mut last = Vec::new();
    let mut interrupted = false;

    let saver = GanSaver::<B>::new(opts, cfg, (&text, &image), "discriminator", elapsed);

    while step < end {
        let t0 = Instant::now();
        super::seed_step::<B>(device, t.seed, step);
        let picks = shapes_src.picks(&mut rng_for(t.seed, Stream::Data, step), bsz);
        let host = shapes_src.batch_of(&vocab, &picks)?;
        let scenes: Vec<shapes::Scene> =
            picks.iter().map(|&(i, _)| shapes::example(shapes_src.seed, shapes_src.split, i).scene).collect();
        let layouts = scenes.iter().map(|s| scene_boxes(s, &lc.classes)).collect::<Result<Vec<_>>>()?;
        let scene_refs: Vec<&shapes::Scene> = scenes.iter().collect();
        let real_masks = Tensor::<B, 5>::from_data(
            TensorData::new(scene_masks(&scene_refs, slots, side)?, [bsz, slots, 1, side, side]),
            device,
        );
        let batch = host.to_device::<B>(device);
        let sentence =
            Tensor::<B, 2>::from_inner(text.forward(tokens_tensor::<Inner<B>>(&host.tokens, device)).sentence);
        let mut noise = rng_for(t.seed, Stream::Noise, step);
        let z = Tensor::<B, 2>::from_data(
            TensorData::new(normal(&mut noise, bsz * mc.gan.z_dim), [bsz, mc.gan.z_dim]),
            device,
        );
        let k = generator.shapes.noise_dim();
        let shape_noise =
            Tensor::<B, 3>::from_data(TensorData::new(normal(&mut noise, bsz * slots * k), [bsz, slots, k]), device);
        let real = batch.images[0].clone();

        // Generator forward on the true boxes (masks) and the true layout (image).
        let seq = BoxSequence::new(&layouts, lc.classes.len(), slots);
        let box_nll = generator.boxes.nll(sentence.clone(), &seq);
        let (box_maps, valid) = generator.box_tensors(&layouts, device);
        let fake_masks = generator.shapes.forward(box_maps.clone(), valid.clone(), shape_noise);
        let real_masks = real_masks * box_maps.clone().sum_dim(2).clamp(0.0, 1.0);
        let true_layout = semantic_layout(box_maps.clone(), real_masks.clone());
        let fake = generator.image.forward(true_layout.clone(), sentence.clone(), z);
        let slot_w = valid.clone().reshape([bsz * slots]);
        let n_boxes: f32 = layouts.iter().map(|l| l.len().min(slots) as f32).sum();

        // Discriminators.
        let js_real = disc.shapes.forward(box_maps.clone(), real_masks.clone());
        let js_fake = disc.shapes.forward(box_maps.clone(), fake_masks.clone().detach());
        let d_shape = masked_bce(js_real.instance, true, slot_w.clone(), n_boxes)
            + masked_bce(js_fake.instance, false, slot_w.clone(), n_boxes)
            + bce_logits(js_real.global, true)
            + bce_logits(js_fake.global, false);
        let d_real = disc.image.forward(real.clone(), true_layout.clone(), sentence.clone());
        let d_fake = disc.image.forward(fake.clone().detach(), true_layout.clone(), sentence.clone());
        let d_wrong = disc.image.forward(
            real.clone().narrow(0, 0, bsz - 1),
            true_layout.clone().narrow(0, 0, bsz - 1),
            sentence.clone().narrow(0, 1, bsz - 1),
        );
        let d_image =
            bce_logits(d_real, true) + (bce_logits(d_fake, false) + bce_logits(d_wrong, false)).div_scalar(2.0);
        let d_loss = d_shape.clone() + d_image.clone();
        let mut values = vec![
            ("loss_d".to_string(), scalar(d_loss.clone())),
            ("d_shape".to_string(), scalar(d_shape)),
            ("d_image".to_string(), scalar(d_image)),
        ];
        check_finite(step + 1, &values)?;
        let gd = GradientsParams::from_grads(d_loss.backward(), &disc);
        disc = opt_d.step(t.lr_d, disc, gd);

        // Generators under the updated discriminators.
        let box_loss =
            box_nll.label.clone().mul_scalar(lc.lambda_label) + box_nll.boxes.clone().mul_scalar(lc.lambda_box);
        let js = disc.shapes.forward(box_maps.clone(), fake_masks.clone());
        let real_feats = disc.shapes.forward(box_maps, real_masks.clone()).features;
        let feature_match = js
            .features
            .iter()
            .zip(real_feats)
            .map(|(f, r)| (f.clone() - r.detach()).abs().mean())
            .reduce(|a, b| a + b)
            .ok_or_else(|| Error::Other("the mask discriminator has no blocks".into()))?;
        let pixel = (fake_masks - real_masks).abs().sum().div_scalar((n_boxes.max(1.0) * (side * side) as f32) as f64);
        let shape_rec = (feature_match + pixel.clone()).mul_scalar(lc.lambda_shape_rec);
        let shape_adv = masked_bce(js.instance, true, slot_w, n_boxes) + bce_logits(js.global, true);
        let image_adv = bce_logits(disc.image.forward(fake.clone(), true_layout, sentence), true);
        let perceptual = perceptual_distance(image.region_features(fake), image.region_features(real))
            .mul_scalar(t.lambda_perceptual);
        let g_loss = box_loss.clone() + shape_adv.clone() + shape_rec.clone() + image_adv.clone() + perceptual.clone();
        values.extend([
            ("loss_g".to_string(), scalar(g_loss.clone())),
            ("box_label_nll".to_string(), scalar(box_nll.label)),
            ("box_nll".to_string(), scalar(box_nll.boxes)),
            ("mask_l1".to_string(), scalar(pixel)),
            ("shape_rec".to_string(), scalar(shape_rec)),
            ("shape_adv".to_string(), scalar(shape_adv)),
            ("image_adv".to_string(), scalar(image_adv)),
            ("perceptual".to_string(), scalar(perceptual)),
        ]);
        check_finite(step + 1, &values)?;
        let gg = GradientsParams::from_grads(g_loss.backward(), &generator);
        generator = opt_g.step(t.lr_g, generator, gg);
        ema.update(&generator, t.ema_decay, step);
        step += 1;

        let dt = t0.elapsed().as_secs_f64();
        log_step(&log, &pb, step, bsz as f64 / dt, &values, source.unreadable_images(), &[0, 3, 5])?;
        last = values;
        if periodic_due(t, step) {
            let pipe = Pipeline {
                config: mc.clone(),
                vocab: vocab.clone(),
                text: text.clone(),
                net: Net::Layout(ema.apply(generator.valid())),
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
    Ok(TrainSummary { step, interrupted, last_losses: last, skipped_images: 0 })
}
