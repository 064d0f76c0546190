//! Masking streamed answers (`responses = true`): a value may arrive split across chunks, so
//! each text of a choice (its reasoning, content and refusal, each tool call's arguments) is
//! held back from the point where a value could still be in progress, and released, masked,
//! once nothing later can complete a value that reaches into it.
//!
//! What is held is the text's trailing run of characters that could belong to a value:
//!
//! - a run of characters an email or an API key can hold
//!   ([`detectors::in_long_value`]: letters, digits, `._%+-@/=`), at most [`HOLD_MAX`] bytes;
//! - a run of characters a phone, card or IBAN can hold ([`detectors::in_separated_value`]:
//!   digits, capitals, ` .-+()`), at most [`detectors::SEPARATED_MAX`] bytes, the longest such
//!   value;
//!
//! whichever starts earlier. In prose that is the last word; after a space, nothing.
//!
//! Why this is sound: a value that is not complete yet ends at the end of the text received so
//! far, and every character of it is one its kind can hold, so it lies within the trailing run
//! of its kind's characters, and (being at most as long as its kind allows) within the run's
//! held part; a value that is already detectable and straddles the release point moves the
//! point back to its start. So nothing released is ever part of a value later text completes,
//! and the released text is masked exactly as the whole text would be: the tests stream texts
//! at every chunk size from one byte and compare. Detection runs over the last [`CONTEXT`]
//! bytes already released plus the held text, so a value whose telltale prefix (`Bearer `,
//! `api_key: `) went out earlier is still found; only the value is masked (the prefix is not
//! the secret).
//!
//! The limit: a run of key or email characters longer than [`HOLD_MAX`] (no real key is; a
//! base64 blob can be) is released but for its last [`HOLD_MAX`] bytes, so one endless token
//! cannot stall a stream or grow the gateway's memory; a value longer than that is released in
//! part before it is recognisable.
//!
//! Fields of a choice are masked separately, like a non-streamed answer's, and arrive one after
//! another (text, then each tool call in turn, as OpenAI streams them), so when a fragment of
//! another field arrives the previous field is complete and all it held is released first.
//! Only the latest field of a choice holds text. Released text keeps its order on the wire: a
//! chunk carries reasoning, content, refusal, then tool calls, and a release that would go before
//! what the chunk already carries goes out in a chunk of its own, so the Anthropic and
//! Responses encoders (which open and close blocks in arrival order) see fields in order. A
//! tool call's first fragment (`id`, `type`, `function.name`) goes out when it arrives, with
//! the arguments released so far (possibly `""`, as OpenAI itself sends); clients concatenate
//! `arguments` per index.
//!
//! A chunk's `logprobs` are dropped: each token, its bytes and its top alternatives spell the
//! unmasked text, as a non-streamed answer's are.
//!
//! The cost is latency on the held text: the run being held (usually the word being written,
//! up to a few hundred bytes for numbers and capitals, a whole key or email) goes out once it
//! ends, and a choice's held text with its final chunk.

use std::collections::BTreeMap;

use super::json_text::{self, JsonScan};
use super::{detectors, Action, Kind, Policy};
use crate::openai::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta,
};

/// The most bytes of one run of key or email characters held back: more than any key the
/// detectors know (JWT-like bearer tokens run to a few hundred bytes). Past it a run is
/// released but for its last `HOLD_MAX` bytes.
pub const HOLD_MAX: usize = 4096;
/// Bytes of released text detection still looks back over.
pub const CONTEXT: usize = 64;

/// One text of a choice, masked on its own as the non-streamed answer's fields are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// `reasoning_content` (DeepSeek and other OpenAI-compatible reasoning servers), which
    /// streams before the answer's content.
    Reasoning,
    Content,
    Refusal,
    /// A tool call's arguments, by the call's index.
    Arguments(u32),
}

impl Field {
    /// Where the field sits in a delta (content, refusal, tool calls): a piece can join a delta
    /// only if its place is not before the place of what the delta carries last.
    fn place(self) -> u8 {
        match self {
            Field::Reasoning => 0,
            Field::Content => 1,
            Field::Refusal => 2,
            Field::Arguments(_) => 3,
        }
    }
}

