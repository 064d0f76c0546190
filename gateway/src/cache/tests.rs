#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::*;
use crate::openai::wire::ChatCompletionResponse;

fn settings(max_entries: u64, max_bytes: u64) -> CacheSettings {
    CacheSettings {
        enabled: true,
        ttl: Duration::from_secs(60),
        max_entries,
        max_bytes,
        deterministic_only: true,
        semantic: false,
        semantic_threshold: 0.85,
        shared: false,
        evict_below: 0.5,
    }
}

fn answer(text: &str) -> Stored {
    let completion: ChatCompletionResponse = serde_json::from_value(serde_json::json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}]
    }))
    .unwrap();
    Stored {
        completion,
        model: ModelId::new("gpt-4o-mini"),
        upstream_model: None,
        tokens: (1, 1),
        cost_usd: 0.001,
        source_request_id: "req_1".to_owned(),
    }
}

fn key(n: u8) -> CacheKey {
    let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
        "model": "auto", "temperature": 0,
        "messages": [{"role": "user", "content": format!("q{n}")}]
    }))
    .unwrap();
    key::key_of(&req, &RouterOptions::default(), key::Namespace::default()).unwrap()
}

#[test]
fn entries_expire_on_the_injected_clock() {
    let clock = AuthClock::manual(0);
    let cache = ResponseCache::new(&settings(10, 1 << 20), clock.clone(), None).unwrap();
    cache.insert(key(1), answer("a"));
    clock.advance(Duration::from_secs(59));
    assert!(cache.get(&key(1)).is_some(), "59 s old, TTL 60 s");
    clock.advance(Duration::from_secs(1));
    assert!(cache.get(&key(1)).is_none(), "60 s old: expired");
    assert!(cache.get(&key(1)).is_none(), "and removed");
}

/// Two requests interleaved step by step: one reads an expired answer, the other stores a
/// fresh one, then the first drops what it read. Before, it dropped whatever was under the key,
/// the fresh answer included.
#[test]
fn dropping_an_expired_answer_keeps_a_fresh_one_stored_meanwhile() {
    let clock = AuthClock::manual(0);
    let cache = ResponseCache::new(&settings(10, 1 << 20), clock.clone(), None).unwrap();
    cache.insert(key(1), answer("old"));
    clock.advance(Duration::from_secs(60));
    let stale = cache.entries.get(&key(1)).unwrap();
    let mut fresh = answer("new");
    fresh.source_request_id = "req_2".to_owned();
    cache.insert(key(1), fresh);
    cache.evict(&key(1), &stale);
    let kept = cache.get(&key(1)).expect("the fresh answer stays");
    assert_eq!(kept.answer.source_request_id, "req_2");

    // The expired answer itself is dropped by the read that finds it.
    clock.advance(Duration::from_secs(60));
    assert!(cache.get(&key(1)).is_none());
    assert!(cache.entries.get(&key(1)).is_none(), "removed from memory");
}

#[test]
fn both_bounds_hold() {
    // 4 entries at most: each weighs at least 1024 / 4 bytes.
    let cache = ResponseCache::new(&settings(4, 1024), AuthClock::manual(0), None).unwrap();
    for n in 0..20 {
        cache.insert(key(n), answer("short"));
    }
    let (entries, bytes) = cache.size();
    assert!(entries <= 4, "{entries} entries");
    assert!(bytes <= 1024, "{bytes} bytes");
    // One answer bigger than the whole budget is not stored at all.
    cache.insert(key(99), answer(&"x".repeat(2048)));
    assert!(cache.get(&key(99)).is_none());
    // Nor is an answer without choices.
    let mut empty = answer("a");
    empty.completion.choices.clear();
    cache.insert(key(98), empty);
    assert!(cache.get(&key(98)).is_none());
}

#[test]
fn disabled_cache_is_none() {
    let mut off = settings(1, 1);
    off.enabled = false;
    assert!(ResponseCache::new(&off, AuthClock::manual(0), None).is_none());
}

#[test]
fn plans_follow_config_determinism_and_directives() {
    let req = |temperature: f64| -> ChatCompletionRequest {
        serde_json::from_value(serde_json::json!({
            "model": "auto", "temperature": temperature,
            "messages": [{"role": "user", "content": "q"}]
        }))
        .unwrap()
    };
    let opts = RouterOptions::default();
    let on = settings(10, 1 << 20);
    let plan = |s: &CacheSettings, t: f64, d: Directive| {
        Plan::new(s, &req(t), &opts, key::Namespace::default(), d)
    };

    let p = plan(&on, 0.0, Directive::Default);
    assert!(p.read && p.write && p.key.is_some());
    let p = plan(&on, 0.0, Directive::NoCache);
    assert!(!p.read && p.write, "no-cache: refresh");
    let p = plan(&on, 0.0, Directive::NoStore);
    assert!(!p.read && !p.write && p.store_key().is_none());
    let p = plan(&on, 0.7, Directive::Default);
    assert!(
        !p.read && !p.write,
        "sampled answers are not cached by default"
    );
    let everything = CacheSettings {
        deterministic_only: false,
        ..on
    };
    assert!(plan(&everything, 0.7, Directive::Default).read);
    let off = CacheSettings {
        enabled: false,
        ..on
    };
    assert!(plan(&off, 0.0, Directive::Default).key.is_none());
}

