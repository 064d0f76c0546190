//! `stop` kept by the gateway for models that refuse it.
//!
//! OpenAI's reasoning models refuse `stop` while they reason, and the Responses API has no such
//! field, so the gateway leaves it out of what it sends them (`upstream::fit`). But an agent's
//! ReAct loop sends `stop: ["Observation:"]` precisely so that the model does not write the
//! tool's observation itself; dropping it silently hands the loop an invented observation.
//! So the gateway cuts every answer at the first stop sequence itself, as the model's API
//! would have: the text before it is kept, the sequence and everything after it go (tool calls
//! included), and the choice finishes with `finish_reason: "stop"`. Only answers from models
//! that were not sent `stop` are cut (`failover::Served::stop_dropped`): the others stopped
//! as their API does (some servers keep the sequence in the text on request).
//!
//! A stream holds back, per choice, the end of its text that could still grow into a stop
//! sequence (at most the longest sequence less one byte), releasing it as soon as the next
//! text rules that out, or with the choice's finish. Once every choice of the request is cut
//! or finished, and one was cut, the stream ends: the rest of what the model writes is not
//! read (its usage is then estimated from the text, like any stream without usage).

use std::collections::BTreeMap;

use crate::openai::wire::{ChatCompletionChunk, ChatCompletionResponse, FinishReason};

/// Where the first of `stops` begins in `text`, and which it is, if any does (at one place
/// the first listed wins).
fn earliest<'s>(text: &str, stops: &'s [String]) -> Option<(usize, &'s str)> {
    stops
        .iter()
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str())))
        .min_by_key(|(at, _)| *at)
}

/// How many bytes at the end of `text` could be the start of a stop sequence: the longest
/// suffix that is a proper prefix of one of `stops`, on a character boundary.
fn could_grow(text: &str, stops: &[String]) -> usize {
    let longest = stops.iter().map(String::len).max().unwrap_or(0);
    let from = text.len().saturating_sub(longest.saturating_sub(1));
    (from..text.len())
        .filter(|i| text.is_char_boundary(*i))
        .find(|i| {
            let tail = &text[*i..];
            stops
                .iter()
                .any(|s| s.len() > tail.len() && s.starts_with(tail))
        })
        .map_or(0, |i| text.len() - i)
}

/// The request's stop sequences that can match (empty ones cannot).
pub fn sequences(stop: Option<&crate::openai::wire::Stop>) -> Vec<String> {
    let mut stops = stop
        .map(crate::openai::wire::Stop::to_vec)
        .unwrap_or_default();
    stops.retain(|s| !s.is_empty());
    stops
}

/// Cuts each choice of a non-streamed answer at its first stop sequence.
pub fn cut_completion(completion: &mut ChatCompletionResponse, stops: &[String]) {
    if stops.is_empty() {
        return;
    }
    for choice in &mut completion.choices {
        let Some(text) = choice.message.content.as_mut() else {
            continue;
        };
        if let Some((at, stop)) = earliest(text, stops) {
            text.truncate(at);
            choice.message.tool_calls = None;
            choice.finish_reason = Some(FinishReason::Stop);
            choice.stop_sequence = Some(stop.to_owned());
        }
    }
}

/// One choice's stream state.
#[derive(Debug, Default)]
struct Choice {
    /// Text received and not sent: it could still be the start of a stop sequence.
    held: String,
    /// Finished (cut here, or by the upstream): later deltas of the choice are dropped.
    done: bool,
}

/// Cuts a stream's choices at their first stop sequence.
#[derive(Debug)]
pub struct StopCutter {
    stops: Vec<String>,
    /// How many choices the request asked for (`n`).
    expected: u32,
    choices: BTreeMap<u32, Choice>,
    /// Whether a choice was cut here (the upstream still writes).
    cut: bool,
}

impl StopCutter {
    /// A cutter for `stops` over `n` choices; `None` without stop sequences.
    pub fn new(stops: Vec<String>, n: u32) -> Option<Self> {
        (!stops.is_empty()).then(|| StopCutter {
            stops,
            expected: n.max(1),
            choices: BTreeMap::new(),
            cut: false,
        })
    }

    /// The chunk as the client may see it: text held back or cut, later deltas of a cut
    /// choice dropped. `None` when nothing of it can go out yet.
    pub fn chunk(&mut self, mut chunk: ChatCompletionChunk) -> Option<ChatCompletionChunk> {
        if chunk.choices.is_empty() {
            return Some(chunk);
        }
        let choices = std::mem::take(&mut chunk.choices);
        for mut c in choices {
            let state = self.choices.entry(c.index).or_default();
            if state.done {
                continue;
            }
            let text = c.delta.content.take();
            let had_text = text.is_some();
            state.held.push_str(text.as_deref().unwrap_or_default());
            if let Some((at, stop)) = earliest(&state.held, &self.stops) {
                c.stop_sequence = Some(stop.to_owned());
                state.held.truncate(at);
                c.delta.content = Some(std::mem::take(&mut state.held));
                c.delta.tool_calls = None;
                c.delta.refusal = None;
                c.finish_reason = Some(FinishReason::Stop);
                state.done = true;
                self.cut = true;
                chunk.choices.push(c);
                continue;
            }
            // Another field or the finish: no stop sequence can span it, release it all.
            let release_all = c.finish_reason.is_some()
                || c.delta.tool_calls.is_some()
                || c.delta.refusal.is_some();
            let keep = if release_all {
                0
            } else {
                could_grow(&state.held, &self.stops)
            };
            let out: String = state.held.drain(..state.held.len() - keep).collect();
            if had_text || !out.is_empty() {
                c.delta.content = Some(out);
            }
            state.done = c.finish_reason.is_some();
            let empty = c.delta.role.is_none()
                && c.delta.content.as_deref().is_none_or(str::is_empty)
                && c.delta.tool_calls.is_none()
                && c.delta.refusal.is_none()
                && c.delta.reasoning_content.is_none()
                && c.finish_reason.is_none()
                && c.logprobs.is_none();
            if !empty {
                chunk.choices.push(c);
            }
        }
        (!chunk.choices.is_empty()).then_some(chunk)
    }

