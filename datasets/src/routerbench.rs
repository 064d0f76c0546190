//! RouterBench's wide CSV layout (Martian, arXiv 2403.12031).
//!
//! Columns: an unnamed pandas index, `sample_id`, `prompt`, `eval_name`, one score column per
//! model, then `<model>|model_response` and `<model>|total_cost`, then
//! `oracle_model_to_route_to`. Models are the columns between `eval_name` and the first
//! column holding a `|` (any column without `|` that is not a known key column).
//!
//! The `prompt` cell is a Python list literal of strings (few-shot examples, with the question
//! last). It is decoded with Python's escapes and the parts are joined with a blank line, which
//! is how the benchmark concatenated them; a cell that is not such a literal is kept verbatim.
//! A file named `*_train.csv` / `*_test.csv` gives the rows that split. Empty score cells
//! (some arc-challenge rows) become missing cells. Costs are RouterBench's recorded per-prompt
//! USD (`cost_estimated = false`); responses are kept.

use std::path::Path;

use crate::detect::{
    csv_header, csv_line, is_index_column, list_files, not_a_model_hint, open_csv, split_from_stem,
};
use crate::error::{Error, Location};
use crate::pyliteral::parse_str_list;
use crate::table::{Cell, OutcomeTable, TableBuilder};

const KEY_COLUMNS: [&str; 5] = [
    "",
    "sample_id",
    "prompt",
    "eval_name",
    "oracle_model_to_route_to",
];

/// Imports one RouterBench CSV, or every `*.csv` of a folder (in name order).
pub fn import_routerbench(path: &Path) -> Result<OutcomeTable, Error> {
    let files = if path.is_dir() {
        list_files(path, "csv")?
    } else {
        vec![path.to_owned()]
    };
    if files.is_empty() {
        return Err(Error::NoData {
            path: path.to_owned(),
            expected: "RouterBench *.csv files".into(),
        });
    }
    let mut b = TableBuilder::new("routerbench");
    for file in &files {
        read_file(file, &mut b)?;
    }
    Ok(b.finish())
}

struct Columns {
    sample_id: usize,
    prompt: usize,
    eval_name: usize,
    /// (table column, score column, response column, cost column)
    models: Vec<(usize, usize, Option<usize>, Option<usize>)>,
}

