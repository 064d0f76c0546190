//! `[redis]`: shared rate limits and budgets across gateway replicas (see
//! `crate::auth::shared`). Absent: every replica counts on its own, in process.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, TimeoutsConfig};
use crate::error::Error;
use crate::secret::Secret;

/// The raw `[redis]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db`. This build has no TLS, so `rediss://` is
    /// refused at start-up. May hold a password: the validated form never prints.
    pub url: String,
    /// Prefix of every key the gateway writes, so that several deployments can share a Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Longest wait for one Redis command (and for a connection attempt) before the request
    /// is treated as if Redis were down.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// What a request gets while Redis cannot be reached.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// Whether Claude's thinking text goes into the replicas' shared record of each tool call
    /// (kept six hours), so that an agent loop whose next turn reaches another replica gives
    /// Claude its thinking back (Anthropic refuses the turn otherwise). `false` keeps thinking
    /// text out of Redis; the call's owner and the opaque payloads (Gemini's signatures, the
    /// Responses API's encrypted reasoning) are shared either way.
    #[serde(default = "default_share_thinking")]
    pub share_thinking: bool,
}

fn default_share_thinking() -> bool {
    true
}

fn default_key_prefix() -> String {
    "switchyard:".to_owned()
}
fn default_timeout() -> Duration {
    Duration::from_millis(50)
}

/// What happens to a request while Redis is unreachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Count in this replica's own memory (each replica then allows the full limit), with a
    /// warning and the `switchyard_redis_fallbacks_total` counter.
    #[default]
    Local,
    /// Answer 503 `limits_unavailable`: no request passes uncounted.
    Refuse,
}

/// `[redis]` after validation.
#[derive(Clone, Debug)]
pub struct Redis {
    /// The parsed connection settings (the URL may hold a password).
    pub url: Secret<String>,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Per-command timeout (non-zero).
    pub timeout: Duration,
    /// What a request gets while Redis is unreachable.
    pub on_unavailable: OnUnavailable,
    /// How long a budget hold outlives its request at most: the longest a request can run
    /// plus a minute. A stream runs until `timeouts.total` after its attempt started, and
    /// that attempt may start as late as `timeouts.request` after the request came (after
    /// failed candidates), so the bound is their sum; a hold that lapsed before its stream
    /// ended would let the key's other requests spend what the stream still may. A replica
    /// that dies mid-request leaves holds that lapse after this.
    pub hold_for: Duration,
    /// Whether thinking text is shared with the tool calls' records.
    pub share_thinking: bool,
}

/// The longest accepted per-command timeout: a limit check waits on it before every request.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks `[redis]`: a URL the client can parse, a non-empty prefix, a timeout in
/// (0, 10 s].
pub fn resolve(
    raw: Option<RedisConfig>,
    timeouts: &TimeoutsConfig,
) -> Result<Option<Redis>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    // Parsed now so that a typo stops the start with the field's name, not the first request.
    if let Err(e) = redis::IntoConnectionInfo::into_connection_info(raw.url.as_str()) {
        return Err(invalid(
            "redis.url",
            format!("not a usable Redis URL (expected redis://host:port/db): {e}"),
        ));
    }
    if raw.key_prefix.is_empty() {
        return Err(invalid(
            "redis.key_prefix",
            "must not be empty (the default is \"switchyard:\")",
        ));
    }
    if raw.timeout.is_zero() || raw.timeout > MAX_TIMEOUT {
        return Err(invalid(
            "redis.timeout",
            format!(
                "{:?} is outside (0, 10s]; the default is {:?}",
                raw.timeout,
                default_timeout()
            ),
        ));
    }
    Ok(Some(Redis {
        url: Secret::new(raw.url),
        key_prefix: raw.key_prefix,
        timeout: raw.timeout,
        on_unavailable: raw.on_unavailable,
        hold_for: timeouts.request + timeouts.total + Duration::from_secs(60),
        share_thinking: raw.share_thinking,
    }))
}
