//! `switchyard onboard --live`: the shipped probe set sent to the user's own models through
//! the configured providers, scored, and fitted into a router artifact
//! ([`training::onboarding::live`] holds the procedure; this file parses, confirms, prints,
//! and implements its provider seam with the gateway's [`gateway::probe::Prober`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use router_core::{BoxError, ModelId, QualityPredictor};
use training::onboarding::fit::FitConfig;
use training::onboarding::live::{
    self, CostEstimate, JudgePricing, Judged, ModelToFit, ProbeClient, Reply, RunSettings,
};
use training::onboarding::probes::{Probe, ProbeSet};

use super::onboard_answers::{append_line, Answers};
use super::serve::{load_config, Overrides};

/// Flags of the live mode (`--live`).
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// Models to onboard, comma-separated catalog ids (each needs a configured provider).
    #[arg(long, value_delimiter = ',', requires = "live")]
    pub models: Vec<String>,
    /// Gateway config with the providers (and `[judge]`), as for `switchyard serve`.
    #[arg(long, requires = "live")]
    pub config: Option<PathBuf>,
    /// The router artifact to add the models to (default: the config's, else the bundled).
    #[arg(long, requires = "live")]
    pub artifact: Option<PathBuf>,
    /// Where the new artifact goes (may be the same folder as --artifact).
    #[arg(long, requires = "live")]
    pub out: Option<PathBuf>,
    /// A probe file of your own in the bundled format (default: the shipped probe set).
    #[arg(long, requires = "live")]
    pub probe_file: Option<PathBuf>,
    /// Probes per task (stratified across each task's sources).
    #[arg(long, default_value_t = 30)]
    pub per_task: usize,
    /// Answers file: every answer is appended as it lands, and a run with the same file
    /// skips what is already answered (default: the --out folder's name + `.answers.jsonl`).
    #[arg(long, requires = "live")]
    pub answers: Option<PathBuf>,
    /// Most completion tokens per answer (reasoning included).
    #[arg(long, default_value_t = 4096)]
    pub answer_max_tokens: u32,
    /// Seconds to wait for one answer.
    #[arg(long, default_value_t = 180)]
    pub timeout_secs: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Refuse to start when the expected spend is above this, and stop sending once this much
    /// is spent (USD), by this run: answers paid for by an earlier run are not counted.
    #[arg(long, requires = "live")]
    pub max_cost_usd: Option<f64>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, requires = "live")]
    pub yes: bool,
}

/// The gateway's providers behind the onboarding seam.
struct Providers {
    prober: gateway::probe::Prober,
    max_tokens: u32,
    timeout: Duration,
}

impl ProbeClient for Providers {
    async fn ask(&self, model: &ModelId, prompt: &str) -> Result<Reply, BoxError> {
        let c = self
            .prober
            .ask(model, prompt, Some(self.max_tokens), self.timeout)
            .await?;
        Ok(Reply {
            text: c.text,
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            cost_usd: c.cost_usd,
            latency_ms: c.latency.as_secs_f64() * 1000.0,
        })
    }

    async fn judge(
        &self,
        prompt: &str,
        reply: &str,
        guide: Option<&str>,
    ) -> Result<Judged, BoxError> {
        let (score, called) = self.prober.judge(prompt, reply, guide).await?;
        Ok(Judged {
            score,
            cost_usd: called.cost_usd,
        })
    }

    fn has_judge(&self) -> bool {
        self.prober.judging().is_some()
    }
}

fn default_answers_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "onboarding".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!("{name}.answers.jsonl"))
}

fn cost_table(estimates: &[CostEstimate], judge: Option<&ModelId>) -> String {
    let mut s = String::from(
        "| model | requests | expected USD | worst case USD |\n|---|---:|---:|---:|\n",
    );
    for e in estimates {
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} |",
            e.model, e.requests, e.expected_usd, e.worst_usd
        );
    }
    let expected: f64 = estimates.iter().map(|e| e.expected_usd).sum();
    let worst: f64 = estimates.iter().map(|e| e.worst_usd).sum();
    let _ = writeln!(s, "| **total** | | **{expected:.4}** | {worst:.4} |");
    if let Some(j) = judge {
        let _ = writeln!(s, "(judging by `{j}` included)");
    }
    s
}

