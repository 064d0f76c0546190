//! The canonical JSONL form of an [`OutcomeTable`] (schema in the crate README).
//!
//! Line 1 is a header `{"switchyard_outcomes": 1, "source": str, "models": [str]}`; every
//! further line is one prompt row `{"id", "text", "task"?, "split"?, "cells": {model: Cell}}`
//! with absent models left out. Writing then reading gives back an equal table (floats
//! round-trip exactly). A file without a header is accepted: models are then taken in
//! first-seen order and the source is the file stem.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::detect::{for_each_jsonl, stem};
use crate::error::{Error, Location};
use crate::table::{Cell, OutcomeTable, PromptRow, Split};

/// Version written in the header's `switchyard_outcomes` field.
pub const CANONICAL_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    switchyard_outcomes: u32,
    source: String,
    models: Vec<String>,
}

#[derive(Serialize)]
struct RowOut<'a> {
    id: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    split: Option<Split>,
    cells: BTreeMap<&'a str, &'a Cell>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowIn {
    id: String,
    text: String,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    split: Option<Split>,
    #[serde(default)]
    cells: BTreeMap<String, Cell>,
}

/// Writes `table` as canonical JSONL to `path` (created or truncated).
pub fn write_jsonl(table: &OutcomeTable, path: &Path) -> Result<(), Error> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::new(file);
    let io = |e: std::io::Error| Error::io(path, e);
    let header = Header {
        switchyard_outcomes: CANONICAL_VERSION,
        source: table.source.clone(),
        models: table.models.clone(),
    };
    serde_json::to_writer(&mut w, &header).map_err(|e| io(e.into()))?;
    w.write_all(b"\n").map_err(io)?;
    for row in &table.rows {
        let cells = table
            .models
            .iter()
            .zip(&row.cells)
            .filter_map(|(m, c)| Some((m.as_str(), c.as_ref()?)))
            .collect();
        let out = RowOut {
            id: &row.id,
            text: &row.text,
            task: row.task.as_deref(),
            split: row.split,
            cells,
        };
        serde_json::to_writer(&mut w, &out).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Reads a canonical JSONL file.
pub fn read_jsonl(path: &Path) -> Result<OutcomeTable, Error> {
    let mut table = OutcomeTable::new(stem(path), Vec::new());
    let mut index: HashMap<String, usize> = HashMap::new();
    // Row id -> the line that used it first.
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut first = true;
    for_each_jsonl(path, |line, v| {
        let at = Location::Line(line);
        if first && v.get("switchyard_outcomes").is_some() {
            first = false;
            let h: Header = serde_json::from_value(v)
                .map_err(|e| Error::malformed(path, at, format!("invalid header: {e}")))?;
            if h.switchyard_outcomes != CANONICAL_VERSION {
                return Err(Error::malformed(
                    path,
                    at,
                    format!(
                        "format version {} is not supported (expected {CANONICAL_VERSION})",
                        h.switchyard_outcomes
                    ),
                ));
            }
            table.source = h.source;
            for m in h.models {
                if index.contains_key(&m) {
                    return Err(Error::malformed(
                        path,
                        at,
                        format!(
                            "header: model `{m}` is listed twice in `models`; list each model \
                             once"
                        ),
                    ));
                }
                index.insert(m.clone(), table.models.len());
                table.models.push(m);
            }
            return Ok(());
        }
        first = false;
        if let Some(problem) = negative_token_count(&v).or_else(|| bad_cell(&v)) {
            return Err(Error::malformed(path, at, problem));
        }
        let row: RowIn = serde_json::from_value(v)
            .map_err(|e| Error::malformed(path, at, format!("invalid row: {e}")))?;
        if let Some(earlier) = ids.insert(row.id.clone(), line) {
            return Err(Error::malformed(
                path,
                at,
                format!(
                    "id `{}` is already used on line {earlier}; every row needs its own id",
                    row.id
                ),
            ));
        }
        let mut cells = vec![None; table.models.len()];
        for (model, cell) in row.cells {
            if !(0.0..=1.0).contains(&cell.score) {
                return Err(Error::malformed(
                    path,
                    at,
                    format!("score of `{model}` is {}, expected [0, 1]", cell.score),
                ));
            }
            for (field, value, what) in [
                ("cost_usd", cell.cost_usd, "a cost in USD"),
                ("latency_ms", cell.latency_ms, "a latency in ms"),
            ] {
                if let Some(x) = value.filter(|x| !(x.is_finite() && *x >= 0.0)) {
                    return Err(Error::malformed(
                        path,
                        at,
                        format!(
                            "cells.`{model}`.{field}: `{x}` is not {what} (expected a finite \
                             number >= 0); fix the value or leave the field out"
                        ),
                    ));
                }
            }
            let j = *index.entry(model.clone()).or_insert_with(|| {
                table.models.push(model);
                table.models.len() - 1
            });
            if j >= cells.len() {
                cells.resize(j + 1, None);
            }
            cells[j] = Some(cell);
        }
        table.rows.push(PromptRow {
            id: row.id,
            text: row.text,
            // A blank label is no task (it would be a task family of its own).
            task: row.task.filter(|t| !t.trim().is_empty()),
            split: row.split,
            cells,
        });
        Ok(())
    })?;
    let width = table.models.len();
    for row in &mut table.rows {
        row.cells.resize(width, None);
    }
    Ok(table)
}

/// A negative `input_tokens` / `output_tokens` in a row's cells, as an error message naming
/// the field: serde's own "expected u32" would not say which model or field it was.
fn negative_token_count(row: &serde_json::Value) -> Option<String> {
    let cells = row.get("cells")?.as_object()?;
    cells.iter().find_map(|(model, cell)| {
        ["input_tokens", "output_tokens"]
            .into_iter()
            .find_map(|field| {
                let x = cell.get(field)?.as_f64().filter(|x| *x < 0.0)?;
                Some(format!(
                    "cells.`{model}`.{field}: `{x}` is not a token count (expected an integer \
                     >= 0); fix the value or leave the field out"
                ))
            })
    })
}

/// A cell of a row that is not a [`Cell`], as an error message naming the model and, where
/// one field is to blame, the field: serde's own "invalid type: null, expected f64" names
/// neither.
fn bad_cell(row: &serde_json::Value) -> Option<String> {
    let cells = row.get("cells")?.as_object()?;
    cells.iter().find_map(|(model, cell)| {
        let err = serde_json::from_value::<Cell>(cell.clone()).err()?;
        let field = cell.as_object().and_then(|fields| {
            fields.iter().find_map(|(name, value)| {
                let mut alone = serde_json::Map::new();
                alone.insert("score".into(), serde_json::Value::from(0.0));
                alone.insert(name.clone(), value.clone());
                serde_json::from_value::<Cell>(serde_json::Value::Object(alone))
                    .err()
                    .map(|e| (name, e))
            })
        });
        Some(match field {
            Some((name, e)) => format!("cells.`{model}`.{name}: {e}"),
            None => format!("cells.`{model}`: {err}"),
        })
    })
}
