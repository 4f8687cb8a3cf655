//! Parity with PyTorch: a tiny AttnGAN with the official state-dict names, saved by
//! scripts/attngan_parity.py (zip and legacy `torch.save` formats), is imported and must
//! reproduce PyTorch's word and sentence features, every stage image and every attention
//! map to 1e-4.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use t2i::CpuBackend as B;
use t2i::import::{ImportSource, import_attngan};
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::text::vocab::Vocab;

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/attngan_parity").join(name)
}

fn npy(name: &str) -> t2i::npy::Array {
    t2i::npy::read(&fixture(name)).unwrap()
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("meta.json")).unwrap()).unwrap()
}

fn vocab() -> Vocab {
    let words = meta()["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect();
    Vocab::from_words(words).unwrap()
}

fn source(suffix: &str) -> ImportSource {
    ImportSource {
        text_encoder: fixture(&format!("text_encoder{suffix}.pth")),
        generator: fixture(&format!("netG{suffix}.pth")),
        vocab: vocab(),
        config: None,
    }
}

fn pipeline(suffix: &str) -> Pipeline<B> {
    let dev = Default::default();
    let imported = import_attngan::<B>(&source(suffix), &dev).unwrap();
    Pipeline {
        config: imported.config,
        vocab: vocab(),
        text: imported.model.text_encoder,
        generator: imported.model.generator,
        device: dev,
    }
}

/// Largest |a − b|, after checking shapes.
fn max_diff(what: &str, got: &[f32], got_shape: &[usize], want: &t2i::npy::Array) -> f32 {
    assert_eq!(got_shape, want.shape.as_slice(), "{what}: shape");
    assert_eq!(got.len(), want.data.len(), "{what}: length");
    let d = got.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    eprintln!("{what}: max |Δ| = {d:.2e}");
    d
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
    let z = npy("z.npy");
    for suffix in ["", "_legacy"] {
        let pipe = pipeline(suffix);
        assert_eq!(pipe.config.gan.stages, 3);
        let opts = vec![GenerateOptions { seed: 0, use_mean: true }; captions.len()];
        let gens = pipe.generate_with(&captions, &opts, Some(&z.data), true).unwrap();
        for stage in 0..3 {
            let side = 64 << stage;
            let raw: Vec<f32> = gens.iter().flat_map(|g| g.raw[stage].iter().copied()).collect();
            let want = npy(&format!("stage_{side}.npy"));
            let d = max_diff(&format!("stage {side}"), &raw, &[captions.len(), 3, side, side], &want);
            assert!(d <= TOLERANCE, "{suffix}: stage {side} px differs from PyTorch by {d}");
            if stage > 0 {
                let maps: Vec<f32> = gens
                    .iter()
                    .flat_map(|g| g.attention[stage - 1].iter().flat_map(|a| a.data.iter().copied()))
                    .collect();
                let words = gens[0].attention[stage - 1].len();
                let grid = side / 2;
                let want = npy(&format!("attention_{side}.npy"));
                let d = max_diff(&format!("attention {side}"), &maps, &[captions.len(), words, grid, grid], &want);
                assert!(d <= TOLERANCE, "{suffix}: attention of stage {side} px differs from PyTorch by {d}");
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
