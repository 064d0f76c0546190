//! The accept loop: HTTP/1.1 and HTTP/2 cleartext (h2c with prior knowledge) connections with
//! a header read timeout, an idle timeout, a cap on how many are served at once and, for
//! HTTP/2, a cap on concurrent streams per connection (`[server]` in the config). The request
//! body timeout is a layer in [`crate::http::app`].
//!
//! `axum::serve` exposes none of these, and without them a client that sends half its headers
//! holds a connection (and a graceful shutdown) forever. On the shutdown token every
//! connection is asked to close after its in-flight requests (HTTP/2: a GOAWAY); when
//! `hard_stop` fires (end of the shutdown grace) the remaining ones get [`HARD_STOP_DRAIN`] to
//! send their last bytes and are then dropped, so shutdown is bounded.
//!
//! The protocol is chosen from the first bytes: the HTTP/2 connection preface means HTTP/2,
//! anything else HTTP/1.1. Those bytes must arrive within `header_read_timeout`, so a silent
//! or trickling client is closed whichever protocol it meant to speak. The idle timeout
//! watches bytes on the socket for both protocols; the server's HTTP/2 pings start only after
//! a silence longer than it (see [`h2_keep_alive_interval`]), so an idle connection is still
//! closed while a long in-flight request with a vanished client is detected by its unanswered
//! ping.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::{Buf, Bytes};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use h2_headers::{HeaderWatch, OpenBlock};

mod h2_headers;

/// The connection limits of `[server]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Longest wait for a request's complete headers (also between kept-alive requests); for
    /// HTTP/2, for the connection preface.
    pub(crate) header_read_timeout: Duration,
    /// Longest time with no byte moving before the connection is closed.
    pub(crate) idle_timeout: Duration,
    /// Most connections served at once.
    pub(crate) max_connections: usize,
    /// Most concurrent requests (streams) on one HTTP/2 connection.
    pub(crate) http2_max_concurrent_streams: u32,
}

