//! Issue 11's last leftovers, each against the real gateway on loopback with the testkit fake:
//! a named model whose provider is not configured (404, not a retried 503), the outcome
//! writer's SQLite busy wait bounded by `[log] commit_timeout`, CORS for the `x-switchyard-*`
//! headers, and HTTP/2 cleartext.

use std::time::Duration;

use gateway::config::LogUnavailable;
use gateway::upstream::ProviderKind;
use router_core::OutcomeStatus;
use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::{chat_body, done_chunks, openai_error, provider, sse_data, Harness};

fn messages_body(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn a_named_model_of_an_unconfigured_provider_is_a_404_naming_the_fix() {
    let fake = FakeProvider::start().await;
    // `openai` is configured but its key variable is unset; `anthropic` has no entry at all.
    let mut openai = provider("openai", ProviderKind::Openai, &fake.openai_base_url());
    openai.api_key_env = Some("SWITCHYARD_E2E_UNSET".to_owned());
    let google = provider("google", ProviderKind::Gemini, &fake.base_url());
    let h = Harness::custom(fake, vec![openai, google], &["gemini-2.5-flash"], |_| {}).await;

    let err = openai_error(h.chat(&chat_body("gpt-4o-mini", false, "hi")).await, 404).await;
    assert_eq!(err["code"], "model_not_found", "{err}");
    assert_eq!(err["type"], "invalid_request_error", "{err}");
    let message = err["message"].as_str().unwrap();
    for part in ["gpt-4o-mini", "`openai`", "SWITCHYARD_E2E_UNSET"] {
        assert!(message.contains(part), "{part} missing: {message}");
    }
    // Streamed requests are refused the same way, before any stream starts.
    let err = openai_error(h.chat(&chat_body("gpt-4o-mini", true, "hi")).await, 404).await;
    assert_eq!(err["code"], "model_not_found", "{err}");

    let err = openai_error(
        h.chat(&chat_body("claude-haiku-4.5", false, "hi")).await,
        404,
    )
    .await;
    let message = err["message"].as_str().unwrap();
    for part in ["claude-haiku-4.5", "`anthropic`", "[[providers]]"] {
        assert!(message.contains(part), "{part} missing: {message}");
    }

    // /v1/messages: the same case in Anthropic's shape.
    let resp = h
        .post_json("/v1/messages", &messages_body("gpt-4o-mini"))
        .await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "not_found_error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SWITCHYARD_E2E_UNSET"),
        "{v}"
    );

    // The configured provider still serves, and nothing else reached an upstream.
    assert_eq!(
        h.chat(&chat_body("gemini-2.5-flash", false, "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(h.fake.requests().len(), 1);
    let rows = h.rows().await;
    assert_eq!(rows.len(), 5, "one row per call: nothing retried");
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == OutcomeStatus::Rejected)
            .count(),
        4
    );
    h.stop().await;
}

#[tokio::test]
async fn an_unreachable_provider_stays_a_retryable_failure() {
    // Transient unavailability (the configured provider is down) is still a 5xx: only a
    // configuration gap became a 404.
    let fake = FakeProvider::start().await;
    let dead = provider(
        "openai",
        ProviderKind::Openai,
        &crate::e2e_harness::closed_port_url(),
    );
    let h = Harness::custom(fake, vec![dead], &["gpt-4o-mini"], |_| {}).await;
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert!(resp.headers().get("x-should-retry").is_none());
    h.stop().await;
}

/// A second SQLite connection holding the outcome log's write lock (`BEGIN IMMEDIATE`), as a
/// `switchyard log` command or a backup tool writing to the file would.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(h: &Harness) -> WriteLock {
        let conn = rusqlite::Connection::open(h.gw.outcome_log().sqlite_path().unwrap()).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }

    /// Releases the lock once the writer has given up on what it was writing (a flush is
    /// answered after the writer's current commit), so a late write cannot slip in.
    async fn release(self, h: &Harness) {
        h.gw.outcome_log().flush().await;
        self.0.execute_batch("ROLLBACK").unwrap();
    }
}

fn dropped(h: &Harness) -> f64 {
    h.gw.metrics()
        .counter_value("switchyard_outcome_log_dropped_total", &[])
}

