use std::fmt;
use std::path::PathBuf;

/// Where in a file a problem sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The file as a whole (missing file, wrong layout).
    File,
    /// A 1-based line of a text file (CSV record start, JSONL line, JSON parse position).
    Line(u64),
    /// A 0-based element of a top-level JSON array.
    Row(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => Ok(()),
            Location::Line(l) => write!(f, " line {l}"),
            Location::Row(r) => write!(f, " row {r}"),
        }
    }
}

/// Everything that can go wrong importing, merging or writing outcome tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what its format requires.
    #[error("{}{location}: {problem}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// `import_auto` could not tell which format a path holds.
    #[error(
        "{}: cannot tell the dataset format; pass a RouterBench/RouteLLM CSV or folder, an \
         LLMRouter or RouterArena folder, RouterDC *.json files, or canonical *.jsonl",
        path.display()
    )]
    UnknownFormat {
        /// The path given.
        path: PathBuf,
    },
    /// A folder holds none of the files the importer needs.
    #[error("{}: no {expected} found", path.display())]
    NoData {
        /// The folder.
        path: PathBuf,
        /// What was looked for, such as `*.csv files`.
        expected: String,
    },
}

impl Error {
    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        location: Location,
        problem: impl Into<String>,
    ) -> Error {
        Error::Malformed {
            path: path.into(),
            location,
            problem: problem.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A serde_json error on a whole-file parse, located by its line.
    pub(crate) fn json(path: impl Into<PathBuf>, err: &serde_json::Error) -> Error {
        let location = if err.line() > 0 {
            Location::Line(err.line() as u64)
        } else {
            Location::File
        };
        Error::malformed(path, location, format!("invalid JSON: {err}"))
    }

    /// A csv crate error, located by the record's line when it knows it (counted from its
    /// byte offset: see [`crate::detect::csv_line`]).
    pub(crate) fn csv(path: impl Into<PathBuf>, err: &csv::Error) -> Error {
        let path = path.into();
        let location = err.position().map_or(Location::File, |p| {
            Location::Line(crate::detect::csv_line(&path, Some(p)))
        });
        let problem = match err.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!(
                "invalid CSV: this row has {len} fields, the row before it {expected_len}; \
                 quote fields that hold commas, quotes or line breaks"
            ),
            _ => format!("invalid CSV: {err}"),
        };
        Error::malformed(path, location, problem)
    }
}
