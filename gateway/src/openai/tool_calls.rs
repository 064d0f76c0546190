//! Streamed tool calls put back together from their fragments.
//!
//! Chat Completions streams a call as fragments keyed by `index`: the id and name come in its
//! first fragment, the arguments in pieces, and an upstream may interleave the fragments of
//! parallel calls or send the name after the first fragment. The cache's assembler and the
//! `/v1/messages` and `/v1/responses` stream encoders all gather calls here, so that a live
//! stream, its cached replay and the non-streamed answer agree on every call's id, name and
//! arguments.

use std::collections::BTreeMap;

use super::wire::{join_name_fragment, FunctionCall, ToolCall, ToolCallDelta};

/// What the fragments of one call gave so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatheredCall {
    /// The last non-empty id given; empty when the upstream gave none (each dialect names
    /// such a call itself).
    pub id: String,
    /// The last non-empty `type` given.
    pub kind: Option<String>,
    /// The name fragments joined ([`join_name_fragment`]).
    pub name: String,
    /// The argument fragments concatenated.
    pub arguments: String,
}

impl GatheredCall {
    /// The call as a non-streamed answer holds it (`type` `function` when none came).
    pub fn into_tool_call(self) -> ToolCall {
        ToolCall {
            id: self.id,
            kind: self.kind.unwrap_or_else(|| "function".to_owned()),
            function: FunctionCall {
                name: self.name,
                arguments: self.arguments,
            },
        }
    }
}

/// What one fragment means to an encoder that announces a call once its name is known
/// (the announcement carries the name) and streams its arguments after that.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed<'d, M> {
    /// The call has a name and was not announced: announce it with what it gathered
    /// ([`ToolCallAccumulator::unannounced`], arguments so far included), then
    /// [`ToolCallAccumulator::announce`] it.
    Announce,
    /// The call announced as `mark` got `fragment` (never empty) of its arguments.
    Arguments {
        /// What the encoder marked the call with when it announced it.
        mark: M,
        /// The new piece of the arguments.
        fragment: &'d str,
    },
    /// Nothing to send yet: no name so far, or no new arguments for an announced call.
    Held,
}

/// The calls of one streamed choice, by tool-call index, each with the mark (`M`) its encoder
/// gave it when it announced it: a block or output index, say.
#[derive(Debug)]
pub struct ToolCallAccumulator<M = ()> {
    calls: BTreeMap<u32, Slot<M>>,
}

#[derive(Debug)]
struct Slot<M> {
    call: GatheredCall,
    mark: Option<M>,
}

impl<M> Default for ToolCallAccumulator<M> {
    fn default() -> Self {
        ToolCallAccumulator {
            calls: BTreeMap::new(),
        }
    }
}

impl<M: Clone> ToolCallAccumulator<M> {
    /// Adds one fragment to the call at its index.
    pub fn feed<'d>(&mut self, delta: &'d ToolCallDelta) -> Fed<'d, M> {
        let slot = self.calls.entry(delta.index).or_insert_with(|| Slot {
            call: GatheredCall::default(),
            mark: None,
        });
        let call = &mut slot.call;
        // Some servers (DashScope's Qwen) repeat `"id": ""` in every later fragment: that
        // must not erase the id the first one gave.
        if let Some(id) = delta.id.as_deref().filter(|id| !id.is_empty()) {
            id.clone_into(&mut call.id);
        }
        if let Some(kind) = delta.kind.as_deref().filter(|k| !k.is_empty()) {
            call.kind = Some(kind.to_owned());
        }
        let function = delta.function.as_ref();
        if let Some(name) = function.and_then(|f| f.name.as_deref()) {
            join_name_fragment(&mut call.name, name);
        }
        let fragment = function
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty());
        if let Some(fragment) = fragment {
            call.arguments.push_str(fragment);
        }
        match (&slot.mark, fragment) {
            (Some(mark), Some(fragment)) => Fed::Arguments {
                mark: mark.clone(),
                fragment,
            },
            (Some(_), None) => Fed::Held,
            (None, _) if !call.name.is_empty() => Fed::Announce,
            (None, _) => Fed::Held,
        }
    }
}

