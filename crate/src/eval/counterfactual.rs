//! Counterfactual captions: which attributes can a scorer see? For each real test scene its
//! caption is paired with copies that change exactly one attribute word (a colour, a shape,
//! a size, a position or relation word, the background), and a scorer "sees" the attribute
//! when it rates the true caption above the changed one. 50 % is chance.
//!
//! The scorers are the training signals of AttnGAN: the DAMSM sentence cosine (Xu et al.
//! 2018, Eq. 13's R(Q, D) of global features, the score R-precision ranks by), the DAMSM word
//! score (Eq. 10, which drives the generator's word loss), and each stage discriminator's
//! conditional logit (Eq. 5's D_i(x, ē)). An attribute no signal sees cannot be learned from
//! them, whatever the number of steps; one the 64-px discriminator misses is left to the later
//! stages' word attention. A discriminator with an auxiliary word classifier
//! (`train.lambda_aux_classifier`) is also scored by the log-likelihood its classifier gives
//! the caption's words, and one with a slot classifier (`train.lambda_slot_classifier`) by the
//! log-likelihood it gives the caption's scene in image order. Shapes only: changing a word
//! needs the dataset's caption grammar.
//!
//! The position row is also split by scene: one object, and two objects of different or of
//! the same size. Mirroring a pair whose objects differ in size leaves a cue in the size words
//! ("the big one is on the right"); with two objects of one size only the order of the noun
//! phrases tells which goes where, so that subset shows whether a scorer reads word order.

use std::collections::BTreeMap;

use burn::prelude::*;
use serde::Serialize;

use crate::data::batcher::{push_image, tokens_tensor};
use crate::data::caption_slots::{Arrangement, caption_slots};
use crate::data::shapes::{Background, ObjColor, ShapeKind, Size};
use crate::data::source::DataSource;
use crate::error::{Error, Result};
use crate::models::damsm::word_scores;
use crate::models::discriminators::{DiscriminatorHeads, Discriminators};
use crate::nn::auxiliary_classifier::{BlindWords, word_presence};
use crate::nn::slot_classifier::slot_targets;
use crate::text::vocab::Vocab;
use crate::train::damsm::Damsm;
use crate::train::run_dir::RunDir;

/// An attribute a caption word names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    Color,
    Shape,
    Size,
    /// Single-object position or two-object relation word (mirrored: left ↔ right, …).
    Position,
    Background,
}

impl Attribute {
    pub const ALL: [Attribute; 5] =
        [Attribute::Color, Attribute::Shape, Attribute::Size, Attribute::Position, Attribute::Background];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::Color => "color",
            Attribute::Shape => "shape",
            Attribute::Size => "size",
            Attribute::Position => "position",
            Attribute::Background => "background",
        }
    }

    /// The attribute called `name` ([`Attribute::name`]).
    pub fn from_name(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The replacement for `word` if it names this attribute: the next value in the
    /// attribute's list (mirror image for positions), named by its first word.
    fn replace(self, word: &str) -> Option<&'static str> {
        match self {
            Attribute::Color => cycle(&ObjColor::ALL.map(ObjColor::name).map(|w| [w]), word),
            Attribute::Shape => cycle(&ShapeKind::ALL.map(ShapeKind::words), word),
            Attribute::Size => cycle(&Size::ALL.map(Size::words), word),
            Attribute::Background => cycle(&Background::ALL.map(Background::name).map(|w| [w]), word),
            Attribute::Position => MIRROR.iter().find(|(w, _)| *w == word).map(|(_, m)| *m),
        }
    }
}

/// Position and relation words and their counterparts ("center" moves to the top).
const MIRROR: [(&str, &str); 9] = [
    ("left", "right"),
    ("right", "left"),
    ("top", "bottom"),
    ("bottom", "top"),
    ("center", "top"),
    ("above", "below"),
    ("below", "above"),
    ("over", "under"),
    ("under", "over"),
];

