//! Rate limits and budgets shared by every replica through Redis (`[redis]`).
//!
//! Each operation is one Lua script (`scripts.rs`, `*.lua`) with the arithmetic of the
//! in-process versions ([`super::limits`], [`super::budget`]), so that a key allowed 10
//! requests per minute gets 10 across all replicas, not 10 per replica. Keys (under
//! `key_prefix`; the key id in braces, a Redis Cluster hash tag, so that one client key's
//! counters share a slot):
//! - `rpm:{key id}`: the GCRA arrival time;
//! - `tpm:{key id}`: the token bucket;
//! - `spent:{key id}:{period start ms}`: the spend settled in a budget period;
//! - `holds:{key id}`: budget holds of requests in flight, each lapsing when the longest
//!   request could have ended, so that a replica killed mid-request leaks nothing for long;
//!   `held:{key id}`: their sum.
//!
//! Time comes from the [`AuthClock`] as a script argument rather than from Redis `TIME`: the
//! tests drive these scripts with the manual clock exactly as they drive the in-process
//! limits, and replicas agree as far as their NTP clocks do (milliseconds), far below any
//! per-minute window. The scripts never refill for time that went backwards.
//!
//! When Redis cannot answer within `timeout`, [`SharedCounters::unavailable`] decides:
//! `on_unavailable = "local"` counts in the replica's own memory (a warning at most once a
//! minute and `switchyard_redis_unavailable_total`), `"refuse"` answers 503.

mod calls;
mod scripts;

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::task::TaskTracker;

use super::budget::{Budget, OverBudget, Period};
use super::limits::AuthClock;
use crate::config::{OnUnavailable, Redis};
use crate::http::error::ApiError;
use crate::metrics::Metrics;

/// Why a shared counter gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedError {
    /// Redis did not answer within `[redis] timeout`.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the command failed. Not a `#[source]`: the message already holds
    /// the Redis error, whose own chain would repeat it.
    #[error("Redis command failed: {0}")]
    Redis(redis::RedisError),
    /// A command failed less than [`BACKOFF`] ago: Redis is not asked again yet.
    #[error("Redis failed less than {0:?} ago; not asked again yet")]
    Backoff(Duration),
}

/// How long after a failed command every request skips Redis and goes straight to
/// `on_unavailable`: a Redis that is down or slow would otherwise cost every request the
/// whole `timeout` before it falls back. One request per period tries again.
pub const BACKOFF: Duration = Duration::from_secs(1);

impl From<redis::RedisError> for SharedError {
    fn from(e: redis::RedisError) -> Self {
        SharedError::Redis(e)
    }
}

/// The connection to the shared counters; cheap to share behind an `Arc`.
pub struct SharedCounters {
    conn: ConnectionManager,
    /// For the subscription to cache evictions, which needs a connection of its own.
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    on_unavailable: OnUnavailable,
    hold_for: Duration,
    /// Whether thinking text goes into tool calls' shared records (`[redis] share_thinking`).
    share_thinking: bool,
    clock: AuthClock,
    metrics: Arc<Metrics>,
    /// Settlements run here, off the request that ends; shutdown waits for them.
    tracker: TaskTracker,
    /// Unix ms of the last "Redis unavailable" warning (one a minute at most).
    warned_ms: AtomicU64,
    /// Microseconds after `since` until which commands skip Redis ([`BACKOFF`]); 0: none.
    /// Real time, not the auth clock: tests move that one by minutes at a time.
    skip_until_us: AtomicU64,
    /// The same for reads and for writes of tool calls' records, each on its own: a slow
    /// record read must not switch the limits off nor drop the next records' writes, and a
    /// Redis that is down must not cost every tool turn its timeout.
    call_reads_skip_until_us: AtomicU64,
    call_writes_skip_until_us: AtomicU64,
    /// The same for announcing bad labels to the other replicas: a publish Redis refuses
    /// (a user without channel permissions) must not pause the limits.
    evictions_skip_until_us: AtomicU64,
    since: std::time::Instant,
    /// Settlements Redis did not take, oldest first ([`SharedCounters::defer`]).
    deferred: Mutex<VecDeque<Settlement>>,
    /// Whether a task is sending them again now.
    flushing: AtomicBool,
}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("on_unavailable", &self.on_unavailable)
            .finish_non_exhaustive()
    }
}

/// How long between two "Redis unavailable" warnings.
const WARN_EVERY_MS: u64 = 60_000;

