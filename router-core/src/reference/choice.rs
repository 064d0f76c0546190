//! Which option letter a multiple-choice reply chose.
//!
//! Models answer a multiple-choice question in many shapes: `\boxed{C}`, `\boxed{\text{(C)}}`,
//! "The answer is (C).", "**Answer:** C", a bare "C", "C. Paris", or a closing line "(C) Paris".
//! [`chosen`] reads them in this order and stops at the first rule that finds a letter:
//!
//! 1. the last `\boxed{…}` whose content is a letter (LaTeX commands such as `\text`, braces
//!    and `$` removed; `C`, `C.`, `(C)`, `C)`, or a letter with `.`/`)`/`:` or parentheses
//!    followed by the option's text);
//! 2. the last "answer is", "answer:", "option is" or "choice is" followed by a letter
//!    (`(C)`, `C`, `**C**`, "option C");
//! 3. a one-line reply that is just the letter, in the same shapes as a box's content;
//! 4. the last line that starts like an option, `C.`, `C)` or `(C)`, unless other lines start
//!    with a different letter: that is a listing of the options, not an answer.
//!
//! Letters run from A to J (MMLU-Pro has ten options), in either case, but a lower-case letter
//! followed by a space and a word is read as English ("the answer is a mammal"), not as an
//! option. Naming two different letters in the final position ("\boxed{A, C}", "The answer is
//! A or C") is [`Pick::Several`], which scores as wrong.

use super::braced;

/// What a reply chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pick {
    /// One option letter, upper-case.
    One(char),
    /// Several different letters in the final position.
    Several,
}

/// The option the reply chose, or `None` when no rule finds a letter.
pub(super) fn chosen(reply: &str) -> Option<Pick> {
    if let Some(pick) = last_box_letter(reply) {
        return Some(pick);
    }
    if let Some(pick) = after_marker(reply) {
        return Some(pick);
    }
    let whole = reply
        .trim()
        .trim_matches(|c: char| c == '*' || c.is_whitespace());
    if !whole.contains('\n') {
        if let Some(pick) = letter_span(whole) {
            return Some(pick);
        }
    }
    option_line(reply)
}

/// The option letter of a reference answer (`C`, `c`, `(C)`, `C.`), if it is one.
pub(super) fn reference_letter(reference: &str) -> Option<char> {
    let t = reference
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(['.', ')']);
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if is_option(c) => Some(c.to_ascii_uppercase()),
        _ => None,
    }
}

fn is_option(c: char) -> bool {
    matches!(c.to_ascii_uppercase(), 'A'..='J')
}

/// Rule 1: the last `\boxed{…}` that holds a letter; earlier boxes are tried when the last one
/// holds something else (a number worked out on the way). Only the last [`MAX_BOXES`] are
/// tried, so that a reply of many unclosed boxes costs linear time, not quadratic.
fn last_box_letter(reply: &str) -> Option<Pick> {
    const OPEN: &str = "\\boxed{";
    let mut end = reply.len();
    for _ in 0..MAX_BOXES {
        let i = reply[..end].rfind(OPEN)?;
        let content = braced(&reply[i + OPEN.len()..]);
        if let Some(pick) = letter_span(&strip_latex(content)) {
            return Some(pick);
        }
        end = i;
    }
    None
}

/// How many boxes, from the last, rule 1 looks into.
const MAX_BOXES: usize = 8;

/// `\text{(C)}` → `(C)`: LaTeX command names, braces and `$` removed.
fn strip_latex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut named = false;
                while chars.peek().is_some_and(char::is_ascii_alphabetic) {
                    chars.next();
                    named = true;
                }
                if !named {
                    // `\(`, `\,` and friends: drop the escaped character too.
                    chars.next();
                }
            }
            '{' | '}' | '$' => {}
            _ => out.push(c),
        }
    }
    out
}

