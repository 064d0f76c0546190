//! `switchyard train`: fit a predictor on benchmark outcomes (or the gateway's log) and save it
//! as an artifact. This file checks the flags and prints; the steps are `training::train`'s.

use std::path::PathBuf;

use anyhow::{bail, Context};
use classifier::predictors::{Artifact, PredictorKind};
use classifier::RoutingAdapter;
use router_core::RoutingMode;
use training::adapter::{AdapterConfig, AdapterReport};
use training::experiment::{ExperimentData, GuardConfig, GuardReport, PredictorConfigs};
use training::train::benchmarks::{fit_benchmarks, BenchmarkFit, Observer, Stage};
use training::train::{Provenance, TrainPlan};
use training::{Progress, StackBase};

use super::data_args::{load, DataArgs};
use super::progress::{bar, draw};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which predictor to fit: knn, linear, mlp, mf, irt, stacked or task-mix [default: the one the
    /// guard's nested validation picks among all six; mf with --no-guard or --from-log; with
    /// --warm-start the artifact's kind].
    #[arg(long, value_parser = parse_kind)]
    predictor: Option<PredictorKind>,
    /// Skip the guard: fit the predictor without checking on validation folds that it beats
    /// the λ-optimal fixed policy (by default, when no candidate does, the artifact routes as
    /// that fixed policy and its manifest says `"routing": "fixed_policy"`).
    #[arg(long)]
    no_guard: bool,
    /// Uncertainty-aware tie-break: at a request's λ, keep the prompt with the model the
    /// training means prefer (the λ-optimal fixed choice) unless this prompt's estimates gain
    /// more than this utility margin (quality points) by leaving it; 0 turns it off. Costs a
    /// little where traffic is like the training data and gains where it drifts
    /// (docs/routing-quality.md, "Uncertainty-aware tie-break").
    #[arg(long, default_value_t = 0.0, value_parser = super::eval::parse_margin, allow_hyphen_values = true)]
    tie_margin: f64,
    /// Validation folds of the guard's nested validation.
    #[arg(long, default_value_t = 3)]
    guard_folds: usize,
    /// Cut the guard's folds by task family, so a learned predictor ships only if it beats
    /// the fixed policy on tasks it was not fitted on (for traffic unlike the training data).
    #[arg(long)]
    guard_by_task: bool,
    /// The smallest validation gain over the fixed policy (AIQ) that ships a learned router:
    /// a candidate's gain must exceed it at a family-wise 5 % over all candidates (Holm).
    #[arg(long, default_value_t = training::experiment::DEFAULT_MIN_GAIN, value_parser = super::eval::parse_min_gain)]
    guard_min_gain: f64,
    /// Artifact folder to write (weights.safetensors + manifest.json).
    #[arg(long)]
    out: PathBuf,
    /// Seed of initialisation and minibatch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fit only on the rows the sources mark as their train split (rows without a split stay).
    #[arg(long)]
    train_split_only: bool,
    /// Learn from the gateway's outcome log (SQLite db or exported JSONL): each request's
    /// feedback score labels the model that served it. With --data, benchmark outcomes are
    /// mixed in.
    #[arg(long)]
    from_log: Option<PathBuf>,
    /// Feedback metric used as the label with --from-log (default: each row's first metric).
    #[arg(long)]
    metric: Option<String>,
    /// How logged cells count with --from-log: `masked` weighs every labelled cell 1; `ips`
    /// weighs each by 1/propensity of the logged choice (less biased towards what the router
    /// already prefers, noisier). Rows mixed in with --data weigh 1. Not for knn.
    #[arg(long, value_enum, default_value_t = Weighting::Masked)]
    weighting: Weighting,
    /// Clip each IPS weight at this value (with --weighting ips), trading bias for variance.
    #[arg(long)]
    ips_clip: Option<f64>,
    /// Continue from this artifact instead of starting from scratch: mlp and mf start from its
    /// weights, knn keeps its prompts and adds the new ones, linear shrinks towards its
    /// coefficients instead of towards 0. Its models are kept and matched by id (new models
    /// are added), its layer sizes and k are kept, and it must come from the encoder in use.
    /// With `--predictor task-priors` the artifact is kept as it is and only the models it
    /// does not know get per-task priors fitted from the labels.
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Epochs at most for mlp, mf and irt (early stopping may end sooner) [default: 100]. 0 is
    /// allowed with --warm-start (re-saves the artifact over the new column set).
    #[arg(long)]
    epochs: Option<usize>,
    /// The stacked predictor's bases, comma-separated (`knn:K` sets kNN's neighbours)
    /// [default: knn:20,knn:100,linear,mlp,mf,task-mix].
    #[arg(long, value_delimiter = ',', value_parser = parse_stack_base)]
    stack_bases: Vec<StackBase>,
    /// Fit a routing adapter first (a residual bottleneck and attention pooling on the
    /// encoder's last-layer token states, trained with the per-model correctness loss; the
    /// MiniLM weights stay frozen) and fit the predictor on the standard embedding with the
    /// adapted one appended. The artifact carries the adapter (`adapter.safetensors`, about
    /// 53 KB at rank 16) and the gateway applies it.
    #[arg(long)]
    adapter: bool,
    /// The adapter's bottleneck width with --adapter.
    #[arg(long, default_value_t = 16)]
    adapter_rank: usize,
    /// With --adapter: keep the adapter only if it lowers the validation log loss by at least
    /// this share (otherwise the artifact uses the standard embedding); negative: always keep.
    #[arg(long, default_value_t = training::adapter::MIN_VALIDATION_GAIN, allow_hyphen_values = true)]
    adapter_min_gain: f64,
}