#[test]
fn directive_header_is_strict() {
    let mut h = HeaderMap::new();
    assert_eq!(Directive::from_headers(&h).unwrap(), Directive::Default);
    h.insert(HEADER_CACHE, HeaderValue::from_static("No-Store"));
    assert_eq!(Directive::from_headers(&h).unwrap(), Directive::NoStore);
    h.insert(HEADER_CACHE, HeaderValue::from_static(" no-cache "));
    assert_eq!(Directive::from_headers(&h).unwrap(), Directive::NoCache);
    h.insert(HEADER_CACHE, HeaderValue::from_static("nostore"));
    let err = Directive::from_headers(&h).unwrap_err();
    assert!(err.to_string().contains("no-store"), "{err}");
}

/// Review F6: a request that missed, then found no leader because the leader had just stored
/// its answer and left, must not lead a second upstream call for it.
#[test]
fn joining_a_key_whose_answer_was_just_stored_does_not_lead() {
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    let Coalesce::Lead(leader) = cache.join(key(1)) else {
        panic!("the first request leads");
    };
    cache.insert(key(1), answer("stored by the leader"));
    drop(leader);
    assert!(
        !matches!(cache.join(key(1)), Coalesce::Lead(_)),
        "the answer is stored: no second call"
    );
    // A key with nothing stored is still led.
    assert!(matches!(cache.join(key(2)), Coalesce::Lead(_)));
}

/// Review F4: only answers that ended normally, with text or tool calls, are kept.
#[test]
fn blocked_empty_or_unfinished_answers_are_not_kept() {
    use crate::openai::wire::FinishReason;
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    let with = |finish: Option<FinishReason>, text: Option<&str>| {
        let mut a = answer("x");
        a.completion.choices[0].finish_reason = finish;
        a.completion.choices[0].message.content = text.map(str::to_owned);
        a
    };
    for (n, bad) in [
        with(Some(FinishReason::ContentFilter), Some("blocked")),
        with(
            Some(FinishReason::Other("recitation".to_owned())),
            Some("x"),
        ),
        with(None, Some("x")),
        with(Some(FinishReason::Length), None),
        with(Some(FinishReason::Stop), Some("")),
    ]
    .into_iter()
    .enumerate()
    {
        let k = key(u8::try_from(n).unwrap());
        cache.insert(k, bad);
        assert!(cache.get(&k).is_none(), "case {n} kept");
    }
    for (n, good) in [
        with(Some(FinishReason::Stop), Some("ok")),
        with(Some(FinishReason::Length), Some("cut")),
    ]
    .into_iter()
    .enumerate()
    {
        let k = key(50 + u8::try_from(n).unwrap());
        cache.insert(k, good);
        assert!(cache.get(&k).is_some(), "good case {n} dropped");
    }
}

/// Review F5: a streamed request with `logprobs` is never stored (its chunks cannot be
/// merged), so it neither reads nor writes; not streamed, it is cached as usual.
#[test]
fn streamed_logprobs_requests_are_not_cached() {
    let req = |stream: bool| -> ChatCompletionRequest {
        serde_json::from_value(serde_json::json!({
            "model": "auto", "temperature": 0, "stream": stream, "logprobs": true,
            "messages": [{"role": "user", "content": "q"}]
        }))
        .unwrap()
    };
    let on = settings(10, 1 << 20);
    let opts = RouterOptions::default();
    let plan = |stream| {
        Plan::new(
            &on,
            &req(stream),
            &opts,
            key::Namespace::default(),
            Directive::Default,
        )
    };
    let streamed = plan(true);
    assert!(!streamed.read && !streamed.write && streamed.key.is_none());
    assert!(plan(false).read);
}

fn answer_of(source: &str, text: &str) -> Stored {
    Stored {
        source_request_id: source.to_owned(),
        ..answer(text)
    }
}

#[tokio::test]
async fn a_bad_label_on_the_source_or_a_replay_evicts_that_answer_only() {
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    cache.insert(key(1), answer_of("req_1", "a"));
    let entry = cache.get(&key(1)).unwrap();
    cache.served("hit_1", &entry);

    // A label at or above the bar, or on a request the cache never saw, evicts nothing.
    assert!(!cache.evict_answer_of("hit_1", 0.5).await);
    assert!(!cache.evict_answer_of("elsewhere", 0.0).await);
    assert!(cache.get(&key(1)).is_some());

    // A bad label on the replay takes the answer out.
    assert!(cache.evict_answer_of("hit_1", 0.2).await);
    assert!(cache.get(&key(1)).is_none());

    // A fresh answer stored under the same key since is not the labelled one: it stays,
    // whether the late label is on the old source or on its replay.
    cache.insert(key(1), answer_of("req_2", "b"));
    assert!(!cache.evict_answer_of("req_1", 0.0).await);
    assert!(!cache.evict_answer_of("hit_1", 0.0).await);
    assert_eq!(
        cache.get(&key(1)).unwrap().answer.source_request_id,
        "req_2"
    );
    // A bad label on the request that made it takes it out.
    assert!(cache.evict_answer_of("req_2", 0.0).await);
    assert!(cache.get(&key(1)).is_none());
}

