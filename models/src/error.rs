use std::path::PathBuf;

use router_core::ModelId;

/// Everything that can go wrong loading or querying a catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The catalog file could not be read.
    #[error("cannot read catalog file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the catalog schema.
    #[error("{origin}: {}at `{field}`: {message}", line.map(|l| format!("line {l}, ")).unwrap_or_default())]
    Parse {
        /// File name (or `<embedded>`).
        origin: String,
        /// Path of the offending field, such as `model[3].input_usd_per_mtok`.
        field: String,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// A field parsed but holds a value the catalog rejects.
    #[error("{origin}: model `{id}`, field `{field}`: {problem}")]
    InvalidField {
        /// File name (or `<embedded>`).
        origin: String,
        /// The model whose entry is wrong.
        id: String,
        /// Path of the field, such as `model[3].input_usd_per_mtok`.
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// Two entries share an id or alias.
    #[error(
        "{origin}: name `{name}` is used by both model `{first}` and model `{second}`; \
         ids and aliases must be unique"
    )]
    DuplicateName {
        /// File name (or `<embedded>`).
        origin: String,
        /// The clashing id or alias.
        name: String,
        /// The entry that claimed it first.
        first: String,
        /// The entry that claimed it again.
        second: String,
    },
    /// A model id or alias that the catalog does not know.
    #[error("unknown model `{id}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownModel {
        /// The name asked for.
        id: ModelId,
        /// The closest known id or alias, if any is close.
        suggestion: Option<String>,
    },
}