/// How `train --from-log` weighs logged cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Weighting {
    /// Every labelled cell weighs 1.
    Masked,
    /// Every labelled cell weighs 1/propensity (inverse propensity scoring).
    Ips,
}

/// Checks the flags' combinations, loads the warm-start artifact and settles the predictor
/// kind, before any embedding.
fn plan(args: &TrainArgs) -> anyhow::Result<TrainPlan> {
    if args.from_log.is_none() && (args.weighting == Weighting::Ips || args.ips_clip.is_some()) {
        bail!("--weighting ips and --ips-clip apply to logged traffic; add --from-log <db|jsonl>");
    }
    if args.ips_clip.is_some() && args.weighting != Weighting::Ips {
        bail!("--ips-clip needs --weighting ips");
    }
    if let Some(clip) = args.ips_clip.filter(|c| !(c.is_finite() && *c >= 1.0)) {
        bail!("--ips-clip {clip}: must be at least 1 (a weight 1/propensity is never below 1)");
    }
    if args.out.file_name().is_none() {
        bail!(
            "--out {}: name the artifact folder itself (e.g. artifacts/my-router), not `.`, `..` or `/`: it is written beside its final place and renamed into it",
            args.out.display()
        );
    }
    training::artifact_files::refuse_foreign(&args.out).context("--out")?;
    if args.epochs == Some(0) && args.warm_start.is_none() {
        bail!("--epochs 0 needs --warm-start (a fresh model needs at least one epoch)");
    }
    let warm_start = match &args.warm_start {
        None => None,
        Some(path) => {
            let artifact = Artifact::load(path)
                .with_context(|| format!("loading the --warm-start artifact {}", path.display()))?;
            Some((path.clone(), artifact))
        }
    };
    let kind = match (&warm_start, args.predictor) {
        // Task priors on top of the artifact: it is kept, the models it does not know refitted.
        (Some(_), Some(PredictorKind::TaskPriors)) => PredictorKind::TaskPriors,
        (Some((path, a)), Some(kind)) if a.manifest().kind != kind => bail!(
            "--warm-start {}: the artifact holds a {} predictor but --predictor is {}; drop \
                 --predictor to continue the artifact's kind, or start from scratch",
            path.display(),
            a.manifest().kind.as_str(),
            kind.as_str()
        ),
        (Some((_, a)), _) => a.manifest().kind,
        (None, kind) => kind.unwrap_or(PredictorKind::Mf),
    };
    if kind == PredictorKind::Knn && args.weighting == Weighting::Ips {
        bail!("--weighting ips: the knn predictor cannot weigh cells; fit linear, mlp or mf, or use --weighting masked");
    }
    Ok(TrainPlan {
        kind,
        weights: None,
        warm_start,
    })
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut plan = plan(&args)?;
    if let Some(log) = &args.from_log {
        check_log_flags(&args)?;
        let (mut set, ips, fingerprint) = super::from_log::training_set(
            log,
            args.metric.as_deref(),
            args.ips_clip,
            &args.data.encoder,
        )?;
        let mut weights = (args.weighting == Weighting::Ips).then_some(ips);
        if !args.data.data.is_empty() {
            let (mut table, x, _) = load(&args.data)?;
            // The mixed-in rows obey the flag as in the benchmark-only branch: a later
            // `loop --test-split-only` must not score a router that saw its test prompts.
            let x = if args.train_split_only {
                drop_test_split(&mut table, x)
            } else {
                x
            };
            let data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
            let rows: Vec<usize> = (0..data.len()).collect();
            (set, weights) =
                training::train::mix_benchmark_rows(&data.training_set(&rows), &set, weights)?;
        }
        plan.weights = weights;
        let source = serde_json::json!({
            "from_log": log.display().to_string(),
            "metric": args.metric,
            "mixed_with": args.data.data,
            "train_split_only": args.train_split_only,
            "weighting": format!("{:?}", args.weighting).to_lowercase(),
            "ips_clip": args.ips_clip,
        });
        let bar = bar(0, "fitting");
        let mut on_progress = |p: &Progress| draw(&bar, p);
        let fitted = training::train::fit_stamped(
            &plan,
            &set,
            &predictor_configs(&args),
            args.seed,
            RoutingMode::Learned,
            Provenance {
                encoder_sha256: fingerprint,
                encoder: encoder_settings(&args),
                records: Vec::new(),
                tie_margin: args.tie_margin,
            },
            source,
            Some(&mut on_progress),
        );
        bar.finish_and_clear();
        let continued_from = plan.warm_start.as_ref().map(|(p, _)| p.as_path());
        return save(&args, continued_from, &fitted?, None, set.len());
    }
    // The served encoder appends the adapter before the prompt statistics, while here the
    // adapter would be fitted on embeddings that already end with them.
    anyhow::ensure!(
        !(args.adapter && args.data.prompt_features),
        "--adapter cannot be combined with --prompt-features yet; drop one of them"
    );
    let guard = guard_config(&args, &plan)?;
    let (mut table, x, fingerprint) = load(&args.data)?;
    let x = if args.train_split_only {
        drop_test_split(&mut table, x)
    } else {
        x
    };
    let data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
    if guard.is_some() {
        super::eval::warn_unpriced(&data);
    }
    let adapter = args.adapter.then(|| training::adapter::AdapterConfig {
        rank: args.adapter_rank,
        min_gain: args.adapter_min_gain,
        ..training::adapter::AdapterConfig::default()
    });
    let encoder = match adapter {
        Some(_) => Some(args.data.encoder.load()?),
        None => None,
    };
    let job = BenchmarkFit {
        plan,
        configs: predictor_configs(&args),
        seed: args.seed,
        guard,
        adapter,
        tie_margin: args.tie_margin,
        encoder: encoder_settings(&args),
        fingerprint,
        source: serde_json::json!({
            "source": table.source,
            "arguments": args.data.data,
            "excluded_tasks": args.data.exclude_task,
            "max_prompts": args.data.max_prompts,
            "train_split_only": args.train_split_only,
        }),
    };
    let continued_from = job.plan.warm_start.as_ref().map(|(p, _)| p.clone());
    let mut printer = Printer::default();
    let trained =
        fit_benchmarks(job, data, &table, encoder.as_ref(), &mut printer).map_err(|e| {
            match e.stage {
                Stage::Validating => anyhow::Error::new(*e.error)
                    .context("the guard's nested validation (pass --no-guard to skip it)"),
                _ => anyhow::Error::new(*e.error),
            }
        })?;
    save(
        &args,
        continued_from.as_deref(),
        &trained.artifact,
        trained.adapter.as_ref(),
        trained.prompts,
    )
}

