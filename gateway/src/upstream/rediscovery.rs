//! Re-reading the providers' model lists while serving (`[router] discovery_interval`).
//!
//! Start-up reads them once ([`crate::upstream::discovery`]); a gateway that runs for weeks
//! would otherwise keep routing to a model its provider withdrew after the start (or keep
//! leaving out one that came back, or miss a shutdown announced since). Each read replaces the
//! router's [`Availability`] whole, except for the candidates it could not decide (a provider
//! that did not answer), which keep the previous verdict: a failed read changes nothing.
//! Only changes are logged, so an hourly read is quiet until something happens.

use std::time::Duration;

use router_core::ModelId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::routing::Availability;
use crate::state::AppState;
use crate::upstream::discovery::discover;

/// Reads the lists every `every` (each at most `timeout`) until `stop` is cancelled or the
/// gateway is gone. Not a request task: it runs on a tracker of its own, so that waiting for
/// the requests (`wait_idle`, shutdown) does not wait for it.
pub(crate) fn spawn(state: &AppState, every: Duration, timeout: Duration, stop: CancellationToken) {
    let state = state.downgrade();
    TaskTracker::new().spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let Some(state) = state.upgrade() else {
                return;
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = refresh(&state, timeout) => {}
            }
        }
    });
}

/// One read: the router's availability becomes what the lists say now.
async fn refresh(state: &AppState, timeout: Duration) {
    let found = discover(
        &state.config,
        &state.upstreams,
        timeout,
        crate::clock::unix_ms(),
    )
    .await;
    let previous = state.router.availability();
    let next = found.availability(&previous);
    for (provider, error) in &found.unlisted {
        tracing::debug!(provider = %provider, error = %error, "Could not read the provider's model list again; its models keep their previous standing.");
    }
    report_changes(&previous, &next, |m| {
        found
            .withdrawn
            .iter()
            .find(|w| &w.model == m)
            .map(|w| w.reason.as_str())
    });
    state.router.set_availability(next);
}

/// Logs what changed between two reads.
fn report_changes<'a>(
    before: &Availability,
    after: &Availability,
    reason: impl Fn(&ModelId) -> Option<&'a str>,
) {
    for m in after
        .withdrawn
        .iter()
        .filter(|m| !before.withdrawn.contains(m))
    {
        tracing::warn!(model = %m, reason = reason(m).unwrap_or_default(), "Left out of auto: its provider no longer offers it.");
    }
    for m in before
        .withdrawn
        .iter()
        .filter(|m| !after.withdrawn.contains(m))
    {
        tracing::info!(model = %m, "Back in auto: its provider offers it again.");
    }
    for (m, at) in after
        .retire_at
        .iter()
        .filter(|r| !before.retire_at.contains(r))
    {
        let at = crate::auth::budget::utc_minute(*at);
        tracing::warn!(model = %m, shutdown = %at, "The provider announces this candidate's shutdown (UTC); it leaves auto then.");
    }
    for (m, _) in before
        .retire_at
        .iter()
        .filter(|(m, _)| !after.retire_at.iter().any(|(n, _)| n == m))
        .filter(|(m, _)| !after.withdrawn.contains(m))
    {
        tracing::info!(model = %m, "The provider no longer announces a shutdown for this candidate.");
    }
}
