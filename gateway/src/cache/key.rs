//! The cache key: a SHA-256 over a canonical form of everything that decides the answer.
//!
//! Two requests share a key only when they would be sent the same way: the `model` exactly as
//! requested (`auto` included, so a routed request never hits an entry of a pinned one), the
//! merged routing knobs (body `router` object and `x-switchyard-*` headers, as the router saw
//! them), every other body field (messages, tools, sampling parameters, `response_format`,
//! output limits, stop sequences, `seed`, `user`, unknown pass-through fields), and the client
//! key id, so that no entry is ever shared between keys. How the answer is delivered
//! (`stream`, `stream_options`) is left out: a streamed request may replay a non-streamed
//! answer and the other way round.
//!
//! Canonical form: object keys sorted at every depth, no whitespace, numbers and strings as
//! `serde_json` writes them. So field order never matters, while `1` and `1.0` (different JSON
//! the upstream could read differently) stay different keys.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::openai::wire::{ChatCompletionRequest, Role, RouterOptions};

/// Bumped whenever what goes into the key changes, so that old and new keys never collide,
/// or when answers stored under the old keys must not be replayed (3: before it, a request
/// with `tool_choice: allowed_tools` reached Claude, Gemini and compatible servers without the
/// limit, so a stored answer could call a tool that was not allowed).
const KEY_VERSION: u32 = 3;

/// The SHA-256 key of a request's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// Lowercase hex, for debug logs.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key of a digest read back (another replica's eviction message; tests).
    pub(crate) fn from_bytes(digest: [u8; 32]) -> CacheKey {
        CacheKey(digest)
    }
}

/// Who a cache entry may be served to, besides what the request itself says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Namespace<'a> {
    /// The client key id (`None`: the one namespace used when client keys are off).
    pub key_id: Option<&'a str>,
    /// The A/B arm that routes the request, so that one arm never serves another arm's
    /// choice.
    pub arm: Option<&'a str>,
    /// The `[[rules]]` entry that matched it: a rule can match on a header the key does not
    /// otherwise hold, and its pin, allow or deny list must decide the answer, so requests
    /// under different rules never share an entry.
    pub rule: Option<&'a str>,
    /// The serving predictor's generation: an `auto` answer is the choice of the fit that
    /// routed it, so a reload makes every entry stored before it unreachable, on every replica
    /// sharing the cache, and a request routed before the reload stores where none after it
    /// looks.
    pub generation: Option<&'a str>,
    /// The fingerprint of the configuration that decides answers
    /// ([`config_fingerprint`]): a restart on another catalog, rules, guardrails or routing
    /// settings, or a replica on another config sharing Redis, never serves an answer made
    /// under the old one.
    pub config: Option<&'a str>,
}

/// SHA-256 (hex) of what in `config` decides an answer besides the request: the catalog
/// entries (ids, aliases, upstream names, prices, capabilities), the deployments (upstream
/// names per provider), the `[[rules]]` in full, the guardrail policies (masking of prompts
/// and answers), the objective, `auto`'s candidates, fallback and exploration, and the
/// experiment. Deterministic across replicas with the same config: only ordered structures
/// go in, by their `Debug` form (the catalog's lookup index, a hash map, is left out, as is
/// what start-up discovery finds, which differs between replicas and over time).
pub fn config_fingerprint(config: &crate::config::Config) -> String {
    let entries: Vec<&models::CatalogEntry> = config.catalog.entries().collect();
    let router = &config.router;
    let form = format!(
        "{entries:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        config.deployments,
        config.rules,
        config.guardrails,
        config.objective,
        config.candidates,
        router.candidates,
        router.fallback_model,
        router.exploration,
        router.exploration_seed,
        config.experiment,
    );
    hex::encode(Sha256::digest(form.as_bytes()))
}

/// The key of `req` with the merged routing `options`, in namespace `ns`. `None` only if the
/// request cannot be serialised, which a parsed request always can.
pub fn key_of(
    req: &ChatCompletionRequest,
    options: &RouterOptions,
    ns: Namespace<'_>,
) -> Option<CacheKey> {
    let mut request = serde_json::to_value(req).ok()?;
    if let Value::Object(fields) = &mut request {
        // Delivery, not content; the routing knobs come in merged below.
        for delivery in ["stream", "stream_options", "router"] {
            fields.remove(delivery);
        }
    }
    let mut keyed = serde_json::json!({
        "version": KEY_VERSION,
        "client_key": ns.key_id,
        "request": request,
        "router": serde_json::to_value(options).ok()?,
    });
    with_namespace(&mut keyed, ns);
    let mut canonical = Vec::with_capacity(1024);
    write_canonical(&keyed, &mut canonical);
    Some(CacheKey(Sha256::digest(&canonical).into()))
}

