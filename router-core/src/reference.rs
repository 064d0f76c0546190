//! Reference-answer checks: scoring an answer against a known reference answer, free and
//! deterministic. Far more reliable than an LLM judge on math-like prompts with a final number,
//! or multiple-choice letters.
//!
//! This lives in router-core because two crates score answers this way and neither may depend
//! on the other: the gateway's judge (a request carrying `x-switchyard-reference-answer` is
//! scored 1 or 0 by [`check`] instead of asking an LLM) and the training crate (onboarding
//! probes with reference answers). The layering keeps the gateway off `evals` and `training`,
//! so router-core, below both, is the one shared place.
//!
//! How [`check`] reads an answer: its final answer is, in order of preference, the last
//! `\boxed{…}`, the text after the last `####` (GSM8K style), the text after the last
//! "answer is" / "answer:", or the whole answer. A numeric reference (`42`, `-3.5`, `1,234`,
//! `$12`) matches when the last number of that span equals it within a relative 1e-6; any other
//! reference matches when the span, or the answer's last line, equals it after lowercasing and
//! trimming spaces and punctuation. Fractions and algebraic equivalence are not recognised.
//!
//! [`Reference`] is the structured form used by probe sets: one kind per way of checking (an
//! option letter, a number, an exact short answer, free-text aliases, concept coverage, or
//! "only a judge can tell"), each scored in [0, 1] by [`Reference::score`]. The rules for
//! letters are in `choice.rs`, those for text and concepts in `words.rs`.

use serde::{Deserialize, Serialize};

mod choice;
mod words;

/// 1.0 when `answer` gives `reference`, else 0.0.
pub fn check(answer: &str, reference: &str) -> f64 {
    let span = final_span(answer);
    let hit = match parse_number(reference.trim()) {
        Some(expected) => last_number(span)
            .is_some_and(|got| (got - expected).abs() <= 1e-6 * expected.abs().max(1.0)),
        None => {
            let want = normalise(reference);
            !want.is_empty()
                && (normalise(span) == want
                    || answer
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .is_some_and(|l| normalise(l) == want))
        }
    };
    if hit {
        1.0
    } else {
        0.0
    }
}

/// The expected answer of a prompt, and how a reply is checked against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reference {
    /// Multiple choice: the option letter ("A".."J").
    Choice {
        /// The correct letter.
        answer: String,
    },
    /// A final number (GSM8K-style), compared numerically.
    Number {
        /// The number, as written (`42`, `-3.5`, `1,234`, `12%`).
        answer: String,
    },
    /// A short exact answer (normalised comparison, as [`check`]).
    Exact {
        /// The answer.
        answer: String,
    },
    /// Short free-text answers (trivia / NaturalQuestions): any of the aliases.
    Text {
        /// Accepted answers.
        answers: Vec<String>,
    },
    /// Concept coverage (CommonGen): the reply should use every concept word.
    Concepts {
        /// The words to use.
        concepts: Vec<String>,
    },
    /// No automatic check: an LLM judge must score it; `guide` is optional text for the judge
    /// (e.g. the unit tests of a coding task).
    Judge {
        /// What the judge should check against.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guide: Option<String>,
    },
}

impl Reference {
    /// Score in [0, 1] of `reply`, or `None` when only a judge can score it.
    ///
    /// - `Choice`: 1 when the letter the reply chose (rules in `choice.rs`: the last
    ///   `\boxed{…}` letter, then "answer is (X)" / "Answer: X", then a reply that is just the
    ///   letter, then a closing option line) is the answer, case-insensitive; 0 otherwise, and
    ///   when the reply names several different letters. A reference that is not a letter is
    ///   compared as `Exact`.
    /// - `Number`, `Exact`: [`check`], 1 or 0.
    /// - `Text`: 1 when an alias occurs in the reply as whole words after SQuAD-style
    ///   normalisation, else the best token F1 over the aliases.
    /// - `Concepts`: the share of concepts the reply uses, regular inflections accepted.
    pub fn score(&self, reply: &str) -> Option<f64> {
        Some(match self {
            Reference::Choice { answer } => match choice::reference_letter(answer) {
                Some(want) => match choice::chosen(reply) {
                    Some(choice::Pick::One(got)) if got == want => 1.0,
                    _ => 0.0,
                },
                None => check(reply, answer),
            },
            Reference::Number { answer } | Reference::Exact { answer } => check(reply, answer),
            Reference::Text { answers } => words::text_score(reply, answers),
            Reference::Concepts { concepts } => words::concept_score(reply, concepts),
            Reference::Judge { .. } => return None,
        })
    }

