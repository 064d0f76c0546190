//! LLMRouter's data (ulab-uiuc/LLMRouter `data/`).
//!
//! Scores: `dcrouter_preprocessed/{train,test}.json`, the RouterDC layout
//! (see [`crate::import_routerdc`]); the file name gives the split. Tasks are not in those
//! files: they are joined on the exact question text from
//! `example_data/query_data/*.jsonl` (`query` → `task_name`), looking in the same split's
//! file first; a text that appears under two tasks takes the first in file order. Prices
//! (`example_data/llm_candidates/default_llm.json`, USD per 1M tokens) fill estimated costs
//! from text length and [`crate::DEFAULT_OUTPUT_TOKENS`] (`cost_estimated = true`).
//! Row ids are `<split>/<0-based index>`.
//!
//! GPQA rows must never be published; [`LlmRouterOptions::exclude_gpqa`] drops them at import.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cost::DEFAULT_OUTPUT_TOKENS;
use crate::detect::{for_each_jsonl, list_files, read_to_string, stem, task_and_split};
use crate::error::{Error, Location};
use crate::routerdc::read_question_scores;
use crate::table::{Cell, OutcomeTable, Split, TableBuilder};

/// Options of [`import_llmrouter_with`].
#[derive(Clone, Debug, Default)]
pub struct LlmRouterOptions {
    /// Drop rows whose task is `gpqa`.
    pub exclude_gpqa: bool,
}

/// Imports LLMRouter's `data` folder (or the repository root, `dcrouter_preprocessed`, or one
/// of its files) with default options.
pub fn import_llmrouter(path: &Path) -> Result<OutcomeTable, Error> {
    import_llmrouter_with(path, &LlmRouterOptions::default())
}

/// Imports LLMRouter data with `options`.
pub fn import_llmrouter_with(
    path: &Path,
    options: &LlmRouterOptions,
) -> Result<OutcomeTable, Error> {
    let (files, data_dir) = locate(path)?;
    let tasks = task_maps(&data_dir.join("example_data/query_data"))?;
    let prices_file = data_dir.join("example_data/llm_candidates/default_llm.json");
    let prices = if prices_file.is_file() {
        read_prices(&prices_file)?
    } else {
        HashMap::new()
    };
    let mut b = TableBuilder::new("llmrouter");
    for file in &files {
        let split = task_and_split(&stem(file)).1;
        let split_name = match split {
            Some(Split::Train) => "train",
            Some(Split::Test) => "test",
            None => "all",
        };
        for (i, row) in read_question_scores(file)?.into_iter().enumerate() {
            let task = lookup_task(&tasks, split, &row.question);
            if options.exclude_gpqa && task.as_deref() == Some("gpqa") {
                continue;
            }
            let cells = row
                .scores
                .iter()
                .map(|(m, s)| (b.model(m), Cell::from_score(*s)))
                .collect();
            let id = b.unique_id(format!("{split_name}/{i}"));
            b.push(id, row.question, task, split, cells);
        }
    }
    let mut table = b.finish();
    table.fill_estimated_costs(&|m| prices.get(m).copied(), DEFAULT_OUTPUT_TOKENS);
    Ok(table)
}

/// The score files and the `data` folder holding `example_data/`.
fn locate(path: &Path) -> Result<(Vec<PathBuf>, PathBuf), Error> {
    if path.is_file() {
        let data = path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        return Ok((vec![path.to_owned()], data.to_owned()));
    }
    let candidates = [
        (path.join("data/dcrouter_preprocessed"), path.join("data")),
        (path.join("dcrouter_preprocessed"), path.to_owned()),
        (
            path.to_owned(),
            path.parent().unwrap_or(Path::new(".")).to_owned(),
        ),
    ];
    for (dir, data) in candidates {
        if dir.is_dir() {
            let files = list_files(&dir, "json")?;
            if !files.is_empty() {
                return Ok((files, data));
            }
        }
    }
    Err(Error::NoData {
        path: path.to_owned(),
        expected: "LLMRouter data/dcrouter_preprocessed/*.json".into(),
    })
}

type TaskMaps = Vec<(Option<Split>, HashMap<String, String>)>;

/// One `query` → `task_name` map per query file, tagged with the file's split.
fn task_maps(dir: &Path) -> Result<TaskMaps, Error> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut maps = Vec::new();
    for file in list_files(dir, "jsonl")? {
        let split = task_and_split(&stem(&file)).1;
        let mut map = HashMap::new();
        for_each_jsonl(&file, |line, v| {
            let (Some(q), Some(t)) = (
                v.get("query").and_then(|q| q.as_str()),
                v.get("task_name").and_then(|t| t.as_str()),
            ) else {
                return Err(Error::malformed(
                    &file,
                    Location::Line(line),
                    "expected string fields `query` and `task_name`",
                ));
            };
            map.entry(q.to_owned()).or_insert_with(|| t.to_owned());
            Ok(())
        })?;
        maps.push((split, map));
    }
    Ok(maps)
}

fn lookup_task(maps: &TaskMaps, split: Option<Split>, question: &str) -> Option<String> {
    let own = maps.iter().filter(|(s, _)| *s == split);
    let other = maps.iter().filter(|(s, _)| *s != split);
    own.chain(other).find_map(|(_, m)| m.get(question).cloned())
}

/// `default_llm.json`: `{model: {input_price, output_price, ...}}`, USD per 1M tokens.
pub(crate) fn read_prices(file: &Path) -> Result<HashMap<String, (f64, f64)>, Error> {
    let src = read_to_string(file)?;
    let v: serde_json::Value = serde_json::from_str(&src).map_err(|e| Error::json(file, &e))?;
    let obj = v.as_object().ok_or_else(|| {
        Error::malformed(
            file,
            Location::File,
            "expected an object of model -> {input_price, output_price}",
        )
    })?;
    let mut out = HashMap::new();
    for (model, entry) in obj {
        let price = |k: &str| entry.get(k).and_then(serde_json::Value::as_f64);
        match (price("input_price"), price("output_price")) {
            (Some(i), Some(o)) if i >= 0.0 && o >= 0.0 => {
                out.insert(model.clone(), (i, o));
            }
            _ => {
                return Err(Error::malformed(
                    file,
                    Location::File,
                    format!(
                    "model `{model}` needs non-negative numbers `input_price` and `output_price`"
                ),
                ))
            }
        }
    }
    Ok(out)
}
