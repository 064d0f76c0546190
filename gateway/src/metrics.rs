//! Every metric the gateway exports, by name, and their Prometheus text rendering
//! (`GET /metrics`).
//!
//! Metric names live only here; the rest of the crate calls the typed methods of [`Metrics`].
//! Labels stay bounded: model ids, provider ids, status and error labels, never user input.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// A metric family: its name, help text and type.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
}

/// The Prometheus type of a family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    /// A value set, not added to (sizes read at scrape time).
    Gauge,
    Histogram,
}

const REQUESTS: Family = Family {
    name: "switchyard_requests_total",
    help: "Chat completion requests by final model and status.",
    kind: Kind::Counter,
};
const ERRORS: Family = Family {
    name: "switchyard_errors_total",
    help: "Failed upstream attempts by model and error label.",
    kind: Kind::Counter,
};
const UPSTREAM_LATENCY: Family = Family {
    name: "switchyard_upstream_latency_seconds",
    help: "Latency of successful upstream calls (stream: until the last chunk) by model.",
    kind: Kind::Histogram,
};
const UPSTREAM_TTFT: Family = Family {
    name: "switchyard_upstream_ttft_seconds",
    help: "Time to first token of successful upstream calls by model.",
    kind: Kind::Histogram,
};
const ROUTING: Family = Family {
    name: "switchyard_routing_seconds",
    help: "Time spent choosing a model (encoder, predictor and policy).",
    kind: Kind::Histogram,
};
const COST: Family = Family {
    name: "switchyard_cost_usd_total",
    help: "Cost of served requests in USD from catalog prices, by model.",
    kind: Kind::Counter,
};
const TOKENS: Family = Family {
    name: "switchyard_tokens_total",
    help: "Tokens by model and direction (input, output).",
    kind: Kind::Counter,
};
const FAILOVERS: Family = Family {
    name: "switchyard_failovers_total",
    help: "Moves to the next candidate after a failed attempt, by the model that failed.",
    kind: Kind::Counter,
};
const ENCODER_QUEUE_WAIT: Family = Family {
    name: "switchyard_encoder_queue_wait_seconds",
    help: "Time routed prompts waited in the encoder queue.",
    kind: Kind::Histogram,
};
const CLASSIFIER_FALLBACK: Family = Family {
    name: "switchyard_classifier_fallback_total",
    help: "Requests routed by the static fallback, by reason.",
    kind: Kind::Counter,
};
const ENCODER_CACHE: Family = Family {
    name: "switchyard_encoder_cache_total",
    help: "Routed prompts whose embedding came from the cache (result=hit) or the encoder (miss).",
    kind: Kind::Counter,
};
const OUTCOME_LOG_DROPPED: Family = Family {
    name: "switchyard_outcome_log_dropped_total",
    help: "Outcome rows dropped because the log channel was full or the writer failed.",
    kind: Kind::Counter,
};
const OUTCOME_LOG_PRUNED: Family = Family {
    name: "switchyard_outcome_log_pruned_total",
    help:
        "Outcome rows deleted by retention (archived first when configured), by reason (age, size).",
    kind: Kind::Counter,
};
const CIRCUIT_OPENED: Family = Family {
    name: "switchyard_circuit_opened_total",
    help: "Times a provider's circuit breaker opened.",
    kind: Kind::Counter,
};

const ROUTER_RELOADS: Family = Family {
    name: "switchyard_router_reloads_total",
    help: "Router artifact reloads by result (ok, or the refusal reason).",
    kind: Kind::Counter,
};

const REJECTED: Family = Family {
    name: "switchyard_rejected_requests_total",
    help:
        "Client requests refused with a 4xx before any upstream call, by endpoint and error code.",
    kind: Kind::Counter,
};
const OUTCOME_COMMIT_WAIT: Family = Family {
    name: "switchyard_outcome_commit_wait_seconds",
    help: "Time an answer waited for its outcome row's group commit.",
    kind: Kind::Histogram,
};