/// The HTTP/2 connection preface a prior-knowledge client sends first (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest header block accepted on an HTTP/2 stream (hyper's default is 16 MiB; an
/// HTTP/1.1 request's headers are bounded near 400 KiB by hyper's read buffer).
const H2_MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// How long the server waits for the answer to an HTTP/2 ping before closing the connection.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The server's HTTP/2 ping interval: longer than the idle timeout, so that on an idle
/// connection the idle timeout fires first (a ping and its answer would count as activity and
/// keep the connection open forever). Pings so only happen under a request that is still in
/// flight after the idle timeout, where an unanswered one closes a dead client's connection.
fn h2_keep_alive_interval(idle_timeout: Duration) -> Duration {
    idle_timeout.saturating_add(idle_timeout / 2)
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

/// Which protocol a connection speaks, from its first bytes.
enum Protocol {
    Http1,
    Http2,
}

/// Reads the first bytes of a connection, just enough to tell an HTTP/2 preface from HTTP/1.1
/// (at most the preface's 24 bytes). `None`: the client closed or failed first.
async fn sniff(stream: &mut TcpStream) -> Option<(Protocol, Bytes)> {
    let mut buf = Vec::with_capacity(H2_PREFACE.len());
    loop {
        let mut chunk = [0u8; 24];
        let want = H2_PREFACE.len() - buf.len();
        let n = stream.read(&mut chunk[..want]).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if !H2_PREFACE.starts_with(&buf) {
            return Some((Protocol::Http1, Bytes::from(buf)));
        }
        if buf.len() == H2_PREFACE.len() {
            return Some((Protocol::Http2, Bytes::from(buf)));
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let sniffed = tokio::select! {
        s = tokio::time::timeout(limits.header_read_timeout, sniff(&mut stream)) => s,
        // Nothing was asked yet: nothing to finish.
        () = shutdown.cancelled() => return,
    };
    let Ok(Some((protocol, first_bytes))) = sniffed else {
        return;
    };
    let epoch = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    // HTTP/2 gets the header timeout hyper has only for HTTP/1.1 (see `h2_headers`).
    let (watch, open_block) = match protocol {
        Protocol::Http2 => {
            let (watch, open) = HeaderWatch::new();
            (Some(watch), Some(open))
        }
        Protocol::Http1 => (None, None),
    };
    let io = TokioIo::new(Tracked {
        inner: stream,
        replay: first_bytes,
        epoch,
        last_activity: Arc::clone(&last_activity),
        watch,
    });
    let service = TowerToHyperService::new(router);
    let activity = Activity {
        epoch,
        last_activity,
        open_block,
    };
    match protocol {
        Protocol::Http1 => {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            drive(conn, activity, limits, shutdown, hard_stop).await;
        }
        Protocol::Http2 => {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_concurrent_streams(limits.http2_max_concurrent_streams)
                .max_header_list_size(H2_MAX_HEADER_LIST_BYTES)
                .keep_alive_interval(Some(h2_keep_alive_interval(limits.idle_timeout)))
                .keep_alive_timeout(H2_PING_TIMEOUT)
                .serve_connection(io, service);
            drive(conn, activity, limits, shutdown, hard_stop).await;
        }
    }
}

/// A hyper connection that can be asked to finish its in-flight requests and close.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// When bytes last moved on a connection's socket, and (HTTP/2) since when a header block has
/// been open.
struct Activity {
    epoch: Instant,
    last_activity: Arc<AtomicU64>,
    open_block: Option<OpenBlock>,
}

impl Activity {
    fn last(&self) -> Duration {
        Duration::from_millis(self.last_activity.load(Ordering::Relaxed))
    }

    /// When the open header block, if any, started.
    fn block_opened(&self) -> Option<Instant> {
        let ms = self.open_block.as_ref()?.since_ms()?;
        Some(self.epoch + Duration::from_millis(ms))
    }
}

/// Serves one connection until it ends, applying the idle timeout, the shutdown token and the
/// hard stop.
async fn drive(
    conn: impl Graceful,
    activity: Activity,
    limits: Limits,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) {
    tokio::pin!(conn);
    let mut closing = false;
    // Set when `hard_stop` fires: the connection gets a short while to send what is already
    // on its way (a stream's final error event), then it is dropped whatever its state.
    let mut drop_at: Option<Instant> = None;
    loop {
        let idle_since = activity.epoch + activity.last();
        // Re-read on every wake-up: the block may end (or another open) meanwhile.
        let block_deadline = activity
            .block_opened()
            .map(|t| t + limits.header_read_timeout);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "Client connection ended with an error.");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().close_gracefully();
                closing = true;
            }
            () = hard_stop.cancelled(), if drop_at.is_none() => {
                drop_at = Some(Instant::now() + HARD_STOP_DRAIN);
            }
            // Dropping the connection closes the socket, whatever state it is in.
            () = sleep_until_or_never(drop_at) => return,
            // A header block opened: loop to arm its deadline.
            () = opened_or_never(activity.open_block.as_ref()) => {}
            () = sleep_until_or_never(block_deadline) => {
                // The block may have ended while this slept: only one still open closes.
                let late = |t: Instant| t.elapsed() >= limits.header_read_timeout;
                if activity.block_opened().is_some_and(late) {
                    // Like hyper's HTTP/1.1 header timeout: the connection is closed at once
                    // (its other streams too: a client that trickles headers is not served).
                    tracing::debug!("HTTP/2 header block not finished in time; closing the connection.");
                    return;
                }
            }
            () = tokio::time::sleep_until(idle_since + limits.idle_timeout), if !closing => {
                if activity.epoch.elapsed().saturating_sub(activity.last()) >= limits.idle_timeout {
                    // In-flight requests (a long upstream call) are still answered.
                    conn.as_mut().close_gracefully();
                    closing = true;
                }
            }
        }
    }
}

async fn opened_or_never(block: Option<&OpenBlock>) {
    match block {
        Some(b) => b.opened().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A socket that records when bytes last moved, for the idle timeout, and first hands hyper
/// the bytes [`sniff`] already read.
struct Tracked {
    inner: TcpStream,
    replay: Bytes,
    epoch: Instant,
    last_activity: Arc<AtomicU64>,
    /// HTTP/2: the frame reader behind the header timeout.
    watch: Option<HeaderWatch>,
}

impl Tracked {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_activity.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Shows the client's `bytes` to the HTTP/2 frame reader.
    fn watch(&mut self, bytes: &[u8]) {
        let now = self.now_ms();
        if let Some(w) = &mut self.watch {
            w.feed(bytes, now);
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.replay.has_remaining() {
            let n = self.replay.len().min(buf.remaining());
            let replayed = self.replay.split_to(n);
            buf.put_slice(&replayed);
            self.watch(&replayed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
            self.watch(&buf.filled()[before..]);
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
