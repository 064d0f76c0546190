//! Gateway overhead: the latency the gateway adds over calling the upstream directly.
//!
//! Starts the testkit fake provider and a gateway in front of it (both on 127.0.0.1:0, in this
//! process), then times the same non-streamed chat request sent to the fake directly and
//! through the gateway, sequentially and with concurrency, and prints a markdown table of
//! p50/p99 latencies and the added p50/p99.
//!
//! ```sh
//! cargo run --release -p gateway --example overhead -- [N] [CONCURRENCY] [ENCODER_DIR]
//! ```
//!
//! `N` (default 2000) requests per row; `CONCURRENCY` (default 16) in-flight requests for the
//! concurrent rows. With `ENCODER_DIR` (all-MiniLM-L6-v2 weights) a further gateway routes
//! `auto` through the real encoder and a flat predictor, so the encoder's cost is included.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::upstream::ProviderKind;
use router_core::{ModelEstimate, ModelId, ProviderId, QualityPredictor};
use serde_json::{json, Value};

/// The env var the gateway's provider reads its key from (resolved in-process).
const KEY_ENV: &str = "SWITCHYARD_BENCH_KEY";
/// The fake upstream's key, sent directly or by the gateway.
const KEY: &str = "sk-bench";

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A predictor with fixed estimates: the encoder still runs for every `auto` prompt.
struct FlatPredictor(Vec<ModelId>);

impl QualityPredictor for FlatPredictor {
    fn models(&self) -> &[ModelId] {
        &self.0
    }
    fn predict(&self, _embedding: &[f32]) -> Vec<ModelEstimate> {
        self.0
            .iter()
            .map(|_| ModelEstimate {
                quality: 0.7,
                output_tokens: 50.0,
            })
            .collect()
    }
}

async fn start_gateway(
    fake_openai_url: &str,
    log_dir: &std::path::Path,
    classifier: Option<classifier::Service>,
) -> BoxResult<gateway::RunningGateway> {
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = log_dir.join("overhead.sqlite");
    raw.providers = vec![ProviderConfig {
        name: ProviderId::new("openai"),
        kind: ProviderKind::Openai,
        base_url: fake_openai_url.to_owned(),
        // The fake checks that a key is sent, as the real APIs do.
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }];
    raw.router.candidates = Some(vec![ModelId::new("gpt-4o-mini"), ModelId::new("gpt-4o")]);
    // The benchmark measures the encoder, not the fallback: give it time on a busy machine.
    raw.router.routing_deadline = Duration::from_secs(5);
    let config = gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(gateway::spawn(config, listener, classifier).await?)
}

/// Sends `n` requests, `concurrency` at a time; returns each latency.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    n: usize,
    concurrency: usize,
) -> BoxResult<Vec<Duration>> {
    let results: Vec<BoxResult<Duration>> = futures::stream::iter(0..n)
        .map(|_| async move {
            let start = Instant::now();
            let resp = client.post(url).bearer_auth(KEY).json(body).send().await?;
            let status = resp.status();
            let _ = resp.bytes().await?;
            if !status.is_success() {
                return Err(format!("{url} answered {status}").into());
            }
            Ok(start.elapsed())
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct Row {
    label: String,
    concurrency: usize,
    direct: (f64, f64),
    gateway: (f64, f64),
}

fn summary(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let encoder_dir = args.next().map(PathBuf::from);

    let fake = testkit::FakeProvider::start().await;
    let log_dir = tempfile::tempdir()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let direct_url = format!("{}/chat/completions", fake.openai_base_url());
    let prompt = "Summarise the plot of Hamlet in two sentences.";
    let direct_body =
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]});

    let mut gateways = vec![(
        "priors (no encoder)".to_owned(),
        start_gateway(&fake.openai_base_url(), log_dir.path(), None).await?,
    )];
    if let Some(dir) = &encoder_dir {
        let encoder = Arc::new(classifier::Encoder::load(dir, Default::default())?);
        let predictor = FlatPredictor(vec![ModelId::new("gpt-4o-mini"), ModelId::new("gpt-4o")]);
        let service = classifier::Service::start(
            encoder,
            Some(Arc::new(predictor)),
            classifier::ServiceConfig::default(),
        )?;
        let enc_dir = log_dir.path().join("encoder");
        std::fs::create_dir_all(&enc_dir)?;
        gateways.push((
            "real encoder + predictor".to_owned(),
            start_gateway(&fake.openai_base_url(), &enc_dir, Some(service)).await?,
        ));
    }

    let mut rows = Vec::new();
    for (label, gw) in &gateways {
        let gw_url = format!("http://{}/v1/chat/completions", gw.local_addr());
        for model in ["gpt-4o-mini", "auto"] {
            let body = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
            for c in [1, concurrency] {
                // Warm up connections, the encoder and the SQLite writer.
                measure(&client, &direct_url, &direct_body, 50, c).await?;
                measure(&client, &gw_url, &body, 50, c).await?;
                // Interleave direct and gateway halves so drift hits both alike.
                let mut direct = Vec::with_capacity(n);
                let mut through = Vec::with_capacity(n);
                for _ in 0..2 {
                    direct.extend(measure(&client, &direct_url, &direct_body, n / 2, c).await?);
                    through.extend(measure(&client, &gw_url, &body, n / 2, c).await?);
                }
                rows.push(Row {
                    label: format!("{label}, model={model}"),
                    concurrency: c,
                    direct: summary(direct),
                    gateway: summary(through),
                });
            }
        }
    }

    println!("N = {n} requests per row (non-streamed), loopback, fake upstream answers at once.\n");
    println!("| gateway | concurrency | direct p50 ms | direct p99 ms | gateway p50 ms | gateway p99 ms | added p50 ms | added p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.label,
            r.concurrency,
            r.direct.0,
            r.direct.1,
            r.gateway.0,
            r.gateway.1,
            r.gateway.0 - r.direct.0,
            r.gateway.1 - r.direct.1
        );
    }
    for (_, gw) in gateways {
        gw.shutdown().await?;
    }
    fake.shutdown().await;
    Ok(())
}
