//! A gateway for `scripts/conformance.sh` when `switchyard serve` is not available: serves on
//! 127.0.0.1:0 against a fake provider and prints `SWITCHYARD_URL=http://127.0.0.1:PORT`.
//!
//! ```sh
//! cargo run -p gateway --example serve_for_conformance -- http://127.0.0.1:FAKE_PORT [LOG_DIR]
//! ```
//!
//! The fake (testkit) serves OpenAI at `{url}/v1` and Anthropic at `{url}`; the candidates are
//! `gpt-4o-mini`, `gpt-4o` and `claude-haiku-4.5`. Runs until Ctrl-C (SIGINT) or until killed.

use std::io::Write;
use std::path::PathBuf;

use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::upstream::ProviderKind;
use router_core::{ModelId, ProviderId};

/// The env var name the providers read their (fake) key from; resolved in-process.
const KEY_ENV: &str = "SWITCHYARD_CONFORMANCE_KEY";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let fake = args
        .next()
        .ok_or("usage: serve_for_conformance FAKE_BASE_URL [LOG_DIR]")?;
    let fake = fake.trim_end_matches('/').to_owned();
    let log_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);

    let mut raw = GatewayConfig::default();
    raw.log.sqlite = log_dir.join("conformance-outcomes.sqlite");
    raw.providers = vec![
        ProviderConfig {
            name: ProviderId::new("openai"),
            kind: ProviderKind::Openai,
            base_url: format!("{fake}/v1"),
            // The fake checks that a key is sent, as the real APIs do.
            api_key_env: Some(KEY_ENV.to_owned()),
            prompt_cache: None,
        },
        ProviderConfig {
            name: ProviderId::new("anthropic"),
            kind: ProviderKind::Anthropic,
            base_url: fake,
            api_key_env: Some(KEY_ENV.to_owned()),
            prompt_cache: None,
        },
    ];
    raw.router.candidates = Some(
        ["gpt-4o-mini", "gpt-4o", "claude-haiku-4.5"]
            .into_iter()
            .map(ModelId::new)
            .collect(),
    );
    let config = gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| "sk-fake".to_owned()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let running = gateway::spawn(config, listener, None).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "SWITCHYARD_URL=http://{}", running.local_addr())?;
    stdout.flush()?;

    tokio::signal::ctrl_c().await?;
    running.shutdown().await?;
    Ok(())
}
