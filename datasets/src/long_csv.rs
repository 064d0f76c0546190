//! Long CSV: one row per prompt and model, the shape evaluation harnesses and dataframes
//! export (`df.to_csv()` of a melted results table). Columns, by header name (case and
//! surrounding spaces ignored):
//!
//! - `model` (or `model_name`, `llm`) and `score` (or `correct`, `is_correct`): required;
//! - `prompt` (or `text`, `question`, `input`): required;
//! - `id` (or `prompt_id`, `sample_id`, `question_id`): the prompt's key; without it, rows with
//!   the same prompt text are one prompt;
//! - `task` (or `category`, `eval_name`, `dataset`), `split` (`train` / `test`; without the
//!   column, a `*_train.csv` / `*_test.csv` file name says it), `cost_usd`
//!   (or `cost`, `total_cost`), `input_tokens`, `output_tokens`, `latency_ms`, `response`:
//!   optional.
//!
//! Any other column is an error naming it (a long table has no model columns to guess at).
//! Scores read as in the wide CSVs (0/1, fractions, True/False in any case; empty, `nan`,
//! `NA`, … are "not run"). A prompt's text, task and split must agree over its rows, and one
//! model appears once per prompt: each mismatch is an error naming both lines.

use std::collections::HashMap;
use std::path::Path;

use crate::detect::{csv_header, csv_line, is_index_column, list_files, open_csv, split_from_stem};
use crate::error::{Error, Location};
use crate::routerbench::{is_missing, parse_score};
use crate::table::{Cell, OutcomeTable, Split, TableBuilder};

/// Header names of each field, in lower case.
const MODEL: [&str; 3] = ["model", "model_name", "llm"];
const SCORE: [&str; 3] = ["score", "correct", "is_correct"];
const PROMPT: [&str; 4] = ["prompt", "text", "question", "input"];
const ID: [&str; 4] = ["id", "prompt_id", "sample_id", "question_id"];
const TASK: [&str; 4] = ["task", "category", "eval_name", "dataset"];
const SPLIT: [&str; 1] = ["split"];
const COST: [&str; 3] = ["cost_usd", "cost", "total_cost"];
const INPUT_TOKENS: [&str; 1] = ["input_tokens"];
const OUTPUT_TOKENS: [&str; 1] = ["output_tokens"];
const LATENCY: [&str; 1] = ["latency_ms"];
const RESPONSE: [&str; 1] = ["response"];

/// Whether a CSV header is a long table's: a model, a score and a prompt column.
pub(crate) fn is_long_header(header: &csv::StringRecord) -> bool {
    let has = |names: &[&str]| header.iter().any(|h| names.contains(&norm(h).as_str()));
    has(&MODEL) && has(&SCORE) && has(&PROMPT)
}

fn norm(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()
}

/// Imports one long CSV, or every `.csv` of a folder.
pub fn import_long_csv(path: &Path) -> Result<OutcomeTable, Error> {
    let files = if path.is_dir() {
        list_files(path, "csv")?
    } else {
        vec![path.to_owned()]
    };
    let mut b = TableBuilder::new("long_csv");
    let mut prompts = Prompts::default();
    for file in &files {
        read_file(file, &mut b, &mut prompts)?;
    }
    for (key, p) in prompts.order.into_iter().zip(prompts.rows) {
        let id = b.unique_id(key);
        b.push(id, p.text, p.task, p.split, p.cells);
    }
    Ok(b.finish())
}

/// One prompt gathered over its rows.
struct Gathered {
    text: String,
    task: Option<String>,
    split: Option<Split>,
    cells: Vec<(usize, Cell)>,
    /// Where it was first seen, for errors naming both lines.
    first: (std::path::PathBuf, u64),
    /// The file and line of each model's row.
    model_lines: HashMap<usize, (std::path::PathBuf, u64)>,
}

#[derive(Default)]
struct Prompts {
    index: HashMap<String, usize>,
    order: Vec<String>,
    rows: Vec<Gathered>,
}

/// Column positions of a long table's fields.
struct Columns {
    model: usize,
    score: usize,
    prompt: usize,
    id: Option<usize>,
    task: Option<usize>,
    split: Option<usize>,
    cost: Option<usize>,
    input_tokens: Option<usize>,
    output_tokens: Option<usize>,
    latency: Option<usize>,
    response: Option<usize>,
}

fn columns(file: &Path, header: &csv::StringRecord) -> Result<Columns, Error> {
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&norm(h).as_str()))
    };
    let need = |names: &[&str]| {
        find(names).ok_or_else(|| {
            Error::malformed(
                file,
                Location::Line(1),
                format!(
                    "missing column `{}`; a long CSV has one row per prompt and model with `model`, `score` and `prompt` columns (datasets/README.md)",
                    names[0]
                ),
            )
        })
    };
    // Two names of one field (`text` and `prompt`, `id` and `prompt_id`): which one means it
    // is a guess (a `text` column of responses read as the prompt splits every prompt), so
    // the file must say.
    for names in [&MODEL[..], &SCORE, &PROMPT, &ID, &TASK, &COST] {
        let given: Vec<String> = header
            .iter()
            .filter(|h| names.contains(&norm(h).as_str()))
            .map(|h| format!("`{h}`"))
            .collect();
        if given.len() > 1 {
            return Err(Error::malformed(
                file,
                Location::Line(1),
                format!(
                    "columns {} name one field (`{}`); keep one, rename or drop the others",
                    given.join(" and "),
                    names[0]
                ),
            ));
        }
    }
    let known: Vec<&str> = [
        &MODEL[..],
        &SCORE,
        &PROMPT,
        &ID,
        &TASK,
        &SPLIT,
        &COST,
        &INPUT_TOKENS,
        &OUTPUT_TOKENS,
        &LATENCY,
        &RESPONSE,
    ]
    .concat();
    if let Some(other) = header
        .iter()
        .find(|h| !is_index_column(h) && !known.contains(&norm(h).as_str()))
    {
        return Err(Error::malformed(
            file,
            Location::Line(1),
            format!(
                "column `{other}` is not one a long CSV has (model, score, prompt, id, task, split, cost_usd, input_tokens, output_tokens, latency_ms, response); drop or rename it"
            ),
        ));
    }
    Ok(Columns {
        model: need(&MODEL)?,
        score: need(&SCORE)?,
        prompt: need(&PROMPT)?,
        id: find(&ID),
        task: find(&TASK),
        split: find(&SPLIT),
        cost: find(&COST),
        input_tokens: find(&INPUT_TOKENS),
        output_tokens: find(&OUTPUT_TOKENS),
        latency: find(&LATENCY),
        response: find(&RESPONSE),
    })
}

