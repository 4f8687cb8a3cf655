//! Exported models: safetensors round trips (f32 exact, f16 close), and every kind of bad
//! file is a clear error that lists what is wrong.

mod common;

use t2i::CpuBackend as B;
use t2i::config::ModelConfig;
use t2i::error::Error;
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::text::vocab::Vocab;
use t2i::weights::{ExportConfig, ExportFiles, InferenceModel, TrainingInfo, WeightDtype, crc32_hex, export};

fn model_config(vocab: &Vocab) -> ModelConfig {
    let mut m = common::tiny().model;
    m.text.vocab_size = vocab.len();
    m
}

fn vocab() -> Vocab {
    Vocab::build(["a big red circle on a white background", "a small blue square below a green star"], 1)
}

fn exported(dtype: WeightDtype) -> (InferenceModel<B>, ExportFiles) {
    let dev = Default::default();
    let v = vocab();
    let cfg = model_config(&v);
    let model = InferenceModel::<B>::new(&cfg, &dev);
    let files = export("test", &model, &cfg, &v, dtype, TrainingInfo::default(), None).unwrap();
    (model, files)
}

fn load(cfg: &ExportConfig, vocab: &Vocab, weights: &[u8]) -> Result<Pipeline<B>, Error> {
    Pipeline::<B>::from_export(cfg, &vocab.to_json(), weights, &Default::default())
}

fn pixels(p: &Pipeline<B>) -> Vec<u8> {
    let g = p.generate("a big red circle below a small blue square", GenerateOptions { seed: 5, use_mean: false });
    g.unwrap().stages.iter().flat_map(|s| s.as_raw().clone()).collect()
}

fn original(model: InferenceModel<B>, cfg: &ModelConfig) -> Pipeline<B> {
    let (text, net) = model.into_parts().unwrap();
    Pipeline { config: cfg.clone(), vocab: vocab(), text, net, device: Default::default() }
}

#[test]
fn f32_round_trip_is_exact_and_f16_is_close() {
    let (model, f32_files) = exported(WeightDtype::F32);
    let cfg = f32_files.config.model.clone();
    let reference = pixels(&original(model, &cfg));
    let back = load(&f32_files.config, &f32_files.vocab, &f32_files.weights).unwrap();
    assert_eq!(pixels(&back), reference, "f32 export must reproduce the model exactly");

    // Same modules exported in f16: half the bytes, images within a few levels.
    let half = export(
        "test",
        &InferenceModel::from_parts(back.text.clone(), back.net.clone()),
        &cfg,
        &f32_files.vocab,
        WeightDtype::F16,
        TrainingInfo::default(),
        None,
    )
    .unwrap();
    let ratio = half.weights.len() as f64 / f32_files.weights.len() as f64;
    assert!((0.49..0.52).contains(&ratio), "f16 file is {ratio:.3} of the f32 one");
    let h = pixels(&load(&half.config, &half.vocab, &half.weights).unwrap());
    let max = h.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(max <= 6, "f16 weights moved a pixel by {max}/255");

    // config.json survives its own JSON round trip.
    let text = f32_files.config.to_json();
    assert_eq!(ExportConfig::from_json(&text, "config.json").unwrap(), f32_files.config);
}

#[test]
fn truncated_corrupt_and_foreign_files_are_errors() {
    let (_, f) = exported(WeightDtype::F32);
    let truncated = &f.weights[..f.weights.len() / 2];
    let e = load(&f.config, &f.vocab, truncated).err().unwrap().to_string();
    assert!(e.contains("bytes") && e.contains("truncated"), "{e}");

    let mut flipped = f.weights.clone();
    let n = flipped.len();
    flipped[n - 100] ^= 0x55;
    let e = load(&f.config, &f.vocab, &flipped).err().unwrap().to_string();
    assert!(e.contains("CRC-32"), "{e}");

    // A file whose size and checksum match config.json but that is not safetensors.
    let foreign = vec![0xffu8; 64];
    let mut cfg = f.config.clone();
    cfg.weights.bytes = foreign.len() as u64;
    cfg.weights.crc32 = crc32_hex(&foreign);
    let e = load(&cfg, &f.vocab, &foreign).err().unwrap().to_string();
    assert!(e.contains("not a safetensors file"), "{e}");
}

#[test]
fn mismatched_model_lists_every_problem_at_once() {
    let (_, f) = exported(WeightDtype::F32);
    // A config with a wider generator and an extra stage: many shapes and names differ.
    let mut cfg = f.config.clone();
    cfg.model.gan.gf *= 2;
    cfg.model.gan.stages += 1;
    let e = load(&cfg, &f.vocab, &f.weights).err().unwrap().to_string();
    assert!(e.contains("does not match config.json"), "{e}");
    let shape_lines = e.lines().filter(|l| l.contains("shape")).count();
    let missing_lines = e.lines().filter(|l| l.contains("missing tensor generator.")).count();
    assert!(shape_lines >= 5, "expected many shape mismatches, got {shape_lines}:\n{e}");
    assert!(missing_lines >= 2, "the third stage's tensors must be reported missing:\n{e}");

    // Declared dtype differs from the stored one: every tensor is named.
    let mut cfg = f.config.clone();
    cfg.weights.dtype = WeightDtype::F16;
    let e = load(&cfg, &f.vocab, &f.weights).err().unwrap().to_string();
    assert!(e.contains("dtype F32") && e.lines().count() > 10, "{e}");

    // A vocabulary of another size.
    let other = Vocab::build(["one two three"], 1);
    let e = load(&f.config, &other, &f.weights).err().unwrap().to_string();
    assert!(e.contains("vocab.json") && e.contains("words"), "{e}");
}

#[test]
fn config_json_errors_name_the_problem() {
    let (_, f) = exported(WeightDtype::F32);
    let text = f.config.to_json();
    let e = ExportConfig::from_json(&text.replace("\"t2i-model\"", "\"other\""), "c.json").unwrap_err();
    assert!(e.to_string().contains("format"), "{e}");
    let e = ExportConfig::from_json(&text.replacen("\"name\"", "\"nmae\"", 1), "c.json").unwrap_err();
    assert!(e.to_string().contains("nmae"), "{e}");
    let e = ExportConfig::from_json("{", "c.json").unwrap_err();
    assert!(e.to_string().starts_with("c.json"), "{e}");
    let e = ExportConfig::from_json(&text.replace("\"stages\": 2", "\"stages\": 7"), "c.json").unwrap_err();
    assert!(e.to_string().contains("model.gan.stages"), "{e}");
}

#[test]
fn pipeline_reads_stage_by_stage_in_order() {
    let (model, f) = exported(WeightDtype::F32);
    let p = original(model, &f.config.model);
    let mut seen = Vec::new();
    let g = futures_lite_block_on(p.generate_async(
        "a red circle",
        GenerateOptions { seed: 1, use_mean: false },
        &mut |stage, partial| seen.push((stage, partial.stages.len(), partial.attention.len())),
    ))
    .unwrap();
    let n = f.config.model.gan.stages;
    let expect: Vec<(usize, usize, usize)> = (0..n).map(|s| (s, s + 1, s)).collect();
    assert_eq!(seen, expect);
    assert_eq!(g.timings.len(), n + 1);
    assert_eq!(g.attention[0].len(), g.tokens.len());
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    // A minimal executor: the CPU backend's reads complete immediately.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
