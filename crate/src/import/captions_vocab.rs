//! The vocabulary of an AttnGAN `captions.pickle`: `[train_captions, test_captions,
//! ixtoword, wordtoix]`, pickled with protocol 2. `ixtoword` (id → word, id 0 = `<end>`)
//! becomes a [`Vocab`] with the same ids, so imported embeddings line up.

use std::collections::BTreeMap;
use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

/// Read `ixtoword` from a captions.pickle.
pub fn vocab_from_captions_pickle(path: &Path) -> Result<Vocab> {
    let bad = |msg: String| Error::Other(format!("{}: {msg}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let value: Value = serde_pickle::value_from_slice(&bytes, DeOptions::new().decode_strings())
        .map_err(|e| bad(format!("not a readable pickle: {e}")))?;
    let items = match value {
        Value::List(v) | Value::Tuple(v) if v.len() >= 3 => v,
        _ => return Err(bad("expected a list [train_captions, test_captions, ixtoword, wordtoix]".into())),
    };
    let Value::Dict(ixtoword) = &items[2] else {
        return Err(bad("the third entry (ixtoword) is not a dict".into()));
    };
    let mut words = BTreeMap::new();
    for (k, v) in ixtoword {
        let id = match k {
            HashableValue::I64(i) if *i >= 0 => *i as usize,
            other => return Err(bad(format!("ixtoword key {other:?} is not a word id"))),
        };
        let word = match v {
            Value::String(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => return Err(bad(format!("ixtoword[{id}] = {other:?} is not a word"))),
        };
        words.insert(id, word);
    }
    if let Some((pos, (id, _))) = words.iter().enumerate().find(|(pos, (id, _))| *pos != **id) {
        return Err(bad(format!("ixtoword ids are not 0..{}: id {pos} is missing (next is {id})", words.len())));
    }
    Vocab::from_words(words.into_values().collect()).map_err(|e| bad(format!("ixtoword: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parity_fixture_and_rejects_junk() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/attngan_parity/captions.pickle");
        let v = vocab_from_captions_pickle(&fixture).unwrap();
        assert_eq!(v.len(), 20);
        assert_eq!(v.words()[0], "<end>");
        assert_eq!(v.words()[2], "bird");
        let junk = std::env::temp_dir().join(format!("t2i-junk-{}.pickle", std::process::id()));
        std::fs::write(&junk, b"\x80\x02junk").unwrap();
        let e = vocab_from_captions_pickle(&junk).unwrap_err().to_string();
        assert!(e.contains("not a readable pickle"), "{e}");
        std::fs::remove_file(&junk).ok();
    }
}
