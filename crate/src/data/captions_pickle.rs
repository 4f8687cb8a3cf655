//! AttnGAN's `captions.pickle`: `[train_captions, test_captions, ixtoword, wordtoix]`
//! (`datasets.py`, `TextDataset.load_text_data`, pickled with protocol 2). Captions are lists
//! of word ids, `embeddings_num` consecutive captions per image in `filenames.pickle` order;
//! `ixtoword` maps id → word with id 0 = `"<end>"`.
//!
//! Its vocabulary is used as is: ids equal `ixtoword`'s keys, so checkpoints trained on the
//! same pickle (or imported from the official ones) line up.

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::pickle_read::{self, items, key_int, text, type_name};
use crate::data::shapes::Split;
use crate::error::{Error, Result};
use crate::text::vocab::Vocab;

const EXPECTED: &str = "a list [train_captions, test_captions, ixtoword, wordtoix] (AttnGAN's captions.pickle)";

/// The contents of a `captions.pickle`.
#[derive(Clone, Debug)]
pub struct CaptionsPickle {
    /// Word ids of every training caption.
    pub train: Vec<Vec<u32>>,
    /// Word ids of every test caption.
    pub test: Vec<Vec<u32>>,
    /// `ixtoword` as a vocabulary with the same ids.
    pub vocab: Vocab,
}

impl CaptionsPickle {
    /// Reads and validates `path`; every error names it.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::data(path, msg);
        let value = pickle_read::load(path, EXPECTED)?;
        let parts = items(&value).filter(|p| p.len() >= 3).ok_or_else(|| {
            bad(format!("holds a Python {} (or too short a list), expected {EXPECTED}", type_name(&value)))
        })?;
        let vocab = ixtoword_vocab(&parts[2]).map_err(|m| bad(format!("ixtoword (third entry): {m}")))?;
        let n = vocab.len();
        let train = caption_ids(&parts[0], n).map_err(|m| bad(format!("train_captions (first entry): {m}")))?;
        let test = caption_ids(&parts[1], n).map_err(|m| bad(format!("test_captions (second entry): {m}")))?;
        Ok(Self { train, test, vocab })
    }

    /// The captions of a split.
    pub fn split(&self, split: Split) -> &[Vec<u32>] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// A caption's words joined by spaces (for display; re-encoding gives the same ids).
    pub fn text(&self, ids: &[u32]) -> String {
        ids.iter().filter_map(|&id| self.vocab.word(id)).collect::<Vec<_>>().join(" ")
    }
}

/// `ixtoword` → vocabulary; ids must be exactly 0..n-1 with 0 = `"<end>"`.
fn ixtoword_vocab(v: &serde_pickle::Value) -> std::result::Result<Vocab, String> {
    let serde_pickle::Value::Dict(dict) = v else {
        return Err(format!("is a Python {}, expected a dict id → word", type_name(v)));
    };
    let mut words = BTreeMap::new();
    for (k, w) in dict {
        let id = key_int(k).filter(|&i| i >= 0).ok_or_else(|| format!("key {k:?} is not a word id"))?;
        let word = text(w).ok_or_else(|| format!("ixtoword[{id}] is a Python {}, not a word", type_name(w)))?;
        words.insert(id, word);
    }
    if let Some((pos, id)) = words.keys().enumerate().find(|(pos, id)| *pos as i64 != **id) {
        return Err(format!("ids are not 0..{}: id {pos} is missing (next id is {id})", words.len()));
    }
    Vocab::from_words(words.into_values().collect()).map_err(|e| e.to_string())
}

/// A list of captions, each a list of word ids below `n_words`.
fn caption_ids(v: &serde_pickle::Value, n_words: usize) -> std::result::Result<Vec<Vec<u32>>, String> {
    let list = items(v).ok_or_else(|| format!("is a Python {}, expected a list of captions", type_name(v)))?;
    list.iter()
        .enumerate()
        .map(|(c, cap)| {
            let ids = items(cap).ok_or_else(|| format!("caption {c} is a Python {}, not a list", type_name(cap)))?;
            ids.iter()
                .map(|id| match pickle_read::int(id) {
                    Some(i) if (0..n_words as i64).contains(&i) => Ok(i as u32),
                    _ => Err(format!("caption {c} holds {id:?}, not a word id below {n_words} (ixtoword's size)")),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_pickle::{HashableValue, SerOptions, Value};

    fn write(name: &str, v: &Value) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("t2i-capp-{name}-{}.pickle", std::process::id()));
        std::fs::write(&p, serde_pickle::value_to_vec(v, SerOptions::new().proto_v2()).unwrap()).unwrap();
        p
    }

    fn ixtoword(words: &[(i64, &str)]) -> Value {
        Value::Dict(words.iter().map(|(i, w)| (HashableValue::I64(*i), Value::Bytes(w.as_bytes().to_vec()))).collect())
    }

    fn caps(c: &[&[i64]]) -> Value {
        Value::List(c.iter().map(|ids| Value::List(ids.iter().map(|&i| Value::I64(i)).collect())).collect())
    }

    #[test]
    fn loads_ids_and_vocabulary_as_is() {
        let words = ixtoword(&[(0, "<end>"), (1, "bird"), (2, "red")]);
        let v = Value::List(vec![caps(&[&[2, 1]]), caps(&[&[1]]), words, Value::Dict(Default::default())]);
        let p = write("ok", &v);
        let c = CaptionsPickle::load(&p).unwrap();
        assert_eq!(c.vocab.words(), ["<end>", "bird", "red"]);
        assert_eq!(c.split(Split::Train), [vec![2, 1]]);
        assert_eq!(c.text(&c.test[0]), "bird");
        std::fs::remove_file(&p).ok();
    }

    #[test]
    fn rejects_bad_ids_and_shapes() {
        let cases = [
            (ixtoword(&[(0, "<end>"), (2, "red")]), caps(&[]), "id 1 is missing"),
            (ixtoword(&[(0, "bird"), (1, "<end>")]), caps(&[]), "<end>"),
            (ixtoword(&[(0, "<end>"), (1, "bird")]), caps(&[&[5]]), "below 2"),
        ];
        for (i, (words, train, want)) in cases.into_iter().enumerate() {
            let p = write(&format!("bad{i}"), &Value::List(vec![train, caps(&[]), words]));
            let e = CaptionsPickle::load(&p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(&p.display().to_string()), "{e}");
            std::fs::remove_file(&p).ok();
        }
        let p = write("dict", &Value::Dict(Default::default()));
        let e = CaptionsPickle::load(&p).unwrap_err().to_string();
        assert!(e.contains("expected a list [train_captions"), "{e}");
        std::fs::remove_file(&p).ok();
    }
}
