//! A bad label takes a cached answer out of the response cache (`[cache] evict_below`), over
//! loopback against the testkit fake: a client's `/v1/feedback` on a replay or on the request
//! that made the answer, and the judge's score; a good label keeps it. Before, a thumbs-down
//! was stored for training while the same wrong answer kept being replayed for the whole TTL.

use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};

use crate::cache::{body, cache_header, content, start, Cached};
use crate::e2e_harness::header;

const MODEL: &str = "gpt-4o-mini";

/// Asks the cached gateway the same deterministic question; (cache header, request id, text).
async fn ask(h: &Cached) -> (String, String, String) {
    let resp = h
        .chat(&body("What is the capital of Australia?", 0.0), &[])
        .await;
    assert_eq!(resp.status(), 200);
    let served = cache_header(&resp);
    let id = header(&resp, "x-switchyard-request-id").to_owned();
    (served, id, content(resp).await)
}

async fn label(client: &reqwest::Client, base: &str, request_id: &str, score: f64) -> Value {
    let resp = client
        .post(format!("{base}/v1/feedback"))
        .json(&json!({"request_id": request_id, "metric": "correct", "score": score}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_bad_label_on_a_replay_sends_the_next_request_upstream() {
    let h = start(&[], |_| {}).await;
    h.fake.script(
        MODEL,
        [Scenario::reply("Sydney"), Scenario::reply("Canberra")],
    );
    let base = h.url("");

    let (served, _, wrong) = ask(&h).await;
    assert_eq!((served.as_str(), wrong.as_str()), ("miss", "Sydney"));
    let (served, replay, text) = ask(&h).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Sydney"));

    // The client marks the replayed answer wrong: the next request goes upstream.
    label(&h.client, &base, &replay, 0.0).await;
    let (served, fresh, text) = ask(&h).await;
    assert_eq!((served.as_str(), text.as_str()), ("miss", "Canberra"));
    assert_eq!(h.fake.calls(MODEL), 2);

    // A good label keeps the fresh answer, on its source as on a replay of it.
    label(&h.client, &base, &fresh, 1.0).await;
    let (served, again, text) = ask(&h).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Canberra"));
    label(&h.client, &base, &again, 0.5).await;
    assert_eq!(ask(&h).await.0, "hit", "0.5 is not below the default bar");
    assert_eq!(h.fake.calls(MODEL), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_bad_label_on_the_request_that_made_the_answer_evicts_it_unless_turned_off() {
    for evict_below in [0.5, 0.0] {
        let h = start(&[], |raw| raw.cache.evict_below = evict_below).await;
        h.fake.script(
            MODEL,
            [Scenario::reply("Sydney"), Scenario::reply("Canberra")],
        );
        let (served, source, _) = ask(&h).await;
        assert_eq!(served, "miss");
        label(&h.client, &h.url(""), &source, 0.0).await;
        let (served, _, text) = ask(&h).await;
        if evict_below > 0.0 {
            assert_eq!((served.as_str(), text.as_str()), ("miss", "Canberra"));
        } else {
            assert_eq!((served.as_str(), text.as_str()), ("hit", "Sydney"), "off");
        }
        h.stop().await;
    }
}

/// The judge's bad score takes the answer it judged out of the cache.
#[tokio::test]
async fn a_bad_score_from_the_judge_evicts_the_answer() {
    let fake = FakeProvider::start().await;
    fake.script(
        MODEL,
        [Scenario::reply("Sydney"), Scenario::reply("Canberra")],
    );
    fake.always("gpt-4o", Scenario::reply("{\"score\": 0.1}"));
    let dir = tempfile::tempdir().unwrap();
    let gw = crate::judge::start_with(
        &fake,
        dir.path(),
        "model = \"gpt-4o\"\nsample_rate = 1.0\ndaily_budget_usd = 1.0\n",
        |raw| raw.cache.enabled = true,
    )
    .await;
    let client = reqwest::Client::new();
    let ask = || async {
        let resp = client
            .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
            .json(&body("What is the capital of Australia?", 0.0))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let served = cache_header(&resp);
        (served, content(resp).await)
    };
    assert_eq!(ask().await, ("miss".to_owned(), "Sydney".to_owned()));
    // The judge runs after the answer; its label is stored once the gateway is idle.
    gw.wait_idle().await;
    gw.outcome_log().flush().await;
    assert_eq!(ask().await, ("miss".to_owned(), "Canberra".to_owned()));
    assert_eq!(fake.calls(MODEL), 2);
    gw.shutdown().await.unwrap();
    fake.shutdown().await;
}
