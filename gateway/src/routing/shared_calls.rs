//! Agent loops across replicas (`[redis]`).
//!
//! A load balancer spreads an agent's turns over the gateway's replicas, and a restart
//! empties a replica's memory. The turn that answers a tool call then reaches a replica that
//! did not relay the call: without what the relaying replica kept, it would route the loop
//! afresh (`tool_loops`) and send Claude 5.x the call without its thinking, which Anthropic
//! refuses with a 400 (likewise Gemini 3 without its thought signatures). So a replica that
//! relays an answer holding tool calls writes, before the answer's end reaches the client, each
//! call's shared record (`call:{id}` in Redis, one command for all the answer's calls): its
//! owner and the payloads its model attached, each entry named for the client key
//! (`owner:{key id}`, `thinking:{key id}`…), so that no tenant reads another's. A replica
//! missing a call the request answers reads those records first: one round trip, only for
//! answered calls it does not know, at most [`MAX_CALLS`], bounded by `[redis] timeout`
//! (a miss costs what it cost before).

use std::collections::HashSet;

use router_core::ModelId;

use crate::openai::wire::{ChatMessage, Role};
use crate::routing::tool_loops::answered_calls;
use crate::state::AppState;
use crate::upstream::providers::call_memo::{shareable, THINKING, TIME_TO_LIVE};

/// Most calls of one answer written, or of one request read: agents call a handful of tools
/// per turn; a body listing thousands of ids must not become thousands of Redis commands.
pub const MAX_CALLS: usize = 64;

/// The owner's entry name in a call's record.
const OWNER: &str = "owner";

/// `name`'s entry for `client_key` (no key: the empty one).
fn entry(name: &str, client_key: Option<&str>) -> String {
    format!("{name}:{}", client_key.unwrap_or_default())
}

/// Keeps that `model` made the calls `ids` of an answer relayed for `client_key`: in this
/// replica's tool loops, and in the calls' shared records. Awaited by the handler before the
/// answer's end goes out, so the client's next turn finds the records on any replica.
pub async fn relayed<'a>(
    state: &AppState,
    client_key: Option<&str>,
    ids: impl IntoIterator<Item = &'a str> + Clone,
    model: &ModelId,
) {
    state.tool_loops.record(client_key, ids.clone(), model);
    publish(state, client_key, ids, model).await;
}

/// Writes the shared records of the calls `ids` that `model` made for `client_key`: the owner
/// and what the memos hold for each (thinking text only with `[redis] share_thinking`).
async fn publish<'a>(
    state: &AppState,
    client_key: Option<&str>,
    ids: impl IntoIterator<Item = &'a str>,
    model: &ModelId,
) {
    let Some(shared) = state.auth.shared() else {
        return;
    };
    let mut seen = HashSet::new();
    // An answer's payload is kept under each of its calls; the next turn needs it under one
    // (the adapters look it up by any call of the turn), so it is written once.
    let mut written = HashSet::new();
    let records: Vec<(&str, Vec<(String, String)>)> = ids
        .into_iter()
        .filter(|id| shareable(id) && seen.insert(*id))
        .take(MAX_CALLS)
        .map(|id| {
            let mut fields = vec![(entry(OWNER, client_key), model.as_str().to_owned())];
            for (name, value) in state.upstreams.memos.entries(client_key, id) {
                let allowed = name != THINKING || shared.shares_thinking();
                if allowed && written.insert((name, value.clone())) {
                    fields.push((entry(name, client_key), value));
                }
            }
            (id, fields)
        })
        .collect();
    if !records.is_empty() {
        shared.put_call_records(&records, TIME_TO_LIVE).await;
    }
}

/// Reads what this replica lacks about the tool calls `messages` ends by answering, for
/// `client_key`: their owner (tool-loop affinity) and the payloads their model attached.
pub async fn warm(state: &AppState, client_key: Option<&str>, messages: &[ChatMessage]) {
    let Some(shared) = state.auth.shared() else {
        return;
    };
    let Some(calls) = answered_calls(messages) else {
        return;
    };
    let answered: HashSet<&str> = messages
        .iter()
        .rev()
        .take_while(|m| m.role == Role::Tool)
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    let memos = &state.upstreams.memos;
    let mut seen = HashSet::new();
    let missing: Vec<&str> = calls
        .tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.as_str())
        .filter(|id| answered.contains(id) && shareable(id) && seen.insert(*id))
        // A call this replica relayed (or read before) is known, its payloads with it: a
        // record is written whole, in one command.
        .filter(|id| !(state.tool_loops.knows(client_key, id) || memos.knows(client_key, id)))
        .take(MAX_CALLS)
        .collect();
    if missing.is_empty() {
        return;
    }
    let records = shared.call_records(&missing).await;
    let own = client_key.unwrap_or_default();
    for (id, record) in missing.iter().zip(records) {
        for (field, value) in record {
            let Some((name, key)) = field.split_once(':') else {
                continue;
            };
            if key != own {
                continue;
            }
            if name == OWNER {
                state
                    .tool_loops
                    .record(client_key, [*id], &ModelId::new(value));
            } else {
                memos.adopt(client_key, id, name, &value);
            }
        }
    }
}
