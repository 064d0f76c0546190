//! Answer content as a list of typed parts, the form Mistral's reasoning models answer in.
//!
//! Chat Completions gives an answer's `content` as a string. Mistral's models that reason
//! (Magistral always; Small 4 and Medium 3.5 with `reasoning_effort: "high"`) send a list
//! instead, in whole answers and stream deltas alike (docs.mistral.ai, "Reasoning"):
//! `[{"type": "thinking", "thinking": [{"type": "text", "text": …}]}, {"type": "text",
//! "text": …}]`. Read as a string, every such answer failed to parse and failed over. It is
//! read as Chat Completions' own fields instead: the text parts are the answer's `content`,
//! the thinking parts its `reasoning_content`, so every client sees Mistral's thinking as it
//! sees DeepSeek's (Chat Completions' `reasoning_content`, `/v1/messages`' thinking blocks).

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// An answer's `content` as an upstream sent it. Deserialized by hand rather than as an
/// untagged enum, which would buffer every content string of every stream chunk once more
/// before trying each form.
#[derive(Debug)]
pub(crate) enum AnswerContent {
    /// Chat Completions' own form.
    Text(String),
    /// Typed parts. Kept as JSON values so that a part of a type the gateway does not know
    /// (Mistral's `reference` chunks, say) is skipped rather than failing the whole answer.
    Parts(Vec<Value>),
}

impl<'de> Deserialize<'de> for AnswerContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> Visitor<'de> for Form {
            type Value = AnswerContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E>(self, v: &str) -> Result<AnswerContent, E> {
                Ok(AnswerContent::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<AnswerContent, E> {
                Ok(AnswerContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnswerContent, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element::<Value>()? {
                    parts.push(part);
                }
                Ok(AnswerContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(Form)
    }
}

/// The answer text and the thinking text of one `content`, each `None` where it has none.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Split {
    pub text: Option<String>,
    pub thinking: Option<String>,
}

impl AnswerContent {
    /// Splits the content into answer and thinking: the `text` parts, in order and joined
    /// as they came (they are pieces of one text), and likewise the `thinking` parts' text.
    /// A thinking part's `thinking` is a list of text parts (Mistral's form) or a string.
    pub(crate) fn split(self) -> Split {
        let parts = match self {
            AnswerContent::Text(text) => {
                return Split {
                    text: Some(text),
                    thinking: None,
                }
            }
            AnswerContent::Parts(parts) => parts,
        };
        let mut split = Split::default();
        for part in &parts {
            match part.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                    split.text.get_or_insert_with(String::new).push_str(text);
                }
                Some("thinking") => {
                    let thinking = split.thinking.get_or_insert_with(String::new);
                    match part.get("thinking") {
                        Some(Value::String(text)) => thinking.push_str(text),
                        Some(Value::Array(inner)) => {
                            for text in inner
                                .iter()
                                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                                .filter_map(|p| p.get("text").and_then(Value::as_str))
                            {
                                thinking.push_str(text);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        split
    }
}

/// A message's or delta's answer text and reasoning from its `content` and its
/// `reasoning_content` field as an upstream sent them.
pub(crate) fn read(
    content: Option<AnswerContent>,
    reasoning_field: Option<String>,
) -> (Option<String>, Option<String>) {
    let split = content.map(AnswerContent::split).unwrap_or_default();
    (split.text, join_reasoning(reasoning_field, split.thinking))
}

/// `reasoning_content` as sent beside `content`, joined with the thinking parts of `content`
/// (an upstream sends one or the other; with both, the field's text comes first).
fn join_reasoning(field: Option<String>, parts: Option<String>) -> Option<String> {
    match (field, parts) {
        (Some(mut field), Some(parts)) => {
            field.push_str(&parts);
            Some(field)
        }
        (field, parts) => field.or(parts),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn split(content: Value) -> Split {
        serde_json::from_value::<AnswerContent>(content)
            .unwrap()
            .split()
    }

    #[test]
    fn a_string_is_the_answer_text() {
        assert_eq!(
            split(json!("Paris.")),
            Split {
                text: Some("Paris.".into()),
                thinking: None
            }
        );
    }

    /// Mistral's form: thinking parts hold a list of text parts; text parts are the answer.
    #[test]
    fn mistral_parts_split_into_answer_and_thinking() {
        let content = json!([
            {"type": "thinking", "thinking": [{"type": "text", "text": "Capital of "},
                                              {"type": "text", "text": "France?"}]},
            {"type": "text", "text": "Par"},
            {"type": "text", "text": "is."}
        ]);
        assert_eq!(
            split(content),
            Split {
                text: Some("Paris.".into()),
                thinking: Some("Capital of France?".into())
            }
        );
    }

    /// A stream delta of thinking alone has no answer text; a thinking string is read too;
    /// parts of unknown types, and malformed ones, are skipped.
    #[test]
    fn thinking_alone_and_unknown_parts() {
        assert_eq!(
            split(json!([{"type": "thinking", "thinking": [{"type": "text", "text": "Hm"}]}])),
            Split {
                text: None,
                thinking: Some("Hm".into())
            }
        );
        assert_eq!(
            split(
                json!([{"type": "thinking", "thinking": "plain"}, {"type": "reference",
                          "reference_ids": [1]}, {"no": "type"}, 7, {"type": "text"}])
            ),
            Split {
                text: Some(String::new()),
                thinking: Some("plain".into())
            }
        );
        assert_eq!(split(json!([])), Split::default());
    }

    /// A whole answer and a stream chunk in Mistral's form read as Chat Completions' fields;
    /// the gateway writes them out in that form.
    #[test]
    fn mistral_answers_and_chunks_read_as_chat_completions() {
        use crate::openai::wire::{ChatCompletionChunk, ChatCompletionResponse};
        let answer: ChatCompletionResponse = serde_json::from_value(json!({
            "id": "x", "model": "mistral-small-2603", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "2+2"}]},
                            {"type": "text", "text": "4"}]}}]}))
        .unwrap();
        let message = &answer.choices[0].message;
        assert_eq!(message.content.as_deref(), Some("4"));
        assert_eq!(message.reasoning_content.as_deref(), Some("2+2"));
        let out = serde_json::to_value(&answer).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "4");
        assert_eq!(out["choices"][0]["message"]["reasoning_content"], "2+2");

        let chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "x", "model": "m", "choices": [{"index": 0, "delta": {"content":
                [{"type": "thinking", "thinking": [{"type": "text", "text": "Okay"}]}]}}]}))
        .unwrap();
        let delta = &chunk.choices[0].delta;
        assert_eq!(delta.content, None);
        assert_eq!(delta.reasoning_content.as_deref(), Some("Okay"));
        let plain: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "x", "model": "m", "choices": [{"index": 0, "delta": {"content": "4",
                "reasoning_content": null}}]}))
        .unwrap();
        assert_eq!(plain.choices[0].delta.content.as_deref(), Some("4"));
        // Content that is neither a string nor a list is still an error, as before.
        assert!(serde_json::from_value::<ChatCompletionChunk>(json!({
            "id": "x", "model": "m", "choices": [{"index": 0, "delta": {"content": 7}}]}))
        .is_err());
    }

    #[test]
    fn reasoning_field_and_parts_join() {
        assert_eq!(
            join_reasoning(Some("a".into()), Some("b".into())).as_deref(),
            Some("ab")
        );
        assert_eq!(join_reasoning(None, Some("b".into())).as_deref(), Some("b"));
        assert_eq!(join_reasoning(Some("a".into()), None).as_deref(), Some("a"));
        assert_eq!(join_reasoning(None, None), None);
    }
}
