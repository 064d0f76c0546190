//! Agent loops across replicas (`[redis]`).
//!
//! A load balancer spreads an agent's turns over the gateway's replicas, and a restart
//! empties a replica's memory. The turn that answers a tool call then reaches a replica that
//! did not relay the call: without what the relaying replica kept, it would route the loop
//! afresh (`tool_loops`) and send Claude 5.x the call without its thinking, which Anthropic
//! refuses with a 400 (likewise Gemini 3 without its thought signatures). So every replica
//! writes what it keeps about a call to the call's shared record (`call:{id}` in Redis), and a
//! replica missing a call the request answers reads those records first: one round trip, only
//! for calls it does not know, bounded by `[redis] timeout` (a miss costs what it cost before).

use router_core::ModelId;

use crate::openai::wire::ChatMessage;
use crate::routing::tool_loops::{answered_calls, owner_field};
use crate::state::AppState;
use crate::upstream::providers::call_memo::shareable;

/// Fetches what this replica lacks about the tool calls `messages` ends by answering, for
/// `client_key`: their owner (tool-loop affinity) and the payloads their model attached.
pub async fn warm(state: &AppState, client_key: Option<&str>, messages: &[ChatMessage]) {
    let Some(shared) = state.auth.shared() else {
        return;
    };
    let Some(calls) = answered_calls(messages) else {
        return;
    };
    let memos = &state.upstreams.memos;
    let missing: Vec<&str> = calls
        .tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.as_str())
        .filter(|id| shareable(id))
        // A call this replica relayed is known (its owner, and its payloads if any).
        .filter(|id| !(state.tool_loops.knows(client_key, id) || memos.knows(id)))
        .collect();
    if missing.is_empty() {
        return;
    }
    let owner = owner_field(client_key);
    let records = shared.call_records(&missing).await;
    for (id, record) in missing.iter().zip(records) {
        for (field, value) in record {
            if field == owner {
                state.tool_loops.adopt(client_key, id, ModelId::new(value));
            } else {
                memos.adopt(id, &field, &value);
            }
        }
    }
}
