//! The accept loop: HTTP/1 connections with a header read timeout, an idle timeout and a cap
//! on how many are served at once (`[server]` in the config). The request body timeout is a
//! layer in [`crate::http::app`].
//!
//! `axum::serve` exposes none of these, and without them a client that sends half its headers
//! holds a connection (and a graceful shutdown) forever. On the shutdown token every
//! connection is asked to close after its in-flight request; when `hard_stop` fires (end of
//! the shutdown grace) the remaining ones get [`HARD_STOP_DRAIN`] to send their last bytes and
//! are then dropped, so shutdown is bounded.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The connection limits of `[server]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Longest wait for a request's complete headers (also between kept-alive requests).
    pub(crate) header_read_timeout: Duration,
    /// Longest time with no byte moving before the connection is closed.
    pub(crate) idle_timeout: Duration,
    /// Most connections served at once.
    pub(crate) max_connections: usize,
}

/// After the shutdown grace, how long a connection may still take to send its last bytes.
const HARD_STOP_DRAIN: Duration = Duration::from_secs(2);

/// Pause after a failed `accept` (out of file descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` fires and every connection has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        // Over the cap, new connections wait in the listen backlog.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            router.clone(),
            limits,
            shutdown.clone(),
            hard_stop.clone(),
            permit,
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let epoch = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Tracked {
        inner: stream,
        epoch,
        last_activity: Arc::clone(&last_activity),
    });
    let service = TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut closing = false;
    // Set when `hard_stop` fires: the connection gets a short while to send what is already
    // on its way (a stream's final error event), then it is dropped whatever its state.
    let mut drop_at: Option<Instant> = None;
    loop {
        let idle_since = epoch + Duration::from_millis(last_activity.load(Ordering::Relaxed));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "Client connection ended with an error.");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = hard_stop.cancelled(), if drop_at.is_none() => {
                drop_at = Some(Instant::now() + HARD_STOP_DRAIN);
            }
            // Dropping the connection closes the socket, whatever state it is in.
            () = sleep_until_or_never(drop_at) => return,
            () = tokio::time::sleep_until(idle_since + limits.idle_timeout), if !closing => {
                let quiet = Duration::from_millis(last_activity.load(Ordering::Relaxed));
                if epoch.elapsed().saturating_sub(quiet) >= limits.idle_timeout {
                    // An in-flight request (a long upstream call) is still answered.
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

async fn sleep_until_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A socket that records when bytes last moved, for the idle timeout.
struct Tracked {
    inner: TcpStream,
    epoch: Instant,
    last_activity: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
