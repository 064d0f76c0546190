//! RouterArena's cached results (RouteWorks/RouterArena `cached_results/<model>.jsonl`).
//!
//! One JSON object per line: `global_index` (such as `MMLUPro_law_12`), `question`,
//! `generated_answer`, `token_usage {input_tokens, output_tokens}` and
//! `evaluation_result {score, inference_cost}`. The model is the file stem; rows of all
//! model files are joined on `global_index`. Task = `global_index` without its trailing
//! `_<number>`. Scores within [`SCORE_TOLERANCE`] of `[0, 1]` are clamped into it (a few
//! metrics emit small negatives); a score further out (a 1–10 judge scale, say) is an error,
//! as are a negative or non-finite `inference_cost` and a negative token count.
//! Cost = the recorded `inference_cost`, else token counts × `model_cost/cost.json` prices;
//! either way it derives from recorded token counts, so `cost_estimated = false`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::detect::{for_each_jsonl, list_files, read_to_string, stem};
use crate::error::{Error, Location};
use crate::table::{Cell, OutcomeTable, TableBuilder};

/// How far outside `[0, 1]` a score may fall and still be clamped into it.
const SCORE_TOLERANCE: f64 = 0.05;

/// A prompt's text, task and the cells found so far, keyed by `global_index` while joining.
type PendingRow = (String, Option<String>, Vec<(usize, Cell)>);

/// Imports RouterArena's root folder, its `cached_results/` folder, or one results file.
pub fn import_routerarena(path: &Path) -> Result<OutcomeTable, Error> {
    let (files, root) = if path.is_file() {
        let root = path.parent().and_then(Path::parent).map(Path::to_path_buf);
        (vec![path.to_owned()], root)
    } else if path.join("cached_results").is_dir() {
        (
            list_files(&path.join("cached_results"), "jsonl")?,
            Some(path.to_owned()),
        )
    } else {
        (
            list_files(path, "jsonl")?,
            path.parent().map(Path::to_path_buf),
        )
    };
    if files.is_empty() {
        return Err(Error::NoData {
            path: path.to_owned(),
            expected: "RouterArena cached_results/*.jsonl".into(),
        });
    }
    let prices = match root.map(|r| r.join("model_cost/cost.json")) {
        Some(f) if f.is_file() => read_prices(&f)?,
        _ => HashMap::new(),
    };
    let mut b = TableBuilder::new("routerarena");
    // global_index -> (text, task, cells); rows keep first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut rows: HashMap<String, PendingRow> = HashMap::new();
    for file in &files {
        let model = stem(file);
        let j = b.model(&model);
        let price = prices.get(&model).copied();
        // global_index -> the line of this file that had it first: a repeat would replace the
        // model's cell for that prompt without a word.
        let mut seen: HashMap<String, u64> = HashMap::new();
        for_each_jsonl(file, |line, v| {
            let at = Location::Line(line);
            let gi = v
                .get("global_index")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::malformed(file, at, "missing string `global_index`"))?;
            if let Some(first) = seen.insert(gi.to_owned(), line) {
                return Err(Error::malformed(
                    file,
                    at,
                    format!(
                        "global_index `{gi}` is already on line {first}; each prompt appears once per model file"
                    ),
                ));
            }
            let cell = parse_cell(file, line, &v, price)?;
            let entry = rows.entry(gi.to_owned()).or_insert_with(|| {
                order.push(gi.to_owned());
                let text = v
                    .get("question")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                (text, Some(task_of(gi)), Vec::new())
            });
            if let Some(cell) = cell {
                entry.2.push((j, cell));
            }
            Ok(())
        })?;
    }
    for gi in order {
        if let Some((text, task, cells)) = rows.remove(&gi) {
            let id = b.unique_id(gi);
            b.push(id, text, task, None, cells);
        }
    }
    Ok(b.finish())
}

