//! Hot reload of the router artifact over loopback: `POST /admin/reload` (auth, swap,
//! refusals that keep the old predictor) and requests in flight during a reload.
//!
//! The encoder service runs a small in-test [`Embedder`] (fixed unit vectors, the real
//! encoder's fingerprint) so that the tests are fast and can hold a batch inside the encoder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use classifier::predictors::{Artifact, EncoderSettings, KnnPredictor, TrainingSet};
use gateway::config::GatewayConfig;
use gateway::{Config, RunningGateway};
use router_core::{BoxError, Embedder, ModelId, QualityPredictor};
use serde_json::{json, Value};

const TOKEN_ENV: &str = "SWITCHYARD_LOOP_ADMIN_TOKEN";
const TOKEN: &str = "admin-secret-77";
const DIM: usize = classifier::EMBEDDING_DIM;

/// Embeds every text as the first basis vector. While `held` is set, `embed` reports on
/// `entered` and blocks until released: the batch is then in flight inside the encoder.
#[derive(Default)]
struct TestEmbedder {
    held: Mutex<bool>,
    released: Condvar,
    entered: Mutex<Option<tokio::sync::mpsc::UnboundedSender<usize>>>,
}

impl TestEmbedder {
    fn hold(&self) -> tokio::sync::mpsc::UnboundedReceiver<usize> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.entered.lock().unwrap() = Some(tx);
        *self.held.lock().unwrap() = true;
        rx
    }

    fn release(&self) {
        *self.held.lock().unwrap() = false;
        self.released.notify_all();
    }
}

impl Embedder for TestEmbedder {
    fn dim(&self) -> usize {
        DIM
    }
    fn fingerprint(&self) -> &str {
        classifier::weights::MODEL_SHA256
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        let mut held = self.held.lock().unwrap();
        if *held {
            if let Some(tx) = self.entered.lock().unwrap().as_ref() {
                let _ = tx.send(texts.len());
            }
            while *held {
                held = self.released.wait(held).unwrap();
            }
        }
        let mut v = vec![0.0; DIM];
        v[0] = 1.0;
        Ok(vec![v; texts.len()])
    }
}

/// A one-prompt kNN artifact in which `favourite` answers perfectly and every other model
/// fails, saved under `dir/name`.
pub(crate) fn artifact(
    dir: &Path,
    name: &str,
    models: &[&str],
    favourite: &str,
    encoder: &str,
) -> PathBuf {
    artifact_with(dir, name, models, favourite, encoder, None)
}

/// [`artifact`] whose manifest records the encoder settings it was trained with.
fn artifact_with(
    dir: &Path,
    name: &str,
    models: &[&str],
    favourite: &str,
    encoder: &str,
    settings: Option<EncoderSettings>,
) -> PathBuf {
    let mut x = vec![0.0; DIM];
    x[0] = 1.0;
    let set = TrainingSet {
        models: models.iter().map(|m| ModelId::new(*m)).collect(),
        x: vec![x],
        quality: vec![models
            .iter()
            .map(|m| Some(if *m == favourite { 1.0 } else { 0.0 }))
            .collect()],
        output_tokens: vec![vec![Some(100.0); models.len()]],
        tasks: Vec::new(),
    };
    let mut knn = KnnPredictor::new(&set, 1).unwrap();
    knn.manifest_mut().encoder_sha256 = encoder.to_owned();
    knn.manifest_mut().encoder = settings;
    let path = dir.join(name);
    Artifact::from(knn).save(&path).unwrap();
    path
}

const CANDIDATES: [&str; 2] = ["gpt-4o-mini", "gpt-4o"];

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    gw: RunningGateway,
    embedder: Arc<TestEmbedder>,
}

