//! The `.jsonl` SSE fixtures (one chunk per line) that successful streams are rendered from.
//!
//! A line is a vendor stream chunk with placeholder strings: `"$ID"`, `"$MODEL"` and
//! `"$DELTA"` become strings; `"$CREATED"`, `"$INPUT_TOKENS"`, `"$OUTPUT_TOKENS"` and
//! `"$TOTAL_TOKENS"` become numbers. A line holding `"$DELTA"` is repeated once per piece of
//! the reply text.

use serde_json::Value;

use crate::{Error, Usage};

const OPENAI: (&str, &str) = (
    "openai_chat_stream.jsonl",
    include_str!("../fixtures/openai_chat_stream.jsonl"),
);
const ANTHROPIC: (&str, &str) = (
    "anthropic_messages_stream.jsonl",
    include_str!("../fixtures/anthropic_messages_stream.jsonl"),
);
const GEMINI: (&str, &str) = (
    "gemini_generate_stream.jsonl",
    include_str!("../fixtures/gemini_generate_stream.jsonl"),
);

const DELTA: &str = "$DELTA";

/// The parsed stream templates of every vendor.
#[derive(Debug)]
pub(crate) struct Fixtures {
    /// OpenAI chat completion chunks.
    pub(crate) openai: Vec<Value>,
    /// Anthropic Messages stream events.
    pub(crate) anthropic: Vec<Value>,
    /// Gemini `GenerateContentResponse` chunks.
    pub(crate) gemini: Vec<Value>,
}

impl Fixtures {
    /// Parses the bundled fixtures.
    pub(crate) fn load() -> Result<Self, Error> {
        Ok(Fixtures {
            openai: parse(OPENAI)?,
            anthropic: parse(ANTHROPIC)?,
            gemini: parse(GEMINI)?,
        })
    }
}

fn parse((file, text): (&'static str, &str)) -> Result<Vec<Value>, Error> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|source| Error::FixtureInvalid {
                file,
                line: i + 1,
                source,
            })
        })
        .collect()
}

/// The values a template's placeholders take.
#[derive(Clone, Debug)]
pub(crate) struct Fill<'a> {
    /// Response id.
    pub(crate) id: &'a str,
    /// Model name as the request gave it.
    pub(crate) model: &'a str,
    /// Unix seconds reported as `created`.
    pub(crate) created: u64,
    /// Token counts.
    pub(crate) usage: Usage,
    /// The reply text split into stream pieces.
    pub(crate) pieces: &'a [String],
}

/// Renders template lines into chunks, repeating `$DELTA` lines once per piece.
pub(crate) fn render(lines: &[Value], fill: &Fill<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    for line in lines {
        if mentions_delta(line) {
            out.extend(fill.pieces.iter().map(|p| substitute(line, fill, p)));
        } else {
            out.push(substitute(line, fill, ""));
        }
    }
    out
}

fn mentions_delta(value: &Value) -> bool {
    match value {
        Value::String(s) => s == DELTA,
        Value::Array(items) => items.iter().any(mentions_delta),
        Value::Object(map) => map.values().any(mentions_delta),
        _ => false,
    }
}

fn substitute(value: &Value, fill: &Fill<'_>, piece: &str) -> Value {
    match value {
        Value::String(s) => match s.as_str() {
            "$ID" => Value::from(fill.id),
            "$MODEL" => Value::from(fill.model),
            DELTA => Value::from(piece),
            "$CREATED" => Value::from(fill.created),
            "$INPUT_TOKENS" => Value::from(fill.usage.input_tokens),
            "$OUTPUT_TOKENS" => Value::from(fill.usage.output_tokens),
            "$TOTAL_TOKENS" => Value::from(fill.usage.total_tokens()),
            _ => value.clone(),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, fill, piece)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, fill, piece)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// Splits a reply into stream pieces, one word (with its trailing space) each.
pub(crate) fn pieces(reply: &str) -> Vec<String> {
    reply.split_inclusive(' ').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn bundled_fixtures_parse_and_render() {
        let fixtures = Fixtures::load().unwrap();
        let pieces = pieces("hello big world");
        assert_eq!(pieces, ["hello ", "big ", "world"]);
        let fill = Fill {
            id: "id-1",
            model: "m",
            created: 7,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
            },
            pieces: &pieces,
        };
        let chunks = render(&fixtures.anthropic, &fill);
        let deltas: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["delta"]["text"].as_str())
            .collect();
        assert_eq!(deltas, ["hello ", "big ", "world"]);
        let last_delta = chunks
            .iter()
            .find(|c| c["type"] == "message_delta")
            .unwrap();
        assert_eq!(last_delta["usage"]["output_tokens"], 4);
        let openai = render(&fixtures.openai, &fill);
        assert_eq!(openai[0]["id"], "id-1");
        assert_eq!(openai[0]["created"], 7);
        assert_eq!(openai.last().unwrap()["usage"]["total_tokens"], 7);
    }
}
