//! Text side: tokenizer, vocabulary, text encoders.

pub mod cross_attention_encoder;
pub mod rnn_encoder;
pub mod tokenizer;
pub mod vocab;
