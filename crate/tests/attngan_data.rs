//! AttnGAN's data folders (birds, COCO) and the plain folder format, on tiny fake datasets
//! that each test writes itself: loading, the pickle vocabulary, the CUB crop, stage images,
//! class ids, unreadable images, clear errors, and a few DAMSM + GAN steps with evaluation.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};

use image::{ImageFormat, RgbImage};
use rand::SeedableRng;
use serde_pickle::{HashableValue, SerOptions, Value};
use t2i::config::{DataConfig, RunConfig};
use t2i::data::shapes::Split;
use t2i::data::source::DataSource;
use t2i::text::vocab::Vocab;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("t2i-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fake vocabulary in its pickle order (deliberately not `Vocab::build`'s order).
const WORDS: [&str; 14] =
    ["<end>", "with", "bird", "a", "red", "blue", "green", "small", "large", "short", "long", "wings", "beak", "this"];

/// (stem, image width, height, box x y w h) of the fake birds.
const TRAIN: [(&str, u32, u32, [f32; 4]); 6] = [
    ("001.Red_bird/Red_bird_0001", 200, 160, [50.0, 40.0, 60.0, 40.0]),
    ("001.Red_bird/Red_bird_0002", 120, 90, [10.0, 10.0, 80.0, 60.0]),
    ("002.Blue_bird/Blue_bird_0003", 90, 140, [20.5, 30.0, 50.0, 70.9]),
    ("002.Blue_bird/Blue_bird_0004", 160, 120, [40.0, 30.0, 70.0, 50.0]),
    ("003.Green_bird/Green_bird_0005", 100, 100, [20.0, 20.0, 60.0, 60.0]),
    ("003.Green_bird/Green_bird_0006", 140, 100, [30.0, 10.0, 70.0, 80.0]),
];
const TEST: [(&str, u32, u32, [f32; 4]); 4] = [
    ("001.Red_bird/Red_bird_0007", 110, 130, [20.0, 30.0, 60.0, 60.0]),
    ("002.Blue_bird/Blue_bird_0008", 150, 100, [50.0, 20.0, 50.0, 60.0]),
    ("003.Green_bird/Green_bird_0009", 100, 120, [10.0, 20.0, 70.0, 80.0]),
    ("001.Red_bird/Red_bird_0010", 130, 130, [30.0, 30.0, 70.0, 70.0]),
];

fn color_of(stem: &str) -> (&'static str, [u8; 3]) {
    if stem.contains("Red") {
        ("red", [220, 40, 40])
    } else if stem.contains("Blue") {
        ("blue", [40, 80, 220])
    } else {
        ("green", [40, 170, 60])
    }
}

/// Caption k of a bird: "a small red bird with short wings", …
fn caption(stem: &str, k: usize) -> String {
    let size = ["a small", "a large"][k % 2];
    let len = ["short", "long"][(k / 2) % 2];
    let part = ["wings", "beak"][(k / 4) % 2];
    format!("{size} {} bird with {len} {part}", color_of(stem).0)
}

fn jpeg(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(w, h, |x, y| {
        let shade = ((x + y) % 32) as u8;
        image::Rgb([rgb[0].saturating_add(shade), rgb[1], rgb[2].saturating_sub(shade)])
    });
    img.save_with_format(path, ImageFormat::Jpeg).unwrap();
}

fn pickle(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_pickle::value_to_vec(v, SerOptions::new().proto_v2()).unwrap()).unwrap();
}

/// A Python 2 pickle (protocol 2) of a list of `str`, byte for byte as Python 2 writes one:
/// PROTO 2, EMPTY_LIST, MARK, SHORT_BINSTRING…, APPENDS, STOP.
fn python2_str_list(path: &Path, items: &[&str]) {
    let mut b = vec![0x80, 2, b']', b'('];
    for s in items {
        b.push(b'U');
        b.push(s.len() as u8);
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(b"e.");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b).unwrap();
}

fn ids(caption: &str) -> Value {
    Value::List(caption.split(' ').map(|w| Value::I64(WORDS.iter().position(|x| *x == w).unwrap() as i64)).collect())
}

