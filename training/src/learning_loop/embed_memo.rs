//! An embedder that remembers: the loop re-embeds every logged prompt at each refit, and the
//! log only grows, so each text is encoded once.

use std::collections::HashMap;
use std::sync::Mutex;

use router_core::{BoxError, Embedder};

/// Wraps an [`Embedder`] with a per-text memo (same fingerprint and dimension).
pub struct MemoEmbedder<'a> {
    inner: &'a dyn Embedder,
    memo: Mutex<HashMap<String, Vec<f32>>>,
}

impl<'a> MemoEmbedder<'a> {
    /// A memo over `inner`.
    pub fn new(inner: &'a dyn Embedder) -> Self {
        Self {
            inner,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Texts remembered so far.
    pub fn len(&self) -> usize {
        self.memo.lock().map_or(0, |m| m.len())
    }

    /// Whether nothing has been embedded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Embedder for MemoEmbedder<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        let missing: Vec<&str> = {
            let memo = self.memo.lock().map_err(|_| "embedding memo poisoned")?;
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .copied()
                .filter(|t| !memo.contains_key(*t) && seen.insert(*t))
                .collect()
        };
        if !missing.is_empty() {
            // Encode outside the lock: the encoder is the slow part.
            let vectors = self.inner.embed(&missing)?;
            let mut memo = self.memo.lock().map_err(|_| "embedding memo poisoned")?;
            for (t, v) in missing.into_iter().zip(vectors) {
                memo.insert(t.to_owned(), v);
            }
        }
        let memo = self.memo.lock().map_err(|_| "embedding memo poisoned")?;
        texts
            .iter()
            .map(|t| {
                memo.get(*t)
                    .cloned()
                    .ok_or_else(|| BoxError::from("the encoder returned fewer vectors than texts"))
            })
            .collect()
    }
}
