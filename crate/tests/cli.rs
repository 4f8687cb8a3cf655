//! The command line: every bad input is a one-line error with a non-zero exit code, no
//! panic, and nothing overwritten; a good run writes PNGs of the right sizes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn t2i(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_t2i")).args(args).output().expect("cannot start t2i")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("t2i-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(err.contains(needle), "stderr does not mention {needle:?}: {err}");
    assert!(!err.contains("panicked"), "panic reached the user: {err}");
    assert_eq!(err.trim().lines().count(), 1, "error is not one line: {err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = scratch("errors");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    // Unknown config field, named with its place.
    let cfg = dir.join("bad.toml");
    let text = include_str!("../../configs/tiny.toml").replace("[model.gan]", "[model.gan]\ncolour = 1");
    std::fs::write(&cfg, text).unwrap();
    fails_with(&t2i(&["train", "damsm", "--config", &s(&cfg), "--out", &s(&dir.join("r"))]), "colour");
    // Impossible value, named by its dotted path.
    let text = include_str!("../../configs/tiny.toml").replace("stages = 2", "stages = 5");
    std::fs::write(&cfg, text).unwrap();
    fails_with(&t2i(&["train", "damsm", "--config", &s(&cfg), "--out", &s(&dir.join("r"))]), "model.gan.stages");
    // Missing config file.
    fails_with(&t2i(&["train", "damsm", "--config", "nope.toml", "--out", &s(&dir.join("r"))]), "nope.toml");
    // Missing model directory.
    fails_with(&t2i(&["sample", "--model", &s(&dir.join("none")), "a red circle"]), "config.toml");

    // A real (tiny) run to corrupt.
    let damsm = dir.join("damsm");
    let ok = t2i(&["train", "damsm", "--config", "tiny", "--out", &s(&damsm), "--steps", "2", "--quiet"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let gan = dir.join("gan");
    let ok =
        t2i(&["train", "gan", "--config", "tiny", "--damsm", &s(&damsm), "--out", &s(&gan), "--steps", "2", "--quiet"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let out_dir = dir.join("samples");
    let ok = t2i(&[
        "sample",
        "--model",
        &s(&gan),
        "a big green star above a small pink dot",
        "--seed",
        "7",
        "--out",
        &s(&out_dir),
    ]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("tokens: a big green star above a small pink dot"), "{stdout}");
    for (f, side) in [("stage_64.png", 64), ("stage_128.png", 128)] {
        let img = image::open(out_dir.join(f)).unwrap();
        assert_eq!((img.width(), img.height()), (side, side));
    }
    assert!(out_dir.join("attention.png").exists());
    // Unknown words are reported, not lost.
    let ok = t2i(&["sample", "--model", &s(&gan), "a red zebra circle", "--out", &s(&out_dir)]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("unknown words (ignored): zebra"));

    // Export for inference: the exported directory samples the same images (f32 exactly).
    let exp = dir.join("export");
    let ok = t2i(&["export", "--checkpoint", &s(&gan), "--out", &s(&exp)]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("max pixel difference vs the run: 0/255"));
    for f in ["config.json", "vocab.json", "model.safetensors", "MODEL_CARD.md"] {
        assert!(exp.join(f).is_file(), "{f} missing");
    }
    // The card's round-trip check generates the test split's first caption.
    let first = t2i::data::shapes::example(0, t2i::data::shapes::Split::Test, 0).captions[0].clone();
    let card = std::fs::read_to_string(exp.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains(&format!("Generating \"{first}\" (seed 0)")), "{card}");
    let (run_out, exp_out) = (dir.join("run_samples"), dir.join("exp_samples"));
    let caption = "a big green star above a small pink dot";
    for (model, out) in [(&gan, &run_out), (&exp, &exp_out)] {
        let ok = t2i(&["sample", "--model", &s(model), caption, "--seed", "7", "--out", &s(out)]);
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    }
    for f in ["stage_64.png", "stage_128.png"] {
        let a = image::open(run_out.join(f)).unwrap().to_rgb8();
        let b = image::open(exp_out.join(f)).unwrap().to_rgb8();
        assert_eq!(a.as_raw(), b.as_raw(), "{f} differs between the run and its export");
    }
    fails_with(&t2i(&["sample", "--model", &s(&exp), caption, "--live"]), "EMA");
    fails_with(&t2i(&["export", "--checkpoint", &s(&damsm), "--out", &s(&dir.join("x"))]), "damsm checkpoint");
    let st = exp.join("model.safetensors");
    let mut w = std::fs::read(&st).unwrap();
    w[100] ^= 1;
    std::fs::write(&st, &w).unwrap();
    fails_with(&t2i(&["sample", "--model", &s(&exp), caption]), "CRC-32");

    // Evaluation: a table and JSON with every stage, R-precision and FID from the run's DAMSM.
    let json = dir.join("eval.json");
    let ok = t2i(&["eval", "--model", &s(&gan), "--scenes", "12", "--json", &s(&json)]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let table = String::from_utf8_lossy(&ok.stdout);
    for heading in ["all attributes right", "Relations the judge read", "Object counts the judge read", "by the order"]
    {
        assert!(table.contains(heading), "no {heading:?} in\n{table}");
    }
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stages = report["stages"].as_array().unwrap();
    assert_eq!(stages.iter().map(|s| s["size"].as_u64().unwrap()).collect::<Vec<_>>(), vec![64, 128]);
    for st in stages {
        for k in ["background", "color", "shape", "all_correct"] {
            let v = st["all"][k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
    }
    assert!(stages[1]["r_precision"].as_f64().is_some() && stages[1]["fid_damsm"].as_f64().unwrap() >= 0.0);
    // Every scene lands in one count verdict; both naming slots count the same scenes.
    let counts = &stages[1]["count_errors"];
    let verdicts: u64 = ["right", "extra", "merged", "lost"].iter().map(|k| counts[k].as_u64().unwrap()).sum();
    assert_eq!(verdicts, 12, "{counts}");
    let order = &stages[1]["naming_order"];
    assert_eq!(order["first"]["shape"]["total"], order["second"]["shape"]["total"], "{order}");
    assert_eq!(report["real"]["judge"]["all_correct"].as_f64(), Some(1.0), "the judge must read real images");

    // Empty caption and a caption with no known word.
    fails_with(&t2i(&["sample", "--model", &s(&gan), "  ", "--out", &s(&out_dir)]), "empty");
    fails_with(&t2i(&["sample", "--model", &s(&gan), "qwerty asdf", "--out", &s(&out_dir)]), "no word");
    // Sampling from a DAMSM run is refused.
    fails_with(&t2i(&["sample", "--model", &s(&damsm), "a red circle"]), "damsm checkpoint");

    // Corrupt and truncated checkpoints; the file is not modified by the failed attempt.
    let ck = gan.join("checkpoint.t2i");
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&t2i(&["sample", "--model", &s(&gan), "a red circle"]), "truncated");
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 10] ^= 0x55;
    std::fs::write(&ck, &flipped).unwrap();
    fails_with(&t2i(&["sample", "--model", &s(&gan), "a red circle"]), "corrupt");
    fails_with(&t2i(&["train", "gan", "--config", "tiny", "--out", &s(&gan), "--resume", "--quiet"]), "corrupt");
    assert_eq!(std::fs::read(&ck).unwrap(), flipped);
    // A fresh run into an existing run directory is refused.
    std::fs::write(&ck, &bytes).unwrap();
    fails_with(&t2i(&["train", "gan", "--config", "tiny", "--damsm", &s(&damsm), "--out", &s(&gan)]), "--resume");
    assert_eq!(std::fs::read(&ck).unwrap(), bytes);
    // Resume continues to the configured total.
    let ok = t2i(&["train", "gan", "--config", "tiny", "--out", &s(&gan), "--resume", "--steps", "1", "--quiet"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("step 3"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shapes_data_command_writes_inspectable_files() {
    let dir = scratch("data");
    let out =
        t2i(&["data", "shapes", "--out", dir.to_str().unwrap(), "--split", "test", "--count", "3", "--size", "64"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let caps = std::fs::read_to_string(dir.join("captions.jsonl")).unwrap();
    assert_eq!(caps.lines().count(), 3);
    let gt = std::fs::read_to_string(dir.join("ground_truth.jsonl")).unwrap();
    assert_eq!(gt.lines().count(), 3);
    let img = image::open(dir.join("images/test_000000.png")).unwrap();
    assert_eq!(img.width(), 64);
    fails_with(&t2i(&["data", "shapes", "--out", dir.to_str().unwrap(), "--split", "validation"]), "validation");
    fails_with(&t2i(&["data", "shapes", "--out", dir.to_str().unwrap(), "--size", "100"]), "100");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn interrupt_and_nan_keep_a_good_checkpoint() {
    let dir = scratch("interrupt");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let damsm = dir.join("damsm");
    assert!(
        t2i(&["train", "damsm", "--config", "tiny", "--out", &s(&damsm), "--steps", "2", "--quiet"]).status.success()
    );
    // A long run, interrupted by Ctrl-C (SIGINT) after a few steps.
    let long = dir.join("long.toml");
    let text = include_str!("../../configs/tiny.toml")
        .replace("gan_steps = 20", "gan_steps = 100000")
        .replace("checkpoint_every = 10", "checkpoint_every = 0")
        .replace("sample_every = 10", "sample_every = 0");
    std::fs::write(&long, text).unwrap();
    let gan = dir.join("gan");
    let child = Command::new(env!("CARGO_BIN_EXE_t2i"))
        .args(["train", "gan", "--config", &s(&long), "--damsm", &s(&damsm), "--out", &s(&gan), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = gan.join("metrics.jsonl");
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&metrics).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(start.elapsed().as_secs() < 120, "training made no progress");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupted at step"), "{stdout}");
    let step: u64 =
        stdout.split("interrupted at step ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let ck = t2i::train::checkpoint::Checkpoint::load(&gan.join("checkpoint.t2i")).unwrap();
    assert_eq!(ck.step, step);
    let logged = std::fs::read_to_string(&metrics).unwrap().lines().count() as u64;
    assert_eq!(logged, step);

    // Resuming with absurd learning rates makes the loss non-finite: the error names the
    // step and the loss, and the checkpoint on disk stays the last good one.
    let nan = dir.join("nan.toml");
    let text = std::fs::read_to_string(&long)
        .unwrap()
        .replace("lr_g = 0.0002", "lr_g = 1e30")
        .replace("lr_d = 0.0002", "lr_d = 1e30");
    std::fs::write(&nan, text).unwrap();
    let before = std::fs::read(gan.join("checkpoint.t2i")).unwrap();
    let out = t2i(&["train", "gan", "--config", &s(&nan), "--out", &s(&gan), "--resume", "--quiet"]);
    fails_with(&out, "not finite");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("step ") && err.contains("loss"), "{err}");
    assert_eq!(before, std::fs::read(gan.join("checkpoint.t2i")).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}
