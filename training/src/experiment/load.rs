//! Building an experiment's inputs from benchmark files: import each source, drop excluded
//! tasks, sample, merge, then embed every prompt through the cache. `train`, `eval` and
//! `onboard` share it; the CLI only resolves dataset names to paths and draws progress.

use std::path::{Path, PathBuf};

use datasets::OutcomeTable;
use router_core::Embedder;

use super::sample_rows;
use crate::embed_cache::EmbedCache;
use crate::{Error, ProgressFn};

/// One `--data` source: what the user called it and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    /// The name as given (a dataset name or a path); rows remember it as their source.
    pub name: String,
    /// The file or folder to import.
    pub path: PathBuf,
}

/// Dataset names accepted in place of a path, and their folder under the shared datasets root.
pub const DATASET_NAMES: [(&str, &str); 8] = [
    ("routerbench", "routerbench"),
    ("routellm", "routellm"),
    ("routellm-gsm8k", "routellm/gsm8k"),
    ("routellm-mmlu", "routellm/mmlu"),
    ("llmrouter", "llmrouter"),
    ("routerarena", "routerarena"),
    ("routerdc", "routerdc7"),
    ("routerdc7", "routerdc7"),
];

/// Resolves a `--data` argument: an existing file or folder as given, else one of
/// [`DATASET_NAMES`] looked up in `../shared/datasets` next to the workspace, then next to the
/// working directory.
pub fn resolve_data(arg: &str) -> Result<PathBuf, Error> {
    let given = Path::new(arg);
    if given.exists() {
        return Ok(given.to_owned());
    }
    let Some((_, folder)) = DATASET_NAMES.iter().find(|(n, _)| *n == arg) else {
        let names: Vec<&str> = DATASET_NAMES.iter().map(|(n, _)| *n).collect();
        return Err(Error::Data {
            reason: format!(
                "data path `{arg}` does not exist: pass an existing file or folder, or one of the dataset names {} (looked up in ../shared/datasets/)",
                names.join(", ")
            ),
        });
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let roots = [
        workspace.join("../shared/datasets"),
        PathBuf::from("../shared/datasets"),
    ];
    if let Some(path) = roots.iter().map(|r| r.join(folder)).find(|p| p.exists()) {
        return Ok(path);
    }
    Err(Error::Data {
        reason: format!(
            "dataset `{arg}` not found at {}: copy the public datasets there (see ../shared/datasets/README.md) or pass the folder's path",
            roots[0].join(folder).display()
        ),
    })
}

/// Each `--data` argument (a dataset name or path) with the path it resolves to.
pub fn source_specs(data: &[String]) -> Result<Vec<SourceSpec>, Error> {
    data.iter()
        .map(|name| {
            Ok(SourceSpec {
                name: name.clone(),
                path: resolve_data(name)?,
            })
        })
        .collect()
}

/// How the sources are filtered before they are merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSpec {
    /// The sources, merged in this order.
    pub sources: Vec<SourceSpec>,
    /// Task families dropped from every source.
    pub exclude_tasks: Vec<String>,
    /// Keep at most this many prompts per source, drawn with `sample_seed`.
    pub max_prompts: Option<usize>,
    /// Seed of the per-source sample.
    pub sample_seed: u64,
    /// Model ids that name the same model in different sources, `(alias, canonical)`: every
    /// source's `alias` column is renamed `canonical` before the merge, so that sources which
    /// recorded one model under two names share its column.
    pub same_models: Vec<(String, String)>,
}

/// Refuses a source given twice (compared by canonical path, so `data` and `./data/` are one):
/// its rows would be merged twice, and an evaluation's copies would leak between train and test.
fn refuse_repeated_sources(sources: &[SourceSpec]) -> Result<(), Error> {
    let mut seen: Vec<(PathBuf, &str)> = Vec::with_capacity(sources.len());
    for source in sources {
        let path = std::fs::canonicalize(&source.path).unwrap_or_else(|_| source.path.clone());
        if let Some((_, first)) = seen.iter().find(|(p, _)| *p == path) {
            return Err(Error::Experiment {
                reason: format!(
                    "--data {} and --data {first} are the same data ({}); give each source once",
                    source.name,
                    path.display()
                ),
            });
        }
        seen.push((path, &source.name));
    }
    Ok(())
}