/// The benchmark-only flags `--from-log` cannot take.
fn check_log_flags(args: &TrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tie_margin == 0.0,
        "--tie-margin cannot be combined with --from-log: a logged model's mean covers only the prompts routed to it, not a fixed choice's; fit the tie-break on benchmark outcomes (--data)"
    );
    anyhow::ensure!(
        !args.adapter,
        "--adapter cannot be combined with --from-log: an adapter is fitted on benchmark outcomes (--data) and the log is embedded without one"
    );
    anyhow::ensure!(
        args.data.extra_layers == classifier::ExtraLayers::NONE,
        "--extra-layers cannot be combined with --from-log: the log is embedded with the standard encoder"
    );
    anyhow::ensure!(
        !args.data.prompt_features,
        "--prompt-features cannot be combined with --from-log: the log is embedded with the standard encoder"
    );
    anyhow::ensure!(
        !args.train_split_only || !args.data.data.is_empty(),
        "--train-split-only filters --data rows, and logged traffic has no split: add --data to mix benchmark rows in, or drop --train-split-only"
    );
    Ok(())
}

/// `--train-split-only`: drops the rows their source marks as its test split (rows without a
/// split stay), with their embeddings.
fn drop_test_split(table: &mut datasets::OutcomeTable, x: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    let test = |r: &datasets::PromptRow| r.split == Some(datasets::Split::Test);
    let x = x
        .into_iter()
        .zip(&table.rows)
        .filter(|(_, r)| !test(r))
        .map(|(v, _)| v)
        .collect();
    table.rows.retain(|r| !test(r));
    x
}