/// The semantic cache's scope of `req` and the text it may reword: when the last message is
/// the user's and holds only text, the key of everything else (the exact key's canonical form
/// with that message's content left out, so the model, routing knobs, parameters, tools,
/// earlier turns and client key must all be identical) and that message's text.
pub fn scope_of(
    req: &ChatCompletionRequest,
    options: &RouterOptions,
    ns: Namespace<'_>,
) -> Option<(CacheKey, String)> {
    let last = req.messages.last()?;
    if last.role != Role::User || last.has_image() {
        return None;
    }
    let text = last.text_content();
    let mut request = serde_json::to_value(req).ok()?;
    if let Value::Object(fields) = &mut request {
        for delivery in ["stream", "stream_options", "router"] {
            fields.remove(delivery);
        }
        if let Some(Value::Array(messages)) = fields.get_mut("messages") {
            if let Some(Value::Object(last)) = messages.last_mut() {
                last.remove("content");
            }
        }
    }
    let mut keyed = serde_json::json!({
        "version": KEY_VERSION,
        "scope": "semantic",
        "client_key": ns.key_id,
        "request": request,
        "router": serde_json::to_value(options).ok()?,
    });
    with_namespace(&mut keyed, ns);
    let mut canonical = Vec::with_capacity(1024);
    write_canonical(&keyed, &mut canonical);
    Some((CacheKey(Sha256::digest(&canonical).into()), text))
}

