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
//! How [`check`] reads an answer: its final answer is, in order of preference, a `\boxed{…}`,
//! the text after a `####` (GSM8K style), the text after an "answer is" / "answer:", or the
//! whole answer; within each kind the last occurrence is tried first (only the last few boxes),
//! each occurrence running to the next one of its kind. A numeric reference (`42`, `-3.5`,
//! `1,234`, `$12`) is compared with the last number of the first span that has one, within a
//! relative 1e-6, so a closing "I hope this answer is helpful!" or `#### Check` heading does not
//! hide the number before it. In a box, the LaTeX separators `{,}`, `\,` and `\!` are ignored,
//! and a formula (`\frac`, `\dfrac`, `\tfrac`, `\sqrt`, `^`, or `1/2`) is a final answer that
//! is not a number, so it matches no numeric reference. A `-` is a minus sign only at the start
//! or after a character that is not a letter or digit (`2023-2024` ends in 2024). Any other
//! reference matches when the first span that is not blank, or the answer's last line, equals it
//! after lowercasing and trimming spaces and punctuation. Fractions and algebraic equivalence
//! are not recognised.
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
    let hit = match parse_number(reference.trim()) {
        Some(expected) => final_number(answer)
            .is_some_and(|got| (got - expected).abs() <= 1e-6 * expected.abs().max(1.0)),
        None => {
            let want = normalise(reference);
            !want.is_empty()
                && (final_spans(answer)
                    .map(|span| normalise(span.text()))
                    .find(|span| !span.is_empty())
                    .is_some_and(|span| span == want)
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

/// A place where the final answer may be.
#[derive(Clone, Copy)]
enum Span<'a> {
    /// The contents of a `\boxed{…}`.
    Boxed(&'a str),
    /// Text after a marker, or the whole answer.
    Plain(&'a str),
}

impl<'a> Span<'a> {
    fn text(self) -> &'a str {
        match self {
            Span::Boxed(s) | Span::Plain(s) => s,
        }
    }
}

/// How many boxes, from the last, are looked into: a reply of many nested unclosed boxes then
/// costs linear time, not quadratic.
const MAX_BOXES: usize = 8;

/// The places the final answer may be, most preferred first (the order is in the module doc).
fn final_spans(answer: &str) -> impl Iterator<Item = Span<'_>> {
    const OPEN: &str = "\\boxed{";
    let mut end = answer.len();
    let boxes = std::iter::from_fn(move || {
        let i = answer[..end].rfind(OPEN)?;
        end = i;
        Some(Span::Boxed(braced(&answer[i + OPEN.len()..])))
    })
    .take(MAX_BOXES);
    let hashes = after_each(answer, answer.match_indices("####").collect());
    // ASCII lowercasing keeps byte offsets, so an index into `lower` is one into `answer`.
    let lower = answer.to_ascii_lowercase();
    let phrases = ["answer is", "answer:"]
        .iter()
        .flat_map(|marker| lower.match_indices(marker))
        .collect();
    let phrases = after_each(answer, phrases);
    boxes
        .chain(hashes.map(Span::Plain))
        .chain(phrases.map(Span::Plain))
        .chain(std::iter::once(Span::Plain(answer)))
}

/// The text after each marker found in `answer`, last first. Each runs only to the next marker:
/// a later one is tried first, and a span to the end would cost quadratic time over many markers
/// while adding nothing a later span did not already have.
fn after_each<'a>(
    answer: &'a str,
    mut found: Vec<(usize, &str)>,
) -> impl Iterator<Item = &'a str> + 'a {
    found.sort_unstable_by_key(|&(i, _)| i);
    let ends: Vec<usize> = found.iter().map(|&(i, m)| i + m.len()).collect();
    let stops: Vec<usize> = found
        .iter()
        .skip(1)
        .map(|&(i, _)| i)
        .chain([answer.len()])
        .collect();
    ends.into_iter()
        .zip(stops)
        .rev()
        .map(move |(start, stop)| &answer[start..stop])
}

/// The final number of `answer`: that of the first span giving one, or none when that span is a
/// boxed formula.
fn final_number(answer: &str) -> Option<f64> {
    final_spans(answer)
        .find_map(|span| match span {
            Span::Plain(s) => last_number(s).map(Some),
            Span::Boxed(s) => {
                let s = s.replace("{,}", "").replace("\\,", "").replace("\\!", "");
                if is_formula(&s) {
                    Some(None)
                } else {
                    last_number(&s).map(Some)
                }
            }
        })
        .flatten()
}

/// Whether a box holds a formula, whose value is not its last number (`\frac{1}{2}` is not 2).
fn is_formula(s: &str) -> bool {
    ["\\frac", "\\dfrac", "\\tfrac", "\\sqrt", "^"]
        .iter()
        .any(|m| s.contains(m))
        || s.as_bytes()
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && w[1] == b'/' && w[2].is_ascii_digit())
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
            // A `-` right after a letter or digit is a dash (`2023-2024`, `x-3`), not a sign.
            let negative =
                i > 0 && chars[i - 1] == '-' && (i < 2 || !chars[i - 2].is_alphanumeric());
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

    #[test]
    fn an_earlier_answer_phrase_counts_when_the_last_has_no_number() {
        let reply = "The answer is 42.\n\nI hope this answer is helpful!";
        assert_eq!(check(reply, "42"), 1.0);
        assert_eq!(check(reply, "41"), 0.0);
        assert_eq!(
            check("The answer is 12, minus 4.\nFinal answer: 8", "8"),
            1.0
        );
    }

    #[test]
    fn a_markdown_heading_after_the_number_falls_back_to_the_whole_answer() {
        assert_eq!(check("Total: 42 apples.\n\n#### Check\nDone.", "42"), 1.0);
        assert_eq!(check("#### 42\n#### Check\nDone.", "42"), 1.0);
        assert_eq!(check("Total: 41 apples.\n\n#### Check\nDone.", "42"), 0.0);
    }

    #[test]
    fn latex_thousands_separators_in_a_box_are_ignored() {
        assert_eq!(check("\\boxed{1{,}000}", "1000"), 1.0);
        assert_eq!(check("\\boxed{1\\,000}", "1000"), 1.0);
        assert_eq!(check("\\boxed{1\\!000\\!000}", "1000000"), 1.0);
        assert_eq!(check("\\boxed{-12{,}345.5}", "-12345.5"), 1.0);
    }

    #[test]
    fn a_boxed_formula_is_not_its_last_number() {
        assert_eq!(check("\\boxed{\\frac{1}{2}}", "2"), 0.0);
        assert_eq!(check("\\boxed{\\dfrac{3}{4}}", "4"), 0.0);
        assert_eq!(check("\\boxed{2^{10}}", "10"), 0.0);
        assert_eq!(check("\\boxed{3\\sqrt{2}}", "2"), 0.0);
        assert_eq!(check("\\boxed{1/2}", "2"), 0.0);
        // The box is the final answer: a number in the reasoning does not stand in for it.
        assert_eq!(check("x = 2, so \\boxed{\\frac{1}{2}}", "2"), 0.0);
    }

    #[test]
    fn a_dash_after_a_digit_or_letter_is_not_a_minus_sign() {
        assert_eq!(check("The seasons were 2023-2024", "2024"), 1.0);
        assert_eq!(check("Pages 10-12 and x-3", "3"), 1.0);
        assert_eq!(check("so x = -3", "-3"), 1.0);
        assert_eq!(check("-3", "-3"), 1.0);
        assert_eq!(check("(-3)", "-3"), 1.0);
    }

    #[test]
    fn many_unclosed_boxes_or_markers_still_find_the_number() {
        let boxes = String::from("42 ") + &"\\boxed{".repeat(100_000);
        assert_eq!(check(&boxes, "42"), 1.0);
        let phrases = "the answer is ".repeat(100_000) + "#### ".repeat(100_000).as_str();
        assert_eq!(check(&(String::from("7 ") + &phrases), "7"), 1.0);
    }

    #[test]
    fn an_empty_box_falls_back_to_other_markers() {
        assert_eq!(check("The answer is 42. \\boxed{}", "42"), 1.0);
        assert_eq!(check("\\boxed{42} then \\boxed{ }", "42"), 1.0);
        assert_eq!(check("\\boxed{41} then \\boxed{42}", "42"), 1.0);
        assert_eq!(check("\\boxed{42} then \\boxed{41}", "42"), 0.0);
    }
}

#[cfg(test)]
mod properties;
