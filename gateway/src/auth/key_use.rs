//! [`KeyUse`]: one request's use of a client key after the middleware let it in: the model
//! allow-list, the tokens-per-minute take, the budget hold, and the settlement of the real
//! cost when the request ends, in process or in Redis (`[redis]`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use router_core::ModelId;

use super::{budget, shared, Caller};
use crate::http::error::ApiError;
use crate::outcome::record::truncated as truncate;

/// One request's use of a key: its model check, token and budget holds, and the settlement
/// of the real cost when the request ends. Clones share the holds.
#[derive(Clone, Debug)]
pub struct KeyUse(Arc<Charge>);

#[derive(Debug)]
struct Charge {
    caller: Caller,
    tokens_taken: AtomicU64,
    /// Whether the tokens were taken from the shared bucket (else the local one).
    tokens_shared: AtomicBool,
    reservation: Mutex<Option<Hold>>,
}

/// A request's budget hold: in this process, or in Redis.
#[derive(Debug)]
enum Hold {
    Local(budget::Reservation),
    Shared(shared::Hold),
}

impl KeyUse {
    /// Starts the accounting of a request by `caller`.
    pub fn new(caller: Caller) -> Self {
        KeyUse(Arc::new(Charge {
            caller,
            tokens_taken: AtomicU64::new(0),
            tokens_shared: AtomicBool::new(false),
            reservation: Mutex::new(None),
        }))
    }

    /// The key id, written on the outcome row.
    pub fn key_id(&self) -> &str {
        &self.0.caller.key.record.id
    }

    /// The guardrails profile the key is screened with (`None`: the global policy).
    pub fn guardrails_profile(&self) -> Option<&str> {
        self.0.caller.key.record.guardrails.as_deref()
    }

    /// The key's name (what `[[rules]]` match besides the id).
    pub fn key_name(&self) -> &str {
        &self.0.caller.key.record.name
    }

    /// Whether the key may use `model`.
    pub fn allows(&self, model: &ModelId) -> bool {
        self.0.caller.key.record.allows(model)
    }

    /// `pool` narrowed to the key's models (a key with a model list routes `auto` only among
    /// them); borrowed as it is for a key without a list.
    pub fn pool<'a>(&self, pool: &'a [ModelId]) -> std::borrow::Cow<'a, [ModelId]> {
        if self.0.caller.key.record.models.is_none() {
            return std::borrow::Cow::Borrowed(pool);
        }
        pool.iter().filter(|m| self.allows(m)).cloned().collect()
    }

    /// The 403 for a model outside the key's list.
    pub fn model_refused(&self, model: &str) -> ApiError {
        let record = &self.0.caller.key.record;
        let allowed = record
            .models
            .iter()
            .flatten()
            .map(ModelId::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        ApiError::ModelNotAllowed(format!(
            "key `{}` may not use model `{}`; it may use: {allowed}",
            record.name,
            truncate(model, 128)
        ))
    }

    /// Takes `estimate` tokens from the key's tokens-per-minute limit.
    pub async fn take_tokens(&self, estimate: u64) -> Result<(), ApiError> {
        let key = &self.0.caller.key;
        let (Some(tpm), Some(n)) = (&key.tpm, key.record.tpm) else {
            return Ok(());
        };
        let mut in_shared = false;
        let verdict = match &self.0.caller.shared {
            Some(shared) => match shared.take_tokens(&key.record.id, n, estimate).await {
                Ok(verdict) => {
                    in_shared = true;
                    verdict
                }
                Err(e) => {
                    shared.unavailable("tokens", &e)?;
                    tpm.take(estimate)
                }
            },
            None => tpm.take(estimate),
        };
        verdict.map_err(|wait| ApiError::KeyRateLimited {
            limit: "tokens",
            message: format!(
                "rate limit of {} tokens per minute reached for key `{}` (this request needs about {estimate})",
                key.record.tpm.map_or(0, |n| n.get()),
                key.record.name
            ),
            retry_after: wait,
        })?;
        self.0.tokens_shared.store(in_shared, Ordering::SeqCst);
        self.0.tokens_taken.store(estimate, Ordering::SeqCst);
        Ok(())
    }

    /// Holds `max_cost_usd` against the key's budget until [`KeyUse::settle`].
    pub async fn reserve(&self, max_cost_usd: f64) -> Result<(), ApiError> {
        let caller = &self.0.caller;
        let Some(budget) = caller.key.record.budget else {
            return Ok(());
        };
        let id = &caller.key.record.id;
        let verdict = match &caller.shared {
            Some(shared) => match shared
                .reserve(id, budget, max_cost_usd, caller.ledger.usage(id, budget).0)
                .await
            {
                Ok(verdict) => verdict.map(Hold::Shared),
                Err(e) => {
                    // A script that timed out here may still have placed its hold in Redis;
                    // it lapses with the others (`hold_for`), so nothing leaks for long.
                    shared.unavailable("budget", &e)?;
                    caller
                        .ledger
                        .reserve(id, budget, max_cost_usd)
                        .map(Hold::Local)
                }
            },
            None => caller
                .ledger
                .reserve(id, budget, max_cost_usd)
                .map(Hold::Local),
        };
        let reservation = verdict.map_err(|over| {
                ApiError::InsufficientQuota(format!(
                    "key `{}` has used its budget of {:.2} USD per {}: {:.4} USD spent, {:.4} USD held by requests in flight",
                    caller.key.record.name,
                    budget.limit_usd,
                    budget.period.as_str(),
                    over.spent_usd,
                    over.reserved_usd
                ))
            })?;
        if let Ok(mut slot) = self.0.reservation.lock() {
            *slot = Some(reservation);
        }
        Ok(())
    }

    /// Charges the real cost and token count (once; later calls do nothing). With `[redis]`
    /// the charge runs in the background on the auth tracker: a request's end never waits
    /// on Redis.
    pub fn settle(&self, cost_usd: Option<f64>, tokens: Option<(u32, u32)>) {
        let hold = self
            .0
            .reservation
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        match hold {
            Some(Hold::Local(r)) => r.settle(cost_usd.unwrap_or(0.0)),
            Some(Hold::Shared(mut h)) => {
                let cost = cost_usd.unwrap_or(0.0);
                let caller = &self.0.caller;
                if let Some(budget) = caller.key.record.budget {
                    caller.ledger.add_spent(&caller.key.record.id, budget, cost);
                }
                h.settle(cost);
            }
            None => {}
        }
        let taken = self.0.tokens_taken.swap(0, Ordering::SeqCst);
        let key = &self.0.caller.key;
        let (Some(tpm), Some(n), Some((input, output))) = (&key.tpm, key.record.tpm, tokens) else {
            return;
        };
        let actual = u64::from(input) + u64::from(output);
        match (
            &self.0.caller.shared,
            self.0.tokens_shared.load(Ordering::SeqCst),
        ) {
            (Some(shared), true) => shared.settle_tokens_later(&key.record.id, n, taken, actual),
            _ => tpm.settle(taken, actual),
        }
    }
}
