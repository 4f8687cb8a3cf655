//! `t2i import`: the published AttnGAN and DM-GAN checkpoints (a `text_encoder*.pth` from
//! DAMSM pretraining and a `netG_epoch_*.pth` generator) as an ordinary exported model.
//!
//! Widths and the stage count are read off the tensors and, when a config is given,
//! checked against it; every official key that has no place here and every tensor the
//! model needs but the files lack are reported in one error.

pub mod attngan_names;
pub mod torch_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::{DataConfig, ModelConfig, RunConfig};
use crate::error::{Error, Result};
use crate::export::{model_table, round_trip, write_model_dir};
use crate::pipeline::Pipeline;
use crate::text::vocab::Vocab;
use crate::weights::{ExportConfig, InferenceModel, NamedTensor, TrainingInfo, WeightDtype, apply_named, export};
use attngan_names::{Target, generator_target, text_encoder_target};
use torch_file::{StateDict, read_state_dict};

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportSource {
    /// `RNN_ENCODER` state dict (e.g. `text_encoder200.pth`).
    pub text_encoder: PathBuf,
    /// `G_NET` state dict (e.g. `netG_epoch_600.pth`).
    pub generator: PathBuf,
    /// The vocabulary the text encoder was trained with (captions.pickle's ixtoword).
    pub vocab: Vocab,
    /// A run config to check the inferred widths against (and to take the dataset from).
    pub config: Option<RunConfig>,
}

/// The imported modules and the config they imply.
pub struct Imported<B: Backend> {
    pub model: InferenceModel<B>,
    pub config: ModelConfig,
    pub data: Option<DataConfig>,
    /// One line per input file: format and tensor count.
    pub files: Vec<String>,
}

/// Read both checkpoints, infer and check the architecture, and load the tensors.
pub fn import_attngan<B: Backend>(src: &ImportSource, device: &B::Device) -> Result<Imported<B>> {
    let te = read_state_dict(&src.text_encoder)?;
    let g = read_state_dict(&src.generator)?;
    let config = infer_config(&te, &g, &src.vocab, src.config.as_ref())?;

    let (named, problems) = map_tensors(&te, &g);
    let what = format!("{} + {}", file_name(&te.path), file_name(&g.path));
    let model = apply_named(InferenceModel::<B>::new(&config, device), named, problems, &what, "an AttnGAN model")?;
    let files = [&te, &g]
        .iter()
        .map(|sd| {
            format!(
                "{}: {} format, {} tensors{}",
                sd.path.display(),
                sd.format,
                sd.tensors.len(),
                if sd.skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (+{} integer counters ignored)", sd.skipped.len())
                }
            )
        })
        .collect();
    Ok(Imported { model, config, data: src.config.as_ref().map(|c| c.data.clone()), files })
}

