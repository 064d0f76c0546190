//! Tool loops stay on the model that made their calls (`[router] tool_loop_affinity`).
//!
//! An agent sends a tool's result back in a new request. With `auto`, routing that request
//! afresh would hand the loop to another model half way: one that never saw the reasoning
//! behind the calls (Claude's thinking blocks, OpenAI's reasoning items and Gemini's thought
//! signatures go back only to the model that made them), starts without the provider's prompt
//! cache of the conversation (cached input is billed at a tenth on most providers), and, on
//! Claude 5.5, may be refused a turn whose calls another model made. So the gateway remembers
//! which model made each tool call it relayed, and an `auto` request whose conversation ends
//! in results of such calls goes to that model (`reason: tool_loop`), if the request still
//! allows it. A new user turn is routed afresh. With `[redis]` each owner is also written to
//! the call's shared record, so that a loop whose turns a load balancer spreads over replicas
//! stays on its model too (`crate::routing::shared_calls`).

use router_core::ModelId;

use crate::openai::wire::{ChatMessage, Role};
use crate::upstream::providers::call_memo::{shareable, TIME_TO_LIVE};

/// At most this many tool calls are remembered (older ones go first).
const MAX_CALLS: u64 = 1_000_000;

/// Which model made each tool call the gateway relayed (or another replica did, read from
/// the call's shared record). With `[redis]` kept with `tool_loop_affinity` off too, where no
/// loop has an owner: it tells which calls this replica already knows (`shared_calls`).
#[derive(Clone)]
pub struct ToolLoops {
    /// `None` when neither affinity nor shared records need it.
    owners: Option<moka::sync::Cache<String, ModelId>>,
    /// `[router] tool_loop_affinity`.
    enabled: bool,
}

impl std::fmt::Debug for ToolLoops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolLoops")
            .field("calls", &self.owners.as_ref().map(|o| o.entry_count()))
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl ToolLoops {
    /// Loops with owners when `enabled` (`[router] tool_loop_affinity`); the calls are kept
    /// when enabled or `shared` (replicas share call records: `[redis]`), else nothing is.
    pub fn new(enabled: bool, shared: bool) -> Self {
        ToolLoops {
            owners: (enabled || shared).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(MAX_CALLS)
                    .time_to_live(TIME_TO_LIVE)
                    .build()
            }),
            enabled,
        }
    }
}

/// The map's key: the client key (tenants never steer one another's routing) and the call id.
/// Ids too short or too regular to be unique (`call_0`; Kimi's `functions.name:0`) are not
/// remembered: another conversation could repeat them.
fn slot(client_key: Option<&str>, call_id: &str) -> Option<String> {
    shareable(call_id).then(|| format!("{}\u{1f}{call_id}", client_key.unwrap_or_default()))
}

/// The assistant turn whose tool calls the conversation's last messages answer: `messages`
/// ends in tool results, and this is the message before them. `None` otherwise.
pub(crate) fn answered_calls(messages: &[ChatMessage]) -> Option<&ChatMessage> {
    let results = messages
        .iter()
        .rev()
        .take_while(|m| m.role == Role::Tool)
        .count();
    if results == 0 {
        return None;
    }
    messages.get(messages.len().checked_sub(results + 1)?)
}

impl ToolLoops {
    /// Remembers that `model` made the calls `ids`, for requests with `client_key`.
    pub fn record<'a>(
        &self,
        client_key: Option<&str>,
        ids: impl IntoIterator<Item = &'a str>,
        model: &ModelId,
    ) {
        let Some(owners) = &self.owners else {
            return;
        };
        for slot in ids.into_iter().filter_map(|id| slot(client_key, id)) {
            owners.insert(slot, model.clone());
        }
    }

    /// Whether this replica knows who made `call_id` for `client_key`.
    pub fn knows(&self, client_key: Option<&str>, call_id: &str) -> bool {
        let (Some(owners), Some(slot)) = (&self.owners, slot(client_key, call_id)) else {
            return false;
        };
        owners.contains_key(&slot)
    }

    /// The model whose calls `messages` ends by answering: the conversation's last messages
    /// are tool results, and the assistant turn before them holds a call this gateway
    /// relayed for the same client key. `None` for any other conversation.
    pub fn owner(&self, client_key: Option<&str>, messages: &[ChatMessage]) -> Option<ModelId> {
        let owners = self.owners.as_ref().filter(|_| self.enabled)?;
        answered_calls(messages)?
            .tool_calls
            .iter()
            .flatten()
            .find_map(|c| owners.get(&slot(client_key, &c.id)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::openai::wire::{FunctionCall, ToolCall};

    fn calls(id: &str) -> ChatMessage {
        let mut m = ChatMessage::new(Role::Assistant, None);
        m.tool_calls = Some(vec![ToolCall {
            id: id.to_owned(),
            kind: "function".to_owned(),
            function: FunctionCall {
                name: "f".to_owned(),
                arguments: "{}".to_owned(),
            },
        }]);
        m
    }

    fn result(id: &str) -> ChatMessage {
        let mut m = ChatMessage::text(Role::Tool, "done");
        m.tool_call_id = Some(id.to_owned());
        m
    }

    #[test]
    fn only_a_conversation_ending_in_results_of_known_calls_has_an_owner() {
        let loops = ToolLoops::new(true, false);
        let model = ModelId::new("claude-sonnet-5");
        let key = Some("key-a");
        loops.record(key, ["call_0001", "call_0", "functions.f:0"], &model);
        let user = ChatMessage::text(Role::User, "go");
        let convo = vec![user.clone(), calls("call_0001"), result("call_0001")];
        assert_eq!(loops.owner(key, &convo), Some(model));
        // Another client key's conversation with the same ids is not steered.
        assert_eq!(loops.owner(Some("key-b"), &convo), None);
        assert_eq!(loops.owner(None, &convo), None);
        // A new user turn after the results: routed afresh.
        let mut later = convo.clone();
        later.push(ChatMessage::text(Role::User, "and now?"));
        assert_eq!(loops.owner(key, &later), None);
        // Calls this gateway did not relay, and ids too regular to tell conversations apart.
        for id in ["call_xxxx", "call_0", "functions.f:0"] {
            assert_eq!(
                loops.owner(key, &[user.clone(), calls(id), result(id)]),
                None
            );
        }
        assert_eq!(loops.owner(key, &[result("call_0001")]), None);
        assert_eq!(loops.owner(key, &[user]), None);
        // Off: no loop has an owner.
        let off = ToolLoops::new(false, false);
        off.record(key, ["call_0001"], &ModelId::new("claude-sonnet-5"));
        assert_eq!(off.owner(key, &convo), None);
    }
}
