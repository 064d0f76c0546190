//! `/v1/feedback` with client keys: a key labels only the requests made with it; another
//! key's request id answers exactly like an unknown id (404), so ids are no oracle across
//! keys; the admin key labels any request.

use gateway::auth::{KeyStore, NewKey};
use router_core::OutcomeStatus;
use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::{chat_body, config, header, provider, Harness};

const ADMIN: &str = "sy-admin-feedback-test";

struct Keys {
    h: Harness,
    a: String,
    b: String,
    /// Kept alive with the gateway: it holds the key database.
    _dir: tempfile::TempDir,
}

async fn start() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut store = KeyStore::open(&db).unwrap();
    let mut create = |name: &str| {
        let new = NewKey {
            name: name.to_owned(),
            ..NewKey::default()
        };
        store.create(&new, 0).unwrap().1.expose().clone()
    };
    let (a, b) = (create("team-a"), create("team-b"));
    let fake = FakeProvider::start().await;
    let providers = vec![provider(
        "openai",
        gateway::upstream::ProviderKind::Openai,
        &fake.openai_base_url(),
    )];
    let cfg = config(dir.path(), providers, &["gpt-4o-mini"], |c| {
        use sha2::Digest;
        c.admin.key_sha256 = Some(hex::encode(sha2::Sha256::digest(ADMIN.as_bytes())));
    });
    let h = Harness::start(fake, cfg, None, tempfile::tempdir().unwrap()).await;
    Keys { h, a, b, _dir: dir }
}

impl Keys {
    async fn chat(&self, key: &str) -> String {
        let resp = self
            .h
            .client
            .post(self.h.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat_body("gpt-4o-mini", false, "hi"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        header(&resp, "x-switchyard-request-id").to_owned()
    }

    async fn label(&self, key: Option<&str>, request_id: &str) -> (u16, Value) {
        let mut req = self
            .h
            .client
            .post(self.h.url("/v1/feedback"))
            .json(&json!({"request_id": request_id, "metric": "thumbs_up", "score": 1}));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

#[tokio::test]
async fn issue_11_feedback_with_client_keys_labels_only_the_keys_own_requests() {
    let k = start().await;
    let of_a = k.chat(&k.a).await;
    let of_b = k.chat(&k.b).await;

    // Another key's request: the same 404 as an id that never existed.
    let unknown = "req_00000000000000000000000000000000";
    let (status, cross) = k.label(Some(&k.b), &of_a).await;
    assert_eq!(status, 404, "{cross}");
    let (status, never) = k.label(Some(&k.b), unknown).await;
    assert_eq!(status, 404);
    let as_text = |v: &Value, id: &str| v.to_string().replace(id, "ID");
    assert_eq!(
        as_text(&cross, &of_a),
        as_text(&never, unknown),
        "the answers differ only by the id"
    );
    assert_eq!(cross["error"]["code"], "request_not_found");

    // The key's own request, and the admin key on any.
    assert_eq!(k.label(Some(&k.a), &of_a).await.0, 202);
    assert_eq!(k.label(Some(ADMIN), &of_b).await.0, 202);
    assert_eq!(k.label(Some(ADMIN), unknown).await.0, 404);
    // Without a key, or with a wrong one: 401, as everywhere under /v1.
    assert_eq!(k.label(None, &of_b).await.0, 401);
    assert_eq!(k.label(Some("sy-wrong"), &of_b).await.0, 401);
    // The admin key is no client key elsewhere.
    let chat_as_admin =
        k.h.client
            .post(k.h.url("/v1/chat/completions"))
            .bearer_auth(ADMIN)
            .json(&chat_body("gpt-4o-mini", false, "hi"))
            .send()
            .await
            .unwrap();
    assert_eq!(chat_as_admin.status(), 401);

    let rows = k.h.rows().await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status, OutcomeStatus::Ok);
        assert_eq!(row.feedback.len(), 1, "one label each: {row:?}");
    }
    k.h.stop().await;
}
