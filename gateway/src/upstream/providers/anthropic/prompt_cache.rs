//! Prompt-cache breakpoints on requests to Claude (`[[providers]] prompt_cache`, on by default
//! for Anthropic providers).
//!
//! Anthropic caches a prompt's prefix only up to a block marked `cache_control` (up to four
//! marks a request); OpenAI and Gemini cache prefixes without being asked. Clients of this
//! gateway speak Chat Completions or go through its `/v1/messages` ingress, whose internal form
//! carries no marks, so without this every Claude request was billed at the full input price,
//! however much of it the last one had already sent (an agent loop resends its whole
//! conversation on every turn; Anthropic reads a cached prefix at a tenth of the input price
//! and writes one at 1.25×).
//!
//! Where the marks go, on the JSON sent:
//! - the shared prefix: the last tool definition (tools come first in Anthropic's prefix
//!   order) and the system prompt, the same for every request of an application;
//! - in a conversation of several messages, the last cacheable block of the last message (the
//!   next turn reads everything up to it) and of the message two before it (the previous turn
//!   of the same role: its mark is what this turn reads, which keeps a read within Anthropic's
//!   20-block look-back when one turn adds many blocks).
//!
//! A single-message request gets only the shared prefix's mark: its own content is not likely
//! to be sent again, and a write costs 1.25× for nothing. A prefix shorter than the model's
//! minimum (1,024 tokens and up) is not cached and costs nothing extra. Thinking blocks and
//! empty text blocks cannot carry a mark (Anthropic answers 400), so the mark goes on the last
//! block of the message that can.

use serde_json::{json, Map, Value};

/// Blocks Anthropic lets carry `cache_control` (not `thinking` / `redacted_thinking`).
const CACHEABLE: [&str; 5] = ["text", "image", "tool_use", "tool_result", "document"];

/// Marks `body` (a serialised `MessagesRequest`) as described above. A body already holding a
/// mark, or not shaped like a Messages request, is left as it is.
pub(super) fn mark(body: &mut Value) {
    let Some(request) = body.as_object_mut() else {
        return;
    };
    if has_mark(request) {
        return;
    }
    mark_prefix(request);
    let Some(messages) = request.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    let n = messages.len();
    if n < 2 {
        return;
    }
    for index in [Some(n - 1), n.checked_sub(3)].into_iter().flatten() {
        if let Some(message) = messages.get_mut(index) {
            mark_last_block(message);
        }
    }
}

/// The `cache_control` value: the default 5-minute cache.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// Whether a system block, a tool definition or a message block already carries a mark. Only
/// where Anthropic reads one: a `cache_control` key inside a tool's schema or a call's
/// arguments is the client's data, not a mark.
fn has_mark(request: &Map<String, Value>) -> bool {
    let marked = |blocks: Option<&Value>| {
        blocks
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(|b| b.get("cache_control").is_some()))
    };
    marked(request.get("system"))
        || marked(request.get("tools"))
        || request
            .get("messages")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|m| marked(m.get("content"))))
}

/// The last tool definition and the system prompt (as one text block) marked: both, since a
/// system prompt that varies per request (a date, a user's name) would otherwise leave a large
/// fixed tool list uncached.
fn mark_prefix(request: &mut Map<String, Value>) {
    let last_tool = request
        .get_mut("tools")
        .and_then(Value::as_array_mut)
        .and_then(|tools| tools.last_mut())
        .and_then(Value::as_object_mut);
    if let Some(tool) = last_tool {
        tool.insert("cache_control".to_owned(), ephemeral());
    }
    if let Some(Value::String(text)) = request.get("system") {
        if !text.is_empty() {
            let block = json!([{"type": "text", "text": text, "cache_control": ephemeral()}]);
            request.insert("system".to_owned(), block);
        }
    }
}

/// Marks the last block of `message` that can carry a mark; a string content becomes one
/// text block first.
fn mark_last_block(message: &mut Value) {
    let Some(content) = message.get_mut("content") else {
        return;
    };
    if let Value::String(text) = content {
        if text.is_empty() {
            return;
        }
        *content = json!([{"type": "text", "text": text}]);
    }
    let Some(blocks) = content.as_array_mut() else {
        return;
    };
    let target = blocks.iter_mut().rev().find(|b| {
        let kind = b["type"].as_str().unwrap_or_default();
        CACHEABLE.contains(&kind)
            && !(kind == "text" && b["text"].as_str().is_none_or(str::is_empty))
    });
    if let Some(block) = target.and_then(Value::as_object_mut) {
        block.insert("cache_control".to_owned(), ephemeral());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use testkit::cache_mark_paths as marks;

    #[test]
    fn one_question_marks_only_the_shared_prefix() {
        let mut body = json!({"model": "claude", "max_tokens": 10, "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
        mark(&mut body);
        assert_eq!(marks(&body), [".system[0]"]);
        assert_eq!(body["system"][0]["text"], "Be brief.");

        let mut tools_only = json!({"model": "claude", "max_tokens": 10,
            "tools": [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}}],
            "messages": [{"role": "user", "content": "hi"}]});
        mark(&mut tools_only);
        assert_eq!(marks(&tools_only), [".tools[1]"]);
    }

    #[test]
    fn a_conversation_marks_its_last_turn_and_the_one_before_past_thinking() {
        let mut body = json!({"model": "claude", "max_tokens": 10, "system": "S",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                {"type": "text", "text": ""}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "ok"},
                {"type": "thinking", "thinking": "", "signature": "sig"}]}
        ]});
        mark(&mut body);
        assert_eq!(
            marks(&body),
            [
                ".messages[1].content[1]",
                ".messages[3].content[0]",
                ".system[0]"
            ]
        );
        // The empty text block and the thinking blocks stay unmarked.
        assert!(body["messages"][2]["content"][1]
            .get("cache_control")
            .is_none());
    }

    #[test]
    fn a_string_turn_becomes_a_marked_block_and_marks_never_exceed_four() {
        let mut body = json!({"model": "claude", "max_tokens": 10,
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                         {"role": "user", "content": "c"}]});
        mark(&mut body);
        assert_eq!(
            marks(&body),
            [".messages[0].content[0]", ".messages[2].content[0]"]
        );
        assert_eq!(body["messages"][2]["content"][0]["text"], "c");
    }

    #[test]
    fn a_body_with_a_mark_or_of_another_shape_is_left_alone() {
        let marked = json!({"model": "claude", "max_tokens": 10, "system": "S",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "assistant", "content": "y"}]});
        let mut body = marked.clone();
        mark(&mut body);
        assert_eq!(body, marked);
        for mut odd in [json!("text"), json!({"messages": "x"}), json!({})] {
            let before = odd.clone();
            mark(&mut odd);
            assert_eq!(odd, before);
        }
    }

    #[test]
    fn tools_and_system_both_marked_and_a_schema_key_is_no_mark() {
        let mut body = json!({"model": "claude", "max_tokens": 10, "system": "S",
            "tools": [{"name": "a", "input_schema": {"type": "object",
                "properties": {"cache_control": {"type": "string"}}}}],
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "a", "input": {"cache_control": "x"}}]},
                {"role": "user", "content": "c"}]});
        mark(&mut body);
        assert_eq!(
            marks(&body),
            [
                ".messages[0].content[0]",
                ".messages[2].content[0]",
                ".system[0]",
                ".tools[0]"
            ]
        );
    }
}
