//! `[guardrails]`: masking or refusing personal data and secrets in prompts (see
//! `crate::guardrails`).

use serde::Deserialize;

use super::invalid;
use crate::error::Error;
use crate::guardrails::{Action, Policy};

/// The raw `[guardrails]` section. Absent: no guardrails at all.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsConfig {
    /// Turn the guardrails on. Default false (the section's values are still checked).
    #[serde(default)]
    pub enabled: bool,
    /// Email addresses: `mask` (default), `block` or `off`.
    #[serde(default)]
    pub email: Action,
    /// Phone numbers (international `+CC …` and common national formats, 7 to 15 digits).
    #[serde(default)]
    pub phone: Action,
    /// Payment card numbers (13 to 19 digits passing the Luhn check).
    #[serde(default)]
    pub card: Action,
    /// IBANs (passing the ISO 13616 mod-97 check).
    #[serde(default)]
    pub iban: Action,
    /// API keys and tokens (`sk-…`, `AKIA…`, `ghp_…`, `xox?-…`, `AIza…`, random values after
    /// `api_key=` or `Bearer `).
    #[serde(default)]
    pub secret: Action,
    /// Regexes (Rust `regex` syntax); a request whose message text matches any is refused
    /// with a 400 naming the pattern's index.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Also mask non-streamed answers before they reach the client (every kind not `off`).
    /// Streams are not covered. Default false.
    #[serde(default)]
    pub responses: bool,
}

/// Checks `[guardrails]`: every deny pattern must compile. `None`: off (absent or not
/// enabled).
pub fn resolve(raw: Option<GuardrailsConfig>) -> Result<Option<Policy>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut deny = Vec::with_capacity(raw.deny.len());
    for (i, pattern) in raw.deny.iter().enumerate() {
        if pattern.is_empty() {
            return Err(invalid(
                &format!("guardrails.deny[{i}]"),
                "an empty pattern matches every request",
            ));
        }
        let re = regex::Regex::new(pattern)
            .map_err(|e| invalid(&format!("guardrails.deny[{i}]"), e.to_string()))?;
        deny.push(re);
    }
    if !raw.enabled {
        return Ok(None);
    }
    Ok(Some(Policy {
        actions: [raw.email, raw.phone, raw.card, raw.iban, raw.secret],
        deny,
        responses: raw.responses,
    }))
}
