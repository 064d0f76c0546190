//! The shared set-up of the `e2e_*` modules: a testkit fake, a gateway on 127.0.0.1:0 whose
//! providers point at it, a reqwest client, and readers for SSE bodies and outcome rows.

use std::path::Path;

use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::upstream::ProviderKind;
use gateway::{Config, RunningGateway};
use router_core::{ModelId, Outcome, ProviderId};
use serde_json::{json, Value};
use testkit::FakeProvider;

/// The env var every test provider reads its key from.
pub const KEY_ENV: &str = "SWITCHYARD_E2E_KEY";
/// The key; tests check it never reaches a client.
pub const KEY: &str = "sk-e2e-secret-never-echoed-7731";

/// One `[[providers]]` entry of `kind` at `base_url`, keyed by [`KEY_ENV`].
pub fn provider(name: &str, kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: ProviderId::new(name),
        kind,
        base_url: base_url.to_owned(),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }
}

/// The three dialects on one fake: `openai` (gpt-4o, gpt-4o-mini), `anthropic`
/// (claude-haiku-4.5) and `google` (gemini-2.5-flash).
pub fn all_providers(fake: &FakeProvider) -> Vec<ProviderConfig> {
    vec![
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
        provider("anthropic", ProviderKind::Anthropic, &fake.base_url()),
        provider("google", ProviderKind::Gemini, &fake.base_url()),
    ]
}

/// Builds a validated config logging under `dir`; `tweak` edits the raw file values.
pub fn config(
    dir: &Path,
    providers: Vec<ProviderConfig>,
    candidates: &[&str],
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Config {
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.join("outcomes.sqlite");
    raw.providers = providers;
    raw.router.candidates = Some(candidates.iter().map(|c| ModelId::new(*c)).collect());
    tweak(&mut raw);
    Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned())).expect("valid config")
}

/// One `openai` provider on `fake` and `gpt-4o-mini` as the one candidate, logging under `dir`:
/// the set-up of tests about keys and the log rather than routing.
pub fn mini_config(dir: &Path, fake: &FakeProvider) -> Config {
    config(
        dir,
        vec![provider(
            "openai",
            ProviderKind::Openai,
            &fake.openai_base_url(),
        )],
        &["gpt-4o-mini"],
        |_| {},
    )
}

/// A running gateway with its fake upstream and its log folder (kept alive with it).
pub struct Harness {
    pub fake: FakeProvider,
    pub gw: RunningGateway,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The OpenAI provider only, candidates `gpt-4o-mini` and `gpt-4o`.
    pub async fn openai() -> Harness {
        Harness::with(&["gpt-4o-mini", "gpt-4o"], |_| {}).await
    }

    /// The OpenAI candidates `gpt-4o-mini` and `gpt-4o`, with config tweaks.
    pub async fn openai_with(tweak: impl FnOnce(&mut GatewayConfig)) -> Harness {
        Harness::with(&["gpt-4o-mini", "gpt-4o"], tweak).await
    }

    /// All three dialects on one fake, with these candidates and config tweaks.
    pub async fn with(candidates: &[&str], tweak: impl FnOnce(&mut GatewayConfig)) -> Harness {
        let fake = FakeProvider::start().await;
        let providers = all_providers(&fake);
        Harness::custom(fake, providers, candidates, tweak).await
    }

    /// [`all_providers`] and Mistral, a server speaking OpenAI's dialect, on one fake.
    pub async fn with_mistral(candidates: &[&str]) -> Harness {
        let fake = FakeProvider::start().await;
        let mut providers = all_providers(&fake);
        providers.push(provider(
            "mistral",
            ProviderKind::Openai,
            &fake.openai_base_url(),
        ));
        Harness::custom(fake, providers, candidates, |_| {}).await
    }

    /// Full control over the providers.
    pub async fn custom(
        fake: FakeProvider,
        providers: Vec<ProviderConfig>,
        candidates: &[&str],
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = config(dir.path(), providers, candidates, tweak);
        Harness::start(fake, cfg, None, dir).await
    }

    /// Starts the gateway with `cfg` (logging under `dir`) and an optional encoder service.
    pub async fn start(
        fake: FakeProvider,
        cfg: Config,
        classifier: Option<classifier::Service>,
        dir: tempfile::TempDir,
    ) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let gw = gateway::spawn(cfg, listener, classifier)
            .await
            .expect("gateway starts");
        Harness {
            fake,
            gw,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT{path}` of the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.local_addr())
    }

    /// `POST /v1/chat/completions` with a JSON body.
    pub async fn chat(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// `GET {path}`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("gateway answers")
    }

    /// `POST {path}` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// Every outcome row, after the request tasks finished and the log committed.
    pub async fn rows(&self) -> Vec<Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).expect("outcome log readable")
    }

    /// The one outcome row (panics when there are several).
    pub async fn only_row(&self) -> Outcome {
        let mut rows = self.rows().await;
        assert_eq!(rows.len(), 1, "{rows:#?}");
        rows.remove(0)
    }

    /// Stops the gateway (drain, flush) and the fake.
    pub async fn stop(self) {
        self.gw.shutdown().await.expect("clean shutdown");
        self.fake.shutdown().await;
    }
}

/// A chat request with one user message.
pub fn chat_body(model: &str, stream: bool, prompt: &str) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    })
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The chunks of a stream that ended with `[DONE]`, parsed (asserting the terminator).
pub fn done_chunks(body: &str) -> Vec<Value> {
    let data = sse_data(body);
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "stream must end with [DONE]: {body}"
    );
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk {d}: {e}")))
        .collect()
}

/// The concatenated `delta.content` of chunks.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// A header as text (panics when missing).
pub fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}: {:?}", resp.headers()))
        .to_str()
        .expect("ascii header")
}

/// A loopback URL where nothing listens (bound, then released).
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/v1")
}

/// Asserts the OpenAI error shape and returns the `error` object.
pub async fn openai_error(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let text = resp.text().await.expect("body");
    assert!(!text.contains(KEY), "the key leaked: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let err = v["error"].clone();
    assert!(err["message"].is_string(), "{v}");
    assert!(err["type"].is_string(), "{v}");
    assert!(err["code"].is_string(), "{v}");
    err
}
