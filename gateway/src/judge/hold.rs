//! A judge call's hold on the day's budget. With `[redis]` every replica draws on one budget:
//! the spend id [`SPEND_ID`] beside the client keys' budgets (the same atomic scripts), seeded
//! once from this replica's log so that a fresh Redis starts from the day's logged spend.
//! Without Redis, or when it fails under `on_unavailable = "local"`, this process's budget
//! decides (under `"refuse"` the call is dropped: nothing is spent that no one counts).

use std::sync::atomic::Ordering;

use super::budget::{day_start_ms, Reservation};
use super::Judge;
use crate::auth::{Budget, Period};
use crate::state::AppState;

/// The judge's spend among the shared budgets (client key ids never start with `_`).
const SPEND_ID: &str = "_judge";

/// A reserved estimate, in this process or in Redis.
pub(super) enum Hold {
    Local(Reservation),
    Shared(crate::auth::shared::Hold),
}

/// Reserves `estimate_usd` of today's budget, or `None` when it does not fit (or cannot be
/// counted).
pub(super) async fn reserve(state: &AppState, judge: &Judge, estimate_usd: f64) -> Option<Hold> {
    let now = crate::clock::unix_ms();
    if let Some(shared) = state.auth.shared() {
        if !judge.seeded.swap(true, Ordering::SeqCst) {
            let spent = judge.budget.spent(now);
            if let Err(e) = shared
                .seed(SPEND_ID, Period::Day, day_start_ms(now), spent)
                .await
            {
                // Counted and logged; the shared spend then starts from what Redis holds.
                let _ = shared.unavailable("judge", &e);
            }
        }
        // The shared script admits while spend and holds stay below the limit; the judge's
        // rule is that this call's worst case fits too, so the limit it is given leaves room.
        let budget = Budget {
            limit_usd: judge.config.daily_budget_usd - estimate_usd.max(0.0),
            period: Period::Day,
        };
        match shared
            .reserve(SPEND_ID, budget, estimate_usd, judge.budget.spent(now))
            .await
        {
            Ok(Ok(hold)) => return Some(Hold::Shared(hold)),
            Ok(Err(_over)) => return None,
            Err(e) => {
                if shared.unavailable("judge", &e).is_err() {
                    return None;
                }
            }
        }
    }
    judge.budget.try_reserve(estimate_usd, now).map(Hold::Local)
}

impl Hold {
    /// Replaces the hold with the call's real cost (also counted in this process's budget,
    /// which a shared hold did not use, so that its spend stays what this replica paid).
    pub(super) fn settle(self, judge: &Judge, cost_usd: f64) {
        let now = crate::clock::unix_ms();
        match self {
            Hold::Local(reservation) => judge.budget.settle(reservation, cost_usd, now),
            Hold::Shared(mut hold) => {
                hold.settle(cost_usd);
                judge.budget.add_spent(cost_usd, now);
            }
        }
    }
}
