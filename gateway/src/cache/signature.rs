//! The text guard of the semantic cache: what two prompts must share, word for word, before
//! their embeddings are even compared.
//!
//! The routing embedding alone cannot tell a paraphrase from a near miss. On the labelled pairs
//! in `docs/data/semantic-cache-pairs.jsonl`, "What is 17 times 23?" and "… 24?" have cosine 0.91,
//! "Convert Celsius to Fahrenheit" and its reverse 0.99, "advantages" and "disadvantages" of
//! remote work 0.92, while true paraphrases start at 0.85; and the encoder sees only a
//! truncated view of a long prompt. So a semantic hit also needs, over the whole text:
//!
//! - the same numbers, as a multiset (`17 times 23` never answers `17 times 24`);
//! - the same content words: lowercased, apostrophes dropped, a light plural stem, minus a
//!   fixed list of function words and request fillers ("what", "the", "please", "explain",
//!   "write", …). Question words that change the answer ("who", "when", "where", "why"),
//!   negations, and comparatives ("best", "worst", "up", "down") are content words;
//! - the same word after each directional preposition both texts use ("to", "from", "into",
//!   "than", "vs", "before", "after"), so that swapping the two ends of a conversion misses,
//!   and the same prepositions before each word both texts put after one, so that "copy files
//!   from S3" never answers "copy files to S3" (these prepositions are function words, so
//!   the content words alone cannot tell them apart).
//!
//! Numbers and content words go into [`Signature::key`], so candidates are found by an exact
//! lookup and only paraphrases that differ in function words, word order or inflection are
//! compared by cosine at all. Measured on the pairs (docs/gateway.md, "Semantic cache").

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// Words that carry no answer-changing content: articles, auxiliaries, pronouns, prepositions,
/// and the verbs and fillers of a request ("tell me", "can you explain", "what's the way to").
const FUNCTION_WORDS: &[&str] = &[
    "a",
    "about",
    "also",
    "am",
    "an",
    "any",
    "are",
    "at",
    "be",
    "been",
    "being",
    "by",
    "can",
    "could",
    "define",
    "definition",
    "describe",
    "did",
    "do",
    "does",
    "doing",
    "explain",
    "for",
    "from",
    "give",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "hi",
    "how",
    "i",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "kind",
    "let",
    "lets",
    "list",
    "may",
    "me",
    "mean",
    "meaning",
    "means",
    "might",
    "mine",
    "must",
    "my",
    "name",
    "of",
    "ok",
    "okay",
    "on",
    "our",
    "please",
    "provide",
    "really",
    "recommend",
    "shall",
    "share",
    "she",
    "should",
    "show",
    "simple",
    "simply",
    "some",
    "sort",
    "suggest",
    "tell",
    "terms",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "us",
    "very",
    "was",
    "way",
    "we",
    "were",
    "what",
    "whats",
    "which",
    "will",
    "with",
    "would",
    "write",
    "compose",
    "you",
    "your",
    "here",
];

/// Prepositions whose object decides the answer's direction.
const DIRECTIONAL: &[&str] = &[
    "to", "from", "into", "than", "vs", "versus", "before", "after",
];

/// What a prompt must share with a cached one before their embeddings are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// SHA-256 of the sorted numbers and the sorted content words.
    pub key: [u8; 32],
    /// Each directional preposition with the next content word after it.
    pub directed: BTreeSet<(String, String)>,
}

impl Signature {
    /// Whether two prompts may be each other's rewording: the same numbers and content words,
    /// and the same direction (what the index checks before comparing embeddings).
    pub fn matches(&self, other: &Signature) -> bool {
        self.key == other.key && self.same_direction(other)
    }

    /// Whether the two texts agree on direction: each directional preposition both use names
    /// the same words, and each word both name as an object is named by the same prepositions.
    ///
    /// The second half is what tells "copy files from S3" from "copy files to S3", which share
    /// no preposition. Asking for the same prepositions outright would go too far: the "to" of
    /// "the way to reverse a list" is no direction, and "reverse a list" says the same.
    pub fn same_direction(&self, other: &Signature) -> bool {
        agree(&self.grouped(by_prep), &other.grouped(by_prep))
            && agree(&self.grouped(by_object), &other.grouped(by_object))
    }

    /// The directed pairs as a map from one side of each pair to the set of its other sides.
    fn grouped(&self, split: fn(&(String, String)) -> (&str, &str)) -> Grouped<'_> {
        let mut groups: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for pair in &self.directed {
            let (k, v) = split(pair);
            groups.entry(k).or_default().insert(v);
        }
        groups
    }
}

/// Directed pairs grouped by one of their sides.
type Grouped<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

fn by_prep((prep, object): &(String, String)) -> (&str, &str) {
    (prep, object)
}

fn by_object((prep, object): &(String, String)) -> (&str, &str) {
    (object, prep)
}

/// Whether two groupings agree on every key both of them have.
fn agree(a: &Grouped<'_>, b: &Grouped<'_>) -> bool {
    a.iter().all(|(k, v)| b.get(k).is_none_or(|w| w == v))
}

