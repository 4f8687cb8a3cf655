//! Text side: tokenizer, vocabulary, text encoders.

pub mod rnn_encoder;
pub mod tokenizer;
pub mod vocab;
