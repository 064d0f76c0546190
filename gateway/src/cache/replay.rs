//! A stored answer replayed as stream chunks, for a streamed request that hits the cache.
//!
//! Per choice: one chunk with the role and the whole text (and refusal), one with every tool
//! call complete, one with the finish reason; then a usage chunk with no choices, as OpenAI
//! sends it after `stream_options.include_usage` (the relay's encoder drops it when the client
//! did not ask). Whole texts in one chunk are valid SSE and keep a replay cheap; the chunks go
//! through the same encoders as a live stream, so `/v1/messages` gets Anthropic's events.

use crate::openai::wire::{
    ChatCompletionChunk, ChatCompletionResponse, ChunkChoice, Delta, FunctionCallDelta, Role,
    ToolCallDelta, Usage,
};

/// The chunks of `completion`; `tokens` (input, output) fill the usage chunk when the stored
/// answer has no usage of its own.
pub fn chunks(completion: &ChatCompletionResponse, tokens: (u32, u32)) -> Vec<ChatCompletionChunk> {
    let chunk = |choices: Vec<ChunkChoice>, usage: Option<Usage>| ChatCompletionChunk {
        id: completion.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: completion.created,
        model: completion.model.clone(),
        choices,
        usage,
        system_fingerprint: completion.system_fingerprint.clone(),
    };
    let mut out = Vec::with_capacity(completion.choices.len() * 3 + 1);
    for choice in &completion.choices {
        let message = &choice.message;
        out.push(chunk(
            vec![ChunkChoice {
                index: choice.index,
                delta: Delta {
                    role: Some(Role::Assistant),
                    content: message.content.clone(),
                    tool_calls: None,
                    refusal: message.refusal.clone(),
                    reasoning_content: message.reasoning_content.clone(),
                },
                finish_reason: None,
                logprobs: choice.logprobs.clone(),
                stop_sequence: None,
            }],
            None,
        ));
        if let Some(calls) = message.tool_calls.as_ref().filter(|c| !c.is_empty()) {
            let deltas = calls
                .iter()
                .enumerate()
                .map(|(i, call)| ToolCallDelta {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    id: Some(call.id.clone()),
                    kind: Some(call.kind.clone()),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name.clone()),
                        arguments: Some(call.function.arguments.clone()),
                    }),
                })
                .collect();
            out.push(chunk(
                vec![ChunkChoice {
                    index: choice.index,
                    delta: Delta {
                        tool_calls: Some(deltas),
                        ..Delta::default()
                    },
                    ..ChunkChoice::default()
                }],
                None,
            ));
        }
        out.push(chunk(
            vec![ChunkChoice {
                index: choice.index,
                delta: Delta::default(),
                finish_reason: choice.finish_reason.clone(),
                logprobs: None,
                stop_sequence: choice.stop_sequence.clone(),
            }],
            None,
        ));
    }
    let usage = completion
        .usage
        .clone()
        .unwrap_or_else(|| Usage::new(tokens.0, tokens.1));
    out.push(chunk(Vec::new(), Some(usage)));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cache::assemble::Assembler;

    #[test]
    fn replayed_chunks_assemble_back_into_the_answer() {
        let completion: ChatCompletionResponse = serde_json::from_value(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "calling",
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .unwrap();
        let chunks = chunks(&completion, (0, 0));
        assert!(chunks.last().unwrap().choices.is_empty());
        let mut assembler = Assembler::default();
        for c in &chunks {
            assembler.observe(c);
        }
        assert_eq!(assembler.finish((3, 4)), Some(completion));
    }
}
