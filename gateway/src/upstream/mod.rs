//! Calling upstream providers: the adapters ([`providers`]), server-sent events ([`sse`]),
//! the failover walk over ranked candidates ([`failover`]) with circuit breakers
//! ([`circuit_breaker`]), a model's several providers or keys ([`deployments`]), and the one upstream error type ([`UpstreamError`]) that carries
//! source, retryable and bytes_sent for failover.
//!
//! Nothing here knows about HTTP answers to clients: a failed walk is a
//! [`failover::WalkError`], which `crate::http::error` maps to a client status.

pub mod circuit_breaker;
pub mod complete;
pub mod cooldown;
pub mod deployments;
pub mod discovery;
pub mod error;
pub mod failover;
pub mod fit;
pub mod providers;
pub(crate) mod rediscovery;
pub mod sse;

pub use error::{retry_after_from_headers, ErrorSource, UpstreamError, UpstreamErrorKind};
pub use fit::THINKING;
pub use providers::{build_provider, ChunkStream, Provider, ProviderKind};
