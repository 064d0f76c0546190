//! File discovery shared by the importers, and [`import_auto`]'s format detection.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Location};
use crate::table::{OutcomeTable, Split};

/// Files directly in `dir` whose name ends with `.{ext}`, sorted by name for determinism.
pub(crate) fn list_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The file stem as a string (lossy).
pub(crate) fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Splits a stem like `mmlu_train` / `gsm8k-test` into (`mmlu`, Some(Train)).
pub(crate) fn task_and_split(stem: &str) -> (String, Option<Split>) {
    match stem {
        "train" => return (String::new(), Some(Split::Train)),
        "test" => return (String::new(), Some(Split::Test)),
        _ => {}
    }
    for (suffix, split) in [("train", Split::Train), ("test", Split::Test)] {
        for sep in ['_', '-'] {
            if let Some(task) = stem.strip_suffix(&format!("{sep}{suffix}")) {
                return (task.to_owned(), Some(split));
            }
        }
    }
    (stem.to_owned(), None)
}

/// The split named by a file's stem suffix, if any.
pub(crate) fn split_from_stem(path: &Path) -> Option<Split> {
    task_and_split(&stem(path)).1
}

/// Opens a CSV with a header row; I/O problems name the file.
pub(crate) fn open_csv(path: &Path) -> Result<csv::Reader<File>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(csv::ReaderBuilder::new().from_reader(file))
}

