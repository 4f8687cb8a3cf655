//! AttnGAN's text encoder `RNN_ENCODER` (Xu et al. 2018, §3.3): word embeddings, dropout,
//! a bidirectional LSTM. Word features e ∈ R^{D×T} are the concatenated hidden states of
//! both directions at each word; the sentence feature ē is the concatenation of the two
//! final hidden states.

use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig};
use burn::prelude::*;

use crate::config::TextConfig;
use crate::nn::bilstm::MaskedBiLstm;
use crate::text::cross_attention_encoder::{CrossAttentionConfig, CrossAttentionEncoder};

/// The text encoder: embedding, dropout, BiLSTM, and with `encoder = "cae"` CAE-GAN's
/// cross-attention encoder on top (over its learned visual memory, so captions alone
/// suffice at training and at inference time).
#[derive(Module, Debug)]
pub struct RnnEncoder<B: Backend> {
    pub encoder: Embedding<B>,
    drop: Dropout,
    pub rnn: MaskedBiLstm<B>,
    pub cae: Option<CrossAttentionEncoder<B>>,
}

/// Text features for a batch of captions.
#[derive(Clone, Debug)]
pub struct TextFeatures<B: Backend> {
    /// Word features [B, D, T] (0 at padding).
    pub words: Tensor<B, 3>,
    /// Sentence features [B, D].
    pub sentence: Tensor<B, 2>,
    /// True on padded positions [B, T].
    pub pad: Tensor<B, 2, Bool>,
}

impl<B: Backend> TextFeatures<B> {
    /// Rows `start..start + len`.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        Self {
            words: self.words.clone().narrow(0, start, len),
            sentence: self.sentence.clone().narrow(0, start, len),
            pad: self.pad.clone().narrow(0, start, len),
        }
    }
    /// The same features on the autodiff backend over `B` (constants there).
    pub fn into_autodiff<A: burn::tensor::backend::AutodiffBackend<InnerBackend = B>>(self) -> TextFeatures<A> {
        TextFeatures {
            words: Tensor::from_inner(self.words),
            sentence: Tensor::from_inner(self.sentence),
            pad: Tensor::from_inner(self.pad),
        }
    }
}

impl<B: Backend> RnnEncoder<B> {
    pub fn new(cfg: &TextConfig, device: &B::Device) -> Self {
        Self {
            encoder: EmbeddingConfig::new(cfg.vocab_size.max(1), cfg.embedding_dim).init(device),
            drop: DropoutConfig::new(cfg.dropout).init(),
            rnn: MaskedBiLstm::new(cfg.embedding_dim, cfg.hidden_dim, device),
            cae: (cfg.encoder == "cae").then(|| {
                let d = cfg.feature_dim();
                let c = CrossAttentionConfig {
                    word_dim: d,
                    image_dim: d,
                    attention_dim: d,
                    memory_slots: cfg.memory_slots,
                    dropout: cfg.dropout.min(0.1),
                };
                CrossAttentionEncoder::new(&c, device)
            }),
        }
    }

    /// tokens [B, T] (0 = padding, every row has ≥ 1 word first) → features.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> TextFeatures<B> {
        let pad = tokens.clone().equal_elem(0);
        let valid = pad.clone().bool_not().float();
        let emb = self.drop.forward(self.encoder.forward(tokens));
        let (out, sentence) = self.rnn.forward(emb, valid);
        let words = out.swap_dims(1, 2);
        match &self.cae {
            Some(cae) => {
                let x = cae.forward(words, sentence, pad.clone(), None);
                TextFeatures { words: x.words, sentence: x.sentence, pad }
            }
            None => TextFeatures { words, sentence, pad },
        }
    }
}