const KEY_REJECTIONS: Family = Family {
    name: "switchyard_key_rejections_total",
    help: "Requests refused by a client-key rule, by reason (invalid_key, rate_limit_requests, rate_limit_tokens, budget, model_not_allowed, limits_unavailable).",
    kind: Kind::Counter,
};

const KEY_TABLE_READS: Family = Family {
    name: "switchyard_key_table_reads_total",
    help: "Reads of the client-key table by the serving gateway, by trigger (poll: every second; unknown_key: a request presented a key it did not know, at most five a second).",
    kind: Kind::Counter,
};

const REDIS_UNAVAILABLE: Family = Family {
    name: "switchyard_redis_unavailable_total",
    help: "Shared-limit Redis commands that failed or timed out, by operation (requests, tokens, budget, settle, seed, cache, calls) and what followed (local: counted in this replica; refused: 503; dropped: a settlement or shared record lost, its hold lapses; miss: a shared read treated as absent; not_evicted / not_announced: a bad label's delete or announcement to the other replicas lost).",
    kind: Kind::Counter,
};

const JUDGE_SAMPLED: Family = Family {
    name: "switchyard_judge_sampled_total",
    help: "Answered requests drawn for judging (before any drop).",
    kind: Kind::Counter,
};
const JUDGE_DROPPED: Family = Family {
    name: "switchyard_judge_dropped_total",
    help: "Sampled requests not judged, by reason (queue_full, budget, too_long, no_answer, shutdown, bad_reference: an unusable reference-answer header).",
    kind: Kind::Counter,
};
const JUDGE_VERDICTS: Family = Family {
    name: "switchyard_judge_verdicts_total",
    help: "Judged requests by method (absolute, pairwise, reference) and result (stored, superseded, unknown_request, log_unavailable, garbage, error).",
    kind: Kind::Counter,
};
const JUDGE_COST: Family = Family {
    name: "switchyard_judge_cost_usd_total",
    help: "USD spent by the judge (judge and reference calls, catalog prices), by model.",
    kind: Kind::Counter,
};
const JUDGE_LATENCY: Family = Family {
    name: "switchyard_judge_latency_seconds",
    help: "Time from a judged request's hand-over to its label (queue wait included).",
    kind: Kind::Histogram,
};

const RESPONSE_CACHE: Family = Family {
    name: "switchyard_response_cache_total",
    help: "Chat, messages and responses requests by response cache result (hit, semantic_hit, coalesced, miss, bypass).",
    kind: Kind::Counter,
};
const RESPONSE_CACHE_SAVED: Family = Family {
    name: "switchyard_response_cache_saved_usd_total",
    help: "USD not spent because answers came from the response cache (their cost when stored).",
    kind: Kind::Counter,
};
const RESPONSE_CACHE_BYTES: Family = Family {
    name: "switchyard_response_cache_bytes",
    help:
        "Bytes of answers in the response cache (an entry counts at least max_bytes / max_entries).",
    kind: Kind::Gauge,
};
const RESPONSE_CACHE_WAITS: Family = Family {
    name: "switchyard_response_cache_waits_total",
    help: "Requests that waited for an identical request being answered upstream (request coalescing).",
    kind: Kind::Counter,
};
const RESPONSE_CACHE_EVICTED: Family = Family {
    name: "switchyard_response_cache_evicted_total",
    help: "Cached answers taken out after a bad label, by where the label came from (label: given to this replica; replica: published by another, [cache] shared).",
    kind: Kind::Counter,
};
const RESPONSE_CACHE_ENTRIES: Family = Family {
    name: "switchyard_response_cache_entries",
    help: "Answers in the response cache.",
    kind: Kind::Gauge,
};

const GUARDRAIL: Family = Family {
    name: "switchyard_guardrail_total",
    help: "Guardrail matches by kind (email, phone, card, iban, secret, deny) and action (mask: values masked; block: requests refused).",
    kind: Kind::Counter,
};

const EXPERIMENT: Family = Family {
    name: "switchyard_experiment_requests_total",
    help: "`auto` requests assigned to an A/B arm, by experiment and arm ([experiment]).",
    kind: Kind::Counter,
};