#[tokio::test]
async fn an_answer_labelled_badly_before_it_is_stored_is_not_kept() {
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    assert!(!cache.evict_answer_of("req_1", 0.0).await);
    cache.insert(key(1), answer_of("req_1", "a"));
    assert!(
        cache.get(&key(1)).is_none(),
        "condemned before it was stored"
    );
    cache.insert(key(2), answer_of("req_2", "b"));
    assert!(cache.get(&key(2)).is_some(), "others are kept");
}

#[tokio::test]
async fn eviction_by_label_can_be_turned_off() {
    let off = CacheSettings {
        evict_below: 0.0,
        ..settings(10, 1 << 20)
    };
    let cache = ResponseCache::new(&off, AuthClock::manual(0), None).unwrap();
    cache.insert(key(1), answer_of("req_1", "a"));
    assert!(!cache.evict_answer_of("req_1", 0.0).await);
    assert!(cache.get(&key(1)).is_some());
}

/// Past its bound, the record of which request got which answer keeps the newest requests:
/// a label comes after its request, and ids are never read before, so moka's default
/// admission (TinyLFU) kept the oldest and refused every new one, and bad labels on new
/// answers evicted nothing once the gateway had been busy for a while.
#[tokio::test]
async fn labels_on_the_newest_requests_still_evict_once_the_record_is_full() {
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    cache.insert(key(1), answer_of("req_1", "a"));
    let entry = cache.get(&key(1)).unwrap();
    for i in 0..1_000 {
        cache.served(&format!("hit_{i}"), &entry);
        if i % 50 == 0 {
            cache.answered.run_pending_tasks();
        }
    }
    cache.answered.run_pending_tasks();
    assert!(cache.evict_answer_of("hit_999", 0.0).await);
    assert!(cache.get(&key(1)).is_none());
}

/// An answer labelled badly is not kept again from Redis or a late store, within the TTL.
#[tokio::test]
async fn a_condemned_answer_is_not_kept_again() {
    let cache = ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    cache.insert(key(1), answer_of("req_1", "a"));
    assert!(cache.evict_answer_of("req_1", 0.0).await);
    // The same answer again (as a replica reads it back from Redis, or a late write).
    cache.insert(key(1), answer_of("req_1", "a"));
    assert!(cache.get(&key(1)).is_none());
}

#[tokio::test]
async fn another_replicas_eviction_drops_the_named_answer_or_resolves_the_request_served_here() {
    let new = || ResponseCache::new(&settings(10, 1 << 20), AuthClock::manual(0), None).unwrap();
    let published = |cache: &ResponseCache, request_id: &str, answer: Option<(CacheKey, &str)>| {
        broadcast::Eviction {
            origin: format!("not {}", cache.origin),
            request_id: request_id.to_owned(),
            answer: answer.map(|(k, s)| (k.hex(), s.to_owned())),
        }
    };

    // Named: the copy goes only while it is that request's answer, and the source is
    // condemned (a copy read back from Redis later is not kept).
    let copy = new();
    copy.insert(key(1), answer_of("req_2", "fresh"));
    copy.insert(key(2), answer_of("req_1", "old"));
    let stale = published(&copy, "hit_9", Some((key(1), "req_1")));
    assert!(!copy.evict_published(&stale).await);
    assert!(copy.get(&key(1)).is_some());
    let named = published(&copy, "hit_9", Some((key(2), "req_1")));
    assert!(copy.evict_published(&named).await);
    assert!(copy.get(&key(2)).is_none());
    copy.insert(key(2), answer_of("req_1", "old"));
    assert!(copy.get(&key(2)).is_none(), "the source is condemned");

    // Unnamed (the labelled replica did not serve it): the replica that served the request
    // takes its answer out; one that did not changes nothing it holds.
    let maker = new();
    maker.insert(key(3), answer_of("req_3", "a"));
    let unnamed = published(&maker, "req_3", None);
    assert!(!copy.evict_published(&unnamed).await);
    assert!(maker.evict_published(&unnamed).await);
    assert!(maker.get(&key(3)).is_none());

    // Its own messages come back to a replica: it has acted already.
    maker.insert(key(4), answer_of("req_4", "b"));
    let own = broadcast::Eviction {
        origin: maker.origin.clone(),
        request_id: "req_4".to_owned(),
        answer: None,
    };
    assert!(!maker.evict_published(&own).await);
    assert!(maker.get(&key(4)).is_some());
}