impl<M> ToolCallAccumulator<M> {
    /// The call at `index` if it was not announced yet.
    pub fn unannounced(&self, index: u32) -> Option<&GatheredCall> {
        self.calls
            .get(&index)
            .filter(|s| s.mark.is_none())
            .map(|s| &s.call)
    }

    /// Marks the call at `index` announced, as `mark`.
    pub fn announce(&mut self, index: u32, mark: M) {
        if let Some(slot) = self.calls.get_mut(&index) {
            slot.mark = Some(mark);
        }
    }

    /// The mark of the call at `index`, once announced.
    pub fn mark(&self, index: u32) -> Option<&M> {
        self.calls.get(&index).and_then(|s| s.mark.as_ref())
    }

    /// The announced calls' indexes and marks, by index.
    pub fn marks(&self) -> impl Iterator<Item = (u32, &M)> {
        self.calls
            .iter()
            .filter_map(|(index, s)| s.mark.as_ref().map(|m| (*index, m)))
    }

    /// The indexes of the calls not announced yet (their name never came), in index order.
    pub fn unannounced_indexes(&self) -> Vec<u32> {
        self.calls
            .iter()
            .filter(|(_, s)| s.mark.is_none())
            .map(|(index, _)| *index)
            .collect()
    }

    /// Takes the call at `index` out, with its mark.
    pub fn remove(&mut self, index: u32) -> Option<(GatheredCall, Option<M>)> {
        self.calls.remove(&index).map(|s| (s.call, s.mark))
    }

