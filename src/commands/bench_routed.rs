//! `switchyard bench routed`: routed throughput through the real gateway.
//!
//! A gateway runs in this process on 127.0.0.1:0 with the real encoder service (task-aware
//! priors on the bundled task classifier, so every `auto` request is embedded), in front of the
//! testkit fake provider, which runs as a separate process (the `testkit` binary built next to
//! this one, or any URL given with `--upstream`). Every request carries a distinct prompt, so
//! the embedding cache never helps. Rows:
//!
//! - closed loop: `auto` and a pinned model at each concurrency;
//! - `direct`: before each pinned row, the same load sent straight to the fake provider, so
//!   that the pinned row can report what the gateway adds (`added p50 / p99`: gateway minus
//!   direct at the same percentile);
//! - open loop (`--rates`): `auto` requests arriving at a fixed rate, latency counted from each
//!   request's scheduled send time, so a slow gateway cannot hide queueing by slowing the
//!   client down.
//!
//! Fallbacks are counted from the gateway's `switchyard_classifier_fallback_total` by reason;
//! the routing time of each answer comes from its `x-switchyard-route-ms` header. CPU per request is the
//! CPU time of every thread of this process except the client's (HTTP, routing, encoder and its
//! matmul threads, outcome log), read from `/proc/self/task/*/schedstat` (nanoseconds, Linux).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::upstream::ProviderKind;
use router_core::{ModelId, ProviderId};
use serde_json::json;

use super::EncoderArgs;

/// The env var the gateway's provider reads its key from (resolved in-process).
pub(super) const KEY_ENV: &str = "SWITCHYARD_BENCH_KEY";
/// The key sent to the fake, which checks that one is present.
pub(super) const KEY: &str = "sk-bench";
/// What `auto` chooses among.
const CANDIDATES: [&str; 2] = ["gpt-4o-mini", "gpt-4o"];
/// The static fallback: a catalog model that is not a candidate, so it marks fallbacks.
const FALLBACK: &str = "gpt-4.1-nano";
/// The model of the pinned rows.
const PINNED: &str = "gpt-4o-mini";
/// Prefix of the client's thread names, whose CPU is not the gateway's.
const CLIENT_THREAD: &str = "bench-client";

#[derive(Debug, clap::Args)]
pub struct RoutedArgs {
    /// Closed-loop concurrency levels (in-flight requests).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Requests per closed-loop row.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Open-loop arrival rates in requests/s for `auto` (none: no open-loop rows).
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// Seconds per open-loop rate.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Encoder tokens per prompt (special tokens included); the words are common one-token
    /// English words, so this is exact up to rare splits.
    #[arg(long, default_value_t = 16)]
    tokens: usize,
    /// The gateway's routing deadline, milliseconds.
    #[arg(long, default_value_t = 50)]
    deadline_ms: u64,
    /// Encoder worker threads (default: one per four cores, at least one).
    #[arg(long)]
    workers: Option<usize>,
    /// Threads of the encoder's compute pool (default: all cores but one per four, at least
    /// one; 0: every core).
    #[arg(long)]
    encoder_threads: Option<usize>,
    /// Threads of the gateway's HTTP runtime (default: as `serve` picks them, `[server]
    /// worker_threads`: one on two cores or fewer, one per core above).
    #[arg(long)]
    http_threads: Option<usize>,
    /// Nice levels the encoder threads run above the HTTP threads (0: same priority).
    #[arg(long, default_value_t = classifier::service::DEFAULT_PRIORITY_GAP)]
    priority_gap: i32,
    /// Which rows: `auto`, `pinned` or both (each pinned row comes with a `direct` row, the same
    /// load sent straight to the fake, to report the latency the gateway adds).
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("pinned"), String::from("auto")])]
    models: Vec<String>,
    /// Base URL of a running fake provider (`testkit --port 0` prints it). Default: start the
    /// `testkit` binary next to this executable (`cargo build --release -p testkit`).
    #[arg(long)]
    upstream: Option<String>,
    /// Path of the `testkit` binary, when it is not next to this executable.
    #[arg(long)]
    fake_bin: Option<PathBuf>,
    /// Ask for the encoder's int8 weights (`[router] encoder_weights = "int8"`), settled as
    /// `serve` settles them: served only on a CPU with AVX-512 VNNI and through the accuracy
    /// gate; the report says which weights served.
    #[arg(long)]
    int8: bool,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    encoder: EncoderArgs,
}

