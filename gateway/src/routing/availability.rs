//! Which of `auto`'s candidates their providers still offer, as last read from the providers'
//! model lists ([`crate::upstream::discovery`]). The router reads it on every `auto` request;
//! start-up and the periodic re-read replace it whole.

use router_core::ModelId;

/// The providers' last word on the candidates. The default (nothing withdrawn, nothing
/// retiring) leaves every candidate in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    /// Candidates no provider offers any more: out of `auto`.
    pub withdrawn: Vec<ModelId>,
    /// Candidates offered until an announced shutdown: each leaves `auto` at its time (Unix
    /// milliseconds, 00:00 UTC of the date).
    pub retire_at: Vec<(ModelId, u64)>,
}

impl Availability {
    /// Whether every candidate is in, whatever the time (the common case, checked without
    /// reading the clock).
    pub fn is_complete(&self) -> bool {
        self.withdrawn.is_empty() && self.retire_at.is_empty()
    }

    /// Whether `model` may be chosen at `now_ms`.
    pub fn offers(&self, model: &ModelId, now_ms: u64) -> bool {
        !self.withdrawn.contains(model)
            && !self
                .retire_at
                .iter()
                .any(|(m, at)| m == model && *at <= now_ms)
    }

    /// Whether some candidate is out at `now_ms`.
    pub fn excludes_any(&self, now_ms: u64) -> bool {
        !self.withdrawn.is_empty() || self.retire_at.iter().any(|(_, at)| *at <= now_ms)
    }
}
