//! A streamed answer put back together as one completion, so that a stream that completed can
//! be stored and later replayed to streamed and non-streamed requests alike.
//!
//! The relay feeds it every chunk it forwards; its memory is bounded by the relay's own cap
//! (`server.upstream_response_limit_bytes`). Chunks carrying `logprobs` make the stream
//! unstorable: per-token log probabilities have no faithful merged form here.

use std::collections::BTreeMap;

use crate::openai::tool_calls::{GatheredCall, ToolCallAccumulator};
use crate::openai::wire::{
    ChatCompletionChunk, ChatCompletionResponse, Choice, FinishReason, ResponseMessage, Role,
    ToolCall, Usage,
};

/// Collects a stream's chunks.
#[derive(Debug, Default)]
pub struct Assembler {
    head: Option<Head>,
    choices: BTreeMap<u32, Partial>,
    usage: Option<Usage>,
    unstorable: bool,
}

#[derive(Debug)]
struct Head {
    id: String,
    created: u64,
    model: String,
    system_fingerprint: Option<String>,
}

#[derive(Debug, Default)]
struct Partial {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    calls: ToolCallAccumulator,
    finish_reason: Option<FinishReason>,
    stop_sequence: Option<String>,
}

fn append(slot: &mut Option<String>, text: &str) {
    slot.get_or_insert_with(String::new).push_str(text);
}

impl Assembler {
    /// Adds one chunk.
    pub fn observe(&mut self, chunk: &ChatCompletionChunk) {
        if self.head.is_none() {
            self.head = Some(Head {
                id: chunk.id.clone(),
                created: chunk.created,
                model: chunk.model.clone(),
                system_fingerprint: chunk.system_fingerprint.clone(),
            });
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for c in &chunk.choices {
            if c.logprobs.as_ref().is_some_and(|l| !l.is_null()) {
                self.unstorable = true;
            }
            let partial = self.choices.entry(c.index).or_default();
            if let Some(t) = &c.delta.content {
                append(&mut partial.content, t);
            }
            if let Some(t) = &c.delta.refusal {
                append(&mut partial.refusal, t);
            }
            if let Some(t) = &c.delta.reasoning_content {
                append(&mut partial.reasoning_content, t);
            }
            for d in c.delta.tool_calls.iter().flatten() {
                partial.calls.feed(d);
            }
            if c.finish_reason.is_some() {
                partial.finish_reason.clone_from(&c.finish_reason);
                partial.stop_sequence.clone_from(&c.stop_sequence);
            }
        }
    }

    /// The answer `chunks` make ([`Self::finish`] with `tokens`), for tests that compare a
    /// stream with its stored form.
    #[cfg(test)]
    pub(crate) fn of_chunks(
        chunks: &[ChatCompletionChunk],
        tokens: (u32, u32),
    ) -> Option<ChatCompletionResponse> {
        let mut a = Assembler::default();
        for c in chunks {
            a.observe(c);
        }
        a.finish(tokens)
    }

    /// The whole answer, or `None` when it must not be stored: no chunk, no choice, a choice
    /// that never said why it stopped (a cut stream), or log probabilities. `tokens` fill the
    /// usage when the stream reported none.
    pub fn finish(self, tokens: (u32, u32)) -> Option<ChatCompletionResponse> {
        let head = self.head?;
        if self.unstorable
            || self.choices.is_empty()
            || self.choices.values().any(|c| c.finish_reason.is_none())
        {
            return None;
        }
        let choices = self
            .choices
            .into_iter()
            .map(|(index, p)| {
                let tool_calls: Vec<ToolCall> = p
                    .calls
                    .into_calls()
                    .map(GatheredCall::into_tool_call)
                    .collect();
                Choice {
                    index,
                    message: ResponseMessage {
                        role: Role::Assistant,
                        content: p.content,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        refusal: p.refusal,
                        reasoning_content: p.reasoning_content,
                    },
                    finish_reason: p.finish_reason,
                    stop_sequence: p.stop_sequence,
                    logprobs: None,
                }
            })
            .collect();
        Some(ChatCompletionResponse {
            id: head.id,
            object: "chat.completion".to_owned(),
            created: head.created,
            model: head.model,
            choices,
            usage: Some(self.usage.unwrap_or_else(|| Usage::new(tokens.0, tokens.1))),
            system_fingerprint: head.system_fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn chunk(json: serde_json::Value) -> ChatCompletionChunk {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn fragments_join_and_a_cut_stream_is_not_stored() {
        let mut a = Assembler::default();
        a.observe(&chunk(
            serde_json::json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
        ));
        a.observe(&chunk(serde_json::json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "lo", "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}}]})));
        a.observe(&chunk(
            serde_json::json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": ":1}"}}]}}]}),
        ));
        let mut cut = Assembler::default();
        cut.observe(&chunk(serde_json::json!({"id": "c", "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hel"}}]})));
        assert!(cut.finish((1, 1)).is_none(), "no finish reason: not stored");
        a.observe(&chunk(
            serde_json::json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ));
        let done = a.finish((5, 6)).unwrap();
        let message = &done.choices[0].message;
        assert_eq!(message.content.as_deref(), Some("Hello"));
        let call = &message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.id.as_str(), call.function.arguments.as_str()),
            ("call_1", "{\"a\":1}")
        );
        assert_eq!(done.usage, Some(Usage::new(5, 6)));
    }

    /// Fragments of interleaved calls gather by index, and a later fragment's `"id": ""`
    /// (DashScope's continuation) keeps the call's id: before, the stored call had id `""`.
    #[test]
    fn interleaved_calls_keep_their_ids_through_empty_continuation_ids() {
        let mut a = Assembler::default();
        for calls in [
            serde_json::json!([{"index": 1, "id": "call_B", "type": "function",
                                "function": {"name": "fb", "arguments": ""}}]),
            serde_json::json!([{"index": 0, "id": "call_A", "type": "function",
                                "function": {"name": "fa", "arguments": "{\"a\""}}]),
            serde_json::json!([{"index": 1, "id": "", "type": "",
                                "function": {"arguments": "{}"}}]),
            serde_json::json!([{"index": 0, "id": "", "function": {"arguments": ":1}"}}]),
        ] {
            a.observe(&chunk(serde_json::json!({"id": "c", "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": calls}}]})));
        }
        a.observe(&chunk(serde_json::json!({"id": "c", "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})));
        let done = a.finish((1, 1)).unwrap();
        let calls = done.choices[0].message.tool_calls.clone().unwrap();
        let got: Vec<(&str, &str, &str, &str)> = calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.kind.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("call_A", "function", "fa", "{\"a\":1}"),
                ("call_B", "function", "fb", "{}")
            ]
        );
    }

    #[test]
    fn logprobs_or_nothing_make_a_stream_unstorable() {
        assert!(Assembler::default().finish((0, 0)).is_none());
        let mut a = Assembler::default();
        a.observe(&chunk(serde_json::json!({"id": "c", "model": "m",
            "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop",
                         "logprobs": {"content": []}}]})));
        assert!(a.finish((1, 1)).is_none());
    }
}
