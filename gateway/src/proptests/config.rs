//! Config files: the documented example with lines replaced by hostile values, dropped,
//! repeated or cut, and arbitrary text. Parsing and validation give an error naming the
//! file (and the field where there is one), never a panic.

use std::path::Path;

use proptest::prelude::*;

use super::cases;
use crate::config::{Config, GatewayConfig};

const EXAMPLE: &str = include_str!("../../config/example.toml");

/// Values that break one field or another: zero, negative, huge, wrong types, bad durations,
/// addresses, exploration settings and hashes.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "18446744073709551616",
    "9223372036854775807",
    "1e309",
    "nan",
    "-inf",
    "0.0",
    "true",
    "\"\"",
    "\"0s\"",
    "\"0ms\"",
    "\"-5s\"",
    "\"1ns\"",
    "\"99999999999999999999s\"",
    "\"500 years\"",
    "\"10 fortnights\"",
    "\"0.0.0.0:0\"",
    "\"0.0.0.0:8080\"",
    "\"[::]:99999\"",
    "\"localhost\"",
    "\"gpt-4o\"",
    "\"no-such-model\"",
    "\"openai\"",
    "\"grpc\"",
    "\"full\"",
    "\"fail_closed\"",
    "\"SWITCHYARD_FUZZ_KEY\"",
    "\"http://127.0.0.1:9/v1\"",
    "\"not a url\"",
    "\"*\"",
    "\"https://app.example.com\"",
    "\"/dev/null/outcomes.sqlite\"",
    "[]",
    "[\"gpt-4o\", \"gpt-4o\"]",
    "[\"*\"]",
    "[1, 2]",
    "{}",
    "{ kind = \"off\" }",
    "{ kind = \"softmax\", temperature = 0, top_k = 3 }",
    "{ kind = \"softmax\", temperature = 1e308, top_k = 0 }",
    "{ kind = \"epsilon_greedy\", epsilon = 2, top_k = 3 }",
    "{ kind = \"epsilon_greedy\", epsilon = nan, top_k = 1 }",
    "{ kind = \"thompson\" }",
    "\"0000000000000000000000000000000000000000000000000000000000000000\"",
    "\"zz\"",
];

/// Extra lines: the commented-out fields, sections again, junk.
const LINES: &[&str] = &[
    "willingness_to_pay = 0.2",
    "lambda = 5.0",
    "willingness_to_pay = 0",
    "lambda = -1",
    "candidates = [\"gpt-4o-mini\", \"claude-haiku-4.5\"]",
    "exploration_seed = 42",
    "token_env = \"SWITCHYARD_FUZZ_ADMIN\"",
    "key_sha256 = \"abc\"",
    "path = \"/nonexistent/models.toml\"",
    "artifact = \"/nonexistent/artifact\"",
    "[server]",
    "[router]",
    "[admin]",
    "[[providers]]",
    "[unknown]",
    "unknown = 1",
    "= 1",
    "[",
    "\"",
];

/// The example file with each line kept, changed or dropped, plus inserted lines.
fn config_text() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = EXAMPLE.lines().collect();
    let n = lines.len();
    (
        prop::collection::vec((0..n, prop::sample::select(VALUES)), 0..6),
        prop::collection::vec(0..n, 0..3),
        prop::collection::vec((0..n, prop::sample::select(LINES)), 0..3),
    )
        .prop_map(move |(changes, drops, inserts)| {
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            for (i, value) in changes {
                if let Some((key, _)) = out[i].split_once(" = ") {
                    out[i] = format!("{key} = {value}");
                }
            }
            for i in drops {
                out[i] = String::new();
            }
            for (i, line) in inserts {
                out[i] = format!("{line}\n{}", out[i]);
            }
            out.join("\n")
        })
}

/// Parses and validates `text` the way `switchyard serve --config FILE` does.
fn check(text: &str) -> Result<(), TestCaseError> {
    let origin = Path::new("fuzz.toml");
    let raw = match GatewayConfig::from_toml_str(text, origin) {
        Ok(raw) => raw,
        Err(e) => {
            let message = e.to_string();
            prop_assert!(message.contains("fuzz.toml"), "{}", message);
            return Ok(());
        }
    };
    let env = |name: &str| {
        matches!(name, "OPENAI_API_KEY" | "SWITCHYARD_FUZZ_KEY").then(|| "sk-fuzz".to_owned())
    };
    match Config::resolve(raw, &env) {
        Ok(config) => {
            // What validation promises the rest of the gateway.
            prop_assert!(!config.timeouts.request.is_zero());
            prop_assert!(config.timeouts.attempt <= config.timeouts.request);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn fuzz_config_files_load_or_name_the_problem(text in config_text()) {
        check(&text)?;
    }

    #[test]
    fn fuzz_arbitrary_text_as_a_config_file(text in any::<String>()) {
        check(&text)?;
    }
}