/// Official tensors under this crate's names (transposed where needed), and one problem line
/// per key that has no counterpart.
fn map_tensors(te: &StateDict, g: &StateDict) -> (BTreeMap<String, NamedTensor>, Vec<String>) {
    let mut named = BTreeMap::new();
    let mut problems = Vec::new();
    for (sd, target) in [(te, text_encoder_target as fn(&str) -> Option<Target>), (g, generator_target)] {
        for (key, t) in &sd.tensors {
            match target(key) {
                Some(Target { name, transpose }) => {
                    named.insert(name, if transpose { transposed(t) } else { t.clone() });
                }
                None => problems.push(format!("{}: key {key} {:?} has no counterpart", file_name(&sd.path), t.shape)),
            }
        }
    }
    (named, problems)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// [out, in] (or a 1×1 Conv1d's [out, in, 1]) → [in, out].
fn transposed(t: &NamedTensor) -> NamedTensor {
    let (rows, cols) = match t.shape[..] {
        [rows, cols] | [rows, cols, 1] => (rows, cols),
        _ => return t.clone(),
    };
    let mut values = vec![0.0; t.values.len()];
    for r in 0..rows {
        for c in 0..cols {
            values[c * rows + r] = t.values[r * cols + c];
        }
    }
    NamedTensor { shape: vec![cols, rows], values }
}

/// Widths and stage count from the tensors; checked against `check` when given.
pub fn infer_config(te: &StateDict, g: &StateDict, vocab: &Vocab, check: Option<&RunConfig>) -> Result<ModelConfig> {
    let dim = |sd: &StateDict, key: &str, what: &str, axis: usize| -> Result<usize> {
        let shape = sd.require(key, what)?;
        shape.get(axis).copied().ok_or_else(|| Error::Weights {
            file: sd.path.display().to_string(),
            msg: format!("tensor {key} has shape {shape:?}, expected at least {} dimensions", axis + 1),
        })
    };
    let bad = |sd: &StateDict, msg: String| Error::Weights { file: sd.path.display().to_string(), msg };

    let vocab_size = dim(te, "encoder.weight", "the word embedding", 0)?;
    let embedding_dim = dim(te, "encoder.weight", "the word embedding", 1)?;
    let hidden_dim = dim(te, "rnn.weight_hh_l0", "the LSTM", 1)?;
    let gates = dim(te, "rnn.weight_ih_l0", "the LSTM", 0)?;
    if gates != 4 * hidden_dim {
        return Err(bad(
            te,
            format!(
                "rnn.weight_ih_l0 has {gates} rows for hidden size {hidden_dim}: only LSTM text encoders \
                 (4 gates) are supported{}",
                if gates == 3 * hidden_dim { " (this looks like a GRU)" } else { "" }
            ),
        ));
    }
    if te.shape("rnn.weight_ih_l0_reverse").is_none() {
        return Err(bad(te, "has no rnn.*_reverse tensors: the text encoder must be bidirectional".into()));
    }
    if te.tensors.keys().any(|k| k.contains("_l1")) {
        return Err(bad(te, "has a second LSTM layer (rnn.*_l1); AttnGAN's encoder has one".into()));
    }
    if vocab.len() != vocab_size {
        return Err(bad(
            te,
            format!(
                "embeds {vocab_size} words but the vocabulary has {} (use the captions.pickle the encoder \
                 was trained with)",
                vocab.len()
            ),
        ));
    }

    let ca_out = dim(g, "ca_net.fc.weight", "conditioning augmentation", 0)?;
    let text_dim = dim(g, "ca_net.fc.weight", "conditioning augmentation", 1)?;
    if !ca_out.is_multiple_of(4) {
        return Err(bad(g, format!("ca_net.fc has {ca_out} outputs, expected 4 × CONDITION_DIM")));
    }
    let cond_dim = ca_out / 4;
    if text_dim != 2 * hidden_dim {
        return Err(bad(
            g,
            format!(
                "expects {text_dim}-d sentence features but the text encoder makes {} (2 × {hidden_dim}); \
                 the two checkpoints do not belong together",
                2 * hidden_dim
            ),
        ));
    }
    let gf = dim(g, "img_net1.img.0.weight", "the first image head", 1)?;
    let fc_out = dim(g, "h_net1.fc.0.weight", "the first stage's FC", 0)?;
    let fc_in = dim(g, "h_net1.fc.0.weight", "the first stage's FC", 1)?;
    if fc_out != gf * 16 * 4 * 4 * 2 {
        return Err(bad(g, format!("h_net1.fc.0 has {fc_out} outputs; GF_DIM {gf} needs {}", gf * 16 * 32)));
    }
    let z_dim = fc_in
        .checked_sub(cond_dim)
        .filter(|&z| z > 0)
        .ok_or_else(|| bad(g, format!("h_net1.fc.0 takes {fc_in} inputs, not more than CONDITION_DIM {cond_dim}")))?;
    let stages = (1..).take_while(|i| g.shape(&format!("img_net{i}.img.0.weight")).is_some()).count();
    if !(1..=3).contains(&stages) {
        return Err(bad(g, format!("has {stages} image heads; 1 to 3 stages are supported")));
    }
    let res_blocks = if stages > 1 {
        (0..).take_while(|r| g.shape(&format!("h_net2.residual.{r}.block.0.weight")).is_some()).count()
    } else {
        check.map(|c| c.model.gan.res_blocks).unwrap_or(2)
    };

    let variant = if g.shape("h_net2.M_w.0.weight").is_some() { "dmgan" } else { "attngan" };
    let mut model = match check {
        Some(c) => c.model.clone(),
        None => RunConfig::preset("paper").map(|c| c.model).ok_or_else(|| Error::Other("paper preset".into()))?,
    };
    if let Some(c) = check {
        let (t, gan) = (&c.model.text, &c.model.gan);
        let mut diffs = Vec::new();
        for (field, want, got) in [
            ("model.text.embedding_dim", t.embedding_dim, embedding_dim),
            ("model.text.hidden_dim", t.hidden_dim, hidden_dim),
            ("model.gan.stages", gan.stages, stages),
            ("model.gan.gf", gan.gf, gf),
            ("model.gan.z_dim", gan.z_dim, z_dim),
            ("model.gan.cond_dim", gan.cond_dim, cond_dim),
            ("model.gan.res_blocks", gan.res_blocks, res_blocks),
        ] {
            if want != got {
                diffs.push(format!("{field} = {want} in the config, {got} in the checkpoints"));
            }
        }
        if gan.variant != variant {
            diffs.push(format!("model.gan.variant = {:?} in the config, {variant:?} in the checkpoints", gan.variant));
        }
        if !diffs.is_empty() {
            return Err(Error::Other(format!(
                "the checkpoints do not match the config ({} difference{}):\n  {}",
                diffs.len(),
                if diffs.len() == 1 { "" } else { "s" },
                diffs.join("\n  ")
            )));
        }
    }
    model.text.vocab_size = vocab_size;
    model.text.embedding_dim = embedding_dim;
    model.text.hidden_dim = hidden_dim;
    model.gan.variant = variant.into();
    model.gan.stages = stages;
    model.gan.gf = gf;
    model.gan.z_dim = z_dim;
    model.gan.cond_dim = cond_dim;
    model.gan.res_blocks = res_blocks;
    model.validate()?;
    Ok(model)
}

/// What [`import_to_dir`] wrote.
pub struct ImportReport {
    pub files: Vec<PathBuf>,
    /// Largest per-pixel difference (0–255) between the imported modules and the written files.
    pub max_pixel_diff: u8,
    pub summary: String,
}

/// Import, then write an ordinary exported model directory (what the page and
/// `t2i sample` load) with a model card, after checking that the written files reproduce
/// the imported modules.
pub fn import_to_dir(src: &ImportSource, out: &Path, name: &str, dtype: WeightDtype) -> Result<ImportReport> {
    type B = crate::CpuBackend;
    let device = Default::default();
    let imported = import_attngan::<B>(src, &device)?;
    let origin =
        format!("official AttnGAN checkpoints {} and {}", file_name(&src.text_encoder), file_name(&src.generator));
    let data = match &imported.data {
        Some(d) => format!("{} (imported, {origin})", describe_data(d)),
        None => format!("not recorded (imported, {origin})"),
    };
    let training = TrainingInfo {
        data,
        steps: 0,
        batch_size: 0,
        wall_s: 0.0,
        hardware: "not recorded (trained by the AttnGAN authors in PyTorch)".into(),
        note: format!("Imported with `t2i import` from the {origin}."),
    };
    let files = export(name, &imported.model, &imported.config, &src.vocab, dtype, training, imported.data.clone())?;
    let (text, net) = imported.model.into_parts()?;
    let source = Pipeline { config: imported.config.clone(), vocab: src.vocab.clone(), text, net, device };
    let written = Pipeline::<B>::from_export(&files.config, &files.vocab.to_json(), &files.weights, &device)?;
    let (caption, max_pixel_diff) = round_trip(&source, &written, None)?;
    let card = import_card(&files.config, &imported.files, &caption, max_pixel_diff);
    let paths = write_model_dir(out, &files, &card)?;
    let m = &files.config.model;
    let summary = format!(
        "imported {name}: {} stages ({} px), GF {}, vocabulary {} words, {} bytes ({dtype:?}); max pixel \
         difference vs the imported modules: {max_pixel_diff}/255",
        m.gan.stages,
        m.gan.final_size(),
        m.gan.gf,
        m.text.vocab_size,
        files.config.weights.bytes
    );
    Ok(ImportReport { files: paths, max_pixel_diff, summary })
}

fn describe_data(d: &DataConfig) -> String {
    match &d.path {
        Some(p) => format!("{} at {}", d.kind, p.display()),
        None => d.kind.clone(),
    }
}

fn import_card(cfg: &ExportConfig, inputs: &[String], probe: &str, diff: u8) -> String {
    let m = &cfg.model;
    let mut s = format!("# {}\n\n", cfg.name);
    s += "AttnGAN (Xu et al. 2018) generator and text encoder, imported from the authors' published PyTorch \
          checkpoints with `t2i import`. The weights are theirs; this directory only re-packages them.\n\n";
    s += "## Sources\n\n";
    for line in inputs {
        s += &format!("- {line}\n");
    }
    s += &format!("\nData: {}.\n\n", cfg.training.data);
    s += &model_table(m);
    s += "## Files\n\n";
    s += &format!(
        "`{}`: {} bytes, {:?} storage, CRC-32 {}.\n\n",
        cfg.weights.file, cfg.weights.bytes, cfg.weights.dtype, cfg.weights.crc32
    );
    s += "## Import check\n\n";
    s += &format!(
        "Generating \"{probe}\" (seed 0) from the imported modules and from these files differs by at most \
         {diff}/255 per pixel over all stages. Parity of the import itself with PyTorch is tested on a tiny \
         model (crate/tests/attngan_parity.rs).\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(path: &str, keys: &[(&str, Vec<usize>)]) -> StateDict {
        let tensors = keys
            .iter()
            .map(|(k, shape)| {
                let n = shape.iter().product();
                (k.to_string(), NamedTensor { shape: shape.clone(), values: (0..n).map(|i| i as f32).collect() })
            })
            .collect();
        StateDict { path: PathBuf::from(path), format: "zip".into(), tensors, skipped: vec![] }
    }

    #[test]
    fn unmatched_keys_are_listed_and_linear_weights_transposed() {
        let te = dict("te.pth", &[("encoder.weight", vec![5, 3]), ("rnn.weight_ih_l0", vec![8, 3])]);
        let g = dict("g.pth", &[("ca_net.fc.bias", vec![4]), ("netD.conv.weight", vec![2, 2]), ("h_net9.x", vec![1])]);
        let (named, problems) = map_tensors(&te, &g);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("g.pth: key h_net9.x [1]"), "{problems:?}");
        assert!(problems[1].contains("netD.conv.weight"), "{problems:?}");
        let w = &named["text_encoder.rnn.forward_dir.input.weight"];
        assert_eq!(w.shape, vec![3, 8]);
        // Row r, column c of the [8, 3] PyTorch weight is at [c, r] here.
        assert_eq!(w.values[2 * 8 + 5], (5 * 3 + 2) as f32);
        assert_eq!(named["text_encoder.encoder.weight"].shape, vec![5, 3]);
    }
}