/// The first word of the value after the one `word` belongs to, if it belongs to one.
fn cycle<W: AsRef<[&'static str]>>(values: &[W], word: &str) -> Option<&'static str> {
    let k = values.iter().position(|v| v.as_ref().contains(&word))?;
    values[(k + 1) % values.len()].as_ref().first().copied()
}

/// `caption` with the first word naming `attr` replaced; `None` when no word names it.
pub fn counterfactual(caption: &str, attr: Attribute) -> Option<String> {
    counterfactual_nth(caption, attr, 0)
}

/// `caption` with its `nth` word (from 0) naming `attr` replaced; `None` when fewer name it.
pub fn counterfactual_nth(caption: &str, attr: Attribute, nth: usize) -> Option<String> {
    let mut words: Vec<&str> = caption.split_whitespace().collect();
    let (k, new) = words.iter().enumerate().filter_map(|(k, w)| attr.replace(w).map(|n| (k, n))).nth(nth)?;
    words[k] = new;
    Some(words.join(" "))
}

/// How many words of `caption` the counterfactuals of `attr` change one at a time: one, or
/// with `each_object` one per object for the attributes every object's noun phrase names
/// (colour, shape, size). A caption names as many objects as it has shape words; counting
/// them keeps a background colour word out of the object colours.
fn changed_words(caption: &str, attr: Attribute, each_object: bool) -> usize {
    if !(each_object && matches!(attr, Attribute::Color | Attribute::Shape | Attribute::Size)) {
        return 1;
    }
    caption.split_whitespace().filter(|w| Attribute::Shape.replace(w).is_some()).count().max(1)
}

/// Every one-attribute change of `caption` ([`counterfactual`] for each attribute it names).
pub fn counterfactuals(caption: &str) -> Vec<String> {
    Attribute::ALL.iter().filter_map(|&a| counterfactual(caption, a)).collect()
}

/// The token rows of each caption's counterfactuals that `vocab` can encode, and for each row
/// the index of its caption: the hard negatives of `train.damsm_hard_negatives`.
pub fn counterfactual_tokens(captions: &[String], vocab: &Vocab) -> (Vec<usize>, Vec<Vec<u32>>) {
    let rows = counterfactual_rows(captions, vocab, false);
    (rows.iter().map(|r| r.owner).collect(), rows.into_iter().map(|r| r.tokens).collect())
}

/// One counterfactual caption as tokens: which caption it changes and which attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterfactualRow {
    pub owner: usize,
    pub attribute: Attribute,
    pub tokens: Vec<u32>,
}

/// Each caption's counterfactuals as token rows, with the attribute each row changes: per
/// attribute the first word naming it changed, or with `each_object` (`train.
/// counterfactual_each_object`) each object's colour, shape and size word in turn, so that
/// the second object of a two-object caption has counterfactuals of its own.
pub fn counterfactual_rows(captions: &[String], vocab: &Vocab, each_object: bool) -> Vec<CounterfactualRow> {
    let mut rows = Vec::new();
    for (owner, caption) in captions.iter().enumerate() {
        for attribute in Attribute::ALL {
            for nth in 0..changed_words(caption, attribute, each_object) {
                let Some(c) = counterfactual_nth(caption, attribute, nth) else { continue };
                let tokens = vocab.encode(&c).ids;
                if !tokens.is_empty() {
                    rows.push(CounterfactualRow { owner, attribute, tokens });
                }
            }
        }
    }
    rows
}

/// Each row's weight by the attribute it changes (`train.d_hard_negative_weights`; an
/// attribute not in `weights` weighs 1), scaled to a mean of 1 over `rows` (all 0 when every
/// row weighs 0).
pub fn row_weights(rows: &[CounterfactualRow], weights: &BTreeMap<String, f64>) -> Vec<f32> {
    let raw: Vec<f64> = rows.iter().map(|r| weights.get(r.attribute.name()).copied().unwrap_or(1.0)).collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.iter().map(|w| if mean > 0.0 { (w / mean) as f32 } else { 0.0 }).collect()
}

