//! Public benchmarks the catalog cites, and the task of the taxonomy each one measures.
//!
//! A model's task scores (`task_scores` in `catalog.toml`) are derived from published results
//! on these benchmarks (`[[model.benchmark]]`, each with its source URL and date); the
//! derivation, a shift onto one reference scale per task, lives in
//! `scripts/task_scores.py` (an item response fit) and is documented in `docs/task-priors.md`.
//! The catalog loader checks that every cited task score is backed by at least one
//! default-setting cited result of a benchmark of that task, and that every derived score says
//! how it was derived.

use router_core::Task;

/// One benchmark the catalog may cite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Benchmark {
    /// Identifier used in `catalog.toml` (`[[model.benchmark]] name`).
    pub id: &'static str,
    /// Human name.
    pub title: &'static str,
    /// The task it measures.
    pub task: Task,
}

const fn b(id: &'static str, title: &'static str, task: Task) -> Benchmark {
    Benchmark { id, title, task }
}

/// Every benchmark the catalog may cite.
pub const BENCHMARKS: &[Benchmark] = &[
    b(
        "gsm8k",
        "GSM8K (grade-school maths word problems)",
        Task::Math,
    ),
    b("mgsm", "MGSM (multilingual grade-school maths)", Task::Math),
    b(
        "math",
        "MATH (competition mathematics, full set)",
        Task::AdvancedMath,
    ),
    b(
        "math_500",
        "MATH-500 (competition mathematics)",
        Task::AdvancedMath,
    ),
    b("aime_2024", "AIME 2024", Task::AdvancedMath),
    b("aime_2025", "AIME 2025", Task::AdvancedMath),
    b("humaneval", "HumanEval (Python functions)", Task::Coding),
    b("mbpp", "MBPP (Python functions)", Task::Coding),
    b(
        "livecodebench",
        "LiveCodeBench (competitive programming)",
        Task::Coding,
    ),
    b(
        "swe_bench_verified",
        "SWE-bench Verified (repository issues)",
        Task::Coding,
    ),
    b(
        "aider_polyglot",
        "Aider Polyglot (code editing)",
        Task::Coding,
    ),
    b("mmlu", "MMLU", Task::Knowledge),
    b("mmmlu", "MMMLU (multilingual MMLU)", Task::Knowledge),
    b("mmlu_pro", "MMLU-Pro", Task::Knowledge),
    b(
        "gpqa_diamond",
        "GPQA Diamond (graduate science)",
        Task::Knowledge,
    ),
    b(
        "simpleqa",
        "SimpleQA (short factual questions)",
        Task::Knowledge,
    ),
    b(
        "hle",
        "Humanity's Last Exam (expert questions, text, no tools)",
        Task::Knowledge,
    ),
    b("bbh", "BIG-Bench Hard", Task::Reasoning),
    b("musr", "MuSR (multistep soft reasoning)", Task::Reasoning),
    b(
        "zebralogic",
        "ZebraLogic (logic grid puzzles)",
        Task::Reasoning,
    ),
    b(
        "drop",
        "DROP (reading comprehension, discrete reasoning)",
        Task::Classification,
    ),
    b(
        "ifeval",
        "IFEval (verifiable instruction following)",
        Task::Writing,
    ),
    b(
        "creative_writing_v3",
        "EQ-Bench Creative Writing v3",
        Task::Writing,
    ),
    b(
        "mt_bench",
        "MT-Bench (multi-turn instructions, GPT-4 judge; score / 10)",
        Task::Writing,
    ),
];

/// The benchmark with this id.
pub fn benchmark(id: &str) -> Option<&'static Benchmark> {
    BENCHMARKS.iter().find(|b| b.id == id)
}

/// One published result, as cited in the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchmarkResult {
    /// The benchmark.
    pub benchmark: &'static Benchmark,
    /// The published score as a fraction in `[0, 1]` (accuracy, pass@1, or the benchmark's
    /// own 0–100 score divided by 100).
    pub score: f64,
    /// Where it was published (an `https://` URL).
    pub source: String,
    /// When it was published or last checked, `YYYY-MM-DD`.
    pub as_of: String,
    /// How the model was called: [`DEFAULT_SETTING`] (what the gateway sends) or another
    /// setting (`extended_thinking`, `reasoning_effort_high`). Only default-setting results
    /// back a task score; the others are kept for the record.
    pub setting: String,
    /// Setting that matters for comparison (reasoning effort, tools, harness), if any.
    pub note: Option<String>,
}

/// The setting the gateway calls every model with: no reasoning or thinking parameters, i.e.
/// the provider's default (medium effort for OpenAI reasoning models, no extended thinking for
/// Claude, dynamic thinking for Gemini 2.5). A client that sends its own `reasoning_effort`
/// gets a model the prior does not describe.
pub const DEFAULT_SETTING: &str = "default";

impl BenchmarkResult {
    /// Whether the result was measured the way the gateway calls the model.
    pub fn is_default_setting(&self) -> bool {
        self.setting == DEFAULT_SETTING
    }
}

/// Whether `s` looks like `YYYY-MM-DD` with a plausible month and day.
pub(crate) fn is_iso_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let num = |p: &str, len: usize| {
        (p.len() == len && p.bytes().all(|c| c.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (num(y, 4), num(m, 2), num(d, 2)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_task_has_a_benchmark() {
        for (i, a) in BENCHMARKS.iter().enumerate() {
            assert!(
                BENCHMARKS[i + 1..].iter().all(|b| b.id != a.id),
                "{} twice",
                a.id
            );
        }
        for t in Task::ALL {
            assert!(BENCHMARKS.iter().any(|b| b.task == t), "{t} has none");
        }
    }

    #[test]
    fn dates() {
        assert!(is_iso_date("2025-08-07"));
        assert!(!is_iso_date("2025-13-07"));
        assert!(!is_iso_date("25-08-07"));
        assert!(!is_iso_date("August 2025"));
    }
}