/// One field's stream state.
#[derive(Debug, Default)]
struct Held {
    /// Received, not released yet.
    pending: String,
    /// The tail of what was released, unmasked, for context only.
    context: String,
    /// For a tool call's arguments (JSON), where all released text leaves the scan: a
    /// placeholder outside a JSON string is written as one (`super::json_text`).
    json: JsonScan,
}

/// One choice's stream state.
#[derive(Debug, Default)]
struct ChoiceState {
    /// The field whose fragment arrived last: the only one holding text.
    current: Option<Field>,
    fields: BTreeMap<Field, Held>,
}

/// Released text of one field, in wire order, with a tool call's first-fragment fields.
#[derive(Debug)]
struct Piece {
    field: Field,
    text: String,
    /// The tool-call fragment's `id`, `type` and `function.name` (its `arguments` `Some("")`
    /// when it had any): sent even when none of its arguments can be released yet.
    call: Option<ToolCallDelta>,
}

/// Masks the text of a stream's chunks under one policy.
#[derive(Debug)]
pub struct StreamMasker {
    policy: Policy,
    choices: BTreeMap<u32, ChoiceState>,
    counts: [u32; 5],
}

impl StreamMasker {
    /// A masker for `policy` (every kind not `off` is masked, as for non-streamed answers).
    pub fn new(policy: Policy) -> Self {
        StreamMasker {
            policy,
            choices: BTreeMap::new(),
            counts: [0; 5],
        }
    }

    /// Takes each choice's new text into the hold and returns the chunks to send in its place:
    /// usually one, two when a release must go before what the chunk carries. A choice that
    /// finishes in this chunk releases everything it held. A chunk without choices (usage)
    /// comes back unchanged.
    pub fn chunk(&mut self, chunk: ChatCompletionChunk) -> Vec<ChatCompletionChunk> {
        if chunk.choices.is_empty() {
            return vec![chunk];
        }
        let mut out = Vec::with_capacity(chunk.choices.len());
        for choice in &chunk.choices {
            let state = self.choices.entry(choice.index).or_default();
            let mut pieces = Vec::new();
            let delta = &choice.delta;
            let texts = [
                (Field::Reasoning, delta.reasoning_content.clone(), None),
                (Field::Content, delta.content.clone(), None),
                (Field::Refusal, delta.refusal.clone(), None),
            ];
            let calls = delta.tool_calls.iter().flatten().map(|call| {
                let mut call = call.clone();
                let arguments = call.function.as_mut().and_then(|f| f.arguments.take());
                let first = call.id.is_some()
                    || call.kind.is_some()
                    || call.function.as_ref().is_some_and(|f| f.name.is_some());
                if first && arguments.is_some() {
                    if let Some(f) = call.function.as_mut() {
                        f.arguments = Some(String::new());
                    }
                }
                (
                    Field::Arguments(call.index),
                    arguments,
                    first.then_some(call),
                )
            });
            for (field, text, call) in texts.into_iter().chain(calls) {
                // An empty fragment (some servers send `"content": ""` beside every tool-call
                // fragment) neither starts a field nor ends the current one.
                let text = text.filter(|t| !t.is_empty());
                if text.is_none() && call.is_none() {
                    continue;
                }
                if let Some(previous) = state.current.filter(|c| *c != field) {
                    // A new field: the previous one is complete.
                    let held = state.fields.entry(previous).or_default();
                    let text = release(&self.policy, previous, held, true, &mut self.counts);
                    pieces.push(Piece {
                        field: previous,
                        text,
                        call: None,
                    });
                }
                state.current = Some(field);
                if let Some(text) = text {
                    state
                        .fields
                        .entry(field)
                        .or_default()
                        .pending
                        .push_str(&text);
                }
                if call.is_some() {
                    pieces.push(Piece {
                        field,
                        text: String::new(),
                        call,
                    });
                }
            }
            if let Some(field) = state.current {
                let all = choice.finish_reason.is_some();
                let held = state.fields.entry(field).or_default();
                let text = release(&self.policy, field, held, all, &mut self.counts);
                pieces.push(Piece {
                    field,
                    text,
                    call: None,
                });
            }
            out.push(ChoiceOut {
                deltas: pack(delta.role, pieces),
                choice,
            });
        }
        assemble(&chunk, &out)
    }

