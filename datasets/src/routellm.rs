//! RouteLLM's evaluation CSVs (lm-sys/RouteLLM `routellm/evals/`).
//!
//! Each CSV has `prompt`, one True/False column per model, and for GSM8K also
//! `<model>_response`. Tasks: `mmlu_<subject>.csv` becomes task `mmlu/<subject>` (family
//! `mmlu`, see [`crate::PromptRow::task_family`]); `gsm8k_responses.csv` becomes `gsm8k`; any
//! other file its stem. Row ids are `<task>/<0-based row of the file>`, so GSM8K ids equal
//! RouteLLM's `eval_idx`. Prompts listed as `eval_prompt` in a `contaminated_prompts.jsonl`
//! next to the CSVs (or one folder up) are dropped, as RouteLLM does. There are no costs;
//! use [`crate::OutcomeTable::fill_estimated_costs`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::detect::{
    csv_header, csv_line, for_each_jsonl, is_index_column, list_files, not_a_model_hint, open_csv,
    refuse_long_table, stem,
};
use crate::error::{Error, Location};
use crate::routerbench::parse_score;
use crate::table::{Cell, OutcomeTable, TableBuilder};

const CONTAMINATED: &str = "contaminated_prompts.jsonl";

/// Imports RouteLLM's `evals` folder (its `mmlu/` and `gsm8k/`), one benchmark folder, a
/// `responses/` folder, or a single CSV.
pub fn import_routellm(path: &Path) -> Result<OutcomeTable, Error> {
    let mut csvs = Vec::new();
    let mut contaminated_files = Vec::new();
    plan(path, &mut csvs, &mut contaminated_files)?;
    if csvs.is_empty() {
        return Err(Error::NoData {
            path: path.to_owned(),
            expected: "RouteLLM response *.csv files".into(),
        });
    }
    let mut contaminated = HashSet::new();
    for file in &contaminated_files {
        for_each_jsonl(file, |line, v| {
            let prompt = v
                .get("eval_prompt")
                .and_then(|p| p.as_str())
                .ok_or_else(|| {
                    Error::malformed(
                        file,
                        Location::Line(line),
                        "expected an object with a string `eval_prompt`",
                    )
                })?;
            contaminated.insert(prompt.to_owned());
            Ok(())
        })?;
    }
    let mut b = TableBuilder::new("routellm");
    for file in &csvs {
        read_file(file, &contaminated, &mut b)?;
    }
    Ok(b.finish())
}

fn plan(
    path: &Path,
    csvs: &mut Vec<PathBuf>,
    contaminated: &mut Vec<PathBuf>,
) -> Result<(), Error> {
    let mut add_contaminated = |dir: &Path| {
        let f = dir.join(CONTAMINATED);
        if f.is_file() && !contaminated.contains(&f) {
            contaminated.push(f);
        }
    };
    if !path.is_dir() {
        csvs.push(path.to_owned());
        if let Some(dir) = path.parent() {
            add_contaminated(dir);
            if let Some(up) = dir.parent() {
                add_contaminated(up);
            }
        }
        return Ok(());
    }
    let (mmlu, gsm8k) = (path.join("mmlu"), path.join("gsm8k"));
    if mmlu.is_dir() || gsm8k.is_dir() {
        for sub in [mmlu, gsm8k] {
            if sub.is_dir() {
                plan(&sub, csvs, contaminated)?;
            }
        }
        return Ok(());
    }
    let responses = path.join("responses");
    if responses.is_dir() {
        add_contaminated(path);
        csvs.extend(list_files(&responses, "csv")?);
        return Ok(());
    }
    add_contaminated(path);
    if let Some(up) = path.parent() {
        add_contaminated(up);
    }
    csvs.extend(list_files(path, "csv")?);
    Ok(())
}

/// `mmlu_anatomy` → `mmlu/anatomy`, `gsm8k_responses` → `gsm8k`.
fn task_of(file: &Path) -> String {
    let stem = stem(file);
    if let Some(subject) = stem.strip_prefix("mmlu_") {
        return format!("mmlu/{subject}");
    }
    stem.strip_suffix("_responses").unwrap_or(&stem).to_owned()
}

fn read_file(
    file: &Path,
    contaminated: &HashSet<String>,
    b: &mut TableBuilder,
) -> Result<(), Error> {
    let mut rdr = open_csv(file)?;
    let header = csv_header(file, &mut rdr)?;
    refuse_long_table(file, &header)?;
    let prompt_col = header.iter().position(|h| h == "prompt").ok_or_else(|| {
        Error::malformed(file, Location::Line(1), "missing column `prompt`; a RouteLLM CSV has prompt then one True/False column per model")
    })?;
    let mut models = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if i == prompt_col || h.ends_with("_response") || is_index_column(h) {
            continue;
        }
        let response = header.iter().position(|r| r == format!("{h}_response"));
        models.push((b.model(h), i, response));
    }
    let task = task_of(file);
    let mut record = csv::StringRecord::new();
    let mut n = 0usize;
    while rdr
        .read_record(&mut record)
        .map_err(|e| Error::csv(file, &e))?
    {
        let index = n;
        n += 1;
        // Only errors need the line (counted from the byte offset, which reads the file).
        let pos = record.position().cloned();
        let at = || Location::Line(csv_line(file, pos.as_ref()));
        let prompt = record.get(prompt_col).unwrap_or("");
        if contaminated.contains(prompt) {
            continue;
        }
        let mut cells = Vec::with_capacity(models.len());
        for &(j, col, response_col) in &models {
            let model = header.get(col).unwrap_or("");
            let score = parse_score(record.get(col).unwrap_or("")).map_err(|p| {
                let hint = not_a_model_hint(model, "prompt and `<model>_response`");
                Error::malformed(file, at(), format!("column `{model}`: {p}; {hint}"))
            })?;
            if let Some(score) = score {
                let response = response_col
                    .and_then(|c| record.get(c))
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned);
                cells.push((
                    j,
                    Cell {
                        response,
                        ..Cell::from_score(score)
                    },
                ));
            }
        }
        let id = b.unique_id(format!("{task}/{index}"));
        b.push(id, prompt.to_owned(), Some(task.clone()), None, cells);
    }
    Ok(())
}
