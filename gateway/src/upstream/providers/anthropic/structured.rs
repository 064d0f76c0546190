//! Structured outputs on Claude: a `json_schema` response format as `output_config.format`.
//!
//! Claude takes a JSON Schema from the 4.5 models on (Haiku, Sonnet and Opus 4.5, every
//! later model), and only a subset of it: every object must say `additionalProperties:
//! false`, and numeric, string-length and most array-size constraints are refused with a 400
//! (platform.claude.com, "Structured outputs", JSON Schema limitations). OpenAI's strict
//! mode needs the same `additionalProperties`, and its non-strict schemas often carry the
//! constraints Claude refuses, so [`output_schema`] rewrites what Claude would refuse the way
//! Anthropic's SDKs do: objects closed, each refused constraint moved into the node's
//! `description`, where the model still reads it.

use serde_json::{Map, Value};

/// Keywords Claude's constrained decoding refuses, kept as text in `description`.
const REFUSED: [&str; 11] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// Keywords whose value is one schema.
const ONE_SCHEMA: [&str; 4] = ["items", "not", "contains", "additionalItems"];

/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: [&str; 4] = ["anyOf", "allOf", "oneOf", "prefixItems"];

/// Keywords whose value maps names to schemas.
const SCHEMA_MAPS: [&str; 4] = ["properties", "$defs", "definitions", "patternProperties"];

/// Whether `upstream_model` (a Claude API name such as `claude-haiku-4-5`,
/// `claude-sonnet-4-5-20250929`, `claude-opus-5`, the 3.x form `claude-3-7-sonnet-…`, Bedrock's
/// `anthropic.claude-sonnet-4-5-20250929-v1:0` or Vertex's `claude-opus-4-5@20251101`) takes
/// `output_config.format`: version 4.5 or later, or no version at all (an alias of a current
/// model). Names without `claude-` do not.
pub fn takes_output_format(upstream_model: &str) -> bool {
    upstream_model.contains("claude-")
        && super::claude_version(upstream_model).is_none_or(|v| v >= (4, 5))
}

/// `schema` as Claude takes it: `$schema` left out, every object closed, refused constraints
/// moved into descriptions (see the module's notes).
pub fn output_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    rewrite(&mut schema);
    schema
}

/// Rewrites one schema node and every schema under it.
fn rewrite(node: &mut Value) {
    let Value::Object(map) = node else {
        return;
    };
    for key in ONE_SCHEMA {
        if let Some(child) = map.get_mut(key) {
            rewrite(child);
        }
    }
    for key in SCHEMA_LISTS {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(rewrite);
        }
    }
    for key in SCHEMA_MAPS {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(rewrite);
        }
    }
    let is_object =
        map.get("type").is_some_and(|t| names(t, "object")) || map.contains_key("properties");
    // Closed where that keeps the schema's meaning for the answer (absent or `true`: extra
    // keys were allowed, not needed). A map-typed object (`additionalProperties` a schema)
    // cannot be closed without forbidding every entry, so it goes as it is and Claude's 400
    // sends the request on to another candidate.
    if is_object
        && !map
            .get("additionalProperties")
            .is_some_and(Value::is_object)
    {
        map.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    // `minItems` is taken only as 0 or 1.
    let many_items = map
        .get("minItems")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1);
    let mut notes = Vec::new();
    for key in REFUSED
        .iter()
        .copied()
        .chain(many_items.then_some("minItems"))
    {
        if let Some(value) = map.remove(key) {
            notes.push(format!("{key}: {value}"));
        }
    }
    if !notes.is_empty() {
        describe(map, &notes.join(", "));
    }
}

/// Whether a `type` value (a name or a list of names) names `wanted`.
fn names(t: &Value, wanted: &str) -> bool {
    match t {
        Value::String(s) => s == wanted,
        Value::Array(list) => list.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

/// Appends `{notes}` to the node's description.
fn describe(map: &mut Map<String, Value>, notes: &str) {
    let text = match map.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} ({notes})"),
        _ => format!("({notes})"),
    };
    map.insert("description".to_owned(), Value::String(text));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claude_4_5_and_later_take_the_output_format() {
        for name in [
            "claude-haiku-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-sonnet-5-5",
            "claude-opus-5",
            "claude-sonnet-5@20261001",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-opus-4-5@20251101",
            "claude-sonnet-latest",
        ] {
            assert!(takes_output_format(name), "{name}");
        }
        for name in [
            "claude-opus-4-1",
            "claude-sonnet-4-0",
            "claude-sonnet-4-20250514",
            "claude-3-7-sonnet-20250219",
            "claude-3-5-haiku-latest",
            "claude-3-haiku-20240307",
            "claude-2.1",
            "claude-instant-1.2",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "gpt-4o",
        ] {
            assert!(!takes_output_format(name), "{name}");
        }
    }

    #[test]
    fn schemas_are_closed_and_refused_constraints_become_descriptions() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "name": {"type": "string", "description": "Full name", "maxLength": 80},
                "tags": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                "one": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/pet"}},
                "either": {"anyOf": [{"type": "null"}, {"type": ["object", "null"],
                    "properties": {"x": {"type": "number", "multipleOf": 0.5}}}]}
            },
            "required": ["age", "name"],
            "additionalProperties": true,
            "$defs": {"pet": {"properties": {"kind": {"enum": ["cat", "dog"]}}}}
        });
        let out = output_schema(&schema);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "age": {"type": "integer", "description": "(minimum: 0, maximum: 150)"},
                    "name": {"type": "string", "description": "Full name (maxLength: 80)"},
                    "tags": {"type": "array", "items": {"type": "string"},
                        "description": "(minItems: 2)"},
                    "one": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/pet"}},
                    "either": {"anyOf": [{"type": "null"}, {"type": ["object", "null"],
                        "properties": {"x": {"type": "number",
                            "description": "(multipleOf: 0.5)"}},
                        "additionalProperties": false}]}
                },
                "required": ["age", "name"],
                "additionalProperties": false,
                "$defs": {"pet": {"properties": {"kind": {"enum": ["cat", "dog"]}},
                    "additionalProperties": false}}
            })
        );
        // Not a schema object: passed on as it is.
        assert_eq!(output_schema(&json!(true)), json!(true));
        // A map-typed object keeps its value schema (closing it would forbid every entry).
        let map = json!({"type": "object", "additionalProperties": {"type": "integer"}});
        assert_eq!(output_schema(&map), map);
    }
}
