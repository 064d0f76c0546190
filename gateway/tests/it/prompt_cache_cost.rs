//! Prompt-cache pricing over loopback against the testkit fake: input tokens an upstream reports
//! read from its prompt cache cost the model's catalog `cache_read` multiple of the input price
//! (in the outcome row, the `x-switchyard-cost-usd` header and a budgeted key's spend), and
//! Anthropic's cache writes (`cache_creation_input_tokens`) its `cache_write` multiple, streamed
//! or not; a prompt longer than a model's long-context threshold is billed at its tier's prices.

use gateway::auth::{AuthClock, Budget, KeyStore, NewKey, Period};
use gateway::RunningGateway;
use router_core::{ModelId, ModelSpec, Outcome};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};

use crate::e2e_harness::{all_providers, config};

/// 2026-12-03 12:00 UTC: the budget's day.
const T0_MS: u64 = 1_796_299_200_000;

const BUDGET: Budget = Budget {
    limit_usd: 10.0,
    period: Period::Day,
};

struct Gw {
    fake: FakeProvider,
    gw: RunningGateway,
    key_id: String,
    key: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Gw {
    /// A gateway on the three dialects of one fake, with one key holding [`BUDGET`].
    async fn start() -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let (key_id, key) = {
            let mut store = KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
            let new = NewKey {
                name: "agents".to_owned(),
                budget: Some(BUDGET),
                ..NewKey::default()
            };
            let (record, key) = store.create(&new, T0_MS).unwrap();
            (record.id, key.expose().clone())
        };
        let fake = FakeProvider::start().await;
        let cfg = config(dir.path(), all_providers(&fake), &["gpt-4o-mini"], |_| {});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw = gateway::spawn_with_clock(cfg, listener, None, AuthClock::manual(T0_MS))
            .await
            .unwrap();
        Gw {
            fake,
            gw,
            key_id,
            key,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// `POST /v1/chat/completions` as the key.
    async fn chat(&self, model: &str, stream: bool) -> reqwest::Response {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "go on"}]});
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        let resp = self
            .client
            .post(format!(
                "http://{}/v1/chat/completions",
                self.gw.local_addr()
            ))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp
    }

    /// What the key has spent today, once every request has settled.
    async fn spent(&self) -> f64 {
        self.gw.wait_idle().await;
        let (spent, held) = self.gw.state().auth.ledger().usage(&self.key_id, BUDGET);
        assert_eq!(held, 0.0);
        spent
    }

    async fn rows(&self) -> Vec<Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).unwrap()
    }

    fn spec(&self, model: &str) -> ModelSpec {
        self.gw
            .state()
            .catalog
            .get(&ModelId::new(model))
            .unwrap()
            .spec
            .clone()
    }
}

/// USD of `uncached`, `read` and `written` input tokens and `output` tokens at `spec`'s prices,
/// reads and writes at its cache multipliers.
fn usd(spec: &ModelSpec, uncached: f64, read: f64, written: f64, output: f64) -> f64 {
    let input = uncached
        + read * spec.cache_read.unwrap_or(1.0)
        + written * spec.cache_write.unwrap_or(1.0);
    (input * spec.input_usd_per_mtok + output * spec.output_usd_per_mtok) / 1e6
}

/// The answer's `x-switchyard-cost-usd`.
fn cost_header(resp: &reqwest::Response) -> f64 {
    resp.headers()["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() < 1e-12, "{what}: {got} != {want}");
}

/// The rows' costs are `want`, in any order: rows of requests that start within the same
/// millisecond are read back in request-id order, not in the order they were sent.
fn row_costs(rows: &[Outcome], want: &[f64]) {
    let mut got: Vec<f64> = rows.iter().map(|r| r.cost_usd.unwrap()).collect();
    let mut want = want.to_vec();
    got.sort_by(f64::total_cmp);
    want.sort_by(f64::total_cmp);
    assert_eq!(got.len(), want.len(), "{rows:#?}");
    for (g, w) in got.into_iter().zip(want) {
        close(g, w, "a row's cost");
    }
}

fn json_200(body: Value) -> Scenario {
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string(),
    }
}

fn sse_200(body: String) -> Scenario {
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
        body,
    }
}

/// An OpenAI completion of 10,000 prompt tokens, `cached` of them read from the cache.
fn openai_answer(cached: Option<u32>) -> Scenario {
    let mut usage =
        json!({"prompt_tokens": 10_000, "completion_tokens": 100, "total_tokens": 10_100});
    if let Some(n) = cached {
        usage["prompt_tokens_details"] = json!({"cached_tokens": n});
    }
    json_200(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "fine"}}],
        "usage": usage,
    }))
}