/// The guard's nested validation over the candidates (`--predictor`, or all six); none with
/// `--no-guard` or a warm start (which continues an artifact rather than choosing one).
fn guard_config(args: &TrainArgs, plan: &TrainPlan) -> anyhow::Result<Option<GuardConfig>> {
    if args.no_guard || plan.warm_start.is_some() {
        return Ok(None);
    }
    if args.guard_folds < 2 {
        bail!("--guard-folds {}: use 2 or more", args.guard_folds);
    }
    let candidates = match args.predictor {
        Some(kind) => vec![kind],
        None => GuardConfig::default().candidates,
    };
    Ok(Some(GuardConfig {
        candidates,
        folds: args.guard_folds,
        by_task: args.guard_by_task,
        min_gain: args.guard_min_gain,
        ..GuardConfig::default()
    }))
}

/// Draws a bar per stage of a benchmark fit and prints the guard's and the adapter's verdicts.
#[derive(Default)]
struct Printer {
    bar: Option<(Stage, indicatif::ProgressBar)>,
}

impl Observer for Printer {
    fn progress(&mut self, stage: Stage, progress: &Progress) {
        if self.bar.as_ref().map(|(s, _)| *s) != Some(stage) {
            let label = match stage {
                Stage::TokenStates => "token states",
                Stage::Validating => "validating",
                Stage::Adapter => "routing adapter",
                Stage::Fitting => "fitting",
            };
            self.bar = Some((stage, bar(progress.total, label)));
        }
        if let Some((_, bar)) = &self.bar {
            draw(bar, progress);
        }
    }

    fn finished(&mut self, _: Stage) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn guard(&mut self, report: &GuardReport) {
        print_guard(report);
    }

    fn adapter(
        &mut self,
        kept: Option<&RoutingAdapter>,
        fit: &AdapterReport,
        config: &AdapterConfig,
    ) {
        match kept {
            Some(adapter) => eprintln!(
                "routing adapter (rank {}): validation log loss {:.4} with the standard embedding, {:.4} adapted (epoch {} of {})",
                adapter.rank, fit.start_val_loss, fit.best_val_loss, fit.best_epoch, fit.epochs
            ),
            None => eprintln!(
                "routing adapter not kept: validation log loss {:.4} with the standard embedding, {:.4} adapted (it must be {:.1} % lower, --adapter-min-gain); the artifact uses the standard embedding",
                fit.start_val_loss,
                fit.best_val_loss,
                config.min_gain * 100.0
            ),
        }
    }
}

/// The guard's nested validation, as stderr lines.
fn print_guard(report: &GuardReport) {
    eprintln!(
        "guard: {} validation prompts in {} folds ({} left out as near-copies of their fold's training rows); AIQ fixed policy {:.4}, per-task rule {:.4}, zero router {:.4}",
        report.validation_prompts,
        report.folds,
        report.decontaminated_dropped,
        report.fixed_policy_aiq,
        report.per_task_aiq,
        report.zero_router_aiq
    );
    for c in &report.candidates {
        let d = |x: &Option<evals::PairedDiff>| {
            x.as_ref().map_or("–".to_owned(), |d| {
                format!("{:+.4} [{:+.4}, {:+.4}]", d.delta, d.low, d.high)
            })
        };
        eprintln!(
            "guard: {} AIQ {:.4}; vs fixed policy {} (cross-fitted {}, p {}, what it decides on); vs per-task rule {}",
            c.kind.as_str(),
            c.aiq,
            d(&c.vs_fixed_policy),
            d(&c.vs_fixed_policy_cross_fit),
            c.p_value.map_or("–".to_owned(), |p| format!("{p:.4}")),
            d(&c.vs_per_task)
        );
    }
    eprintln!("guard: {}", report.reason);
}

/// Fitting settings from the command line.
fn predictor_configs(args: &TrainArgs) -> PredictorConfigs {
    let mut configs = PredictorConfigs::default();
    if let Some(epochs) = args.epochs {
        configs.mlp.neural.max_epochs = epochs;
        configs.mf.neural.max_epochs = epochs;
        configs.irt.neural.max_epochs = epochs;
    }
    if !args.stack_bases.is_empty() {
        configs.stack.bases.clone_from(&args.stack_bases);
    }
    configs
}

