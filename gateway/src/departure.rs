//! Whether the client of the request a task serves has left before its response started.
//!
//! A request's work runs detached from its connection ([`crate::http::tracked`]), so that a
//! client leaving neither cuts an upstream call half-way nor loses the outcome row. But the
//! work must not go on spending for nobody: once the client is gone, no further candidate is
//! tried and no `Retry-After` is waited out, and the row says the client left. The signal is
//! a task-local token, cancelled when the handler's future is dropped before the response.

use std::future::Future;

use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static DEPARTED: CancellationToken;
}

/// Runs `work` with `token` as its client's departure signal.
pub fn watch<F: Future>(token: CancellationToken, work: F) -> impl Future<Output = F::Output> {
    DEPARTED.scope(token, work)
}

/// The current task's departure signal, to hand to a task it spawns (task-locals are not
/// inherited); a fresh one, never cancelled, outside [`watch`].
pub fn current() -> CancellationToken {
    DEPARTED
        .try_with(CancellationToken::clone)
        .unwrap_or_default()
}

/// Whether the client of the current task's request has left (false outside [`watch`]).
pub fn departed() -> bool {
    DEPARTED
        .try_with(CancellationToken::is_cancelled)
        .unwrap_or(false)
}

/// Resolves when the client leaves; never outside [`watch`].
pub async fn leaves() {
    match DEPARTED.try_with(CancellationToken::clone) {
        Ok(token) => token.cancelled().await,
        Err(_) => std::future::pending().await,
    }
}
