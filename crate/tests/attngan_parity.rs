//! Parity with PyTorch: a tiny AttnGAN and a tiny DM-GAN with the official state-dict
//! names, saved by scripts/attngan_parity.py (zip and legacy `torch.save` formats), are
//! imported and must reproduce PyTorch's word and sentence features, every stage image and
//! every attention (memory addressing) map to 1e-4.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use t2i::CpuBackend as B;
use t2i::import::{ImportSource, import_attngan};
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::text::vocab::Vocab;

const TOLERANCE: f32 = 1e-4;

/// The two fixtures: (directory under tests/fixtures, generator variant).
const VARIANTS: [(&str, &str); 2] = [("attngan_parity", "attngan"), ("dmgan_parity", "dmgan")];

fn fixture_in(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(dir).join(name)
}

fn fixture(name: &str) -> PathBuf {
    fixture_in("attngan_parity", name)
}

fn npy_in(dir: &str, name: &str) -> t2i::npy::Array {
    t2i::npy::read(&fixture_in(dir, name)).unwrap()
}

fn npy(name: &str) -> t2i::npy::Array {
    npy_in("attngan_parity", name)
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("meta.json")).unwrap()).unwrap()
}

/// The vocabulary comes from the fixture's captions.pickle (protocol 2, as the originals).
fn vocab() -> Vocab {
    t2i::data::captions_pickle::CaptionsPickle::load(&fixture("captions.pickle")).unwrap().vocab
}

fn source_in(dir: &str, suffix: &str) -> ImportSource {
    ImportSource {
        text_encoder: fixture_in(dir, &format!("text_encoder{suffix}.pth")),
        generator: fixture_in(dir, &format!("netG{suffix}.pth")),
        vocab: vocab(),
        config: None,
    }
}

fn source(suffix: &str) -> ImportSource {
    source_in("attngan_parity", suffix)
}

fn pipeline_in(dir: &str, suffix: &str) -> Pipeline<B> {
    let dev = Default::default();
    let imported = import_attngan::<B>(&source_in(dir, suffix), &dev).unwrap();
    let (text, net) = imported.model.into_parts().unwrap();
    Pipeline { config: imported.config, vocab: vocab(), text, net, device: dev }
}

/// Largest |a − b|, after checking shapes.
fn max_diff(what: &str, got: &[f32], got_shape: &[usize], want: &t2i::npy::Array) -> f32 {
    assert_eq!(got_shape, want.shape.as_slice(), "{what}: shape");
    assert_eq!(got.len(), want.data.len(), "{what}: length");
    let d = got.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    eprintln!("{what}: max |Δ| = {d:.2e}");
    d
}

fn pipeline(suffix: &str) -> Pipeline<B> {
    pipeline_in("attngan_parity", suffix)
}

#[test]
fn text_features_match_pytorch() {
    let pipe = pipeline("");
    let tokens = npy("te_tokens.npy");
    let [n, t] = tokens.shape[..] else { panic!("tokens shape") };
    let ids: Vec<i64> = tokens.data.iter().map(|&v| v as i64).collect();
    let feats = pipe.text.forward(Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n, t]), &pipe.device));
    let words = feats.words.into_data().to_vec::<f32>().unwrap();
    let sentence = feats.sentence.into_data().to_vec::<f32>().unwrap();
    let d = max_diff("words", &words, &[n, pipe.config.text.feature_dim(), t], &npy("te_words.npy"));
    assert!(d <= TOLERANCE, "word features differ by {d}");
    let d = max_diff("sentence", &sentence, &[n, pipe.config.text.feature_dim()], &npy("te_sentence.npy"));
    assert!(d <= TOLERANCE, "sentence features differ by {d}");
}

