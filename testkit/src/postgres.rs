//! A real PostgreSQL server for tests: a throw-away cluster in a temporary folder, listening
//! on a free loopback port, stopped (immediately) and deleted when dropped.
//!
//! It runs the Debian package's binaries (`/usr/lib/postgresql/<version>/bin`, or whatever
//! `pg_config --bindir` names). `initdb` refuses to run as root, so as root the cluster is
//! made and run as the `postgres` user (through `runuser`). Where no PostgreSQL is installed
//! [`PostgresServer::start`] returns `None` after printing a loud `SKIPPED` line: the test
//! that asked says so instead of passing in silence.
//!
//! `fsync = off`: the tests kill gateways, never the database server, and a cluster that
//! syncs every commit makes the suite slow on a shared CI disk.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running throw-away PostgreSQL cluster.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    data: PathBuf,
    root: PathBuf,
    port: u16,
    as_postgres: bool,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl PostgresServer {
    /// Makes and starts a cluster, or prints why not and returns `None` (no PostgreSQL
    /// installed). Panics when PostgreSQL is installed but will not start: that is a broken
    /// test machine, not a skip.
    pub fn start() -> Option<PostgresServer> {
        PostgresServer::start_with(false)
    }

    /// [`PostgresServer::start`] with TLS on (`ssl = on`), its certificate issued for
    /// 127.0.0.1 by a throw-away CA made with the `openssl` tool; returns the CA's PEM file
    /// too, for the client to trust. `None` (with a SKIPPED line) without PostgreSQL or
    /// `openssl` (the `postgresql` package pulls it in through `ssl-cert`).
    pub fn start_tls() -> Option<(PostgresServer, PathBuf)> {
        if Command::new("openssl").arg("version").output().is_err() {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the openssl tool is not installed; this PostgreSQL TLS test did not run"
            );
            return None;
        }
        let server = PostgresServer::start_with(true)?;
        let ca = server.root.join("ca.pem");
        Some((server, ca))
    }

    #[allow(clippy::expect_used, clippy::panic)]
    fn start_with(tls: bool) -> Option<PostgresServer> {
        let Some(bin) = bindir() else {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests,
            // and a skip must show in every run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL is not installed (apt-get install postgresql); this PostgreSQL test did not run"
            );
            return None;
        };
        let as_postgres = is_root();
        let root = std::env::temp_dir().join(format!(
            "switchyard-pg-{}-{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        ));
        let data = root.join("data");
        std::fs::create_dir_all(&root).expect("temporary folder for PostgreSQL");
        if tls {
            make_certificates(&root);
        }
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of {} to postgres failed", root.display());
        }
        let port = free_port();
        let server = PostgresServer {
            bin,
            data,
            root,
            port,
            as_postgres,
        };
        let initdb = server
            .run("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&server.data)
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off -c max_connections=200",
            server.root.display()
        );
        if tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key",
                server.root.display()
            ));
        }
        let started = server
            .run("pg_ctl")
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(server.root.join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        if !started.status.success() {
            let log = std::fs::read_to_string(server.root.join("log")).unwrap_or_default();
            panic!(
                "PostgreSQL did not start: {}\n{log}",
                String::from_utf8_lossy(&started.stderr)
            );
        }
        server.wait_ready(Duration::from_secs(30));
        Some(server)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates an empty database and returns its URL: one per test keeps tests apart.
    #[allow(clippy::expect_used)]
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name)
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn run(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    #[allow(clippy::panic, clippy::disallowed_methods)]
    fn wait_ready(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "PostgreSQL on port {} not ready after {timeout:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self
            .run("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it (`server.pem`,
/// `server.key`, mode 0600 as PostgreSQL requires) in `dir`.
#[allow(clippy::panic)]
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=switchyard test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|e| panic!("write server.ext: {e}"));
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    let _ = std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    );
}

/// The folder of `initdb` and `pg_ctl`: `pg_config --bindir` when it names one that has
/// them, else the newest `/usr/lib/postgresql/<version>/bin`.
fn bindir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").exists() && d.join("pg_ctl").exists();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_tools(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port nothing listens on now (bound on port 0 and released; PostgreSQL takes it at
/// once, so a collision is unlikely and shows as a failed start, not a wrong server).
#[allow(clippy::expect_used)]
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
