//! The probe set of `switchyard onboard --live`: prompts with reference answers, sent to a
//! user's models so that each reply can be scored without a human.
//!
//! The bundled set (`training/assets/probes.jsonl`, built by `scripts/build_probes.py`;
//! provenance, licences and counts in `training/assets/PROBES.md`) holds 30 prompts for each
//! task of the taxonomy, cut from the licence-clean routing datasets (LLMRouter, MIT;
//! RouterArena, Apache-2.0). A user may bring their own file in the same format, one JSON object
//! per line:
//!
//! ```json
//! {"id": "llmrouter:gsm8k:1149e09dd7d2", "source": "llmrouter", "licence": "MIT",
//!  "source_task": "gsm8k", "task": "math", "prompt": "… in \\boxed{}.",
//!  "reference": {"kind": "number", "answer": "5"}, "difficulty": -1.22, "recorded_models": 9}
//! ```
//!
//! `reference` is a [`Reference`]: `choice`, `number`, `exact`, `text` and `concepts` are
//! scored automatically by [`Reference::score`]; `judge` needs an LLM judge. `difficulty` is the
//! probe's logit offset against its task (positive = harder than the task's average), from the
//! recorded outcomes of `recorded_models` models in the source dataset; both are absent where the
//! source recorded none.
//!
//! [`ProbeSet::select`] draws a stratified subset: up to `per_task` probes per task, spread as
//! evenly as the file allows over the source tasks inside each task, the same for the same seed,
//! nested (a larger draw contains a smaller one) and in file order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use router_core::reference::Reference;
use router_core::Task;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The bundled probe set.
const BUNDLED: &str = include_str!("../../assets/probes.jsonl");
/// How the bundled set is named in errors.
const BUNDLED_NAME: &str = "bundled training/assets/probes.jsonl";

/// One prompt with its reference answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Unique within the set, stable across rebuilds: `source:source_task:key`.
    pub id: String,
    /// The dataset it was cut from (`llmrouter`, `routerarena`, or the user's own name).
    pub source: String,
    /// The source's licence (`MIT`, `Apache-2.0`).
    pub licence: String,
    /// The source's own task label (`gsm8k`, `MMLUPro`, `SuperGLUE-Wic`).
    pub source_task: String,
    /// The taxonomy task.
    pub task: Task,
    /// The full user message, including how to answer.
    pub prompt: String,
    /// The expected answer and how a reply is checked against it.
    pub reference: Reference,
    /// Logit offset of this probe against its task, positive = harder; absent without a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<f64>,
    /// How many models' recorded outcomes `difficulty` comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_models: Option<u32>,
}

/// A validated probe set and the SHA-256 of the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSet {
    probes: Vec<Probe>,
    sha256: String,
}

impl ProbeSet {
    /// The probe set shipped with Switchyard.
    pub fn bundled() -> Result<Self, Error> {
        Self::parse(BUNDLED, BUNDLED_NAME)
    }

