//! Start-up discovery: candidates whose provider no longer lists them, or lists them with a
//! shutdown date that has passed, are left out of `auto`; a provider without a list changes
//! nothing; requests naming a model still reach the provider.

use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::{all_providers, chat_body, Harness};

const CANDIDATES: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "claude-haiku-4.5",
    "gemini-2.5-flash",
];

/// `GET /v1/models`, sorted (it lists candidates in catalog order).
async fn listed(h: &Harness) -> Vec<String> {
    let v: Value = h.get("/v1/models").await.json().await.unwrap();
    let mut ids: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn routed_over(h: &Harness) -> Vec<String> {
    let body = json!({"prompt": "Label the sentiment of: I loved this film"});
    let v: Value = h.post_json("/v1/route", &body).await.json().await.unwrap();
    v["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|c| c["model"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn models_the_providers_no_longer_offer_leave_auto() {
    let fake = FakeProvider::start().await;
    // gpt-4.1 is not listed at all; gpt-4o is listed with a shutdown date in the past;
    // gpt-4o-mini's shutdown is announced for the far future; Claude is listed by its dated
    // id only, as Anthropic lists it, and its alias is found by looking it up alone.
    fake.offer_models(Some(&[
        ("gpt-4o-mini", Some("2999-01-01")),
        ("gpt-4o", Some("2020-01-01")),
        ("claude-haiku-4-5-20251001", None),
        ("gemini-2.5-flash", None),
    ]));
    let providers = all_providers(&fake);
    let h = Harness::custom(fake, providers, &CANDIDATES, |_| {}).await;
    assert_eq!(
        listed(&h).await,
        [
            "auto",
            "claude-haiku-4.5",
            "gemini-2.5-flash",
            "gpt-4o-mini"
        ]
    );
    let mut pool = routed_over(&h).await;
    pool.sort();
    assert_eq!(
        pool,
        ["claude-haiku-4.5", "gemini-2.5-flash", "gpt-4o-mini"]
    );
    // A request naming a withdrawn model still goes to its provider, which decides.
    let resp = h.chat(&chat_body("gpt-4.1", false, "hello")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(h.fake.calls("gpt-4.1"), 1);
    h.stop().await;
}

#[tokio::test]
async fn without_a_readable_list_or_with_discovery_off_every_candidate_stays() {
    // The fake answers 404 to GET /v1/models until a test sets a list.
    let h = Harness::with(&CANDIDATES, |_| {}).await;
    let mut all = vec!["auto"];
    all.extend(CANDIDATES);
    all.sort_unstable();
    assert_eq!(listed(&h).await, all);
    h.stop().await;

    let fake = FakeProvider::start().await;
    fake.offer_models(Some(&[("gpt-4o-mini", None)]));
    let providers = all_providers(&fake);
    let h = Harness::custom(fake, providers, &CANDIDATES, |raw| {
        raw.router.discover_models = false;
    })
    .await;
    assert_eq!(listed(&h).await, all);
    h.stop().await;
}

/// A `[[deployments]]` target goes by the user's own deployment name, which a provider's list
/// need not show (an Azure deployment, say): it is never withdrawn for missing from the list.
#[tokio::test]
async fn deployment_names_are_not_checked_against_the_list() {
    use gateway::config::DeploymentConfig;
    use router_core::{ModelId, ProviderId};

    let fake = FakeProvider::start().await;
    fake.offer_models(Some(&[("gpt-4o-mini", None)]));
    let providers = vec![crate::e2e_harness::provider(
        "azure",
        gateway::upstream::ProviderKind::Openai,
        &fake.openai_base_url(),
    )];
    let h = Harness::custom(fake, providers, &["gpt-4o"], |c| {
        c.deployments = vec![DeploymentConfig {
            model: ModelId::new("gpt-4o"),
            provider: ProviderId::new("azure"),
            upstream_name: Some("my-gpt-4o-east".to_owned()),
            weight: 1,
        }];
    })
    .await;
    assert_eq!(listed(&h).await, ["auto", "gpt-4o"]);
    h.stop().await;
}

/// Polls `GET /v1/models` until it lists `want` (the re-read runs every 50 ms here).
async fn until_listed(h: &Harness, want: &[&str]) {
    for _ in 0..200 {
        if listed(h).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(listed(h).await, want, "the re-read never changed the list");
}

/// While serving, the lists are read again (`discovery_interval`): a model withdrawn after
/// start-up leaves `auto`, a read that fails changes nothing, a model offered again comes
/// back, and a shutdown announced since is honoured.
#[tokio::test]
async fn the_lists_are_read_again_while_serving() {
    let fake = FakeProvider::start().await;
    let both = [("gpt-4o-mini", None), ("gpt-4.1", None)];
    fake.offer_models(Some(&both));
    let providers = all_providers(&fake);
    let h = Harness::custom(fake, providers, &["gpt-4o-mini", "gpt-4.1"], |raw| {
        raw.router.discovery_interval = std::time::Duration::from_millis(50);
    })
    .await;
    assert_eq!(listed(&h).await, ["auto", "gpt-4.1", "gpt-4o-mini"]);

    h.fake.offer_models(Some(&[("gpt-4o-mini", None)]));
    until_listed(&h, &["auto", "gpt-4o-mini"]).await;
    assert_eq!(routed_over(&h).await, ["gpt-4o-mini"]);

    // The provider stops answering: nothing is concluded, gpt-4.1 stays out.
    h.fake.offer_models(None);
    let reads = h.fake.list_reads();
    while h.fake.list_reads() < reads + 3 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(listed(&h).await, ["auto", "gpt-4o-mini"]);

    h.fake.offer_models(Some(&both));
    until_listed(&h, &["auto", "gpt-4.1", "gpt-4o-mini"]).await;

    h.fake.offer_models(Some(&[
        ("gpt-4o-mini", None),
        ("gpt-4.1", Some("2020-01-01")),
    ]));
    until_listed(&h, &["auto", "gpt-4o-mini"]).await;
    h.stop().await;
}
