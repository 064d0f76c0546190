//! A per-provider circuit breaker: closed → (N consecutive upstream failures) → open →
//! (`open_for` elapsed) → half-open, where up to `half_open_probes` calls go through; a probe's
//! success closes the breaker, its failure opens it again.
//!
//! Time is passed in (`now`) so that tests drive the clock.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::CircuitBreakerConfig;

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { in_flight: u32, since: Instant },
}

/// What the breaker said to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// Closed: a normal call.
    Normal,
    /// Half-open: a probe whose result decides the state.
    Probe,
}

/// The breaker's state, for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// Probes are allowed.
    HalfOpen,
}

/// One provider's breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: CircuitBreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call; `None` means the breaker refuses it.
    pub fn try_acquire(&self, now: Instant) -> Option<Permit> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Some(Permit::Normal),
            State::Open { until } if now < until => None,
            State::Open { .. } => {
                *state = State::HalfOpen {
                    in_flight: 1,
                    since: now,
                };
                Some(Permit::Probe)
            }
            State::HalfOpen { in_flight, since } => {
                // A probe whose caller vanished (cancelled request) never reports back; after
                // another `open_for` its slot is considered free again.
                let stale = now.saturating_duration_since(since) >= self.config.open_for;
                if in_flight < self.config.half_open_probes || stale {
                    let in_flight = if stale { 1 } else { in_flight + 1 };
                    let since = if stale { now } else { since };
                    *state = State::HalfOpen { in_flight, since };
                    Some(Permit::Probe)
                } else {
                    None
                }
            }
        }
    }

    /// The call succeeded.
    pub fn on_success(&self, _permit: Permit) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed because of the upstream. Returns true when this opened the breaker.
    pub fn on_failure(&self, permit: Permit, now: Instant) -> bool {
        let mut state = self.lock();
        let open = State::Open {
            until: now + self.config.open_for,
        };
        match (*state, permit) {
            (State::Closed { failures }, Permit::Normal) => {
                let failures = failures + 1;
                if failures >= self.config.failures_to_open {
                    *state = open;
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            (State::HalfOpen { .. }, _) => {
                *state = open;
                true
            }
            // A late report from a call admitted before the state changed.
            (State::Closed { .. }, Permit::Probe) | (State::Open { .. }, _) => false,
        }
    }

    /// The call ended without saying anything about the upstream's health (the client's
    /// request was refused, or the call was abandoned): frees a probe slot.
    pub fn on_neutral(&self, permit: Permit) {
        let mut state = self.lock();
        if let (State::HalfOpen { in_flight, since }, Permit::Probe) = (*state, permit) {
            *state = State::HalfOpen {
                in_flight: in_flight.saturating_sub(1),
                since,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig {
            failures_to_open: 3,
            open_for: Duration::from_secs(10),
            half_open_probes: 1,
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..2 {
            let p = b.try_acquire(t).unwrap();
            assert!(!b.on_failure(p, t));
        }
        // A success resets the count.
        b.on_success(b.try_acquire(t).unwrap());
        for _ in 0..2 {
            let p = b.try_acquire(t).unwrap();
            assert!(!b.on_failure(p, t));
        }
        let p = b.try_acquire(t).unwrap();
        assert!(b.on_failure(p, t));
        assert_eq!(b.state(t), BreakerState::Open);
        assert!(b.try_acquire(t + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn half_open_admits_limited_probes_and_closes_on_success() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            let p = b.try_acquire(t).unwrap();
            b.on_failure(p, t);
        }
        let later = t + Duration::from_secs(10);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        let probe = b.try_acquire(later).unwrap();
        assert_eq!(probe, Permit::Probe);
        assert!(b.try_acquire(later).is_none(), "only one probe at a time");
        b.on_success(probe);
        assert_eq!(b.state(later), BreakerState::Closed);
        assert_eq!(b.try_acquire(later), Some(Permit::Normal));
    }

    #[test]
    fn failed_probe_reopens_and_neutral_frees_the_slot() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            let p = b.try_acquire(t).unwrap();
            b.on_failure(p, t);
        }
        let later = t + Duration::from_secs(10);
        let probe = b.try_acquire(later).unwrap();
        b.on_neutral(probe);
        let probe = b.try_acquire(later).unwrap();
        assert!(b.on_failure(probe, later));
        assert_eq!(b.state(later), BreakerState::Open);
        assert!(b.try_acquire(later + Duration::from_secs(5)).is_none());
    }

    #[test]
    fn abandoned_probe_slot_is_reclaimed() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            let p = b.try_acquire(t).unwrap();
            b.on_failure(p, t);
        }
        let later = t + Duration::from_secs(10);
        let _lost = b.try_acquire(later).unwrap();
        assert!(b.try_acquire(later + Duration::from_secs(1)).is_none());
        assert!(b.try_acquire(later + Duration::from_secs(10)).is_some());
    }
}
