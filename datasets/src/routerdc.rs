//! RouterDC's JSON layout (shuhao02/RouterDC `datasets/`), also used by LLMRouter's
//! `dcrouter_preprocessed` files: a top-level array of `{"question": str, "scores": {model:
//! number}}` (extra keys such as `cluster_id` are ignored).
//!
//! Task = file stem without a `_train`/`-train`/`_test`/`-test` suffix, which gives the split
//! (`mmlu_train.json` → task `mmlu`, split train; `ceval.json` → task `ceval`, no split).
//! Row ids are `<stem>/<0-based index>`. Scores must lie in `[0, 1]`; there are no costs.

use std::path::Path;

use crate::detect::{list_files, read_to_string, stem, task_and_split};
use crate::error::{Error, Location};
use crate::table::{Cell, OutcomeTable, TableBuilder};

/// One `{question, scores}` element, validated.
pub(crate) struct QuestionScores {
    pub(crate) question: String,
    pub(crate) scores: Vec<(String, f64)>,
}

/// Parses a `[{question, scores}]` file; problems name the file and the element index.
pub(crate) fn read_question_scores(file: &Path) -> Result<Vec<QuestionScores>, Error> {
    let src = read_to_string(file)?;
    let values: Vec<serde_json::Value> =
        serde_json::from_str(&src).map_err(|e| Error::json(file, &e))?;
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let bad = |problem: String| Error::malformed(file, Location::Row(i), problem);
        let serde_json::Value::Object(mut obj) = v else {
            return Err(bad("expected an object with `question` and `scores`".into()));
        };
        let question = match obj.remove("question") {
            Some(serde_json::Value::String(q)) => q,
            _ => return Err(bad("`question` is missing or not a string".into())),
        };
        let Some(serde_json::Value::Object(map)) = obj.remove("scores") else {
            return Err(bad(
                "`scores` is missing or not an object of model -> number".into(),
            ));
        };
        let mut scores = Vec::with_capacity(map.len());
        for (model, s) in map {
            match s.as_f64() {
                Some(s) if (0.0..=1.0).contains(&s) => scores.push((model, s)),
                Some(_) | None if s.is_null() => {}
                _ => {
                    return Err(bad(format!(
                        "score of `{model}` is {s}, expected a number in [0, 1]"
                    )))
                }
            }
        }
        out.push(QuestionScores { question, scores });
    }
    Ok(out)
}

/// Imports one RouterDC JSON file, or every `*.json` of a folder (in name order).
pub fn import_routerdc(path: &Path) -> Result<OutcomeTable, Error> {
    let files = if path.is_dir() {
        list_files(path, "json")?
    } else {
        vec![path.to_owned()]
    };
    if files.is_empty() {
        return Err(Error::NoData {
            path: path.to_owned(),
            expected: "RouterDC *.json files".into(),
        });
    }
    let mut b = TableBuilder::new("routerdc");
    for file in &files {
        let stem = stem(file);
        let (task, split) = task_and_split(&stem);
        // A bare `train.json` / `test.json` has no task name of its own: keep the stem.
        let task = if task.is_empty() { stem.clone() } else { task };
        for (i, row) in read_question_scores(file)?.into_iter().enumerate() {
            let cells = row
                .scores
                .iter()
                .map(|(m, s)| (b.model(m), Cell::from_score(*s)))
                .collect();
            let id = b.unique_id(format!("{stem}/{i}"));
            b.push(id, row.question, Some(task.clone()), split, cells);
        }
    }
    Ok(b.finish())
}