/// A span that is a letter answer: `C`, `C.`, `(C)`, `C)`, `C:`, optionally followed by the
/// option's text when the letter is marked by punctuation or parentheses; `A, C` and `A or C`
/// are [`Pick::Several`].
fn letter_span(span: &str) -> Option<Pick> {
    let span = span
        .trim()
        .trim_matches(|c: char| c == '*' || c.is_whitespace());
    let (letter, marked, rest) = leading_letter(span)?;
    let tail = rest.trim_start_matches(['.', ')', ':', '*']).trim();
    if tail.is_empty() {
        return Some(Pick::One(letter));
    }
    if let Some(other) = next_letter(rest) {
        return Some(if other == letter {
            Pick::One(letter)
        } else {
            Pick::Several
        });
    }
    let punctuated = rest.starts_with(['.', ')', ':']);
    (marked || punctuated).then_some(Pick::One(letter))
}

/// Rule 2: the last marker phrase followed by a letter.
fn after_marker(reply: &str) -> Option<Pick> {
    const MARKERS: [&str; 4] = ["answer is", "answer:", "option is", "choice is"];
    // ASCII lowercasing keeps byte offsets, so an index into `lower` is one into `reply`.
    let lower = reply.to_ascii_lowercase();
    let mut hits: Vec<(usize, usize)> = MARKERS
        .iter()
        .flat_map(|m| lower.match_indices(m).map(|(i, _)| (i, i + m.len())))
        .collect();
    hits.sort_unstable();
    hits.into_iter()
        .rev()
        .find_map(|(_, end)| letter_after_marker(&reply[end..]))
}

fn letter_after_marker(rest: &str) -> Option<Pick> {
    let mut t = rest.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, ':' | '*' | '_' | '"' | '\'' | '`' | '$')
    });
    for word in ["option", "choice"] {
        if t.len() > word.len()
            && t.is_char_boundary(word.len())
            && t[..word.len()].eq_ignore_ascii_case(word)
        {
            t = t[word.len()..].trim_start();
        }
    }
    let (letter, _, after) = leading_letter(t)?;
    Some(match next_letter(after) {
        Some(other) if other != letter => Pick::Several,
        _ => Pick::One(letter),
    })
}

/// Rule 4: the last line that starts like an option, when no line starts with another letter.
fn option_line(reply: &str) -> Option<Pick> {
    let mut letters = reply.lines().filter_map(|line| {
        let t =
            line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '#' | '>'));
        let (letter, marked, rest) = leading_letter(t)?;
        (marked || rest.starts_with(['.', ')'])).then_some(letter)
    });
    let last = letters.next_back()?;
    letters.all(|l| l == last).then_some(Pick::One(last))
}

/// The letter `s` starts with, as `(C)` or `C` not followed by a letter or digit: (letter,
/// whether it was in parentheses, the text after it). A lower-case letter followed by a space
/// and a word is an English word ("a", "i"), not an option.
fn leading_letter(s: &str) -> Option<(char, bool, &str)> {
    let mut chars = s.char_indices();
    let (_, first) = chars.next()?;
    if first == '(' {
        let (_, c) = chars.next()?;
        let (close, paren) = chars.next()?;
        return (is_option(c) && paren == ')')
            .then(|| (c.to_ascii_uppercase(), true, &s[close + 1..]));
    }
    if !is_option(first) {
        return None;
    }
    let rest = &s[first.len_utf8()..];
    let next = rest.chars().next();
    if next.is_some_and(char::is_alphanumeric) {
        return None;
    }
    if first.is_ascii_lowercase()
        && next.is_some_and(char::is_whitespace)
        && rest
            .trim_start()
            .chars()
            .next()
            .is_some_and(char::is_alphabetic)
    {
        return None;
    }
    Some((first.to_ascii_uppercase(), false, rest))
}