impl SharedCounters {
    /// Connects to `[redis]`. A Redis that refuses the first connection is an error with
    /// `on_unavailable = "refuse"`, and a warning with `"local"`, whose requests then count
    /// locally until a later command reconnects.
    pub async fn connect(
        config: &Redis,
        clock: AuthClock,
        metrics: Arc<Metrics>,
    ) -> Result<SharedCounters, SharedError> {
        let client = redis::Client::open(config.url.expose().as_str())?;
        // A connection attempt may take longer than one command on a remote Redis, but not so
        // long that requests pile up behind it: every command is bounded by `timeout` anyway.
        let connect_within = config.timeout.max(Duration::from_millis(500));
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_within))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)?;
        let counters = SharedCounters {
            conn,
            client,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            on_unavailable: config.on_unavailable,
            hold_for: config.hold_for,
            share_thinking: config.share_thinking,
            clock,
            metrics,
            tracker: TaskTracker::new(),
            warned_ms: AtomicU64::new(0),
            skip_until_us: AtomicU64::new(0),
            call_reads_skip_until_us: AtomicU64::new(0),
            call_writes_skip_until_us: AtomicU64::new(0),
            evictions_skip_until_us: AtomicU64::new(0),
            since: std::time::Instant::now(),
            deferred: Mutex::default(),
            flushing: AtomicBool::new(false),
        };
        // The first command also waits for the first connection, hence the longer bound.
        let mut conn = counters.conn.clone();
        let ping = redis::cmd("PING");
        let answered = match tokio::time::timeout(
            connect_within + config.timeout,
            ping.query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(r) => r.map(|_| ()).map_err(SharedError::from),
            Err(_) => Err(SharedError::Timeout(connect_within + config.timeout)),
        };
        match answered {
            Ok(()) => {}
            Err(e) if counters.on_unavailable == OnUnavailable::Refuse => return Err(e),
            Err(e) => tracing::warn!(
                error = %e,
                "Redis is unreachable at start-up; limits and budgets count per replica until it answers."
            ),
        }
        Ok(counters)
    }

    /// `[redis] timeout`: the longest wait for one command.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The tracker of the settlements in flight.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// How long a budget hold lasts at most.
    pub fn hold_for(&self) -> Duration {
        self.hold_for
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        self.bounded_with(fut, &self.skip_until_us).await
    }

    /// [`Self::bounded`] with its own back-off clock (`skip_until_us`, or the tool calls').
    async fn bounded_with<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
        skip_until_us: &AtomicU64,
    ) -> Result<T, SharedError> {
        let now_us = self.now_us();
        if now_us < skip_until_us.load(Ordering::Relaxed) {
            return Err(SharedError::Backoff(BACKOFF));
        }
        let failed = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => SharedError::Redis(e),
            Err(_) => SharedError::Timeout(self.timeout),
        };
        let until = self.now_us().saturating_add(BACKOFF.as_micros() as u64);
        skip_until_us.fetch_max(until, Ordering::Relaxed);
        Err(failed)
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    // The key id is a hash tag (`{…}`): a script touches several keys of one client key, and
    // Redis Cluster runs a script only when all its keys hash to one slot.
    fn key(&self, kind: &str, key_id: &str) -> String {
        format!("{}{kind}:{{{key_id}}}", self.prefix)
    }

    fn spent_key(&self, key_id: &str, period_start_ms: u64) -> String {
        format!("{}spent:{{{key_id}}}:{period_start_ms}", self.prefix)
    }

    /// What a request gets when `op` found Redis unavailable: `Ok` to count locally instead,
    /// or the 503 to answer. Counts and (at most once a minute) logs either way.
    pub fn unavailable(&self, op: &'static str, error: &SharedError) -> Result<(), ApiError> {
        let action = match self.on_unavailable {
            OnUnavailable::Local => "local",
            OnUnavailable::Refuse => "refused",
        };
        self.note(op, action, error);
        match self.on_unavailable {
            OnUnavailable::Local => Ok(()),
            OnUnavailable::Refuse => Err(ApiError::LimitsUnavailable),
        }
    }

    /// Counts a failed command and logs it (at most once a minute).
    fn note(&self, op: &'static str, action: &'static str, error: &SharedError) {
        self.metrics.redis_unavailable(op, action);
        let now = self.clock.unix_ms();
        let last = self.warned_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS || last == 0 {
            self.warned_ms.store(now.max(1), Ordering::Relaxed);
            tracing::warn!(
                op,
                action,
                error = %error,
                "Shared limits unavailable (Redis); further failures are counted in switchyard_redis_unavailable_total."
            );
        }
    }

    /// Counts and logs a failed start-up seed: the budget then counts from what Redis has.
    pub(super) fn note_seed_failure(&self, error: &SharedError) {
        self.note("seed", "dropped", error);
    }

    /// Takes one request from `key_id`'s limit of `rpm` per minute, or says how long to wait.
    pub async fn check_requests(
        &self,
        key_id: &str,
        rpm: NonZeroU32,
    ) -> Result<Result<(), Duration>, SharedError> {
        // governor's quota: one request every 60 s / rpm, a burst of rpm (at least 1 µs
        // apart, as governor keeps at least 1 ns).
        let t_us = (60_000_000 / u64::from(rpm.get())).max(1);
        let tau_us = t_us * u64::from(rpm.get() - 1);
        let mut conn = self.conn.clone();
        let mut call = scripts::REQUESTS.key(self.key("rpm", key_id));
        call.arg(self.clock.unix_us()).arg(t_us).arg(tau_us);
        let wait_us: f64 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(as_wait(wait_us))
    }

    /// Takes `tokens` (capped at the bucket) from `key_id`'s bucket of `tpm` tokens per
    /// minute, or says how long until they are there.
    pub async fn take_tokens(
        &self,
        key_id: &str,
        tpm: NonZeroU32,
        tokens: u64,
    ) -> Result<Result<(), Duration>, SharedError> {
        let capacity = f64::from(tpm.get());
        let want = (tokens as f64).min(capacity);
        self.tokens(key_id, capacity, want, "take").await
    }

    /// Corrects an earlier take of `estimated` tokens with the `actual` count.
    pub async fn settle_tokens(
        &self,
        key_id: &str,
        tpm: NonZeroU32,
        estimated: u64,
        actual: u64,
    ) -> Result<(), SharedError> {
        let capacity = f64::from(tpm.get());
        let taken = (estimated as f64).min(capacity);
        self.tokens(key_id, capacity, taken - actual as f64, "settle")
            .await
            .map(|_| ())
    }

    async fn tokens(
        &self,
        key_id: &str,
        capacity: f64,
        amount: f64,
        mode: &'static str,
    ) -> Result<Result<(), Duration>, SharedError> {
        let mut conn = self.conn.clone();
        let mut call = scripts::TOKENS.key(self.key("tpm", key_id));
        call.arg(self.clock.unix_us())
            .arg(capacity)
            .arg(amount)
            .arg(mode);
        let wait_us: f64 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(as_wait(wait_us))
    }

    /// Holds `amount_usd` against `key_id`'s budget, or says why not.
    pub async fn reserve(
        self: &Arc<Self>,
        key_id: &str,
        budget: Budget,
        amount_usd: f64,
        known_spent_usd: f64,
    ) -> Result<Result<Hold, OverBudget>, SharedError> {
        let amount = if amount_usd.is_finite() && amount_usd > 0.0 {
            amount_usd
        } else {
            0.0
        };
        let now = self.clock.unix_ms();
        let start = budget.period.start_ms(now);
        let member = format!("{}|{amount}", uuid::Uuid::new_v4());
        let hold_ms = u64::try_from(self.hold_for.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let mut call = scripts::RESERVE.key(self.spent_key(key_id, start));
        call.key(self.key("holds", key_id))
            .key(self.key("held", key_id))
            .arg(now)
            .arg(budget.limit_usd)
            .arg(&member)
            .arg(now.saturating_add(hold_ms))
            .arg(hold_ms)
            .arg(amount)
            .arg(if known_spent_usd.is_finite() {
                known_spent_usd.max(0.0)
            } else {
                0.0
            })
            .arg(spent_ttl_ms(budget.period, start, now));
        let (admitted, spent_usd, reserved_usd): (i64, f64, f64) =
            self.bounded(call.invoke_async(&mut conn)).await?;
        if admitted == 0 {
            return Ok(Err(OverBudget {
                budget,
                spent_usd,
                reserved_usd,
            }));
        }
        Ok(Ok(Hold {
            counters: Arc::clone(self),
            key_id: key_id.to_owned(),
            period: budget.period,
            member,
            amount,
            done: false,
        }))
    }

    /// A cached answer stored under `name` (`[cache] shared`); `None` when absent. A failed
    /// read is a miss, counted as `op="cache"` and logged like the limits' failures.
    pub async fn cached_answer(&self, name: &str) -> Option<Vec<u8>> {
        let mut conn = self.conn.clone();
        let mut get = redis::cmd("GET");
        get.arg(format!("{}answer:{name}", self.prefix));
        match self
            .bounded(get.query_async::<Option<Vec<u8>>>(&mut conn))
            .await
        {
            Ok(found) => found,
            Err(e) => {
                self.note("cache", "miss", &e);
                None
            }
        }
    }

    /// Stores a cached answer under `name` for `ttl` (Redis drops it then). A failed write
    /// only costs the other replicas a miss: counted and logged, never an error.
    pub async fn store_answer(&self, name: &str, bytes: Vec<u8>, ttl: Duration) {
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(format!("{}answer:{name}", self.prefix))
            .arg(bytes)
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        if let Err(e) = self.bounded(set.query_async::<()>(&mut conn)).await {
            self.note("cache", "dropped", &e);
        }
    }

    /// Deletes the cached answer under `name` if its stored JSON holds `needle` (the answer's
    /// source request id as serialised), so that a fresher answer stored there since stays.
    /// Returns whether one was deleted; a failed call is counted and logged, and the answer
    /// then lives out its TTL in Redis.
    pub async fn forget_answer(&self, name: &str, needle: &str) -> bool {
        let mut conn = self.conn.clone();
        let mut call = scripts::FORGET_ANSWER.key(format!("{}answer:{name}", self.prefix));
        call.arg(needle);
        match self.bounded(call.invoke_async::<i64>(&mut conn)).await {
            Ok(deleted) => deleted > 0,
            Err(e) => {
                self.note("cache", "not_evicted", &e);
                false
            }
        }
    }

    /// The channel replicas announce bad labels on (`[cache] shared`).
    fn evictions_channel(&self) -> String {
        format!("{}cache:evictions", self.prefix)
    }

    /// Publishes `message` to every replica following the evictions channel. A failed call
    /// is counted and logged: the replicas that served the labelled request then keep their
    /// copies until the TTL.
    pub async fn publish_eviction(&self, message: Vec<u8>) {
        let mut conn = self.conn.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.evictions_channel()).arg(message);
        let published = self.bounded_with(
            publish.query_async::<i64>(&mut conn),
            &self.evictions_skip_until_us,
        );
        if let Err(e) = published.await {
            self.note("cache", "not_announced", &e);
        }
    }

    /// A connection of its own subscribed to the evictions channel, within the timeout
    /// `[redis]` gives a first connection.
    pub async fn follow_evictions(&self) -> Result<redis::aio::PubSub, SharedError> {
        let within = self.timeout.max(Duration::from_millis(500)) + self.timeout;
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.evictions_channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(within, subscribe).await {
            Ok(subscribed) => subscribed.map_err(SharedError::from),
            Err(_) => Err(SharedError::Timeout(within)),
        }
    }

    /// `(spent, reserved)` of `key_id` in the current period of `budget`, for listings (two
    /// reads, not one atomic view).
    pub async fn usage(&self, key_id: &str, budget: Budget) -> Result<(f64, f64), SharedError> {
        let now = self.clock.unix_ms();
        let start = budget.period.start_ms(now);
        let mut conn = self.conn.clone();
        let mut get = redis::cmd("GET");
        get.arg(self.spent_key(key_id, start));
        let spent: Option<f64> = self.bounded(get.query_async(&mut conn)).await?;
        let mut holds = redis::cmd("ZRANGEBYSCORE");
        holds
            .arg(self.key("holds", key_id))
            .arg(format!("({now}"))
            .arg("+inf");
        let members: Vec<String> = self.bounded(holds.query_async(&mut conn)).await?;
        let reserved = members
            .iter()
            .filter_map(|m| m.rsplit_once('|').and_then(|(_, a)| a.parse::<f64>().ok()))
            .sum();
        Ok((spent.unwrap_or(0.0), reserved))
    }

    async fn settle_hold(&self, settlement: &Settlement) -> Result<(), SharedError> {
        let Settlement {
            key_id,
            period,
            period_start_ms: start,
            member,
            amount,
            actual_usd: actual,
            ..
        } = settlement;
        let mut conn = self.conn.clone();
        let mut call = scripts::SETTLE.key(self.spent_key(key_id, *start));
        call.key(self.key("holds", key_id))
            .key(self.key("held", key_id))
            .key(format!("{}settled:{{{key_id}}}:{member}", self.prefix))
            .arg(member)
            .arg(amount)
            .arg(actual)
            .arg(spent_ttl_ms(*period, *start, self.clock.unix_ms()))
            .arg(u64::try_from(SETTLED_MARKER_TTL.as_millis()).unwrap_or(u64::MAX));
        let _: i64 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Keeps a settlement Redis did not take, to be sent again once it answers
    /// ([`Self::settle_deferred`]): the real cost would otherwise be missing from the shared
    /// spend until a replica restarts and seeds it from the outcome log, so every replica
    /// would admit past the budget meanwhile. Bounded: past [`MAX_DEFERRED`] the oldest goes.
    fn defer(&self, settlement: Settlement) {
        let mut deferred = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        if deferred.len() >= MAX_DEFERRED {
            deferred.pop_front();
            self.metrics.redis_unavailable("settle", "dropped");
        }
        deferred.push_back(settlement);
    }

    /// Sends the deferred settlements again, oldest first, until Redis fails again (the rest
    /// wait for the next success). One flush at a time. A settlement older than
    /// [`MAX_DEFERRED_AGE`] is dropped: its marker may have expired, so a retry could count it
    /// twice if its first try reached Redis after all.
    async fn settle_deferred(&self) {
        loop {
            if self.flushing.swap(true, Ordering::AcqRel) {
                return;
            }
            let sent_all = self.send_deferred().await;
            self.flushing.store(false, Ordering::Release);
            // One deferred while this flush was ending (after its last look, before the flag
            // went down) would otherwise wait for the next success, which a quiet replica may
            // not have for long.
            if !sent_all || self.deferred_settlements() == 0 {
                return;
            }
        }
    }

    /// Sends the deferred settlements until the queue is empty (`true`) or Redis fails.
    async fn send_deferred(&self) -> bool {
        loop {
            let next = self
                .deferred
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(settlement) = next else {
                return true;
            };
            if settlement.deferred_at.elapsed() > MAX_DEFERRED_AGE {
                self.metrics.redis_unavailable("settle", "dropped");
                continue;
            }
            if let Err(e) = self.settle_hold(&settlement).await {
                self.deferred
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_front(settlement);
                self.note("settle", "deferred", &e);
                return false;
            }
        }
    }

    /// At shutdown, after the last settlements ran: the ones still waiting for Redis are lost
    /// with the process (their cost is in the outcome log, for the next start's seed), so
    /// they are counted as dropped and logged.
    pub fn abandon_deferred(&self) {
        let left =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner));
        if left.is_empty() {
            return;
        }
        for _ in &left {
            self.metrics.redis_unavailable("settle", "dropped");
        }
        let usd: f64 = left.iter().map(|s| s.actual_usd).sum();
        tracing::warn!(
            settlements = left.len(),
            usd,
            "Shutting down with budget settlements Redis never took; the next start's seed from the outcome log restores them."
        );
    }

    /// Settlements waiting for Redis (tests, metrics).
    pub fn deferred_settlements(&self) -> usize {
        self.deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Raises `key_id`'s spend in the period starting at `period_start_ms` to `spent_usd` (the
    /// outcome log's, a floor of the true spend), never lowering it: a restarting replica must
    /// not overwrite what the others counted since, and a settlement Redis missed (a stall, an
    /// outage) comes back. Setting it only where Redis had none kept those lost for the period.
    pub async fn seed(
        &self,
        key_id: &str,
        period: Period,
        period_start_ms: u64,
        spent_usd: f64,
    ) -> Result<(), SharedError> {
        let spent = if spent_usd.is_finite() {
            spent_usd
        } else {
            0.0
        };
        let mut conn = self.conn.clone();
        let mut call = scripts::SEED.key(self.spent_key(key_id, period_start_ms));
        call.arg(spent)
            .arg(spent_ttl_ms(period, period_start_ms, self.clock.unix_ms()));
        let _: i64 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Runs `work` on the runtime without waiting for it (a request's end must not block on
    /// Redis); shutdown waits for it through [`SharedCounters::tracker`]. Outside a runtime
    /// (a value dropped on a plain thread) it is skipped: the hold lapses by itself.
    pub(crate) fn detach(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                self.tracker.spawn_on(work, &handle);
            }
            Err(_) => tracing::debug!("No runtime to settle a shared hold on; it will lapse."),
        }
    }

    /// Settles `actual` tokens against an earlier take of `estimated`, in the background.
    pub(super) fn settle_tokens_later(
        self: &Arc<Self>,
        key_id: &str,
        tpm: NonZeroU32,
        estimated: u64,
        actual: u64,
    ) {
        let counters = Arc::clone(self);
        let key_id = key_id.to_owned();
        self.detach(async move {
            if let Err(e) = counters
                .settle_tokens(&key_id, tpm, estimated, actual)
                .await
            {
                // Nothing to fall back to: the take happened in Redis. The bucket is only off
                // by this request's estimate error.
                counters.note("settle", "dropped", &e);
            }
        });
    }
}

