//! From the shared datasets' own task labels to the taxonomy ([`router_core::Task`]).
//!
//! Only licence-clean sources train the classifier: RouteLLM (Apache-2.0: MMLU subjects and
//! GSM8K), LLMRouter (MIT, without GPQA, whose authors ask that its questions not be
//! republished) and RouterArena (Apache-2.0). RouterBench and RouterDC declare no licence and
//! are evaluation-only here. The table below is the documented mapping (also in
//! `docs/task-priors.md`); a label it does not list is left out rather than guessed.

use router_core::Task;

/// A dataset the task classifier may learn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelSource {
    /// lm-sys/RouteLLM: `mmlu/<subject>` and `gsm8k`.
    RouteLlm,
    /// ulab-uiuc/LLMRouter: its 14 task names.
    LlmRouter,
    /// RouteWorks/RouterArena: the category prefix of `global_index`.
    RouterArena,
}

impl LabelSource {
    /// The source for a table's `source` name (`routellm`, `llmrouter`, `routerarena`); `None`
    /// for the evaluation-only sets (`routerbench`, `routerdc`) and anything else.
    pub fn from_table_source(source: &str) -> Option<Self> {
        match source {
            "routellm" => Some(Self::RouteLlm),
            "llmrouter" => Some(Self::LlmRouter),
            "routerarena" => Some(Self::RouterArena),
            _ => None,
        }
    }

    /// The table source name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RouteLlm => "routellm",
            Self::LlmRouter => "llmrouter",
            Self::RouterArena => "routerarena",
        }
    }
}

/// MMLU subjects that are mathematics rather than knowledge recall.
const MMLU_MATH: [&str; 3] = [
    "elementary_mathematics",
    "high_school_mathematics",
    "high_school_statistics",
];
const MMLU_ADVANCED_MATH: [&str; 2] = ["abstract_algebra", "college_mathematics"];
const MMLU_REASONING: [&str; 2] = ["formal_logic", "logical_fallacies"];
/// Computer-science subjects whose questions read code and algorithms: without them the coding
/// class would only know "write a Python function" prompts (MBPP, HumanEval), and systems or
/// algorithms questions would land in knowledge.
const MMLU_CODING: [&str; 2] = ["college_computer_science", "high_school_computer_science"];

/// The taxonomy task of a row labelled `label` in `source`, or `None` to leave it out.
pub fn task_of(source: LabelSource, label: &str) -> Option<Task> {
    match source {
        LabelSource::RouteLlm => routellm(label),
        LabelSource::LlmRouter => llmrouter(label),
        LabelSource::RouterArena => routerarena(label),
    }
}

fn mmlu_subject(subject: &str) -> Task {
    if MMLU_MATH.contains(&subject) {
        Task::Math
    } else if MMLU_ADVANCED_MATH.contains(&subject) {
        Task::AdvancedMath
    } else if MMLU_REASONING.contains(&subject) {
        Task::Reasoning
    } else if MMLU_CODING.contains(&subject) {
        Task::Coding
    } else {
        Task::Knowledge
    }
}

fn routellm(label: &str) -> Option<Task> {
    match label.split_once('/') {
        Some(("mmlu", subject)) => Some(mmlu_subject(subject)),
        None if label == "gsm8k" => Some(Task::Math),
        _ => None,
    }
}

fn llmrouter(label: &str) -> Option<Task> {
    Some(match label {
        "gsm8k" | "agentverse-mgsm" => Task::Math,
        // LLMRouter's `math` is the MATH competition set.
        "math" => Task::AdvancedMath,
        "mbpp" | "human_eval" => Task::Coding,
        "natural_qa" | "trivia_qa" | "openbook_qa" | "arc_challenge" => Task::Knowledge,
        "commonsense_qa" | "agentverse-logicgrid" => Task::Reasoning,
        "commongen" => Task::Writing,
        // `mmlu` carries no subject here (RouteLLM's MMLU does), and GPQA must not be used.
        _ => return None,
    })
}

fn routerarena(label: &str) -> Option<Task> {
    let (family, rest) = label.split_once('_').unwrap_or((label, ""));
    let family = family.split('-').next().unwrap_or(family);
    Some(match family {
        "GSM8K" | "AsDiv" | "MathQA" | "FinQA" => Task::Math,
        "AIME" | "MATH" => Task::AdvancedMath,
        "MMLUPro" if rest == "math" => Task::AdvancedMath,
        "MMLU" if rest == "formal_logic" => Task::Reasoning,
        "LiveCodeBench" => Task::Coding,
        "ArcMMLU" | "GeoBench" | "GeoGraphyData" | "MMLUPro" | "MMLU" | "MedMCQA" | "PubMedQA"
        | "QANTA" | "OpenTDB" | "MusicTheoryBench" => Task::Knowledge,
        "ChessInstruct" | "SocialiQA" => Task::Reasoning,
        // Moral acceptability of a described action: a label for a given text.
        "Ethics" => Task::Classification,
        "SuperGLUE" => match label {
            "SuperGLUE-CausalReasoning" | "SuperGLUE-Wsc" => Task::Reasoning,
            // Entailment, word sense, reading comprehension, cloze: labelling a given text.
            _ => Task::Classification,
        },
        "NarrativeQA" => Task::Classification,
        "WMT19" => Task::Writing,
        _ => return None,
    })
}

