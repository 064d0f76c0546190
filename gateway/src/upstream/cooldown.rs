//! Models a provider answered 429 for, skipped until its `Retry-After` has passed.
//!
//! Rate limits are per model (OpenAI, Anthropic and Gemini count each model on its own) and
//! per key, so a 429 is no sign that the provider is down: counting it against the
//! provider's circuit breaker shut out the provider's other models once a few came in a row.
//! Calling the model again before its `Retry-After` only earns another 429, at the cost of a
//! round trip on every request. So a 429 cools that model down on that provider (one key, as
//! a provider entry has one) for the wait it asked for, 1 s when it named none, at most
//! `[retries] rate_limit_cooldown`; failover skips it meanwhile, like a model whose breaker is
//! open.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The wait after a 429 that names none.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// Entries kept at most; expired ones are dropped first (upstream names come from the catalog
/// and the config, so this is a guard, not a working limit).
const MAX_ENTRIES: usize = 4096;

/// Cool-down ends by upstream model name, for one provider.
#[derive(Debug, Default)]
pub struct Cooldowns {
    until: Mutex<HashMap<String, Instant>>,
}

impl Cooldowns {
    /// How long `model` stays cooled down at `now`; `None` when it may be called.
    pub fn remaining(&self, model: &str, now: Instant) -> Option<Duration> {
        let until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until
            .get(model)
            .and_then(|end| end.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Cools `model` down from `now` for `wait` (its 429's `Retry-After`, or
    /// [`DEFAULT_WAIT`]), at most `cap`; a zero `cap` turns cool-downs off.
    pub fn start(&self, model: &str, now: Instant, wait: Option<Duration>, cap: Duration) {
        let wait = wait.unwrap_or(DEFAULT_WAIT).min(cap);
        if wait.is_zero() {
            return;
        }
        let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if until.len() >= MAX_ENTRIES {
            until.retain(|_, end| *end > now);
            if until.len() >= MAX_ENTRIES && !until.contains_key(model) {
                // Full of live cool-downs: this model is called as if none were kept.
                return;
            }
        }
        let end = now + wait;
        let entry = until.entry(model.to_owned()).or_insert(end);
        *entry = (*entry).max(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cool_down_lasts_its_wait_capped_and_only_for_its_model() {
        let c = Cooldowns::default();
        let t0 = Instant::now();
        let cap = Duration::from_secs(60);
        c.start("m", t0, Some(Duration::from_secs(5)), cap);
        assert_eq!(c.remaining("m", t0), Some(Duration::from_secs(5)));
        assert_eq!(c.remaining("other", t0), None);
        assert_eq!(c.remaining("m", t0 + Duration::from_secs(5)), None);
        // Without Retry-After: a second; a long one: the cap; a shorter later one does not
        // shorten it.
        c.start("n", t0, None, cap);
        assert_eq!(c.remaining("n", t0), Some(DEFAULT_WAIT));
        c.start("q", t0, Some(Duration::from_secs(3600)), cap);
        assert_eq!(c.remaining("q", t0), Some(cap));
        c.start("q", t0, Some(Duration::from_secs(1)), cap);
        assert_eq!(c.remaining("q", t0), Some(cap));
        // A zero cap turns them off.
        c.start("z", t0, Some(Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(c.remaining("z", t0), None);
    }
}