/// The scenes a probe row covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subset {
    /// Every scene whose caption names the attribute.
    All,
    /// One-object scenes.
    OneObject,
    /// Two objects of different sizes.
    PairSizesDiffer,
    /// Two objects of the same size.
    PairSizesAlike,
}

impl Subset {
    /// Whether `caption` describes a scene of this subset (an unreadable caption: `All` only).
    pub fn admits(self, caption: &str) -> bool {
        if self == Subset::All {
            return true;
        }
        let Some(slots) = caption_slots(caption) else { return false };
        match (self, slots.arrangement, slots.objects.as_slice()) {
            (Subset::OneObject, Arrangement::Single(_), _) => true,
            (Subset::PairSizesDiffer, Arrangement::Horizontal | Arrangement::Vertical, [a, b]) => a.size != b.size,
            (Subset::PairSizesAlike, Arrangement::Horizontal | Arrangement::Vertical, [a, b]) => a.size == b.size,
            _ => false,
        }
    }

    /// Row label: the attribute's name, or an indented subset name under it.
    fn label(self, attribute: Attribute) -> String {
        match self {
            Subset::All => attribute.name().to_owned(),
            Subset::OneObject => "  one object".to_owned(),
            Subset::PairSizesDiffer => "  pair, sizes differ".to_owned(),
            Subset::PairSizesAlike => "  pair, sizes alike".to_owned(),
        }
    }
}

/// The probe's rows: every attribute over all its scenes, then the position split by scene.
const PROBE_ROWS: [(Attribute, Subset); 8] = [
    (Attribute::Color, Subset::All),
    (Attribute::Shape, Subset::All),
    (Attribute::Size, Subset::All),
    (Attribute::Position, Subset::All),
    (Attribute::Position, Subset::OneObject),
    (Attribute::Position, Subset::PairSizesDiffer),
    (Attribute::Position, Subset::PairSizesAlike),
    (Attribute::Background, Subset::All),
];

/// Share of scenes whose true caption a scorer rates above the counterfactual (ties: half).
#[derive(Clone, Debug, Serialize)]
pub struct Sensitivity {
    pub attribute: Attribute,
    /// The scenes of this row (`all` unless the row splits an attribute).
    pub subset: Subset,
    /// Scenes whose caption names the attribute.
    pub scenes: usize,
    /// Mean 1 − cos(ē, ē') between the sentence vectors of the true and changed caption: how
    /// far the text encoder moves for the change (0: it cannot tell them apart).
    pub sentence_change: f64,
    pub damsm_sentence: f64,
    pub damsm_words: f64,
    /// One per stage discriminator (64, 128, … px); empty without discriminators.
    pub discriminators: Vec<f64>,
    /// One per stage discriminator with an auxiliary word classifier (`classifier_sizes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<f64>,
    /// One per stage discriminator with a slot classifier (`slot_sizes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<f64>,
}

/// The probe's result: one row per attribute.
#[derive(Clone, Debug, Serialize)]
pub struct CounterfactualReport {
    pub rows: Vec<Sensitivity>,
    /// Image side of each discriminator column.
    pub discriminator_sizes: Vec<usize>,
    /// Image side of each classifier column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifier_sizes: Vec<usize>,
    /// Image side of each slot classifier column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slot_sizes: Vec<usize>,
}

