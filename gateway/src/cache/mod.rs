//! The response cache (`[cache]`): a repeated identical request is answered from memory, with
//! no routing and no upstream call; with `semantic = true`, so is a reworded one.
//!
//! - [`key`]: what makes two requests identical ([`key::CacheKey`], SHA-256 of a canonical
//!   form, per client key) and which requests are reproducible enough to cache.
//! - [`ResponseCache`]: a `moka` cache bounded by entries and bytes, with a time-to-live.
//! - [`Plan`]: what one request does with the cache, from the config, the request and its
//!   `x-switchyard-cache` header ([`Directive`]).
//! - [`assemble`]: a streamed answer put back together, so that streams are stored too.
//! - [`replay`]: a stored answer as stream chunks, so that streamed requests are served too.
//! - `shared`: with `[cache] shared`, exact answers kept in Redis too, for every replica.
//! - [`semantic`] and [`signature`]: the semantic cache, an index from a request's scope and
//!   its last user message's words to stored phrasings and their routing embeddings.
//!
//! Only answers that completed (a 200, or a stream that reached its end) and whose outcome row
//! was committed are stored. A hit writes its own outcome row (cost 0, the saved cost in
//! `cache_hit`), is never charged to a client key's budget or token limit, and is not judged.

pub mod assemble;
mod broadcast;
pub mod key;
pub mod replay;
pub mod semantic;
mod shared;
pub mod signature;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use axum::http::HeaderMap;
use router_core::ModelId;

pub use key::CacheKey;

use crate::auth::AuthClock;
use crate::config::Cache as CacheSettings;
use crate::http::error::ApiError;
use crate::openai::wire::{ChatCompletionRequest, ChatCompletionResponse, RouterOptions};

/// Request and response header: the client's directive, and how the answer was served.
pub const HEADER_CACHE: &str = "x-switchyard-cache";

/// The client's per-request directive (`x-switchyard-cache` request header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    /// No header: read and write as the config says.
    Default,
    /// `no-cache`: do not answer from the cache, but store the fresh answer (a refresh).
    NoCache,
    /// `no-store`: neither read nor write (e.g. a prompt that must not stay in memory).
    NoStore,
}

impl Directive {
    /// Parses the request header; an unknown value is a 400 naming the accepted ones, so that
    /// a typo cannot silently serve (or store) what the client meant to keep out.
    pub fn from_headers(headers: &HeaderMap) -> Result<Directive, ApiError> {
        let Some(value) = headers.get(HEADER_CACHE) else {
            return Ok(Directive::Default);
        };
        match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
            Ok(v) if v == "no-cache" => Ok(Directive::NoCache),
            Ok(v) if v == "no-store" => Ok(Directive::NoStore),
            _ => Err(ApiError::InvalidRequest(format!(
                "header {HEADER_CACHE} must be `no-cache` (skip reading the cache, still store the answer) or `no-store` (neither read nor store)"
            ))),
        }
    }
}

/// How a request was served, for the response header and `switchyard_response_cache_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Answered from the cache.
    Hit,
    /// Answered from the cache with the stored answer of a reworded request.
    SemanticHit,
    /// Waited for an identical request that was being answered upstream, then answered
    /// with its stored answer (request coalescing).
    Coalesced,
    /// Looked up and not found; a successful answer is stored.
    Miss,
    /// The cache was not read: `no-cache`, `no-store`, or a request that is not reproducible
    /// under `deterministic_only`.
    Bypass,
}

impl Served {
    /// The header value and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::SemanticHit => "semantic_hit",
            Served::Coalesced => "coalesced",
            Served::Miss => "miss",
            Served::Bypass => "bypass",
        }
    }
}

/// What one request does with the cache: its key, whether to read, whether to store.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The request's key; `None` when the cache is neither read nor written.
    pub key: Option<CacheKey>,
    /// Whether to look the key up.
    pub read: bool,
    /// Whether to store a successful answer.
    pub write: bool,
    /// Whether a reworded request may be answered (when reading) and this one is indexed
    /// for later rewordings (when writing).
    pub semantic: bool,
}

