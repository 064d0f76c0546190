//! How over-long prompts are cut to the encoder's token budget.
//!
//! Routing needs to know what a prompt asks for and how it ends (the question after a long
//! context, the instruction after pasted code), so the default keeps the head and the tail and
//! drops the middle, the strategy Sun et al. (2019, "How to Fine-Tune BERT for Text
//! Classification?") found best for long documents.

use serde::{Deserialize, Serialize};

/// Which tokens survive when a text is longer than the budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Keep the first half and the last half of the budget (default).
    #[default]
    HeadTail,
    /// Keep the beginning only.
    Head,
}

impl Truncation {
    /// Cuts `content` (token ids without special tokens) to at most `budget` ids.
    pub fn apply(self, content: &[u32], budget: usize) -> Vec<u32> {
        if content.len() <= budget {
            return content.to_vec();
        }
        match self {
            Truncation::Head => content[..budget].to_vec(),
            Truncation::HeadTail => {
                let head = budget.div_ceil(2);
                let tail = budget - head;
                let mut kept = Vec::with_capacity(budget);
                kept.extend_from_slice(&content[..head]);
                kept.extend_from_slice(&content[content.len() - tail..]);
                kept
            }
        }
    }

    /// Cuts a text by characters before tokenizing, so a 200,000-character prompt costs no more
    /// to tokenize than a few thousand characters: the head (and, for `HeadTail`, the tail) of
    /// `keep_chars` characters each, joined by a space; the text itself when it is short
    /// enough. A cut inside a word moves to the nearest space within a word's length (the
    /// tokenizer's 100 characters), so no part of a cut word enters as word pieces the text
    /// never had. The caller checks that each side still holds its share of the token budget
    /// (texts of long unsplittable runs, such as base64, hold far fewer tokens per character)
    /// and cuts again with more characters where not ([`Self::sides_filled`]): so the cut text
    /// comes with its head's length in bytes (`None` when the text is kept whole).
    pub fn precut(
        self,
        text: &str,
        keep_chars: usize,
    ) -> (std::borrow::Cow<'_, str>, Option<usize>) {
        match self.precut_sides(text, keep_chars) {
            None => (std::borrow::Cow::Borrowed(text), None),
            Some((head, "")) => (std::borrow::Cow::Borrowed(head), Some(head.len())),
            Some((head, tail)) => (
                std::borrow::Cow::Owned(format!("{head} {tail}")),
                Some(head.len()),
            ),
        }
    }

    /// The head and tail [`Self::precut`] keeps (the tail empty for `Head`); `None` when the
    /// text is kept whole.
    fn precut_sides(self, text: &str, keep_chars: usize) -> Option<(&str, &str)> {
        /// The tokenizer's longest word (`max_input_chars_per_word`); a cut searches this far
        /// for a space.
        const WORD: usize = 100;
        let total = text.chars().count();
        if total <= 2 * keep_chars {
            return None;
        }
        let at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
        let mut head_end = at(keep_chars);
        // A cut right before a space is already between words.
        if !text[head_end..].starts_with(char::is_whitespace) {
            let space = text[..head_end]
                .char_indices()
                .rev()
                .take(WORD)
                .find(|(_, c)| c.is_whitespace());
            if let Some((i, _)) = space {
                head_end = i;
            }
        }
        let head = &text[..head_end];
        match self {
            Truncation::Head => Some((head, "")),
            Truncation::HeadTail => {
                let mut tail_start = at(total - keep_chars);
                if !text[..tail_start].ends_with(char::is_whitespace) {
                    let space = text[tail_start..]
                        .char_indices()
                        .take(WORD)
                        .find(|(_, c)| c.is_whitespace());
                    if let Some((i, c)) = space {
                        tail_start += i + c.len_utf8();
                    }
                }
                Some((head, &text[tail_start..]))
            }
        }
    }

    /// Whether a precut text's tokens (their byte offsets in it) still fill the budget on each
    /// side: `head_bytes` is the length of its head part.
    pub fn sides_filled(
        self,
        offsets: &[(usize, usize)],
        head_bytes: usize,
        budget: usize,
    ) -> bool {
        let head = offsets
            .iter()
            .filter(|(start, _)| *start < head_bytes)
            .count();
        let tail = offsets.len() - head;
        match self {
            Truncation::Head => head >= budget,
            Truncation::HeadTail => {
                head >= budget.div_ceil(2) && tail >= budget - budget.div_ceil(2)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_tail_keeps_both_ends() {
        let ids: Vec<u32> = (0..10).collect();
        assert_eq!(Truncation::HeadTail.apply(&ids, 4), vec![0, 1, 8, 9]);
        assert_eq!(Truncation::HeadTail.apply(&ids, 5), vec![0, 1, 2, 8, 9]);
        assert_eq!(Truncation::Head.apply(&ids, 3), vec![0, 1, 2]);
        assert_eq!(Truncation::HeadTail.apply(&ids, 20), ids);
    }

    #[test]
    fn precut_respects_char_boundaries() {
        let text = "é".repeat(100) + &"中".repeat(100);
        let (cut, head) = Truncation::HeadTail.precut(&text, 10);
        assert_eq!(cut, format!("{} {}", "é".repeat(10), "中".repeat(10)));
        assert_eq!(head, Some("é".repeat(10).len()));
        assert_eq!(Truncation::Head.precut(&text, 10).0, "é".repeat(10));
        assert_eq!(
            Truncation::HeadTail.precut("short", 10),
            (std::borrow::Cow::Borrowed("short"), None)
        );
    }
}