/// The encoder settings the gateway must embed with (a kept adapter's digest is added by the
/// fit).
fn encoder_settings(args: &TrainArgs) -> classifier::predictors::EncoderSettings {
    let mut settings = classifier::predictors::EncoderSettings::of(
        &args.data.encoder.config(args.data.extra_layers),
    );
    settings.prompt_features = args.data.prompt_features;
    settings
}

/// Writes `artifact` (and its adapter) to `--out` and says what was written.
fn save(
    args: &TrainArgs,
    continued_from: Option<&std::path::Path>,
    artifact: &Artifact,
    adapter: Option<&RoutingAdapter>,
    prompts: usize,
) -> anyhow::Result<()> {
    // Staged beside --out and renamed into place once it loads back: an interrupted save
    // never leaves a served folder half old, half new.
    training::artifact_files::save_replacing(artifact, &args.out, adapter)
        .with_context(|| format!("writing the artifact to --out {}", args.out.display()))?;
    let m = artifact.manifest();
    let continued = continued_from.map_or(String::new(), |path| {
        format!(", continued from {}", path.display())
    });
    eprintln!(
        "wrote {} ({}, {} models, {prompts} prompts, training data sha256 {}{continued})",
        args.out.display(),
        artifact_kind_label(
            m.kind.as_str(),
            m.routing,
            m.tie_break.as_ref().map(|t| t.margin)
        ),
        m.models.len(),
        &m.training_data_sha256[..12.min(m.training_data_sha256.len())]
    );
    Ok(())
}

/// What the written artifact routes with. The fixed policy is stored in a `linear` artifact
/// whatever --predictor asked for; naming that kind alone ("linear predictor routing as the
/// fixed policy" after `--predictor knn`) read as if the wrong predictor had been fitted.
fn artifact_kind_label(kind: &str, routing: RoutingMode, tie_margin: Option<f64>) -> String {
    match (routing, tie_margin) {
        (RoutingMode::FixedPolicy, _) => format!(
            "the fixed policy: the guard kept no learned predictor (stored as a {kind} artifact \
             with the training means)"
        ),
        (_, Some(margin)) => format!("{kind} predictor with a tie-break margin of {margin}"),
        (_, None) => format!("{kind} predictor"),
    }
}

/// `knn`, `linear`, `mlp`, `mf`, `irt`, `stacked` (also `stack`), `task-mix` or `task-priors`.
pub fn parse_kind(s: &str) -> Result<PredictorKind, String> {
    match s.trim() {
        "knn" => Ok(PredictorKind::Knn),
        "linear" => Ok(PredictorKind::Linear),
        "mlp" => Ok(PredictorKind::Mlp),
        "mf" => Ok(PredictorKind::Mf),
        "stacked" | "stack" => Ok(PredictorKind::Stacked),
        "irt" => Ok(PredictorKind::Irt),
        "task-priors" | "task_priors" => Ok(PredictorKind::TaskPriors),
        "task-mix" | "task_mix" => Ok(PredictorKind::TaskMix),
        other => Err(format!(
            "unknown predictor `{other}`: use knn, linear, mlp, mf, irt, stacked, task-mix or \
             task-priors (loop only)"
        )),
    }
}

/// A stack base: a predictor name, or `knn:K` for kNN with `K` neighbours.
pub fn parse_stack_base(s: &str) -> Result<StackBase, String> {
    let (name, k) = match s.trim().split_once(':') {
        Some((name, k)) => (name, Some(k)),
        None => (s.trim(), None),
    };
    let kind = parse_kind(name)?;
    if kind == PredictorKind::Stacked {
        return Err("a stack's base cannot itself be `stacked`".into());
    }
    let k = match (kind, k) {
        (_, None) => None,
        (PredictorKind::Knn, Some(k)) => match k.parse::<usize>() {
            Ok(k) if k > 0 => Some(k),
            _ => {
                return Err(format!(
                    "`{s}`: K in `knn:K` must be a positive whole number"
                ))
            }
        },
        (_, Some(_)) => return Err(format!("`{s}`: only knn takes `:K`")),
    };
    Ok(StackBase { kind, k })
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn a_fixed_policy_artifact_is_not_called_a_predictor() {
        let fixed = artifact_kind_label("linear", RoutingMode::FixedPolicy, None);
        assert!(fixed.starts_with("the fixed policy"), "{fixed}");
        assert!(!fixed.contains("linear predictor"), "{fixed}");
        let learned = artifact_kind_label("knn", RoutingMode::Learned, Some(0.02));
        assert_eq!(learned, "knn predictor with a tie-break margin of 0.02");
    }
}
