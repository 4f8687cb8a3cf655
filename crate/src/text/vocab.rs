//! Word vocabulary built from training captions, stored as JSON (`{"words": [...]}`).
//!
//! Id 0 is reserved for padding / end of caption (`"<end>"`, AttnGAN's `ixtoword[0]`).
//! Other words are ordered by descending frequency, ties alphabetically, so building
//! from the same captions always gives the same ids.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tokenizer::{MAX_WORDS, tokenize_all};

/// The reserved word at id 0.
pub const END: &str = "<end>";

/// Errors from building, parsing, loading or saving a [`Vocab`].
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// Reading or writing a vocabulary file failed.
    #[error("vocabulary file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid vocabulary JSON.
    #[error("invalid vocabulary JSON{}: {source}", at_path(.path))]
    Json {
        path: Option<PathBuf>,
        #[source]
        source: serde_json::Error,
    },
    /// The word list breaks a vocabulary rule.
    #[error("invalid vocabulary: {0}")]
    Invalid(String),
}

fn at_path(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default()
}

/// On-disk form of a vocabulary.
#[derive(Deserialize)]
struct VocabFile {
    words: Vec<String>,
}

impl TryFrom<VocabFile> for Vocab {
    type Error = VocabError;
    fn try_from(file: VocabFile) -> Result<Self, Self::Error> {
        Vocab::from_words(file.words)
    }
}

/// Word ↔ id mapping; `words()[id]` is the word of `id`, `words()[0] == "<end>"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VocabFile")]
pub struct Vocab {
    words: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// A caption mapped to ids. Unknown words are never silently lost: they are listed
/// with their position.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Encoded {
    /// Ids of known words, in caption order, at most [`MAX_WORDS`]; never 0.
    pub ids: Vec<u32>,
    /// Every word of the caption after tokenization (not truncated).
    pub tokens: Vec<String>,
    /// Unknown words, every occurrence, in caption order.
    pub unknown: Vec<String>,
    /// Index in `tokens` of each entry of `unknown`.
    pub unknown_at: Vec<usize>,
    /// True when more than [`MAX_WORDS`] known words were present and the tail was dropped.
    pub truncated: bool,
    /// For each id, the index of its word in `tokens`.
    pub kept: Vec<usize>,
}