impl Plan {
    /// Decides for `req` (with its merged routing `options`, in namespace `ns`: client key,
    /// A/B arm, matched rule) under `settings` and the client's `directive`.
    pub fn new(
        settings: &CacheSettings,
        req: &ChatCompletionRequest,
        options: &RouterOptions,
        ns: key::Namespace<'_>,
        directive: Directive,
    ) -> Plan {
        // A stream with log probabilities is never stored (its chunks have no merged form):
        // reading would only make it wait behind identical ones for nothing.
        let cacheable = settings.enabled
            && directive != Directive::NoStore
            && (!settings.deterministic_only || key::is_deterministic(req))
            && !(req.is_stream() && wants_logprobs(req));
        let key = if cacheable {
            key::key_of(req, options, ns)
        } else {
            None
        };
        Plan {
            key,
            read: key.is_some() && directive == Directive::Default,
            write: key.is_some(),
            semantic: key.is_some() && settings.semantic,
        }
    }

    /// The key to store a successful answer under, if it is to be stored.
    pub fn store_key(&self) -> Option<CacheKey> {
        self.key.filter(|_| self.write)
    }
}

/// Whether the request asks for per-token log probabilities.
fn wants_logprobs(req: &ChatCompletionRequest) -> bool {
    req.extra
        .get("logprobs")
        .is_some_and(|v| v.as_bool() == Some(true))
}

/// Whether an answer is worth replaying: every choice ended normally (`stop`, `tool_calls`,
/// or `length`) with text or tool calls. A provider's block (`content_filter`, Gemini's
/// `RECITATION`), an unknown or missing reason, or an empty answer (a reasoning model that
/// spent its limit thinking) is often transient: replayed, it would stick for the whole TTL.
pub fn storable(completion: &ChatCompletionResponse) -> bool {
    use crate::openai::wire::FinishReason;
    !completion.choices.is_empty()
        && completion.choices.iter().all(|c| {
            let finished = matches!(
                c.finish_reason,
                Some(FinishReason::Stop | FinishReason::ToolCalls | FinishReason::Length)
            );
            let text = c.message.content.as_deref().is_some_and(|t| !t.is_empty());
            let calls = c.message.tool_calls.as_ref().is_some_and(|t| !t.is_empty());
            finished && (text || calls)
        })
}

/// An answer to store, and what a hit needs to know about it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    /// The answer as the upstream gave it (a streamed one assembled).
    pub completion: ChatCompletionResponse,
    /// The catalog model that answered.
    pub model: ModelId,
    /// The upstream's model name.
    pub upstream_model: Option<String>,
    /// Input and output tokens of the answer.
    pub tokens: (u32, u32),
    /// What the answer cost at catalog prices: what each hit saves.
    pub cost_usd: f64,
    /// The request whose answer this is (its outcome row has the real cost).
    pub source_request_id: String,
}

/// A stored answer with its key, expiry and weight.
#[derive(Debug)]
pub struct Entry {
    /// The answer.
    pub answer: Stored,
    /// The key it is stored under (a semantic hit finds it through another request's).
    key: CacheKey,
    /// When it expires, on the cache's clock. An absolute deadline rather than a storage
    /// time: an answer read from Redis may be older than this process, and a storage time
    /// before the clock's zero cannot be written down without saturating (and living longer).
    expires_at: Duration,
    /// Its weight in the byte budget.
    weight: u32,
}

