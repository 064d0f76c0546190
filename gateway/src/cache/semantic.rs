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
//!
//! Memory: the index is bounded like the answers, separately: at most `max_entries` buckets
//! and `max_bytes` bytes (a phrasing weighs its 1.5 KiB embedding and its bounded signature).
//! Each new phrasing writes its bucket again, so a bucket lives for the TTL after its newest
//! phrasing (older ones whose answers expired are dropped when read).

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

/// Bytes a bucket of `candidates` holds, for the index's weight.
fn bucket_bytes(candidates: &[Candidate]) -> u64 {
    let bytes: usize = candidates
        .iter()
        .map(|c| {
            std::mem::size_of::<Candidate>()
                + c.embedding.capacity() * std::mem::size_of::<f32>()
                + c.signature.heap_bytes()
        })
        .sum();
    (bytes + 64) as u64
}

/// The index, bounded by buckets and bytes, and aged like the answers it points to.
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
    /// An index of at most `max_buckets` questions and `max_bytes` bytes, each question kept
    /// for `ttl` after its newest phrasing, matching at cosine `threshold` or above. As for
    /// the answers, moka bounds one weight: a bucket weighs its bytes but at least
    /// `max_bytes / max_buckets`.
    pub fn new(max_buckets: u64, max_bytes: u64, ttl: Duration, threshold: f32) -> Self {
        let min_weight = (max_bytes / max_buckets.max(1)).max(1);
        SemanticIndex {
            buckets: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(
                    move |_key: &[u8; 32], bucket: &Arc<Mutex<Vec<Candidate>>>| {
                        let bytes =
                            bucket_bytes(&bucket.lock().unwrap_or_else(PoisonError::into_inner));
                        u32::try_from(bytes.max(min_weight)).unwrap_or(u32::MAX)
                    },
                )
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
        let key = bucket_key(scope, &signature);
        let bucket = self.buckets.get_with(key, Default::default);
        {
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
        // Written again (the lock released: the weigher takes it): its time to live restarts
        // from this phrasing, and its weight counts it.
        self.buckets.insert(key, bucket);
    }

    /// The index's weight in bytes, after moka's pending maintenance.
    pub fn weighted_size(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.weighted_size()
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
        let index = SemanticIndex::new(100, 1 << 30, Duration::from_secs(60), 0.9);
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
        let index = SemanticIndex::new(100, 1 << 30, Duration::from_secs(60), 0.5);
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

    /// Review F7: a phrasing added late to a bucket lives its whole TTL; the bucket's time
    /// to live counts from its newest phrasing, not its first.
    #[tokio::test]
    async fn a_bucket_lives_for_the_ttl_after_its_newest_phrasing() {
        let index = SemanticIndex::new(100, 1 << 30, Duration::from_millis(1000), 0.5);
        let sig = signature("spider legs");
        index.insert(&key(1), sig.clone(), unit(&[1.0, 0.0]), key(10));
        tokio::time::sleep(Duration::from_millis(700)).await;
        index.insert(&key(1), sig.clone(), unit(&[0.0, 1.0]), key(11));
        tokio::time::sleep(Duration::from_millis(700)).await;
        let found = index.find(&key(1), &sig, &unit(&[0.0, 1.0]), |_| true);
        assert_eq!(found.map(|m| m.answer), Some(key(11)));
    }

    /// Review F8: the index is bounded in bytes as the answers are, not only in buckets.
    #[test]
    fn the_index_is_bounded_in_bytes() {
        let budget = 64 * 1024;
        let index = SemanticIndex::new(1000, budget, Duration::from_secs(60), 0.5);
        for n in 0..200u8 {
            let sig = signature(&format!("question number {n}"));
            index.insert(&key(n), sig, unit(&[1.0; 384]), key(n));
        }
        let bytes = index.weighted_size();
        assert!(bytes <= budget, "{bytes} bytes");
        // Each phrasing holds a 1.5 KiB embedding: far fewer than 200 fit.
        let kept = index.buckets.entry_count();
        assert!(kept > 0 && kept <= budget / 1536, "{kept} buckets kept");
    }

    #[test]
    fn a_bucket_keeps_its_newest_phrasings() {
        let index = SemanticIndex::new(100, 1 << 30, Duration::from_secs(60), 0.0);
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