const DEPLOYMENT_ATTEMPTS: Family = Family {
    name: "switchyard_deployment_attempts_total",
    help: "Upstream attempts by model, provider and result (ok, or the error label such as circuit_open).",
    kind: Kind::Counter,
};
const FITTED: Family = Family {
    name: "switchyard_requests_fitted_total",
    help: "Upstream attempts whose body was fitted to what the model's API takes (parameters left out or renamed, tool-call ids replaced), by model.",
    kind: Kind::Counter,
};
const TOOL_LOOPS: Family = Family {
    name: "switchyard_tool_loop_requests_total",
    help: "`auto` requests that continued a tool loop on the model that made its calls ([router] tool_loop_affinity), by model.",
    kind: Kind::Counter,
};
const RULE_MATCHES: Family = Family {
    name: "switchyard_rule_matches_total",
    help: "Requests a [[rules]] entry matched, by rule name and action (pin, allow, deny).",
    kind: Kind::Counter,
};

const FAMILIES: [&Family; 37] = [
    &REQUESTS,
    &ERRORS,
    &UPSTREAM_LATENCY,
    &UPSTREAM_TTFT,
    &ROUTING,
    &COST,
    &TOKENS,
    &FAILOVERS,
    &ENCODER_QUEUE_WAIT,
    &CLASSIFIER_FALLBACK,
    &ENCODER_CACHE,
    &OUTCOME_LOG_DROPPED,
    &OUTCOME_LOG_PRUNED,
    &CIRCUIT_OPENED,
    &ROUTER_RELOADS,
    &REJECTED,
    &OUTCOME_COMMIT_WAIT,
    &KEY_REJECTIONS,
    &KEY_TABLE_READS,
    &REDIS_UNAVAILABLE,
    &JUDGE_SAMPLED,
    &JUDGE_DROPPED,
    &JUDGE_VERDICTS,
    &JUDGE_COST,
    &JUDGE_LATENCY,
    &RESPONSE_CACHE,
    &RESPONSE_CACHE_SAVED,
    &RESPONSE_CACHE_BYTES,
    &RESPONSE_CACHE_ENTRIES,
    &RESPONSE_CACHE_EVICTED,
    &RESPONSE_CACHE_WAITS,
    &GUARDRAIL,
    &EXPERIMENT,
    &DEPLOYMENT_ATTEMPTS,
    &RULE_MATCHES,
    &FITTED,
    &TOOL_LOOPS,
];