#[test]
fn every_stage_and_attention_map_matches_pytorch() {
    let m = meta();
    let captions: Vec<&str> = m["captions"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for (dir, variant) in VARIANTS {
        for suffix in ["", "_legacy"] {
            stages_match(dir, variant, suffix, &captions);
        }
    }
}

fn stages_match(dir: &str, variant: &str, suffix: &str, captions: &[&str]) {
    let z = npy_in(dir, "z.npy");
    {
        let pipe = pipeline_in(dir, suffix);
        assert_eq!(pipe.config.gan.stages, 3);
        assert_eq!(pipe.config.gan.variant, variant);
        let opts = vec![GenerateOptions { seed: 0, use_mean: true }; captions.len()];
        let gens = pipe.generate_with(captions, &opts, Some(&z.data), true).unwrap();
        for stage in 0..3 {
            let side = 64 << stage;
            let raw: Vec<f32> = gens.iter().flat_map(|g| g.raw[stage].iter().copied()).collect();
            let want = npy_in(dir, &format!("stage_{side}.npy"));
            let d = max_diff(&format!("{variant}{suffix} stage {side}"), &raw, &[captions.len(), 3, side, side], &want);
            assert!(d <= TOLERANCE, "{variant}{suffix}: stage {side} px differs from PyTorch by {d}");
            if stage > 0 {
                let maps: Vec<f32> = gens
                    .iter()
                    .flat_map(|g| g.attention[stage - 1].iter().flat_map(|a| a.data.iter().copied()))
                    .collect();
                let words = gens[0].attention[stage - 1].len();
                let grid = side / 2;
                let want = npy_in(dir, &format!("attention_{side}.npy"));
                let shape = [captions.len(), words, grid, grid];
                let d = max_diff(&format!("{variant}{suffix} attention {side}"), &maps, &shape, &want);
                assert!(d <= TOLERANCE, "{variant}{suffix}: attention of stage {side} px differs from PyTorch by {d}");
            }
        }
    }
}

#[test]
fn wrong_vocabulary_and_swapped_files_are_clear_errors() {
    let dev = Default::default();
    let mut src = source("");
    src.vocab = Vocab::from_words(vec!["<end>".into(), "bird".into()]).unwrap();
    let e = import_attngan::<B>(&src, &dev).err().unwrap().to_string();
    assert!(e.contains("embeds 20 words but the vocabulary has 2"), "{e}");
    let mut src = source("");
    std::mem::swap(&mut src.text_encoder, &mut src.generator);
    let e = import_attngan::<B>(&src, &dev).err().unwrap().to_string();
    assert!(e.contains("netG.pth") && e.contains("encoder.weight"), "{e}");
}

/// The whole command-line path: `t2i import` writes an exported model, `t2i sample --noise
/// --use-mean --npy` regenerates the first fixture caption from it.
#[test]
fn import_then_sample_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("t2i-import-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_t2i")).args(args).output().unwrap();
        assert!(out.status.success(), "t2i {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let s = |p: PathBuf| p.to_str().unwrap().to_string();
    let model = dir.join("model");
    let said = run(&[
        "import",
        "--text-encoder",
        &s(fixture("text_encoder_legacy.pth")),
        "--generator",
        &s(fixture("netG.pth")),
        "--captions",
        &s(fixture("captions.pickle")),
        "--out",
        &s(model.clone()),
    ]);
    assert!(said.contains("3 stages (256 px)") && said.contains("0/255"), "{said}");
    let z = npy("z.npy");
    let z_dim = z.shape[1];
    t2i::npy::write(&dir.join("z0.npy"), &[1, z_dim], &z.data[..z_dim]).unwrap();
    let caption = meta()["captions"][0].as_str().unwrap().to_string();
    let out = dir.join("sample");
    run(&[
        "sample",
        "--model",
        &s(model),
        &caption,
        "--noise",
        &s(dir.join("z0.npy")),
        "--use-mean",
        "--npy",
        "--out",
        &s(out.clone()),
    ]);
    for (file, per_sample) in [("stage_256.npy", 3 * 256 * 256), ("attention_256.npy", 8 * 128 * 128)] {
        let got = t2i::npy::read(&out.join(file)).unwrap();
        let want = npy(file);
        assert_eq!(got.shape[1..], want.shape[1..], "{file}");
        let d = got.data.iter().zip(&want.data[..per_sample]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(d <= TOLERANCE, "{file}: {d}");
    }
    assert!(out.join("stage_64.png").is_file() && out.join("attention_128.npy").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

/// `--config`: widths read from the checkpoints are checked against it, all differences at once.
#[test]
fn widths_are_checked_against_the_config() {
    let dev = Default::default();
    let birds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/birds.toml");
    let mut cfg = t2i::config::RunConfig::load(birds.to_str().unwrap()).unwrap();
    let mut src = source("");
    src.config = Some(cfg.clone());
    let e = import_attngan::<B>(&src, &dev).err().unwrap().to_string();
    for diff in [
        "model.text.embedding_dim = 300 in the config, 12 in the checkpoints",
        "model.gan.gf = 32 in the config, 4 in the checkpoints",
        "model.gan.z_dim = 100 in the config, 8 in the checkpoints",
    ] {
        assert!(e.contains(diff), "{e}");
    }
    let (t, g) = (&mut cfg.model.text, &mut cfg.model.gan);
    (t.embedding_dim, t.hidden_dim) = (12, 8);
    (g.gf, g.z_dim, g.cond_dim) = (4, 8, 6);
    src.config = Some(cfg.clone());
    let imported = import_attngan::<B>(&src, &dev).unwrap();
    assert_eq!(imported.data.as_ref(), Some(&cfg.data));
    cfg.model.gan.variant = "dmgan".into();
    src.config = Some(cfg);
    let e = import_attngan::<B>(&src, &dev).err().unwrap().to_string();
    assert!(e.contains("model.gan.variant = \"dmgan\" in the config, \"attngan\" in the checkpoints"), "{e}");
}
