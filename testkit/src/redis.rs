//! A real `redis-server` on a free loopback port, for tests of the gateway's shared limits.
//!
//! [`RedisServer::start`] returns `None` when the binary is not installed, after printing
//! `SKIPPED: redis-server not installed` to stderr, so that a machine without it says so
//! loudly instead of passing quietly. CI installs the Debian package `redis-server`.
//!
//! Starting and restarting block the calling thread until the server answers PING (tens of
//! milliseconds): call them from test set-up, not from inside a server under test.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to answer PING.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server` without persistence, in its own temporary directory; killed on
/// drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` (from `$REDIS_SERVER` or the `PATH`) on a free port, or returns
    /// `None` with a SKIPPED line on stderr when it is not installed.
    ///
    /// # Panics
    ///
    /// If the binary exists but the server does not start or answer: the test machine is
    /// broken, and the test should fail loudly.
    #[expect(
        clippy::expect_used,
        reason = "test-only helper: a server that is installed but cannot start must fail the test"
    )]
    pub fn start() -> Option<RedisServer> {
        let Some(binary) = find_binary() else {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests,
            // and a skip must show in every run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: redis-server not installed (apt-get install redis-server)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("testkit: temporary directory for redis-server");
        let port = free_port().expect("testkit: a free loopback port for redis-server");
        let mut server = RedisServer {
            child: None,
            port,
            binary,
            dir,
        };
        server.spawn().expect("testkit: start redis-server");
        Some(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if ping(self.addr()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(format!(
            "redis-server on port {} did not answer PING within {READY_WITHIN:?}",
            self.port
        )))
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (as a crash would); [`RedisServer::restart`] brings it back on the
    /// same port, empty.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is as good as killed.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port after [`RedisServer::stop`].
    ///
    /// # Errors
    ///
    /// When it does not start or answer PING.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| is_file(p))
    })
}

fn is_file(p: &Path) -> bool {
    p.metadata().map(|m| m.is_file()).unwrap_or(false)
}

/// A port that was free a moment ago: bound on port 0, then released for the server.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
