//! Every model the page offers (weights/index.json) loads through the checked export path,
//! stays inside the page's 10 MB weight budget, and draws every image its config promises.

use std::path::Path;

use t2i::CpuBackend as B;
use t2i::pipeline::{GenerateOptions, Pipeline};

const BUDGET: u64 = 10 * 1000 * 1000;

#[test]
fn every_listed_model_loads_fits_and_generates() {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(weights.join("index.json")).unwrap()).unwrap();
    let models = index["models"].as_array().expect("index.json lists models");
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().expect("every model has an id")).collect();
    let default = index["default"].as_str().expect("index.json names a default");
    assert!(ids.contains(&default), "default {default} is not listed");
    for id in ids {
        let dir = weights.join(id);
        let bytes = std::fs::metadata(dir.join("model.safetensors")).unwrap().len();
        assert!(bytes <= BUDGET, "{id}: {bytes} bytes of weights exceed the page's budget");
        assert!(dir.join("MODEL_CARD.md").is_file(), "{id} has no model card");
        let pipe = Pipeline::<B>::load(&dir, &Default::default()).unwrap_or_else(|e| panic!("{id}: {e}"));
        let g = pipe.generate("a small red circle", GenerateOptions { seed: 1, use_mean: false }).unwrap();
        let sides: Vec<usize> = g.stages.iter().map(|s| s.width() as usize).collect();
        assert_eq!(sides, pipe.config.gan.output_sizes(), "{id}");
        // The layout model shows its boxes and masks instead of word maps.
        assert_eq!(g.layout.is_some(), pipe.config.gan.is_layout(), "{id}");
    }
}