/// The answer cache: `moka` bounds it (when full, its TinyLFU policy keeps the answers asked
/// for most often and recently, and may refuse a new one in place of a popular one)
/// and drops entries past their time-to-live; every read also checks the entry's expiry on
/// the gateway's injectable clock, so that tests move time instead of sleeping, and so that an
/// answer read from Redis lives only for what is left of its TTL.
pub struct ResponseCache {
    entries: moka::sync::Cache<CacheKey, Arc<Entry>>,
    /// Rewordings of stored requests, when `semantic` is on.
    semantic: Option<semantic::SemanticIndex>,
    /// Keys being answered upstream now: an identical request waits for that answer instead
    /// of making a second call.
    in_flight: Arc<Mutex<HashMap<CacheKey, watch::Receiver<()>>>>,
    settings: CacheSettings,
    clock: AuthClock,
    /// The least weight of an entry (see [`ResponseCache::new`]).
    min_weight: u64,
    /// Redis, with `[cache] shared`.
    shared: Option<shared::SharedAnswers>,
    /// The configuration's fingerprint ([`key::config_fingerprint`]), computed on first use.
    fingerprint: std::sync::OnceLock<String>,
    /// Which stored answer each recent request made or was given, by request id, so that a
    /// bad label on either takes the answer out ([`ResponseCache::evict_answer_of`]).
    answered: moka::sync::Cache<String, Answered>,
    /// Requests labelled badly, by request id, for the cache's TTL: an answer such a request
    /// made is not kept again, whether it is stored after the label (a stream's client can
    /// label it as soon as it has read the end, before the gateway stores it; the judge
    /// starts when the row is committed) or read back from Redis, where a failed or early
    /// delete may have left it.
    condemned: moka::sync::Cache<String, ()>,
    /// This cache's name on the evictions channel ([`broadcast`]), to skip its own messages.
    origin: String,
}

pub(crate) use broadcast::spawn as follow_evictions;

/// How long after a bad label the Redis delete is sent again: the answer's own background
/// write to Redis may have landed after the first delete.
const REDIS_DELETE_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// The answer a request made or was replayed ([`ResponseCache::answered`]).
#[derive(Clone, Debug)]
struct Answered {
    key: CacheKey,
    /// The request whose answer it is: a newer answer under the same key is not evicted.
    source_request_id: Arc<str>,
}