/// RouterArena wraps every question in one of a few instruction templates ("Please read the
/// following multiple-choice questions…", "Provide the correct letter choice in \boxed{X}…").
/// Left in, they would teach the classifier the template rather than the task, and users'
/// prompts carry no such wrapper. This keeps the question itself, its context and options, and
/// any task-specific instruction (a translation request, an entailment question).
pub fn strip_routerarena_template(text: &str) -> String {
    const DROP_PREFIXES: [&str; 8] = [
        "Please read the following multiple-choice questions",
        "Please solve the following mathematical problem",
        "Please read the following question and provide",
        "Please read the following context and answer",
        "Provide the correct letter choice",
        "Provide your final answer",
        "Provide the correct answer in",
        "Context: None",
    ];
    let mut kept: Vec<&str> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if DROP_PREFIXES.iter().any(|p| trimmed.starts_with(p)) {
            continue;
        }
        let line = trimmed
            .strip_prefix("Question: ")
            .or_else(|| trimmed.strip_prefix("Context: "))
            .unwrap_or(line);
        kept.push(line);
    }
    let joined = kept.join("\n");
    let cleaned = joined.trim();
    if cleaned.is_empty() {
        text.trim().to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_covers_the_sources() {
        use LabelSource::*;
        assert_eq!(task_of(RouteLlm, "gsm8k"), Some(Task::Math));
        assert_eq!(task_of(RouteLlm, "mmlu/anatomy"), Some(Task::Knowledge));
        assert_eq!(
            task_of(RouteLlm, "mmlu/college_mathematics"),
            Some(Task::AdvancedMath)
        );
        assert_eq!(
            task_of(RouteLlm, "mmlu/formal_logic"),
            Some(Task::Reasoning)
        );
        assert_eq!(
            task_of(RouteLlm, "mmlu/college_computer_science"),
            Some(Task::Coding)
        );
        assert_eq!(task_of(LlmRouter, "gpqa"), None);
        assert_eq!(task_of(LlmRouter, "mmlu"), None);
        assert_eq!(task_of(LlmRouter, "human_eval"), Some(Task::Coding));
        assert_eq!(task_of(LlmRouter, "commongen"), Some(Task::Writing));
        assert_eq!(
            task_of(RouterArena, "MMLUPro_math"),
            Some(Task::AdvancedMath)
        );
        assert_eq!(task_of(RouterArena, "MMLUPro_law"), Some(Task::Knowledge));
        assert_eq!(
            task_of(RouterArena, "SuperGLUE-Entailment"),
            Some(Task::Classification)
        );
        assert_eq!(task_of(RouterArena, "SuperGLUE-Wsc"), Some(Task::Reasoning));
        assert_eq!(task_of(RouterArena, "WMT19-de-en"), Some(Task::Writing));
        assert_eq!(
            task_of(RouterArena, "OpenTDB_Entertainment: Film"),
            Some(Task::Knowledge)
        );
        assert_eq!(
            task_of(RouterArena, "Ethics_virtue"),
            Some(Task::Classification)
        );
        assert_eq!(task_of(RouterArena, "Unheard"), None);
        assert_eq!(LabelSource::from_table_source("routerbench"), None);
        assert_eq!(LabelSource::from_table_source("routerdc"), None);
    }

    #[test]
    fn template_is_stripped_and_the_question_kept() {
        let text = "Please read the following multiple-choice questions and provide the most likely correct answer based on the options given.\n\nContext: None\n\nQuestion: Which planet is largest?\n\nOptions: \nA. Mars\nB. Jupiter\n\n\nProvide the correct letter choice in \\boxed{X}, where X is the correct letter choice. Keep the explanation or feedback within 3 sentences.";
        let s = strip_routerarena_template(text);
        assert!(s.starts_with("Which planet is largest?"), "{s}");
        assert!(s.contains("B. Jupiter"), "{s}");
        assert!(!s.contains("boxed"), "{s}");
        let translate = "Translate the following sentence from English to German.\n\nHello.\n\nProvide your final answer in \\boxed{{}} format.";
        assert_eq!(
            strip_routerarena_template(translate),
            "Translate the following sentence from English to German.\n\nHello."
        );
    }
}