    /// A probe set from a JSON-lines file in the bundled format. Blank lines are skipped; a line
    /// that does not parse, a duplicate id, an empty prompt or a reference that can never score
    /// 1 is an error naming the file, the line and the field.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, file: &str) -> Result<Self, Error> {
        let fail = |line: Option<usize>, reason: String| Error::ProbeSet {
            file: file.to_owned(),
            line,
            reason,
        };
        let mut probes = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let mut de = serde_json::Deserializer::from_str(raw);
            let probe: Probe = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                // serde_json places the error at "line 1" of the one line it was given: report
                // the column instead, the file's line being ours.
                let inner = e.inner().to_string();
                let message = inner
                    .rsplit_once(" at line ")
                    .map_or(inner.as_str(), |(m, _)| m);
                let column = e.inner().column();
                let path = e.path().to_string();
                let reason = if path == "." {
                    format!("{message} (column {column})")
                } else {
                    format!("field `{path}`: {message} (column {column})")
                };
                fail(Some(line), reason)
            })?;
            de.end().map_err(|e| {
                fail(
                    Some(line),
                    format!("text after the JSON object (column {})", e.column()),
                )
            })?;
            if probe.id.trim().is_empty() {
                return Err(fail(Some(line), "field `id`: empty".to_owned()));
            }
            if probe.prompt.trim().is_empty() {
                return Err(fail(Some(line), "field `prompt`: empty".to_owned()));
            }
            if let Some(defect) = probe.reference.defect() {
                return Err(fail(Some(line), format!("field `reference`: {defect}")));
            }
            if probe.difficulty.is_some_and(|d| !d.is_finite()) {
                return Err(fail(
                    Some(line),
                    "field `difficulty`: not a finite number".to_owned(),
                ));
            }
            if let Some(first) = first_line.insert(probe.id.clone(), line) {
                return Err(fail(
                    Some(line),
                    format!(
                        "field `id`: duplicate id `{}` (first on line {first})",
                        probe.id
                    ),
                ));
            }
            probes.push(probe);
        }
        if probes.is_empty() {
            return Err(fail(None, "no probes".to_owned()));
        }
        Ok(Self {
            probes,
            sha256: hex(&Sha256::digest(text.as_bytes())),
        })
    }

    /// Every probe, in file order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// Lower-case hex SHA-256 of the file's bytes: which probe set a result was measured on.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Probes per task, every task of the taxonomy listed (0 where the set has none).
    pub fn per_task_counts(&self) -> BTreeMap<Task, usize> {
        let mut counts: BTreeMap<Task, usize> = Task::ALL.iter().map(|t| (*t, 0)).collect();
        for p in &self.probes {
            *counts.entry(p.task).or_default() += 1;
        }
        counts
    }

    /// Up to `per_task` probes of each task, in file order.
    ///
    /// Inside a task the draw is spread over the source tasks by water-filling: each source
    /// task gets one more probe in turn (fewest first, ties by name) until the task has
    /// `per_task` or every source task is used up. Which probes a source task gives is fixed by
    /// the seed: its probes are ranked by SHA-256 of the seed and the probe id and the first ones
    /// taken, so the same seed draws the same probes, and a larger `per_task` draws a superset.
    pub fn select(&self, per_task: usize, seed: u64) -> Vec<&Probe> {
        let mut groups: BTreeMap<(Task, &str), Vec<usize>> = BTreeMap::new();
        for (i, p) in self.probes.iter().enumerate() {
            groups
                .entry((p.task, p.source_task.as_str()))
                .or_default()
                .push(i);
        }
        for members in groups.values_mut() {
            members.sort_by_cached_key(|&i| rank(seed, &self.probes[i].id));
        }
        let mut chosen = vec![false; self.probes.len()];
        for task in Task::ALL {
            let pools: Vec<&Vec<usize>> = groups
                .range((task, "")..)
                .take_while(|((t, _), _)| *t == task)
                .map(|(_, members)| members)
                .collect();
            let mut quota = vec![0usize; pools.len()];
            let mut left = per_task;
            while left > 0 {
                let Some(next) = (0..pools.len())
                    .filter(|&g| quota[g] < pools[g].len())
                    .min_by_key(|&g| (quota[g], g))
                else {
                    break;
                };
                quota[next] += 1;
                left -= 1;
            }
            for (pool, &take) in pools.iter().zip(&quota) {
                for &i in pool.iter().take(take) {
                    chosen[i] = true;
                }
            }
        }
        self.probes
            .iter()
            .zip(chosen)
            .filter_map(|(p, keep)| keep.then_some(p))
            .collect()
    }
}

