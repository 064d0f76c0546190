//! Masking streamed answers (`responses = true`): a value may arrive split across chunks, so
//! each choice's text is held back by [`HOLD`] bytes and released only once nothing later can
//! complete a value that reaches into it.
//!
//! Why this is sound for values shorter than [`HOLD`]: a value that is not complete yet ends at
//! the end of the text received so far, so it starts within the last [`HOLD`] bytes, which are
//! never released; and a value already detectable that straddles the release point moves the
//! point to its start. Detection runs over the last [`CONTEXT`] bytes already released plus the
//! held text, so a value whose telltale prefix (`Bearer `, `api_key=`) went out earlier is
//! still found; only its held part is masked then (the prefix is not the secret). A value
//! longer than [`HOLD`] bytes can be released in part before it is recognisable: documented.
//!
//! The cost is latency on the held text: a stream's last [`HOLD`] bytes (about 60 tokens)
//! arrive with its final chunk instead of as they are generated.

use std::collections::BTreeMap;

use super::{detectors, Action, Kind, Policy};
use crate::openai::wire::{ChatCompletionChunk, ChunkChoice, Delta};

/// Bytes of a choice's text held back: more than any value the detectors know (card 23,
/// IBAN 42, phone 20, common emails and keys well under it).
pub const HOLD: usize = 256;
/// Bytes of released text detection still looks back over.
pub const CONTEXT: usize = 64;

/// One choice's stream state.
#[derive(Debug, Default)]
struct Held {
    /// Received, not released yet.
    pending: String,
    /// The tail of what was released, unmasked, for context only.
    context: String,
}

/// Masks the text of a stream's chunks under one policy.
#[derive(Debug)]
pub struct StreamMasker {
    policy: Policy,
    held: BTreeMap<u32, Held>,
    counts: [u32; 5],
}

impl StreamMasker {
    /// A masker for `policy` (every kind not `off` is masked, as for non-streamed answers).
    pub fn new(policy: Policy) -> Self {
        StreamMasker {
            policy,
            held: BTreeMap::new(),
            counts: [0; 5],
        }
    }

    /// Takes each choice's new text into the hold and puts back what can be released, masked.
    /// A choice that finishes in this chunk releases everything it held.
    pub fn chunk(&mut self, chunk: &mut ChatCompletionChunk) {
        for choice in &mut chunk.choices {
            let held = self.held.entry(choice.index).or_default();
            if let Some(text) = choice.delta.content.take() {
                held.pending.push_str(&text);
            }
            let all = choice.finish_reason.is_some();
            let out = release(&self.policy, held, all, &mut self.counts);
            // With nothing to release the chunk keeps its shape (a role, tool calls, logprobs)
            // and no text.
            choice.delta.content = (!out.is_empty()).then_some(out);
        }
    }

    /// A chunk carrying whatever is still held when the upstream stream ended without a
    /// finish reason for some choice, modelled on `last`; `None` when nothing is held.
    pub fn flush(&mut self, last: &ChatCompletionChunk) -> Option<ChatCompletionChunk> {
        let mut choices = Vec::new();
        for (index, held) in &mut self.held {
            let out = release(&self.policy, held, true, &mut self.counts);
            if !out.is_empty() {
                choices.push(ChunkChoice {
                    index: *index,
                    delta: Delta {
                        content: Some(out),
                        ..Delta::default()
                    },
                    ..ChunkChoice::default()
                });
            }
        }
        (!choices.is_empty()).then(|| ChatCompletionChunk {
            id: last.id.clone(),
            object: last.object.clone(),
            created: last.created,
            model: last.model.clone(),
            choices,
            usage: None,
            system_fingerprint: None,
        })
    }

