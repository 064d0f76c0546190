//! `switchyard bench cache`: what the response cache costs and saves, through the real gateway.
//!
//! A gateway runs in this process with `[cache] enabled = true, semantic = true` and the real
//! encoder service, in front of the testkit fake provider run as a separate process (as in
//! `bench routed`). One client sends requests one at a time (temperature 0, a pinned model) and
//! times each from send to the last body byte. Rows:
//!
//! - `upstream` (miss): a distinct prompt each time: encoder pass (for the semantic lookup),
//!   upstream call, outcome row, store;
//! - `exact hit`: the same request again and again;
//! - `semantic hit`: a rewording of a stored prompt each time, distinct as text (letter case
//!   varies, so the encoder's own embedding cache never answers) but the same tokens for the
//!   uncased encoder: each costs one real encoder pass plus the lookup.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use router_core::ModelId;
use serde_json::json;

use super::bench_routed::{bench_config, percentile, start_fake, KEY, KEY_ENV};
use super::EncoderArgs;

const MODEL: &str = "gpt-4o-mini";

/// A table row: its name, the `x-switchyard-cache` value expected, and the prompt of request `i`.
type Row = (&'static str, &'static str, Box<dyn Fn(usize) -> String>);
const STORED: &str = "How many legs does a spider have, and why do they need so many?";

#[derive(Debug, clap::Args)]
pub struct CacheBenchArgs {
    /// Timed requests per row.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Base URL of a running fake provider. Default: start the `testkit` binary next to this
    /// executable (`cargo build --release -p testkit`).
    #[arg(long)]
    upstream: Option<String>,
    /// Path of the `testkit` binary, when it is not next to this executable.
    #[arg(long)]
    fake_bin: Option<std::path::PathBuf>,
    #[command(flatten)]
    encoder: EncoderArgs,
}

/// `text` with the case of its letters set by the bits of `i`: a distinct string with the same
/// tokens for an uncased encoder and the same words for the cache's guard.
fn recased(text: &str, i: usize) -> String {
    text.chars()
        .enumerate()
        .map(|(j, c)| {
            if (i >> (j % 20)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

pub fn run(args: CacheBenchArgs) -> anyhow::Result<()> {
    if args.requests == 0 || args.requests > 1 << 20 {
        bail!("--requests must be between 1 and 1048576");
    }
    let fake = start_fake(args.upstream.as_ref(), args.fake_bin.as_ref())?;
    let (mut raw, log_dir) = bench_config(&fake, "cache")?;
    raw.router.candidates = Some(vec![ModelId::new(MODEL)]);
    // Every semantic lookup must get its embedding: no deadline fallbacks in a latency table.
    raw.router.routing_deadline = Duration::from_secs(10);
    raw.cache.enabled = true;
    raw.cache.semantic = true;
    raw.cache.max_entries = 100_000;
    raw.cache.max_bytes = 1 << 30;
    let config = gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned()))?;
    args.encoder.ensure_weights()?;
    let classifier = gateway::server::load_classifier(
        &config,
        &args.encoder.encoder_dir,
        classifier::ServiceConfig::for_machine(),
        args.encoder.config(classifier::ExtraLayers::NONE),
    )?
    .context("the encoder service did not start: is the encoder folder there?")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gateway")
        .build()?;
    let gw = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        anyhow::Ok(gateway::spawn(config, listener, Some(classifier)).await?)
    })?;
    let url = format!("http://{}/v1/chat/completions", gw.local_addr());

    let n = args.requests;
    let rows: [Row; 3] = [
        (
            "upstream (miss)",
            "miss",
            Box::new(|i| format!("Question number {i}: what is the capital of country {i}?")),
        ),
        ("exact hit", "hit", Box::new(|_| STORED.to_owned())),
        (
            "semantic hit",
            "semantic_hit",
            Box::new(|i| recased(STORED, i + 1)),
        ),
    ];
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let send = |text: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let body = json!({"model": MODEL, "temperature": 0,
                              "messages": [{"role": "user", "content": text}]});
            let start = Instant::now();
            let resp = client
                .post(&url)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await?;
            let served = resp
                .headers()
                .get("x-switchyard-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let ok = resp.status().is_success();
            let _ = resp.bytes().await?;
            anyhow::Ok((start.elapsed(), served, ok))
        }
    };
    outln!("| row | requests | served as expected | p50 ms | p90 ms | p99 ms |")?;
    outln!("|---|---:|---:|---:|---:|---:|")?;
    client_rt.block_on(async {
        // Stores the prompt the hit rows read, and warms connections and the encoder.
        for i in 0..20 {
            send(format!("warm-up {i}")).await?;
        }
        send(STORED.to_owned()).await?;
        for (name, expected, text) in &rows {
            let mut times = Vec::with_capacity(n);
            let mut as_expected = 0;
            for i in 0..n {
                let (took, served, ok) = send(text(i)).await?;
                if ok && served == *expected {
                    as_expected += 1;
                }
                times.push(took.as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            outln!(
                "| {name} | {n} | {as_expected} | {:.3} | {:.3} | {:.3} |",
                percentile(&times, 50.0),
                percentile(&times, 90.0),
                percentile(&times, 99.0)
            )?;
        }
        anyhow::Ok(())
    })?;
    rt.block_on(async { gw.shutdown().await })?;
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recased_variants_are_distinct_texts_with_the_same_words() {
        let a = recased(STORED, 1);
        let b = recased(STORED, 2);
        assert_ne!(a, b);
        assert_eq!(a.to_lowercase(), STORED.to_lowercase());
        let (sa, sb) = (
            gateway::cache::signature::signature(&a),
            gateway::cache::signature::signature(STORED),
        );
        assert!(sa.matches(&sb));
    }
}
