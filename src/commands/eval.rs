//! `switchyard eval`: fit every chosen predictor on a split of the data and score them as
//! routers (AIQ, cost to reach the best single model, RouteLLM APGR/CPT on two-model sets).

use std::path::{Path, PathBuf};

use anyhow::Context;
use classifier::predictors::PredictorKind;
use training::experiment::{self, ExperimentConfig, ExperimentData, SplitKind};
use training::Progress;

use evals::ope::GateEstimator;
use training::from_log::RewardModel;

use super::data_args::{load_with_sources, DataArgs};
use super::progress::{bar, draw};
use super::train::{parse_kind, parse_stack_base};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Predictors to fit and compare, comma-separated (irt is also available).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind, default_value = "knn,linear,mlp,mf,stacked")]
    predictors: Vec<PredictorKind>,
    /// The stacked predictor's bases, comma-separated (`knn:K` sets kNN's neighbours)
    /// [default: knn:20,knn:100,linear,mlp,mf,task-mix].
    #[arg(long, value_delimiter = ',', value_parser = parse_stack_base)]
    stack_bases: Vec<training::StackBase>,
    /// Also score `guarded`: the router `switchyard train` would ship, i.e. per run the
    /// guard's nested validation on the training rows picks one of --guard-candidates, or the
    /// λ-optimal fixed policy where none beats it on validation.
    #[arg(long)]
    guarded: bool,
    /// The guard's candidates with --guarded (each is fitted once per validation fold); the
    /// default is `switchyard train`'s.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind, default_value = "knn,linear,mlp,mf,irt,stacked", requires = "guarded")]
    guard_candidates: Vec<PredictorKind>,
    /// The guard's validation folds with --guarded.
    #[arg(long, default_value_t = 3, value_parser = parse_folds, requires = "guarded")]
    guard_folds: usize,
    /// With --guarded: cut the guard's folds by task family (validation on tasks the
    /// candidates were not fitted on) instead of at random.
    #[arg(long, requires = "guarded")]
    guard_by_task: bool,
    /// With --guarded: the smallest validation gain over the fixed policy (AIQ) that ships a
    /// learned router (the gain must exceed it at a family-wise 5 % over all candidates).
    #[arg(long, default_value_t = training::experiment::DEFAULT_MIN_GAIN, value_parser = parse_min_gain, requires = "guarded")]
    guard_min_gain: f64,
    /// Per run, fit a routing adapter (a residual bottleneck and attention pooling on the
    /// encoder's last-layer token states, trained on the run's training rows with the
    /// per-model correctness loss) and give every predictor the standard embedding with the
    /// adapted one appended.
    #[arg(long)]
    adapter: bool,
    /// The adapter's bottleneck width with --adapter.
    #[arg(long, default_value_t = 16)]
    adapter_rank: usize,
    /// Evaluate only these models (comma-separated catalog ids): rows without a label for any
    /// of them are dropped. Lets sources that share only some models be mixed.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Number of seeds (0, 1, ...): mean ± sd over runs, paired intervals per run and
    /// combined over seeds.
    #[arg(long, default_value_t = 5, value_parser = parse_seeds)]
    seeds: u64,
    /// Also give every router's paired difference against this one, seeds combined, with its
    /// 95 % interval: a predictor in --predictors (e.g. `mf`) or `guarded`.
    #[arg(long)]
    compare_to: Option<String>,
    /// Also score, per predictor, its quality with the per-task rule's cost and the rule's
    /// quality with its cost: where a learned router trails the rule, which estimate loses.
    #[arg(long)]
    hybrids: bool,
    /// Also score, per predictor and margin, the predictor with the uncertainty-aware
    /// tie-break: at each λ a prompt stays with the model the training means prefer unless the
    /// estimates gain more than the margin (quality points) by leaving it (`mf tie 0.02`).
    #[arg(long, value_delimiter = ',', value_parser = parse_margin, allow_hyphen_values = true)]
    tie_margins: Vec<f64>,
    /// First seed: `--first-seed 100 --seeds 5` runs seeds 100-104, for deciding a design on
    /// random splits other than the reported ones (0, 1, ...).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// own: the source's train/test split; random: seeded 80/20; loto: leave one task family
    /// out (each in turn, or --holdout-task); source: leave one --data source out (train on
    /// the others, test on it over the models they share).
    #[arg(long, value_parser = parse_split, default_value = "random")]
    split: SplitKind,
    /// With --split loto (or source), hold out only this task family (or --data source).
    #[arg(long)]
    holdout_task: Option<String>,
    /// Share of prompts tested with --split random (above 0, below 1).
    #[arg(long, default_value_t = 0.2, value_parser = parse_test_fraction, allow_hyphen_values = true)]
    test_fraction: f64,
    /// Drop test prompts whose cosine similarity to a training prompt is at least this (a
    /// cosine, from -1 to 1).
    #[arg(long, default_value_t = 0.95, value_parser = parse_decontaminate, allow_hyphen_values = true)]
    decontaminate: f64,
    /// Keep near-duplicate test prompts.
    #[arg(long)]
    no_decontaminate: bool,
    /// Write the Markdown report here (with the command that produced it). Its folder must
    /// exist.
    #[arg(long, value_parser = parse_out_file)]
    report: Option<PathBuf>,
    /// Write the cost–quality plot of each fold's first seed here (SVG; a suffix per fold when
    /// there are several). Its folder must exist.
    #[arg(long, value_parser = parse_out_file)]
    plot: Option<PathBuf>,
    /// Print one JSON object (docs/eval-json.md) instead of the Markdown table.
    #[arg(long)]
    json: bool,
    /// The gateway's logged traffic (SQLite db or exported JSONL): with --router, an
    /// off-policy estimate of that router (IPS, SNIPS, doubly robust); with --arms, a
    /// comparison of the arms of an A/B experiment (`[experiment]`).
    #[arg(long)]
    from_log: Option<PathBuf>,
    /// With --from-log: compare the arms of an A/B experiment on their own traffic (quality,
    /// cost and utility per arm with 95 % intervals, each arm against the control).
    #[arg(long, requires = "from_log", conflicts_with = "router")]
    arms: bool,
    /// With --arms: the experiment to read (default: the one of the log's newest row with an
    /// arm).
    #[arg(long, requires = "arms")]
    experiment: Option<String>,
    /// With --arms: the arm the others are compared with (default: `control` when there is
    /// one, else the first arm by name).
    #[arg(long, requires = "arms")]
    control: Option<String>,
    /// With --arms: a deployment gate. Exit with an error unless this arm's utility (quality
    /// − λ·cost, at the λ the experiment's requests logged) beats the control's with its
    /// 95 % interval wholly above 0.
    #[arg(long, requires = "arms")]
    gate_arm: Option<String>,
    /// With --from-log --router: estimate on the traffic of this A/B arm only (the rows its
    /// router served; a candidate judged on the control arm's traffic, say).
    #[arg(long, requires = "from_log", requires = "router")]
    arm: Option<String>,
    /// The candidate router artifact for --from-log.
    #[arg(long, requires = "from_log")]
    router: Option<PathBuf>,
    /// Feedback metric used as the reward with --from-log (default: each row's first metric).
    #[arg(long, requires = "from_log")]
    metric: Option<String>,
    /// Clip importance weights at this value with --from-log --router (trades bias for
    /// variance; at least 1, as a weight 1/propensity is never below 1).
    #[arg(long, requires = "from_log", requires = "router", value_parser = parse_clip, allow_hyphen_values = true)]
    clip: Option<f64>,
    /// With --from-log: a deployment gate. Exit with an error unless the candidate's estimated
    /// utility (quality − λ·cost, each request at the λ it logged) has its 95 % interval
    /// wholly above the logged router's mean utility, by this estimator: snips
    /// (conservative), dr or ips.
    #[arg(long, requires = "from_log", value_parser = parse_gate)]
    gate: Option<GateEstimator>,
    /// With --from-log --router: the gateway's `[router] exploration`, which a reload keeps:
    /// `epsilon_greedy`, `softmax`, `thompson` or `off`. The candidate is estimated exploring
    /// as it would be deployed, like the logged router whose mean it is compared with.
    /// Required when the log shows exploration (propensities below 1); off otherwise.
    #[arg(long, requires = "router")]
    exploration: Option<String>,
    /// ε of --exploration epsilon_greedy.
    #[arg(long, requires = "exploration", default_value_t = 0.3)]
    epsilon: f64,
    /// Temperature of --exploration softmax, in quality points.
    #[arg(long, requires = "exploration", default_value_t = 0.05)]
    temperature: f64,
    /// Models in the exploration pool of --exploration (greedy included).
    #[arg(long, requires = "exploration", default_value_t = 2)]
    top_k: usize,
    /// --exploration thompson: posterior standard deviation of a trained estimate.
    #[arg(long, requires = "exploration", default_value_t = router_core::exploration::DEFAULT_TRAINED_SD)]
    trained_sd: f64,
    /// --exploration thompson: posterior standard deviation of a catalog prior.
    #[arg(long, requires = "exploration", default_value_t = router_core::exploration::DEFAULT_PRIOR_SD)]
    prior_sd: f64,
    /// With --from-log --router: the doubly robust estimator's reward model. `cross-fit`
    /// fits one on the log itself (each request's prediction from the other folds, shrunk
    /// toward the catalog priors); `candidate` uses the router's own predictions, which is
    /// optimistic where the log does not cover its choices (docs/learning-loop.md).
    #[arg(long, requires = "router", default_value = "cross-fit", value_parser = parse_reward_model)]
    reward_model: RewardModel<'static>,
}