/// Histogram bucket upper bounds in seconds: sub-millisecond routing to minute-long streams
/// (a reasoning model's first token may take `timeouts.reasoning`, 4 minutes by default).
const BUCKETS: [f64; 19] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 240.0, 480.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The gateway's metrics registry.
#[derive(Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, family: &Family, labels: Labels, value: f64) {
        // A poisoned lock only means another thread panicked mid-update; the counts are
        // still usable.
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        *reg.counters.entry((family.name, labels)).or_insert(0.0) += value;
    }

    fn set(&self, family: &Family, labels: Labels, value: f64) {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.gauges.insert((family.name, labels), value);
    }

    fn observe(&self, family: &Family, labels: Labels, value: Duration) {
        let secs = value.as_secs_f64();
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let h = reg.histograms.entry((family.name, labels)).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// A request finished with `status` (an outcome status label) on `model` (`none` when no
    /// model was reached).
    pub fn request(&self, model: &str, status: &str) {
        self.add(
            &REQUESTS,
            vec![("model", model.to_owned()), ("status", status.to_owned())],
            1.0,
        );
    }

    /// An upstream attempt on `model` failed with `label`.
    pub fn upstream_error(&self, model: &str, label: &str) {
        self.add(
            &ERRORS,
            vec![("model", model.to_owned()), ("kind", label.to_owned())],
            1.0,
        );
    }

    /// A successful upstream call's latency and time to first token.
    pub fn upstream_latency(&self, model: &str, latency: Duration, ttft: Option<Duration>) {
        self.observe(
            &UPSTREAM_LATENCY,
            vec![("model", model.to_owned())],
            latency,
        );
        if let Some(ttft) = ttft {
            self.observe(&UPSTREAM_TTFT, vec![("model", model.to_owned())], ttft);
        }
    }

    /// Time spent routing.
    pub fn routing_time(&self, elapsed: Duration) {
        self.observe(&ROUTING, Vec::new(), elapsed);
    }

    /// Cost and tokens of a served request.
    pub fn usage(&self, model: &str, cost_usd: f64, input_tokens: u32, output_tokens: u32) {
        self.add(&COST, vec![("model", model.to_owned())], cost_usd.max(0.0));
        self.add(
            &TOKENS,
            vec![
                ("model", model.to_owned()),
                ("direction", "input".to_owned()),
            ],
            f64::from(input_tokens),
        );
        self.add(
            &TOKENS,
            vec![
                ("model", model.to_owned()),
                ("direction", "output".to_owned()),
            ],
            f64::from(output_tokens),
        );
    }

    /// Failover moved past `from_model`.
    pub fn failover(&self, from_model: &str) {
        self.add(&FAILOVERS, vec![("from_model", from_model.to_owned())], 1.0);
    }

    /// How long a routed prompt waited for the encoder.
    pub fn encoder_queue_wait(&self, wait: Duration) {
        self.observe(&ENCODER_QUEUE_WAIT, Vec::new(), wait);
    }

    /// Whether a routed prompt's embedding came from the encoder's cache.
    pub fn encoder_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.add(&ENCODER_CACHE, vec![("result", result.to_owned())], 1.0);
    }

    /// The static fallback was used because of `reason` (`queue_full`, `deadline`,
    /// `deadline_unmeetable`, `saturated`, `worker_gone`, `embed_error`).
    pub fn classifier_fallback(&self, reason: &'static str) {
        self.add(
            &CLASSIFIER_FALLBACK,
            vec![("reason", reason.to_owned())],
            1.0,
        );
    }

    /// An outcome row was dropped.
    pub fn outcome_log_dropped(&self) {
        self.add(&OUTCOME_LOG_DROPPED, Vec::new(), 1.0);
    }

    /// Retention deleted `rows` outcome rows for `reason` (`age` or `size`).
    pub fn outcome_log_pruned(&self, reason: &'static str, rows: usize) {
        self.add(
            &OUTCOME_LOG_PRUNED,
            vec![("reason", reason.to_owned())],
            rows as f64,
        );
    }

    /// A provider's circuit breaker opened.
    pub fn circuit_opened(&self, provider: &str) {
        self.add(
            &CIRCUIT_OPENED,
            vec![("provider", provider.to_owned())],
            1.0,
        );
    }

    /// A router artifact reload ended with `result` (`ok` or a refusal label).
    pub fn router_reload(&self, result: &'static str) {
        self.add(&ROUTER_RELOADS, vec![("result", result.to_owned())], 1.0);
    }

    /// A client request to `endpoint` was refused with the error `code` (a stable
    /// [`crate::ApiError::code`] label).
    pub fn rejected(&self, endpoint: &'static str, code: &'static str) {
        self.add(
            &REJECTED,
            vec![("endpoint", endpoint.to_owned()), ("code", code.to_owned())],
            1.0,
        );
    }

    /// An answer waited `wait` for its outcome row to be committed.
    pub fn outcome_commit_wait(&self, wait: Duration) {
        self.observe(&OUTCOME_COMMIT_WAIT, Vec::new(), wait);
    }

    /// The guardrails masked `count` values of `kind`, or refused a request (`action` is
    /// `mask` or `block`; `kind` a detector kind or `deny`).
    pub fn guardrail(&self, kind: &'static str, action: &'static str, count: u32) {
        self.add(
            &GUARDRAIL,
            vec![("kind", kind.to_owned()), ("action", action.to_owned())],
            f64::from(count),
        );
    }

    /// An `auto` request was assigned to `arm` of `experiment` (both names are checked config
    /// values, so the labels stay bounded).
    pub fn experiment_arm(&self, experiment: &str, arm: &str) {
        self.add(
            &EXPERIMENT,
            vec![
                ("experiment", experiment.to_owned()),
                ("arm", arm.to_owned()),
            ],
            1.0,
        );
    }

    /// An upstream attempt of `model` on `provider` ended with `result` (`ok` or an error
    /// label). Provider ids come from the config: the label stays bounded.
    pub fn deployment_attempt(&self, model: &str, provider: &str, result: &str) {
        self.add(
            &DEPLOYMENT_ATTEMPTS,
            vec![
                ("model", model.to_owned()),
                ("provider", provider.to_owned()),
                ("result", result.to_owned()),
            ],
            1.0,
        );
    }

    /// An attempt of `model` was sent a body fitted to what its API takes
    /// ([`crate::upstream::fit`]). Catalog ids: the label stays bounded.
    pub fn request_fitted(&self, model: &str) {
        self.add(&FITTED, vec![("model", model.to_owned())], 1.0);
    }

    /// An `auto` request continued a tool loop on `model`, which made its calls. Catalog
    /// ids: the label stays bounded.
    pub fn tool_loop_kept(&self, model: &str) {
        self.add(&TOOL_LOOPS, vec![("model", model.to_owned())], 1.0);
    }

    /// The `[[rules]]` entry `rule` matched a request and applied `action`. Rule names come
    /// from the config: the label stays bounded.
    pub fn rule_matched(&self, rule: &str, action: &'static str) {
        self.add(
            &RULE_MATCHES,
            vec![("rule", rule.to_owned()), ("action", action.to_owned())],
            1.0,
        );
    }

    /// A request was refused by a client-key rule (`reason` is one of a fixed set).
    pub fn key_rejected(&self, reason: &'static str) {
        self.add(&KEY_REJECTIONS, vec![("reason", reason.to_owned())], 1.0);
    }

    /// The gateway read the client-key table because of `trigger` (`poll` or `unknown_key`).
    pub fn key_table_read(&self, trigger: &'static str) {
        self.add(&KEY_TABLE_READS, vec![("trigger", trigger.to_owned())], 1.0);
    }

    /// A shared-limit Redis command failed during `op`; `action` is what followed.
    pub fn redis_unavailable(&self, op: &'static str, action: &'static str) {
        self.add(
            &REDIS_UNAVAILABLE,
            vec![("op", op.to_owned()), ("action", action.to_owned())],
            1.0,
        );
    }

    /// An answered request was drawn for judging.
    pub fn judge_sampled(&self) {
        self.add(&JUDGE_SAMPLED, Vec::new(), 1.0);
    }

    /// A sampled request was not judged because of `reason` (a fixed set).
    pub fn judge_dropped(&self, reason: &'static str) {
        self.add(&JUDGE_DROPPED, vec![("reason", reason.to_owned())], 1.0);
    }

    /// A judged request ended with `result` (a `JudgeResult` label) after `elapsed`.
    pub fn judge_verdict(&self, method: &'static str, result: &'static str, elapsed: Duration) {
        self.add(
            &JUDGE_VERDICTS,
            vec![("method", method.to_owned()), ("result", result.to_owned())],
            1.0,
        );
        self.observe(&JUDGE_LATENCY, Vec::new(), elapsed);
    }

    /// The judge spent `cost_usd` on `model`.
    pub fn judge_cost(&self, model: &str, cost_usd: f64) {
        if cost_usd.is_finite() && cost_usd > 0.0 {
            self.add(&JUDGE_COST, vec![("model", model.to_owned())], cost_usd);
        }
    }

    /// A request's response cache result (`hit`, `miss`, `bypass`); a hit saved `saved_usd`.
    pub fn response_cache(&self, result: &'static str, saved_usd: f64) {
        self.add(&RESPONSE_CACHE, vec![("result", result.to_owned())], 1.0);
        if saved_usd.is_finite() && saved_usd > 0.0 {
            self.add(&RESPONSE_CACHE_SAVED, Vec::new(), saved_usd);
        }
    }

    /// A request started waiting for an identical one in flight.
    pub fn response_cache_wait(&self) {
        self.add(&RESPONSE_CACHE_WAITS, Vec::new(), 1.0);
    }

    /// A cached answer was taken out after a bad label, given here (`label`) or published by
    /// another replica (`replica`).
    pub fn response_cache_evicted(&self, via: &'static str) {
        self.add(&RESPONSE_CACHE_EVICTED, vec![("via", via.to_owned())], 1.0);
    }

    /// The response cache's current size.
    pub fn response_cache_size(&self, entries: u64, bytes: u64) {
        // Precision loss past 2^53 entries or bytes is irrelevant for a gauge.
        self.set(&RESPONSE_CACHE_ENTRIES, Vec::new(), entries as f64);
        self.set(&RESPONSE_CACHE_BYTES, Vec::new(), bytes as f64);
    }

    /// The value of a counter series, for tests and diagnostics.
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.counters
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    /// The count and sum of a histogram's series, for tests and diagnostics.
    pub fn histogram_value(&self, name: &str, labels: &[(&str, &str)]) -> (u64, f64) {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.histograms
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .fold((0, 0.0), |(c, s), (_, h)| (c + h.count, s + h.sum))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for family in FAMILIES {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {kind}", family.name);
            if family.kind == Kind::Histogram {
                for ((_, labels), h) in reg
                    .histograms
                    .iter()
                    .filter(|((n, _), _)| *n == family.name)
                {
                    for (i, bound) in BUCKETS.iter().enumerate() {
                        let mut l = labels.clone();
                        l.push(("le", bound.to_string()));
                        let _ = writeln!(
                            out,
                            "{}_bucket{} {}",
                            family.name,
                            fmt_labels(&l),
                            h.counts[i]
                        );
                    }
                    let mut l = labels.clone();
                    l.push(("le", "+Inf".to_owned()));
                    let _ = writeln!(out, "{}_bucket{} {}", family.name, fmt_labels(&l), h.count);
                    let _ = writeln!(out, "{}_sum{} {}", family.name, fmt_labels(labels), h.sum);
                    let _ = writeln!(
                        out,
                        "{}_count{} {}",
                        family.name,
                        fmt_labels(labels),
                        h.count
                    );
                }
            } else {
                let series = match family.kind {
                    Kind::Gauge => &reg.gauges,
                    Kind::Counter | Kind::Histogram => &reg.counters,
                };
                for ((_, labels), v) in series.iter().filter(|((n, _), _)| *n == family.name) {
                    let _ = writeln!(out, "{}{} {}", family.name, fmt_labels(labels), v);
                }
            }
        }
        out
    }
}

fn fmt_labels(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.request("gpt-4o-mini", "ok");
        m.request("gpt-4o-mini", "ok");
        m.classifier_fallback("queue_full");
        m.upstream_latency(
            "a\"b",
            Duration::from_millis(30),
            Some(Duration::from_millis(3)),
        );
        let text = m.render();
        assert!(text.contains("switchyard_requests_total{model=\"gpt-4o-mini\",status=\"ok\"} 2"));
        assert!(text.contains("switchyard_classifier_fallback_total{reason=\"queue_full\"} 1"));
        assert!(text.contains(
            "switchyard_upstream_latency_seconds_bucket{model=\"a\\\"b\",le=\"0.05\"} 1"
        ));
        assert!(text.contains(
            "switchyard_upstream_latency_seconds_bucket{model=\"a\\\"b\",le=\"0.025\"} 0"
        ));
        assert!(text.contains("switchyard_upstream_ttft_seconds_count{model=\"a\\\"b\"} 1"));
        assert!(text.contains("# TYPE switchyard_routing_seconds histogram"));
        assert_eq!(
            m.counter_value("switchyard_requests_total", &[("status", "ok")]),
            2.0
        );
    }
}
