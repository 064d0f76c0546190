//! A bounded LRU cache of embeddings keyed by a hash of the embedded text.
//!
//! System prompts, retries and agent loops send the same text again and again; a hit skips the
//! queue and the forward pass entirely (the predictor heads still run, so a swapped predictor
//! is used at once). `hashlink`'s `LruCache` behind one mutex: the crate is already in the
//! build (through rusqlite), and one short critical section per request is far below the
//! encoder's cost at any rate the encoder can sustain; moka's concurrent cache would add a
//! dependency tree for contention this service does not have.
//!
//! The key is a 64-bit SipHash with keys drawn at start-up, so texts cannot be crafted to
//! collide; with 10,000 entries the chance that two live texts share a key is about 10⁻¹¹.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use hashlink::LruCache;

/// The cache and its counters.
pub(crate) struct EmbeddingCache {
    entries: Mutex<LruCache<u64, Vec<f32>>>,
    hasher: std::collections::hash_map::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl EmbeddingCache {
    /// A cache of at most `capacity` embeddings.
    pub(crate) fn new(capacity: usize) -> Self {
        EmbeddingCache {
            entries: Mutex::new(LruCache::new(capacity.max(1))),
            hasher: std::collections::hash_map::RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key of `text`.
    pub(crate) fn key(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    /// The cached embedding under `key`, counting a hit or a miss.
    pub(crate) fn get(&self, key: u64) -> Option<Vec<f32>> {
        let found = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores an embedding, evicting the least recently used one when full.
    pub(crate) fn insert(&self, key: u64, embedding: Vec<f32>) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, embedding);
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Hits and misses since start.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}
