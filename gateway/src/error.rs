//! The crate's [`Error`] (start-up and configuration failures).

use std::path::PathBuf;

use crate::providers::ProviderKind;

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
    #[error("invalid config {path} at `{field}`: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The field path, such as `timeouts.ttft`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field breaks a cross-check.
    #[error("invalid config at `{field}`: {message}")]
    ConfigInvalid {
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
    /// The outcome database could not be opened or written.
    #[error("outcome log {}: {source}", path.display())]
    OutcomeLog {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The outcome database's folder could not be created.
    #[error("cannot create outcome log folder {}: {source}", path.display())]
    OutcomeLogDir {
        /// The folder.
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
    /// The outcome database to read does not exist.
    #[error("outcome log {} does not exist; run `switchyard serve` first or pass the right --db path", path.display())]
    OutcomeLogMissing {
        /// The database file.
        path: PathBuf,
    },
    /// A stored outcome record is not valid JSON for this version.
    #[error("outcome log {}: record of request {request_id} is invalid: {source}", path.display())]
    OutcomeRecordInvalid {
        /// The database file.
        path: PathBuf,
        /// The request whose row is bad.
        request_id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Writing the export failed.
    #[error("cannot write the outcome export: {source}")]
    OutcomeExportWrite {
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
    /// The server failed while running.
    #[error("server error: {source}")]
    Serve {
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An error answered to an HTTP client, in OpenAI's shape
/// `{"error":{"message","type","code"}}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not valid JSON for the endpoint.
    #[error("invalid request body: {0}")]
    InvalidJson(String),
    /// The request is well-formed but not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// The model is not in the catalog.
    #[error("model `{model}` does not exist{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownModel {
        /// The name asked for.
        model: String,
        /// The catalog's closest name.
        suggestion: Option<String>,
    },
    /// The body is larger than `server.body_limit_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No model can serve the request (no live provider, or every model breaks a hard
    /// constraint).
    #[error("no live model can serve this request: {0}")]
    NoLiveCandidate(String),
    /// An upstream rejected the gateway's API key.
    #[error("upstream provider `{provider}` rejected the configured API key; check the key in its api_key_env variable")]
    UpstreamAuth {
        /// The provider id.
        provider: String,
    },
    /// The upstream refused the request itself (4xx); its message is passed on.
    #[error("upstream rejected the request: {message}")]
    UpstreamRejected {
        /// The upstream's status (400–499).
        status: u16,
        /// The upstream's error message.
        message: String,
    },
    /// Every candidate was rate limited.
    #[error("upstream rate limit reached")]
    UpstreamRateLimited {
        /// The last `Retry-After`.
        retry_after: Option<std::time::Duration>,
    },
    /// The request deadline passed before an answer.
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(String),
    /// Every attempt failed.
    #[error("all upstream attempts failed: {0}")]
    UpstreamFailed(String),
    /// A bug or an unavailable internal component.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The real error behind a 5xx, put in the response extensions for the logging middleware.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest(_) => S::BAD_REQUEST,
            ApiError::UnknownModel { .. } => S::NOT_FOUND,
            ApiError::BodyTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            ApiError::NoLiveCandidate(_) => S::SERVICE_UNAVAILABLE,
            ApiError::UpstreamAuth { .. } | ApiError::UpstreamFailed(_) => S::BAD_GATEWAY,
            ApiError::UpstreamRejected { status, .. } => {
                S::from_u16(*status).unwrap_or(S::BAD_REQUEST)
            }
            ApiError::UpstreamRateLimited { .. } => S::TOO_MANY_REQUESTS,
            ApiError::UpstreamTimeout(_) => S::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::UnknownModel { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::UpstreamRejected { .. } => "invalid_request_error",
            ApiError::UpstreamRateLimited { .. } => "rate_limit_error",
            ApiError::NoLiveCandidate(_)
            | ApiError::UpstreamAuth { .. }
            | ApiError::UpstreamTimeout(_)
            | ApiError::UpstreamFailed(_) => "upstream_error",
            ApiError::Internal(_) => "server_error",
        }
    }

    /// OpenAI's `code` field: a stable, low-cardinality label (also a metric label).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::UnknownModel { .. } => "model_not_found",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::NoLiveCandidate(_) => "no_live_candidate",
            ApiError::UpstreamAuth { .. } => "upstream_auth",
            ApiError::UpstreamRejected { .. } => "upstream_rejected",
            ApiError::UpstreamRateLimited { .. } => "rate_limited",
            ApiError::UpstreamTimeout(_) => "upstream_timeout",
            ApiError::UpstreamFailed(_) => "upstream_failed",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The message shown to the client: the full text for client errors and the actionable
    /// 5xx cases, a generic line for the rest (details go to the log).
    fn public_message(&self) -> String {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::UnknownModel { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::UpstreamRejected { .. }
            | ApiError::UpstreamRateLimited { .. }
            | ApiError::UpstreamAuth { .. }
            | ApiError::NoLiveCandidate(_) => self.to_string(),
            ApiError::UpstreamTimeout(_) => "upstream timed out".to_owned(),
            ApiError::UpstreamFailed(_) => "all upstream attempts failed".to_owned(),
            ApiError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.public_message(),
                "type": self.kind(),
                "code": self.code(),
            }
        })
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let ApiError::UpstreamRateLimited {
            retry_after: Some(d),
        } = &self
        {
            let secs = d.as_secs_f64().ceil().to_string();
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ErrorDetail(self.to_string()));
        }
        response
    }
}