/// One request's result.
struct Sample {
    latency: Duration,
    route_ms: f64,
}

/// One row of the report.
struct Row {
    mode: String,
    /// The direct twin's (p50, p99) latency in ms, for a pinned row.
    direct: Option<(f64, f64)>,
    /// Outcome commit waits during the row: (count, total seconds).
    commit_wait: (u64, f64),
    load: String,
    requests: usize,
    errors: usize,
    wall: Duration,
    samples: Vec<Sample>,
    gateway_cpu: Duration,
    client_cpu: Duration,
    /// Fallbacks by reason, from the gateway's counters.
    reasons: HashMap<&'static str, f64>,
    /// Encoder batches run and prompts embedded during the row.
    batches: u64,
    embedded: u64,
    /// Time the encoder spent in forward passes during the row.
    forward: Duration,
}

const REASONS: [&str; 5] = [
    "deadline_unmeetable",
    "deadline",
    "queue_full",
    "worker_gone",
    "embed_error",
];

/// The fake provider process, killed when dropped.
pub(super) struct Fake {
    child: Option<Child>,
    pub(super) url: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The fake provider at `upstream`, else the `testkit` binary (`fake_bin`, or next to this
/// executable) started on a free port.
pub(super) fn start_fake(
    upstream: Option<&String>,
    fake_bin: Option<&PathBuf>,
) -> anyhow::Result<Fake> {
    if let Some(url) = upstream {
        return Ok(Fake {
            child: None,
            url: url.trim_end_matches('/').to_owned(),
        });
    }
    let bin = match fake_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()
            .context("locate this executable")?
            .with_file_name("testkit"),
    };
    if !bin.is_file() {
        bail!(
            "the fake provider binary {} does not exist; build it with `cargo build --release -p testkit`, \
             or pass --fake-bin PATH or --upstream URL",
            bin.display()
        );
    }
    let mut child = Command::new(&bin)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .context("read the fake provider's URL")?;
    }
    let url = line.trim().to_owned();
    let fake = Fake {
        child: Some(child),
        url,
    };
    if !fake.url.starts_with("http://") {
        bail!(
            "{} printed {:?} instead of its URL; pass --upstream URL",
            bin.display(),
            fake.url
        );
    }
    Ok(fake)
}