/// How long from `now_ms` a period's spend is kept: until a day (or a month and a day) after
/// the period ends, so that a late settlement still finds it; at least 1 ms.
///
/// A time to live, not an absolute expiry: Redis would read an absolute one on its own clock,
/// so a replica whose clock runs behind Redis's (or the tests' manual clock, fixed at a past
/// date) would set spends that are gone on arrival and budgets that never fill.
fn spent_ttl_ms(period: Period, start_ms: u64, now_ms: u64) -> u64 {
    const DAY_MS: u64 = 86_400_000;
    let expiry = match period {
        Period::Day => start_ms + 2 * DAY_MS,
        Period::Month => start_ms + 32 * DAY_MS,
    };
    expiry.saturating_sub(now_ms).max(1)
}

fn as_wait(wait_us: f64) -> Result<(), Duration> {
    if wait_us > 0.0 && wait_us.is_finite() {
        Err(Duration::from_secs_f64(wait_us / 1e6))
    } else {
        Ok(())
    }
}

/// A budget hold in Redis; settle it with the real cost. Dropped unsettled (the request never
/// reached an upstream), it releases the hold and charges nothing, in the background.
#[derive(Debug)]
pub struct Hold {
    counters: Arc<SharedCounters>,
    key_id: String,
    period: Period,
    member: String,
    amount: f64,
    done: bool,
}