impl CounterfactualReport {
    /// A fixed-width table, percentages.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<21} {:>6} {:>10} {:>15} {:>12}",
            "attribute", "scenes", "1 - cos ē", "DAMSM sentence", "DAMSM words"
        );
        for s in &self.discriminator_sizes {
            out += &format!(" {:>10}", format!("D{s} cond"));
        }
        for s in &self.classifier_sizes {
            out += &format!(" {:>10}", format!("D{s} class"));
        }
        for s in &self.slot_sizes {
            out += &format!(" {:>10}", format!("D{s} slots"));
        }
        out.push('\n');
        for r in &self.rows {
            out += &format!(
                "{:<21} {:>6} {:>10.4} {:>14.1}% {:>11.1}%",
                r.subset.label(r.attribute),
                r.scenes,
                r.sentence_change,
                100.0 * r.damsm_sentence,
                100.0 * r.damsm_words
            );
            for d in r.discriminators.iter().chain(&r.classifiers).chain(&r.slots) {
                out += &format!(" {:>9.1}%", 100.0 * d);
            }
            out.push('\n');
        }
        out
    }
}

/// Scores of (image i, caption i) pairs, one per scorer: DAMSM sentence, DAMSM words, each
/// discriminator's conditional logit, then each auxiliary classifier's log-likelihood, then each
/// slot classifier's; and the captions' sentence vectors [n, D].
struct Scores<B: Backend>(Vec<Vec<f32>>, Tensor<B, 2>);

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data().to_vec::<f32>().map_err(|e| Error::Other(format!("{e:?}")))
}

/// Real images at `side` px of `indices`, as a [n, 3, side, side] tensor in [-1, 1].
fn real_images<B: Backend>(
    source: &DataSource,
    indices: &[u64],
    side: usize,
    device: &B::Device,
) -> Result<Tensor<B, 4>> {
    let mut data = Vec::with_capacity(indices.len() * 3 * side * side);
    for &i in indices {
        push_image(&source.real_image(i, side as u32)?, &mut data);
    }
    Ok(Tensor::from_data(TensorData::new(data, [indices.len(), 3, side, side]), device))
}

fn score_pairs<B: Backend>(
    damsm: &Damsm<B>,
    probed: Option<&ProbedDiscriminators<B>>,
    source: &DataSource,
    indices: &[u64],
    captions: &[String],
    vocab: &Vocab,
    device: &B::Device,
) -> Result<Scores<B>> {
    let rows: Vec<Vec<u32>> =
        captions.iter().map(|c| vocab.encode(c).ids).map(|ids| if ids.is_empty() { vec![1] } else { ids }).collect();
    let tokens = tokens_tensor::<B>(&rows, device);
    let pad = tokens.clone().equal_elem(0);
    let text = damsm.text.forward(tokens);
    let feats = damsm.image.forward(real_images(source, indices, damsm.config.model.damsm.image_size, device)?);
    let n = indices.len();
    let cos = row_cosine(feats.global.clone(), text.sentence.clone());
    let words = word_scores(feats.regions, text.words.clone(), pad, &damsm.config.model.damsm);
    let diagonal: Vec<f32> = {
        let all = to_vec(words)?;
        (0..n).map(|i| all[i * n + i]).collect()
    };
    let mut out = vec![to_vec(cos)?, diagonal];
    if let Some(p) = probed {
        let presence = word_presence::<B>(&rows, vocab.len(), device);
        let slot_targets =
            p.disc.stages.iter().any(|d| d.heads().slots).then(|| slot_targets::<B>(captions, device)).transpose()?;
        let (mut classified, mut slotted) = (Vec::new(), Vec::new());
        for (d, &side) in p.disc.stages.iter().zip(&p.sizes) {
            let img = real_images(source, indices, side, device)?;
            let feat = d.features(img.clone());
            out.push(to_vec(d.cond_logits(&feat, &text))?);
            if let Some(ll) = d.word_log_likelihood(img, &feat, presence.clone(), &p.blind) {
                classified.push(to_vec(ll)?);
            }
            if let Some(ll) = slot_targets.clone().and_then(|t| d.slot_log_likelihood(&feat, t)) {
                slotted.push(to_vec(ll)?);
            }
        }
        out.extend(classified);
        out.extend(slotted);
    }
    Ok(Scores(out, text.sentence))
}