    /// The chunks carrying whatever is still held when the upstream stream ended without a
    /// finish reason for some choice, modelled on `last`; empty when nothing is held.
    pub fn flush(&mut self, last: &ChatCompletionChunk) -> Vec<ChatCompletionChunk> {
        let mut released = Vec::new();
        for (index, state) in &mut self.choices {
            let Some(field) = state.current else {
                continue;
            };
            let held = state.fields.entry(field).or_default();
            let text = release(&self.policy, field, held, true, &mut self.counts);
            if !text.is_empty() {
                let piece = Piece {
                    field,
                    text,
                    call: None,
                };
                released.push((*index, pack(None, vec![piece])));
            }
        }
        if released.is_empty() {
            return Vec::new();
        }
        let template = ChatCompletionChunk {
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
            ..last.clone()
        };
        let choices: Vec<ChunkChoice> = released
            .iter()
            .map(|(index, _)| ChunkChoice {
                index: *index,
                ..ChunkChoice::default()
            })
            .collect();
        let out: Vec<ChoiceOut> = released
            .into_iter()
            .zip(&choices)
            .map(|((_, deltas), choice)| ChoiceOut { deltas, choice })
            .collect();
        assemble(&template, &out)
    }

    /// Values masked so far, by kind, in [`Kind::ALL`] order.
    pub fn counts(&self) -> &[u32; 5] {
        &self.counts
    }
}

/// One choice's deltas to send, in order, and the choice they came in.
struct ChoiceOut<'a> {
    deltas: Vec<Delta>,
    choice: &'a ChunkChoice,
}

/// Lays pieces out in deltas, in order: a piece whose place in a delta comes before what the
/// delta carries last starts the next delta. `role` goes in the first. Empty pieces without a
/// tool call's first fragment are dropped; there is always at least one delta.
fn pack(role: Option<crate::openai::wire::Role>, pieces: Vec<Piece>) -> Vec<Delta> {
    let mut deltas = vec![Delta {
        role,
        ..Delta::default()
    }];
    let mut last_place = None;
    for Piece { field, text, call } in pieces {
        if text.is_empty() && call.is_none() {
            continue;
        }
        let place = field.place();
        if last_place.is_some_and(|p| place < p) {
            deltas.push(Delta::default());
        }
        last_place = Some(place);
        let Some(delta) = deltas.last_mut() else {
            continue;
        };
        let slot = match field {
            Field::Reasoning => &mut delta.reasoning_content,
            Field::Content => &mut delta.content,
            Field::Refusal => &mut delta.refusal,
            Field::Arguments(index) => {
                let calls = delta.tool_calls.get_or_insert_with(Vec::new);
                let joins_last = call.is_none() && calls.last().is_some_and(|c| c.index == index);
                if !joins_last {
                    calls.push(call.unwrap_or(ToolCallDelta {
                        index,
                        ..ToolCallDelta::default()
                    }));
                }
                let Some(entry) = calls.last_mut() else {
                    continue;
                };
                if text.is_empty() {
                    continue;
                }
                &mut entry
                    .function
                    .get_or_insert_with(FunctionCallDelta::default)
                    .arguments
            }
        };
        slot.get_or_insert_with(String::new).push_str(&text);
    }
    deltas
}