/// A token count: a whole number, also as pandas writes an integer column with a gap (`12.0`).
fn whole(v: &str) -> Option<u32> {
    v.parse::<u32>().ok().or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(x))
            .map(|x| x as u32)
    })
}

fn read_file(file: &Path, b: &mut TableBuilder, prompts: &mut Prompts) -> Result<(), Error> {
    let mut rdr = open_csv(file)?;
    let header = csv_header(file, &mut rdr)?;
    let cols = columns(file, &header)?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut record = csv::StringRecord::new();
    while rdr
        .read_record(&mut record)
        .map_err(|e| Error::csv(file, &e))?
    {
        let pos = record.position().cloned();
        let line = || csv_line(file, pos.as_ref());
        let bad = |field: &str, problem: String| {
            Error::malformed(file, Location::Line(line()), format!("{field}: {problem}"))
        };
        let get = |i: usize| record.get(i).unwrap_or("").trim();
        let opt = |i: Option<usize>| i.map(get).filter(|v| !is_missing(v));
        let model = get(cols.model);
        if model.is_empty() {
            return Err(bad("model", "empty; every row names its model".to_owned()));
        }
        let text = record.get(cols.prompt).unwrap_or("").to_owned();
        // A run that did not happen (empty, `NA`) still names its model and prompt and is
        // checked like the others: only its cell stays empty.
        let score = parse_score(get(cols.score)).map_err(|p| bad("score", p))?;
        let number = |field: &str, v: Option<&str>| -> Result<Option<f64>, Error> {
            v.map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| bad(field, format!("`{v}` is not a finite number >= 0")))
            })
            .transpose()
        };
        let count = |field: &str, v: Option<&str>| -> Result<Option<u32>, Error> {
            v.map(|v| {
                whole(v).ok_or_else(|| bad(field, format!("`{v}` is not a whole number >= 0")))
            })
            .transpose()
        };
        let split = match opt(cols.split) {
            // As in the other layouts, `*_train.csv` / `*_test.csv` name it otherwise.
            None => split_from_stem(file),
            Some(v) if v.eq_ignore_ascii_case("train") => Some(Split::Train),
            Some(v) if v.eq_ignore_ascii_case("test") => Some(Split::Test),
            Some(v) => {
                return Err(bad(
                    "split",
                    format!("`{v}` is not `train` or `test` (or empty)"),
                ))
            }
        };
        let cell = Cell {
            cost_usd: number("cost_usd", opt(cols.cost))?,
            input_tokens: count("input_tokens", opt(cols.input_tokens))?,
            output_tokens: count("output_tokens", opt(cols.output_tokens))?,
            latency_ms: number("latency_ms", opt(cols.latency))?,
            response: opt(cols.response).map(str::to_owned),
            ..Cell::from_score(score.unwrap_or(0.0))
        };
        let task = opt(cols.task).map(str::to_owned);
        let id = opt(cols.id).map(str::to_owned);
        // A train prompt and a test prompt are two prompts even under one id (each file of a
        // `*_train.csv` / `*_test.csv` pair may count from 0).
        let key = format!("{split:?}\u{0}{}", id.as_deref().unwrap_or(text.as_str()));
        let j = b.model(model);
        let at = line();
        let slot = match prompts.index.get(&key) {
            Some(&slot) => slot,
            None => {
                prompts.index.insert(key, prompts.rows.len());
                // Without an id the text is the key, but not the row's id (a prompt can be
                // kilobytes): its file and first line are.
                prompts
                    .order
                    .push(id.clone().unwrap_or_else(|| format!("{stem}:{at}")));
                prompts.rows.push(Gathered {
                    text: text.clone(),
                    task: task.clone(),
                    split,
                    cells: Vec::new(),
                    first: (file.to_owned(), at),
                    model_lines: HashMap::new(),
                });
                prompts.rows.len() - 1
            }
        };
        let p = &mut prompts.rows[slot];
        let first = format!("{} line {}", p.first.0.display(), p.first.1);
        let name = match &id {
            Some(id) => format!("prompt `{id}`"),
            None => format!("the prompt first on {first}"),
        };
        if p.text != text {
            return Err(bad(
                "prompt",
                format!("{name} has another text than on {first}; one id, one text"),
            ));
        }
        if p.task != task || p.split != split {
            return Err(bad(
                "task/split",
                format!("{name} has another task or split than on {first}"),
            ));
        }
        if let Some((earlier_file, earlier)) = p.model_lines.insert(j, (file.to_owned(), at)) {
            return Err(bad(
                "model",
                format!(
                    "`{model}` on {name} again (first on {} line {earlier}); one row per prompt and model",
                    earlier_file.display()
                ),
            ));
        }
        if score.is_some() {
            p.cells.push((j, cell));
        }
    }
    Ok(())
}
