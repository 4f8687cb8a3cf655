//! The counterfactual-caption probe (`t2i probe`) on the shipped Shapes model's training state
//! (weights/shapes-attngan/training): its trained DAMSM encoders must prefer the true caption
//! to one with a changed colour, size or background on nearly every real scene, and every
//! stage discriminator gets a column. The position row's split by scene (one object, a pair
//! of different or of equal sizes) covers its scenes exactly once.

use std::path::Path;

use t2i::CpuBackend as B;
use t2i::eval::counterfactual::{Attribute, ProbedDiscriminators, Subset, counterfactual_probe};
use t2i::train::damsm::damsm_from_run;
use t2i::train::run_dir::RunDir;

#[test]
fn trained_encoders_see_the_salient_attributes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/shapes-attngan/training");
    let run = RunDir::open(&dir).expect("the shipped training state opens");
    let dev = Default::default();
    let damsm = damsm_from_run::<B>(&run, &dev).expect("DAMSM encoders load");
    let m = run.model_config();
    let disc = ProbedDiscriminators::<B>::from_run(&run, &damsm.vocab, &dev).expect("discriminators load");
    assert!(disc.is_some(), "the training state holds discriminators");
    let source = t2i::train::test_source(&run.config, vec![m.damsm.image_size]).expect("test split");
    let scenes = 96;
    let report = counterfactual_probe(&damsm, disc, &source, scenes, &dev).expect("the probe runs");
    println!("{}", report.table());
    assert_eq!(report.discriminator_sizes, vec![64, 128]);
    let split: usize = report.rows.iter().filter(|r| r.subset != Subset::All).map(|r| r.scenes).sum();
    assert_eq!(split, scenes, "{}", report.table());
    for row in &report.rows {
        // Every caption names a colour, shape, size and position; about half a background.
        if row.subset != Subset::All {
            assert_eq!(row.attribute, Attribute::Position);
            assert!(row.scenes > scenes / 10, "{row:?}");
        } else if row.attribute == Attribute::Background {
            assert!(row.scenes > scenes / 4 && row.scenes < scenes, "{row:?}");
        } else {
            assert_eq!(row.scenes, scenes, "{row:?}");
        }
        let all = [row.damsm_sentence, row.damsm_words].into_iter().chain(row.discriminators.iter().copied());
        assert!(all.into_iter().all(|v| (0.0..=1.0).contains(&v)), "{row:?}");
        assert!(row.sentence_change >= 0.0 && row.sentence_change <= 2.0, "{row:?}");
        if matches!(row.attribute, Attribute::Color | Attribute::Size | Attribute::Background) {
            assert!(row.damsm_sentence >= 0.9 && row.sentence_change > 0.1, "{row:?}");
        }
    }
}