    /// Whether only an LLM judge can score a reply.
    pub fn needs_judge(&self) -> bool {
        matches!(self, Reference::Judge { .. })
    }

    /// The snake_case name of the kind, as in the serialised `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Reference::Choice { .. } => "choice",
            Reference::Number { .. } => "number",
            Reference::Exact { .. } => "exact",
            Reference::Text { .. } => "text",
            Reference::Concepts { .. } => "concepts",
            Reference::Judge { .. } => "judge",
        }
    }

    /// Why this reference can never score a reply 1, if it cannot: a letter outside A–J, an
    /// answer that normalises to nothing, a number that does not parse, no aliases or concepts.
    pub fn defect(&self) -> Option<String> {
        match self {
            Reference::Choice { answer } => choice::reference_letter(answer)
                .is_none()
                .then(|| format!("`{answer}` is not an option letter A-J")),
            Reference::Number { answer } => parse_number(answer)
                .is_none()
                .then(|| format!("`{answer}` is not a number")),
            Reference::Exact { answer } => normalise(answer)
                .is_empty()
                .then(|| "the answer is empty".to_owned()),
            Reference::Text { answers } => answers
                .iter()
                .all(|a| words::tokens(a).is_empty())
                .then(|| "no alias has a word in it".to_owned()),
            Reference::Concepts { concepts } => (concepts.is_empty()
                || concepts.iter().any(|c| c.trim().is_empty()))
            .then(|| "concepts are missing or blank".to_owned()),
            Reference::Judge { .. } => None,
        }
    }
}

/// The text up to the brace closing an opened one (all the rest when it never closes).
fn braced(rest: &str) -> &str {
    let mut depth = 1usize;
    for (j, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..j];
                }
            }
            _ => {}
        }
    }
    rest
}

/// Where the final answer is.
fn final_span(answer: &str) -> &str {
    if let Some(i) = answer.rfind("\\boxed{") {
        return braced(&answer[i + "\\boxed{".len()..]);
    }
    if let Some(i) = answer.rfind("####") {
        return &answer[i + 4..];
    }
    let lower = answer.to_ascii_lowercase();
    // ASCII lowercasing keeps byte offsets, so an index into `lower` is one into `answer`.
    for marker in ["answer is", "answer:"] {
        if let Some(i) = lower.rfind(marker) {
            return &answer[i + marker.len()..];
        }
    }
    answer
}

/// A number written as `-1,234.5`, `$12` or `50%` (the sign, digits, separators only).
fn parse_number(s: &str) -> Option<f64> {
    let t = s
        .trim()
        .trim_start_matches('$')
        .trim_end_matches(['%', '.'])
        .replace(',', "");
    if t.is_empty() || !t.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    if !t
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The last number written in `text`.
fn last_number(text: &str) -> Option<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut last = None;
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let negative = i > 0 && chars[i - 1] == '-';
            let mut s = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || ((chars[i] == ',' || chars[i] == '.')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                if chars[i] != ',' {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if let Ok(x) = s.parse::<f64>() {
                last = Some(if negative { -x } else { x });
            }
        } else {
            i += 1;
        }
    }
    last
}

/// Lowercase, inner whitespace collapsed, surrounding spaces and punctuation trimmed.
fn normalise(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    words
        .join(" ")
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_in_the_final_answer() {
        assert_eq!(check("She has 3 apples, then 5 more: 8 apples.", "8"), 1.0);
        assert_eq!(check("Step 1: 12 + 30 = 42\n#### 42", "42"), 1.0);
        assert_eq!(check("The answer is $1,234.", "1234"), 1.0);
        assert_eq!(check("so x = \\boxed{-3.5} and 7 was wrong", "-3.5"), 1.0);
        assert_eq!(check("2 + 2 = 5", "4"), 0.0);
        assert_eq!(check("#### 41", "42"), 0.0);
        assert_eq!(check("no number here", "42"), 0.0);
        assert_eq!(check("", "0"), 0.0);
        assert_eq!(check("It is 50%.", "50%"), 1.0);
    }

    #[test]
    fn other_references_match_exactly_after_normalising() {
        assert_eq!(check("Let me think.\nThe answer is B.", "B"), 1.0);
        assert_eq!(check("Reasoning...\n(c)", "C"), 1.0);
        assert_eq!(check("Answer: Paris", "paris"), 1.0);
        assert_eq!(check("Probably Lyon", "Paris"), 0.0);
        assert_eq!(check("anything", "  "), 0.0);
        assert_eq!(check("\\boxed{", "x"), 0.0);
        assert_eq!(check("é ü \\boxed{ß}", "ß"), 1.0);
    }
}

#[cfg(test)]
mod properties;
