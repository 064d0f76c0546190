//! RouteLLM's evaluation CSVs (lm-sys/RouteLLM `routellm/evals/`).
//!
//! Each CSV has `prompt`, one True/False column per model, and for GSM8K also
//! `<model>_response`. Tasks: `mmlu_<subject>.csv` becomes task `mmlu/<subject>` (family
//! `mmlu`, see [`crate::PromptRow::task_family`]); `gsm8k_responses.csv` becomes `gsm8k`; any
//! other file its stem. Row ids are `<task>/<0-based row of the file>`, so GSM8K ids equal
//! RouteLLM's `eval_idx`. Prompts listed as `eval_prompt` in a `contaminated_prompts.jsonl`
//! next to the CSVs (or one folder up) are dropped, as RouteLLM does. There are no costs;
//! use [`crate::OutcomeTable::fill_estimated_costs`].
//!
//! Every other column is read as a model, so two kinds of column that are not are refused: one
//! named like metadata (`eval_idx`, `category`, `difficulty`, … see `METADATA_COLUMNS`), and
//! in a file whose model columns hold True/False, one that holds numbers (`0`/`1`, `0.75`).

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

/// Column names that are an id, a task label or a split, never a model. Every column of a
/// RouteLLM CSV besides `prompt` and `<model>_response` is read as a model, so such a column
/// of 0s and 1s (an `eval_idx`) or of fractions (a `difficulty`) would import silently as one
/// more model, and be routed to. RouteLLM's own files have none of them. Compared ignoring
/// case and surrounding blanks; kept short, to names no model goes by.
const METADATA_COLUMNS: [&str; 13] = [
    "id",
    "idx",
    "index",
    "eval_idx",
    "question_id",
    "task",
    "category",
    "subject",
    "split",
    "source",
    "dataset",
    "difficulty",
    "level",
];

/// What one model column held so far: whether any True/False, and where its first number
/// was (record position and the cell), for the whole-file check at the end.
#[derive(Default)]
struct Kinds {
    booleans: bool,
    first_number: Option<(Option<csv::Position>, String)>,
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
        refuse_metadata_column(file, h)?;
        let response = header.iter().position(|r| r == format!("{h}_response"));
        models.push((b.model(h), i, response));
    }
    let mut kinds: Vec<Kinds> = models.iter().map(|_| Kinds::default()).collect();
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
        for (&(j, col, response_col), kind) in models.iter().zip(&mut kinds) {
            let model = header.get(col).unwrap_or("");
            let raw = record.get(col).unwrap_or("");
            let score = parse_score(raw).map_err(|p| {
                let hint = not_a_model_hint(model, "prompt and `<model>_response`");
                Error::malformed(file, at(), format!("column `{model}`: {p}; {hint}"))
            })?;
            if let Some(score) = score {
                if is_bool_literal(raw) {
                    kind.booleans = true;
                } else if kind.first_number.is_none() {
                    kind.first_number = Some((pos.clone(), raw.trim().to_owned()));
                }
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
    refuse_numbers_beside_booleans(file, &header, &models, &kinds)
}

/// Whether a cell is `True` or `False` in any case (pandas writes `True`, Excel `TRUE`), which
/// [`parse_score`] reads as 1 and 0, as opposed to a number.
fn is_bool_literal(v: &str) -> bool {
    let v = v.trim();
    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
}

/// Refuses a column named like an id, a task or a split (`METADATA_COLUMNS`).
fn refuse_metadata_column(file: &Path, column: &str) -> Result<(), Error> {
    let name = column.trim();
    if !METADATA_COLUMNS
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
    {
        return Ok(());
    }
    Err(Error::malformed(
        file,
        Location::Line(1),
        format!(
            "column `{column}` is named like metadata (an id, a task or a split), not a model: \
             every column besides prompt and `<model>_response` is read as one model's scores; \
             drop the column, or rename it if it really is a model; to keep a task or split, \
             convert the file to canonical JSONL or the long CSV layout, which have fields for \
             them (datasets/README.md)"
        ),
    ))
}

/// RouteLLM writes its model columns as True/False (pandas booleans). In a file where some
/// column holds only True/False, a column of numbers (`0`/`1`, `0.75`) is most likely not a
/// model (an `is_hard` flag, a difficulty) and would import silently as one: refused, naming
/// the line of its first number. Files whose model columns are all numbers are read as before.
fn refuse_numbers_beside_booleans(
    file: &Path,
    header: &csv::StringRecord,
    models: &[(usize, usize, Option<usize>)],
    kinds: &[Kinds],
) -> Result<(), Error> {
    let name = |k: usize| models.get(k).and_then(|m| header.get(m.1)).unwrap_or("");
    let booleans: Vec<String> = kinds
        .iter()
        .enumerate()
        .filter(|(_, kind)| kind.booleans && kind.first_number.is_none())
        .map(|(k, _)| format!("`{}`", name(k)))
        .collect();
    if booleans.is_empty() {
        return Ok(());
    }
    // Every column holding a number, the one whose first number comes first in the file first.
    let mut numeric: Vec<(u64, usize, &Option<csv::Position>, &str)> = kinds
        .iter()
        .enumerate()
        .filter_map(|(k, kind)| {
            let (pos, value) = kind.first_number.as_ref()?;
            let byte = pos.as_ref().map_or(u64::MAX, csv::Position::byte);
            Some((byte, k, pos, value.as_str()))
        })
        .collect();
    numeric.sort_by_key(|&(byte, k, _, _)| (byte, k));
    let Some(&(_, first, pos, value)) = numeric.first() else {
        return Ok(());
    };
    let column = name(first);
    let others: Vec<String> = numeric
        .iter()
        .skip(1)
        .map(|&(_, k, _, _)| format!("`{}`", name(k)))
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (so do {})", others.join(", "))
    };
    let mut shown = booleans
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if booleans.len() > 3 {
        shown.push_str(", …");
    }
    Err(Error::malformed(
        file,
        Location::Line(csv_line(file, pos.as_ref())),
        format!(
            "column `{column}` holds the number `{value}`{also}, but this file's model columns \
             ({shown}) hold True/False, as RouteLLM writes them: every column besides prompt \
             and `<model>_response` is read as one model's scores, so `{column}` would import \
             as a model; drop the column if it is not one; if it is, write its scores as \
             True/False like the other model columns (or convert the file to canonical JSONL \
             or the long CSV layout, datasets/README.md)"
        ),
    ))
}