/// A CSV reader's header record. A column name that appears twice is an error naming both
/// (1-based) column numbers: the later column would otherwise silently replace the first.
pub(crate) fn csv_header(
    path: &Path,
    rdr: &mut csv::Reader<File>,
) -> Result<csv::StringRecord, Error> {
    let header = rdr.headers().map_err(|e| Error::csv(path, &e))?.clone();
    let mut seen = std::collections::HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(Error::malformed(
                path,
                Location::Line(1),
                format!(
                    "column `{name}` appears twice (columns {} and {}); rename or drop one",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(header)
}

/// The 1-based line of `file` at which a CSV record starts, counted from its byte offset.
/// The csv crate's own line count misses a `\r\n` in files with CRLF line endings (every file
/// Python's csv module writes), which put every error one line too early. Only called on
/// errors: it reads the file again.
pub(crate) fn csv_line(file: &Path, pos: Option<&csv::Position>) -> u64 {
    let Some(pos) = pos else {
        return 0;
    };
    let Ok(bytes) = std::fs::read(file) else {
        return pos.line();
    };
    let mut end = usize::try_from(pos.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
    // With `\r\n` the reader stops at the `\r` and the record "starts" at the `\n` before it:
    // a record never starts with a line break (blank lines are skipped), so step past them.
    while bytes.get(end).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        end += 1;
    }
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Whether a CSV column is an index rather than data: unnamed (pandas' `to_csv` index), or
/// pandas' `Unnamed: 0` for an index column read back and written again.
pub(crate) fn is_index_column(name: &str) -> bool {
    let name = name.trim();
    name.is_empty()
        || name
            .strip_prefix("Unnamed: ")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A hint for a wide CSV's column whose cell is not a score: every column the importer does
/// not know is read as a model.
pub(crate) fn not_a_model_hint(column: &str, known: &str) -> String {
    format!(
        "every column besides {known} is read as one model's scores; if `{column}` is not a \
         model, drop the column (or convert the file to canonical JSONL, datasets/README.md)"
    )
}

/// Refuses a long table (one row per prompt × model, with `model` and `score` columns): the
/// wide importers would read `model` as a model's scores and fail on its first name.
pub(crate) fn refuse_long_table(file: &Path, header: &csv::StringRecord) -> Result<(), Error> {
    let has = |names: &[&str]| {
        header
            .iter()
            .any(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    if has(&["model", "model_name", "llm"]) && has(&["score", "correct", "label", "is_correct"]) {
        return Err(Error::malformed(
            file,
            Location::Line(1),
            "this looks like a long table, one row per prompt and model (it has `model` and \
             a score column): --data reads one with `model`, `score` (or `correct`, \
             `is_correct`) and `prompt` columns (long CSV, datasets/README.md); this importer \
             reads wide CSVs (one row per prompt, one score column per model)",
        ));
    }
    Ok(())
}

/// Reads a whole file to a string; I/O problems name the file.
pub(crate) fn read_to_string(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Parses every non-blank line of a JSONL file with `f(line_number, value)`.
pub(crate) fn for_each_jsonl(
    path: &Path,
    mut f: impl FnMut(u64, serde_json::Value) -> Result<(), Error>,
) -> Result<(), Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| Error::io(path, e))?;
        // A file saved by Windows tools may start with a UTF-8 byte-order mark; the CSV
        // readers skip it too.
        let line = if n == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(&line)
        } else {
            &line
        };
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line)
            .map_err(|e| Error::malformed(path, Location::Line(n), format!("invalid JSON: {e}")))?;
        f(n, value)?;
    }
    Ok(())
}

/// The first line of a file (for sniffing CSV headers), empty if unreadable.
fn first_line(path: &Path) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    let mut line = String::new();
    let _ = BufReader::new(file).read_line(&mut line);
    line
}

/// Imports any supported layout, telling the format from the path:
///
/// - a folder with `cached_results/` (or named `cached_results`): RouterArena;
/// - a folder with `data/dcrouter_preprocessed/` or `dcrouter_preprocessed/`: LLMRouter;
/// - a folder with `mmlu/` or `gsm8k/` holding RouteLLM responses, or RouteLLM's `mmlu`,
///   `responses` or `gsm8k` folder itself: RouteLLM;
/// - a `.csv` file or a folder of them: RouterBench if the header has `eval_name`, else
///   RouteLLM (`prompt` + True/False columns);
/// - a `.jsonl` file or folder of them: canonical JSONL (RouterArena if inside
///   `cached_results`);
/// - a `.json` file or a folder of them: RouterDC (`[{question, scores}]`), or LLMRouter when
///   the file sits in `dcrouter_preprocessed`.
pub fn import_auto(path: &Path) -> Result<OutcomeTable, Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent_name = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if path.is_dir() {
        if path.join("cached_results").is_dir() || name == "cached_results" {
            return crate::routerarena::import_routerarena(path);
        }
        if path.join("data/dcrouter_preprocessed").is_dir()
            || path.join("dcrouter_preprocessed").is_dir()
            || name == "dcrouter_preprocessed"
        {
            return crate::llmrouter::import_llmrouter(path);
        }
        if path.join("mmlu/responses").is_dir()
            || path.join("gsm8k/gsm8k_responses.csv").is_file()
            || path.join("responses").is_dir()
            || path.join("gsm8k_responses.csv").is_file()
            || name == "responses"
        {
            return crate::routellm::import_routellm(path);
        }
        let csvs = list_files(path, "csv")?;
        if let Some(first) = csvs.first() {
            return if is_long_csv(first) {
                crate::long_csv::import_long_csv(path)
            } else if is_routerbench_header(first) {
                crate::routerbench::import_routerbench(path)
            } else {
                crate::routellm::import_routellm(path)
            };
        }
        let jsonl = list_files(path, "jsonl")?;
        if !jsonl.is_empty() {
            let mut table = OutcomeTable::default();
            for file in jsonl {
                table.merge(crate::canonical::read_jsonl(&file)?);
            }
            return Ok(table);
        }
        if !list_files(path, "json")?.is_empty() {
            return crate::routerdc::import_routerdc(path);
        }
        return Err(Error::UnknownFormat {
            path: path.to_owned(),
        });
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") if is_long_csv(path) => crate::long_csv::import_long_csv(path),
        Some("csv") if is_routerbench_header(path) => crate::routerbench::import_routerbench(path),
        Some("csv") => crate::routellm::import_routellm(path),
        Some("jsonl") if parent_name == "cached_results" => {
            crate::routerarena::import_routerarena(path)
        }
        Some("jsonl") => crate::canonical::read_jsonl(path),
        Some("json") if parent_name == "dcrouter_preprocessed" => {
            crate::llmrouter::import_llmrouter(path)
        }
        Some("json") => crate::routerdc::import_routerdc(path),
        _ if !path.exists() => Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        )),
        _ => Err(Error::UnknownFormat {
            path: path.to_owned(),
        }),
    }
}

/// Whether a CSV's header is a long table's (one row per prompt and model).
fn is_long_csv(path: &Path) -> bool {
    open_csv(path)
        .ok()
        .and_then(|mut rdr| rdr.headers().ok().cloned())
        .is_some_and(|h| crate::long_csv::is_long_header(&h))
}

fn is_routerbench_header(path: &Path) -> bool {
    first_line(path).split(',').any(|h| h.trim() == "eval_name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_name_task_and_split() {
        assert_eq!(
            task_and_split("mmlu_train"),
            ("mmlu".into(), Some(Split::Train))
        );
        assert_eq!(
            task_and_split("gsm8k-test"),
            ("gsm8k".into(), Some(Split::Test))
        );
        assert_eq!(task_and_split("ceval"), ("ceval".into(), None));
        assert_eq!(task_and_split("test"), (String::new(), Some(Split::Test)));
    }
}
