//! all-MiniLM-L6-v2: tokenize, forward, mean-pool, normalise.
//!
//! The forward pass is this crate's own ([`forward`]), on weights read with candle and packed
//! once at load ([`packed`]) for the matrix kernels ([`kernels`]); candle's op-by-op `BertModel`
//! stays available as [`reference::CandleEncoder`], the parity reference for tests and
//! benchmarks.
//!
//! The pooling and normalisation follow the model's sentence-transformers configuration
//! (`1_Pooling/config.json`: mean pooling; `modules.json`: Normalize). The model's shipped
//! `tokenizer.json` pads and truncates to a fixed 128 tokens; both are switched off here and done
//! explicitly: truncation to [`EncoderConfig::max_tokens`] with [`Truncation`], and padding to
//! the longest text of each batch, masked out of the pooling.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config as BertConfig;
use router_core::{BoxError, Embedder};
use tokenizers::Tokenizer;

use crate::{weights, Error, Truncation};

mod forward;
mod kernels;
mod packed;
pub mod reference;

/// Length of every embedding.
pub const EMBEDDING_DIM: usize = 384;

/// Characters kept per side before tokenizing an over-long text: WordPiece never produces fewer
/// tokens than one per 24 characters of real text, so this is far above any token budget ≤ 512.
const PRECUT_CHARS_PER_TOKEN: usize = 24;

/// How the encoder treats its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Most tokens per text, special tokens included (at most 512, the model's position limit).
    pub max_tokens: usize,
    /// Which tokens survive when a text is longer.
    pub truncation: Truncation,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            truncation: Truncation::HeadTail,
        }
    }
}

/// The sentence encoder. Cheap to share: wrap it in an `Arc`; `encode` takes `&self`.
pub struct Encoder {
    model: packed::PackedBert,
    tokenizer: Tokenizer,
    config: EncoderConfig,
    cls: u32,
    sep: u32,
    threads: usize,
}

impl Encoder {
    /// Loads and verifies the weights in `dir` (see [`weights::DEFAULT_ENCODER_DIR`]).
    pub fn load(dir: &Path, config: EncoderConfig) -> Result<Self, Error> {
        if config.max_tokens < 2 || config.max_tokens > 512 {
            return Err(Error::Config {
                path: dir.join("config.json"),
                message: format!(
                    "max_tokens must be between 2 and 512 (the model's position limit), got {}",
                    config.max_tokens
                ),
            });
        }
        let (bert_config, vb) = read_verified(dir)?;
        let model = packed::PackedBert::load(vb, &bert_config)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| Error::Tokenizer(e.to_string()))?;
        // The shipped file fixes padding and truncation at 128: this encoder does both itself.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| Error::Tokenizer(format!("{token} is not in the vocabulary")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(Self {
            model,
            tokenizer,
            config,
            cls,
            sep,
            threads: rayon::current_num_threads(),
        })
    }

    /// Caps the threads one forward pass may use (default: rayon's pool, one per core). Small
    /// inputs use fewer regardless: a product too small to split runs on one thread.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The most threads one forward pass uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The configuration this encoder runs with.
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// Token ids, special tokens included, cut to the budget.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, Error> {
        let budget = self.config.max_tokens - 2;
        let text = self
            .config
            .truncation
            .precut(text, budget * PRECUT_CHARS_PER_TOKEN);
        let encoding = self
            .tokenizer
            .encode(text.as_ref(), false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let content = self.config.truncation.apply(encoding.get_ids(), budget);
        let mut ids = Vec::with_capacity(content.len() + 2);
        ids.push(self.cls);
        ids.extend(content);
        ids.push(self.sep);
        Ok(ids)
    }

    /// Number of WordPiece tokens of the whole text (no truncation), a proxy for LLM prompt
    /// tokens.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map_or(text.len() / 4, |e| e.get_ids().len())
    }

    /// Embeds a batch: one 384-dimensional unit vector per text, in order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        self.forward(&ids)
    }

    /// Runs the model on already tokenized texts, each at its own length (no padding), on at
    /// most the threads of the rayon pool it is called from (the encoder service runs it on a
    /// smaller pool than the one this encoder was loaded under).
    pub fn forward(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, Error> {
        let threads = self.threads.min(rayon::current_num_threads());
        forward::embed(&self.model, ids, threads)
    }
}

/// Reads `config.json` and `model.safetensors` from `dir`, checks the weights' SHA-256 and
/// returns the config and a var builder over the verified bytes.
fn read_verified(dir: &Path) -> Result<(BertConfig, VarBuilder<'static>), Error> {
    let model_path = dir.join("model.safetensors");
    let tokenizer_path = dir.join("tokenizer.json");
    let config_path = dir.join("config.json");
    for path in [&model_path, &tokenizer_path, &config_path] {
        if !path.is_file() {
            return Err(Error::WeightsMissing { path: path.clone() });
        }
    }
    weights::check_hash(&tokenizer_path, weights::TOKENIZER_SHA256)?;

    let bert_config: BertConfig = {
        let text = std::fs::read_to_string(&config_path).map_err(Error::io(&config_path))?;
        serde_json::from_str(&text).map_err(|e| Error::Config {
            path: config_path.clone(),
            message: e.to_string(),
        })?
    };
    if bert_config.hidden_size != EMBEDDING_DIM {
        return Err(Error::Config {
            path: config_path,
            message: format!(
                "hidden_size {} is not {EMBEDDING_DIM}",
                bert_config.hidden_size
            ),
        });
    }
    let heads = bert_config.num_attention_heads;
    if heads == 0 || bert_config.hidden_size % heads != 0 {
        return Err(Error::Config {
            path: config_path,
            message: format!("num_attention_heads {heads} does not divide hidden_size"),
        });
    }

    // Read once, hash the bytes, then build the model from the same buffer: the hash covers
    // exactly what is loaded, and no unsafe mmap is needed for a 90 MB file.
    let bytes = std::fs::read(&model_path).map_err(Error::io(&model_path))?;
    let actual = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    if actual != weights::MODEL_SHA256 {
        return Err(Error::WeightsCorrupt {
            path: model_path,
            expected: weights::MODEL_SHA256.to_owned(),
            actual,
        });
    }
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
    Ok((bert_config, vb))
}

impl Embedder for Encoder {
    fn dim(&self) -> usize {
        EMBEDDING_DIM
    }

    fn fingerprint(&self) -> &str {
        weights::MODEL_SHA256
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(self.encode(texts)?)
    }
}