/// Imports, filters, samples (per source, so that a source's sample is the same whatever it is
/// merged with) and merges. Returns the table and each row's source name; `note` gets one line
/// per step worth telling the user.
pub fn import_sources(
    spec: &ImportSpec,
    note: &mut dyn FnMut(String),
) -> Result<(OutcomeTable, Vec<String>), Error> {
    let mut table = OutcomeTable::default();
    let mut sources: Vec<String> = Vec::new();
    // What every source held before filtering, and which filters matched anything: a
    // `--exclude-task` or `--same-model` that matches nothing is most likely a typo, and a
    // typo in `--exclude-task gpqa` would keep rows that must never be published.
    let mut all_tasks: Vec<String> = Vec::new();
    let mut all_models: Vec<String> = Vec::new();
    let mut task_matched = vec![false; spec.exclude_tasks.len()];
    let mut alias_matched = vec![false; spec.same_models.len()];
    refuse_repeated_sources(&spec.sources)?;
    for source in &spec.sources {
        let mut part = datasets::import_auto(&source.path).map_err(|e| Error::Experiment {
            reason: format!("importing {}: {e}", source.path.display()),
        })?;
        note(format!(
            "imported {} prompts × {} models from {}",
            part.len(),
            part.models.len(),
            source.path.display()
        ));
        for family in part.rows.iter().filter_map(|r| r.task_family()) {
            if !all_tasks.iter().any(|t| t == family) {
                all_tasks.push(family.to_owned());
            }
        }
        for model in &part.models {
            if !all_models.contains(model) {
                all_models.push(model.clone());
            }
        }
        for (task, matched) in spec.exclude_tasks.iter().zip(&mut task_matched) {
            let before = part.len();
            part.drop_task(task);
            if part.len() < before {
                *matched = true;
                note(format!(
                    "excluded {} prompts of task {task}",
                    before - part.len()
                ));
            }
        }
        for ((alias, canonical), matched) in spec.same_models.iter().zip(&mut alias_matched) {
            let Some(j) = part.models.iter().position(|m| m == alias) else {
                continue;
            };
            *matched = true;
            if part.models.iter().any(|m| m == canonical) {
                return Err(Error::Experiment {
                    reason: format!(
                        "--same-model {alias}={canonical}: {} has both as separate models; the mapping is for sources that name one model differently",
                        source.path.display()
                    ),
                });
            }
            canonical.clone_into(&mut part.models[j]);
            note(format!(
                "model {alias} of {} counted as {canonical}",
                source.name
            ));
        }
        if let Some(max) = spec.max_prompts.filter(|&m| m < part.len()) {
            sample_rows(&mut part, max, spec.sample_seed);
            note(format!("sampled {max} prompts (seed {})", spec.sample_seed));
        }
        sources.extend(std::iter::repeat_n(source.name.clone(), part.len()));
        table.merge(part);
    }
    if let Some((task, _)) = spec
        .exclude_tasks
        .iter()
        .zip(&task_matched)
        .find(|(_, m)| !**m)
    {
        return Err(Error::Experiment {
            reason: format!(
                "--exclude-task {task} matched no prompt in any --data source (a typo?); the task families are: {}",
                listing(&all_tasks, "none: the data has no task labels")
            ),
        });
    }
    if let Some(((alias, canonical), _)) = spec
        .same_models
        .iter()
        .zip(&alias_matched)
        .find(|(_, m)| !**m)
    {
        return Err(Error::Experiment {
            reason: format!(
                "--same-model {alias}={canonical}: no --data source has a model `{alias}` (a typo?); the models are: {}",
                listing(&all_models, "none")
            ),
        });
    }
    if table.is_empty() {
        return Err(Error::Experiment {
            reason: "no prompts left after filtering; check --data and --exclude-task".into(),
        });
    }
    Ok((table, sources))
}

/// `names` comma-separated (at most 40, then a count), or `empty` when there are none.
fn listing(names: &[String], empty: &str) -> String {
    const SHOWN: usize = 40;
    if names.is_empty() {
        return empty.to_owned();
    }
    let shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    match names.len().checked_sub(SHOWN).filter(|&more| more > 0) {
        Some(more) => format!("{} and {more} more", shown.join(", ")),
        None => shown.join(", "),
    }
}

/// How costs are settled after the import.
pub struct CostBasis<'a> {
    /// Forget recorded costs first, so that every cell is priced the same way.
    pub reprice: bool,
    /// USD per 1M (input, output) tokens of a model, where known.
    pub prices: &'a dyn Fn(&str) -> Option<(f64, f64)>,
}