pub(super) fn parse_reward_model(s: &str) -> Result<RewardModel<'static>, String> {
    RewardModel::parse(s)
        .ok_or_else(|| format!("unknown reward model `{s}`: use cross-fit or candidate"))
}

/// `--seeds`: at least one run (0 used to turn silently into 1).
fn parse_seeds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}`: expected a whole number of seeds, at least 1"
        )),
    }
}

/// `--guard-folds`: validation needs at least two folds (fewer used to turn silently into 2).
fn parse_folds(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(format!(
            "`{s}`: expected a whole number of folds, at least 2"
        )),
    }
}

/// `--clip`: an importance weight cap of at least 1 (below 1 used to mean no clipping).
fn parse_clip(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c.is_finite() && c >= 1.0 => Ok(c),
        _ => Err(format!(
            "`{s}`: expected a finite number of at least 1 (a weight 1/propensity is never below 1)"
        )),
    }
}

/// `--report` / `--plot`: a file whose folder exists. Both are written only once the whole
/// evaluation has run, so a missing folder is refused before it starts.
fn parse_out_file(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "the folder {} does not exist; create it first (the file is written only at the end \
             of the run)",
            dir.display()
        )),
        _ if s.is_empty() || path.file_name().is_none() => Err(format!(
            "`{s}` names no file; pass a file path such as reports/eval.md"
        )),
        _ => Ok(path),
    }
}

/// `--test-fraction`: a share strictly between 0 and 1 (0 or 1 left one side of the split
/// empty, NaN both, and the error did not name the flag).
pub(crate) fn parse_test_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "`{s}`: the share of prompts tested is a number above 0 and below 1 (e.g. 0.2)"
        )),
    }
}

/// `--decontaminate`: a cosine threshold, finite, from -1 to 1 (NaN or above 1 used to turn
/// decontamination silently off; --no-decontaminate does that on purpose).
fn parse_decontaminate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (-1.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}`: the threshold is a cosine similarity, a number from -1 to 1 (e.g. 0.95); to keep near-duplicates pass --no-decontaminate"
        )),
    }
}