/// The signature of `text`. Linear in its length.
pub fn signature(text: &str) -> Signature {
    let mut numbers: Vec<&str> = Vec::new();
    let mut content: BTreeSet<String> = BTreeSet::new();
    let mut directed = BTreeSet::new();
    let mut pending: Vec<&'static str> = Vec::new();
    for token in tokens(text) {
        match token {
            Token::Number(n) => numbers.push(n),
            Token::Word(word) => {
                if !is_function_word(&word) {
                    let stem = stem(&word);
                    for prep in pending.drain(..) {
                        directed.insert((prep.to_owned(), stem.clone()));
                    }
                    content.insert(stem);
                }
                // After the word itself, so that "before" names the word after it, not itself.
                if let Some(&prep) = DIRECTIONAL.iter().find(|p| **p == word) {
                    pending.push(prep);
                }
            }
        }
    }
    numbers.sort_unstable();
    let mut hasher = Sha256::new();
    for n in &numbers {
        hasher.update(n.as_bytes());
        hasher.update([0]);
    }
    hasher.update([1]);
    for w in &content {
        hasher.update(w.as_bytes());
        hasher.update([0]);
    }
    Signature {
        key: hasher.finalize().into(),
        directed,
    }
}

fn is_function_word(word: &str) -> bool {
    FUNCTION_WORDS.contains(&word)
}

/// A plural or third-person `s` off long words ("cookies" → "cooky" and "cookie" →
/// "cookie" still differ; the guard errs toward a miss).
fn stem(word: &str) -> String {
    for (suffix, replacement) in [("ies", "y"), ("es", ""), ("s", "")] {
        if word.chars().count() > 4 {
            if let Some(base) = word.strip_suffix(suffix) {
                return format!("{base}{replacement}");
            }
        }
    }
    word.to_owned()
}

enum Token<'a> {
    /// Digits with inner `.` or `,` (`3.14`, `1,000`), as written.
    Number(&'a str),
    /// Letters (and digits after a letter, `gpt4`), lowercased, apostrophes dropped.
    Word(String),
}

/// Splits on anything that is neither alphanumeric nor an apostrophe inside a word.
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(|c: char| c.is_alphanumeric())?;
        rest = &rest[start..];
        let first = rest.chars().next()?;
        if first.is_ascii_digit() {
            let mut end = 0;
            let bytes = rest.as_bytes();
            while end < bytes.len() {
                let b = bytes[end];
                let inner_separator = (b == b'.' || b == b',')
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
                    && end > 0;
                if b.is_ascii_digit() || inner_separator {
                    end += 1;
                } else {
                    break;
                }
            }
            let (number, tail) = rest.split_at(end);
            rest = tail;
            return Some(Token::Number(number));
        }
        let end = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_alphanumeric()
                    || (matches!(c, '\'' | '’')
                        && rest[i + c.len_utf8()..]
                            .chars()
                            .next()
                            .is_some_and(char::is_alphanumeric)))
            })
            .map_or(rest.len(), |(i, _)| i);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        let word: String = word
            .chars()
            .filter(|c| !matches!(c, '\'' | '’'))
            .flat_map(char::to_lowercase)
            .collect();
        Some(Token::Word(word))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        signature(a).matches(&signature(b))
    }

    #[test]
    fn paraphrases_that_only_change_function_words_share_a_signature() {
        assert!(same(
            "How do I reverse a list in Python?",
            "What's the way to reverse a Python list?"
        ));
        assert!(same(
            "Write a haiku about autumn leaves.",
            "Compose a haiku about leaves in autumn."
        ));
        assert!(same(
            "How many legs does a spider have?",
            "How many legs do spiders have?"
        ));
    }

    #[test]
    fn a_changed_number_entity_question_word_or_direction_never_matches() {
        for (a, b) in [
            ("What is 17 times 23?", "What is 17 times 24?"),
            ("Round 3.14159 to 2 places", "Round 3.14159 to 3 places"),
            ("Total of 1,000 and 5", "Total of 1,005"),
            (
                "What is the capital of France?",
                "What is the capital of Germany?",
            ),
            (
                "When was the Eiffel Tower built?",
                "Where was the Eiffel Tower built?",
            ),
            (
                "Convert Celsius to Fahrenheit.",
                "Convert Fahrenheit to Celsius.",
            ),
            (
                "List the best foods to eat.",
                "List the worst foods to eat.",
            ),
            (
                "Why did the stock market go up?",
                "Why did the stock market go down?",
            ),
            (
                "How do I parse JSON in Rust?",
                "How do I parse JSON in Rust without serde?",
            ),
            ("Is it safe?", "Isn't it safe?"),
            ("How do I copy files from S3?", "How do I copy files to S3?"),
            (
                "Summarize the emails sent to Alice",
                "Summarize the emails sent from Alice",
            ),
        ] {
            assert!(!same(a, b), "{a} | {b}");
        }
    }

    #[test]
    fn numbers_keep_their_inner_separators_and_words_their_letters() {
        let words: Vec<String> = tokens("Café's 3.5kg, 1,000 x2 don’t.")
            .map(|t| match t {
                Token::Number(n) => format!("#{n}"),
                Token::Word(w) => w,
            })
            .collect();
        assert_eq!(words, ["cafés", "#3.5", "kg", "#1,000", "x2", "dont"]);
    }

    #[test]
    fn empty_and_symbol_only_texts_share_the_empty_signature() {
        assert_eq!(signature("").key, signature("?! …").key);
        assert_ne!(signature("").key, signature("0").key);
    }
}
