//! Issue 14, the judge: the testkit fake serves both the routed model (`gpt-4o-mini`) and the
//! judge (`gpt-4o`), with scripted judge replies (a valid score, garbage, an error, a held
//! reply) over loopback HTTP.

use gateway::config::GatewayConfig;
use gateway::outcome::read_judge_calls;
use gateway::RunningGateway;
use router_core::{Feedback, FeedbackSource};
use serde_json::{json, Value};
use testkit::{FakeProvider, Release, Scenario, Usage};

use crate::common::{self, provider, sse_data};

const JUDGE: &str = "gpt-4o";
const ROUTED: &str = "gpt-4o-mini";

/// A gateway whose `[judge]` section is `judge` (TOML lines after `[judge]`).
async fn start(fake: &FakeProvider, dir: &std::path::Path, judge: &str) -> RunningGateway {
    start_with(fake, dir, judge, |_| {}).await
}

/// [`start`] with more settings (`tweak`) applied to the config.
pub(crate) async fn start_with(
    fake: &FakeProvider,
    dir: &std::path::Path,
    judge: &str,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> RunningGateway {
    let section = GatewayConfig::from_toml_str(
        &format!("[judge]\n{judge}"),
        std::path::Path::new("judge.toml"),
    )
    .unwrap();
    let cfg = common::config(
        dir,
        vec![provider("openai", &fake.openai_base_url())],
        |raw| {
            raw.judge = section.judge;
            tweak(raw);
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::spawn(cfg, listener, None).await.unwrap()
}

async fn ask(gw: &RunningGateway, prompt: &str, stream: bool, reference: Option<&str>) -> String {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .json(&json!({
            "model": ROUTED,
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }));
    if let Some(r) = reference {
        req = req.header("x-switchyard-reference-answer", r);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.text().await.unwrap();
    if stream {
        assert_eq!(sse_data(&body).last().map(String::as_str), Some("[DONE]"));
    }
    id
}

async fn feedback_of(gw: &RunningGateway, request_id: &str) -> Vec<Feedback> {
    gw.wait_idle().await;
    gw.outcome_log().flush().await;
    gateway::read_outcomes(gw.outcome_log().location())
        .unwrap()
        .into_iter()
        .find(|o| o.request_id == request_id)
        .unwrap()
        .feedback
}

/// A verdict of 1000 input and 200 output tokens of gpt-4o: 0.0045 USD.
fn priced_verdict() -> Scenario {
    Scenario::reply_with_usage(
        "{\"score\": 0.7}",
        Usage {
            input_tokens: 1000,
            output_tokens: 200,
        },
    )
}

fn counter(gw: &RunningGateway, name: &str, labels: &[(&str, &str)]) -> f64 {
    gw.metrics().counter_value(name, labels)
}

#[tokio::test]
async fn issue_14_judge_labels_become_feedback_rows_with_source_judge() {
    let fake = FakeProvider::start().await;
    fake.always(ROUTED, Scenario::reply("Paris is the capital of France."));
    fake.script(
        JUDGE,
        [
            Scenario::reply_with_usage(
                "{\"score\": 0.8}",
                Usage {
                    input_tokens: 100,
                    output_tokens: 5,
                },
            ),
            Scenario::reply("What a lovely answer, 9/10!"),
            Scenario::status(500),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\n",
    )
    .await;

    // A valid verdict on a non-streamed answer is stored as a judge label.
    let scored = ask(&gw, "What is the capital of France?", false, None).await;
    assert_eq!(
        feedback_of(&gw, &scored).await,
        vec![Feedback::judge("correct", 0.8)]
    );
    // The judge saw the prompt and the answer, through the same provider (with its key).
    let judge_req = fake
        .requests()
        .into_iter()
        .find(|r| r.model.as_deref() == Some(JUDGE))
        .unwrap();
    let sent = judge_req.body.to_string();
    assert!(
        sent.contains("What is the capital of France?") && sent.contains("Paris is the capital")
    );
    assert!(judge_req.header("authorization").is_some());

    // Garbage on a streamed answer and an upstream error: counted, nothing stored.
    let garbled = ask(&gw, "Name a colour.", true, None).await;
    assert!(feedback_of(&gw, &garbled).await.is_empty());
    let failed = ask(&gw, "Name a fruit.", false, None).await;
    assert!(feedback_of(&gw, &failed).await.is_empty());

    let verdicts = "switchyard_judge_verdicts_total";
    assert_eq!(counter(&gw, verdicts, &[("result", "stored")]), 1.0);
    assert_eq!(counter(&gw, verdicts, &[("result", "garbage")]), 1.0);
    assert_eq!(counter(&gw, verdicts, &[("result", "error")]), 1.0);
    assert_eq!(counter(&gw, "switchyard_judge_sampled_total", &[]), 3.0);

    // Every judged request has an accounting row with its cost; the judge's own traffic
    // adds no outcome row.
    let calls = read_judge_calls(gw.outcome_log().location()).unwrap();
    let results: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.request_id.as_str(), c.result.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            (scored.as_str(), "stored"),
            (garbled.as_str(), "garbage"),
            (failed.as_str(), "error")
        ]
    );
    let expected_cost = (100.0 * 2.5 + 5.0 * 10.0) / 1e6;
    assert!((calls[0].cost_usd - expected_cost).abs() < 1e-12);
    assert!(calls[1].cost_usd > 0.0, "garbage was paid for too");
    assert_eq!(calls[2].cost_usd, 0.0);
    assert_eq!(calls[0].judge_model.as_deref(), Some(JUDGE));
    let cost = counter(&gw, "switchyard_judge_cost_usd_total", &[("model", JUDGE)]);
    assert!((cost - calls[0].cost_usd - calls[1].cost_usd).abs() < 1e-12);
    assert_eq!(
        gateway::read_outcomes(gw.outcome_log().location())
            .unwrap()
            .len(),
        3
    );
    let text = gw.metrics().render();
    assert!(
        text.contains("switchyard_judge_verdicts_total{method=\"absolute\",result=\"stored\"} 1")
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_human_feedback_wins_over_the_judge() {
    let fake = FakeProvider::start().await;
    let release = Release::new();
    fake.script(
        JUDGE,
        [
            Scenario::reply("{\"score\": 0.9}"),
            Scenario::held(&release, "{\"score\": 0.9}"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\n",
    )
    .await;
    let client = reqwest::Client::new();
    let post = |id: &str, score: f64| {
        client
            .post(format!("http://{}/v1/feedback", gw.local_addr()))
            .json(&json!({"request_id": id, "metric": "correct", "score": score}))
            .send()
    };

    // The judge labelled first: a human label replaces it, and says so.
    let first = ask(&gw, "Is 7 prime?", false, None).await;
    assert_eq!(
        feedback_of(&gw, &first).await,
        vec![Feedback::judge("correct", 0.9)]
    );
    let resp = post(&first, 0.0).await.unwrap();
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["replaced"]["source"], "judge");
    assert_eq!(
        feedback_of(&gw, &first).await,
        vec![Feedback::human("correct", 0.0)]
    );
    // A second human label is still refused (the first one wins).
    assert_eq!(post(&first, 1.0).await.unwrap().status(), 409);

    // The human labelled first (the judge's reply is held until then): the judge's label is
    // not stored and the call is recorded as superseded.
    let second = ask(&gw, "Is 9 prime?", false, None).await;
    assert_eq!(post(&second, 0.0).await.unwrap().status(), 202);
    release.open();
    let labels = feedback_of(&gw, &second).await;
    assert_eq!(labels, vec![Feedback::human("correct", 0.0)]);
    assert_eq!(labels[0].source, FeedbackSource::Human);
    assert_eq!(
        counter(
            &gw,
            "switchyard_judge_verdicts_total",
            &[("result", "superseded")]
        ),
        1.0
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_a_slow_judge_never_holds_the_client_and_a_full_queue_drops() {
    let fake = FakeProvider::start().await;
    let release = Release::new();
    fake.script(
        JUDGE,
        [
            Scenario::held(&release, "{\"score\": 1}"),
            Scenario::reply("{\"score\": 0.5}"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\nconcurrency = 1\nqueue_capacity = 1\n",
    )
    .await;
    // The first judge call is held: one request runs, one waits, the next two are dropped,
    // and every client gets its answer meanwhile.
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(ask(&gw, &format!("Question {i}?"), i % 2 == 1, None).await);
    }
    assert_eq!(
        counter(
            &gw,
            "switchyard_judge_dropped_total",
            &[("reason", "queue_full")]
        ),
        2.0
    );
    release.open();
    assert_eq!(
        feedback_of(&gw, &ids[0]).await,
        vec![Feedback::judge("correct", 1.0)]
    );
    assert_eq!(
        feedback_of(&gw, &ids[1]).await,
        vec![Feedback::judge("correct", 0.5)]
    );
    assert!(feedback_of(&gw, &ids[2]).await.is_empty());
    assert_eq!(fake.calls(JUDGE), 2);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_shutdown_does_not_wait_for_a_held_judge() {
    let fake = FakeProvider::start().await;
    let release = Release::new();
    fake.always(JUDGE, Scenario::held(&release, "{\"score\": 1}"));
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\nconcurrency = 1\n",
    )
    .await;
    let first = ask(&gw, "One?", false, None).await;
    ask(&gw, "Two?", false, None).await;
    // The first judge call is on its way (held at the fake) before shutdown starts.
    let sent = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while fake.calls(JUDGE) == 0 && tokio::time::Instant::now() < sent {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(fake.calls(JUDGE), 1);
    let metrics = gw.metrics().clone();
    let location = gw.outcome_log().location().clone();
    // Returns although the judge call never answers: the running call is aborted and the
    // waiting request abandoned, both counted.
    gw.shutdown().await.unwrap();
    assert_eq!(
        metrics.counter_value("switchyard_judge_dropped_total", &[("reason", "shutdown")]),
        2.0
    );
    // The aborted call was sent and may be billed: its reservation is logged as spent, so a
    // restart does not hand the day's budget back. The waiting one sent nothing.
    let calls = read_judge_calls(location).unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].request_id, first);
    assert_eq!(calls[0].result.as_str(), "error");
    assert!(calls[0].cost_usd > 0.0, "{calls:?}");
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 0.0\ndaily_budget_usd = 1.0\n",
    )
    .await;
    let spent = gw.state().judge.as_ref().unwrap().spent_today();
    assert!((spent - calls[0].cost_usd).abs() < 1e-12, "{spent}");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_the_daily_budget_stops_judging_and_survives_a_restart() {
    let fake = FakeProvider::start().await;
    // 1000 input and 200 output tokens of gpt-4o: 0.0045 USD per verdict.
    fake.always(JUDGE, priced_verdict());
    let dir = tempfile::tempdir().unwrap();
    let judge = "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 0.006\n";
    let gw = start(&fake, dir.path(), judge).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(ask(&gw, &format!("Budget question {i}?"), false, None).await);
        gw.wait_idle().await;
    }
    // The first verdict spent 0.0045; the next one's worst case (a full-length verdict)
    // would pass 0.006, so judging stopped.
    assert_eq!(fake.calls(JUDGE), 1);
    assert_eq!(
        counter(
            &gw,
            "switchyard_judge_dropped_total",
            &[("reason", "budget")]
        ),
        2.0
    );
    assert_eq!(feedback_of(&gw, &ids[0]).await.len(), 1);
    assert!(feedback_of(&gw, &ids[2]).await.is_empty());
    let spent = gw.state().judge.as_ref().unwrap().spent_today();
    assert!((spent - 0.0045).abs() < 1e-12, "{spent}");
    gw.shutdown().await.unwrap();

    // A restart resumes the day's spend from the log.
    let gw = start(&fake, dir.path(), judge).await;
    let spent = gw.state().judge.as_ref().unwrap().spent_today();
    assert!((spent - 0.0045).abs() < 1e-12, "{spent}");
    ask(&gw, "After the restart?", false, None).await;
    gw.wait_idle().await;
    assert_eq!(fake.calls(JUDGE), 1);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_reference_answers_are_checked_without_the_judge() {
    let fake = FakeProvider::start().await;
    fake.script(
        ROUTED,
        [
            Scenario::reply("17 + 25 = 42\n#### 42"),
            Scenario::reply("17 + 25 = 41\n#### 41"),
            Scenario::reply("The answer is 42."),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    // Sampling is off: only requests with a reference answer are scored, and for free.
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 0.0\ndaily_budget_usd = 0.0\n",
    )
    .await;
    let right = ask(&gw, "What is 17 + 25?", false, Some("42")).await;
    let wrong = ask(&gw, "What is 17 + 25?", false, Some("42")).await;
    let unlabelled = ask(&gw, "What is 17 + 25?", true, None).await;
    assert_eq!(
        feedback_of(&gw, &right).await,
        vec![Feedback::judge("correct", 1.0)]
    );
    assert_eq!(
        feedback_of(&gw, &wrong).await,
        vec![Feedback::judge("correct", 0.0)]
    );
    assert!(feedback_of(&gw, &unlabelled).await.is_empty());
    assert_eq!(fake.calls(JUDGE), 0);
    let calls = read_judge_calls(gw.outcome_log().location()).unwrap();
    assert!(calls
        .iter()
        .all(|c| c.method == "reference" && c.cost_usd == 0.0));
    assert_eq!(calls.len(), 2);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_14_pairwise_compares_with_the_reference_model() {
    let fake = FakeProvider::start().await;
    fake.always(ROUTED, Scenario::reply("routed answer text"));
    fake.always("gpt-4.1", Scenario::reply("reference answer text"));
    fake.script(JUDGE, [Scenario::reply("{\"winner\": \"tie\"}")]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nrubric = \"pairwise\"\nreference_model = \"gpt-4.1\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\nseed = 3\n",
    )
    .await;
    let id = ask(&gw, "Explain tides briefly.", false, None).await;
    assert_eq!(
        feedback_of(&gw, &id).await,
        vec![Feedback::judge("correct", 0.5)]
    );
    // The reference model answered the same prompt, and the judge saw both answers.
    assert_eq!(fake.calls("gpt-4.1"), 1);
    let judge_req = fake
        .requests()
        .into_iter()
        .find(|r| r.model.as_deref() == Some(JUDGE))
        .unwrap()
        .body
        .to_string();
    assert!(
        judge_req.contains("routed answer text") && judge_req.contains("reference answer text")
    );
    let calls = read_judge_calls(gw.outcome_log().location()).unwrap();
    assert_eq!(calls[0].method, "pairwise");
    assert!(calls[0].cost_usd > 0.0);
    gw.shutdown().await.unwrap();
}

/// A reference model that answers nothing (a reasoning model spending its whole output limit
/// on reasoning) leaves nothing to compare with: the call is an error with the reference's
/// cost, and the judge is not paid to compare an answer with an empty one.
#[tokio::test]
async fn pairwise_with_an_empty_reference_answer_is_an_error_without_a_verdict() {
    let fake = FakeProvider::start().await;
    fake.always(ROUTED, Scenario::reply("routed answer text"));
    fake.always(
        "gpt-4.1",
        Scenario::reply_with_usage(
            "",
            Usage {
                input_tokens: 50,
                output_tokens: 256,
            },
        ),
    );
    fake.always(JUDGE, Scenario::reply("{\"winner\": \"A\"}"));
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nrubric = \"pairwise\"\nreference_model = \"gpt-4.1\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\nseed = 3\n",
    )
    .await;
    let id = ask(&gw, "Explain tides briefly.", false, None).await;
    assert!(feedback_of(&gw, &id).await.is_empty());
    assert_eq!(fake.calls("gpt-4.1"), 1);
    assert_eq!(
        fake.calls(JUDGE),
        0,
        "the judge compared with an empty answer"
    );
    let calls = read_judge_calls(gw.outcome_log().location()).unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].request_id, id);
    assert_eq!(calls[0].result.as_str(), "error");
    assert_eq!(calls[0].method, "pairwise");
    assert!(calls[0].cost_usd > 0.0, "the reference call was paid for");
    assert_eq!(calls[0].score, None);
    let spent = gw.state().judge.as_ref().unwrap().spent_today();
    assert!((spent - calls[0].cost_usd).abs() < 1e-12, "{spent}");
    gw.shutdown().await.unwrap();
}

/// Reference answers are often not ASCII (`café`, a typographic minus): they are read as
/// UTF-8 and checked, not dropped for a sampled, paid verdict.
#[tokio::test]
async fn utf8_reference_answers_are_checked() {
    let fake = FakeProvider::start().await;
    fake.script(
        ROUTED,
        [
            Scenario::reply("The answer is café."),
            Scenario::reply("x = 5 − 8\n#### −3"),
            Scenario::reply("The answer is tea."),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 0.0\ndaily_budget_usd = 0.0\n",
    )
    .await;
    let cafe = ask(&gw, "Name a French word for coffee.", false, Some("café")).await;
    let minus = ask(&gw, "What is 5 − 8?", true, Some("−3")).await;
    let wrong = ask(&gw, "Name a French word for coffee.", false, Some("café")).await;
    assert_eq!(
        feedback_of(&gw, &cafe).await,
        vec![Feedback::judge("correct", 1.0)]
    );
    assert_eq!(
        feedback_of(&gw, &minus).await,
        vec![Feedback::judge("correct", 1.0)]
    );
    assert_eq!(
        feedback_of(&gw, &wrong).await,
        vec![Feedback::judge("correct", 0.0)]
    );
    assert_eq!(fake.calls(JUDGE), 0);
    let calls = read_judge_calls(gw.outcome_log().location()).unwrap();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.method == "reference"));
    gw.shutdown().await.unwrap();
}

/// With `[redis]`, replicas draw on one daily judge budget: what one replica spent counts
/// against the other's next verdict.
#[tokio::test]
async fn replicas_share_the_judges_daily_budget() {
    let Some(redis) = testkit::redis::RedisServer::start() else {
        return;
    };
    let fake = FakeProvider::start().await;
    // 0.0045 USD per verdict against 0.006 a day: one verdict fits, for all replicas together.
    fake.always(JUDGE, priced_verdict());
    let section = GatewayConfig::from_toml_str(
        "[judge]\nmodel = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 0.006\n",
        std::path::Path::new("judge.toml"),
    )
    .unwrap();
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let judge = section.judge.clone();
        let cfg = common::config(
            dir.path(),
            vec![provider("openai", &fake.openai_base_url())],
            |raw| {
                raw.judge = judge;
                raw.redis = Some(crate::common::redis(redis.url(), "judged:"));
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        replicas.push(gateway::spawn(cfg, listener, None).await.unwrap());
        dirs.push(dir);
    }
    ask(&replicas[0], "Shared budget, first replica?", false, None).await;
    replicas[0].wait_idle().await;
    assert_eq!(fake.calls(JUDGE), 1);
    let id = ask(&replicas[1], "Shared budget, second replica?", false, None).await;
    replicas[1].wait_idle().await;
    assert_eq!(
        fake.calls(JUDGE),
        1,
        "the second replica judged past the shared budget"
    );
    assert!(feedback_of(&replicas[1], &id).await.is_empty());
    assert_eq!(
        counter(
            &replicas[1],
            "switchyard_judge_dropped_total",
            &[("reason", "budget")]
        ),
        1.0
    );
    for gw in replicas {
        gw.shutdown().await.unwrap();
    }
}

/// The judge waits out its model's rate-limit cool-down (set by client traffic a moment
/// before) instead of losing the verdict: it runs off every request's path.
#[tokio::test]
async fn the_judge_waits_for_its_model_to_cool_down() {
    let fake = FakeProvider::start().await;
    fake.always(ROUTED, Scenario::reply("Paris."));
    fake.script(
        JUDGE,
        [
            Scenario::rate_limited(std::time::Duration::from_secs(2)),
            Scenario::reply("{\"score\": 0.9}"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start_with(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\n",
        // The client gets the 429 at once; the model then cools down for its 2 s.
        |raw| raw.retries.honour_retry_after = false,
    )
    .await;
    // gpt-4o answers 429 and cools down; the request fails over to gpt-4o-mini, whose answer
    // the judge (gpt-4o) then grades once the cool-down is over.
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .json(&json!({"model": JUDGE, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-model"], ROUTED);
    let judged = resp.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        feedback_of(&gw, &judged).await,
        vec![Feedback::judge("correct", 0.9)]
    );
    assert_eq!(fake.calls(JUDGE), 2);
    gw.shutdown().await.unwrap();
}