/// A gateway with no live provider (`/v1/route` decides over the candidates offline), the
/// encoder service running artifact `mini` (favours gpt-4o-mini), and `admin` on or off.
async fn start(admin: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mini = artifact(
        &root,
        "mini",
        &CANDIDATES,
        "gpt-4o-mini",
        classifier::weights::MODEL_SHA256,
    );
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = root.join("outcomes.sqlite");
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.artifact = Some(mini.clone());
    // Held batches must not turn into static-fallback decisions.
    raw.router.routing_deadline = Duration::from_secs(120);
    if admin {
        raw.admin.token_env = Some(TOKEN_ENV.to_owned());
    }
    let config = Config::resolve(raw, &|k| (k == TOKEN_ENV).then(|| TOKEN.to_owned())).unwrap();
    let embedder = Arc::new(TestEmbedder::default());
    let predictor: Arc<dyn QualityPredictor> = Arc::new(Artifact::load(&mini).unwrap());
    let service = classifier::Service::start(
        embedder.clone(),
        Some(predictor),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    Setup {
        _dir: dir,
        root,
        gw,
        embedder,
    }
}

async fn route(gw: &RunningGateway) -> Value {
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/route", gw.local_addr()))
        .json(&json!({"prompt": "what is 2 + 2?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["source"], "trained", "{v}");
    v
}

async fn reload(gw: &RunningGateway, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("http://{}/admin/reload", gw.local_addr()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn reloads(gw: &RunningGateway, result: &str) -> f64 {
    gw.metrics()
        .counter_value("switchyard_router_reloads_total", &[("result", result)])
}

#[tokio::test]
async fn admin_reload_swaps_the_artifact_and_refuses_bad_ones() {
    let s = start(true).await;
    let gw = &s.gw;
    assert_eq!(route(gw).await["chosen"], "gpt-4o-mini");

    let big = artifact(
        &s.root,
        "big",
        &CANDIDATES,
        "gpt-4o",
        classifier::weights::MODEL_SHA256,
    );
    let body = json!({"artifact": big});
    assert_eq!(reload(gw, None, Some(body.clone())).await.0, 401);
    assert_eq!(reload(gw, Some("wrong"), Some(body.clone())).await.0, 401);
    assert_eq!(route(gw).await["chosen"], "gpt-4o-mini");

    let (status, v) = reload(gw, Some(TOKEN), Some(body)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "knn");
    assert_eq!(v["models"], json!(CANDIDATES));
    assert_eq!(route(gw).await["chosen"], "gpt-4o");

    // Refusals: each answers 422 with its reason and the new predictor keeps serving.
    let wrong_encoder = artifact(&s.root, "enc", &CANDIDATES, "gpt-4o-mini", "0123abcd");
    let unknown = artifact(
        &s.root,
        "unknown",
        &["gpt-4o-mini", "not-a-model-9000"],
        "gpt-4o-mini",
        classifier::weights::MODEL_SHA256,
    );
    let missing = s.root.join("does-not-exist");
    // Trained on prompts cut to 128 tokens; this gateway's encoder cuts at 256.
    let short = artifact_with(
        &s.root,
        "short",
        &CANDIDATES,
        "gpt-4o-mini",
        classifier::weights::MODEL_SHA256,
        Some(EncoderSettings {
            max_tokens: 128,
            extra_layers: Vec::new(),
            adapter: None,
            prompt_features: false,
        }),
    );
    // Trained with prompt statistics, which this gateway's encoder does not append: a restart
    // with the artifact serves it, and the refusal says so.
    let featured = artifact_with(
        &s.root,
        "featured",
        &CANDIDATES,
        "gpt-4o-mini",
        &classifier::featured_fingerprint(classifier::weights::MODEL_SHA256),
        Some(EncoderSettings {
            max_tokens: 256,
            extra_layers: Vec::new(),
            adapter: None,
            prompt_features: true,
        }),
    );
    let (status, v) = reload(gw, Some(TOKEN), Some(json!({"artifact": featured}))).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (422, &json!("encoder_mismatch")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("restart `switchyard serve`"), "{message}");
    for (dir, code) in [
        (&wrong_encoder, "encoder_mismatch"),
        (&short, "token_budget_mismatch"),
        (&unknown, "unknown_models"),
        (&missing, "load_failed"),
    ] {
        let (status, v) = reload(gw, Some(TOKEN), Some(json!({"artifact": dir}))).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(&dir.display().to_string()), "{message}");
        assert_eq!(route(gw).await["chosen"], "gpt-4o");
    }
    let (_, v) = reload(gw, Some(TOKEN), Some(json!({"artifact": unknown}))).await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not-a-model-9000"));

    // An empty body (and SIGHUP's call) re-reads the artifact serving now: `big`.
    let (status, v) = reload(gw, Some(TOKEN), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["artifact"], json!(big));
    let report = gateway::routing::reload::reload_artifact(gw.state(), None)
        .await
        .unwrap();
    assert_eq!(report.path, big);
    assert_eq!(route(gw).await["chosen"], "gpt-4o");

    assert_eq!(reloads(gw, "ok"), 3.0);
    assert_eq!(reloads(gw, "encoder_mismatch"), 2.0);
    assert_eq!(reloads(gw, "token_budget_mismatch"), 1.0);
    assert_eq!(reloads(gw, "unknown_models"), 2.0);
    assert_eq!(reloads(gw, "load_failed"), 1.0);
    let text = gw.metrics().render();
    assert!(text.contains("switchyard_router_reloads_total{result=\"ok\"} 3"));
    s.gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_endpoint_is_absent_without_a_token_and_needs_a_classifier() {
    let s = start(false).await;
    let (status, _) = reload(&s.gw, Some(TOKEN), None).await;
    assert_eq!(status, 404);
    s.gw.shutdown().await.unwrap();

    // Priors only (no encoder service): reload is refused with a clear message.
    let dir = tempfile::tempdir().unwrap();
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.admin.token_env = Some(TOKEN_ENV.to_owned());
    let config = Config::resolve(raw, &|k| (k == TOKEN_ENV).then(|| TOKEN.to_owned())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, None).await.unwrap();
    let (status, v) = reload(&gw, Some(TOKEN), Some(json!({"artifact": "x"}))).await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("start the gateway with an artifact to enable reload"));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_in_flight_during_a_reload_complete() {
    let s = start(true).await;
    let big = artifact(
        &s.root,
        "big",
        &CANDIDATES,
        "gpt-4o",
        classifier::weights::MODEL_SHA256,
    );
    let mut entered = s.embedder.hold();
    let addr = s.gw.local_addr();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..4 {
        in_flight.spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("http://{addr}/v1/route"))
                .json(&json!({"prompt": format!("held {i}")}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    // A batch is now inside the encoder (the others wait in its queue).
    assert!(entered.recv().await.unwrap() >= 1);
    let (status, v) = reload(&s.gw, Some(TOKEN), Some(json!({"artifact": big}))).await;
    assert_eq!(status, 200, "{v}");
    s.embedder.release();
    let mut completed = 0;
    while let Some(done) = in_flight.join_next().await {
        let (status, v) = done.unwrap();
        completed += 1;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["source"], "trained", "{v}");
    }
    assert_eq!(completed, 4);
    assert_eq!(route(&s.gw).await["chosen"], "gpt-4o");
    s.gw.shutdown().await.unwrap();
}

/// A gateway started cold (no artifact) with the admin endpoint on still runs the encoder
/// service, without a predictor: it routes on priors until a reload installs a router.
#[tokio::test]
async fn cold_start_with_admin_loads_the_encoder_so_a_router_can_be_reloaded() {
    let encoder_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.switchyard/encoder/all-MiniLM-L6-v2");
    let dir = tempfile::tempdir().unwrap();
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.routing_deadline = Duration::from_secs(120);
    let no_admin = Config::resolve(raw.clone(), &|_| None).unwrap();
    if encoder_dir.join("model.safetensors").exists() {
        let priors_only = gateway::server::load_classifier(
            &no_admin,
            &encoder_dir,
            classifier::ServiceConfig::default(),
            classifier::EncoderConfig::default(),
        )
        .unwrap()
        .expect("without admin and artifact the encoder still serves the task priors");
        assert!(priors_only.predictor().is_none());
        assert!(priors_only.task_classifier().is_some());
    }

    let config = admin_config(raw);
    let service = real_service(&config, &encoder_dir);
    assert!(service.predictor().is_none());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let decide = || async {
        let r = client
            .post(format!("http://{}/v1/route", gw.local_addr()))
            .json(&json!({"prompt": "what is 2 + 2?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    assert_eq!(decide().await["source"], "priors");

    let big = artifact(
        dir.path(),
        "big",
        &CANDIDATES,
        "gpt-4o",
        classifier::weights::MODEL_SHA256,
    );
    let (status, v) = reload(&gw, Some(TOKEN), Some(json!({"artifact": big}))).await;
    assert_eq!(status, 200, "{v}");
    let after = decide().await;
    assert_eq!(after["source"], "trained", "{after}");
    assert_eq!(after["chosen"], "gpt-4o");
    gw.shutdown().await.unwrap();
}

/// The encoder takes its settings from the artifact the gateway starts with (token budget,
/// pooled layers), and a reload must then match them.
#[tokio::test]
async fn the_encoder_runs_with_the_starting_artifacts_settings() {
    let Some(encoder_dir) = fetched_encoder() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pooled = classifier::EncoderConfig {
        max_tokens: 64,
        extra_layers: classifier::ExtraLayers::parse("3").unwrap(),
        ..Default::default()
    };
    let fingerprint = classifier::fingerprint_of(pooled.extra_layers);
    // A one-prompt kNN over 768-d embeddings (the last layer's 384, then layer 3's).
    let set = wide_set();
    let mut knn = KnnPredictor::new(&set, 1).unwrap();
    knn.manifest_mut().encoder_sha256 = fingerprint.clone();
    knn.manifest_mut().encoder = Some(EncoderSettings::of(&pooled));
    let start = dir.path().join("pooled");
    Artifact::from(knn).save(&start).unwrap();

    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.routing_deadline = Duration::from_secs(120);
    raw.router.artifact = Some(start.clone());
    // The command line asks for 256 tokens and no extra layers: the artifact wins.
    let config = admin_config(raw);
    let service = real_service(&config, &encoder_dir);
    assert_eq!(service.max_tokens(), 64);
    assert_eq!(service.embedding_dim(), 2 * DIM);
    assert_eq!(service.encoder_fingerprint(), fingerprint);
    // The task classifier still reads the first 384 values.
    let scored = service
        .score(
            "Write a Python function that reverses a list.".into(),
            std::time::Instant::now() + Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(scored.embedding.len(), 2 * DIM);
    assert!(
        scored.tasks.is_some(),
        "the task classifier ran on the prefix"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    assert_eq!(route(&gw).await["chosen"], "gpt-4o");
    // A standard 384-d artifact is refused while this encoder runs, naming the reason.
    let plain = artifact(
        dir.path(),
        "plain",
        &CANDIDATES,
        "gpt-4o-mini",
        classifier::weights::MODEL_SHA256,
    );
    let (status, v) = reload(&gw, Some(TOKEN), Some(json!({"artifact": plain}))).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "encoder_mismatch", "{v}");
    gw.shutdown().await.unwrap();
}

/// An artifact whose embeddings are longer than the encoder's (768 values, no pooled layers
/// recorded to make them) can never give an estimate: the gateway refuses to start on it,
/// naming the dimensions, instead of routing every request on its training means as if it
/// had estimated them.
#[tokio::test]
async fn an_artifact_of_another_embedding_length_is_refused_at_start() {
    let Some(encoder_dir) = fetched_encoder() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let set = wide_set();
    let mut knn = KnnPredictor::new(&set, 1).unwrap();
    knn.manifest_mut().encoder_sha256 = classifier::weights::MODEL_SHA256.to_owned();
    let path = dir.path().join("wide");
    Artifact::from(knn).save(&path).unwrap();
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.artifact = Some(path);
    let config = admin_config(raw);
    let err = gateway::server::load_classifier(
        &config,
        &encoder_dir,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("768") && msg.contains("384"), "{msg}");
}

/// The fetched encoder weights' folder, or `None` (with a note) when they are not there.
fn fetched_encoder() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.switchyard/encoder/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    eprintln!("skipped: no encoder weights in {}", dir.display());
    None
}

/// One prompt over 768-value embeddings, where gpt-4o answers and gpt-4o-mini does not.
fn wide_set() -> TrainingSet {
    TrainingSet {
        models: CANDIDATES.iter().map(|m| ModelId::new(*m)).collect(),
        x: vec![vec![1.0 / (2.0 * DIM as f32).sqrt(); 2 * DIM]],
        quality: vec![vec![Some(0.0), Some(1.0)]],
        output_tokens: vec![vec![Some(100.0); 2]],
        tasks: Vec::new(),
    }
}

/// `raw` with the admin endpoint on (token from [`TOKEN_ENV`]).
fn admin_config(mut raw: GatewayConfig) -> Config {
    raw.admin.token_env = Some(TOKEN_ENV.to_owned());
    Config::resolve(raw, &|k| (k == TOKEN_ENV).then(|| TOKEN.to_owned())).unwrap()
}

/// The real encoder service for `config`, started as `switchyard serve` starts it with the
/// command line's default encoder settings.
fn real_service(config: &Config, encoder_dir: &Path) -> classifier::Service {
    gateway::server::load_classifier(
        config,
        encoder_dir,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap()
    .expect("the encoder service starts")
}