fn columns(
    file: &Path,
    header: &csv::StringRecord,
    b: &mut TableBuilder,
) -> Result<Columns, Error> {
    let find = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            Error::malformed(
                file,
                Location::Line(1),
                format!("missing column `{name}`; a RouterBench CSV has sample_id, prompt, eval_name, then model columns"),
            )
        })
    };
    let (sample_id, prompt, eval_name) = (need("sample_id")?, need("prompt")?, need("eval_name")?);
    let mut models = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if h.contains('|') || KEY_COLUMNS.contains(&h) || is_index_column(h) {
            continue;
        }
        let response = find(&format!("{h}|model_response"));
        let cost = find(&format!("{h}|total_cost"));
        models.push((b.model(h), i, response, cost));
    }
    if models.is_empty() {
        return Err(Error::malformed(
            file,
            Location::Line(1),
            "no model score columns in the header",
        ));
    }
    // Every column besides the key columns is read as a model. Where the models carry their
    // `|model_response` or `|total_cost` columns, one without either is most likely not a
    // model (a `difficulty` or `length` column of scores in [0, 1] would import silently as
    // one, and be routed to).
    let companions = |&(_, _, response, cost): &(usize, usize, Option<usize>, Option<usize>)| {
        response.is_some() || cost.is_some()
    };
    if models.iter().any(companions) {
        let bare: Vec<&str> = models
            .iter()
            .filter(|m| !companions(m))
            .filter_map(|&(_, i, _, _)| header.get(i))
            .collect();
        if !bare.is_empty() {
            return Err(Error::malformed(
                file,
                Location::Line(1),
                format!(
                    "column {} has no `|model_response` or `|total_cost` column, as the models here have: \
                     every column besides sample_id, prompt and eval_name is read as a model; drop it if it \
                     is not one, or add its `|total_cost` column (empty cells are missing costs) if it is",
                    bare.iter().map(|b| format!("`{b}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(Columns {
        sample_id,
        prompt,
        eval_name,
        models,
    })
}

fn read_file(file: &Path, b: &mut TableBuilder) -> Result<(), Error> {
    let mut rdr = open_csv(file)?;
    let header = csv_header(file, &mut rdr)?;
    let cols = columns(file, &header, b)?;
    let split = split_from_stem(file);
    let mut record = csv::StringRecord::new();
    while rdr
        .read_record(&mut record)
        .map_err(|e| Error::csv(file, &e))?
    {
        // Only errors need the line (counted from the byte offset, which reads the file).
        let pos = record.position().cloned();
        let at = || Location::Line(csv_line(file, pos.as_ref()));
        let get = |i: usize| record.get(i).unwrap_or("");
        let mut cells = Vec::with_capacity(cols.models.len());
        for &(j, score_col, response_col, cost_col) in &cols.models {
            let model = header.get(score_col).unwrap_or("");
            let Some(score) = parse_score(get(score_col)).map_err(|p| {
                let hint = not_a_model_hint(
                    model,
                    "sample_id, prompt, eval_name, oracle_model_to_route_to and `<model>|...`",
                );
                Error::malformed(file, at(), format!("column `{model}`: {p}; {hint}"))
            })?
            else {
                continue;
            };
            let cost = match cost_col.map(get).map(str::trim) {
                None => None,
                Some(v) if is_missing(v) => None,
                Some(v) => Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|c| c.is_finite() && *c >= 0.0)
                        .ok_or_else(|| {
                            Error::malformed(
                                file,
                                at(),
                                format!(
                                    "column `{model}|total_cost`: `{v}` is not a cost in USD \
                                     (expected a finite number >= 0, or empty where not \
                                     recorded)"
                                ),
                            )
                        })?,
                ),
            };
            let response = response_col
                .map(get)
                .filter(|r| !r.is_empty())
                .map(str::to_owned);
            cells.push((
                j,
                Cell {
                    cost_usd: cost,
                    response,
                    ..Cell::from_score(score)
                },
            ));
        }
        let raw = get(cols.prompt);
        let text = parse_str_list(raw).map_or_else(|| raw.to_owned(), |parts| parts.join("\n\n"));
        let sample_id = get(cols.sample_id);
        if sample_id.is_empty() {
            return Err(Error::malformed(
                file,
                at(),
                "empty `sample_id`; every row needs an id",
            ));
        }
        let id = b.unique_id(sample_id.to_owned());
        let task = Some(task_label(get(cols.eval_name))).filter(|t| !t.is_empty());
        b.push(id, text, task, split, cells);
    }
    Ok(())
}

/// The task label of an `eval_name`. The full RouterBench release names MMLU's 57 subjects
/// `mmlu-<subject>`; they become `mmlu/<subject>`, so that MMLU is one task family (for the
/// per-task rule, leave-one-task-out and `--exclude-task mmlu`), as RouteLLM's `mmlu_<subject>`
/// files are. Other names are kept.
fn task_label(eval_name: &str) -> String {
    match eval_name.strip_prefix("mmlu-") {
        Some(subject) if !subject.is_empty() => format!("mmlu/{subject}"),
        _ => eval_name.to_owned(),
    }
}

/// Whether a CSV cell says "no value": empty, or how pandas, R, Excel and Python spell a
/// missing value (`nan`, `NA`, `N/A`, `None`, `null`, in any case).
pub(crate) fn is_missing(v: &str) -> bool {
    let v = v.trim();
    v.is_empty()
        || ["nan", "na", "n/a", "none", "null", "#n/a"]
            .iter()
            .any(|m| v.eq_ignore_ascii_case(m))
}

/// A 0/1 (or fractional) score; empty (or `nan`, `NA`, …) means "not run". True/False in
/// any case (Excel writes `TRUE`).
pub(crate) fn parse_score(v: &str) -> Result<Option<f64>, String> {
    let v = v.trim();
    if is_missing(v) {
        return Ok(None);
    }
    if v.eq_ignore_ascii_case("true") {
        return Ok(Some(1.0));
    }
    if v.eq_ignore_ascii_case("false") {
        return Ok(Some(0.0));
    }
    match v.parse::<f64>() {
        Ok(s) if (0.0..=1.0).contains(&s) => Ok(Some(s)),
        _ => Err(format!("`{v}` is not a score in [0, 1] (or True/False)")),
    }
}