/// Cosine of matching rows: [n, D] × [n, D] → [n].
fn row_cosine<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = a.dims()[0];
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let norms = (a.powi_scalar(2).sum_dim(1) * b.powi_scalar(2).sum_dim(1)).clamp_min(1e-16).sqrt();
    (dot / norms).reshape([n])
}

/// The stage discriminators a probe scores, the image side of each, and the words their
/// auxiliary classifiers read from a view without colour or shape (`train.aux_*_blind_words`).
pub struct ProbedDiscriminators<B: Backend> {
    pub disc: Discriminators<B>,
    pub sizes: Vec<usize>,
    pub blind: BlindWords<B>,
}

impl<B: Backend> ProbedDiscriminators<B> {
    /// The stage discriminators of a run's checkpoint, with the heads and blind words
    /// they were trained with (None when the checkpoint holds no GAN yet).
    pub fn from_run(run: &RunDir, vocab: &Vocab, device: &B::Device) -> Result<Option<Self>> {
        if !run.checkpoint.has("discriminators") {
            return Ok(None);
        }
        let trained = run.checkpoint.run_config()?.train;
        let m = run.model_config();
        let fresh = Discriminators::<B>::new(&m.gan, &m.text, DiscriminatorHeads::of(&trained), device);
        let disc = run.checkpoint.load_module("discriminators", fresh, device)?;
        let blind = BlindWords::from_config(&trained, vocab, device)?;
        Ok(Some(Self { disc, sizes: m.gan.output_sizes(), blind }))
    }
}

