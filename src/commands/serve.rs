use anyhow::Context;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::artifact_setting::{ArtifactSetting, NamedBy};
use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Gateway config (TOML; every field with its default is in gateway/config/example.toml).
    /// Without it: 127.0.0.1:8080, the embedded catalog, providers from environment variables.
    /// Relative paths in it (`[log] sqlite`, `[router] artifact`, ...) resolve against the
    /// working directory.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overriding `[server] bind` (use 127.0.0.1:0 for any free port).
    #[arg(long, env = "SWITCHYARD_BIND", value_parser = parse_bind)]
    bind: Option<std::net::SocketAddr>,
    /// Router artifact, overriding `[router] artifact` (default: the bundled one).
    #[arg(long)]
    artifact: Option<PathBuf>,
    /// Route on catalog priors only: no encoder, no artifact.
    #[arg(long)]
    priors_only: bool,
    #[command(flatten)]
    encoder: EncoderArgs,
}

/// `--bind`, which may come from `$SWITCHYARD_BIND`: the error names both, since clap names
/// only the flag.
fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("`{s}`: expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080 (from --bind, or $SWITCHYARD_BIND when the flag is not given)")
    })
}

/// Command-line values that override the config file.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<std::net::SocketAddr>,
    /// `--artifact`.
    pub artifact: Option<PathBuf>,
    /// `--priors-only`.
    pub priors_only: bool,
}

/// Loads the gateway config, applies the overrides to the raw file values (so that they are
/// validated like the file's own), and picks the artifact: the flag, else the config's, else
/// the bundled default (the checkout's, else the copy embedded in the binary). A missing
/// artifact folder is refused here, naming the setting that gave it.
pub fn load_config(config: Option<&Path>, overrides: Overrides) -> anyhow::Result<gateway::Config> {
    load_config_and_artifact(config, overrides).map(|(config, _)| config)
}

/// [`load_config`], also returning the artifact and which setting named it, to restate a
/// later loading error as that setting's ([`ArtifactSetting::explain`]).
pub fn load_config_and_artifact(
    config: Option<&Path>,
    overrides: Overrides,
) -> anyhow::Result<(gateway::Config, Option<ArtifactSetting>)> {
    let mut raw = gateway::config::GatewayConfig::load(config)?;
    if let Some(bind) = overrides.bind {
        raw.server.bind = bind;
    }
    let named_by = if overrides.priors_only {
        raw.router.artifact = None;
        None
    } else if let Some(dir) = overrides.artifact {
        raw.router.artifact = Some(dir);
        Some(NamedBy::Flag)
    } else if raw.router.artifact.is_some() {
        Some(NamedBy::Config(config.map(Path::to_owned)))
    } else {
        let dir = super::bundled_artifact::resolve()?;
        tracing::info!(path = %dir.display(), "No router artifact configured: using the bundled one.");
        raw.router.artifact = Some(dir);
        Some(NamedBy::Bundled)
    };
    let config = gateway::Config::resolve_from_env(raw)?;
    let artifact = match (named_by, &config.router.artifact) {
        (Some(named_by), Some(dir)) => {
            let setting = ArtifactSetting {
                dir: dir.clone(),
                named_by,
            };
            setting.check()?;
            Some(setting)
        }
        _ => None,
    };
    Ok((config, artifact))
}

/// Starts the encoder service with the configured artifact (without one it still runs the
/// task classifier for task-aware priors); `--priors-only` callers skip this.
pub fn load_classifier(
    config: &gateway::Config,
    encoder: &EncoderArgs,
) -> anyhow::Result<Option<classifier::Service>> {
    // Fetch on first use; the gateway loads (and hash-checks) the weights itself.
    encoder.ensure_weights()?;
    Ok(gateway::server::load_classifier(
        config,
        &encoder.encoder_dir,
        classifier::ServiceConfig::for_machine(),
        encoder.config(classifier::ExtraLayers::NONE),
    )?)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (config, artifact) = load_config_and_artifact(
        args.config.as_deref(),
        Overrides {
            bind: args.bind,
            artifact: args.artifact,
            priors_only: args.priors_only,
        },
    )?;
    let classifier = if args.priors_only {
        None
    } else {
        load_classifier(&config, &args.encoder).map_err(|e| match &artifact {
            Some(setting) => setting.explain(e),
            None => e,
        })?
    };
    // Where the encoder threads may not be raised above the HTTP threads, the HTTP threads
    // step down instead, so that requests the encoder refuses cannot starve it.
    let yield_to_encoder = classifier
        .as_ref()
        .map(classifier::Service::yield_to_encoder);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.http_threads(cores))
        .enable_all()
        .thread_name("switchyard-io")
        .on_thread_start(move || {
            if let Some(step_down) = &yield_to_encoder {
                step_down();
            }
        })
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let bind = config.server.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind} (is another server on that port? use --bind)"))?;
        let running = gateway::spawn(config, listener, classifier).await?;
        // One line on stdout that scripts can read to find the port. Nobody reading it (stdout
        // closed) is no reason not to serve: the error is ignored rather than a panic.
        let _ = writeln!(
            std::io::stdout(),
            "switchyard listening on http://{}",
            running.local_addr()
        );
        let token = running.shutdown_token();
        let state = running.state().clone();
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("Shutting down: draining requests and flushing the outcome log."),
            _ = token.cancelled() => {}
            _ = reload_on_hangup(state) => {}
        }
        running.shutdown().await?;
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Reloads the router artifact on every SIGHUP (unix); never returns. A refused reload is
/// logged by the gateway and the old predictor keeps serving.
async fn reload_on_hangup(state: gateway::AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the router artifact.");
                    // Errors are already logged (WARN) and counted by reload_artifact.
                    let _ = gateway::routing::reload::reload_artifact(&state, None).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for SIGHUP; use POST /admin/reload.")
            }
        }
    }
    #[cfg(not(unix))]
    drop(state);
    std::future::pending::<()>().await
}
