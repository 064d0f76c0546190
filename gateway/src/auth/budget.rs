//! Spend budgets per key: a [`Ledger`] of what each key spent in its current period (day or
//! month, UTC) and what requests in flight have reserved.
//!
//! A request reserves its largest possible cost before it is sent (prompt estimate plus
//! `max_tokens`, or the model's context window, at catalog prices) and settles the real cost
//! when it ends, streams included. A request is admitted while `spent + reserved` is below the
//! limit, so the most a key can overshoot its budget is the reservation of the one request
//! admitted last; concurrent requests cannot all slip through at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::limits::AuthClock;

/// The period a budget renews over, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From 00:00 UTC.
    Day,
    /// From the first of the month, 00:00 UTC.
    Month,
}

impl Period {
    /// The stable name (`day`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// Parses `day` or `month`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The start of the period holding `unix_ms`, in Unix milliseconds.
    pub fn start_ms(self, unix_ms: u64) -> u64 {
        const DAY_MS: u64 = 86_400_000;
        let day = unix_ms / DAY_MS;
        match self {
            Period::Day => day * DAY_MS,
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix milliseconds, for listings.
pub fn utc_minute(unix_ms: u64) -> String {
    let (y, m, d) = civil_from_days(unix_ms / 86_400_000);
    let minute = (unix_ms % 86_400_000) / 60_000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", minute / 60, minute % 60)
}

/// Unix milliseconds of `YYYY-MM-DD` at 00:00 UTC.
pub fn parse_utc_date(s: &str) -> Option<u64> {
    let mut parts = s.splitn(3, '-');
    let y: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let d: u64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject dates like 02-31 that roll into the next month.
    (civil_from_days(days) == (y, m, d)).then_some(days * 86_400_000)
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date from 1970 on (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// A key's budget: at most `limit_usd` per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// USD per period.
    pub limit_usd: f64,
    /// The period.
    pub period: Period,
}

/// Why a reservation was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct OverBudget {
    /// The budget.
    pub budget: Budget,
    /// Settled spend in this period.
    pub spent_usd: f64,
    /// Reserved by requests in flight.
    pub reserved_usd: f64,
}

#[derive(Debug, Default)]
struct Account {
    period_start_ms: u64,
    spent_usd: f64,
    reserved_usd: f64,
}

/// `key_id`'s account in the period starting at `start`: a new period's spend starts over,
/// while reservations in flight carry on.
fn current<'a>(
    accounts: &'a mut HashMap<String, Account>,
    key_id: &str,
    start: u64,
) -> &'a mut Account {
    let a = accounts.entry(key_id.to_owned()).or_default();
    if a.period_start_ms != start {
        a.period_start_ms = start;
        a.spent_usd = 0.0;
    }
    a
}

/// Spend and reservations per key id.
#[derive(Debug)]
pub struct Ledger {
    accounts: Mutex<HashMap<String, Account>>,
    clock: AuthClock,
}

impl Ledger {
    /// An empty ledger on `clock`.
    pub fn new(clock: AuthClock) -> Self {
        Ledger {
            accounts: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Sets what `key_id` already spent since `period_start_ms` (read from the outcome log at
    /// start-up, so that a restart does not reset budgets).
    pub fn seed(&self, key_id: &str, period_start_ms: u64, spent_usd: f64) {
        if let Ok(mut accounts) = self.accounts.lock() {
            let a = accounts.entry(key_id.to_owned()).or_default();
            a.period_start_ms = period_start_ms;
            a.spent_usd = if spent_usd.is_finite() {
                spent_usd
            } else {
                0.0
            };
        }
    }

    /// `(spent, reserved)` of `key_id` in the current period of `budget`.
    pub fn usage(&self, key_id: &str, budget: Budget) -> (f64, f64) {
        let start = budget.period.start_ms(self.clock.unix_ms());
        let Ok(accounts) = self.accounts.lock() else {
            return (0.0, 0.0);
        };
        match accounts.get(key_id) {
            Some(a) if a.period_start_ms == start => (a.spent_usd, a.reserved_usd),
            Some(a) => (0.0, a.reserved_usd),
            None => (0.0, 0.0),
        }
    }

    /// Reserves up to `max_cost_usd` for a request of `key_id`, or refuses when the key has
    /// nothing left in this period.
    pub fn reserve(
        self: &Arc<Self>,
        key_id: &str,
        budget: Budget,
        max_cost_usd: f64,
    ) -> Result<Reservation, OverBudget> {
        let amount = if max_cost_usd.is_finite() && max_cost_usd > 0.0 {
            max_cost_usd
        } else {
            0.0
        };
        let start = budget.period.start_ms(self.clock.unix_ms());
        let Ok(mut accounts) = self.accounts.lock() else {
            return Err(OverBudget {
                budget,
                spent_usd: f64::NAN,
                reserved_usd: f64::NAN,
            });
        };
        let a = current(&mut accounts, key_id, start);
        if a.spent_usd + a.reserved_usd >= budget.limit_usd {
            return Err(OverBudget {
                budget,
                spent_usd: a.spent_usd,
                reserved_usd: a.reserved_usd,
            });
        }
        a.reserved_usd += amount;
        Ok(Reservation {
            ledger: Arc::clone(self),
            key_id: key_id.to_owned(),
            period: budget.period,
            amount,
            done: Mutex::new(false),
        })
    }

    /// Counts `usd` that `key_id` spent through the shared (Redis) budget in the current
    /// period of `budget`, so that this replica's own spend is known if Redis becomes
    /// unavailable (its fallback) or comes back empty (the floor it is re-seeded with).
    pub fn add_spent(&self, key_id: &str, budget: Budget, usd: f64) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        let start = budget.period.start_ms(self.clock.unix_ms());
        if let Ok(mut accounts) = self.accounts.lock() {
            current(&mut accounts, key_id, start).spent_usd += usd;
        }
    }

    /// Ends a reservation: its cost counts in the period it ends in (as the shared budget
    /// counts it). Adding it to the account as found lost it when the period turned while the
    /// request ran: the next reservation started the new period from zero.
    fn release(&self, key_id: &str, period: Period, reserved: f64, actual: f64) {
        let start = period.start_ms(self.clock.unix_ms());
        let Ok(mut accounts) = self.accounts.lock() else {
            return;
        };
        let a = current(&mut accounts, key_id, start);
        a.reserved_usd = (a.reserved_usd - reserved).max(0.0);
        if actual.is_finite() && actual > 0.0 {
            a.spent_usd += actual;
        }
    }
}

/// Money held for one request; settle it with the real cost. Dropped unsettled (the request
/// never reached an upstream), it releases the hold and charges nothing.
#[derive(Debug)]
pub struct Reservation {
    ledger: Arc<Ledger>,
    key_id: String,
    /// The key's budget period, to count the cost in the period the request ends in.
    period: Period,
    amount: f64,
    done: Mutex<bool>,
}

impl Reservation {
    /// The amount held.
    pub fn amount_usd(&self) -> f64 {
        self.amount
    }

    /// Replaces the hold with the real cost; only the first call counts.
    pub fn settle(&self, actual_usd: f64) {
        let Ok(mut done) = self.done.lock() else {
            return;
        };
        if !*done {
            *done = true;
            self.ledger
                .release(&self.key_id, self.period, self.amount, actual_usd);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.settle(0.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const DAY: Budget = Budget {
        limit_usd: 1.0,
        period: Period::Day,
    };

    #[test]
    fn period_starts_in_utc() {
        // 2026-12-03T03:50:00Z
        let t = 1_796_269_800_000;
        assert_eq!(Period::Day.start_ms(t), 1_796_256_000_000);
        // 2026-12-01T00:00:00Z
        assert_eq!(Period::Month.start_ms(t), 1_796_083_200_000);
        // 2024-03-02 (the day after a leap day) and 1970-01-01.
        assert_eq!(
            Period::Month.start_ms(1_709_337_600_000 + 5),
            1_709_251_200_000
        );
        assert_eq!(Period::Month.start_ms(0), 0);
    }

    #[test]
    fn dates_print_and_parse_in_utc() {
        assert_eq!(utc_minute(1_796_269_800_000), "2026-12-03 03:50");
        assert_eq!(parse_utc_date("2026-12-01"), Some(1_796_083_200_000));
        assert_eq!(parse_utc_date("2026-02-31"), None);
        assert_eq!(parse_utc_date("yesterday"), None);
    }

    /// A request reserved before midnight and settled after it counts in the new day (as the
    /// shared budget counts it); before, its cost went to the day that had ended and the new
    /// day's first reservation started from zero, so it counted nowhere.
    #[test]
    fn a_request_that_spans_midnight_counts_in_the_day_it_ends() {
        // 2026-12-03 23:59:50 UTC.
        let clock = AuthClock::manual(1_796_342_390_000);
        let ledger = Arc::new(Ledger::new(clock.clone()));
        let long = ledger.reserve("k", DAY, 0.8).unwrap();
        clock.advance(std::time::Duration::from_secs(20));
        long.settle(0.5);
        let next = ledger.reserve("k", DAY, 0.1).unwrap();
        let (spent, reserved) = ledger.usage("k", DAY);
        assert!((spent - 0.5).abs() < 1e-9, "{spent}");
        assert!((reserved - 0.1).abs() < 1e-9, "{reserved}");
        drop(next);
    }

    #[test]
    fn reservations_block_concurrent_requests_and_settle_to_the_real_cost() {
        let clock = AuthClock::manual(1_796_269_800_000);
        let ledger = Arc::new(Ledger::new(clock.clone()));
        let first = ledger.reserve("k", DAY, 0.8).unwrap();
        let second = ledger.reserve("k", DAY, 0.5).unwrap();
        // 1.3 reserved: nothing left until they settle.
        let refused = ledger.reserve("k", DAY, 0.01).unwrap_err();
        assert!((refused.reserved_usd - 1.3).abs() < 1e-9);
        first.settle(0.1);
        first.settle(5.0); // only the first settle counts
        drop(second); // never sent: charges nothing
        assert_eq!(ledger.usage("k", DAY), (0.1, 0.0));
        let third = ledger.reserve("k", DAY, 2.0).unwrap();
        third.settle(0.95);
        assert!(ledger.reserve("k", DAY, 0.0).is_err());
        // The next day the budget starts over.
        clock.advance(std::time::Duration::from_secs(86_400));
        assert!(ledger.reserve("k", DAY, 0.5).is_ok());
    }

    #[test]
    fn seeded_spend_counts_only_in_its_period() {
        let clock = AuthClock::manual(1_796_269_800_000);
        let ledger = Arc::new(Ledger::new(clock.clone()));
        ledger.seed("k", Period::Day.start_ms(clock.unix_ms()), 1.5);
        assert!(ledger.reserve("k", DAY, 0.0).is_err());
        assert_eq!(ledger.usage("other", DAY), (0.0, 0.0));
    }
}