/// Adds the A/B arm, the matched rule, the predictor generation and the config fingerprint to
/// a key's canonical form; each one absent leaves the form as it was.
fn with_namespace(keyed: &mut Value, ns: Namespace<'_>) {
    if let Value::Object(fields) = keyed {
        for (name, value) in [
            ("arm", ns.arm),
            ("rule", ns.rule),
            ("generation", ns.generation),
            ("config", ns.config),
        ] {
            if let Some(value) = value {
                fields.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
    }
}

/// Whether the client asked for a reproducible answer: `temperature` 0, or an integer `seed`
/// (OpenAI's "best effort" determinism; a seeded request is a request for the same answer).
pub fn is_deterministic(req: &ChatCompletionRequest) -> bool {
    req.temperature == Some(0.0)
        || req
            .extra
            .get("seed")
            .is_some_and(|s| s.is_i64() || s.is_u64())
}

/// Writes `value` with object keys sorted, recursively. The depth is bounded by the JSON
/// parser's own recursion limit (128), so this cannot overflow the stack.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail; on the impossible error the key only gets
    // less specific for this field, never wrong for another request.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn req(json: &str) -> ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    fn key(json: &str, key_id: Option<&str>) -> CacheKey {
        let ns = Namespace {
            key_id,
            ..Namespace::default()
        };
        key_of(&req(json), &RouterOptions::default(), ns).unwrap()
    }

    const BASE: &str =
        r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn each_ab_arm_has_its_own_keys() {
        let opts = RouterOptions::default();
        let r = req(BASE);
        let arm = |arm| Namespace {
            arm,
            ..Namespace::default()
        };
        let control = key_of(&r, &opts, arm(Some("control"))).unwrap();
        let candidate = key_of(&r, &opts, arm(Some("candidate"))).unwrap();
        assert_ne!(control, candidate);
        assert_ne!(control, key(BASE, None));
        let scope = |a| scope_of(&r, &opts, arm(a)).unwrap().0;
        assert_ne!(scope(Some("control")), scope(Some("candidate")));
        assert_ne!(scope(Some("control")), scope(None));
    }

    #[test]
    fn each_rule_has_its_own_keys_and_no_rule_keeps_the_old_ones() {
        let opts = RouterOptions::default();
        let r = req(BASE);
        let rule = |rule| Namespace {
            rule,
            ..Namespace::default()
        };
        let pinned = key_of(&r, &opts, rule(Some("eu-only"))).unwrap();
        assert_ne!(pinned, key(BASE, None));
        assert_ne!(pinned, key_of(&r, &opts, rule(Some("other"))).unwrap());
        assert_eq!(key_of(&r, &opts, rule(None)).unwrap(), key(BASE, None));
        let scope = |ns| scope_of(&r, &opts, ns).unwrap().0;
        assert_ne!(scope(rule(Some("eu-only"))), scope(rule(None)));
    }

    #[test]
    fn each_predictor_generation_has_its_own_keys() {
        let opts = RouterOptions::default();
        let r = req(BASE);
        let fit = |generation| Namespace {
            generation,
            ..Namespace::default()
        };
        let old = key_of(&r, &opts, fit(Some("2026-12-01T00:00:00Z"))).unwrap();
        let new = key_of(&r, &opts, fit(Some("2026-12-06T00:00:00Z"))).unwrap();
        assert_ne!(old, new);
        assert_eq!(key_of(&r, &opts, fit(None)).unwrap(), key(BASE, None));
        let scope = |ns| scope_of(&r, &opts, ns).unwrap().0;
        assert_ne!(scope(fit(Some("a"))), scope(fit(Some("b"))));
    }

    #[test]
    fn each_config_fingerprint_has_its_own_keys() {
        let opts = RouterOptions::default();
        let r = req(BASE);
        let cfg = |config| Namespace {
            config,
            ..Namespace::default()
        };
        let a = key_of(&r, &opts, cfg(Some("aaaa"))).unwrap();
        assert_ne!(a, key_of(&r, &opts, cfg(Some("bbbb"))).unwrap());
        assert_ne!(a, key(BASE, None));
        let scope = |ns| scope_of(&r, &opts, ns).unwrap().0;
        assert_ne!(scope(cfg(Some("aaaa"))), scope(cfg(Some("bbbb"))));
    }

    #[test]
    fn field_order_and_delivery_do_not_matter() {
        let reordered = r#"{"messages":[{"content":"hi","role":"user"}],"temperature":0,"model":"auto","stream":true,"stream_options":{"include_usage":true}}"#;
        assert_eq!(key(BASE, None), key(reordered, None));
    }

    #[test]
    fn everything_that_shapes_the_answer_changes_the_key() {
        let base = key(BASE, None);
        for other in [
            r#"{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi!"}]}"#,
            r#"{"model":"auto","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"stop":"x","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"seed":1,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}"#,
        ] {
            assert_ne!(base, key(other, None), "{other}");
        }
        assert_ne!(base, key(BASE, Some("key_a")));
        assert_ne!(key(BASE, Some("key_a")), key(BASE, Some("key_b")));
        let capped = RouterOptions {
            max_cost_usd: Some(0.01),
            ..RouterOptions::default()
        };
        assert_ne!(
            base,
            key_of(&req(BASE), &capped, Namespace::default()).unwrap()
        );
    }

    #[test]
    fn body_router_object_and_merged_options_are_one_input() {
        // The body's `router` object is replaced by the merged options the caller passes.
        let with_body = req(
            r#"{"model":"auto","temperature":0,"router":{"max_cost_usd":0.01},"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let capped = RouterOptions {
            max_cost_usd: Some(0.01),
            ..RouterOptions::default()
        };
        assert_eq!(
            key_of(&with_body, &capped, Namespace::default()),
            key_of(&req(BASE), &capped, Namespace::default())
        );
    }

    #[test]
    fn the_semantic_scope_leaves_out_only_the_last_user_text() {
        let scope = |json: &str, key_id| {
            let ns = Namespace {
                key_id,
                ..Namespace::default()
            };
            scope_of(&req(json), &RouterOptions::default(), ns)
        };
        let (a, text) = scope(BASE, None).unwrap();
        assert_eq!(text, "hi");
        let reworded = r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hello there"}]}"#;
        assert_eq!(scope(reworded, None).unwrap().0, a);
        assert_ne!(scope(BASE, Some("key_a")).unwrap().0, a);
        for other in [
            r#"{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}"#,
        ] {
            assert_ne!(scope(other, None).unwrap().0, a, "{other}");
        }
        // The exact key and the scope never coincide.
        assert_ne!(key(BASE, None), a);
        // Nothing to reword: the last turn is not the user's, or holds an image.
        assert!(scope(
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}"#,
            None
        )
        .is_none());
        assert!(scope(
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
            None
        )
        .is_none());
    }

    #[test]
    fn determinism_needs_temperature_zero_or_an_integer_seed() {
        assert!(is_deterministic(&req(BASE)));
        assert!(is_deterministic(&req(
            r#"{"model":"auto","temperature":0.7,"seed":42,"messages":[]}"#
        )));
        assert!(!is_deterministic(&req(
            r#"{"model":"auto","temperature":0.7,"messages":[]}"#
        )));
        assert!(!is_deterministic(&req(r#"{"model":"auto","messages":[]}"#)));
        assert!(!is_deterministic(&req(
            r#"{"model":"auto","seed":"x","messages":[]}"#
        )));
    }
}
