//! `switchyard train`: fit a predictor on benchmark outcomes and save it as an artifact. Also
//! holds the data loading and progress bars `switchyard eval` shares.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use classifier::predictors::{Artifact, PredictorKind};
use classifier::RoutingAdapter;
use datasets::OutcomeTable;
use indicatif::{ProgressBar, ProgressStyle};
use router_core::Embedder;
use router_core::RoutingMode;
use training::adapter::AdapterReport;
use training::embed_cache::DEFAULT_CACHE_DIR;
use training::experiment::{
    self, embed_table, fixed_policy_artifact, import_sources, ExperimentData, GuardConfig,
    GuardReport, ImportSpec, PredictorConfigs, SourceSpec,
};
use training::{fit_predictor_with, CellWeights, FitOptions, Progress, StackBase};

use super::EncoderArgs;

/// Dataset names accepted in place of a path, and their folder under the shared datasets root.
const DATASET_NAMES: [(&str, &str); 8] = [
    ("routerbench", "routerbench"),
    ("routellm", "routellm"),
    ("routellm-gsm8k", "routellm/gsm8k"),
    ("routellm-mmlu", "routellm/mmlu"),
    ("llmrouter", "llmrouter"),
    ("routerarena", "routerarena"),
    ("routerdc", "routerdc7"),
    ("routerdc7", "routerdc7"),
];