/// [`import_sources`], then the costs settled by `costs`: recorded costs cleared with
/// `reprice`, missing ones estimated from prices (at
/// [`datasets::DEFAULT_OUTPUT_TOKENS`] where a cell records no length). The table is ready to
/// embed; returns it with each row's source name.
pub fn import_priced(
    spec: &ImportSpec,
    costs: &CostBasis<'_>,
    note: &mut dyn FnMut(String),
) -> Result<(OutcomeTable, Vec<String>), Error> {
    let (mut table, sources) = import_sources(spec, note)?;
    if costs.reprice {
        let cleared = table.clear_recorded_costs();
        note(format!(
            "--reprice: {cleared} recorded costs replaced by catalog prices × tokens (one cost basis for every source)"
        ));
    }
    let filled = table.fill_estimated_costs(costs.prices, datasets::DEFAULT_OUTPUT_TOKENS);
    if filled > 0 {
        note(format!(
            "estimated {filled} missing costs from prices × tokens (the catalog's, and --price where given)"
        ));
    }
    Ok((table, sources))
}

/// One embedding per row of `table`, through the cache in `cache_dir` for this embedder and
/// token budget. Returns the embeddings, the cache's size afterwards and its file.
pub fn embed_table(
    table: &OutcomeTable,
    embedder: &dyn Embedder,
    cache_dir: &Path,
    max_tokens: usize,
    progress: ProgressFn<'_>,
) -> Result<(Vec<Vec<f32>>, usize, PathBuf), Error> {
    let mut cache = EmbedCache::open(
        cache_dir,
        embedder.fingerprint(),
        max_tokens,
        embedder.dim(),
    )?;
    let texts: Vec<&str> = table.rows.iter().map(|r| r.text.as_str()).collect();
    let x = cache.embed_all(embedder, &texts, progress)?;
    Ok((x, cache.len(), cache.path().to_owned()))
}

/// Most memory the token states of one table may take (8 GiB: about 40,000 prompts at 128
/// tokens).
pub const TOKEN_STATE_BUDGET_BYTES: usize = 8 << 30;

/// The encoder's last-layer token states of every row of `table` (for fitting a routing
/// adapter), in batches of similar length so that little work is wasted. Refused, before any
/// encoding, when they would take more than [`TOKEN_STATE_BUDGET_BYTES`].
pub fn token_states(
    table: &OutcomeTable,
    encoder: &classifier::Encoder,
    mut progress: ProgressFn<'_>,
) -> Result<Vec<std::sync::Arc<[f32]>>, Error> {
    const BATCH: usize = 32;
    let texts: Vec<&str> = table.rows.iter().map(|r| r.text.as_str()).collect();
    // Every prompt's states stay in memory while adapters are fitted: refuse a table that
    // would not fit rather than swap or be killed half way.
    let mut tokens = 0usize;
    for text in &texts {
        tokens += encoder
            .token_ids(text)
            .map_err(|e| Error::Experiment {
                reason: format!("tokenizing for token states: {e}"),
            })?
            .len();
    }
    let bytes = tokens * classifier::EMBEDDING_DIM * std::mem::size_of::<f32>();
    if bytes > TOKEN_STATE_BUDGET_BYTES {
        return Err(Error::Experiment {
            reason: format!(
                "the token states of {} prompts ({tokens} tokens) would take {:.1} GiB, above the {:.0} GiB a routing adapter may hold; sample with --max-prompts or lower --max-tokens",
                texts.len(),
                bytes as f64 / f64::from(1u32 << 30),
                TOKEN_STATE_BUDGET_BYTES as f64 / f64::from(1u32 << 30)
            ),
        });
    }
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut out: Vec<std::sync::Arc<[f32]>> = vec![std::sync::Arc::from(Vec::new()); texts.len()];
    for (k, chunk) in order.chunks(BATCH).enumerate() {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let states = encoder
            .token_states(&batch)
            .map_err(|e| Error::Experiment {
                reason: format!("encoding token states: {e}"),
            })?;
        for (&i, s) in chunk.iter().zip(states) {
            out[i] = std::sync::Arc::from(s);
        }
        crate::progress::report(
            &mut progress,
            crate::Progress {
                done: ((k + 1) * BATCH).min(texts.len()) as u64,
                total: texts.len() as u64,
                message: "token states".into(),
                train_loss: None,
                val_loss: None,
            },
        );
    }
    Ok(out)
}
