//! What the gateway answers when something the request needs is missing: a capability no
//! allowed model has (400 `capability_unavailable`, no upstream call), and an outcome log
//! that cannot commit the row (`[log] on_unavailable`: `fail_closed` withholds the answer,
//! `fail_open` serves it and counts the dropped row).

use gateway::config::LogUnavailable;
use router_core::OutcomeStatus;
use serde_json::{json, Value};

use crate::e2e_harness::{chat_body, done_chunks, header, openai_error, sse_data, Harness};

fn image_request(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]})
}

#[tokio::test]
async fn issue_11_a_capability_no_candidate_has_is_a_400_without_an_upstream_call() {
    // o3-mini and gpt-3.5-turbo take no images; claude-haiku-4.5 has no JSON mode.
    let h = Harness::with(&["o3-mini", "gpt-3.5-turbo", "claude-haiku-4.5"], |_| {}).await;
    // `auto` with an image and a JSON answer: no candidate has both.
    let mut both = image_request("auto");
    both["response_format"] = json!({"type": "json_object"});
    let err = openai_error(h.chat(&both).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("vision"), "{message}");
    assert!(message.contains("json_mode"), "{message}");
    // A named model without the capability: the same 400, not a call that fails upstream.
    let err = openai_error(h.chat(&image_request("o3-mini")).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    assert!(err["message"].as_str().unwrap().contains("vision"), "{err}");
    let mut json_mode = chat_body("claude-haiku-4.5", true, "list three colours");
    json_mode["response_format"] = json!({"type": "json_object"});
    let err = openai_error(h.chat(&json_mode).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    // /v1/route explains the same way.
    let resp = h.post_json("/v1/route", &image_request("auto")).await;
    let mut images_and_json = image_request("auto");
    images_and_json["response_format"] = json!({"type": "json_object"});
    assert_eq!(resp.status(), 200, "claude-haiku-4.5 takes images");
    let err = openai_error(h.post_json("/v1/route", &images_and_json).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    // An image with the models that take one still works.
    let ok = h.chat(&image_request("auto")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "x-switchyard-model"), "claude-haiku-4.5");

    assert_eq!(
        h.fake.requests().len(),
        1,
        "only the servable request reached an upstream"
    );
    let rows = h.rows().await;
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == OutcomeStatus::Rejected)
            .count(),
        3
    );
    h.stop().await;
}

/// Moves the `outcomes` table aside until released, so that the gateway's commits fail at
/// once (the log "unavailable", as a full disk or a broken file would make it).
struct TableAway(rusqlite::Connection);

impl TableAway {
    fn take(h: &Harness) -> TableAway {
        let conn = rusqlite::Connection::open(h.gw.outcome_log().sqlite_path().unwrap()).unwrap();
        conn.execute_batch("ALTER TABLE outcomes RENAME TO outcomes_away")
            .unwrap();
        TableAway(conn)
    }

    fn release(self) {
        self.0
            .execute_batch("ALTER TABLE outcomes_away RENAME TO outcomes")
            .unwrap();
    }
}

fn dropped(h: &Harness) -> f64 {
    h.gw.metrics()
        .counter_value("switchyard_outcome_log_dropped_total", &[])
}

#[tokio::test]
async fn issue_11_fail_closed_withholds_answers_whose_row_cannot_be_committed() {
    let h = Harness::openai_with(|c| c.log.on_unavailable = LogUnavailable::FailClosed).await;
    assert_eq!(
        h.chat(&chat_body("gpt-4o-mini", false, "hi"))
            .await
            .status(),
        200
    );

    let lock = TableAway::take(&h);
    // Non-streamed: the upstream answered, but the client gets a 503 instead of an answer
    // nobody could account for.
    let err = openai_error(h.chat(&chat_body("gpt-4o-mini", false, "hi")).await, 503).await;
    assert_eq!(err["code"], "outcome_log_unavailable", "{err}");
    // Streamed: the chunks went out, but the stream ends with an error event, never `[DONE]`.
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    assert!(!data.iter().any(|d| d == "[DONE]"), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "outcome_log_unavailable", "{last}");
    // A client's mistake keeps its 400: nothing was served, and a 503 would be retried.
    let mut bad = chat_body("gpt-4o-mini", false, "hi");
    bad["temperature"] = json!(9);
    openai_error(h.chat(&bad).await, 400).await;
    assert_eq!(dropped(&h), 3.0);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 3, "both answers were fetched");
    lock.release();

    // The log is back: answers flow again, and only committed rows exist.
    assert_eq!(
        h.chat(&chat_body("gpt-4o-mini", false, "hi"))
            .await
            .status(),
        200
    );
    let rows = h.rows().await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status == OutcomeStatus::Ok));
    h.stop().await;
}

#[tokio::test]
async fn issue_11_fail_open_serves_answers_and_counts_the_dropped_rows() {
    let h = Harness::openai_with(|c| c.log.on_unavailable = LogUnavailable::FailOpen).await;
    let lock = TableAway::take(&h);
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    done_chunks(&resp.text().await.unwrap());
    assert_eq!(dropped(&h), 2.0);
    lock.release();
    assert!(
        h.rows().await.is_empty(),
        "both rows were dropped, none half-written"
    );
    h.stop().await;
}
