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

use crate::prompt_features::{with_prompt_features, PROMPT_FEATURES, PROMPT_FEATURE_NAMES};
use crate::{weights, Error, Truncation};
pub use adapter::RoutingAdapter;

pub mod adapter;
#[cfg(target_arch = "x86_64")]
mod avx2;
mod forward;
mod int8;
mod kernels;
mod packed;
pub(crate) use packed::panel_width;
pub mod reference;

/// Length of every embedding.
pub const EMBEDDING_DIM: usize = 384;

/// Characters kept per side before tokenizing an over-long text: real text holds well over one
/// WordPiece token per 24 characters, so this is far above any token budget ≤ 512; text that
/// holds fewer (long unsplittable runs) is cut again with more (`Encoder::token_ids`).
const PRECUT_CHARS_PER_TOKEN: usize = 24;

/// How the encoder treats its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Most tokens per text, special tokens included (at most 512, the model's position limit).
    pub max_tokens: usize,
    /// Which tokens survive when a text is longer.
    pub truncation: Truncation,
    /// Hidden layers mean-pooled into the embedding after the last one (none by default).
    pub extra_layers: ExtraLayers,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            truncation: Truncation::HeadTail,
            extra_layers: ExtraLayers::NONE,
        }
    }
}

/// Earlier hidden layers whose mean-pooled, unit-length states are appended to the embedding,
/// in ascending order, after the last layer's. The first [`EMBEDDING_DIM`] values therefore stay
/// the model's own sentence embedding (what the task classifier, decontamination and every
/// 384-d artifact read); each extra layer adds another 384. Layer 0 is the embedding layer's
/// output (token identities and positions), layer `i` the output of transformer block `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtraLayers(u16);

impl ExtraLayers {
    /// Only the last layer: the model's standard embedding.
    pub const NONE: Self = Self(0);

