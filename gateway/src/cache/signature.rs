//! The text guard of the semantic cache: what two prompts must share, word for word, before
//! their embeddings are even compared.
//!
//! The routing embedding alone cannot tell a paraphrase from a near miss. On the labelled pairs
//! in `docs/data/semantic-cache-pairs.jsonl`, "What is 17 times 23?" and "… 24?" have cosine 0.91,
//! "Convert Celsius to Fahrenheit" and its reverse 0.99, "advantages" and "disadvantages" of
//! remote work 0.92, while true paraphrases start at 0.85; and the encoder sees only a
//! truncated view of a long prompt. So a semantic hit also needs, over the whole text:
//!
//! - the same numbers and operator symbols, in the same order (`17 times 23` never answers
//!   `17 times 24`, `10 - 3` never `3 - 10`, `x + 3` never `x - 3`, `C++` never `C`, `-5`
//!   never `5`): a run of `+ - * / ^ % < > = # & | ~ !` is a token of its own, except a
//!   hyphen inside a word (`well-known`) and exclamation marks alone;
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
//! Numbers, symbols and content words go into [`Signature::key`], so candidates are found by an
//! exact lookup and only paraphrases that differ in function words, word order or inflection
//! are compared by cosine at all. Measured on the pairs (docs/gateway.md, "Semantic cache").
//!
//! A signature's size is bounded whatever the text: the directional pairs are kept as hashes,
//! at most [`MAX_DIRECTED`] of them; a text with more has them folded into its key instead (it
//! then matches only a text with exactly the same pairs).

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

/// Most directional pairs a signature keeps; a text with more folds them into its key.
pub const MAX_DIRECTED: usize = 256;

/// Characters that make up operator tokens (`+`, `-=`, `**`, `!=`, `C#`'s `#`, …).
const OPERATORS: &[char] = &[
    '+', '-', '*', '/', '^', '%', '<', '>', '=', '#', '&', '|', '~', '!',
];

/// Prepositions whose object decides the answer's direction.
const DIRECTIONAL: &[&str] = &[
    "to", "from", "into", "than", "vs", "versus", "before", "after",
];

/// What a prompt must share with a cached one before their embeddings are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// SHA-256 of the numbers and symbols in order, the sorted content words, and (past
    /// [`MAX_DIRECTED`]) the directional pairs.
    pub key: [u8; 32],
    /// Each directional preposition (its index in the list) with a hash of the next content
    /// word after it, sorted; at most [`MAX_DIRECTED`].
    pub directed: Vec<(u8, u64)>,
}

impl Signature {
    /// Whether two prompts may be each other's rewording: the same numbers, symbols and
    /// content words, and the same direction (what the index checks before comparing
    /// embeddings).
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
    fn grouped(&self, split: fn(&(u8, u64)) -> (u64, u64)) -> Grouped {
        let mut groups: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for pair in &self.directed {
            let (k, v) = split(pair);
            groups.entry(k).or_default().insert(v);
        }
        groups
    }

    /// Bytes this signature holds (for the index's memory bound).
    pub fn heap_bytes(&self) -> usize {
        self.directed.capacity() * std::mem::size_of::<(u8, u64)>()
    }
}

/// Directed pairs grouped by one of their sides.
type Grouped = BTreeMap<u64, BTreeSet<u64>>;

fn by_prep(&(prep, object): &(u8, u64)) -> (u64, u64) {
    (u64::from(prep), object)
}

fn by_object(&(prep, object): &(u8, u64)) -> (u64, u64) {
    (object, u64::from(prep))
}

/// Whether two groupings agree on every key both of them have.
fn agree(a: &Grouped, b: &Grouped) -> bool {
    a.iter().all(|(k, v)| b.get(k).is_none_or(|w| w == v))
}

