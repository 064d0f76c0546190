//! The semantic cache's index: which stored answers a reworded request may reuse.
//!
//! A stored answer is indexed under its request's *scope* (every field but the last user
//! message's text, hashed as the exact key is, so the model, routing knobs, sampling
//! parameters, tools, earlier turns and client key must all be identical) combined with the
//! last user message's [`Signature`] key (same numbers, same content words). Under one such key
//! sit the few stored phrasings of that question, each with its routing embedding; a request
//! hits the closest one whose cosine reaches the threshold and whose directional words agree.
//! The answer itself stays in the exact cache under its own key: an index entry whose answer
//! has expired or been evicted is a miss, and is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::signature::Signature;
use super::CacheKey;

/// Phrasings kept per scope and signature: a bucket holds rewordings of one question, so a few
/// suffice; the oldest is dropped first.
const PER_BUCKET: usize = 8;

/// One stored phrasing.
#[derive(Debug)]
struct Candidate {
    /// The unit-length base embedding of the routing text.
    embedding: Vec<f32>,
    signature: Signature,
    /// Where the answer is stored in the exact cache.
    answer: CacheKey,
}

/// What a hit found: the exact key of the stored answer and how close the phrasings were.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SemanticMatch {
    /// The stored answer's key in the exact cache.
    pub answer: CacheKey,
    /// Cosine between the two routing embeddings.
    pub similarity: f32,
}

/// The index, bounded by buckets and aged like the answers it points to.
pub struct SemanticIndex {
    buckets: moka::sync::Cache<[u8; 32], Arc<Mutex<Vec<Candidate>>>>,
    threshold: f32,
}

impl std::fmt::Debug for SemanticIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticIndex")
            .field("threshold", &self.threshold)
            .field("buckets", &self.buckets.entry_count())
            .finish()
    }
}

impl SemanticIndex {
    /// An index of at most `max_buckets` questions, each kept for `ttl`, matching at cosine
    /// `threshold` or above.
    pub fn new(max_buckets: u64, ttl: Duration, threshold: f32) -> Self {
        SemanticIndex {
            buckets: moka::sync::Cache::builder()
                .max_capacity(max_buckets)
                .time_to_live(ttl)
                .build(),
            threshold,
        }
    }

    /// The closest stored phrasing under `scope` for a prompt with `signature` and
    /// `embedding`, if it is close enough. `alive` says whether an answer key is still stored;
    /// stale candidates are dropped on the way.
    pub fn find(
        &self,
        scope: &CacheKey,
        signature: &Signature,
        embedding: &[f32],
        mut alive: impl FnMut(&CacheKey) -> bool,
    ) -> Option<SemanticMatch> {
        let bucket = self.buckets.get(&bucket_key(scope, signature))?;
        let mut candidates = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        candidates.retain(|c| alive(&c.answer));
        candidates
            .iter()
            .filter(|c| c.embedding.len() == embedding.len())
            .filter(|c| c.signature.same_direction(signature))
            .map(|c| SemanticMatch {
                answer: c.answer,
                similarity: cosine(&c.embedding, embedding),
            })
            .filter(|m| m.similarity >= self.threshold)
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
    }

    /// Indexes a stored answer under `scope` and the prompt's `signature` and `embedding`. A
    /// phrasing already indexed for the same answer is replaced.
    pub fn insert(
        &self,
        scope: &CacheKey,
        signature: Signature,
        embedding: Vec<f32>,
        answer: CacheKey,
    ) {
        let bucket = self
            .buckets
            .get_with(bucket_key(scope, &signature), Default::default);
        let mut candidates = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        candidates.retain(|c| c.answer != answer);
        if candidates.len() >= PER_BUCKET {
            candidates.remove(0);
        }
        candidates.push(Candidate {
            embedding,
            signature,
            answer,
        });
    }

    /// Drops every entry (a router reload changes what `auto` would answer).
    pub fn clear(&self) {
        self.buckets.invalidate_all();
    }
}

fn bucket_key(scope: &CacheKey, signature: &Signature) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update(signature.key);
    h.finalize().into()
}

/// Cosine of two vectors (0 when either is all zeros).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::signature::signature;
    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey::from_bytes([n; 32])
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn the_closest_live_phrasing_above_the_threshold_matches() {
        let index = SemanticIndex::new(100, Duration::from_secs(60), 0.9);
        let scope = key(1);
        let sig = signature("How many legs does a spider have?");
        index.insert(&scope, sig.clone(), unit(&[1.0, 0.0]), key(10));
        index.insert(&scope, sig.clone(), unit(&[1.0, 0.3]), key(11));
        let query = unit(&[1.0, 0.25]);
        let found = index.find(&scope, &sig, &query, |_| true).unwrap();
        assert_eq!(found.answer, key(11));
        assert!(found.similarity > 0.99);
        // Below the threshold: no match.
        assert!(index
            .find(&scope, &sig, &unit(&[0.0, 1.0]), |_| true)
            .is_none());
        // An expired answer is skipped (and dropped), the next closest one serves.
        let found = index.find(&scope, &sig, &query, |k| *k != key(11)).unwrap();
        assert_eq!(found.answer, key(10));
    }

    #[test]
    fn another_scope_signature_or_direction_never_matches() {
        let index = SemanticIndex::new(100, Duration::from_secs(60), 0.5);
        let v = unit(&[1.0, 0.0]);
        index.insert(
            &key(1),
            signature("Convert Celsius to Fahrenheit"),
            v.clone(),
            key(10),
        );
        let other_scope = index.find(
            &key(2),
            &signature("Convert Celsius to Fahrenheit"),
            &v,
            |_| true,
        );
        assert!(other_scope.is_none());
        let other_words = index.find(&key(1), &signature("Convert Celsius to Kelvin"), &v, |_| {
            true
        });
        assert!(other_words.is_none());
        let reversed = index.find(
            &key(1),
            &signature("Convert Fahrenheit to Celsius"),
            &v,
            |_| true,
        );
        assert!(reversed.is_none());
    }

    #[test]
    fn a_bucket_keeps_its_newest_phrasings() {
        let index = SemanticIndex::new(100, Duration::from_secs(60), 0.0);
        let sig = signature("spider legs");
        for n in 0..(PER_BUCKET as u8 + 3) {
            index.insert(&key(1), sig.clone(), unit(&[1.0, f32::from(n)]), key(n));
        }
        let mut seen = Vec::new();
        let _ = index.find(&key(1), &sig, &unit(&[1.0, 0.0]), |k| {
            seen.push(*k);
            true
        });
        assert_eq!(seen.len(), PER_BUCKET);
        assert!(!seen.contains(&key(0)));
    }
}