/// A second letter right after a first one, joined by `,`, `/`, `&`, "and" or "or".
fn next_letter(after: &str) -> Option<char> {
    let t = after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ')' | '*' | '.'));
    let t = if let Some(r) = t.strip_prefix([',', '/', '&']) {
        r
    } else {
        let word_end = t.find(char::is_whitespace)?;
        let word = &t[..word_end];
        if !(word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or")) {
            return None;
        }
        &t[word_end..]
    };
    let t = t.trim_start_matches(|c: char| c.is_whitespace() || c == '*');
    leading_letter(t).map(|(c, _, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(reply: &str) -> Option<char> {
        match chosen(reply) {
            Some(Pick::One(c)) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn boxed_forms() {
        assert_eq!(one("so \\boxed{C}"), Some('C'));
        assert_eq!(one("$\\boxed{\\text{C}}$"), Some('C'));
        assert_eq!(one("\\boxed{\\textbf{(b)}}"), Some('B'));
        assert_eq!(one("\\boxed{C.}"), Some('C'));
        assert_eq!(one("\\boxed{(C)}"), Some('C'));
        assert_eq!(one("\\boxed{C) Jupiter}"), Some('C'));
        assert_eq!(one("\\boxed{\\text{D. Video conferencing}}"), Some('D'));
        assert_eq!(one("First \\boxed{A}, on reflection \\boxed{D}"), Some('D'));
        // A last box holding a number is not the letter: the earlier box is.
        assert_eq!(one("\\boxed{B}\nwhich is 42: \\boxed{42}"), Some('B'));
        assert_eq!(chosen("\\boxed{A, C}"), Some(Pick::Several));
        assert_eq!(chosen("\\boxed{A \\text{ and } C}"), Some(Pick::Several));
        assert_eq!(one("\\boxed{C, C}"), Some('C'));
    }

    #[test]
    fn marker_forms() {
        assert_eq!(one("Mars is small.\nThe answer is (B)."), Some('B'));
        assert_eq!(one("**Answer:** c"), Some('C'));
        assert_eq!(one("Answer: **J**"), Some('J'));
        assert_eq!(one("The correct option is D because..."), Some('D'));
        assert_eq!(one("Answer: option E"), Some('E'));
        // The last marker that names a letter wins.
        assert_eq!(
            one("My first answer is A. No wait: the answer is B"),
            Some('B')
        );
        assert_eq!(
            one("The answer is B. Some might say the answer is that it depends."),
            Some('B')
        );
        assert_eq!(chosen("The answer is A or C."), Some(Pick::Several));
        assert_eq!(chosen("Answer: A, B"), Some(Pick::Several));
        assert_eq!(one("Answer: A, because B is wrong"), Some('A'));
        // English, not a letter.
        assert_eq!(chosen("The answer is a mammal."), None);
    }

    #[test]
    fn bare_letters_and_option_lines() {
        assert_eq!(one("B"), Some('B'));
        assert_eq!(one("  (d)  "), Some('D'));
        assert_eq!(one("C. Jupiter"), Some('C'));
        assert_eq!(one("**C**"), Some('C'));
        assert_eq!(chosen("I think it is Jupiter"), None);
        assert_eq!(one("Jupiter is the largest.\n(B) Jupiter"), Some('B'));
        assert_eq!(one("Reasoning here.\n\nB. Jupiter"), Some('B'));
        // Restating every option is not choosing one.
        assert_eq!(chosen("A. Mars\nB. Jupiter\nC. Venus"), None);
        assert_eq!(chosen("A good question.\nI am not sure."), None);
    }

    #[test]
    fn reference_letters() {
        assert_eq!(reference_letter("C"), Some('C'));
        assert_eq!(reference_letter(" (j). "), Some('J'));
        assert_eq!(reference_letter("K"), None);
        assert_eq!(reference_letter("AB"), None);
        assert_eq!(reference_letter(""), None);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for reply in [
            "",
            "(",
            "(é",
            "\\boxed{",
            "\\boxed{\\",
            "answer:",
            "answer is (",
            "answer: optionè",
            "é\n(\n\u{0}",
            "\\boxed{é}",
            "ANSWER IS Ä",
        ] {
            let _ = chosen(reply);
        }
    }
}