    /// Whether the stream is over for the client: every choice finished, one of them cut here.
    pub fn all_cut(&self) -> bool {
        self.cut && (0..self.expected).all(|i| self.choices.get(&i).is_some_and(|c| c.done))
    }

    /// Text still held when the upstream ended without finishing a choice, in a chunk modelled
    /// on `last`.
    pub fn flush(&mut self, last: &ChatCompletionChunk) -> Option<ChatCompletionChunk> {
        let mut out = ChatCompletionChunk {
            choices: Vec::new(),
            usage: None,
            ..last.clone()
        };
        for (index, state) in &mut self.choices {
            if !state.held.is_empty() {
                out.choices.push(crate::openai::wire::ChunkChoice {
                    index: *index,
                    delta: crate::openai::wire::Delta {
                        content: Some(std::mem::take(&mut state.held)),
                        ..Default::default()
                    },
                    ..Default::default()
                });
            }
        }
        (!out.choices.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::openai::wire::ChunkChoice;

    fn text_chunk(text: &str, finish: bool) -> ChatCompletionChunk {
        let mut c = ChatCompletionChunk::keepalive();
        c.choices.push(ChunkChoice::text_for_test(0, text, finish));
        c
    }

    /// Streams `text` in pieces of `size` bytes (on character boundaries) and returns what the
    /// client got and whether the cutter ended the stream.
    fn stream(text: &str, size: usize, stops: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        let mut cutter = StopCutter::new(stops, 1).unwrap();
        let mut got = String::new();
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut at = size.min(rest.len());
            while !rest.is_char_boundary(at) {
                at += 1;
            }
            pieces.push(&rest[..at]);
            rest = &rest[at..];
        }
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.into_iter().enumerate() {
            if let Some(out) = cutter.chunk(text_chunk(piece, i == last)) {
                got.push_str(out.choices[0].delta.content.as_deref().unwrap_or_default());
            }
            if cutter.all_cut() {
                return (got, true);
            }
        }
        (got, false)
    }

    #[test]
    fn a_stream_is_cut_at_its_first_stop_sequence_however_it_is_split() {
        let text = "Thought: look it up\nObservation: invented\nThought: done";
        for size in 1..text.len() {
            let (got, cut) = stream(text, size, &["Observation:", "\n\n"]);
            assert_eq!(got, "Thought: look it up\n", "size {size}");
            assert!(cut, "size {size}");
        }
        // Without a match every byte goes out, the near miss included.
        for size in 1..12 {
            let (got, cut) = stream("an Observatio then", size, &["Observation:"]);
            assert_eq!(got, "an Observatio then");
            assert!(!cut);
        }
        // Multi-byte characters are never split.
        let (got, _) = stream("déjà vu — STOP here", 1, &["— STOP"]);
        assert_eq!(got, "déjà vu ");
    }

    /// A delta that carries only `reasoning_content` (DeepSeek's reasoning, streamed before
    /// the answer) goes out: stop sequences apply to the answer's content only. Before, the
    /// cutter took it for an empty delta and dropped it.
    #[test]
    fn reasoning_deltas_pass_the_cutter() {
        let mut cutter = StopCutter::new(vec!["END".to_owned()], 1).unwrap();
        let mut thinking = ChatCompletionChunk::keepalive();
        thinking.choices.push(ChunkChoice {
            delta: crate::openai::wire::Delta {
                reasoning_content: Some("It ENDs with 4.".to_owned()),
                ..Default::default()
            },
            ..Default::default()
        });
        let out = cutter.chunk(thinking).unwrap();
        assert_eq!(
            out.choices[0].delta.reasoning_content.as_deref(),
            Some("It ENDs with 4.")
        );
        let out = cutter.chunk(text_chunk("4 END more", false)).unwrap();
        assert_eq!(out.choices[0].delta.content.as_deref(), Some("4 "));
        assert!(cutter.all_cut());
    }

    #[test]
    fn a_completion_is_cut_and_loses_what_follows() {
        let mut completion: ChatCompletionResponse = serde_json::from_value(serde_json::json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Answer: 4\nObservation: 5",
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]}}],
        }))
        .unwrap();
        cut_completion(
            &mut completion,
            &sequences(Some(&crate::openai::wire::Stop::One("Observation:".into()))),
        );
        let choice = &completion.choices[0];
        assert_eq!(choice.message.content.as_deref(), Some("Answer: 4\n"));
        assert!(choice.message.tool_calls.is_none());
        assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    }
}