    /// Every call, in index order.
    pub fn into_calls(self) -> impl Iterator<Item = GatheredCall> {
        self.calls.into_values().map(|s| s.call)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn call(id: &str, name: &str, arguments: &str) -> GatheredCall {
        GatheredCall {
            id: id.into(),
            kind: (!id.is_empty()).then(|| "function".into()),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    /// Feeds `deltas` to an encoder-like user that announces a call (marking it with the
    /// order of announcement) as soon as it is told to; returns what each fragment meant.
    fn announce_all(acc: &mut ToolCallAccumulator<u32>, deltas: &[ToolCallDelta]) -> Vec<String> {
        let mut next = 0;
        deltas
            .iter()
            .map(|d| match acc.feed(d) {
                Fed::Announce => {
                    let c = acc.unannounced(d.index).unwrap().clone();
                    acc.announce(d.index, next);
                    next += 1;
                    format!("announce {} {} {:?}", c.id, c.name, c.arguments)
                }
                Fed::Arguments { mark, fragment } => format!("args {mark} {fragment}"),
                Fed::Held => "held".to_owned(),
            })
            .collect()
    }

    #[test]
    fn interleaved_indexes_gather_apart_and_come_out_by_index() {
        let mut acc = ToolCallAccumulator::default();
        let fed = announce_all(
            &mut acc,
            &[
                ToolCallDelta::for_test(1, Some("call_B"), Some("fb"), Some("")),
                ToolCallDelta::for_test(0, Some("call_A"), Some("fa"), Some("{\"a\":")),
                ToolCallDelta::for_test(1, None, None, Some("{\"b\":2}")),
                ToolCallDelta::for_test(0, None, None, Some("1}")),
            ],
        );
        assert_eq!(
            fed,
            [
                "announce call_B fb \"\"",
                "announce call_A fa \"{\\\"a\\\":\"",
                "args 0 {\"b\":2}",
                "args 1 1}",
            ]
        );
        assert_eq!(acc.marks().collect::<Vec<_>>(), [(0, &1), (1, &0)]);
        assert_eq!(
            acc.into_calls().collect::<Vec<_>>(),
            [
                call("call_A", "fa", "{\"a\":1}"),
                call("call_B", "fb", "{\"b\":2}")
            ]
        );
    }

    #[test]
    fn a_repeated_whole_name_is_kept_once_and_announces_once() {
        let mut acc = ToolCallAccumulator::default();
        let fed = announce_all(
            &mut acc,
            &[
                ToolCallDelta::for_test(0, Some("call_1"), Some("get_weather"), None),
                ToolCallDelta::for_test(0, None, Some("get_weather"), Some("{}")),
                ToolCallDelta::for_test(0, None, Some("get_weather"), None),
            ],
        );
        assert_eq!(
            fed,
            ["announce call_1 get_weather \"\"", "args 0 {}", "held"]
        );
        assert_eq!(
            acc.into_calls().collect::<Vec<_>>(),
            [call("call_1", "get_weather", "{}")]
        );
    }

    #[test]
    fn arguments_before_the_name_are_held_and_announced_with_it() {
        let mut acc = ToolCallAccumulator::default();
        let fed = announce_all(
            &mut acc,
            &[
                ToolCallDelta::for_test(0, Some("call_1"), None, Some("{\"c\":")),
                ToolCallDelta::for_test(0, None, None, Some("3")),
                ToolCallDelta::for_test(0, None, Some("fc"), Some("}")),
                ToolCallDelta::for_test(0, None, None, Some("")),
            ],
        );
        assert_eq!(
            fed,
            [
                "held",
                "held",
                "announce call_1 fc \"{\\\"c\\\":3}\"",
                "held"
            ]
        );
        assert_eq!(
            acc.into_calls().collect::<Vec<_>>(),
            [call("call_1", "fc", "{\"c\":3}")]
        );
    }

    #[test]
    fn a_call_with_no_id_or_no_name_is_still_a_call() {
        let mut acc = ToolCallAccumulator::<u32>::default();
        assert_eq!(
            acc.feed(&ToolCallDelta::for_test(0, None, Some("f"), Some("{}"))),
            Fed::Announce
        );
        assert_eq!(
            acc.feed(&ToolCallDelta::for_test(1, None, None, Some("{\"x\":1}"))),
            Fed::Held
        );
        assert_eq!(acc.unannounced_indexes(), [0, 1]);
        acc.announce(0, 7);
        assert_eq!(acc.unannounced_indexes(), [1]);
        assert_eq!(acc.mark(0), Some(&7));
        assert_eq!(acc.unannounced(1), Some(&call("", "", "{\"x\":1}")));
        let calls: Vec<ToolCall> = acc.into_calls().map(GatheredCall::into_tool_call).collect();
        let got: Vec<[&str; 4]> = calls
            .iter()
            .map(|c| [&*c.id, &*c.kind, &*c.function.name, &*c.function.arguments])
            .collect();
        assert_eq!(
            got,
            [
                ["", "function", "f", "{}"],
                ["", "function", "", "{\"x\":1}"]
            ]
        );
    }

    /// DashScope-style continuations (`"id": ""`, `"type": ""` in every later fragment) keep
    /// the first fragment's id and type; before, the last (empty) id won.
    #[test]
    fn an_empty_id_in_a_later_fragment_keeps_the_id() {
        let mut acc = ToolCallAccumulator::<()>::default();
        acc.feed(&ToolCallDelta::for_test(
            0,
            Some("call_1"),
            Some("f"),
            Some("{\"a\""),
        ));
        let mut later = ToolCallDelta::for_test(0, Some(""), None, Some(":1}"));
        later.kind = Some(String::new());
        acc.feed(&later);
        assert_eq!(
            acc.into_calls().collect::<Vec<_>>(),
            [call("call_1", "f", "{\"a\":1}")]
        );
    }

    #[test]
    fn a_removed_call_comes_back_with_its_mark() {
        let mut acc = ToolCallAccumulator::default();
        assert_eq!(
            acc.feed(&ToolCallDelta::for_test(3, Some("c"), Some("f"), None)),
            Fed::Announce
        );
        acc.announce(3, ("fc_1".to_owned(), 0_usize));
        assert_eq!(
            acc.feed(&ToolCallDelta::for_test(3, None, None, Some("{}"))),
            Fed::Arguments {
                mark: ("fc_1".to_owned(), 0),
                fragment: "{}"
            }
        );
        let (gathered, mark) = acc.remove(3).unwrap();
        assert_eq!(gathered, call("c", "f", "{}"));
        assert_eq!(mark, Some(("fc_1".to_owned(), 0)));
        assert!(acc.remove(3).is_none());
    }
}