/// A gateway configuration whose one provider is `fake` (OpenAI dialect, its key read from
/// [`KEY_ENV`]) and whose outcome log lives in a fresh temporary folder, returned with it.
pub(super) fn bench_config(fake: &Fake, bench: &str) -> anyhow::Result<(GatewayConfig, PathBuf)> {
    let log_dir =
        std::env::temp_dir().join(format!("switchyard-bench-{bench}-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).with_context(|| format!("create {}", log_dir.display()))?;
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = log_dir.join("outcomes.sqlite");
    raw.providers = vec![ProviderConfig {
        name: ProviderId::new("openai"),
        kind: ProviderKind::Openai,
        base_url: format!("{}/v1", fake.url),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }];
    Ok((raw, log_dir))
}

/// Common English words that are one WordPiece token each in all-MiniLM-L6-v2's vocabulary.
const WORDS: [&str; 64] = [
    "the", "model", "route", "time", "data", "water", "house", "city", "river", "music", "light",
    "money", "world", "school", "story", "paper", "night", "power", "field", "table", "market",
    "energy", "health", "family", "garden", "window", "summer", "winter", "animal", "letter",
    "system", "number", "people", "friend", "change", "reason", "simple", "answer", "during",
    "before", "after", "under", "about", "write", "explain", "short", "long", "small", "large",
    "green", "black", "white", "early", "planet", "forest", "island", "history", "science",
    "travel", "doctor", "engine", "bridge", "coffee", "question",
];

/// The `i`-th distinct prompt of `tokens` tokens (two of them are the special tokens).
fn prompt(i: u64, tokens: usize) -> String {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut words = Vec::with_capacity(tokens.saturating_sub(2).max(1));
    for _ in 0..tokens.saturating_sub(2).max(1) {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        words.push(WORDS[(z % WORDS.len() as u64) as usize]);
    }
    words.join(" ")
}

/// CPU time of this process's threads: (client threads, all others).
fn cpu_split() -> (Duration, Duration) {
    let mut client = Duration::ZERO;
    let mut other = Duration::ZERO;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (client, other);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let t = Duration::from_nanos(ns);
        if comm.trim_end().starts_with(CLIENT_THREAD) {
            client += t;
        } else {
            other += t;
        }
    }
    (client, other)
}

/// Sends one chat request; `None` on any failure.
async fn one(client: &reqwest::Client, url: &str, model: &str, text: String) -> Option<Sample> {
    let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
    let start = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let _ = resp.bytes().await.ok()?;
    let latency = start.elapsed();
    if !status.is_success() {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Some(Sample {
        latency,
        route_ms: header("x-switchyard-route-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
    })
}

/// How requests are sent.
#[derive(Clone, Copy)]
enum Load {
    Closed { concurrency: usize, requests: usize },
    Open { rate: f64, seconds: f64 },
}

/// Runs one load on a fresh single-threaded client runtime on a named thread; returns the
/// samples (latency from the scheduled send time in open loop), errors and wall time.
fn drive(
    url: String,
    model: String,
    load: Load,
    tokens: usize,
    first_prompt: u64,
) -> anyhow::Result<(Vec<Sample>, usize, Duration)> {
    let handle = std::thread::Builder::new()
        .name(CLIENT_THREAD.to_owned())
        .spawn(move || -> anyhow::Result<(Vec<Sample>, usize, Duration)> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1024)
                    .build()?;
                let client = Arc::new(client);
                let url = Arc::new(url);
                let model = Arc::new(model);
                let mut tasks = tokio::task::JoinSet::new();
                let start = Instant::now();
                match load {
                    Load::Closed {
                        concurrency,
                        requests,
                    } => {
                        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
                        for _ in 0..concurrency.max(1) {
                            let (client, url, model, next) = (
                                Arc::clone(&client),
                                Arc::clone(&url),
                                Arc::clone(&model),
                                Arc::clone(&next),
                            );
                            tasks.spawn(async move {
                                let mut out = Vec::new();
                                loop {
                                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    if i >= requests as u64 {
                                        break out;
                                    }
                                    let text = prompt(first_prompt + i, tokens);
                                    out.push(one(&client, &url, &model, text).await);
                                }
                            });
                        }
                    }
                    Load::Open { rate, seconds } => {
                        let n = (rate * seconds).round().max(1.0) as u64;
                        let gap = Duration::from_secs_f64(1.0 / rate.max(1e-3));
                        for i in 0..n {
                            let at = start + gap.mul_f64(i as f64);
                            tokio::time::sleep_until(at.into()).await;
                            let (client, url, model) =
                                (Arc::clone(&client), Arc::clone(&url), Arc::clone(&model));
                            tasks.spawn(async move {
                                let text = prompt(first_prompt + i, tokens);
                                let sample = one(&client, &url, &model, text).await.map(|mut s| {
                                    // From the scheduled time: queueing in the client counts.
                                    s.latency = at.elapsed();
                                    s
                                });
                                vec![sample]
                            });
                        }
                    }
                }
                let mut samples = Vec::new();
                let mut errors = 0;
                while let Some(done) = tasks.join_next().await {
                    for s in done? {
                        match s {
                            Some(s) => samples.push(s),
                            None => errors += 1,
                        }
                    }
                }
                Ok((samples, errors, start.elapsed()))
            })
        })
        .context("start the client thread")?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))?
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