/// Refuses to replace an `out` that already holds onboarded models with an artifact built
/// from another source: without `--artifact`, the source is the config's artifact or the
/// bundled one, so a second run into the same folder would drop the models the first one
/// onboarded (and paid for).
fn refuse_dropping_onboarded(
    out: &Path,
    source: Option<&Path>,
    artifact_given: bool,
) -> anyhow::Result<()> {
    if artifact_given {
        return Ok(());
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if source.is_some_and(|s| same(s, out)) {
        return Ok(());
    }
    let Ok(existing) = classifier::predictors::Artifact::load(out) else {
        return Ok(());
    };
    let onboarded: Vec<&str> = existing
        .manifest()
        .onboarded
        .iter()
        .map(|o| o.model.as_str())
        .collect();
    if onboarded.is_empty() {
        return Ok(());
    }
    bail!(
        "--out {} already holds onboarded models ({}); pass --artifact {} to add to it, or name a new --out folder",
        out.display(),
        onboarded.join(", "),
        out.display()
    )
}

/// Asks on the terminal; refuses without one unless `--yes`.
fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} — stdin is not a terminal: add --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not confirmed; nothing was sent")
    }
}

pub fn run(args: LiveArgs, seed: u64, json: bool) -> anyhow::Result<()> {
    let Some(out) = args.out.clone() else {
        bail!("--live needs --out DIR: the folder the artifact with the onboarded models is written to");
    };
    // Checked before anything is paid for: the artifact is written only after every probe.
    training::artifact_files::refuse_foreign(&out).context("--out")?;
    if args.models.is_empty() {
        bail!("--live needs --models a,b,c: the catalog ids of the models to onboard");
    }
    if args.per_task == 0 || args.concurrency == 0 || args.answer_max_tokens == 0 {
        bail!("--per-task, --concurrency and --answer-max-tokens must be at least 1");
    }
    if let Some(cap) = args.max_cost_usd {
        if !(cap.is_finite() && cap > 0.0) {
            bail!("--max-cost-usd must be a positive number of USD, not {cap}");
        }
    }
    let config = load_config(
        args.config.as_deref(),
        Overrides {
            artifact: args.artifact.clone(),
            ..Overrides::default()
        },
    )?;
    // Without an artifact (routing on catalog priors alone) the fits become a `task_priors`
    // artifact of their own.
    let source = config.router.artifact.clone();
    refuse_dropping_onboarded(&out, source.as_deref(), args.artifact.is_some())?;
    let artifact = match &source {
        Some(dir) => Some(
            classifier::predictors::Artifact::load(dir)
                .with_context(|| format!("loading the artifact {}", dir.display()))?,
        ),
        None => None,
    };
    let trained: Vec<ModelId> = artifact
        .as_ref()
        .map(|a| a.models().to_vec())
        .unwrap_or_default();
    let probe_set = match &args.probe_file {
        Some(path) => ProbeSet::load(path)?,
        None => ProbeSet::bundled()?,
    };
    let prober = gateway::probe::Prober::new(config.clone())?;
    let catalog = &config.catalog;
    let mut models = Vec::new();
    for name in &args.models {
        let entry = catalog
            .get(&ModelId::new(name.trim()))
            .map_err(|e| anyhow::anyhow!("--models: {e}"))?;
        let id = entry.spec.id.clone();
        if trained.contains(&id) {
            bail!("--models: `{id}` is already a trained model of the artifact; onboarding adds models it does not know");
        }
        if !prober.is_live(&id) {
            bail!(
                "--models: `{id}` has no live provider: configure provider `{}` (its API key) in the config or environment",
                entry.spec.provider
            );
        }
        if !models.contains(&id) {
            models.push(id);
        }
    }
    let judge_model = prober.judging().map(|j| j.model.clone());
    let selected: Vec<&Probe> = probe_set.select(args.per_task, seed);
    let plan = live::plan(
        models.clone(),
        selected,
        judge_model.is_some(),
        probe_set.sha256().to_owned(),
    );
    if plan.skipped_for_judge > 0 {
        eprintln!(
            "{} probes (coding and other open answers) need a judge and are skipped: add a [judge] section to the config to include them",
            plan.skipped_for_judge
        );
    }
    if plan.probes.is_empty() {
        bail!("no probes to send (all of them need a judge and none is configured)");
    }
    if let Some(j) = &judge_model {
        if plan.probes.iter().any(|p| p.reference.needs_judge()) && !prober.is_live(j) {
            bail!(
                "[judge] model `{j}` has no live provider: configure its provider (its API key) in the config or environment, or remove [judge] (the probes only a judge can score are then skipped)"
            );
        }
    }
    let answers_path = args
        .answers
        .clone()
        .unwrap_or_else(|| default_answers_path(&out));
    let answers = Answers::read(&answers_path)?;
    let done = live::done_pairs(&answers.records, probe_set.sha256());
    let remaining: Vec<usize> = models
        .iter()
        .map(|m| {
            plan.probes
                .iter()
                .filter(|p| !done.contains(&(m.clone(), p.id.clone())))
                .count()
        })
        .collect();
    let entries: Vec<&models::CatalogEntry> = models
        .iter()
        .map(|m| catalog.get(m))
        .collect::<Result<_, _>>()?;
    let judge_entry = match &judge_model {
        Some(j) => Some(catalog.get(j)?),
        None => None,
    };
    let judge_pricing = judge_entry
        .zip(prober.judging())
        .map(|(entry, j)| JudgePricing {
            entry,
            max_tokens: j.max_tokens,
        });
    let mut estimates = live::estimate_cost(&plan, &entries, args.answer_max_tokens, judge_pricing);
    for (e, left) in estimates.iter_mut().zip(&remaining) {
        // Only what is left to send costs anything.
        let share = if e.requests == 0 {
            0.0
        } else {
            *left as f64 / e.requests as f64
        };
        e.expected_usd *= share;
        e.worst_usd *= share;
        e.requests = *left;
    }
    let to_send: usize = remaining.iter().sum();
    let expected: f64 = estimates.iter().map(|e| e.expected_usd).sum();
    eprintln!(
        "Onboarding {} model(s) on {} probes ({} already answered in {}):\n{}",
        models.len(),
        plan.probes.len(),
        done.len(),
        answers_path.display(),
        cost_table(&estimates, judge_model.as_ref())
    );
    if let Some(cap) = args.max_cost_usd {
        if expected > cap {
            bail!("the expected spend {expected:.4} USD is above --max-cost-usd {cap}; raise it or lower --per-task");
        }
    }
    if to_send > 0 {
        confirm(
            &format!("Send {to_send} requests, expected {expected:.4} USD?"),
            args.yes,
        )?;
    }
    let client = Providers {
        prober,
        max_tokens: args.answer_max_tokens,
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let judge_left = models.iter().any(|m| {
        plan.probes
            .iter()
            .any(|p| p.reference.needs_judge() && !done.contains(&(m.clone(), p.id.clone())))
    });
    if let (Some(j), true) = (&judge_model, judge_left) {
        runtime.block_on(check_judge(&client.prober, j))?;
    }
    let mut file = answers.open_for_append(&answers_path)?;
    let mut new_records = Vec::new();
    let started = Instant::now();
    let mut last_line = Instant::now();
    let summary = runtime.block_on(live::run(
        &plan,
        &client,
        RunSettings {
            concurrency: args.concurrency,
            max_cost_usd: args.max_cost_usd,
        },
        &done,
        |record| -> Result<(), BoxError> {
            let line = serde_json::to_string(record)?;
            append_line(&mut file, &line)
                .map_err(|e| format!("{}: {e}", answers_path.display()))?;
            new_records.push(record.clone());
            Ok(())
        },
        |p| {
            if p.done == p.total || last_line.elapsed() >= Duration::from_secs(5) || p.done % 50 == 0 {
                last_line = Instant::now();
                eprintln!(
                    "[onboard] {}/{} answers, {} errors, {:.4} USD, {:.0}s",
                    p.done,
                    p.total,
                    p.errors,
                    p.spent_usd,
                    started.elapsed().as_secs_f64()
                );
            }
            if let Some(e) = &p.last.error {
                tracing::warn!(model = %p.last.model, probe = %p.last.probe_id, error = %e, "Probe failed.");
            }
        },
    ))?;
    if summary.stopped_at_cap {
        eprintln!(
            "Stopped at --max-cost-usd after {:.4} USD; run again to finish: answered probes are not sent again, and the cap applies to each run's own spending.",
            summary.spent_usd
        );
    }
    let mut all = answers.records;
    all.extend(new_records);
    // Every probe of the set, not only this run's selection: the answers file may hold
    // answers to probes an earlier run (another --per-task or --seed) selected, and each must
    // be read against its own difficulty.
    let by_id: HashMap<&str, &Probe> = probe_set
        .probes()
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let to_fit: Vec<ModelToFit> = entries
        .iter()
        .map(|e| ModelToFit {
            model: e.spec.id.clone(),
            prior: e.prior(),
            latency: e.spec.latency,
        })
        .collect();
    let fitted = live::fit(
        &to_fit,
        &all,
        &by_id,
        probe_set.sha256(),
        &classifier::predictors::now_rfc3339(),
        &FitConfig::default(),
    )?;
    training::onboarding::write::write_onboarded(source.as_deref(), &out, &fitted)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&fitted)?)?;
    } else {
        out!("{}", report(&fitted, &to_fit))?;
        outln!(
            "\nWritten to {} (serve it with `switchyard serve --artifact {}`, or reload a running gateway with POST /admin/reload).",
            out.display(),
            out.display()
        )?;
    }
    let unknown: Vec<&ModelId> = config
        .candidates
        .iter()
        .filter(|c| !trained.contains(c) && !fitted.iter().any(|f| &f.model == *c))
        .filter(|c| artifact.as_ref().and_then(|a| a.onboarded(c)).is_none())
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "Note: candidates {} are neither trained nor onboarded; their catalog priors are on benchmark scales, the onboarded models on the probes': onboard them too for a like-for-like choice.",
            unknown.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Test calls to the judge before any probe is sent ([`gateway::probe::Prober::check_judge`]):
