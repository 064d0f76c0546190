//! Shared helpers: configs pointing at a fake provider, state for `oneshot`, SSE reading.

use std::path::Path;
use std::sync::Arc;

use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::metrics::Metrics;
use gateway::upstream::ProviderKind;
use gateway::{AppState, Config, OutcomeLog};
use router_core::{ModelId, ProviderId};

/// The env var the test providers read their key from.
pub const KEY_ENV: &str = "SWITCHYARD_TEST_KEY";
/// The key value; tests check it never leaks.
pub const KEY: &str = "sk-test-do-not-leak-4242";

pub fn provider(name: &str, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: ProviderId::new(name),
        kind: ProviderKind::Openai,
        base_url: base_url.to_owned(),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }
}

/// A config logging to `dir`, with `providers` and candidates `gpt-4o-mini`, `gpt-4o`.
pub fn config(
    dir: &Path,
    providers: Vec<ProviderConfig>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Config {
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.join("outcomes.sqlite");
    raw.providers = providers;
    raw.router.candidates = Some(vec![ModelId::new("gpt-4o-mini"), ModelId::new("gpt-4o")]);
    tweak(&mut raw);
    Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned())).unwrap()
}

/// A config whose only provider has no key: nothing is live.
pub fn offline_config(dir: &Path) -> Config {
    let mut p = provider("openai", "http://127.0.0.1:9/v1");
    p.api_key_env = Some("SWITCHYARD_TEST_UNSET_KEY".to_owned());
    config(dir, vec![p], |_| {})
}

pub fn state(config: Config) -> AppState {
    let metrics = Arc::new(Metrics::new());
    let log = OutcomeLog::open(&config.log, metrics.clone()).unwrap();
    AppState::new(config, None, log, metrics).unwrap()
}

/// A loopback address where nothing listens (bound, then released).
pub fn dead_base_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// A `[redis]` section for a test's `redis-server` at `url`: its keys under `prefix`, a 2 s
/// timeout, what Redis cannot answer falls back to the replica's own state.
pub fn redis(url: String, prefix: &str) -> gateway::config::RedisConfig {
    gateway::config::RedisConfig {
        url,
        key_prefix: prefix.to_owned(),
        timeout: std::time::Duration::from_secs(2),
        on_unavailable: gateway::config::OnUnavailable::Local,
        share_thinking: true,
    }
}