/// FNV-1a: a word's stand-in in the directed pairs (in-process only, never stored).
fn word_hash(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The signature of `text`. Linear in its length.
pub fn signature(text: &str) -> Signature {
    let mut hasher = Sha256::new();
    let mut content: BTreeSet<String> = BTreeSet::new();
    let mut directed: BTreeSet<(u8, u64)> = BTreeSet::new();
    let mut pending: Vec<u8> = Vec::new();
    for token in tokens(text) {
        match token {
            // In order, each tagged, so that `10 - 3` and `3 - 10` differ.
            Token::Number(n) => {
                hasher.update(b"n");
                hasher.update(n.as_bytes());
                hasher.update([0]);
            }
            Token::Symbol(op) => {
                hasher.update(b"s");
                hasher.update(op.as_bytes());
                hasher.update([0]);
            }
            Token::Word(word) => {
                if !is_function_word(&word) {
                    let stem = stem(&word);
                    let object = word_hash(&stem);
                    for prep in pending.drain(..) {
                        directed.insert((prep, object));
                    }
                    content.insert(stem);
                }
                // After the word itself, so that "before" names the word after it, not itself.
                if let Some(prep) = DIRECTIONAL.iter().position(|p| **p == word) {
                    pending.push(u8::try_from(prep).unwrap_or(u8::MAX));
                }
            }
        }
    }
    hasher.update([1]);
    for w in &content {
        hasher.update(w.as_bytes());
        hasher.update([0]);
    }
    let directed = if directed.len() > MAX_DIRECTED {
        // Too many to keep: the text matches only one with exactly these pairs.
        hasher.update([2]);
        for (prep, object) in &directed {
            hasher.update([*prep]);
            hasher.update(object.to_le_bytes());
        }
        Vec::new()
    } else {
        directed.into_iter().collect()
    };
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
    /// A run of operator characters ([`OPERATORS`]): `+`, `-`, `++`, `**`, `!=`, `#`.
    Symbol(&'a str),
}

fn is_operator(c: char) -> bool {
    OPERATORS.contains(&c)
}

/// Splits into numbers, words and operator runs; everything else (spaces, `.,;:?()"…`)
/// separates them. A hyphen between two letters (`well-known`) and exclamation marks alone
/// (`Hi!`) are punctuation, not operators.
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        let (offset, first) = text[pos..]
            .char_indices()
            .find(|&(_, c)| c.is_alphanumeric() || is_operator(c))?;
        let start = pos + offset;
        let rest = &text[start..];
        if is_operator(first) {
            let len = rest.find(|c: char| !is_operator(c)).unwrap_or(rest.len());
            let run = &rest[..len];
            pos = start + len;
            let before = text[..start].chars().next_back();
            let after = text[pos..].chars().next();
            let exclamation = run.chars().all(|c| c == '!');
            let word_hyphen = run == "-"
                && before.is_some_and(char::is_alphabetic)
                && after.is_some_and(char::is_alphabetic);
            if exclamation || word_hyphen {
                continue;
            }
            return Some(Token::Symbol(run));
        }
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
            pos = start + end;
            return Some(Token::Number(&rest[..end]));
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
        pos = start + end;
        let word: String = rest[..end]
            .chars()
            .filter(|c| !matches!(c, '\'' | '’'))
            .flat_map(char::to_lowercase)
            .collect();
        return Some(Token::Word(word));
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
                Token::Symbol(s) => format!("op{s}"),
            })
            .collect();
        assert_eq!(words, ["cafés", "#3.5", "kg", "#1,000", "x2", "dont"]);
    }

    /// Review F1: operators, signs, punctuated names and the order of numbers decide the
    /// answer; every one of these pairs passed the old guard and cosine 0.85.
    #[test]
    fn a_changed_operator_sign_or_number_order_never_matches() {
        for (a, b) in [
            ("What is 10 - 3?", "What is 3 - 10?"),
            ("What is 100 / 4?", "What is 4 / 100?"),
            ("Is 7 > 5?", "Is 7 < 5?"),
            ("Solve x + 3 = 10", "Solve x - 3 = 10"),
            ("Explain pointers in C++", "Explain pointers in C"),
            (
                "What is 2 to the power of 10?",
                "What is 10 to the power of 2?",
            ),
            (
                "If it is 09:00 in UTC+5, what time is it in UTC?",
                "If it is 09:00 in UTC-5, what time is it in UTC?",
            ),
            ("Is 1/3 larger than 0.3?", "Is 3/1 larger than 0.3?"),
            ("What is 12 + 7?", "What is 12 * 7?"),
            ("What is 2^10?", "What is 2*10?"),
            ("What is -5 squared?", "What is 5 squared?"),
            ("Explain pointers in C#", "Explain pointers in C"),
            (
                "Does the regex a+b match aab?",
                "Does the regex a*b match aab?",
            ),
            (
                "What does 7 // 2 give in Python?",
                "What does 7 ** 2 give in Python?",
            ),
            ("Is 3 != 4 true?", "Is 3 == 4 true?"),
            ("What is 2 + 3 * 4?", "What is 2 * 3 + 4?"),
        ] {
            assert!(!same(a, b), "{a} | {b}");
        }
    }

    #[test]
    fn punctuation_and_word_hyphens_still_do_not_matter() {
        assert!(same("What is 10 - 3?", "what is 10-3"));
        assert!(same("Hello! How do I sort a list?", "How do I sort a list"));
        assert!(same(
            "Name a well-known sorting algorithm.",
            "Name a well known sorting algorithm"
        ));
    }

    /// Review F8: what a signature keeps of a long text is bounded, however many directional
    /// words and however long words it has.
    #[test]
    fn directed_pairs_are_bounded() {
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("from w{i}{} to v{i} ", "x".repeat(50)));
        }
        let long = signature(&text);
        assert!(
            long.directed.len() <= MAX_DIRECTED,
            "{}",
            long.directed.len()
        );
        assert!(long.matches(&signature(&text)));
        // A long text whose direction differs past the cap still misses.
        let flipped = text.replacen("from w4999", "to w4999", 1);
        assert!(!long.matches(&signature(&flipped)));
    }

    #[test]
    fn empty_and_symbol_only_texts_share_the_empty_signature() {
        assert_eq!(signature("").key, signature("?! …").key);
        assert_ne!(signature("").key, signature("0").key);
    }
}
