//! The layout model (Hong et al. 2018) on Shapes at tiny widths: a short run lowers each
//! stage's own loss (box NLL, mask reconstruction, image perceptual distance), a resumed run
//! replays the uninterrupted one, and the exported model draws boxes, masks inside them and
//! the image. Its own test binary: backend seeding is process-wide.

mod common;

use common::{logged, mean, quick_damsm, scratch};
use t2i::config::RunConfig;
use t2i::pipeline::{GenerateOptions, Pipeline};
use t2i::train::TrainOptions;
use t2i::train::gan::train_gan;
use t2i::weights::WeightDtype;
use t2i::{CpuBackend as B, CpuTrainBackend as AD};

fn tiny_layout() -> RunConfig {
    let mut cfg = RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny-layout.toml")).unwrap();
    cfg.train.batch_size = 8;
    cfg
}

#[test]
fn each_stage_learns_and_the_export_draws_boxes_masks_and_image() {
    let root = scratch("layout-training");
    let dev = Default::default();
    let mut cfg = tiny_layout();
    let damsm = quick_damsm(&mut cfg, &root);
    cfg.train.gan_steps = 40;
    cfg.train.lr_g = 2e-3;
    let run = root.join("layout");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&run), &dev).unwrap();
    for key in ["box_nll", "box_label_nll", "mask_l1", "perceptual"] {
        let v = logged(&run, key);
        assert_eq!(v.len(), 40, "{key}");
        let (first, last) = (mean(&v[..5]), mean(&v[35..]));
        assert!(last < first, "{key}: {first:.4} → {last:.4}: {v:?}");
    }

    // Export and generate from the files.
    let out = root.join("export");
    let report = t2i::export::export_run(&run, &out, "layout", WeightDtype::F32, "test", "", 0).unwrap();
    assert_eq!(report.max_pixel_diff, 0, "export does not reproduce the run");
    let pipe = Pipeline::<B>::load(&out, &dev).unwrap();
    let lc = pipe.config.layout.clone().unwrap();
    for seed in 0..6 {
        let g = pipe
            .generate("a small red circle above a big blue square", GenerateOptions { seed, use_mean: false })
            .unwrap();
        assert_eq!(g.stages.iter().map(|s| s.width()).collect::<Vec<_>>(), vec![64]);
        let view = g.layout.as_ref().expect("the layout model reports its layout");
        assert!((1..=lc.max_objects).contains(&view.boxes.len()), "{:?}", view.boxes);
        assert_eq!((view.labels.len(), view.masks.len()), (view.boxes.len(), view.boxes.len()));
        for ((b, label), m) in view.boxes.iter().zip(&view.labels).zip(&view.masks) {
            assert_eq!(label, &lc.classes[b.class]);
            assert!(b.bbox[0] < b.bbox[2] && b.bbox[1] < b.bbox[3] && b.bbox.iter().all(|v| (0.0..=1.0).contains(v)));
            let [x0, y0, x1, y1] = b.cells(m.w);
            for y in 0..m.h {
                for x in 0..m.w {
                    let v = m.data[y * m.w + x];
                    assert!((0.0..=1.0).contains(&v));
                    if !(x0..x1).contains(&x) || !(y0..y1).contains(&y) {
                        assert_eq!(v, 0.0, "mask outside its box at ({x},{y})");
                    }
                }
            }
        }
        // The same seed draws the same layout.
        let again = pipe
            .generate("a small red circle above a big blue square", GenerateOptions { seed, use_mean: false })
            .unwrap();
        assert_eq!(again.layout, g.layout);
        assert!(g.timings.iter().any(|(k, _)| k == "boxes"));
    }

    // Resuming replays the uninterrupted run (2 + 2 steps vs 4).
    cfg.train.gan_steps = 4;
    cfg.train.checkpoint_every = 2;
    let a = root.join("a");
    train_gan::<AD>(&cfg, Some(&damsm), &TrainOptions::new(&a), &dev).unwrap();
    let b = root.join("b");
    let mut ob = TrainOptions::new(&b);
    ob.max_steps = Some(2);
    assert_eq!(train_gan::<AD>(&cfg, Some(&damsm), &ob, &dev).unwrap().step, 2);
    let mut ob = TrainOptions::new(&b);
    ob.resume = true;
    assert_eq!(train_gan::<AD>(&cfg, None, &ob, &dev).unwrap().step, 4);
    let draw = |dir: &std::path::Path| {
        Pipeline::<B>::load(dir, &dev)
            .unwrap()
            .generate("a big green star", GenerateOptions { seed: 3, use_mean: false })
            .unwrap()
    };
    let (ga, gb) = (draw(&a), draw(&b));
    assert_eq!(ga.layout.as_ref().map(|l| l.boxes.len()), gb.layout.as_ref().map(|l| l.boxes.len()));
    let max = ga.stages[0].as_raw().iter().zip(gb.stages[0].as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(max <= 1, "resumed layout run diverged: max pixel diff {max}");

    // Other data than Shapes has no boxes: a clear error, nothing written.
    let mut bad = cfg.clone();
    bad.data.kind = "folder".into();
    bad.data.path = Some(root.join("nowhere"));
    let err = train_gan::<AD>(&bad, Some(&damsm), &TrainOptions::new(&root.join("bad")), &dev).unwrap_err().to_string();
    assert!(err.contains("data.kind") && err.contains("Shapes"), "{err}");
    assert!(!root.join("bad").exists());
    std::fs::remove_dir_all(&root).ok();
}