impl Row {
    fn summary(&self) -> serde_json::Value {
        let n = self.samples.len().max(1) as f64;
        let latency = sorted(self.samples.iter().map(|s| s.latency.as_secs_f64() * 1e3));
        let route = sorted(self.samples.iter().map(|s| s.route_ms));
        let secs = self.wall.as_secs_f64().max(1e-9);
        let done = self.samples.len() + self.errors;
        let (p50, p99) = (percentile(&latency, 50.0), percentile(&latency, 99.0));
        json!({
            "mode": self.mode,
            "load": self.load,
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": self.samples.len() as f64 / secs,
            "routed_per_s": (self.samples.len() as f64 - self.reasons.values().sum::<f64>()).max(0.0) / secs,
            "p50_ms": p50,
            "p99_ms": p99,
            "added_p50_ms": self.direct.map(|d| p50 - d.0),
            "added_p99_ms": self.direct.map(|d| p99 - d.1),
            "commit_wait_mean_ms": (self.commit_wait.0 > 0)
                .then(|| self.commit_wait.1 * 1e3 / self.commit_wait.0 as f64),
            // A fold from +0.0: an empty f64 `sum` is -0.0, printed as "-0.00 %".
            "fallback_share": self.reasons.values().fold(0.0, |a, b| a + b) / n,
            "fallback_reasons": self.reasons,
            "route_p50_ms": percentile(&route, 50.0),
            "route_p99_ms": percentile(&route, 99.0),
            "gateway_cpu_us_per_request": self.gateway_cpu.as_secs_f64() * 1e6 / done.max(1) as f64,
            "client_cpu_us_per_request": self.client_cpu.as_secs_f64() * 1e6 / done.max(1) as f64,
            "encoder_batches": self.batches,
            "mean_batch": self.embedded as f64 / self.batches.max(1) as f64,
            "encoder_busy_share": self.forward.as_secs_f64() / secs,
        })
    }
}

fn fmt_ms(v: &serde_json::Value) -> String {
    v.as_f64()
        .filter(|x| x.is_finite())
        .map_or("–".to_owned(), |x| format!("{x:.2}"))
}

fn fmt_ms3(v: &serde_json::Value) -> String {
    v.as_f64()
        .filter(|x| x.is_finite())
        .map_or("–".to_owned(), |x| format!("{x:.3}"))
}