/// How many request ids are remembered, per answer the cache can hold: the requests that made
/// answers and their replays, the most recent first (least recently used out). A label on an
/// older one no longer evicts.
const ANSWERED_PER_ENTRY: u64 = 4;

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("settings", &self.settings)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl ResponseCache {
    /// The cache of `settings` (`None` when it is off), ageing entries on `clock`.
    ///
    /// moka bounds one quantity, the total weight, so both limits go into it: the capacity is
    /// `max_bytes` and an entry weighs its JSON size but at least `max_bytes / max_entries`,
    /// so neither more than `max_entries` answers nor more than `max_bytes` bytes are kept.
    ///
    /// `shared`: the Redis counters of `[redis]`; with `[cache] shared` answers are kept there
    /// too (without them the cache stays in memory).
    pub fn new(
        settings: &CacheSettings,
        clock: AuthClock,
        shared: Option<Arc<crate::auth::SharedCounters>>,
    ) -> Option<ResponseCache> {
        if !settings.enabled {
            return None;
        }
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_key: &CacheKey, entry: &Arc<Entry>| entry.weight)
            .time_to_live(settings.ttl)
            .build();
        let semantic = settings.semantic.then(|| {
            semantic::SemanticIndex::new(
                settings.max_entries,
                settings.max_bytes,
                settings.ttl,
                settings.semantic_threshold,
            )
        });
        Some(ResponseCache {
            entries,
            semantic,
            in_flight: Arc::default(),
            settings: *settings,
            clock,
            min_weight: (settings.max_bytes / settings.max_entries.max(1)).max(1),
            shared: shared
                .filter(|_| settings.shared)
                .map(|counters| shared::SharedAnswers { counters }),
            fingerprint: std::sync::OnceLock::new(),
            // Least recently used out, not moka's default TinyLFU: an id is never read before
            // its label comes, so TinyLFU would refuse every new one once full and keep the
            // oldest, and labels on new answers would evict nothing.
            answered: moka::sync::Cache::builder()
                .max_capacity(settings.max_entries.saturating_mul(ANSWERED_PER_ENTRY))
                .time_to_live(settings.ttl)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
            condemned: moka::sync::Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
            origin: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    /// The Redis connection answers are shared through, with `[cache] shared`.
    pub(crate) fn shared_counters(&self) -> Option<Arc<crate::auth::SharedCounters>> {
        self.shared.as_ref().map(|s| Arc::clone(&s.counters))
    }

    /// The fingerprint of `config` that every key carries ([`key::Namespace::config`]); the
    /// configuration is fixed for the process's life, so it is computed once.
    pub fn fingerprint(&self, config: &crate::config::Config) -> &str {
        self.fingerprint
            .get_or_init(|| key::config_fingerprint(config))
    }

    /// The stored answer of `key`, unless it is missing or older than the TTL.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key)?;
        if self.clock.elapsed() >= entry.expires_at {
            self.evict(key, &entry);
            return None;
        }
        Some(entry)
    }

    /// Removes `stale` from under `key`, but not an answer stored there since it was read:
    /// another request may have stored a fresh one in between, and dropping that would cost
    /// an upstream call. Atomic per key in moka.
    fn evict(&self, key: &CacheKey, stale: &Arc<Entry>) {
        self.entries
            .entry(*key)
            .and_compute_with(|current| match current {
                Some(current) if Arc::ptr_eq(current.value(), stale) => {
                    moka::ops::compute::Op::Remove
                }
                _ => moka::ops::compute::Op::Nop,
            });
    }

    /// [`ResponseCache::get`], then, with `[cache] shared`, what another replica stored in
    /// Redis (kept in memory from then on, for the rest of its TTL).
    pub async fn lookup(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        if let Some(entry) = self.get(key) {
            return Some(entry);
        }
        let shared = self.shared.as_ref()?;
        let (answer, age) = shared
            .get(key, self.clock.unix_ms(), self.settings.ttl)
            .await?;
        self.keep(*key, answer, self.settings.ttl.saturating_sub(age))
    }

    /// Stores an answer under `key` (replacing an older one), and with `[cache] shared` in
    /// Redis too. An answer larger than the whole byte budget is not stored, nor one that is
    /// not worth replaying ([`storable`]).
    pub fn insert(&self, key: CacheKey, answer: Stored) {
        let Some(entry) = self.keep(key, answer, self.settings.ttl) else {
            return;
        };
        if let Some(shared) = &self.shared {
            shared.put(&key, &entry.answer, self.clock.unix_ms(), self.settings.ttl);
        }
    }

    /// Keeps `answer` in memory for the `remaining` part of its life; `None` when it is not
    /// worth keeping.
    fn keep(&self, key: CacheKey, mut answer: Stored, remaining: Duration) -> Option<Arc<Entry>> {
        if !storable(&answer.completion) || self.condemned(&answer.source_request_id) {
            return None;
        }
        let bytes = serde_json::to_vec(&answer.completion).map_or(u64::MAX, |v| v.len() as u64);
        if bytes > self.settings.max_bytes {
            return None;
        }
        if !answer.cost_usd.is_finite() {
            answer.cost_usd = 0.0;
        }
        let weight = u32::try_from(bytes.max(self.min_weight)).unwrap_or(u32::MAX);
        tracing::debug!(key = %key.hex(), bytes, "Answer cached.");
        let entry = Arc::new(Entry {
            answer,
            key,
            expires_at: self.clock.elapsed().saturating_add(remaining),
            weight,
        });
        self.entries.insert(key, Arc::clone(&entry));
        self.served(&entry.answer.source_request_id, &entry);
        // A bad label that came between the check above and the lines before found no
        // answer to evict and condemned the request: take the answer out again. (The label
        // condemns before it looks the request up, and this looks after recording it, so one
        // of the two sees the other.)
        if self.condemned(&entry.answer.source_request_id) {
            self.evict(&key, &entry);
            return None;
        }
        Some(entry)
    }

    /// Whether request `request_id` was labelled badly within the TTL.
    fn condemned(&self, request_id: &str) -> bool {
        self.settings.evict_below > 0.0 && self.condemned.contains_key(request_id)
    }

    /// Remembers that request `request_id` was answered with `entry` (its own answer, or a
    /// replay), so that a bad label on it evicts the answer.
    pub fn served(&self, request_id: &str, entry: &Entry) {
        if self.settings.evict_below <= 0.0 {
            return;
        }
        self.answered.insert(
            request_id.to_owned(),
            Answered {
                key: entry.key,
                source_request_id: Arc::from(entry.answer.source_request_id.as_str()),
            },
        );
    }

    /// Takes out the answer request `request_id` made or was replayed, after a label scored
    /// it `score`, when that is below `[cache] evict_below`: from memory (with every
    /// rewording that would reach it, since the semantic index only points at the key) and,
    /// with `[cache] shared`, from Redis, so that no replica fetches it again. Only that
    /// answer: one stored under the same key since (a fresh call) stays. Returns whether an
    /// answer was taken out here or in Redis.
    ///
    /// With `[cache] shared` the label is also published to the other replicas
    /// ([`broadcast`]): the one that served the request (if not this one) takes the answer
    /// out, and every replica holding a copy drops it.
    pub async fn evict_answer_of(&self, request_id: &str, score: f64) -> bool {
        if score >= self.settings.evict_below {
            return false;
        }
        let (removed, answered) = self.evict_served(request_id).await;
        if let Some(shared) = &self.shared {
            let eviction = broadcast::Eviction {
                origin: self.origin.clone(),
                request_id: request_id.to_owned(),
                answer: answered.map(|a| (a.key.hex(), a.source_request_id.to_string())),
            };
            broadcast::announce(&shared.counters, &eviction);
        }
        if removed {
            tracing::info!(
                request_id,
                score,
                "Cached answer evicted after a bad label."
            );
        }
        removed
    }

    /// The eviction another replica published: the answer it names is dropped from memory;
    /// where it names none (that replica did not serve the request) and this one served it,
    /// the answer goes as after a label here, and which answer it was is published in turn.
    /// Whether an answer was taken out.
    pub(super) async fn evict_published(&self, eviction: &broadcast::Eviction) -> bool {
        if eviction.origin == self.origin || self.settings.evict_below <= 0.0 {
            return false;
        }
        if let Some((key, source)) = eviction.answer() {
            // Condemned first, as in `evict_served`: a copy being read back from Redis now
            // is not kept either.
            self.condemned.insert(eviction.request_id.clone(), ());
            self.condemned.insert(source.to_owned(), ());
            return self.evict_memory(key, source);
        }
        let (removed, answered) = self.evict_served(&eviction.request_id).await;
        if let (Some(answered), Some(shared)) = (answered, &self.shared) {
            let resolved = broadcast::Eviction {
                origin: self.origin.clone(),
                request_id: eviction.request_id.clone(),
                answer: Some((answered.key.hex(), answered.source_request_id.to_string())),
            };
            broadcast::announce(&shared.counters, &resolved);
        }
        removed
    }

    /// Condemns `request_id` and takes out the answer it made or was given here, from memory
    /// and Redis; whether one was taken out, and which answer this replica gave it (none when
    /// another replica served it).
    async fn evict_served(&self, request_id: &str) -> (bool, Option<Answered>) {
        // Before the lookup (see `keep`): an answer stored from now on is not kept.
        self.condemned.insert(request_id.to_owned(), ());
        let Some(answered) = self.answered.get(request_id) else {
            return (false, None);
        };
        let source = &*answered.source_request_id;
        self.condemned.insert(source.to_owned(), ());
        let mut removed = self.evict_memory(answered.key, source);
        if let Some(shared) = &self.shared {
            removed |= shared.remove(&answered.key, source).await;
            // Once more a little later: the answer's own write to Redis runs in the background
            // and may land after this delete (a label right after a stream's end).
            shared.remove_later(answered.key, source.to_owned(), REDIS_DELETE_AGAIN_AFTER);
        }
        (removed, Some(answered))
    }

    /// Drops the answer under `key` from memory if request `source` made it; whether it did.
    fn evict_memory(&self, key: CacheKey, source: &str) -> bool {
        let mut removed = false;
        self.entries
            .entry(key)
            .and_compute_with(|current| match current {
                Some(current) if current.value().answer.source_request_id == source => {
                    removed = true;
                    moka::ops::compute::Op::Remove
                }
                _ => moka::ops::compute::Op::Nop,
            });
        if removed {
            tracing::debug!(key = %key.hex(), source_request_id = source, "Cached answer dropped.");
        }
        removed
    }

    /// The stored answer of the closest rewording of a request with semantic `scope`, last
    /// user `text` and routing `embedding`, with its cosine, if one is close enough and still
    /// stored.
    pub fn semantic_get(
        &self,
        scope: &CacheKey,
        text: &str,
        embedding: &[f32],
    ) -> Option<(Arc<Entry>, f32)> {
        let index = self.semantic.as_ref()?;
        let signature = signature::signature(text);
        let found = index.find(scope, &signature, embedding, |k| self.get(k).is_some())?;
        Some((self.get(&found.answer)?, found.similarity))
    }

    /// Indexes the answer stored (or about to be stored) under `answer` as the reply to the
    /// request with semantic `scope`, last user `text` and routing `embedding`. A lookup
    /// checks that the answer is stored, so an answer that never completes is never served.
    pub fn semantic_insert(
        &self,
        scope: &CacheKey,
        text: &str,
        embedding: Vec<f32>,
        answer: CacheKey,
    ) {
        if let Some(index) = &self.semantic {
            index.insert(scope, signature::signature(text), embedding, answer);
        }
    }

    /// Joins the requests for `key`: the first one [`Coalesce::Lead`]s (it calls upstream and
    /// holds the [`Leader`] until its answer is stored or has failed); the others
    /// [`Coalesce::Follow`], waiting for the leader to finish and then reading the cache.
    /// With no leader, the answer may have been stored since the caller's lookup (a leader
    /// stores before it leaves): it is returned as [`Coalesce::Stored`] rather than called
    /// for again.
    pub fn join(&self, key: CacheKey) -> Coalesce {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = in_flight.get(&key) {
            return Coalesce::Follow(rx.clone());
        }
        if let Some(entry) = self.get(&key) {
            return Coalesce::Stored(entry);
        }
        let (tx, rx) = watch::channel(());
        in_flight.insert(key, rx);
        Coalesce::Lead(Leader {
            key,
            in_flight: Arc::clone(&self.in_flight),
            _done: tx,
        })
    }

    /// Drops every stored answer and rewording: after a router reload, `auto` may no longer
    /// choose the model that made them.
    pub fn clear(&self) {
        self.entries.invalidate_all();
        if let Some(index) = &self.semantic {
            index.clear();
        }
    }

    /// Entries and their total weight in bytes, after moka's pending maintenance (so the
    /// numbers reflect evictions), for the metrics scrape.
    pub fn size(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

/// A request's place among identical requests in flight ([`ResponseCache::join`]).
#[derive(Debug)]
pub enum Coalesce {
    /// Call upstream; followers wait until this guard is dropped.
    Lead(Leader),
    /// Wait until the leader is done (the receiver's `changed()` returns), then read the cache.
    Follow(watch::Receiver<()>),
    /// No leader, and the answer is stored (a leader stored it since the caller looked).
    Stored(Arc<Entry>),
}

/// The request answering a key upstream. Dropping it (answer stored, or failed) wakes the
/// followers: they find the answer in the cache, or make their own calls.
#[derive(Debug)]
pub struct Leader {
    key: CacheKey,
    in_flight: Arc<Mutex<HashMap<CacheKey, watch::Receiver<()>>>>,
    /// Dropped last: closing the channel is what wakes the followers.
    _done: watch::Sender<()>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Removed before the channel closes, so a woken follower that misses never finds this
        // leader again; only this leader's entry can be under its key (one leader per key).
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests;
