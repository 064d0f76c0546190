//! Token estimates for when a provider reports none: prompt size for routing and cost, and
//! streamed output when no usage chunk arrives.
//!
//! About four characters per token holds for English with BPE tokenizers; the estimate only
//! needs to be the right order of magnitude for cost accounting and context checks.

use crate::openai::wire::ChatCompletionRequest;

/// Characters per token assumed.
const CHARS_PER_TOKEN: usize = 4;
/// Per-message overhead of the chat template (role markers, separators).
const TOKENS_PER_MESSAGE: u32 = 4;
/// Tokens charged for one image part: a mid-size tile, since the true count depends on the
/// vendor and the resolution.
const TOKENS_PER_IMAGE: u32 = 765;

/// Estimated tokens of `text`.
pub fn estimate(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(CHARS_PER_TOKEN)).unwrap_or(u32::MAX)
}

/// Estimated prompt tokens of a chat request: message texts, tool definitions and images.
pub fn estimate_prompt(req: &ChatCompletionRequest) -> u32 {
    let mut total: u32 = 0;
    for m in &req.messages {
        total = total
            .saturating_add(TOKENS_PER_MESSAGE)
            .saturating_add(estimate(&m.text_content()));
        if m.has_image() {
            total = total.saturating_add(TOKENS_PER_IMAGE);
        }
        if let Some(calls) = &m.tool_calls {
            for c in calls {
                total = total
                    .saturating_add(estimate(&c.function.name))
                    .saturating_add(estimate(&c.function.arguments));
            }
        }
    }
    if let Some(tools) = &req.tools {
        let json = serde_json::to_string(tools).unwrap_or_default();
        total = total.saturating_add(estimate(&json));
    }
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::openai::wire::{ChatMessage, Role};

    #[test]
    fn estimates() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("abcde"), 2);
        let req = ChatCompletionRequest {
            messages: vec![ChatMessage::text(Role::User, "abcdefgh")],
            ..Default::default()
        };
        assert_eq!(estimate_prompt(&req), 6);
    }
}
