//! The crate's [`Error`] (start-up and configuration failures). Errors answered to HTTP
//! clients are [`crate::http::error::ApiError`].

use std::path::PathBuf;

use crate::upstream::ProviderKind;

/// Everything that can fail while loading configuration or starting the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for the schema.
    #[error("invalid config {}{}: {message}", path.display(), at_field(field))]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The field path, such as `timeouts.ttft`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field breaks a cross-check.
    #[error("invalid config{} at `{field}`: {message}", in_file(path.as_deref()))]
    ConfigInvalid {
        /// The config file, when the config was read from one.
        path: Option<PathBuf>,
        /// The field path.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A provider kind has no adapter in this build.
    #[error("provider kind `{}` is not supported by this build", kind.as_str())]
    ProviderUnsupported {
        /// The kind.
        kind: ProviderKind,
    },
    /// `[redis] on_unavailable = "refuse"` and Redis refused the start-up connection.
    #[error("cannot reach Redis ([redis] url) and [redis] on_unavailable = \"refuse\": {source}")]
    RedisUnavailable {
        /// The connection error.
        source: crate::auth::SharedError,
    },
    /// The outcome log could not be opened, migrated, written or read.
    #[error(transparent)]
    OutcomeLog(#[from] outcome_log::Error),
    /// Another gateway holds the SQLite outcome log ([`crate::outcome::writer_lock`]).
    #[error("outcome log {} is in use by another `switchyard serve`{}: two gateways on one SQLite file would each keep their own key budgets and both prune the same file. Run one gateway per SQLite file (stop the other one, or point `[log] sqlite` at another file); for several replicas use PostgreSQL (`[log] postgres`, docs/gateway.md, \"Outcome log\"). Lock file: {}", path.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), lock.display())]
    OutcomeLogInUse {
        /// The SQLite file.
        path: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// The holder's pid, when it wrote one.
        pid: Option<u32>,
    },
    /// The outcome log's lock file could not be created or opened.
    #[error("cannot open the outcome log's lock file {}: {source}", path.display())]
    OutcomeLogLock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The outcome log writer thread could not start.
    #[error("cannot start the outcome log writer thread: {source}")]
    OutcomeLogThread {
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP client for upstream calls could not be built.
    #[error("cannot build the upstream HTTP client: {source}")]
    HttpClient {
        /// The reqwest error.
        source: reqwest::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The predictor artifact could not be loaded.
    #[error("cannot load predictor artifact {}: {source}", path.display())]
    ArtifactLoad {
        /// The artifact directory.
        path: PathBuf,
        /// The predictor error.
        source: Box<classifier::predictors::PredictorError>,
    },
    /// The predictor artifact loads but can never predict with the running encoder.
    #[error("{source}; retrain it with this encoder (`switchyard train`) or configure the artifact it was trained for")]
    ArtifactUnusable {
        /// Why (a dimension mismatch).
        source: Box<crate::routing::reload::ReloadError>,
    },
    /// The encoder could not be loaded.
    #[error("cannot load the encoder from {}: {source}", path.display())]
    EncoderLoad {
        /// The weights directory.
        path: PathBuf,
        /// The classifier error.
        source: Box<classifier::Error>,
    },
    /// The encoder service could not start.
    #[error("cannot start the encoder service: {message}")]
    ClassifierStart {
        /// What failed.
        message: String,
    },
    /// The client-key table could not be read.
    #[error(transparent)]
    KeyStore(#[from] crate::auth::KeyStoreError),
    /// A non-loopback bind without client keys.
    #[error("refusing to serve on {addr} without client keys: anyone who can reach it could spend your provider keys. Create one with `switchyard keys create --name NAME`, bind to 127.0.0.1, or set `[server] allow_unauthenticated = true`")]
    Unauthenticated {
        /// The bound address.
        addr: std::net::SocketAddr,
    },
    /// The server failed while running.
    #[error("server error: {source}")]
    Serve {
        /// The I/O error.
        source: std::io::Error,
    },
}

/// ` at `field`` for a TOML path that names a field; nothing for the document as a whole
/// (`.`) or a position serde_path_to_error could not name (`?`).
fn at_field(field: &str) -> String {
    if field.is_empty() || field.split('.').all(|s| s == "?" || s.is_empty()) {
        String::new()
    } else {
        format!(" at `{field}`")
    }
}

/// ` <path>` for a config read from a file, else nothing.
fn in_file(path: Option<&std::path::Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

impl Error {
    /// Names `path` in a [`Error::ConfigInvalid`] that names no file yet; other errors are
    /// returned unchanged.
    #[must_use]
    pub fn in_config_file(self, path: Option<&std::path::Path>) -> Error {
        match self {
            Error::ConfigInvalid {
                path: None,
                field,
                message,
            } => Error::ConfigInvalid {
                path: path.map(std::path::Path::to_path_buf),
                field,
                message,
            },
            other => other,
        }
    }
}