/// `MMLUPro_computer science_12` → `MMLUPro_computer science`.
fn task_of(global_index: &str) -> String {
    match global_index.rsplit_once('_') {
        Some((task, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            task.to_owned()
        }
        _ => global_index.to_owned(),
    }
}

/// A number that may be written as a JSON number or a numeric string.
fn number(v: Option<&Value>) -> Option<f64> {
    any_number(v).filter(|x: &f64| x.is_finite())
}

/// Like [`number`], but keeps `inf` / `NaN` written as strings, so they can be refused.
fn any_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_cell(
    file: &Path,
    line: u64,
    v: &Value,
    price: Option<(f64, f64)>,
) -> Result<Option<Cell>, Error> {
    let eval = v.get("evaluation_result");
    let Some(raw_score) = eval.and_then(|e| e.get("score")) else {
        return Ok(None);
    };
    let score = number(Some(raw_score)).ok_or_else(|| {
        Error::malformed(
            file,
            Location::Line(line),
            format!("`evaluation_result.score` is {raw_score}, expected a number"),
        )
    })?;
    let bad = |problem: String| Error::malformed(file, Location::Line(line), problem);
    if !(-SCORE_TOLERANCE..=1.0 + SCORE_TOLERANCE).contains(&score) {
        return Err(bad(format!(
            "evaluation_result.score: `{score}` is outside [0, 1] (only scores within \
             {SCORE_TOLERANCE} of it are clamped); a 1-10 or 0-100 scale? rescale the scores \
             to [0, 1] first"
        )));
    }
    let usage = v.get("token_usage");
    let mut counts = [None, None];
    for (slot, field) in counts.iter_mut().zip(["input_tokens", "output_tokens"]) {
        let Some(t) = any_number(usage.and_then(|u| u.get(field))) else {
            continue;
        };
        if !(t.is_finite() && t >= 0.0) {
            return Err(bad(format!(
                "token_usage.{field}: `{t}` is not a token count (expected a finite number \
                 >= 0); fix the value or leave the field out"
            )));
        }
        *slot = Some(t.round().min(f64::from(u32::MAX)) as u32);
    }
    let [input_tokens, output_tokens] = counts;
    let recorded = any_number(eval.and_then(|e| e.get("inference_cost")));
    if let Some(x) = recorded.filter(|x| !(x.is_finite() && *x >= 0.0)) {
        return Err(bad(format!(
            "evaluation_result.inference_cost: `{x}` is not a cost in USD (expected a finite \
             number >= 0); fix the value or leave the field out"
        )));
    }
    let from_tokens = match (price, input_tokens, output_tokens) {
        (Some((pi, po)), Some(i), Some(o)) => Some((f64::from(i) * pi + f64::from(o) * po) / 1e6),
        _ => None,
    };
    Ok(Some(Cell {
        score: score.clamp(0.0, 1.0),
        cost_usd: recorded.or(from_tokens),
        cost_estimated: false,
        input_tokens,
        output_tokens,
        latency_ms: None,
        response: v
            .get("generated_answer")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }))
}

/// `cost.json`: `{model: {input_token_price_per_million, output_token_price_per_million}}`.
fn read_prices(file: &PathBuf) -> Result<HashMap<String, (f64, f64)>, Error> {
    let src = read_to_string(file)?;
    let v: Value = serde_json::from_str(&src).map_err(|e| Error::json(file, &e))?;
    let obj = v.as_object().ok_or_else(|| {
        Error::malformed(
            file,
            Location::File,
            "expected an object of model -> prices",
        )
    })?;
    let mut out = HashMap::new();
    for (model, p) in obj {
        let (Some(i), Some(o)) = (
            number(p.get("input_token_price_per_million")),
            number(p.get("output_token_price_per_million")),
        ) else {
            return Err(Error::malformed(
                file,
                Location::File,
                format!("model `{model}` needs `input_token_price_per_million` and `output_token_price_per_million`"),
            ));
        };
        out.insert(model.clone(), (i, o));
    }
    Ok(out)
}