/// Short enough that the test does not wait long; the lock outlasts it by far (it is held
/// until released), so this is no timing assertion.
const COMMIT_TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_locked_log_past_commit_timeout_fails_open_with_a_counted_drop() {
    let h = Harness::openai_with(|c| {
        c.log.commit_timeout = COMMIT_TIMEOUT;
        c.log.on_unavailable = LogUnavailable::FailOpen;
    })
    .await;
    let lock = WriteLock::take(&h);
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    done_chunks(&resp.text().await.unwrap());
    assert_eq!(
        dropped(&h),
        2.0,
        "each row that missed the deadline counts once"
    );
    lock.release(&h).await;
    assert!(
        h.rows().await.is_empty(),
        "a row counted as dropped is not written later"
    );
    // The lock is gone: rows are committed again.
    assert_eq!(
        h.chat(&chat_body("gpt-4o-mini", false, "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(h.only_row().await.status, OutcomeStatus::Ok);
    assert_eq!(dropped(&h), 2.0);
    h.stop().await;
}

#[tokio::test]
async fn a_locked_log_past_commit_timeout_fails_closed_with_a_503() {
    let h = Harness::openai_with(|c| {
        c.log.commit_timeout = COMMIT_TIMEOUT;
        c.log.on_unavailable = LogUnavailable::FailClosed;
    })
    .await;
    let lock = WriteLock::take(&h);
    let err = openai_error(h.chat(&chat_body("gpt-4o-mini", false, "hi")).await, 503).await;
    assert_eq!(err["code"], "outcome_log_unavailable", "{err}");
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    let data = sse_data(&resp.text().await.unwrap());
    assert!(!data.iter().any(|d| d == "[DONE]"), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "outcome_log_unavailable", "{last}");
    assert_eq!(dropped(&h), 2.0);
    lock.release(&h).await;
    assert!(h.rows().await.is_empty(), "refused answers leave no row");
    h.stop().await;
}

const ORIGIN: &str = "https://app.example.com";

/// A header as text, or "" when absent.
fn text<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or(""))
}

/// The comma-separated entries of a header, lower-cased.
fn entries(resp: &reqwest::Response, name: &str) -> Vec<String> {
    text(resp, name)
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

async fn preflight(h: &Harness, origin: &str, request_headers: &str) -> reqwest::Response {
    h.client
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", request_headers)
        .send()
        .await
        .unwrap()
}

/// Every request header a browser app of the API sends (the routing knobs, the judge's
/// reference answer, Anthropic-style keys) and the OpenAI SDK's own.
const BROWSER_HEADERS: [&str; 13] = [
    "authorization",
    "content-type",
    "x-api-key",
    "anthropic-version",
    "x-switchyard-max-cost-usd",
    "x-switchyard-min-quality",
    "x-switchyard-max-latency-ms",
    "x-switchyard-willingness-to-pay",
    "x-switchyard-candidates",
    "x-switchyard-exclude",
    "x-switchyard-reference-answer",
    "x-stainless-retry-count",
    "x-stainless-os",
];

#[tokio::test]
async fn cors_lets_configured_origins_send_and_read_the_switchyard_headers() {
    let h = Harness::openai_with(|c| c.server.cors_origins = vec![ORIGIN.to_owned()]).await;
    let resp = preflight(&h, ORIGIN, &BROWSER_HEADERS.join(",")).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(text(&resp, "access-control-allow-origin"), ORIGIN);
    assert!(entries(&resp, "access-control-allow-methods").contains(&"post".to_owned()));
    let allowed = entries(&resp, "access-control-allow-headers");
    for name in BROWSER_HEADERS {
        assert!(
            allowed.contains(&name.to_owned()),
            "{name} not in {allowed:?}"
        );
    }

    // The real cross-origin POST, with routing knobs in headers: answered, and the page may
    // read every `x-switchyard-*` answer header.
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("origin", ORIGIN)
        .header("x-switchyard-exclude", "gpt-4o")
        .header("x-switchyard-max-cost-usd", "1")
        .json(&chat_body("auto", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(text(&resp, "access-control-allow-origin"), ORIGIN);
    assert_eq!(
        text(&resp, "x-switchyard-model"),
        "gpt-4o-mini",
        "the knob applied"
    );
    let exposed = entries(&resp, "access-control-expose-headers");
    for name in [
        "x-switchyard-model",
        "x-switchyard-request-id",
        "x-switchyard-route-ms",
        "x-switchyard-cost-usd",
        "retry-after",
    ] {
        assert!(
            exposed.contains(&name.to_owned()),
            "{name} not in {exposed:?}"
        );
        if name.starts_with("x-switchyard") {
            assert!(!text(&resp, name).is_empty(), "{name} is set");
        }
    }

    // Another origin gets no grant.
    let resp = preflight(&h, "https://evil.example", "content-type").await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    h.stop().await;
}

#[tokio::test]
async fn without_cors_origins_there_are_no_cors_headers() {
    let h = Harness::openai().await;
    let resp = preflight(&h, ORIGIN, "content-type,x-switchyard-exclude").await;
    let cors: Vec<_> = resp
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{cors:?}");
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("origin", ORIGIN)
        .json(&chat_body("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .keys()
        .all(|k| !k.as_str().starts_with("access-control-")));
    h.stop().await;
}

fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test]
async fn h2c_with_prior_knowledge_serves_chats_and_streams() {
    let h = Harness::openai().await;
    let client = h2_client();
    let resp = client
        .post(h.url("/v1/chat/completions"))
        .json(&chat_body("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(text(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let v: Value = resp.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");

    let resp = client
        .post(h.url("/v1/chat/completions"))
        .json(&chat_body("gpt-4o-mini", true, "stream to me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert!(!chunks.is_empty());

    // Several requests at once share the connection as streams.
    let calls = (0..4).map(|_| {
        client
            .post(h.url("/v1/chat/completions"))
            .json(&chat_body("gpt-4o-mini", false, "hi"))
            .send()
    });
    for resp in futures::future::join_all(calls).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
    // Client errors keep their shape over HTTP/2.
    let resp = client
        .post(h.url("/v1/chat/completions"))
        .json(&json!({"model": "auto", "messages": []}))
        .send()
        .await
        .unwrap();
    openai_error(resp, 400).await;

    // HTTP/1.1 is still served on the same port.
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);
    assert_eq!(h.rows().await.len(), 8);
    h.stop().await;
}

/// An HTTP/2 connection made with the `h2` crate, to see the server's SETTINGS; the task
/// ends when the connection closes.
async fn h2_connect(
    h: &Harness,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(h.gw.local_addr())
        .await
        .unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let task = tokio_util::task::TaskTracker::new().spawn(async move {
        let _ = conn.await;
    });
    (client, task)
}

async fn h2_get(client: &h2::client::SendRequest<bytes::Bytes>, h: &Harness, path: &str) -> u16 {
    let mut client = client.clone().ready().await.unwrap();
    let request = axum::http::Request::get(h.url(path)).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    response.await.unwrap().status().as_u16()
}

#[tokio::test]
async fn h2c_connections_get_the_stream_cap_and_the_idle_timeout() {
    let h = Harness::openai_with(|c| {
        c.server.http2_max_concurrent_streams = 3;
        c.server.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let (client, conn) = h2_connect(&h).await;
    assert_eq!(h2_get(&client, &h, "/health").await, 200);
    // The server's SETTINGS carry the configured cap.
    assert_eq!(client.current_max_send_streams(), 3);
    // Left idle, the connection is closed by the server (GOAWAY, then the socket).
    tokio::time::timeout(GUARD, conn)
        .await
        .expect("the idle HTTP/2 connection is closed")
        .unwrap();
    // Others are still served.
    let (client, _conn) = h2_connect(&h).await;
    assert_eq!(h2_get(&client, &h, "/health").await, 200);
    h.stop().await;
}

/// A guard against hangs, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_half_sent_h2_preface_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h =
        Harness::openai_with(|c| c.server.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = tokio::net::TcpStream::connect(h.gw.local_addr())
        .await
        .unwrap();
    slow.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(GUARD, slow.read_to_end(&mut rest))
        .await
        .expect("the gateway closes the connection")
        .ok();
    // The gateway still serves others, over both protocols.
    assert_eq!(h.get("/health").await.status(), 200);
    let (client, _conn) = h2_connect(&h).await;
    assert_eq!(h2_get(&client, &h, "/health").await, 200);
    h.stop().await;
}

/// An HTTP/2 frame header and payload (SETTINGS on stream 0, the rest on stream 1).
fn h2_frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let stream = u8::from(kind != 0x4);
    let mut f = vec![
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        kind,
        flags,
        0,
        0,
        0,
        stream,
    ];
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn a_trickled_h2_header_block_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The idle timeout is long and the client keeps bytes moving: only the header timeout
    // can end this connection.
    let h = Harness::openai_with(|c| {
        c.server.header_read_timeout = Duration::from_millis(400);
        c.server.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(h.gw.local_addr())
        .await
        .unwrap();
    // A HEADERS frame (END_HEADERS, END_STREAM) announcing 1,000 bytes, whose payload then
    // arrives one byte every 100 ms: hyper waits for the whole frame.
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(h2_frame(0x4, 0, &[])); // SETTINGS
    let headers = h2_frame(0x1, 0x5, &[0x82; 1000]);
    opening.extend(&headers[..9]);
    slow.write_all(&opening).await.unwrap();
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = slow.into_split();
    let drip = async move {
        for byte in &headers[9..] {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(std::slice::from_ref(byte)).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = closed => {}
        () = drip => {}
        () = tokio::time::sleep(GUARD) => panic!("the trickled header block was never closed"),
    }
    // Closed by the 400 ms header timeout, not by a guard or the hour-long idle timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // The gateway still serves HTTP/2 clients that send whole header blocks.
    let (client, _conn) = h2_connect(&h).await;
    assert_eq!(h2_get(&client, &h, "/health").await, 200);
    h.stop().await;
}
