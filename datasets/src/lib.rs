//! Benchmark importers and Switchyard's canonical outcome table.
//!
//! - [`OutcomeTable`]: prompts × models; each [`PromptRow`] holds one optional [`Cell`]
//!   (score, cost, tokens, latency, response) per model, plus its task and [`Split`].
//! - Importers, one per public routing dataset: [`import_routerbench`], [`import_routellm`],
//!   [`import_llmrouter`] / [`import_llmrouter_with`], [`import_routerdc`],
//!   [`import_routerarena`]; and [`import_auto`], which tells the format from the path.
//! - [`write_jsonl`] / [`read_jsonl`]: the canonical JSONL form, round-trip exact.
//! - [`OutcomeTable::fill_estimated_costs`]: per-prompt costs from catalog prices where a
//!   dataset records none.
//! - [`Error`]: every failure names the file and the line or row.
//!
//! Model columns keep each dataset's own model names, which are also the catalog ids of the
//! `models` crate.

mod canonical;
mod cost;
mod detect;
mod error;
mod llmrouter;
mod long_csv;
mod pyliteral;
mod routellm;
mod routerarena;
mod routerbench;
mod routerdc;
mod table;

pub use canonical::{read_jsonl, write_jsonl, CANONICAL_VERSION};
pub use cost::{estimate_tokens, CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS};
pub use detect::import_auto;
pub use error::{Error, Location};
pub use llmrouter::{import_llmrouter, import_llmrouter_with, LlmRouterOptions};
pub use long_csv::import_long_csv;
pub use routellm::import_routellm;
pub use routerarena::import_routerarena;
pub use routerbench::import_routerbench;
pub use routerdc::import_routerdc;
pub use table::{Cell, ModelSummary, OutcomeTable, PromptRow, Split};