/// The chunks for `chunk`'s choices laid out as `out`: the `k`-th carries each choice's `k`-th
/// delta; its finish reason and the usage ride with the last. Logprobs are dropped: their
/// tokens spell the unmasked text (and arrive before the held text is released).
fn assemble(chunk: &ChatCompletionChunk, out: &[ChoiceOut<'_>]) -> Vec<ChatCompletionChunk> {
    let count = out.iter().map(|c| c.deltas.len()).max().unwrap_or(1);
    (0..count)
        .map(|k| ChatCompletionChunk {
            id: chunk.id.clone(),
            object: chunk.object.clone(),
            created: chunk.created,
            model: chunk.model.clone(),
            choices: out
                .iter()
                .filter_map(|c| {
                    let last = c.deltas.len().checked_sub(1)?;
                    Some(ChunkChoice {
                        index: c.choice.index,
                        delta: c.deltas.get(k)?.clone(),
                        finish_reason: c.choice.finish_reason.clone().filter(|_| k == last),
                        logprobs: None,
                        stop_sequence: c.choice.stop_sequence.clone().filter(|_| k == last),
                    })
                })
                .collect(),
            usage: chunk.usage.clone().filter(|_| k + 1 == count),
            system_fingerprint: chunk.system_fingerprint.clone(),
        })
        .collect()
}

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Where the held tail of `pending` starts: the trailing run of characters a key or an email
/// can hold (at most [`HOLD_MAX`] bytes of it) or a phone, card or IBAN can hold (at most
/// [`detectors::SEPARATED_MAX`]), whichever starts earlier. Always a char boundary.
fn hold_start(pending: &str) -> usize {
    let run = |may_hold: fn(char) -> bool, max: usize| {
        let mut start = pending.len();
        for (i, c) in pending.char_indices().rev() {
            if !may_hold(c) || pending.len() - i > max {
                break;
            }
            start = i;
        }
        start
    };
    run(detectors::in_long_value, HOLD_MAX)
        .min(run(detectors::in_separated_value, detectors::SEPARATED_MAX))
}

/// Releases the part of `held` nothing later can change (all of it with `all`), masked.
fn release(
    policy: &Policy,
    field: Field,
    held: &mut Held,
    all: bool,
    counts: &mut [u32; 5],
) -> String {
    let mut cut = if all {
        held.pending.len()
    } else {
        hold_start(&held.pending)
    };
    if cut == 0 {
        return String::new();
    }
    let text = format!("{}{}", held.context, held.pending);
    let offset = held.context.len();
    let found = detectors::find(&text, |k| policy.action(k) != Action::Off);
    if !all {
        // A value that reaches past the release point is released whole later.
        for f in &found {
            let (start, end) = (f.start.saturating_sub(offset), f.end.saturating_sub(offset));
            if f.end > offset && start < cut && end > cut {
                cut = start;
            }
        }
        // Unless it keeps growing past HOLD_MAX: then the stream goes on without it.
        let floor = floor_boundary(&held.pending, held.pending.len().saturating_sub(HOLD_MAX));
        cut = cut.max(floor);
    }
    let mut out = String::with_capacity(cut);
    let mut at = 0;
    let json = matches!(field, Field::Arguments(_));
    let mut json_scan = held.json;
    for f in found.iter().filter(|f| f.end > offset) {
        let start = f.start.saturating_sub(offset);
        let end = f.end - offset;
        if end > cut {
            continue;
        }
        let before = &held.pending[at..start.max(at)];
        json_scan.advance(before);
        let (placeholder, sign) = json_text::placeholder(f.kind, json.then_some(json_scan), before);
        out.push_str(&before[..before.len() - sign]);
        out.push_str(&placeholder);
        json_scan.advance(&held.pending[start.max(at)..end.max(at)]);
        at = end.max(at);
        if let Some(i) = Kind::ALL.iter().position(|k| *k == f.kind) {
            counts[i] += 1;
        }
    }
    out.push_str(&held.pending[at..cut]);
    let released: String = held.pending.drain(..cut).collect();
    held.json.advance(&released);
    held.context.push_str(&released);
    let keep = floor_boundary(&held.context, held.context.len().saturating_sub(CONTEXT));
    // `keep` is a boundary at most CONTEXT bytes from the end; drop what precedes it.
    let tail = held.context.split_off(keep);
    held.context = tail;
    out
}

#[cfg(test)]
mod tests;