impl Vocab {
    /// Builds a vocabulary from captions, keeping words seen at least `min_count` times.
    ///
    /// Every word of every caption is counted (no [`MAX_WORDS`] limit), as in AttnGAN.
    pub fn build<'a>(captions: impl IntoIterator<Item = &'a str>, min_count: usize) -> Vocab {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for caption in captions {
            for word in tokenize_all(caption) {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> =
            counts.into_iter().filter(|(w, c)| *c >= min_count && w != END).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let words = std::iter::once(END.to_owned()).chain(ranked.into_iter().map(|(w, _)| w)).collect();
        Vocab::from_words(words).expect("built vocabulary is valid")
    }

    /// Makes a vocabulary from an ordered word list: the first word must be `"<end>"`,
    /// words must be non-empty and distinct.
    pub fn from_words(words: Vec<String>) -> Result<Vocab, VocabError> {
        match words.first() {
            None => {
                return Err(VocabError::Invalid(format!("word list is empty; the first word must be {END:?}")));
            }
            Some(first) if first != END => {
                return Err(VocabError::Invalid(format!("the first word must be {END:?} (id 0), found {first:?}")));
            }
            Some(_) => {}
        }
        if u32::try_from(words.len()).is_err() {
            return Err(VocabError::Invalid(format!("{} words do not fit in u32 ids", words.len())));
        }
        let mut index = HashMap::with_capacity(words.len());
        for (id, word) in words.iter().enumerate() {
            if word.is_empty() {
                return Err(VocabError::Invalid(format!("word {id} is empty")));
            }
            if let Some(prev) = index.insert(word.clone(), id as u32) {
                return Err(VocabError::Invalid(format!("duplicate word {word:?} at ids {prev} and {id}")));
            }
        }
        Ok(Vocab { words, index })
    }

    /// Number of words, including `"<end>"`.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Always false for a valid vocabulary (it holds at least `"<end>"`).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Id of `word`, if known.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// Word of `id`, if in range.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// All words; position = id.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Tokenizes `caption` and maps its words to ids.
    ///
    /// As in AttnGAN, unknown words are dropped from `ids` first and then the known ones
    /// are cut to [`MAX_WORDS`]; dropped unknown words are reported in `unknown`.
    /// `"<end>"` is never produced (id 0 is padding only).
    pub fn encode(&self, caption: &str) -> Encoded {
        let tokens = tokenize_all(caption);
        let mut enc = Encoded::default();
        for (pos, token) in tokens.iter().enumerate() {
            match self.id(token).filter(|&id| id != 0) {
                Some(id) if enc.ids.len() < MAX_WORDS => {
                    enc.ids.push(id);
                    enc.kept.push(pos);
                }
                Some(_) => enc.truncated = true,
                None => {
                    enc.unknown.push(token.clone());
                    enc.unknown_at.push(pos);
                }
            }
        }
        enc.tokens = tokens;
        enc
    }

    /// Pretty JSON: `{"words": [...]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a word list always serializes")
    }

    /// Parses and validates JSON written by [`Vocab::to_json`].
    pub fn from_json(text: &str) -> Result<Vocab, VocabError> {
        let file: VocabFile = serde_json::from_str(text).map_err(|source| VocabError::Json { path: None, source })?;
        Vocab::from_words(file.words)
    }

    /// Writes the JSON to `path` atomically (via `path.tmp` and a rename).
    pub fn save(&self, path: &Path) -> Result<(), VocabError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(self.to_json().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(VocabError::Io { path: tmp, source });
        }
        fs::rename(&tmp, path).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            VocabError::Io { path: path.to_owned(), source }
        })
    }

    /// Reads and validates a vocabulary file; errors name the path.
    pub fn load(path: &Path) -> Result<Vocab, VocabError> {
        let text = fs::read_to_string(path).map_err(|source| VocabError::Io { path: path.to_owned(), source })?;
        Vocab::from_json(&text).map_err(|e| match e {
            VocabError::Json { source, .. } => VocabError::Json { path: Some(path.to_owned()), source },
            VocabError::Invalid(msg) => VocabError::Invalid(format!("{}: {msg}", path.display())),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTIONS: [&str; 3] = ["A red circle on a blue square.", "a small red bird", "Blue square, red circle"];

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("t2i_vocab_test_{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn build_orders_by_count_then_alpha() {
        let v = Vocab::build(CAPTIONS, 0);
        // red 3, a 3, blue 2, circle 2, square 2, bird 1, on 1, small 1
        assert_eq!(v.words(), ["<end>", "a", "red", "blue", "circle", "square", "bird", "on", "small"]);
        assert_eq!(v.id("<end>"), Some(0));
        assert_eq!(v.word(0), Some("<end>"));
        assert_eq!(v.id("red"), Some(2));
        assert_eq!(v.word(2), Some("red"));
        assert_eq!(v.word(99), None);
        assert_eq!(v.id("zebra"), None);
        assert_eq!(v.len(), 9);
        assert!(!v.is_empty());
        // Deterministic regardless of caption order.
        let rev: Vec<&str> = CAPTIONS.iter().rev().copied().collect();
        assert_eq!(Vocab::build(rev, 0), v);
    }

    #[test]
    fn build_min_count_and_empty() {
        let v = Vocab::build(CAPTIONS, 2);
        assert_eq!(v.words(), ["<end>", "a", "red", "blue", "circle", "square"]);
        let empty = Vocab::build(std::iter::empty(), 1);
        assert_eq!(empty.words(), ["<end>"]);
    }

    #[test]
    fn json_round_trip() {
        let v = Vocab::build(CAPTIONS, 0);
        let json = v.to_json();
        assert!(json.contains("\"words\""));
        let back = Vocab::from_json(&json).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.id("circle"), v.id("circle"));
        // Generic serde path rebuilds the index too.
        let via_serde: Vocab = serde_json::from_str(&json).unwrap();
        assert_eq!(via_serde.id("square"), v.id("square"));

        let path = scratch("vocab.json");
        v.save(&path).unwrap();
        assert!(!path.with_extension("json.tmp").exists());
        assert_eq!(Vocab::load(&path).unwrap(), v);
    }

    #[test]
    fn validation_errors() {
        let err = Vocab::from_words(vec!["red".into(), "<end>".into()]).unwrap_err();
        assert!(matches!(err, VocabError::Invalid(_)));
        assert!(err.to_string().contains("first word must be \"<end>\""), "{err}");

        let err = Vocab::from_words(vec!["<end>".into(), "red".into(), "red".into()]).unwrap_err();
        assert!(err.to_string().contains("duplicate word \"red\" at ids 1 and 2"), "{err}");

        let err = Vocab::from_words(vec!["<end>".into(), String::new()]).unwrap_err();
        assert!(err.to_string().contains("word 1 is empty"), "{err}");

        let err = Vocab::from_words(vec![]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");

        let err = Vocab::from_json(r#"{"words": ["<end>", "a", "<end>"]}"#).unwrap_err();
        assert!(matches!(err, VocabError::Invalid(_)), "{err}");
        assert!(serde_json::from_str::<Vocab>(r#"{"words": ["a"]}"#).is_err());
    }

    #[test]
    fn load_errors_name_the_path() {
        let path = scratch("corrupt.json");
        fs::write(&path, "{\"words\": [\"<end>\", ").unwrap();
        let err = Vocab::load(&path).unwrap_err();
        assert!(matches!(err, VocabError::Json { path: Some(_), .. }), "{err}");
        assert!(err.to_string().contains("corrupt.json"), "{err}");

        let path = scratch("wrong_first.json");
        fs::write(&path, r#"{"words": ["a", "<end>"]}"#).unwrap();
        let err = Vocab::load(&path).unwrap_err();
        assert!(matches!(err, VocabError::Invalid(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("wrong_first.json") && msg.contains("first word"), "{msg}");

        let path = scratch("dupes.json");
        fs::write(&path, r#"{"words": ["<end>", "a", "b", "a"]}"#).unwrap();
        let msg = Vocab::load(&path).unwrap_err().to_string();
        assert!(msg.contains("dupes.json") && msg.contains("duplicate word \"a\""), "{msg}");

        let missing = scratch("missing.json");
        let err = Vocab::load(&missing).unwrap_err();
        assert!(matches!(err, VocabError::Io { .. }));
        assert!(err.to_string().contains("missing.json"), "{err}");
    }

    #[test]
    fn encode_reports_unknown_words() {
        let v = Vocab::build(CAPTIONS, 0);
        let e = v.encode("A RED zebra on a purple <end> zebra");
        assert_eq!(e.tokens, ["a", "red", "zebra", "on", "a", "purple", "end", "zebra"]);
        assert_eq!(e.ids, [1, 2, 7, 1]);
        assert_eq!(e.kept, [0, 1, 3, 4]);
        assert_eq!(e.unknown, ["zebra", "purple", "end", "zebra"]);
        assert_eq!(e.unknown_at, [2, 5, 6, 7]);
        assert!(!e.truncated);
        for (&id, &pos) in e.ids.iter().zip(&e.kept) {
            assert_eq!(v.word(id), Some(e.tokens[pos].as_str()));
        }
    }

    #[test]
    fn encode_never_emits_end_id() {
        let v = Vocab::from_words(vec!["<end>".into(), "red".into()]).unwrap();
        let e = v.encode("<end> red");
        assert!(!e.ids.contains(&0));
        assert_eq!(e.ids, [1]);
    }

    #[test]
    fn encode_truncates_known_words() {
        let v = Vocab::build(CAPTIONS, 0);
        let caption = format!("zebra {}", "red ".repeat(20));
        let e = v.encode(&caption);
        assert_eq!(e.ids.len(), MAX_WORDS);
        assert!(e.truncated);
        assert_eq!(e.unknown, ["zebra"]);
        assert_eq!(e.kept[0], 1);
        assert_eq!(e.tokens.len(), 21);
    }
}
