//! Property tests ("fuzzing") of every parser that reads outside input, called as plain
//! functions: request bodies and headers ([`requests`]), server-sent events and the three
//! provider dialects ([`upstream`]), and config files ([`config`]). The properties: no panic
//! on any input; a client's mistake is a 4xx in OpenAI's error shape, never a 5xx; an
//! upstream's garbage is an [`crate::upstream::UpstreamError`] that ends its stream.
//!
//! The HTTP layer is fuzzed through a real server in `tests/it/fuzz_http.rs`.
//!
//! Inputs are built from the shapes the parsers expect (valid bodies mutated at random
//! places with hostile values), since random bytes rarely get past the first `{`.
//!
//! Every property runs a few hundred cases in CI; `PROPTEST_CASES` sets the count for a
//! longer run (docs/security.md, "Fuzzing"):
//!
//! ```sh
//! PROPTEST_CASES=100000 nice -n 10 cargo test --workspace --lib fuzz_
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod requests;
mod upstream;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};

/// `default` cases per property, or `PROPTEST_CASES` when set.
pub(crate) fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Failures print their minimal input; nothing is written next to the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Strings that matter to some parser: roles, part types, model names, enum values, edge
/// characters.
const WORDS: &[&str] = &[
    "",
    " ",
    "auto",
    "gpt-4o",
    "gpt-4o-mini",
    "claude-haiku-4.5",
    "gemini-2.5-flash",
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "model",
    "text",
    "image_url",
    "function",
    "json_object",
    "json_schema",
    "none",
    "required",
    "stop",
    "length",
    "tool_calls",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "end_turn",
    "tool_use",
    "[DONE]",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:,",
    "https://example.com/cat.png",
    "\u{0}",
    "\u{feff}",
    "é",
    "😀",
    "\\",
    "\"",
    "{",
    "null",
];

/// Numbers at the edges: zero, negative zero, the smallest subnormal, huge, integers past
/// `u32`.
const NUMBERS: &[f64] = &[
    0.0,
    -0.0,
    5e-324,
    1e-300,
    0.5,
    1.0,
    2.0,
    2.5,
    -1.0,
    7.0,
    1e9,
    4294967296.0,
    1e300,
    -1e300,
];

/// A hostile JSON scalar.
pub(crate) fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(NUMBERS)
            .prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        (1usize..5000).prop_map(|n| Value::String("x".repeat(n))),
    ]
}

/// A key from `keys` (mostly) or any short string.
fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,8}",
    ]
}

/// A JSON tree of hostile scalars whose object keys mostly come from `keys`.
pub(crate) fn tree(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(keys), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One edit of a JSON tree: walk down by `path` (child indexes modulo the width) and replace
/// the node reached with `with`, or remove it from its parent.
#[derive(Clone, Debug)]
pub(crate) struct Edit {
    path: Vec<usize>,
    with: Option<Value>,
}

pub(crate) fn edit(keys: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    (
        prop::collection::vec(any::<usize>(), 0..6),
        prop::option::weighted(0.85, tree(keys)),
    )
        .prop_map(|(path, with)| Edit { path, with })
}

/// Applies `edit` to `value`.
pub(crate) fn apply(value: &mut Value, edit: &Edit) {
    let mut node = value;
    for (depth, &step) in edit.path.iter().enumerate() {
        let last = depth + 1 == edit.path.len();
        let child_key: Option<Result<usize, String>> = match &*node {
            Value::Array(a) if !a.is_empty() => Some(Ok(step % a.len())),
            Value::Object(o) if !o.is_empty() => o.keys().nth(step % o.len()).cloned().map(Err),
            _ => None,
        };
        let Some(child) = child_key else { break };
        if last && edit.with.is_none() {
            match (node, child) {
                (Value::Array(a), Ok(i)) => {
                    a.remove(i);
                }
                (Value::Object(o), Err(k)) => {
                    o.remove(&k);
                }
                _ => {}
            }
            return;
        }
        node = match (node, child) {
            (Value::Array(a), Ok(i)) => &mut a[i],
            (Value::Object(o), Err(k)) => match o.get_mut(&k) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Some(with) = &edit.with {
        *node = with.clone();
    }
}

/// One of `templates`, edited up to four times: mostly almost valid, sometimes far off.
pub(crate) fn mutated(
    templates: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(templates),
        prop::collection::vec(edit(keys), 0..4),
    )
        .prop_map(|(template, edits)| {
            let mut value: Value = serde_json::from_str(template).expect("templates are JSON");
            for e in &edits {
                apply(&mut value, e);
            }
            value
        })
}

/// JSON text as a client or upstream may send it: the value's text, now and then cut short
/// or with a byte flipped.
pub(crate) fn json_text(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<u8>> {
    (value, any::<u8>(), any::<usize>(), any::<u8>()).prop_map(|(v, damage, at, byte)| {
        let mut text = serde_json::to_vec(&v).unwrap_or_default();
        if !text.is_empty() {
            let at = at % text.len();
            match damage % 10 {
                0 => text.truncate(at),
                1 => text[at] = byte,
                _ => {}
            }
        }
        text
    })
}

#[test]
fn edits_reach_nested_nodes() {
    let mut v: Value = serde_json::from_str(r#"{"a":[1,{"b":2}]}"#).unwrap();
    apply(
        &mut v,
        &Edit {
            path: vec![0, 1, 0],
            with: Some(Value::from("x")),
        },
    );
    assert_eq!(v, serde_json::json!({"a": [1, {"b": "x"}]}));
    apply(
        &mut v,
        &Edit {
            path: vec![0, 0],
            with: None,
        },
    );
    assert_eq!(v, serde_json::json!({"a": [{"b": "x"}]}));
}
