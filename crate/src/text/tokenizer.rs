//! Caption tokenizer following AttnGAN's rules.
//!
//! AttnGAN (Xu et al. 2018) replaces the mis-decoded pair `"\u{fffd}\u{fffd}"` with a
//! space, lowercases the caption, extracts tokens with the regex `\w+` and feeds at most
//! [`MAX_WORDS`] words to the text encoder. AttnGAN samples a random ordered subset of
//! 18 words during training; this tokenizer keeps the first 18 and reports truncation.

use std::sync::LazyLock;

use regex::Regex;

/// Maximum number of words per caption (AttnGAN's `WORDS_NUM`).
pub const MAX_WORDS: usize = 18;

/// Unicode-aware `\w+`, as NLTK's `RegexpTokenizer(r'\w+')` on Python 3 strings.
static WORD_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\w+").expect("static word regex is valid"));

/// A tokenized caption.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tokenized {
    /// At most [`MAX_WORDS`] lowercase words, in caption order.
    pub words: Vec<String>,
    /// True when the caption had more than [`MAX_WORDS`] words and the tail was dropped.
    pub truncated: bool,
}

/// Tokenizes a caption: lowercase, `\w+` tokens (unicode-aware), first [`MAX_WORDS`] kept.
pub fn tokenize(caption: &str) -> Tokenized {
    let mut words = tokenize_all(caption);
    let truncated = words.len() > MAX_WORDS;
    words.truncate(MAX_WORDS);
    Tokenized { words, truncated }
}

/// Like [`tokenize`] but without the [`MAX_WORDS`] limit (used to build vocabularies,
/// where AttnGAN counts every word of every caption).
pub fn tokenize_all(caption: &str) -> Vec<String> {
    let cleaned = caption.replace("\u{fffd}\u{fffd}", " ").to_lowercase();
    WORD_RE.find_iter(&cleaned).map(|m| m.as_str().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(caption: &str) -> Vec<String> {
        tokenize(caption).words
    }

    #[test]
    fn punctuation_and_case() {
        let t = tokenize("A Red, RED circle!");
        assert_eq!(t.words, ["a", "red", "red", "circle"]);
        assert!(!t.truncated);
        assert_eq!(words("this bird's wing-tips are grey."), ["this", "bird", "s", "wing", "tips", "are", "grey"]);
    }

    #[test]
    fn digits_and_underscores_are_word_chars() {
        assert_eq!(words("3 dots_and 2x2 grid"), ["3", "dots_and", "2x2", "grid"]);
    }

    #[test]
    fn empty_and_whitespace() {
        for c in ["", "   ", "\t\n ", "!?.,;"] {
            let t = tokenize(c);
            assert!(t.words.is_empty(), "{c:?}");
            assert!(!t.truncated);
        }
    }

    #[test]
    fn long_captions_are_truncated() {
        let caption: Vec<String> = (0..25).map(|i| format!("w{i}")).collect();
        let t = tokenize(&caption.join(" "));
        assert_eq!(t.words.len(), MAX_WORDS);
        assert!(t.truncated);
        assert_eq!(t.words[0], "w0");
        assert_eq!(t.words[17], "w17");
        assert_eq!(tokenize_all(&caption.join(" ")).len(), 25);

        let exact: Vec<String> = (0..MAX_WORDS).map(|i| format!("w{i}")).collect();
        let t = tokenize(&exact.join(" "));
        assert_eq!(t.words.len(), MAX_WORDS);
        assert!(!t.truncated);
    }

    #[test]
    fn unicode_words() {
        assert_eq!(words("Café CRÈME brûlée"), ["café", "crème", "brûlée"]);
        // Decomposed accent (e + U+0301) stays inside the token.
        assert_eq!(words("cafe\u{301} au lait"), ["cafe\u{301}", "au", "lait"]);
    }

    #[test]
    fn replacement_pair_becomes_space() {
        assert_eq!(words("red\u{fffd}\u{fffd}bird"), ["red", "bird"]);
    }
}