/// a judge that fails, replies without a readable score or cannot tell a right answer from a
/// wrong one would otherwise be found out only after every answer was paid for.
async fn check_judge(prober: &gateway::probe::Prober, judge: &ModelId) -> anyhow::Result<()> {
    let check = prober.check_judge().await.map_err(|e| {
        anyhow::anyhow!(
            "the judge `{judge}` failed its test calls, so no probe was sent: {e}. Fix [judge] (its model, provider key or max_tokens; a model that follows the rubric) and run again"
        )
    })?;
    eprintln!(
        "Judge `{judge}` checked: {:.2} for a right answer, {:.2} for a wrong one ({:.6} USD).",
        check.right, check.wrong, check.cost_usd
    );
    Ok(())
}

/// The per-model, per-task table.
fn report(fitted: &[router_core::OnboardedModel], catalog: &[ModelToFit]) -> String {
    let mut s = String::new();
    for m in fitted {
        let _ = writeln!(
            s,
            "\n## {}\n\n{} requests, {} errors, {:.4} USD\n\n| task | probes | mean score | catalog prior | estimate | output tokens |\n|---|---:|---:|---:|---:|---:|",
            m.model, m.requests, m.errors, m.cost_usd
        );
        for t in &m.tasks {
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.3} | **{:.3}** | {} |",
                t.task.as_str(),
                t.probes,
                t.mean_score,
                t.prior,
                t.estimate,
                t.output_tokens
                    .map_or_else(|| "–".into(), |x| format!("{x:.0}"))
            );
        }
        let was = catalog
            .iter()
            .find(|c| c.model == m.model)
            .map(|c| c.latency);
        match (m.latency, was) {
            (Some(l), Some(c)) => {
                let _ = writeln!(
                    s,
                    "\nLatency (measured on the probes, now used for routing): {:.0} ms per call + {:.0} tokens/s; the catalog said {:.0} ms + {:.0} tokens/s.",
                    l.ttft_ms, l.tokens_per_s, c.ttft_ms, c.tokens_per_s
                );
            }
            (Some(l), None) => {
                let _ = writeln!(
                    s,
                    "\nLatency (measured on the probes): {:.0} ms per call + {:.0} tokens/s.",
                    l.ttft_ms, l.tokens_per_s
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "\nLatency: too few timed answers; the catalog's prior stays."
                );
            }
        }
    }
    s
}