fn parse_gate(s: &str) -> Result<GateEstimator, String> {
    GateEstimator::parse(s).ok_or_else(|| format!("unknown gate `{s}`: use snips, dr or ips"))
}

fn parse_split(s: &str) -> Result<SplitKind, String> {
    match s {
        "own" => Ok(SplitKind::Own),
        "random" => Ok(SplitKind::Random),
        "loto" => Ok(SplitKind::Loto),
        "source" => Ok(SplitKind::Source),
        other => Err(format!(
            "unknown split `{other}`: use own, random, loto or source"
        )),
    }
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.holdout_task.is_some() && !matches!(args.split, SplitKind::Loto | SplitKind::Source) {
        anyhow::bail!(
            "--holdout-task picks the held-out task (or source) of --split loto (or source); with --split {} it would be ignored: add --split loto or drop it",
            args.split.as_str()
        );
    }
    if let (Some(log), true) = (&args.from_log, args.arms) {
        return super::from_log::compare_arms(
            log,
            &super::from_log::ArmsArgs {
                experiment: args.experiment.as_deref(),
                control: args.control.as_deref(),
                gate_arm: args.gate_arm.as_deref(),
                metric: args.metric.as_deref(),
                json: args.json,
            },
        );
    }
    if let Some(log) = &args.from_log {
        let Some(router) = &args.router else {
            anyhow::bail!(
                "--from-log {}: add --router DIR (an off-policy estimate of that router) or --arms (compare the arms of an A/B experiment)",
                log.display()
            );
        };
        return super::from_log::evaluate(
            log,
            &super::from_log::OpeArgs {
                router,
                arm: args.arm.as_deref(),
                metric: args.metric.as_deref(),
                clip: args.clip,
                gate: args.gate,
                reward_model: args.reward_model,
                exploration: args
                    .exploration
                    .as_deref()
                    .map(|kind| {
                        super::from_log::ExplorationFlags {
                            kind,
                            epsilon: args.epsilon,
                            temperature: args.temperature,
                            top_k: args.top_k,
                            trained_sd: args.trained_sd,
                            prior_sd: args.prior_sd,
                        }
                        .parse()
                    })
                    .transpose()?,
                json: args.json,
            },
            &args.data.encoder,
        );
    }
    if let Some(name) = &args.compare_to {
        let known = args.predictors.iter().any(|k| k.as_str() == name)
            || (name == "guarded" && args.guarded);
        anyhow::ensure!(
            known,
            "--compare-to {name}: not a router of this run; name one of --predictors ({}) or `guarded` with --guarded",
            args.predictors
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    anyhow::ensure!(
        !(args.adapter && args.data.prompt_features),
        "--adapter cannot be combined with --prompt-features yet (a served artifact appends the adapter first); drop one of them"
    );
    let (table, x, _, sources) = load_with_sources(&args.data)?;
    if args.split == SplitKind::Own {
        if let Some(note) = unsplit_rows_note(&table) {
            eprintln!("{note}");
        }
    }
    let mut data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
    data.sources = sources.into_iter().map(Some).collect();
    if args.adapter {
        let encoder = args.data.encoder.load()?;
        let bar = bar(table.len() as u64, "token states");
        let mut on_progress = |p: &Progress| draw(&bar, p);
        data.token_states = experiment::token_states(&table, &encoder, Some(&mut on_progress))?;
        bar.finish_and_clear();
    }
    if !args.models.is_empty() {
        let mut columns = Vec::new();
        for name in &args.models {
            match data.models.iter().position(|m| m.as_str() == name) {
                Some(j) => columns.push(j),
                None => anyhow::bail!(
                    "--models: `{name}` is not in the data; its models are: {}",
                    data.models
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        data = data.restrict_columns(&columns).0;
    }
    // A cross-source fold keeps only the models its sources share, which may all be priced:
    // that split warns after the run, from the folds' own cost model.
    if args.split != SplitKind::Source {
        warn_unpriced(&data);
    }
    let mut configs = training::experiment::PredictorConfigs::default();
    if !args.stack_bases.is_empty() {
        configs.stack.bases.clone_from(&args.stack_bases);
    }
    let guard = args.guarded.then(|| training::experiment::GuardConfig {
        candidates: args.guard_candidates.clone(),
        folds: args.guard_folds,
        by_task: args.guard_by_task,
        adapter: args.adapter.then(|| adapter_config(&args)),
        min_gain: args.guard_min_gain,
        decontaminate: (!args.no_decontaminate).then_some(args.decontaminate),
        ..training::experiment::GuardConfig::default()
    });
    let config = ExperimentConfig {
        predictors: args.predictors.clone(),
        configs,
        guard,
        split: args.split,
        seeds: (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect(),
        test_fraction: args.test_fraction,
        holdout_task: args.holdout_task.clone(),
        decontaminate: (!args.no_decontaminate).then_some(args.decontaminate),
        compare_to: args.compare_to.clone(),
        adapter: args.adapter.then(|| adapter_config(&args)),
        hybrids: args.hybrids,
        tie_margins: args.tie_margins.clone(),
        ..ExperimentConfig::default()
    };
    let bar = bar(0, "fitting");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let report = experiment::run(&data, &config, Some(&mut on_progress))?;
    bar.finish_and_clear();
    if args.split == SplitKind::Source && !report.unpriced_models.is_empty() {
        let names: Vec<&str> = report.unpriced_models.iter().map(|m| m.as_str()).collect();
        eprintln!(
            "warning: the folds that keep {} predicted cost from each model's mean training cost (no catalog price). {}",
            names.join(", "),
            PRICE_HINT
        );
    }

    for note in small_fold_notes(report.runs.iter().map(|r| (r.fold.as_str(), r.test_rows))) {
        eprintln!("{note}");
    }
    let markdown = report.to_markdown();
    if args.json {
        outln!("{}", report.to_json()?)?;
    } else {
        outln!("{markdown}")?;
    }
    if let Some(path) = &args.report {
        let command: Vec<String> = std::env::args().collect();
        let text = format!("<!-- generated by: {} -->\n\n{markdown}", command.join(" "));
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let mut folds: Vec<&str> = Vec::new();
        for run in &report.runs {
            if !folds.contains(&run.fold.as_str()) {
                folds.push(&run.fold);
            }
        }
        for (fold, target) in folds.iter().zip(plot_targets(path, &folds)) {
            let Some(run) = report.runs.iter().find(|r| r.fold == *fold) else {
                continue;
            };
            run.report
                .plot_svg(&target)
                .with_context(|| format!("writing {}", target.display()))?;
            eprintln!("wrote {}", target.display());
        }
    }
    Ok(())
}

fn adapter_config(args: &EvalArgs) -> training::adapter::AdapterConfig {
    training::adapter::AdapterConfig {
        rank: args.adapter_rank,
        ..training::adapter::AdapterConfig::default()
    }
}

/// Warns, naming them, when some models have no catalog price: predicted cost then falls
/// back to each model's mean training cost.
pub fn warn_unpriced(data: &ExperimentData) {
    let unpriced = data.unpriced_models();
    if !unpriced.is_empty() {
        let names: Vec<&str> = unpriced.iter().map(|m| m.as_str()).collect();
        eprintln!("{}", unpriced_warning(&names));
    }
}

/// How to price a model the catalog lacks.
const PRICE_HINT: &str = "Price them with --price MODEL=IN,OUT (USD per 1M input and output tokens; --price '*=IN,OUT' for every unpriced model) or add them to the catalog to predict cost from prices × tokens.";

/// The warning for models without a price, naming them and the flag that prices them.
fn unpriced_warning(names: &[&str]) -> String {
    format!(
        "warning: the catalog has no price for {}; predicted cost falls back to each model's mean training cost (no per-prompt cost variation) for every model. {PRICE_HINT}",
        names.join(", ")
    )
}

/// Fewest test prompts a fold's comparison can rest on: below it, one prompt moves AIQ by
/// several hundredths and the bootstrap interval over so few resamples the same handful.
const MIN_FOLD_TEST_PROMPTS: usize = 30;

/// A warning per fold (once, whatever the seeds) whose test set is too small to compare
/// routers on: leave-one-task-out over a task with a few prompts, a small held-out source.
/// `runs` gives each run's fold and test prompts.
fn small_fold_notes<'a>(runs: impl IntoIterator<Item = (&'a str, usize)>) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (fold, test_rows) in runs {
        if test_rows < MIN_FOLD_TEST_PROMPTS && !seen.contains(&fold) {
            seen.push(fold);
            notes.push(format!(
                "warning: fold `{fold}` tests on {test_rows} prompts (fewer than {MIN_FOLD_TEST_PROMPTS}): its AIQ and intervals rest on too few prompts to tell routers apart; read it with care or merge the task into another"
            ));
        }
    }
    notes
}

/// With `--split own`: rows that carry no `train`/`test` split are in neither side, so they
/// are left out of the evaluation. Says how many, so that it is not silent.
fn unsplit_rows_note(table: &datasets::OutcomeTable) -> Option<String> {
    let unsplit = table.rows.iter().filter(|r| r.split.is_none()).count();
    (unsplit > 0).then(|| {
        format!(
            "warning: --split own: {unsplit} of {} prompts have no `train`/`test` split and are left out (neither fitted on nor tested); give them a split, or use --split random",
            table.len()
        )
    })
}

/// Where each fold's plot goes: `path` itself for one fold, else `path` with the fold's name
/// as a suffix, numbered where two names clean to the same file name (`mmlu-pro`,
/// `mmlu_pro`), so that no fold's plot overwrites another's.
fn plot_targets(path: &Path, folds: &[&str]) -> Vec<PathBuf> {
    if folds.len() <= 1 {
        return vec![path.to_path_buf(); folds.len()];
    }
    let mut targets: Vec<PathBuf> = Vec::new();
    for fold in folds {
        let mut target = with_suffix(path, fold);
        let mut n = 2;
        while targets.contains(&target) {
            target = with_suffix(path, &format!("{fold}-{n}"));
            n += 1;
        }
        targets.push(target);
    }
    targets
}

/// `docs/img/x.svg` + `gsm8k` → `docs/img/x-gsm8k.svg`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = suffix
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    path.with_file_name(format!("{stem}-{clean}.svg"))
}

/// `--guard-min-gain`: an AIQ difference in [0, 1).
pub fn parse_min_gain(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}`: the guard's minimum gain is an AIQ difference, a number from 0 to below 1 (e.g. 0.001; 0 ships any significant gain)"
        )),
    }
}

/// A tie-break margin: a finite utility gain ≥ 0, in quality points.
pub fn parse_margin(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}`: a margin is a utility gain in quality points, a finite number ≥ 0 (e.g. 0.02)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fold_with_too_few_test_prompts_is_named_once() {
        let runs = [
            ("mmlu", 300),
            ("singleton", 1),
            ("singleton", 1),
            ("code", 29),
        ];
        let notes = small_fold_notes(runs);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("`singleton` tests on 1 prompts"),
            "{notes:?}"
        );
        assert!(notes[1].contains("`code` tests on 29"), "{notes:?}");
        assert!(small_fold_notes([("mmlu", 30)]).is_empty());
    }

    #[test]
    fn own_split_names_the_rows_it_leaves_out() {
        let mut table = datasets::OutcomeTable::new("t", vec!["m".into()]);
        for (i, split) in [
            Some(datasets::Split::Train),
            None,
            Some(datasets::Split::Test),
            None,
        ]
        .into_iter()
        .enumerate()
        {
            table.rows.push(datasets::PromptRow {
                id: i.to_string(),
                text: "x".into(),
                task: None,
                split,
                cells: vec![Some(datasets::Cell::from_score(1.0))],
            });
        }
        let note = unsplit_rows_note(&table).unwrap();
        assert!(note.contains("2 of 4 prompts"), "{note}");
        table.rows.retain(|r| r.split.is_some());
        assert_eq!(unsplit_rows_note(&table), None);
    }

    #[test]
    fn the_unpriced_warning_names_the_flag_that_prices() {
        let w = unpriced_warning(&["acme/x", "y"]);
        assert!(
            w.contains("acme/x, y") && w.contains("--price MODEL=IN,OUT"),
            "{w}"
        );
    }

    #[test]
    fn every_fold_gets_its_own_plot_file() {
        let path = Path::new("plots/x.svg");
        assert_eq!(plot_targets(path, &["own"]), [PathBuf::from("plots/x.svg")]);
        let got = plot_targets(path, &["数学", "物理", "mmlu-pro", "mmlu_pro"]);
        let want = [
            "plots/x-数学.svg",
            "plots/x-物理.svg",
            "plots/x-mmlu-pro.svg",
            "plots/x-mmlu-pro-2.svg",
        ];
        assert_eq!(got, want.map(PathBuf::from));
    }
}