/// Probe `damsm` (and the stage discriminators `disc`, if given) on the
/// first `scenes` test scenes of a Shapes source, with each scene's first caption.
pub fn counterfactual_probe<B: Backend>(
    damsm: &Damsm<B>,
    disc: Option<ProbedDiscriminators<B>>,
    source: &DataSource,
    scenes: usize,
    device: &B::Device,
) -> Result<CounterfactualReport> {
    if !matches!(source, DataSource::Shapes(_)) {
        return Err(Error::Other(format!(
            "the counterfactual probe changes Shapes caption words; the {} dataset has no such grammar",
            source.kind()
        )));
    }
    let vocab = &damsm.vocab;
    let indices = source.eval_indices(vocab, 0, scenes);
    let sizes = disc.as_ref().map(|p| p.sizes.clone()).unwrap_or_default();
    let sizes_with = |has: fn(DiscriminatorHeads) -> bool| -> Vec<usize> {
        disc.as_ref()
            .map(|p| p.disc.stages.iter().zip(&sizes).filter(|(st, _)| has(st.heads())).map(|(_, &s)| s).collect())
            .unwrap_or_default()
    };
    let classifier_sizes = sizes_with(|h| h.classifier);
    let slot_sizes = sizes_with(|h| h.slots);
    let disc = disc.as_ref();
    let mut rows = Vec::new();
    for (attr, subset) in PROBE_ROWS {
        let mut picked = Vec::new();
        let mut truth = Vec::new();
        let mut changed = Vec::new();
        for &i in &indices {
            let caption = source.eval_caption(vocab, i, 0)?;
            if !subset.admits(&caption) {
                continue;
            }
            if let Some(cf) = counterfactual(&caption, attr) {
                picked.push(i);
                truth.push(caption);
                changed.push(cf);
            }
        }
        let mut wins = vec![0.0f64; 2 + sizes.len() + classifier_sizes.len() + slot_sizes.len()];
        let mut moved = 0.0f64;
        for (k, ((idx, t), c)) in picked.chunks(32).zip(truth.chunks(32)).zip(changed.chunks(32)).enumerate() {
            // The same seed for both captions: a classifier with blind words reads both from
            // the same random views of the images, so only the caption differs.
            B::seed(device, k as u64);
            let Scores(a, sa) = score_pairs(damsm, disc, source, idx, t, vocab, device)?;
            B::seed(device, k as u64);
            let Scores(b, sb) = score_pairs(damsm, disc, source, idx, c, vocab, device)?;
            moved += to_vec(row_cosine(sa, sb).neg().add_scalar(1.0).sum())?[0] as f64;
            for ((w, sa), sb) in wins.iter_mut().zip(&a).zip(&b) {
                *w += sa
                    .iter()
                    .zip(sb)
                    .map(|(x, y)| {
                        if x > y {
                            1.0
                        } else if x == y {
                            0.5
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>();
            }
        }
        let share = |w: f64| if picked.is_empty() { f64::NAN } else { w / picked.len() as f64 };
        rows.push(Sensitivity {
            attribute: attr,
            subset,
            scenes: picked.len(),
            sentence_change: share(moved),
            damsm_sentence: share(wins[0]),
            damsm_words: share(wins[1]),
            discriminators: wins[2..2 + sizes.len()].iter().map(|&w| share(w)).collect(),
            classifiers: wins[2 + sizes.len()..2 + sizes.len() + classifier_sizes.len()]
                .iter()
                .map(|&w| share(w))
                .collect(),
            slots: wins[2 + sizes.len() + classifier_sizes.len()..].iter().map(|&w| share(w)).collect(),
        });
    }
    Ok(CounterfactualReport { rows, discriminator_sizes: sizes, classifier_sizes, slot_sizes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_sort_scenes_by_object_count_and_sizes() {
        let one = "a tiny pink star in the center";
        let differ = "a big green dot under a little cyan triangle";
        let alike = "a small red circle is to the left of a tiny blue box on a white background";
        for (caption, want) in
            [(one, Subset::OneObject), (differ, Subset::PairSizesDiffer), (alike, Subset::PairSizesAlike)]
        {
            assert!(Subset::All.admits(caption));
            for s in [Subset::OneObject, Subset::PairSizesDiffer, Subset::PairSizesAlike] {
                assert_eq!(s.admits(caption), s == want, "{caption:?} {s:?}");
            }
        }
        assert!(!Subset::OneObject.admits("no shapes here"));
        assert!(Subset::All.admits("no shapes here"));
    }

    #[test]
    fn one_word_changes_and_only_where_named() {
        let c = "a small red circle is to the left of a big blue box on a white background";
        assert_eq!(
            counterfactual(c, Attribute::Color).as_deref(),
            Some("a small orange circle is to the left of a big blue box on a white background")
        );
        assert_eq!(
            counterfactual(c, Attribute::Shape).as_deref(),
            Some("a small red square is to the left of a big blue box on a white background")
        );
        assert_eq!(
            counterfactual(c, Attribute::Size).as_deref(),
            Some("a large red circle is to the left of a big blue box on a white background")
        );
        assert_eq!(
            counterfactual(c, Attribute::Position).as_deref(),
            Some("a small red circle is to the right of a big blue box on a white background")
        );
        assert_eq!(
            counterfactual(c, Attribute::Background).as_deref(),
            Some("a small red circle is to the left of a big blue box on a black background")
        );
        // Cycles wrap, synonyms count, absent attributes give nothing.
        assert_eq!(
            counterfactual("a tiny pink star in the center", Attribute::Color).unwrap(),
            "a tiny red star in the center"
        );
        assert_eq!(
            counterfactual("a tiny pink star in the center", Attribute::Shape).unwrap(),
            "a tiny pink circle in the center"
        );
        assert_eq!(
            counterfactual("a tiny pink star in the center", Attribute::Position).unwrap(),
            "a tiny pink star in the top"
        );
        assert_eq!(counterfactual("a tiny pink star in the center", Attribute::Background), None);
        assert_eq!(
            counterfactual("a big green dot under a little cyan triangle", Attribute::Position).unwrap(),
            "a big green dot over a little cyan triangle"
        );
    }

    /// Rows name their caption and attribute; weights follow the attribute, mean 1.
    #[test]
    fn rows_and_their_weights() {
        let captions: Vec<String> = ["a big green dot under a little cyan triangle", "a tiny pink star in the center"]
            .map(String::from)
            .to_vec();
        let vocab = Vocab::build(captions.iter().map(String::as_str).chain(["orange square top"]), 0);
        let rows = counterfactual_rows(&captions, &vocab, false);
        let got: Vec<(usize, Attribute)> = rows.iter().map(|r| (r.owner, r.attribute)).collect();
        use Attribute::*;
        let expect =
            [(0, Color), (0, Shape), (0, Size), (0, Position), (1, Color), (1, Shape), (1, Size), (1, Position)];
        assert_eq!(got, expect);
        assert_eq!(counterfactual_tokens(&captions, &vocab).0, vec![0, 0, 0, 0, 1, 1, 1, 1]);
        assert!(rows.iter().all(|r| !r.tokens.is_empty()));

        assert_eq!(row_weights(&rows, &BTreeMap::new()), vec![1.0; 8]);
        // Position 4, colour 0: raw 0, 1, 1, 4 per caption, mean 1.5.
        let w = row_weights(&rows, &BTreeMap::from([("position".into(), 4.0), ("color".into(), 0.0)]));
        let per_caption = [0.0, 1.0 / 1.5, 1.0 / 1.5, 4.0 / 1.5];
        for (k, w) in w.iter().enumerate() {
            assert!((w - per_caption[k % 4]).abs() < 1e-6, "{k}: {w}");
        }
        assert!((w.iter().sum::<f32>() / 8.0 - 1.0).abs() < 1e-6);
        let none = BTreeMap::from(Attribute::ALL.map(|a| (a.name().to_string(), 0.0)));
        assert_eq!(row_weights(&rows, &none), vec![0.0; 8]);
        assert!(row_weights(&[], &none).is_empty());
    }

    /// With `each_object`, both objects of a two-object caption get colour, shape and size
    /// rows; a one-object caption and the background word are unaffected.
    #[test]
    fn rows_for_each_object() {
        let captions: Vec<String> =
            ["a big green dot under a little cyan triangle on a gray background", "a tiny pink star in the center"]
                .map(String::from)
                .to_vec();
        let vocab = Vocab::build(captions.iter().map(String::as_str).chain(["blue star large white top red"]), 0);
        let rows = counterfactual_rows(&captions, &vocab, true);
        let got: Vec<(usize, Attribute)> = rows.iter().map(|r| (r.owner, r.attribute)).collect();
        use Attribute::*;
        let expect = [
            (0, Color),
            (0, Color),
            (0, Shape),
            (0, Shape),
            (0, Size),
            (0, Size),
            (0, Position),
            (0, Background),
            (1, Color),
            (1, Shape),
            (1, Size),
            (1, Position),
        ];
        assert_eq!(got, expect);
        let text: Vec<String> = rows
            .iter()
            .map(|r| r.tokens.iter().map(|&t| vocab.word(t).unwrap_or("?")).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(text[0], "a big cyan dot under a little cyan triangle on a gray background");
        assert_eq!(text[1], "a big green dot under a little blue triangle on a gray background");
        assert_eq!(text[3], "a big green dot under a little cyan star on a gray background");
        assert_eq!(text[5], "a big green dot under a large cyan triangle on a gray background");
        assert_eq!(text[7], "a big green dot under a little cyan triangle on a white background");
        // Without the option: the first word of each attribute only, as before.
        let first: Vec<(usize, Attribute)> =
            counterfactual_rows(&captions, &vocab, false).iter().map(|r| (r.owner, r.attribute)).collect();
        assert_eq!(first, [0, 2, 4, 6, 7, 8, 9, 10, 11].map(|k| expect[k]));
        assert_eq!(counterfactual_nth(&captions[1], Color, 1), None);
    }
}