/// The same answer streamed, its usage chunk last.
fn openai_stream(cached: u32) -> Scenario {
    let chunk = |choices: Value, usage: Value| {
        let c = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
                       "model": "gpt-4o-mini", "choices": choices, "usage": usage});
        format!("data: {c}\n\n")
    };
    sse_200(
        [
            chunk(
                json!([{"index": 0, "delta": {"role": "assistant", "content": "fine"}, "finish_reason": null}]),
                Value::Null,
            ),
            chunk(
                json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                Value::Null,
            ),
            chunk(
                json!([]),
                json!({"prompt_tokens": 10_000, "completion_tokens": 100, "total_tokens": 10_100,
                       "prompt_tokens_details": {"cached_tokens": cached}}),
            ),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat(),
    )
}

#[tokio::test]
async fn cached_prompt_tokens_log_a_lower_cost_and_settle_a_lower_spend() {
    let g = Gw::start().await;
    let spec = g.spec("gpt-4o-mini");
    let read = spec
        .cache_read
        .expect("the catalog prices gpt-4o-mini's cache reads");
    assert!(read < 1.0, "{read}");
    g.fake.script(
        "gpt-4o-mini",
        [
            openai_answer(None),
            openai_answer(Some(8_000)),
            openai_stream(8_000),
        ],
    );
    let full = usd(&spec, 10_000.0, 0.0, 0.0, 100.0);
    let cached = usd(&spec, 2_000.0, 8_000.0, 0.0, 100.0);
    assert!(cached < full);

    let resp = g.chat("gpt-4o-mini", false).await;
    let header = cost_header(&resp);
    assert!((header - full).abs() < 1e-8, "uncached header: {header}");
    close(g.spent().await, full, "spend after the uncached answer");

    let resp = g.chat("gpt-4o-mini", false).await;
    let header = cost_header(&resp);
    assert!((header - cached).abs() < 1e-8, "cached header: {header}");
    let body: Value = resp.json().await.unwrap();
    // The client sees the details as the upstream sent them.
    assert_eq!(
        body["usage"]["prompt_tokens_details"],
        json!({"cached_tokens": 8_000})
    );
    close(
        g.spent().await,
        full + cached,
        "spend after the cached answer",
    );

    let text = g.chat("gpt-4o-mini", true).await.text().await.unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    close(
        g.spent().await,
        full + 2.0 * cached,
        "spend after the cached stream",
    );

    let rows = g.rows().await;
    row_costs(&rows, &[full, cached, cached]);
    assert!(rows.iter().all(|r| r.input_tokens == Some(10_000)));
}

/// An Anthropic message of 1,000 uncached input tokens, 8,000 written to the cache and
/// `read` read from it.
fn anthropic_answer(written: u32, read: u32) -> Scenario {
    json_200(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "fine"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1_000, "cache_creation_input_tokens": written,
                  "cache_read_input_tokens": read, "output_tokens": 100}
    }))
}

/// The same message streamed: the cache counts in `message_start`, the output in
/// `message_delta`.
fn anthropic_stream(written: u32) -> Scenario {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    sse_200(
        [
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": "msg_2", "type": "message", "role": "assistant",
                    "model": "claude-haiku-4-5", "content": [],
                    "usage": {"input_tokens": 1_000, "cache_creation_input_tokens": written,
                              "cache_read_input_tokens": 0, "output_tokens": 1}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}),
            ),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": "fine"}}),
            ),
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 100}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ]
        .concat(),
    )
}

#[tokio::test]
async fn anthropic_cache_writes_are_logged_at_their_premium() {
    let g = Gw::start().await;
    let spec = g.spec("claude-haiku-4.5");
    let write = spec
        .cache_write
        .expect("the catalog prices Claude's cache writes");
    assert!(write > 1.0, "{write}");
    g.fake.script(
        "claude-haiku-4-5",
        [
            anthropic_answer(8_000, 0),
            anthropic_answer(0, 8_000),
            anthropic_stream(8_000),
        ],
    );
    let plain = usd(&spec, 9_000.0, 0.0, 0.0, 100.0);
    let writing = usd(&spec, 1_000.0, 0.0, 8_000.0, 100.0);
    let reading = usd(&spec, 1_000.0, 8_000.0, 0.0, 100.0);
    assert!(writing > plain && reading < plain);

    let body: Value = g
        .chat("claude-haiku-4.5", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], 9_000);
    assert_eq!(
        body["usage"]["prompt_tokens_details"],
        json!({"cached_tokens": 0, "cache_write_tokens": 8_000})
    );
    close(g.spent().await, writing, "spend after the cache write");

    let body: Value = g
        .chat("claude-haiku-4.5", false)
        .await
        .json()
        .await
        .unwrap();
    // No write: no `cache_write_tokens`, as before.
    assert_eq!(
        body["usage"]["prompt_tokens_details"],
        json!({"cached_tokens": 8_000})
    );

    let text = g.chat("claude-haiku-4.5", true).await.text().await.unwrap();
    assert!(text.contains("cache_write_tokens"), "{text}");
    close(
        g.spent().await,
        2.0 * writing + reading,
        "spend after the streamed cache write",
    );

    let rows = g.rows().await;
    row_costs(&rows, &[writing, reading, writing]);
    assert!(rows.iter().all(|r| r.input_tokens == Some(9_000)));
}