/// Where the outcome data comes from and how it is embedded (shared with `eval`).
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Outcome data: a file or folder in any supported format, or a dataset name
    /// (routerbench, routellm, routellm-gsm8k, routellm-mmlu, llmrouter, routerarena, routerdc)
    /// looked up in ../shared/datasets. Repeat to merge several.
    #[arg(long = "data", required_unless_present_any = ["from_log", "live"])]
    pub data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`.
    #[arg(long = "exclude-task")]
    pub exclude_task: Vec<String>,
    /// Keep at most this many prompts of each --data source, drawn at random with
    /// --sample-seed (for slow machines).
    #[arg(long)]
    pub max_prompts: Option<usize>,
    /// Seed of the --max-prompts sample.
    #[arg(long, default_value_t = 0)]
    pub sample_seed: u64,
    /// Two ids of one model in different sources, `ALIAS=CANONICAL` (repeatable): ALIAS's
    /// column is renamed CANONICAL before sources are merged, so that they share it, e.g.
    /// `--same-model mistralai/mixtral-8x7b-chat=mistralai/Mixtral-8x7B-Instruct-v0.1`.
    #[arg(long = "same-model", value_parser = parse_same_model)]
    pub same_models: Vec<(String, String)>,
    /// Replace recorded costs with catalog prices × tokens (recorded or estimated from the
    /// response), so that merged sources share one cost basis; the routers predict cost the
    /// same way.
    #[arg(long)]
    pub reprice: bool,
    /// Folder of the embedding cache (one file per encoder and token budget).
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// Price a model the catalog does not know (or override the catalog's price), USD per 1M
    /// input and output tokens: `--price MODEL=IN,OUT` (repeatable). Used to fill missing costs
    /// and to predict cost.
    #[arg(long = "price", value_parser = parse_price)]
    pub prices: Vec<(String, (f64, f64))>,
    /// Also mean-pool these earlier encoder layers into every embedding, comma-separated (0 =
    /// the embedding layer, 1-5 = transformer blocks; the last layer always comes first).
    /// Experimental (not adopted on validation); an artifact made with it is served with it.
    #[arg(long, value_parser = classifier::ExtraLayers::parse, default_value = "")]
    pub extra_layers: classifier::ExtraLayers,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// A routing adapter appended to every embedding (not a flag: `score` sets it from the
    /// artifact it scores).
    #[arg(skip)]
    pub adapter: Option<RoutingAdapter>,
}

impl DataArgs {
    /// Prices per model: `--price` first, then the embedded catalog.
    pub fn prices(&self) -> anyhow::Result<impl Fn(&str) -> Option<(f64, f64)> + '_> {
        let catalog = catalog_prices()?;
        Ok(move |model: &str| {
            self.prices
                .iter()
                .find(|(m, _)| m == model)
                .map(|(_, p)| *p)
                .or_else(|| catalog(model))
        })
    }
}

/// `ALIAS=CANONICAL`: two different, non-empty model ids.
fn parse_same_model(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && a.trim() != b.trim() => {
            Ok((a.trim().to_owned(), b.trim().to_owned()))
        }
        _ => Err(format!(
            "`{s}`: use ALIAS=CANONICAL with two different model ids, e.g. mistralai/mixtral-8x7b-chat=mistralai/Mixtral-8x7B-Instruct-v0.1"
        )),
    }
}

/// `MODEL=IN,OUT`: USD per 1M input and output tokens (the last `=` splits, so model names
/// may contain one).
fn parse_price(s: &str) -> Result<(String, (f64, f64)), String> {
    let usage =
        || format!("`{s}`: expected MODEL=IN,OUT in USD per 1M tokens, e.g. my-model=0.2,0.6");
    let (model, prices) = s.rsplit_once('=').ok_or_else(usage)?;
    let (input, output) = prices.split_once(',').ok_or_else(usage)?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .ok_or_else(usage)
    };
    if model.trim().is_empty() {
        return Err(usage());
    }
    Ok((model.trim().to_owned(), (parse(input)?, parse(output)?)))
}

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

/// What a fit starts from, besides its data: the predictor kind, per-cell weights and an
/// optional warm-start artifact with its path.
struct FitPlan {
    kind: PredictorKind,
    weights: Option<CellWeights>,
    warm_start: Option<(PathBuf, Artifact)>,
}

impl FitPlan {
    /// Loads the warm-start artifact and settles the predictor kind, before any embedding.
    fn new(args: &TrainArgs) -> anyhow::Result<Self> {
        if args.from_log.is_none() && (args.weighting == Weighting::Ips || args.ips_clip.is_some())
        {
            bail!(
                "--weighting ips and --ips-clip apply to logged traffic; add --from-log <db|jsonl>"
            );
        }
        if args.ips_clip.is_some() && args.weighting != Weighting::Ips {
            bail!("--ips-clip needs --weighting ips");
        }
        if let Some(clip) = args.ips_clip.filter(|c| !(c.is_finite() && *c >= 1.0)) {
            bail!("--ips-clip {clip}: must be at least 1 (a weight 1/propensity is never below 1)");
        }
        if args.epochs == Some(0) && args.warm_start.is_none() {
            bail!("--epochs 0 needs --warm-start (a fresh model needs at least one epoch)");
        }
        let warm_start = match &args.warm_start {
            None => None,
            Some(path) => {
                let artifact = Artifact::load(path).with_context(|| {
                    format!("loading the --warm-start artifact {}", path.display())
                })?;
                Some((path.clone(), artifact))
            }
        };
        let kind = match (&warm_start, args.predictor) {
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
        Ok(Self {
            kind,
            weights: None,
            warm_start,
        })
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut plan = FitPlan::new(&args)?;
    if let Some(log) = &args.from_log {
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
        let (mut set, ips, fingerprint) = super::from_log::training_set(
            log,
            args.metric.as_deref(),
            args.ips_clip,
            &args.data.encoder,
        )?;
        let mut weights = (args.weighting == Weighting::Ips).then_some(ips);
        if !args.data.data.is_empty() {
            let (table, x, _) = load(&args.data)?;
            let data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
            let rows: Vec<usize> = (0..data.len()).collect();
            let bench = data.training_set(&rows);
            let merged = training::from_log::merge_training_sets(&bench, &set)?;
            // Benchmark rows are full-information labels, not logged choices: weight 1.
            weights = weights.map(|w| {
                let mut all = CellWeights::ones(bench.len(), merged.models.len());
                all.append(w.remap(&set.models, &merged.models));
                all
            });
            set = merged;
        }
        plan.weights = weights;
        let source = serde_json::json!({
            "from_log": log.display().to_string(),
            "metric": args.metric,
            "mixed_with": args.data.data,
            "weighting": format!("{:?}", args.weighting).to_lowercase(),
            "ips_clip": args.ips_clip,
        });
        return fit_and_save(&args, &plan, &set, fingerprint, source, None, None);
    }
    let (mut table, x, fingerprint) = load(&args.data)?;
    let mut keep: Vec<usize> = (0..table.rows.len()).collect();
    if args.train_split_only {
        keep.retain(|&i| table.rows[i].split != Some(datasets::Split::Test));
        table
            .rows
            .retain(|r| r.split != Some(datasets::Split::Test));
    }
    let x: Vec<Vec<f32>> = keep.into_iter().map(|i| x[i].clone()).collect();
    let mut data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut fingerprint = fingerprint;
    let adapter_config = args.adapter.then(|| training::adapter::AdapterConfig {
        rank: args.adapter_rank,
        min_gain: args.adapter_min_gain,
        ..training::adapter::AdapterConfig::default()
    });
    if adapter_config.is_some() {
        let encoder = args.data.encoder.load()?;
        let bar = bar(table.len() as u64, "token states");
        let mut on_progress = |p: &Progress| draw(&bar, p);
        data.token_states =
            training::experiment::token_states(&table, &encoder, Some(&mut on_progress))?;
        bar.finish_and_clear();
    }
    // The guard runs first, on the plain embeddings and token states: it fits an adapter
    // inside each of its folds, so no validation prompt helps fit the adapter it validates.
    let guard = if args.no_guard || plan.warm_start.is_some() {
        None
    } else {
        super::eval::warn_unpriced(&data);
        let report = run_guard(&args, &data, adapter_config.as_ref())?;
        if let Some(kind) = report.chosen {
            plan.kind = kind;
        }
        Some(report)
    };
    let adapter = match &adapter_config {
        Some(config) => {
            let bar = bar(0, "routing adapter");
            let mut on_progress = |p: &Progress| draw(&bar, p);
            let (adapted, adapter, fit) = training::adapter::adapt(
                &data,
                &rows,
                config,
                args.seed,
                &mut Some(&mut on_progress),
            )?;
            bar.finish_and_clear();
            data = adapted;
            data.token_states = Vec::new();
            match adapter {
                Some(adapter) => {
                    eprintln!(
                        "routing adapter (rank {}): validation log loss {:.4} with the standard embedding, {:.4} adapted (epoch {} of {})",
                        adapter.rank, fit.start_val_loss, fit.best_val_loss, fit.best_epoch, fit.epochs
                    );
                    fingerprint = classifier::adapted_fingerprint(&fingerprint, &adapter.digest());
                    Some((adapter, fit))
                }
                None => {
                    eprintln!(
                        "routing adapter not kept: validation log loss {:.4} with the standard embedding, {:.4} adapted (it must be {:.1} % lower, --adapter-min-gain); the artifact uses the standard embedding",
                        fit.start_val_loss,
                        fit.best_val_loss,
                        args.adapter_min_gain * 100.0
                    );
                    None
                }
            }
        }
        None => None,
    };
    let set = data.training_set(&rows);
    let source = serde_json::json!({
        "source": table.source,
        "arguments": args.data.data,
        "excluded_tasks": args.data.exclude_task,
        "max_prompts": args.data.max_prompts,
        "train_split_only": args.train_split_only,
    });
    fit_and_save(
        &args,
        &plan,
        &set,
        fingerprint,
        source,
        guard.as_ref(),
        adapter.as_ref(),
    )
}

/// Nested validation over the candidates (`--predictor`, or all six), printed to stderr.
/// With `adapter`, each validation fold fits its own routing adapter on its training rows.
fn run_guard(
    args: &TrainArgs,
    data: &ExperimentData,
    adapter: Option<&training::adapter::AdapterConfig>,
) -> anyhow::Result<GuardReport> {
    let candidates = match args.predictor {
        Some(kind) => vec![kind],
        None => GuardConfig::default().candidates,
    };
    if args.guard_folds < 2 {
        bail!("--guard-folds {}: use 2 or more", args.guard_folds);
    }
    let config = GuardConfig {
        candidates,
        folds: args.guard_folds,
        by_task: args.guard_by_task,
        adapter: adapter.cloned(),
        ..GuardConfig::default()
    };
    let bar = bar(0, "validating");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let report = experiment::guard(
        data,
        &config,
        &predictor_configs(args),
        args.seed,
        Some(&mut on_progress),
    )
    .context("the guard's nested validation (pass --no-guard to skip it)")?;
    bar.finish_and_clear();
    eprintln!(
        "guard: {} validation prompts in {} folds; AIQ fixed policy {:.4}, per-task rule {:.4}, zero router {:.4}",
        report.validation_prompts,
        report.folds,
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
            "guard: {} AIQ {:.4}; vs fixed policy {}; vs per-task rule {}",
            c.kind.as_str(),
            c.aiq,
            d(&c.vs_fixed_policy),
            d(&c.vs_per_task)
        );
    }
    eprintln!("guard: {}", report.reason);
    Ok(report)
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

/// Fits the planned predictor on `set` and writes the artifact with its provenance.
/// `--predictor task-priors`: each logged model's catalog prior moved per task by its labels
/// (the bundled task classifier spreads each prompt over the tasks; models the catalog does
/// not know are left out).
fn task_priors_fit(
    set: &classifier::predictors::TrainingSet,
    fingerprint: &str,
) -> anyhow::Result<Artifact> {
    let tasks =
        classifier::predictors::TaskClassifier::bundled_for(fingerprint, classifier::EMBEDDING_DIM)
            .context("--predictor task-priors needs the bundled task classifier")?;
    let catalog = models::Catalog::embedded()?;
    let priors = set
        .models
        .iter()
        .filter_map(|m| catalog.find(m.as_str()).map(|e| (m.clone(), e.prior())))
        .collect();
    let inputs = training::learning_loop::TaskPriorInputs {
        tasks: std::sync::Arc::new(tasks),
        priors,
        fit: training::onboarding::fit::FitConfig::default(),
    };
    Ok(training::learning_loop::task_priors_artifact(
        set,
        &inputs,
        &set.sha256(),
    )?)
}

fn fit_and_save(
    args: &TrainArgs,
    plan: &FitPlan,
    set: &classifier::predictors::TrainingSet,
    fingerprint: String,
    source: serde_json::Value,
    guard: Option<&GuardReport>,
    adapter: Option<&(RoutingAdapter, AdapterReport)>,
) -> anyhow::Result<()> {
    if let Some((path, start)) = &plan.warm_start {
        start
            .manifest()
            .check_encoder(&fingerprint)
            .with_context(|| {
                format!(
                    "--warm-start {}: trained with another encoder; pass the --encoder-dir it \
                 was trained with, or start from scratch",
                    path.display()
                )
            })?;
    }
    let configs = predictor_configs(args);
    let options = FitOptions {
        weights: plan.weights.as_ref(),
        warm_start: plan.warm_start.as_ref().map(|(_, a)| a),
    };
    let bar = bar(0, "fitting");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let fixed_policy = guard.is_some_and(|g| g.routing == RoutingMode::FixedPolicy);
    let fitted: anyhow::Result<Artifact> = if fixed_policy {
        fixed_policy_artifact(set).map_err(Into::into)
    } else if plan.kind == PredictorKind::TaskPriors {
        task_priors_fit(set, &fingerprint)
    } else {
        fit_predictor_with(
            plan.kind,
            set,
            &configs,
            args.seed,
            options,
            Some(&mut on_progress),
        )
        .map_err(Into::into)
    };
    bar.finish_and_clear();
    let mut artifact = match (&plan.warm_start, fitted) {
        (Some((path, _)), Err(e)) => {
            return Err(e).with_context(|| format!("fitting from --warm-start {}", path.display()))
        }
        (_, fitted) => fitted?,
    };
    let mut settings = classifier::predictors::EncoderSettings::of(
        &args.data.encoder.config(args.data.extra_layers),
    );
    settings.adapter = adapter.map(|(a, _)| a.digest());
    let data = serde_json::json!({
        "source": source,
        "prompts": set.len(),
        "labelled_cells": set.quality.iter().flatten().filter(|c| c.is_some()).count(),
        "seed": args.seed,
        "encoder_max_tokens": args.data.encoder.max_tokens,
        "warm_start": plan.warm_start.as_ref().map(|(p, _)| p.display().to_string()),
    });
    let mut records = vec![("data", data)];
    if let Some(g) = guard {
        records.push(("guard", serde_json::to_value(g)?));
    }
    if let Some((_, fit)) = adapter {
        records.push(("adapter", serde_json::to_value(fit)?));
    }
    training::artifact_files::stamp(&mut artifact, fingerprint, Some(settings), records);
    if args.tie_margin > 0.0 && artifact.manifest().routing == RoutingMode::Learned {
        artifact.manifest_mut().tie_break =
            Some(training::artifact_files::tie_break(set, args.tie_margin));
    }
    training::artifact_files::save(&artifact, &args.out, adapter.map(|(a, _)| a))
        .with_context(|| format!("writing the artifact to {}", args.out.display()))?;
    let m = artifact.manifest();
    let continued = match &plan.warm_start {
        Some((path, _)) => format!(", continued from {}", path.display()),
        None => String::new(),
    };
    eprintln!(
        "wrote {} ({} predictor{}, {} models, {} prompts, training data sha256 {}{continued})",
        args.out.display(),
        m.kind.as_str(),
        match (&m.tie_break, m.routing) {
            (_, RoutingMode::FixedPolicy) => " routing as the fixed policy".to_owned(),
            (Some(t), _) => format!(" with a tie-break margin of {}", t.margin),
            (None, _) => String::new(),
        },
        m.models.len(),
        set.len(),
        &m.training_data_sha256[..12.min(m.training_data_sha256.len())]
    );
    Ok(())
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

/// A dataset argument as a path: an existing path as given, else a known dataset name under
/// `../shared/datasets` (next to the workspace, or next to the working directory).
pub fn resolve_data(arg: &str) -> anyhow::Result<PathBuf> {
    let given = Path::new(arg);
    if given.exists() {
        return Ok(given.to_owned());
    }
    let names: Vec<&str> = DATASET_NAMES.iter().map(|(n, _)| *n).collect();
    let Some((_, folder)) = DATASET_NAMES.iter().find(|(n, _)| *n == arg) else {
        bail!(
            "data path `{arg}` does not exist: pass an existing file or folder, or one of the dataset names {} (looked up in ../shared/datasets/)",
            names.join(", ")
        );
    };
    let roots = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
        PathBuf::from("../shared/datasets"),
    ];
    for root in &roots {
        let path = root.join(folder);
        if path.exists() {
            return Ok(path);
        }
    }
    bail!(
        "dataset `{arg}` not found at {}: copy the public datasets there (see ../shared/datasets/README.md) or pass the folder's path",
        roots[0].join(folder).display()
    )
}

/// The catalog's USD per 1M (input, output) tokens of a model, where the catalog knows it.
pub fn catalog_prices() -> anyhow::Result<impl Fn(&str) -> Option<(f64, f64)>> {
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    Ok(move |model: &str| {
        catalog
            .get(&router_core::ModelId::new(model))
            .ok()
            .map(|e| (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok))
    })
}

/// Imports, merges and filters the data, fills missing costs from catalog prices, then embeds
/// every prompt through the cache. Returns the table, one embedding per row and the encoder's
/// fingerprint.
pub fn load(args: &DataArgs) -> anyhow::Result<(OutcomeTable, Vec<Vec<f32>>, String)> {
    load_with_sources(args).map(|(t, x, f, _)| (t, x, f))
}

/// The table, one embedding per row, the encoder's fingerprint, and each row's source.
type Loaded = (OutcomeTable, Vec<Vec<f32>>, String, Vec<String>);

/// Each `--data` argument (a dataset name or path) with the path it resolves to.
pub fn source_specs(data: &[String]) -> anyhow::Result<Vec<SourceSpec>> {
    data.iter()
        .map(|name| {
            Ok(SourceSpec {
                name: name.clone(),
                path: resolve_data(name)?,
            })
        })
        .collect()
}

/// [`load`], also returning each row's source: the `--data` argument it came from.
pub fn load_with_sources(args: &DataArgs) -> anyhow::Result<Loaded> {
    let spec = ImportSpec {
        sources: source_specs(&args.data)?,
        exclude_tasks: args.exclude_task.clone(),
        max_prompts: args.max_prompts,
        sample_seed: args.sample_seed,
        same_models: args.same_models.clone(),
    };
    let (mut table, sources) = import_sources(&spec, &mut |line| eprintln!("{line}"))?;
    if args.reprice {
        let cleared = table.clear_recorded_costs();
        eprintln!(
            "--reprice: {cleared} recorded costs replaced by catalog prices × tokens (one cost basis for every source)"
        );
    }
    let filled = table.fill_estimated_costs(&args.prices()?, datasets::DEFAULT_OUTPUT_TOKENS);
    if filled > 0 {
        eprintln!("estimated {filled} missing costs from catalog prices");
    }
    let mut encoder = args.encoder.load_pooling(args.extra_layers)?;
    if let Some(adapter) = &args.adapter {
        encoder = encoder.with_adapter(adapter.clone());
    }
    if args.extra_layers != classifier::ExtraLayers::NONE {
        eprintln!(
            "pooling layers {} besides the last: {} values per embedding",
            args.extra_layers.label(),
            encoder.dim()
        );
    }
    let fingerprint = encoder.fingerprint().to_owned();
    let bar = bar(table.len() as u64, "embedding");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let (x, cached, cache_path) = embed_table(
        &table,
        &encoder,
        &args.cache_dir,
        args.encoder.max_tokens,
        Some(&mut on_progress),
    )?;
    bar.finish_and_clear();
    eprintln!(
        "{} prompts embedded ({cached} cached vectors in {})",
        x.len(),
        cache_path.display()
    );
    Ok((table, x, fingerprint, sources))
}

/// A progress bar on stderr with ETA.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// Moves `bar` to a training or embedding progress report. When stderr is not a terminal
/// (logs, CI, `2> file`) the bar draws nothing, so a plain line goes there instead: whenever
/// the step (the message before its first `:`, digits aside) changes, at the end, and at most
/// every 5 s otherwise.
pub fn draw(bar: &ProgressBar, p: &Progress) {
    if bar.is_hidden() {
        progress_line(&bar.message(), p);
    }
    if bar.length() != Some(p.total) {
        bar.set_length(p.total);
        bar.reset_eta();
    }
    bar.set_position(p.done);
    bar.set_message(p.message.clone());
}

fn progress_line(previous: &str, p: &Progress) {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    // The step without its counters: `embedded 32/1307` and `embedded 64/1307` are one step.
    let step = |m: &str| -> String {
        m.split(':')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect()
    };
    let now = Instant::now();
    let due = LAST.with(|last| {
        let due = step(previous) != step(&p.message)
            || p.done == p.total
            || last
                .get()
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(5));
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        eprintln!("progress: {} ({}/{})", p.message, p.done, p.total);
    }
}

#[cfg(test)]
mod price_tests {
    use super::parse_price;

    #[test]
    fn prices_parse_and_bad_ones_say_the_form() {
        assert_eq!(
            parse_price("org/model=v1=0.2, 0.6"),
            Ok(("org/model=v1".to_owned(), (0.2, 0.6)))
        );
        for bad in ["m", "m=0.2", "=0.1,0.2", "m=a,b", "m=-1,2", "m=NaN,1"] {
            let err = parse_price(bad).unwrap_err();
            assert!(err.contains("MODEL=IN,OUT"), "{bad}: {err}");
        }
    }
}