/// A probe's place in its source task's draw for `seed`.
fn rank(seed: u64, id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(id.as_bytes());
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const CHOICE_TAIL: &str = "Answer with the letter of the correct option in \\boxed{}.";
    const NUMBER_TAIL: &str = "Give the final answer as a number in \\boxed{}.";

    fn bundled() -> ProbeSet {
        ProbeSet::bundled().unwrap()
    }

    /// A reply in the style the prompt asks for, giving the reference answer.
    fn correct_reply(reference: &Reference) -> Option<String> {
        Some(match reference {
            Reference::Choice { answer } => format!("\\boxed{{{answer}}}"),
            Reference::Number { answer } | Reference::Exact { answer } => {
                format!("So the final answer is \\boxed{{{answer}}}.")
            }
            Reference::Text { answers } => answers[0].clone(),
            Reference::Concepts { concepts } => format!("The {}.", concepts.join(" and the ")),
            Reference::Judge { .. } => return None,
        })
    }

    /// A reply in the same style, giving a wrong answer.
    fn wrong_reply(reference: &Reference) -> Option<String> {
        Some(match reference {
            Reference::Choice { answer } => {
                let other = if answer.eq_ignore_ascii_case("A") {
                    "B"
                } else {
                    "A"
                };
                format!("\\boxed{{{other}}}")
            }
            Reference::Number { answer } => {
                let n: f64 = answer
                    .trim_end_matches('%')
                    .replace(',', "")
                    .parse()
                    .unwrap();
                format!("So the final answer is \\boxed{{{}}}.", n + 1.0)
            }
            Reference::Exact { .. } => "So the final answer is \\boxed{zzz}.".to_owned(),
            Reference::Text { .. } => "I am not sure.".to_owned(),
            Reference::Concepts { .. } => "Nothing comes to mind.".to_owned(),
            Reference::Judge { .. } => return None,
        })
    }

    #[test]
    fn bundled_set_parses_and_covers_every_task() {
        let set = bundled();
        assert_eq!(set.probes().len(), 210);
        assert_eq!(set.sha256().len(), 64);
        for (task, n) in set.per_task_counts() {
            assert_eq!(n, 30, "{task}");
        }
        for p in set.probes() {
            assert!(p.prompt.chars().count() <= 4000, "{}", p.id);
            assert!(
                p.id.starts_with(&format!("{}:{}:", p.source, p.source_task)),
                "{}",
                p.id
            );
            assert_eq!(
                p.difficulty.is_some(),
                p.recorded_models.is_some(),
                "{}",
                p.id
            );
        }
    }

    #[test]
    fn bundled_set_is_licence_clean() {
        for p in bundled().probes() {
            let licence = match p.source.as_str() {
                "llmrouter" => "MIT",
                "routerarena" => "Apache-2.0",
                other => panic!("{}: source {other} is not licence-clean", p.id),
            };
            assert_eq!(p.licence, licence, "{}", p.id);
            // GPQA's authors ask that its questions not be republished.
            assert!(!p.source_task.to_lowercase().contains("gpqa"), "{}", p.id);
            assert!(!p.id.to_lowercase().contains("gpqa"), "{}", p.id);
        }
    }

    #[test]
    fn prompts_say_how_to_answer() {
        for p in bundled().probes() {
            let ok = match &p.reference {
                Reference::Choice { .. } => {
                    p.prompt.ends_with(CHOICE_TAIL) && p.prompt.contains("\nA. ")
                }
                Reference::Number { .. } => p.prompt.ends_with(NUMBER_TAIL),
                Reference::Exact { .. } => p.prompt.contains("Give the final answer in \\boxed{}"),
                Reference::Text { .. } => {
                    p.prompt.ends_with("Answer with a short phrase.")
                        || p.prompt.ends_with("Reply with the translation only.")
                }
                Reference::Concepts { .. } => p
                    .prompt
                    .starts_with("Write one sentence that uses all of these words: "),
                Reference::Judge { .. } => p
                    .prompt
                    .ends_with("Reply with the code in one ```python block."),
            };
            assert!(ok, "{}: {}", p.id, p.prompt);
        }
    }

    #[test]
    fn every_automatic_reference_scores_a_correct_reply_1_and_a_wrong_one_less() {
        let set = bundled();
        let mut automatic = 0;
        for p in set.probes() {
            let (Some(right), Some(wrong)) =
                (correct_reply(&p.reference), wrong_reply(&p.reference))
            else {
                assert!(p.reference.needs_judge(), "{}", p.id);
                assert_eq!(p.reference.score("anything"), None);
                continue;
            };
            automatic += 1;
            assert_eq!(p.reference.score(&right), Some(1.0), "{}: {right}", p.id);
            let low = p.reference.score(&wrong).unwrap();
            assert!(low < 1.0, "{}: {wrong} scored {low}", p.id);
            if let Reference::Text { answers } = &p.reference {
                // Verbose replies count too.
                let verbose = format!("I believe the answer is: {}.", answers[0]);
                assert_eq!(p.reference.score(&verbose), Some(1.0), "{}", p.id);
            }
        }
        // Only coding has no automatic check.
        assert_eq!(automatic, 180);
    }

    #[test]
    fn selection_is_stratified_nested_and_deterministic() {
        let set = bundled();
        let five = set.select(5, 7);
        assert_eq!(five.len(), 35);
        assert_eq!(five, set.select(5, 7));
        assert_ne!(five, set.select(5, 8));
        // File order.
        let index = |p: &Probe| set.probes().iter().position(|q| q.id == p.id).unwrap();
        assert!(five.windows(2).all(|w| index(w[0]) < index(w[1])));
        // Nested: a larger draw contains a smaller one.
        let ten: BTreeSet<&str> = set.select(10, 7).iter().map(|p| p.id.as_str()).collect();
        assert!(five.iter().all(|p| ten.contains(p.id.as_str())));
        // Spread: inside a task, one source task has more than another plus one only when the
        // other is used up.
        for per_task in [1, 5, 13, 30] {
            let drawn = set.select(per_task, 3);
            for task in Task::ALL {
                let mut available: BTreeMap<&str, usize> = BTreeMap::new();
                for p in set.probes().iter().filter(|p| p.task == task) {
                    *available.entry(p.source_task.as_str()).or_default() += 1;
                }
                let mut got: BTreeMap<&str, usize> = available.keys().map(|k| (*k, 0)).collect();
                for p in drawn.iter().filter(|p| p.task == task) {
                    *got.get_mut(p.source_task.as_str()).unwrap() += 1;
                }
                assert_eq!(got.values().sum::<usize>(), per_task, "{task}");
                for (a, na) in &got {
                    for (b, nb) in &got {
                        assert!(
                            *na <= nb + 1 || *nb == available[b],
                            "{task} {per_task}: {a} {na} vs {b} {nb}"
                        );
                    }
                }
            }
        }
        assert!(set.select(0, 1).is_empty());
        assert_eq!(set.select(1000, 1).len(), set.probes().len());
    }

    fn line(id: &str, prompt: &str) -> String {
        format!(
            r#"{{"id":"{id}","source":"mine","licence":"MIT","source_task":"quiz","task":"knowledge","prompt":"{prompt}","reference":{{"kind":"choice","answer":"B"}}}}"#
        )
    }

    fn load_text(text: &str) -> Result<ProbeSet, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.jsonl");
        std::fs::write(&path, text).unwrap();
        ProbeSet::load(&path)
    }

    fn load_error(text: &str) -> String {
        load_text(text).unwrap_err().to_string()
    }

    #[test]
    fn a_users_file_loads() {
        let text = format!("{}\n\n{}\n", line("q1", "Which?"), line("q2", "What?"));
        let set = load_text(&text).unwrap();
        assert_eq!(set.probes().len(), 2);
        assert_eq!(set.per_task_counts()[&Task::Knowledge], 2);
        assert_eq!(set.per_task_counts()[&Task::Math], 0);
        assert_eq!(set.probes()[1].reference.score("\\boxed{B}"), Some(1.0));
        assert_eq!(set.sha256(), hex(&Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn load_errors_name_the_file_line_and_field() {
        let ok = line("q1", "Which?");
        let e = load_error(&format!(
            "{ok}\n{}\n",
            r#"{"id":"q2","source":"mine","licence":"MIT","source_task":"quiz","task":"knowledge","reference":{"kind":"choice","answer":"B"}}"#
        ));
        assert!(
            e.contains("mine.jsonl") && e.contains("line 2") && e.contains("prompt"),
            "{e}"
        );
        assert!(
            !e.contains("line 1"),
            "serde_json's own line number leaks: {e}"
        );
        let e = load_error(&format!("{ok}\n{ok}\n"));
        assert!(
            e.contains("line 2") && e.contains("duplicate id `q1`") && e.contains("line 1"),
            "{e}"
        );
        let e = load_error(&format!("{ok}\n\n{}\n", line("q3", "  ")));
        assert!(
            e.contains("line 3") && e.contains("field `prompt`: empty"),
            "{e}"
        );
        let e = load_error(&line("q1", "Which?").replace("knowledge", "poetry"));
        assert!(
            e.contains("line 1") && e.contains("task") && e.contains("unknown variant"),
            "{e}"
        );
        let e = load_error(&line("q1", "Which?").replace(r#""answer":"B""#, r#""answer":"Z""#));
        assert!(
            e.contains("line 1") && e.contains("reference") && e.contains("`Z`"),
            "{e}"
        );
        let e =
            load_error(&line("q1", "Which?").replace(r#""kind":"choice""#, r#""kind":"essay""#));
        assert!(e.contains("line 1") && e.contains("reference"), "{e}");
        let e = load_error(
            &line("q1", "Which?").replace(r#""source":"mine","#, r#""source":"mine","sauce":1,"#),
        );
        assert!(e.contains("line 1") && e.contains("sauce"), "{e}");
        let mut hard = line("q1", "Which?");
        hard.pop();
        let e = load_error(&format!("{hard},\"difficulty\":\"hard\"}}"));
        assert!(e.contains("line 1") && e.contains("difficulty"), "{e}");
        let e = load_error("{not json\n");
        assert!(e.contains("line 1"), "{e}");
        let e = load_error(&format!("{ok}\n{ok} trailing\n"));
        assert!(e.contains("line 2") && e.contains("text after"), "{e}");
        let e = load_error("\n\n");
        assert!(e.contains("no probes"), "{e}");
        let missing = ProbeSet::load(Path::new("/nonexistent/probes.jsonl")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/probes.jsonl"),
            "{missing}"
        );
    }
}