/// A Claude message of `input` uncached input tokens and 100 output tokens.
fn claude_long(model: &str, input: u32) -> Scenario {
    json_200(json!({
        "id": "msg_l", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "fine"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": input, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": 100}
    }))
}

/// Claude Haiku 5.5 costs five times as much once a prompt passes 100,000 tokens (its
/// overview; the catalog's `price_tiers`): the whole call is billed at that price, in the row,
/// the cost header and the key's spend.
#[tokio::test]
async fn a_prompt_past_the_long_context_threshold_is_billed_at_the_tier_price() {
    let g = Gw::start().await;
    let spec = g.spec("claude-haiku-5.5");
    let tier = *spec
        .price_tiers
        .first()
        .expect("the catalog prices Haiku 5.5's long prompts");
    assert_eq!(tier.above_input_tokens, 100_000);
    g.fake.script(
        "claude-haiku-5-5",
        [
            claude_long("claude-haiku-5-5", 100_000),
            claude_long("claude-haiku-5-5", 100_001),
        ],
    );
    let at_list = usd(&spec, 100_000.0, 0.0, 0.0, 100.0);
    let long = (100_001.0 * tier.input_usd_per_mtok + 100.0 * tier.output_usd_per_mtok) / 1e6;
    assert!(long > 4.9 * at_list, "{long} vs {at_list}");

    let mut headers = Vec::new();
    for _ in 0..2 {
        let resp = g.chat("claude-haiku-5.5", false).await;
        headers.push(cost_header(&resp));
    }
    assert!(
        (headers[0] - at_list).abs() < 1e-8,
        "at the threshold: {headers:?}"
    );
    assert!((headers[1] - long).abs() < 1e-8, "past it: {headers:?}");
    close(g.spent().await, at_list + long, "spend");
    row_costs(&g.rows().await, &[at_list, long]);
}

/// The judge's calls (`upstream::complete`, as `onboard --live`'s) are priced the same way.
#[tokio::test]
async fn a_judge_verdict_read_from_the_cache_costs_less() {
    let fake = FakeProvider::start().await;
    fake.always("gpt-4o-mini", Scenario::reply("Paris."));
    let verdict = |cached: u32| {
        json_200(json!({
            "id": "chatcmpl-j", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "{\"score\": 0.8}"}}],
            "usage": {"prompt_tokens": 1_000, "completion_tokens": 5, "total_tokens": 1_005,
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }))
    };
    fake.script("gpt-4o", [verdict(0), verdict(800)]);
    let dir = tempfile::tempdir().unwrap();
    let gw = crate::judge::start_with(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\n",
        |_| {},
    )
    .await;
    for prompt in ["What is the capital of France?", "And of Italy?"] {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
            .json(&json!({"model": "gpt-4o-mini",
                          "messages": [{"role": "user", "content": prompt}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // One at a time, so that the verdicts come in order.
        gw.wait_idle().await;
    }
    gw.outcome_log().flush().await;
    let spec = gw
        .state()
        .catalog
        .get(&ModelId::new("gpt-4o"))
        .unwrap()
        .spec
        .clone();
    let calls = gateway::outcome::read_judge_calls(gw.outcome_log().location()).unwrap();
    let costs: Vec<f64> = calls.iter().map(|c| c.cost_usd).collect();
    assert_eq!(costs.len(), 2, "{calls:?}");
    close(
        costs[0],
        usd(&spec, 1_000.0, 0.0, 0.0, 5.0),
        "uncached verdict",
    );
    close(
        costs[1],
        usd(&spec, 200.0, 800.0, 0.0, 5.0),
        "cached verdict",
    );
    assert!(costs[1] < costs[0]);
}
