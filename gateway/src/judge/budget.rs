//! The judge's daily budget: a call starts only when the day's spend, plus the estimates of
//! the calls in flight, plus its own estimate stays within the budget, so that concurrent
//! calls cannot overshoot it together. Days are UTC days of the Unix clock; the spend is
//! resumed from the log's `judge_calls` rows at start-up.

use std::sync::Mutex;

/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

/// Start of the UTC day containing `unix_ms`.
pub fn day_start_ms(unix_ms: u64) -> u64 {
    unix_ms - unix_ms % DAY_MS
}

#[derive(Debug)]
struct State {
    day: u64,
    spent: f64,
    reserved: f64,
}

/// The day's spend against the limit.
#[derive(Debug)]
pub struct Budget {
    limit_usd: f64,
    state: Mutex<State>,
}

/// A call's reserved estimate; settle it with [`Budget::settle`].
#[derive(Debug)]
#[must_use = "settle the reservation with the call's real cost"]
pub struct Reservation {
    estimate: f64,
}

impl Budget {
    /// A budget of `limit_usd` per day, `spent_today` of it already used at `now_ms`.
    pub fn new(limit_usd: f64, spent_today: f64, now_ms: u64) -> Budget {
        Budget {
            limit_usd,
            state: Mutex::new(State {
                day: day_start_ms(now_ms),
                spent: spent_today.max(0.0),
                reserved: 0.0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the numbers are usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn roll(state: &mut State, now_ms: u64) {
        let day = day_start_ms(now_ms);
        if day != state.day {
            state.day = day;
            state.spent = 0.0;
        }
    }

    /// Reserves `estimate_usd` when it fits in what is left today.
    pub fn try_reserve(&self, estimate_usd: f64, now_ms: u64) -> Option<Reservation> {
        let estimate = if estimate_usd.is_finite() {
            estimate_usd.max(0.0)
        } else {
            return None;
        };
        let mut s = self.lock();
        Self::roll(&mut s, now_ms);
        if s.spent + s.reserved + estimate > self.limit_usd {
            return None;
        }
        s.reserved += estimate;
        Some(Reservation { estimate })
    }

    /// Replaces a reservation with the call's real cost, counted on the day it ended.
    pub fn settle(&self, reservation: Reservation, cost_usd: f64, now_ms: u64) {
        let mut s = self.lock();
        Self::roll(&mut s, now_ms);
        s.reserved = (s.reserved - reservation.estimate).max(0.0);
        Self::spend(&mut s, cost_usd);
    }

    /// Counts `cost_usd` spent without a reservation here (a call whose hold was shared).
    pub fn add_spent(&self, cost_usd: f64, now_ms: u64) {
        let mut s = self.lock();
        Self::roll(&mut s, now_ms);
        Self::spend(&mut s, cost_usd);
    }

    fn spend(state: &mut State, cost_usd: f64) {
        if cost_usd.is_finite() {
            state.spent += cost_usd.max(0.0);
        }
    }

    /// USD spent today (settled calls).
    pub fn spent(&self, now_ms: u64) -> f64 {
        let mut s = self.lock();
        Self::roll(&mut s, now_ms);
        s.spent
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const NOON: u64 = 20_000 * DAY_MS + DAY_MS / 2;

    #[test]
    fn reservations_keep_concurrent_calls_within_the_limit() {
        let b = Budget::new(1.0, 0.2, NOON);
        let r1 = b.try_reserve(0.5, NOON).unwrap();
        assert!(b.try_reserve(0.5, NOON).is_none(), "0.2 + 0.5 + 0.5 > 1");
        b.settle(r1, 0.1, NOON);
        assert!((b.spent(NOON) - 0.3).abs() < 1e-12);
        let r2 = b.try_reserve(0.7, NOON).unwrap();
        b.settle(r2, 0.7, NOON);
        assert!(b.try_reserve(0.01, NOON).is_none());
        assert!(b.try_reserve(f64::NAN, NOON).is_none());
    }

    #[test]
    fn a_new_day_starts_from_zero() {
        let b = Budget::new(1.0, 1.0, NOON);
        assert!(b.try_reserve(0.1, NOON).is_none());
        let tomorrow = NOON + DAY_MS;
        assert_eq!(b.spent(tomorrow), 0.0);
        assert!(b.try_reserve(0.1, tomorrow).is_some());
        assert_eq!(day_start_ms(NOON), 20_000 * DAY_MS);
    }

    #[test]
    fn a_zero_budget_refuses_every_paid_call() {
        let b = Budget::new(0.0, 0.0, NOON);
        assert!(b.try_reserve(1e-9, NOON).is_none());
        assert!(b.try_reserve(0.0, NOON).is_some());
    }
}
