//! Claude's thinking blocks across a tool-use loop.
//!
//! With thinking on (Claude 5.x thinks by default; Opus 5.5 always), an answer that calls tools
//! starts with thinking blocks, and the next request must give them back unchanged, signature
//! included, in the assistant turn that holds those calls: Anthropic answers 400 ("expected
//! `thinking` or `redacted_thinking`") or reasons without its earlier thinking otherwise.
//! OpenAI's wire has no place for them, so an OpenAI client (and the Messages ingress, whose
//! internal form is chat) drops them. The adapter keeps them under the calls' ids and the model
//! that made them (Claude 5.5 refuses another model's thinking) and puts them back.

use super::wire::ContentBlock;
use crate::openai::wire::ChatMessage;
use crate::upstream::providers::call_memo::CallMemo;

/// Keeps `blocks` (thinking and redacted thinking) under each of `call_ids`, which
/// `upstream_model` made in the same answer.
pub(super) fn remember(
    memo: &CallMemo,
    upstream_model: &str,
    blocks: &[ContentBlock],
    call_ids: &[String],
) {
    if blocks.is_empty() || call_ids.is_empty() {
        return;
    }
    let Ok(json) = serde_json::to_string(blocks) else {
        return;
    };
    for id in call_ids {
        memo.remember(id, upstream_model, &json);
    }
}

/// The thinking blocks `upstream_model` gave before the tool calls of `message`, if this
/// process kept them; none for calls another model (or another replica) made.
pub(super) fn recall(
    memo: &CallMemo,
    upstream_model: &str,
    message: &ChatMessage,
) -> Vec<ContentBlock> {
    message
        .tool_calls
        .iter()
        .flatten()
        .find_map(|c| memo.recall(&c.id, upstream_model))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Puts an assistant turn's thinking blocks first, once each: merging consecutive assistant
/// messages (Anthropic wants alternating roles) could leave a recalled block after text, or
/// twice where a client split one answer's calls over two messages; Anthropic refuses both.
pub(super) fn lead(blocks: &mut Vec<ContentBlock>) {
    let is_thinking = |b: &ContentBlock| {
        matches!(
            b,
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. }
        )
    };
    if !blocks.iter().any(is_thinking) {
        return;
    }
    let (mut thought, rest): (Vec<ContentBlock>, Vec<ContentBlock>) =
        std::mem::take(blocks).into_iter().partition(is_thinking);
    let mut seen = Vec::with_capacity(thought.len());
    thought.retain(|b| {
        let fresh = !seen.contains(b);
        if fresh {
            seen.push(b.clone());
        }
        fresh
    });
    thought.extend(rest);
    *blocks = thought;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_leads_its_turn_once() {
        let think = ContentBlock::Thinking {
            thinking: String::new(),
            signature: "s".into(),
        };
        let text = ContentBlock::Text { text: "hi".into() };
        let mut turn = vec![text.clone(), think.clone(), think.clone()];
        lead(&mut turn);
        assert_eq!(turn, vec![think, text]);
    }
}