/// A fake `data/birds` folder; with `with_pickle` also `captions.pickle`.
fn write_birds(root: &Path, with_pickle: bool) {
    let cub = root.join("CUB_200_2011");
    let (mut images_txt, mut boxes_txt) = (String::new(), String::new());
    for (id, (stem, w, h, b)) in TRAIN.iter().chain(TEST.iter()).enumerate() {
        jpeg(&cub.join("images").join(format!("{stem}.jpg")), *w, *h, color_of(stem).1);
        images_txt += &format!("{} {stem}.jpg\n", id + 1);
        boxes_txt += &format!("{} {:.1} {:.1} {:.1} {:.1}\n", id + 1, b[0], b[1], b[2], b[3]);
        let mut text = String::new();
        for k in 0..10 {
            text += &caption(stem, k);
            text += if k == 2 { "\n\n" } else { "\n" };
        }
        let p = root.join("text").join(format!("{stem}.txt"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::write(cub.join("images.txt"), images_txt).unwrap();
    std::fs::write(cub.join("bounding_boxes.txt"), boxes_txt).unwrap();
    let train: Vec<Value> = TRAIN.iter().map(|t| Value::String(t.0.into())).collect();
    pickle(&root.join("train/filenames.pickle"), &Value::List(train));
    python2_str_list(&root.join("test/filenames.pickle"), &TEST.map(|t| t.0));
    if with_pickle {
        let caps = |set: &[(&str, u32, u32, [f32; 4])]| {
            Value::List(set.iter().flat_map(|t| (0..10).map(|k| ids(&caption(t.0, k)))).collect())
        };
        // Python 2 writes ixtoword's words as `str` (bytes); mix both kinds.
        let ixtoword = Value::Dict(
            WORDS
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let v = if i % 2 == 0 { Value::Bytes(w.as_bytes().to_vec()) } else { Value::String(w.to_string()) };
                    (HashableValue::I64(i as i64), v)
                })
                .collect(),
        );
        let wordtoix = Value::Dict(
            WORDS
                .iter()
                .enumerate()
                .map(|(i, w)| (HashableValue::String(w.to_string()), Value::I64(i as i64)))
                .collect(),
        );
        pickle(&root.join("captions.pickle"), &Value::List(vec![caps(&TRAIN), caps(&TEST), ixtoword, wordtoix]));
    }
}

fn data(kind: &str, root: &Path) -> DataConfig {
    DataConfig { kind: kind.into(), path: Some(root.to_path_buf()), seed: 0, train_scenes: 0, test_scenes: 0 }
}

fn images(source: &DataSource) -> &t2i::data::image_dataset::ImageDataset {
    match source {
        DataSource::Images(d) => d,
        DataSource::Shapes(_) => panic!("not an image dataset"),
    }
}

#[test]
fn birds_load_with_the_pickle_vocabulary_crop_and_classes() {
    let root = scratch("birds");
    write_birds(&root, true);
    let train = DataSource::open(&data("birds", &root), Split::Train, vec![64, 128]).unwrap();
    assert_eq!((train.kind(), train.len()), ("birds", 6));
    // The vocabulary is the pickle's, ids as in ixtoword.
    let vocab = train.run_vocab();
    assert_eq!(vocab.words(), WORDS);
    assert_eq!(train.vocab(), Some(&vocab));
    let d = images(&train);
    assert_eq!(d.records.iter().map(|r| r.class_id).collect::<Vec<_>>(), [1, 1, 2, 2, 3, 3]);
    assert_eq!(d.records[0].captions.len(), 10);
    assert_eq!(d.records[0].captions[3], caption(TRAIN[0].0, 3));
    // 1.5× the box: [50, 40, 60, 40] → r 45 around (80, 60) → 90×90; clipped at a corner.
    assert_eq!(d.image(0).unwrap().dimensions(), (90, 90));
    assert_eq!(d.image(1).unwrap().dimensions(), (110, 90));

    // A training batch: every stage, values in [-1, 1], "same content" = same species.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let b = train.batch(&vocab, &mut rng, 8).unwrap();
    assert_eq!(b.len(), 8);
    assert_eq!(
        b.images.iter().map(|(s, v)| (*s, v.len())).collect::<Vec<_>>(),
        [(64, 8 * 3 * 64 * 64), (128, 8 * 3 * 128 * 128)]
    );
    for (_, v) in &b.images {
        assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert!(v.iter().any(|&x| x > 0.5) && v.iter().any(|&x| x < -0.5));
    }
    let color = |c: &str| ["red", "blue", "green"].into_iter().find(|w| c.contains(w)).unwrap();
    for i in 0..8 {
        for j in 0..8 {
            assert_eq!(b.same_class[i][j], color(&b.captions[i]) == color(&b.captions[j]), "{i} {j}");
        }
        assert_eq!(b.tokens[i], vocab.encode(&b.captions[i]).ids);
    }
    // Reproducible from the RNG; the evaluation view is deterministic.
    let again = train.batch(&vocab, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5), 8).unwrap();
    assert_eq!((again.images, again.captions), (b.images, b.captions));
    let t1 = train.batch_of(&vocab, &[(0, 0), (3, 4)]).unwrap();
    let t2 = train.batch_of(&vocab, &[(0, 0), (3, 4)]).unwrap();
    assert_eq!(t1.images, t2.images);
    assert_eq!(t1.captions[1], caption(TRAIN[3].0, 4));

    // The test split's filenames.pickle is a Python 2 pickle of byte strings.
    let test = DataSource::open(&data("birds", &root), Split::Test, vec![128]).unwrap();
    assert_eq!(test.len(), 4);
    assert_eq!(images(&test).records[2].name, TEST[2].0);
    assert_eq!(test.real_image(1, 128).unwrap().dimensions(), (128, 128));
    assert_eq!(test.eval_indices(&vocab, 0, 10), [0, 1, 2, 3]);
    // A cap keeps the first images only.
    let mut capped = data("birds", &root);
    capped.train_scenes = 2;
    assert_eq!(DataSource::open(&capped, Split::Train, vec![64]).unwrap().len(), 2);

    // Without captions.pickle the text files are read (empty lines skipped) and a vocabulary built.
    std::fs::remove_file(root.join("captions.pickle")).unwrap();
    let plain = DataSource::open(&data("birds", &root), Split::Train, vec![64]).unwrap();
    assert!(plain.vocab().is_none());
    assert_eq!(images(&plain).records[0].captions[3], caption(TRAIN[0].0, 3));
    let built = plain.run_vocab();
    assert_eq!(built, Vocab::build(plain.all_captions().iter().map(String::as_str), 1));
    assert!(built.id("bird").is_some() && built.id("this").is_none());
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn unreadable_images_are_skipped_and_counted() {
    let root = scratch("unreadable");
    write_birds(&root, true);
    std::fs::write(root.join("CUB_200_2011/images").join(format!("{}.jpg", TRAIN[2].0)), b"not a jpeg").unwrap();
    let train = DataSource::open(&data("birds", &root), Split::Train, vec![64]).unwrap();
    let vocab = train.run_vocab();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let b = train.batch(&vocab, &mut rng, 64).unwrap();
    assert_eq!(b.len(), 64);
    assert_eq!(train.unreadable_images(), 1);
    // Evaluation skips it too; an explicit request for it is an error naming the file.
    assert_eq!(train.eval_indices(&vocab, 0, 10), [0, 1, 3, 4, 5]);
    let e = train.batch_of(&vocab, &[(2, 0)]).unwrap_err().to_string();
    assert!(e.contains("Blue_bird_0003.jpg"), "{e}");
    // `t2i data check` decodes everything and reports it.
    let report = t2i::data::check::check("birds", &root).unwrap();
    assert_eq!(report.splits[0].unreadable, 1);
    assert_eq!((report.splits[0].images, report.splits[0].captions), (6, 60));
    assert_eq!((report.vocab_size, report.vocab_from_pickle), (WORDS.len(), true));
    let text = report.to_string();
    assert!(text.contains("birds train: 6 images, 60 captions, 1 unreadable"), "{text}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn bad_folders_are_errors_naming_the_file() {
    let root = scratch("errors");
    write_birds(&root, true);
    let open = |split| DataSource::open(&data("birds", &root), split, vec![64]).map(|_| ()).unwrap_err().to_string();
    let check = |e: String, needles: &[&str]| {
        for n in needles {
            assert!(e.contains(n), "{e:?} lacks {n:?}");
        }
    };
    std::fs::write(root.join("captions.pickle"), b"\x80\x02garbage").unwrap();
    check(open(Split::Train), &["captions.pickle", "not a readable pickle", "ixtoword"]);
    pickle(&root.join("captions.pickle"), &Value::Dict(Default::default()));
    check(open(Split::Train), &["captions.pickle", "expected a list [train_captions"]);
    std::fs::remove_file(root.join("captions.pickle")).unwrap();

    let txt = root.join("text").join(format!("{}.txt", TRAIN[1].0));
    std::fs::write(&txt, "a red bird\n\nwith wings\n").unwrap();
    check(open(Split::Train), &["Red_bird_0002.txt", "has 2 captions", "needs 10"]);
    std::fs::remove_file(&txt).unwrap();
    check(open(Split::Train), &["Red_bird_0002.txt", "cannot read"]);

    std::fs::remove_file(root.join("test/filenames.pickle")).unwrap();
    check(open(Split::Test), &["test/filenames.pickle", "file stems"]);
    write_birds(&root, false);
    std::fs::remove_file(root.join("CUB_200_2011/bounding_boxes.txt")).unwrap();
    check(open(Split::Train), &["bounding_boxes.txt"]);
    write_birds(&root, false);
    std::fs::remove_file(root.join("CUB_200_2011/images").join(format!("{}.jpg", TRAIN[4].0))).unwrap();
    check(open(Split::Train), &["Green_bird_0005.jpg", "is missing"]);
    check(
        DataSource::open(&data("birds", &root.join("nope")), Split::Train, vec![64])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        &["nope", "not a folder"],
    );
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn coco_and_folder_layouts_load() {
    // COCO: images/<stem>.jpg, 5 captions per image, no crop, every image its own class.
    let root = scratch("coco");
    let stems = ["COCO_train2014_000000000009", "COCO_train2014_000000000025", "COCO_train2014_000000000030"];
    for (i, stem) in stems.iter().enumerate() {
        jpeg(&root.join("images").join(format!("{stem}.jpg")), 80 + 20 * i as u32, 60, [200, 100, 50]);
        let caps: Vec<String> = (0..6).map(|k| format!("a plate of food number {k} on a table {i}")).collect();
        let p = root.join("text").join(format!("{stem}.txt"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, caps.join("\n")).unwrap();
    }
    pickle(
        &root.join("train/filenames.pickle"),
        &Value::List(stems.iter().map(|s| Value::String(s.to_string())).collect()),
    );
    let train = DataSource::open(&data("coco", &root), Split::Train, vec![64]).unwrap();
    let d = images(&train);
    assert_eq!(d.records.iter().map(|r| r.class_id).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(d.records[1].captions.len(), 5);
    assert_eq!(d.image(2).unwrap().dimensions(), (120, 60));
    let vocab = train.run_vocab();
    let b = train.batch(&vocab, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2), 4).unwrap();
    assert_eq!(b.images[0].1.len(), 4 * 3 * 64 * 64);
    std::fs::remove_dir_all(&root).ok();

    // The plain folder format, with explicit and hashed splits.
    let root = scratch("folder");
    jpeg(&root.join("pics/a.jpg"), 70, 90, [10, 200, 10]);
    jpeg(&root.join("pics/b.jpg"), 90, 70, [200, 10, 10]);
    RgbImage::from_pixel(64, 64, image::Rgb([1, 2, 3])).save(root.join("c.png")).unwrap();
    let lines = [
        r#"{"file": "pics/a.jpg", "captions": ["a green square", "green box"], "split": "train"}"#,
        "",
        r#"{"file": "pics/b.jpg", "captions": ["a red square", "!!"], "split": "test", "note": "ignored"}"#,
        r#"{"file": "c.png", "captions": ["a dark picture"]}"#,
    ];
    std::fs::write(root.join("captions.jsonl"), lines.join("\n")).unwrap();
    let train = DataSource::open(&data("folder", &root), Split::Train, vec![64]).unwrap();
    let test = DataSource::open(&data("folder", &root), Split::Test, vec![64]).unwrap();
    let c_split = t2i::data::folder::default_split("c.png");
    assert_eq!(train.len() + test.len(), 3);
    assert_eq!(train.len(), 1 + (c_split == Split::Train) as usize);
    assert_eq!(images(&test).records[0].captions, ["a red square"]);
    let vocab = train.run_vocab();
    assert!(vocab.id("green").is_some());
    train.batch(&vocab, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3), 3).unwrap();
    // Bad lines are errors with their line number.
    for (line, needle) in [
        (r#"{"file": "pics/a.jpg"}"#, "line 2: missing field `captions`"),
        (r#"{"file": "pics/zz.jpg", "captions": ["x"]}"#, "line 2: image"),
        (r#"{"file": "../a.jpg", "captions": ["x"]}"#, "line 2: file"),
        (r#"{"file": "pics/a.jpg", "captions": ["x"], "split": "val"}"#, "line 2: split \"val\""),
        (r#"{"file": "pics/a.jpg", "captions": []}"#, "line 2: pics/a.jpg has no caption"),
        ("not json", "line 2:"),
    ] {
        std::fs::write(root.join("captions.jsonl"), format!("{}\n{line}\n", lines[0])).unwrap();
        let e = DataSource::open(&data("folder", &root), Split::Train, vec![64]).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("captions.jsonl") && e.contains(needle), "{e:?} lacks {needle:?}");
    }
    std::fs::remove_file(root.join("captions.jsonl")).unwrap();
    let e = DataSource::open(&data("folder", &root), Split::Train, vec![64]).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("captions.jsonl") && e.contains("cannot read"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

/// The only test here that trains (backend seeding is process-wide).
#[test]
fn damsm_and_gan_train_and_evaluate_on_fake_birds() {
    use t2i::eval::evaluate::{EvalOptions, evaluate};
    use t2i::pipeline::Pipeline;
    use t2i::train::TrainOptions;
    use t2i::train::damsm::{load_damsm, train_damsm};
    use t2i::train::gan::train_gan;
    use t2i::{CpuBackend as B, CpuTrainBackend as AD};

    let root = scratch("train");
    let birds = root.join("birds");
    write_birds(&birds, true);
    let mut cfg = RunConfig::preset("tiny").unwrap();
    cfg.data = data("birds", &birds);
    cfg.validate().unwrap();
    cfg.train.batch_size = 4;
    cfg.train.damsm_steps = 3;
    cfg.train.gan_steps = 2;
    cfg.train.sample_every = 2;
    cfg.train.checkpoint_every = 0;
    cfg.train.eval_every = 2;
    cfg.train.eval_scenes = 4;
    let dev = Default::default();

    let damsm = root.join("damsm");
    let s = train_damsm::<AD>(&cfg, &TrainOptions::new(&damsm), &dev).unwrap();
    assert_eq!(s.step, 3);
    assert!(s.last_losses.iter().all(|(_, v)| v.is_finite()), "{:?}", s.last_losses);
    assert!(s.last_losses.iter().any(|(k, _)| k == "r_precision"));
    assert_eq!(Vocab::load(&damsm.join("vocab.json")).unwrap().words(), WORDS);
    assert!(damsm.join("checkpoint.t2i").is_file());

    let gan = root.join("gan");
    let s = train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&gan), &dev).unwrap();
    assert_eq!((s.step, s.skipped_images), (2, 0));
    assert!(s.last_losses.iter().all(|(_, v)| v.is_finite()), "{:?}", s.last_losses);
    assert!(gan.join("checkpoint.t2i").is_file());
    assert!(gan.join("samples/step_0000002.png").is_file());
    let log = std::fs::read_to_string(gan.join("metrics.jsonl")).unwrap();
    let eval: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r.get("eval").is_some())
        .unwrap()["eval"]
        .clone();
    assert_eq!(eval["dataset"], "birds");
    assert!(eval["stages"][1]["r_precision"].as_f64().is_some());
    assert!(eval["stages"][1].get("all").is_none());

    // `t2i eval` on the GAN run with the DAMSM run's encoders: no judge, R-precision and FID.
    let pipe = Pipeline::<B>::load(&gan, &dev).unwrap();
    let encoders = load_damsm::<B>(&damsm, &dev).unwrap();
    let opts = EvalOptions { scenes: 4, diversity_captions: 2, diversity_seeds: 2, ..Default::default() };
    let report = evaluate(&pipe, Some(&encoders), &cfg.data, &opts).unwrap();
    assert_eq!(report.scenes, 4);
    let last = report.stages.last().unwrap();
    assert!(last.r_precision.is_some() && last.fid_damsm.is_some_and(f64::is_finite));
    assert!(report.stages.iter().all(|s| s.all.is_none() && s.diversity.is_finite()));
    let table = report.table();
    assert!(table.contains("n/a: not a Shapes dataset") && table.contains("4 birds test images"), "{table}");
    assert!(report.real_summary().contains("R-precision"));
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn captions_pickle_reads_the_parity_fixture() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/attngan_parity/captions.pickle");
    let c = t2i::data::captions_pickle::CaptionsPickle::load(&fixture).unwrap();
    assert_eq!(c.vocab.len(), 20);
    assert_eq!((c.vocab.words()[0].as_str(), c.vocab.words()[2].as_str()), ("<end>", "bird"));
    assert_eq!((c.train.len(), c.test.len()), (5, 2));
    assert_eq!(c.text(&c.test[0]), "a bird with red wings and yellow belly");
}
