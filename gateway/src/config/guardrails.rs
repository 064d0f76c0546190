//! `[guardrails]`: masking or refusing personal data and secrets in prompts (see
//! `crate::guardrails`).

use std::collections::BTreeMap;

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
    /// Also mask answers before they reach the client (every kind not `off`); a stream holds
    /// back the run of characters a value could still be growing in (`guardrails::stream`).
    /// Default false.
    #[serde(default)]
    pub responses: bool,
    /// Named policies a client key can be given instead of this one
    /// (`[guardrails.profiles.strict]`, `switchyard keys create --guardrails strict`). Each is
    /// whole: fields it leaves out take their defaults, not this section's values, and
    /// `enabled = false` turns the guardrails off for its keys.
    #[serde(default)]
    pub profiles: BTreeMap<String, GuardrailsConfig>,
}

/// `[guardrails]` after validation.
#[derive(Clone, Debug, Default)]
pub struct Guardrails {
    /// The policy of requests without a key, or whose key names no profile; `None`: off.
    pub default: Option<Policy>,
    /// Each profile's policy (`None`: off for its keys).
    pub profiles: BTreeMap<String, Option<Policy>>,
}

/// Whether `name` may name a guardrails profile: 1 to 64 ASCII letters, digits, `-`, `_` or
/// `.` (it is stored with keys and shown in listings).
pub fn is_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Checks `[guardrails]` and its profiles: every deny pattern must compile and not match the
/// empty string, profile names must be valid and profiles not nested.
pub fn resolve(raw: Option<GuardrailsConfig>) -> Result<Guardrails, Error> {
    let Some(mut raw) = raw else {
        return Ok(Guardrails::default());
    };
    let mut profiles = BTreeMap::new();
    for (name, profile) in std::mem::take(&mut raw.profiles) {
        let field = format!("guardrails.profiles.{name}");
        if !is_profile_name(&name) {
            return Err(invalid(
                &field,
                "a profile name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`",
            ));
        }
        if !profile.profiles.is_empty() {
            return Err(invalid(
                &format!("{field}.profiles"),
                "profiles do not nest; define every profile under [guardrails.profiles]",
            ));
        }
        profiles.insert(name, policy(profile, &field)?);
    }
    Ok(Guardrails {
        default: policy(raw, "guardrails")?,
        profiles,
    })
}

/// One section's policy; `None` when not enabled (its values are still checked).
fn policy(raw: GuardrailsConfig, field: &str) -> Result<Option<Policy>, Error> {
    let mut deny = Vec::with_capacity(raw.deny.len());
    for (i, pattern) in raw.deny.iter().enumerate() {
        if pattern.is_empty() {
            return Err(invalid(
                &format!("{field}.deny[{i}]"),
                "an empty pattern matches every request",
            ));
        }
        let re = regex::Regex::new(pattern)
            .map_err(|e| invalid(&format!("{field}.deny[{i}]"), e.to_string()))?;
        // A pattern that matches the empty string (`FOO|`, `(x)?`, `x*`) matches every text,
        // so it would refuse every request.
        if re.is_match("") {
            return Err(invalid(
                &format!("{field}.deny[{i}]"),
                format!(
                    "pattern `{pattern}` matches the empty string, so it matches every request \
                     (a stray `|`, `?` or `*`?)"
                ),
            ));
        }
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