pub fn run(args: RoutedArgs) -> anyhow::Result<()> {
    for m in &args.models {
        if m != "auto" && m != "pinned" {
            bail!("--models: unknown row kind {m:?}; use auto, pinned or auto,pinned");
        }
    }
    if args.tokens < 3 || args.tokens > 256 {
        bail!("--tokens must be between 3 and 256 (the encoder's default budget)");
    }
    if args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        bail!("--rates: every rate must be a positive number of requests per second");
    }
    let fake = start_fake(args.upstream.as_ref(), args.fake_bin.as_ref())?;
    let (mut raw, log_dir) = bench_config(&fake, "routed")?;
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.fallback_model = ModelId::new(FALLBACK);
    raw.router.routing_deadline = Duration::from_millis(args.deadline_ms);
    if args.int8 {
        raw.router.encoder_weights = gateway::config::EncoderWeights::Int8;
    }
    let config = gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned()))?;

    // The matmul rate and the FLOP bound it implies, measured before any load.
    let matmul = classifier::bench::matmul_gflops(5)?;
    let flops = classifier::bench::forward_flops(args.tokens, 1);
    let bound = matmul * 1e9 / flops;

    let mut service_config = classifier::ServiceConfig::for_machine();
    if let Some(w) = args.workers {
        service_config.workers = w.max(1);
    }
    if let Some(t) = args.encoder_threads {
        service_config.encoder_threads = t;
    }
    service_config.priority_gap = args.priority_gap;
    args.encoder.ensure_weights()?;
    let (encoder, classifier) = gateway::server::load_encoder_service(
        &config,
        &args.encoder.encoder_dir,
        service_config,
        args.encoder.config(classifier::ExtraLayers::NONE),
    )?
    .context("the encoder service did not start: is the encoder folder there?")?;
    let weights = if gateway::server::settle_int8(&config, &encoder, &classifier) {
        "int8"
    } else {
        "f32"
    };

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let http_threads = args
        .http_threads
        .filter(|n| *n > 0)
        .unwrap_or_else(|| config.server.http_threads(cores));
    eprintln!("gateway HTTP runtime: {http_threads} thread(s)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(http_threads)
        .enable_all()
        .thread_name("gateway")
        .on_thread_start(classifier.yield_to_encoder())
        .build()?;
    let gw = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        anyhow::Ok(gateway::spawn(config, listener, Some(classifier.clone())).await?)
    })?;
    let url = format!("http://{}/v1/chat/completions", gw.local_addr());

    let mut loads: Vec<(String, Load)> = Vec::new();
    for m in ["pinned", "auto"] {
        if !args.models.iter().any(|x| x == m) {
            continue;
        }
        for &c in &args.concurrency {
            let load = Load::Closed {
                concurrency: c,
                requests: args.requests,
            };
            if m == "pinned" {
                // The same load straight to the fake, just before: what the gateway adds.
                loads.push(("direct".to_owned(), load));
            }
            loads.push((m.to_owned(), load));
        }
    }
    for &rate in &args.rates {
        loads.push((
            "auto".to_owned(),
            Load::Open {
                rate,
                seconds: args.seconds,
            },
        ));
    }

    let direct_url = format!("{}/v1/chat/completions", fake.url);
    let mut next_prompt = 0u64;
    let mut rows = Vec::new();
    let mut last_direct: Option<(f64, f64)> = None;
    for (mode, load) in loads {
        let model = if mode == "auto" { "auto" } else { PINNED };
        let url = if mode == "direct" { &direct_url } else { &url };
        // Warm up connections, the cost estimate and the outcome writer.
        let warm = Load::Closed {
            concurrency: 4,
            requests: 40,
        };
        drive(
            url.clone(),
            model.to_owned(),
            warm,
            args.tokens,
            next_prompt,
        )?;
        next_prompt += 40;
        let fallbacks_before: Vec<f64> = REASONS
            .iter()
            .map(|r| {
                gw.metrics()
                    .counter_value("switchyard_classifier_fallback_total", &[("reason", r)])
            })
            .collect();
        let commit0 = gw
            .metrics()
            .histogram_value("switchyard_outcome_commit_wait_seconds", &[]);
        let stats0 = classifier.stats();
        let (client0, other0) = cpu_split();
        let (samples, errors, wall) = drive(
            url.clone(),
            model.to_owned(),
            load,
            args.tokens,
            next_prompt,
        )?;
        let (client1, other1) = cpu_split();
        let stats1 = classifier.stats();
        let commit1 = gw
            .metrics()
            .histogram_value("switchyard_outcome_commit_wait_seconds", &[]);
        let reasons: HashMap<&'static str, f64> = REASONS
            .iter()
            .zip(fallbacks_before)
            .map(|(r, before)| {
                let after = gw
                    .metrics()
                    .counter_value("switchyard_classifier_fallback_total", &[("reason", r)]);
                (*r, after - before)
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        let requests = samples.len() + errors;
        next_prompt += requests as u64;
        let load_label = match load {
            Load::Closed { concurrency, .. } => format!("closed c={concurrency}"),
            Load::Open { rate, .. } => format!("open {rate}/s"),
        };
        let latency = sorted(samples.iter().map(|s| s.latency.as_secs_f64() * 1e3));
        let direct = match mode.as_str() {
            "direct" => {
                last_direct = Some((percentile(&latency, 50.0), percentile(&latency, 99.0)));
                None
            }
            "pinned" => last_direct.take(),
            _ => None,
        };
        let row = Row {
            mode: mode.clone(),
            direct,
            commit_wait: (
                commit1.0.saturating_sub(commit0.0),
                (commit1.1 - commit0.1).max(0.0),
            ),
            load: load_label,
            requests,
            errors,
            wall,
            samples,
            gateway_cpu: other1.saturating_sub(other0),
            client_cpu: client1.saturating_sub(client0),
            reasons,
            batches: stats1.batches.saturating_sub(stats0.batches),
            embedded: stats1.dequeued.saturating_sub(stats0.dequeued),
            forward: Duration::from_micros(stats1.forward_us.saturating_sub(stats0.forward_us)),
        };
        if !args.json {
            eprintln!("done: {} {}", row.mode, row.load);
        }
        rows.push(row.summary());
    }
    let stats = classifier.stats();
    rt.block_on(gw.shutdown())?;
    drop(rt);
    let _ = std::fs::remove_dir_all(&log_dir);

    let header = json!({
        "tokens_per_prompt": args.tokens,
        "routing_deadline_ms": args.deadline_ms,
        "encoder_workers": service_config.workers,
        "encoder_weights": weights,
        "matmul_gflops": matmul,
        "gflop_per_prompt": flops / 1e9,
        "flop_bound_prompts_per_s": bound,
        "fitted_encoder_gflops": stats.fitted_gflops,
        "fitted_batch_overhead_ms": stats.fitted_overhead.as_secs_f64() * 1e3,
        "encoder_batches": stats.batches,
        "encoder_enqueued": stats.enqueued,
        "encoder_refused_unmeetable": stats.unmeetable,
        "encoder_refused_saturated": stats.saturated,
        "cache_hits": stats.cache_hits,
        "cache_misses": stats.cache_misses,
        "mean_batch": stats.dequeued as f64 / stats.batches.max(1) as f64,
        "rows": rows,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&header)?)?;
        return Ok(());
    }
    outln!(
        "{} tokens per prompt, routing deadline {} ms, {} encoder worker(s), {} weights; matmul {:.0} GFLOP/s, \
         {:.2} GFLOP per prompt: FLOP bound {:.0} prompts/s (60 %: {:.0}/s). Encoder fit at the end: \
         {:.0} GFLOP/s + {:.1} ms per batch; {} batches, {:.1} prompts per batch on average.\n",
        args.tokens,
        args.deadline_ms,
        service_config.workers,
        weights,
        matmul,
        flops / 1e9,
        bound,
        0.6 * bound,
        stats.fitted_gflops,
        stats.fitted_overhead.as_secs_f64() * 1e3,
        stats.batches,
        stats.dequeued as f64 / stats.batches.max(1) as f64,
    )?;
    outln!("| model | load | requests | req/s | routed/s | p50 ms | p99 ms | added p50 / p99 ms | commit wait ms | fallback | waited out | route p50 / p99 ms | prompts / batch | gateway CPU µs/req |")?;
    outln!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in header["rows"].as_array().into_iter().flatten() {
        let share = r["fallback_share"].as_f64().unwrap_or(0.0);
        let waited = r["fallback_reasons"]["deadline"].as_f64().unwrap_or(0.0)
            / r["requests"].as_f64().unwrap_or(1.0).max(1.0);
        let errors = r["errors"].as_u64().unwrap_or(0);
        outln!(
            "| {} | {} | {}{} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} % | {:.2} % | {} / {} | {} | {:.0} |",
            r["mode"].as_str().unwrap_or(""),
            r["load"].as_str().unwrap_or(""),
            r["requests"],
            if errors > 0 {
                format!(" ({errors} failed)")
            } else {
                String::new()
            },
            r["requests_per_s"].as_f64().unwrap_or(0.0),
            r["routed_per_s"].as_f64().unwrap_or(0.0),
            fmt_ms(&r["p50_ms"]),
            fmt_ms(&r["p99_ms"]),
            if r["added_p50_ms"].is_null() {
                "–".to_owned()
            } else {
                format!(
                    "{} / {}",
                    fmt_ms(&r["added_p50_ms"]),
                    fmt_ms(&r["added_p99_ms"])
                )
            },
            fmt_ms3(&r["commit_wait_mean_ms"]),
            share * 100.0,
            waited * 100.0,
            fmt_ms(&r["route_p50_ms"]),
            fmt_ms(&r["route_p99_ms"]),
            if r["encoder_batches"].as_u64().unwrap_or(0) > 0 {
                format!("{:.1}", r["mean_batch"].as_f64().unwrap_or(0.0))
            } else {
                "–".to_owned()
            },
            r["gateway_cpu_us_per_request"].as_f64().unwrap_or(0.0),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_distinct_and_sized() {
        let a = prompt(1, 16);
        let b = prompt(2, 16);
        assert_ne!(a, b);
        assert_eq!(a.split(' ').count(), 14);
        assert_eq!(prompt(7, 64).split(' ').count(), 62);
    }
}
