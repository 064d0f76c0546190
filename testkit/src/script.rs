//! The fake's memory: scripted scenario queues per model, call counts and the request log.

use std::collections::{HashMap, VecDeque};

use crate::{RecordedRequest, Scenario, ScenarioKind};

/// Scenario queues, standing scenarios, counts and the request log, behind one mutex in the
/// server state (held only for map updates, never across an await).
#[derive(Debug, Default)]
pub(crate) struct Script {
    /// Scenarios still to play, per model, in order.
    queues: HashMap<String, VecDeque<Scenario>>,
    /// What a model answers once its queue is empty (instead of [`Scenario::echo`]).
    standing: HashMap<String, Scenario>,
    /// Requests that named each model, including rejected ones.
    calls_by_model: HashMap<String, usize>,
    /// Scenarios played, per kind.
    calls_by_kind: HashMap<ScenarioKind, usize>,
    /// Every request received, in arrival order.
    requests: Vec<RecordedRequest>,
    /// Source of unique response ids.
    next_id: u64,
}

impl Script {
    /// Appends scenarios to a model's queue.
    pub(crate) fn push(&mut self, model: &str, scenarios: impl IntoIterator<Item = Scenario>) {
        self.queues
            .entry(model.to_owned())
            .or_default()
            .extend(scenarios);
    }

    /// Sets what a model answers once its queue is empty.
    pub(crate) fn set_standing(&mut self, model: &str, scenario: Scenario) {
        self.standing.insert(model.to_owned(), scenario);
    }

    /// The next scenario for a model: its queue first, then its standing scenario, then echo.
    pub(crate) fn next(&mut self, model: &str) -> Scenario {
        let scenario = self
            .queues
            .get_mut(model)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.standing.get(model).cloned())
            .unwrap_or_else(Scenario::echo);
        *self.calls_by_kind.entry(scenario.kind()).or_default() += 1;
        scenario
    }

    /// Logs a request and counts it against its model.
    pub(crate) fn record(&mut self, request: RecordedRequest) {
        if let Some(model) = &request.model {
            *self.calls_by_model.entry(model.clone()).or_default() += 1;
        }
        self.requests.push(request);
    }

    /// A fresh response id number.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Requests that named `model`.
    pub(crate) fn calls(&self, model: &str) -> usize {
        self.calls_by_model.get(model).copied().unwrap_or(0)
    }

    /// Scenarios of `kind` played so far.
    pub(crate) fn calls_with(&self, kind: ScenarioKind) -> usize {
        self.calls_by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Scenarios still queued for `model`.
    pub(crate) fn pending(&self, model: &str) -> usize {
        self.queues.get(model).map_or(0, VecDeque::len)
    }

    /// The request log.
    pub(crate) fn requests(&self) -> &[RecordedRequest] {
        &self.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_then_standing_then_echo() {
        let mut script = Script::default();
        script.push("m", [Scenario::status(500), Scenario::reply("hi")]);
        assert_eq!(script.pending("m"), 2);
        assert_eq!(script.next("m"), Scenario::status(500));
        assert_eq!(script.next("m"), Scenario::reply("hi"));
        assert_eq!(script.next("m"), Scenario::echo());
        script.set_standing("m", Scenario::status(503));
        assert_eq!(script.next("m"), Scenario::status(503));
        assert_eq!(script.next("other"), Scenario::echo());
        assert_eq!(script.calls_with(ScenarioKind::Status), 2);
        assert_eq!(script.calls_with(ScenarioKind::Ok), 3);
    }
}