impl Hold {
    /// Replaces the hold with `actual_usd`, in the background; only the first call counts.
    /// If Redis does not take it, it is kept and sent again after Redis's next success
    /// ([`SharedCounters::defer`]).
    pub fn settle(&mut self, actual_usd: f64) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let counters = Arc::clone(&self.counters);
        let settlement = self.settlement(actual_usd);
        self.counters.detach(async move {
            match counters.settle_hold(&settlement).await {
                Ok(()) => counters.settle_deferred().await,
                Err(e) => {
                    // The hold lapses by itself meanwhile; its cost is counted on the retry.
                    counters.note("settle", "deferred", &e);
                    counters.defer(settlement);
                }
            }
        });
    }

    /// Replaces the hold with `actual_usd` and waits for Redis (tests, benchmarks).
    pub async fn settle_now(mut self, actual_usd: f64) -> Result<(), SharedError> {
        self.done = true;
        let settlement = self.settlement(actual_usd);
        self.counters.settle_hold(&settlement).await
    }

    /// This hold's settlement for `actual_usd`, dated now: spend counts in the period the
    /// request ended in, as the outcome log dates it, whenever Redis takes it.
    fn settlement(&self, actual_usd: f64) -> Settlement {
        Settlement {
            key_id: self.key_id.clone(),
            period: self.period,
            period_start_ms: self.period.start_ms(self.counters.clock.unix_ms()),
            member: self.member.clone(),
            amount: self.amount,
            actual_usd: if actual_usd.is_finite() && actual_usd > 0.0 {
                actual_usd
            } else {
                0.0
            },
            deferred_at: std::time::Instant::now(),
        }
    }
}

/// A hold replaced by its real cost, as sent to Redis (and kept while Redis does not take it).
#[derive(Debug)]
struct Settlement {
    key_id: String,
    period: Period,
    /// The budget period the request ended in.
    period_start_ms: u64,
    member: String,
    amount: f64,
    actual_usd: f64,
    /// When it was made (real time): deferred ones past [`MAX_DEFERRED_AGE`] are dropped.
    deferred_at: std::time::Instant,
}

/// Most settlements kept while Redis is away (a few hundred bytes each).
const MAX_DEFERRED: usize = 10_000;
/// How long a paid settlement's marker stays in Redis, so that a retry counts it once: one key
/// of about 100 bytes per paid request of a budgeted key, for this long.
const SETTLED_MARKER_TTL: Duration = Duration::from_secs(15 * 60);
/// The oldest deferred settlement still sent: its marker, set when a lost try did reach
/// Redis, must outlive the retry, with a margin.
const MAX_DEFERRED_AGE: Duration = Duration::from_secs(10 * 60);

impl Drop for Hold {
    fn drop(&mut self) {
        self.settle(0.0);
    }
}

#[cfg(test)]
mod tests;