    /// Parses a comma-separated list of layer numbers such as `2,4` (empty: none).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut bits = 0u16;
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let layer: u16 = part
                .parse()
                .map_err(|_| format!("layer `{part}` is not a number (use e.g. 2,4)"))?;
            if layer > 11 {
                return Err(format!(
                    "layer {layer} is out of range: all-MiniLM-L6-v2 has layers 0 (embeddings) to 6, and the last is always pooled"
                ));
            }
            bits |= 1 << layer;
        }
        Ok(Self(bits))
    }

    /// Whether the output of layer `layer` is pooled too.
    pub fn contains(self, layer: usize) -> bool {
        layer < 16 && self.0 & (1 << layer) != 0
    }

    /// The layers, ascending.
    pub fn layers(self) -> Vec<usize> {
        (0..16).filter(|&l| self.contains(l)).collect()
    }

    /// How many extra blocks of [`EMBEDDING_DIM`] values the embedding carries.
    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    /// `2,4`-style list, as [`ExtraLayers::parse`] reads it; empty for none.
    pub fn label(self) -> String {
        let layers: Vec<String> = self.layers().iter().map(usize::to_string).collect();
        layers.join(",")
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
    /// The weights' hash, plus the extra layers and the adapter when there are any:
    /// embeddings made with different layers are different features, so caches and artifacts
    /// must tell them apart.
    fingerprint: String,
    /// A trained routing adapter whose vector is appended after the pooled layers
    /// ([`Encoder::with_adapter`]).
    adapter: Option<std::sync::Arc<RoutingAdapter>>,
    /// Whether the prompt statistics of [`crate::prompt_features`] come last
    /// ([`Encoder::with_prompt_features`]).
    prompt_features: bool,
    /// Whether passes multiply by the int8 weights ([`Encoder::with_int8_weights`]); atomic
    /// so that a server can switch back to f32 through a shared handle when the gate refuses
    /// int8.
    int8: std::sync::atomic::AtomicBool,
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
        if let Some(&last) = config.extra_layers.layers().last() {
            if last >= bert_config.num_hidden_layers {
                return Err(Error::Config {
                    path: dir.join("config.json"),
                    message: format!(
                        "extra layer {last} is not below the model's {} layers (the last is always pooled)",
                        bert_config.num_hidden_layers
                    ),
                });
            }
        }
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
            fingerprint: fingerprint_of(config.extra_layers),
            adapter: None,
            prompt_features: false,
            int8: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The fingerprint of what this encoder appends now: the weights and pooled layers, then
    /// the adapter, then the prompt statistics, each named when present.
    fn refresh_fingerprint(&mut self) {
        let mut fingerprint = fingerprint_of(self.config.extra_layers);
        if let Some(adapter) = &self.adapter {
            fingerprint = adapted_fingerprint(&fingerprint, &adapter.digest());
        }
        if self.prompt_features {
            fingerprint = featured_fingerprint(&fingerprint);
        }
        self.fingerprint = fingerprint;
    }

    /// Appends `adapter`'s vector to every embedding (one more [`EMBEDDING_DIM`] block, after
    /// any extra layers), replacing any adapter set before; the fingerprint then names it too.
    pub fn with_adapter(mut self, adapter: RoutingAdapter) -> Self {
        self.adapter = Some(std::sync::Arc::new(adapter));
        self.refresh_fingerprint();
        self
    }

    /// Appends the [`crate::prompt_features`] of each whole text (length, lines, digit, code,
    /// maths and non-ASCII shares, question marks) after everything else, for an artifact
    /// trained with them (`train --prompt-features`); the fingerprint then says so, so that
    /// caches and artifact checks tell these embeddings apart.
    pub fn with_prompt_features(mut self) -> Self {
        self.prompt_features = true;
        self.refresh_fingerprint();
        self
    }

    /// Whether [`Encoder::with_prompt_features`] is on.
    pub fn prompt_features(&self) -> bool {
        self.prompt_features
    }

    /// Multiplies by int8 copies of the attention-output and first feed-forward weights from now on (quantised here,
    /// about 0.1 s; see `encoder::int8`). The fingerprint stays the f32 one: int8 is meant to
    /// serve the same features, which [`crate::int8_gate`] checks before a server accepts it.
    /// [`Encoder::encode_f32`] still runs the f32 pass.
    pub fn with_int8_weights(mut self) -> Self {
        if !self.model.has_int8() {
            self.model.quantise();
        }
        self.int8 = std::sync::atomic::AtomicBool::new(true);
        self
    }

    /// Serves with the int8 weights (`true`, where [`Encoder::with_int8_weights`] made them)
    /// or the f32 ones.
    pub fn serve_int8(&self, on: bool) {
        let on = on && self.model.has_int8();
        self.int8.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether passes use int8 weights.
    pub fn int8(&self) -> bool {
        self.int8.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether this CPU has the instructions that make int8 faster than f32 (AVX-512 VNNI);
    /// without them int8 products run a portable loop, slower than f32.
    pub fn int8_accelerated() -> bool {
        int8::vnni_available()
    }

    fn precision(&self) -> forward::Precision {
        if self.int8() {
            forward::Precision::Int8
        } else {
            forward::Precision::F32
        }
    }

    /// The routing adapter this encoder applies, if any.
    pub fn adapter(&self) -> Option<&RoutingAdapter> {
        self.adapter.as_deref()
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
        let truncation = self.config.truncation;
        let mut keep = budget * PRECUT_CHARS_PER_TOKEN;
        let content = loop {
            let (cut, head_bytes) = truncation.precut(text, keep);
            let encoding = self
                .tokenizer
                .encode(cut.as_ref(), false)
                .map_err(|e| Error::Tokenizer(e.to_string()))?;
            // Long unsplittable runs (base64, hashes) hold one token per 100 characters or
            // fewer: cut again with more characters until each side has its share.
            let whole = head_bytes
                .is_none_or(|head| truncation.sides_filled(encoding.get_offsets(), head, budget));
            if whole {
                break truncation.apply(encoding.get_ids(), budget);
            }
            keep = keep.saturating_mul(4);
        };
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

    /// Length of this encoder's embeddings: [`EMBEDDING_DIM`] per pooled layer, plus one more
    /// block with a routing adapter, plus the prompt statistics when they are on.
    pub fn dim(&self) -> usize {
        EMBEDDING_DIM * (1 + self.config.extra_layers.count() + usize::from(self.adapter.is_some()))
            + if self.prompt_features {
                PROMPT_FEATURES
            } else {
                0
            }
    }

    /// Embeds a batch: one vector of [`Encoder::dim`] values per text, in order; each
    /// [`EMBEDDING_DIM`] block is unit length, and the prompt statistics, when on, follow them.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        self.encode_as(texts, self.precision())
    }

    /// Runs the model on already tokenized texts, each at its own length (no padding), on at
    /// most the threads of the rayon pool it is called from (the encoder service runs it on a
    /// smaller pool than the one this encoder was loaded under). The pooled blocks only: the
    /// prompt statistics need the text ([`Encoder::encode`]).
    pub fn forward(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, Error> {
        self.forward_with(ids, self.precision())
    }

    /// [`Encoder::encode`] with the f32 weights, whatever this encoder serves with: the
    /// reference the int8 gate compares against.
    pub fn encode_f32(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        self.encode_as(texts, forward::Precision::F32)
    }

    /// [`Encoder::encode`] with the int8 weights, whatever this encoder serves with; an error
    /// before [`Encoder::with_int8_weights`].
    pub fn encode_int8(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if !self.model.has_int8() {
            return Err(Error::Shape(
                "this encoder has no int8 weights (load it with with_int8_weights)".into(),
            ));
        }
        self.encode_as(texts, forward::Precision::Int8)
    }

    fn encode_as(
        &self,
        texts: &[&str],
        precision: forward::Precision,
    ) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        let pooled = self.forward_with(&ids, precision)?;
        if !self.prompt_features {
            return Ok(pooled);
        }
        Ok(pooled
            .iter()
            .zip(texts)
            .map(|(v, text)| with_prompt_features(v, text))
            .collect())
    }

    fn forward_with(
        &self,
        ids: &[Vec<u32>],
        precision: forward::Precision,
    ) -> Result<Vec<Vec<f32>>, Error> {
        let threads = self.threads.min(rayon::current_num_threads());
        forward::embed(
            &self.model,
            ids,
            threads,
            self.config.extra_layers,
            self.adapter.as_deref(),
            precision,
        )
    }

    /// The last layer's token states of each text (`tokens × 384`, row-major, unpooled): what
    /// a [`RoutingAdapter`] is trained on.
    pub fn token_states(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        let threads = self.threads.min(rayon::current_num_threads());
        forward::last_hidden(&self.model, &ids, threads, self.precision())
    }
}

/// The fingerprint of an encoder's embeddings once the prompt statistics are appended.
pub fn featured_fingerprint(base: &str) -> String {
    use sha2::Digest;
    let named = format!("{base}+prompt-features:{}", PROMPT_FEATURE_NAMES.join(","));
    hex::encode(sha2::Sha256::digest(named.as_bytes()))
}

/// The fingerprint of an encoder's embeddings once an adapter with this digest is appended.
pub fn adapted_fingerprint(base: &str, adapter_digest: &str) -> String {
    use sha2::Digest;
    let named = format!("{base}+adapter:{adapter_digest}");
    hex::encode(sha2::Sha256::digest(named.as_bytes()))
}

/// The fingerprint of embeddings made with these extra layers (see [`Encoder`]'s field): the
/// weights' SHA-256 alone for the standard embedding, else the SHA-256 of that hash and the
/// layer list. A hash keeps the fingerprint the 64 hex digits that caches and manifests store,
/// and still differs for every layer set.
pub fn fingerprint_of(extra: ExtraLayers) -> String {
    if extra == ExtraLayers::NONE {
        weights::MODEL_SHA256.to_owned()
    } else {
        use sha2::Digest;
        let named = format!("{}+layers:{}", weights::MODEL_SHA256, extra.label());
        hex::encode(sha2::Sha256::digest(named.as_bytes()))
    }
}

/// Checks that `config.json` describes all-MiniLM-L6-v2, the one architecture the hashed
/// weights are. The file is hashed too ([`weights::CONFIG_SHA256`]) before this runs; the
/// check stays as the reason a different file would be wrong: some fields change the
/// embeddings without failing to load (fewer layers run only the first ones, a different head
/// count splits attention otherwise, another `layer_norm_eps` moves every value), all under the
/// same fingerprint, so the artifacts, the cache and the task classifier would accept the
/// wrong features. The caller's [`Error::Config`] says how to restore the file.
fn check_architecture(c: &BertConfig) -> Result<(), String> {
    let expected = [
        ("hidden_size", c.hidden_size, EMBEDDING_DIM),
        ("num_hidden_layers", c.num_hidden_layers, 6),
        ("num_attention_heads", c.num_attention_heads, 12),
        ("intermediate_size", c.intermediate_size, 1536),
        ("max_position_embeddings", c.max_position_embeddings, 512),
        ("vocab_size", c.vocab_size, 30522),
    ];
    for (field, found, want) in expected {
        if found != want {
            return Err(format!(
                "{field} is {found}, but all-MiniLM-L6-v2 has {want}"
            ));
        }
    }
    if c.layer_norm_eps != 1e-12 {
        return Err(format!(
            "layer_norm_eps is {}, but all-MiniLM-L6-v2 has 1e-12",
            c.layer_norm_eps
        ));
    }
    Ok(())
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
    weights::check_hash(&config_path, weights::CONFIG_SHA256)?;

    let bert_config: BertConfig = {
        let text = std::fs::read_to_string(&config_path).map_err(Error::io(&config_path))?;
        serde_json::from_str(&text).map_err(|e| Error::Config {
            path: config_path.clone(),
            message: e.to_string(),
        })?
    };
    if let Err(message) = check_architecture(&bert_config) {
        return Err(Error::Config {
            path: config_path,
            message,
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
        Encoder::dim(self)
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(self.encode(texts)?)
    }
}

#[cfg(test)]
mod architecture_tests {
    use super::*;

    /// The fetched model's `config.json`, as both the hub and the wheel ship it.
    const CONFIG: &str = r#"{"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
        "initializer_range": 0.02, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
        "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute",
        "type_vocab_size": 2, "vocab_size": 30522}"#;

    fn with(field: &str, value: serde_json::Value) -> Result<(), String> {
        let mut v: serde_json::Value = serde_json::from_str(CONFIG).map_err(|e| e.to_string())?;
        v[field] = value;
        let c: BertConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
        check_architecture(&c)
    }

    #[test]
    fn a_config_that_changes_the_embeddings_is_refused_naming_the_field() {
        assert_eq!(with("num_hidden_layers", 6.into()), Ok(()));
        for (field, value) in [
            ("num_hidden_layers", serde_json::json!(3)),
            ("num_attention_heads", serde_json::json!(6)),
            ("layer_norm_eps", serde_json::json!(-1.0)),
            ("layer_norm_eps", serde_json::json!(1e-5)),
            ("hidden_size", serde_json::json!(768)),
        ] {
            let err = with(field, value.clone()).err().map(|message| {
                Error::Config {
                    path: Path::new(weights::DEFAULT_ENCODER_DIR).join("config.json"),
                    message,
                }
                .to_string()
            });
            // The field, and the fix once (it used to be said twice).
            assert!(
                err.as_deref().is_some_and(
                    |e| e.contains(field) && e.matches("switchyard model fetch").count() == 1
                ),
                "{field} = {value}: {err:?}"
            );
        }
    }
}