    /// Values masked so far, by kind, in [`Kind::ALL`] order.
    pub fn counts(&self) -> &[u32; 5] {
        &self.counts
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Releases the part of `held` nothing later can change (all of it with `all`), masked.
fn release(policy: &Policy, held: &mut Held, all: bool, counts: &mut [u32; 5]) -> String {
    if held.pending.is_empty() || (!all && held.pending.len() <= HOLD) {
        return String::new();
    }
    let scan = format!("{}{}", held.context, held.pending);
    let offset = held.context.len();
    let found = detectors::find(&scan, |k| policy.action(k) != Action::Off);
    let mut cut = if all {
        held.pending.len()
    } else {
        floor_boundary(&held.pending, held.pending.len() - HOLD)
    };
    if !all {
        // A value that reaches past the release point is released whole later.
        for f in &found {
            let (start, end) = (f.start.saturating_sub(offset), f.end.saturating_sub(offset));
            if f.end > offset && start < cut && end > cut {
                cut = start;
            }
        }
    }
    let mut out = String::with_capacity(cut);
    let mut at = 0;
    for f in found.iter().filter(|f| f.end > offset) {
        let start = f.start.saturating_sub(offset);
        let end = f.end - offset;
        if end > cut {
            continue;
        }
        out.push_str(&held.pending[at..start.max(at)]);
        out.push_str(f.kind.placeholder());
        at = end.max(at);
        if let Some(i) = Kind::ALL.iter().position(|k| *k == f.kind) {
            counts[i] += 1;
        }
    }
    out.push_str(&held.pending[at..cut]);
    let released: String = held.pending.drain(..cut).collect();
    held.context.push_str(&released);
    let keep = floor_boundary(&held.context, held.context.len().saturating_sub(CONTEXT));
    // `keep` is a boundary at most CONTEXT bytes from the end; drop what precedes it.
    let tail = held.context.split_off(keep);
    held.context = tail;
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::openai::wire::FinishReason;

    fn policy() -> Policy {
        let raw: crate::config::GuardrailsConfig =
            toml::from_str("enabled = true\nresponses = true").unwrap();
        crate::config::resolve_guardrails(Some(raw))
            .unwrap()
            .default
            .unwrap()
    }

    fn chunk(text: &str, finish: bool) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: "c".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    content: Some(text.to_owned()),
                    ..Delta::default()
                },
                finish_reason: finish.then_some(FinishReason::Stop),
                logprobs: None,
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    /// Streams `text` in `size`-byte pieces (on char boundaries) and returns what the client
    /// sees.
    fn stream(text: &str, size: usize, finish: bool) -> (String, [u32; 5]) {
        let mut masker = StreamMasker::new(policy());
        let mut seen = String::new();
        let mut rest = text;
        let mut last = chunk("", false);
        while !rest.is_empty() {
            let at = floor_boundary(rest, size.max(1)).max(rest.chars().next().unwrap().len_utf8());
            let (piece, tail) = rest.split_at(at.min(rest.len()));
            rest = tail;
            let mut c = chunk(piece, finish && rest.is_empty());
            masker.chunk(&mut c);
            seen.push_str(c.choices[0].delta.content.as_deref().unwrap_or(""));
            last = c;
        }
        if let Some(c) = masker.flush(&last) {
            seen.push_str(c.choices[0].delta.content.as_deref().unwrap());
        }
        (seen, *masker.counts())
    }

    #[test]
    fn values_split_across_chunks_are_masked_at_every_chunk_size() {
        let filler = "The quick brown fox jumps over the lazy dog. ".repeat(12);
        let text = format!(
            "{filler}Write to jane.doe@example.com or pay with 4111 1111 1111 1111; {filler}Bearer sk-proj-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1 ends it."
        );
        let whole = {
            let mut t = text.clone();
            let mut counts = [0; 5];
            super::super::mask_all(&policy(), &mut t, &mut counts);
            (t, counts)
        };
        for size in [1, 2, 3, 5, 7, 16, 64, 300, 5000] {
            for finish in [true, false] {
                let got = stream(&text, size, finish);
                assert_eq!(got, whole, "chunk size {size}, finish {finish}");
                assert!(!got.0.contains("jane.doe") && !got.0.contains("4111"));
            }
        }
    }

    #[test]
    fn text_is_released_as_the_stream_goes_and_multibyte_text_is_never_cut() {
        let mut masker = StreamMasker::new(policy());
        let mut c = chunk(&"é".repeat(400), false);
        masker.chunk(&mut c);
        let out = c.choices[0].delta.content.clone().unwrap();
        // 800 bytes in, at most HOLD held back.
        assert!(out.len() >= 800 - HOLD, "{}", out.len());
        assert!(out.chars().all(|ch| ch == 'é'));
        let mut end = chunk("", true);
        masker.chunk(&mut end);
        let rest = end.choices[0].delta.content.clone().unwrap();
        assert_eq!(out.len() + rest.len(), 800);
    }
}
