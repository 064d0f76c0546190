//! Per-key rate limits: requests per minute through `governor` (GCRA), tokens per minute
//! through a token bucket, both reading one injectable [`AuthClock`] so that tests move time
//! forward instead of sleeping.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// The time source of rate windows and budget periods: the system clock, or a manual one
/// that only moves when a test calls [`AuthClock::advance`].
#[derive(Clone, Debug)]
pub struct AuthClock {
    base: Instant,
    manual: Option<Arc<Manual>>,
}

#[derive(Debug)]
struct Manual {
    /// Monotonic nanoseconds since the clock was made.
    nanos: AtomicU64,
    /// Unix milliseconds at `nanos == 0`.
    unix_ms_at_start: u64,
}

impl AuthClock {
    /// The system clock.
    pub fn system() -> Self {
        AuthClock {
            base: Instant::now(),
            manual: None,
        }
    }

    /// A manual clock starting at `unix_ms` (wall time, for budget periods).
    pub fn manual(unix_ms: u64) -> Self {
        AuthClock {
            base: Instant::now(),
            manual: Some(Arc::new(Manual {
                nanos: AtomicU64::new(0),
                unix_ms_at_start: unix_ms,
            })),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(m) = &self.manual {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            m.nanos.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// Monotonic time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        match &self.manual {
            Some(m) => Duration::from_nanos(m.nanos.load(Ordering::SeqCst)),
            None => self.base.elapsed(),
        }
    }

    /// Wall time in Unix microseconds (the shared limits' time base).
    pub fn unix_us(&self) -> u64 {
        match &self.manual {
            Some(m) => m
                .unix_ms_at_start
                .saturating_mul(1_000)
                .saturating_add(m.nanos.load(Ordering::SeqCst) / 1_000),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }

    /// Wall time in Unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        match &self.manual {
            Some(m) => m
                .unix_ms_at_start
                .saturating_add(m.nanos.load(Ordering::SeqCst) / 1_000_000),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }
}

impl Clock for AuthClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.elapsed())
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, AuthClock, NoOpMiddleware<Nanos>>;

/// Requests per minute: a burst of up to `rpm` requests, one more every `60 s / rpm`.
#[derive(Debug)]
pub struct RequestLimit {
    limiter: Governor,
    clock: AuthClock,
}

impl RequestLimit {
    /// A limit of `rpm` requests per minute on `clock`.
    pub fn new(rpm: NonZeroU32, clock: AuthClock) -> Self {
        RequestLimit {
            limiter: RateLimiter::direct_with_clock(Quota::per_minute(rpm), clock.clone()),
            clock,
        }
    }

    /// Takes one request, or says how long until one is allowed.
    pub fn check(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Tokens per minute: a bucket of `tpm` tokens refilled continuously at `tpm / 60` per
/// second. A request takes its estimate up front; [`TokenLimit::settle`] corrects it with
/// the real count afterwards, so the bucket may go into debt and later requests wait.
#[derive(Debug)]
pub struct TokenLimit {
    capacity: f64,
    state: Mutex<Bucket>,
    clock: AuthClock,
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Duration,
}

impl TokenLimit {
    /// A limit of `tpm` tokens per minute on `clock`, starting full.
    pub fn new(tpm: NonZeroU32, clock: AuthClock) -> Self {
        let capacity = f64::from(tpm.get());
        TokenLimit {
            capacity,
            state: Mutex::new(Bucket {
                level: capacity,
                at: clock.elapsed(),
            }),
            clock,
        }
    }

    fn refill(&self, b: &mut Bucket) {
        let now = self.clock.elapsed();
        let dt = now.saturating_sub(b.at).as_secs_f64();
        b.level = (b.level + dt * self.capacity / 60.0).min(self.capacity);
        b.at = now;
    }

    /// Takes `tokens` (a request larger than the whole bucket needs a full bucket), or says
    /// how long until they are there.
    pub fn take(&self, tokens: u64) -> Result<(), Duration> {
        let want = (tokens as f64).min(self.capacity);
        let Ok(mut b) = self.state.lock() else {
            return Ok(());
        };
        self.refill(&mut b);
        if b.level >= want {
            b.level -= want;
            Ok(())
        } else {
            let missing = want - b.level;
            Err(Duration::from_secs_f64(missing * 60.0 / self.capacity))
        }
    }

    /// Corrects an earlier [`TokenLimit::take`] of `estimated` tokens with the `actual` count.
    /// The debt is capped at one bucket so that one huge answer blocks for at most a minute.
    pub fn settle(&self, estimated: u64, actual: u64) {
        let Ok(mut b) = self.state.lock() else {
            return;
        };
        self.refill(&mut b);
        let taken = (estimated as f64).min(self.capacity);
        b.level = (b.level + taken - actual as f64).clamp(-self.capacity, self.capacity);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn rpm_allows_a_burst_then_waits_one_interval() {
        let clock = AuthClock::manual(0);
        let limit = RequestLimit::new(nz(3), clock.clone());
        for _ in 0..3 {
            limit.check().unwrap();
        }
        let wait = limit.check().unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        clock.advance(Duration::from_secs(19));
        assert!(limit.check().is_err());
        clock.advance(Duration::from_secs(1));
        limit.check().unwrap();
        assert!(limit.check().is_err());
    }

    #[test]
    fn tpm_bucket_refills_and_carries_debt() {
        let clock = AuthClock::manual(0);
        let limit = TokenLimit::new(nz(600), clock.clone());
        limit.take(500).unwrap();
        // 100 left; 200 missing at 10 tokens/s.
        assert_eq!(limit.take(300).unwrap_err(), Duration::from_secs(20));
        clock.advance(Duration::from_secs(20));
        limit.take(300).unwrap();
        // The answer used 600 more than estimated: the bucket is in debt.
        limit.settle(300, 900);
        let wait = limit.take(1).unwrap_err();
        assert_eq!(wait, Duration::from_secs_f64(601.0 / 10.0));
        // A request larger than the bucket needs a full bucket, not forever.
        clock.advance(Duration::from_secs(600));
        limit.take(10_000).unwrap();
    }

    #[test]
    fn manual_clock_moves_wall_time_too() {
        let clock = AuthClock::manual(1_000);
        clock.advance(Duration::from_millis(2_500));
        assert_eq!(clock.unix_ms(), 3_500);
        assert_eq!(clock.elapsed(), Duration::from_millis(2_500));
    }
}
