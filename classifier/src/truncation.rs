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
    /// to tokenize than a few thousand characters. `keep_chars` per side is chosen far above what
    /// `budget` tokens can hold (no WordPiece token is shorter than one character), so the token
    /// cut that follows sees the same head and tail it would have seen on the whole text.
    pub fn precut(self, text: &str, keep_chars: usize) -> std::borrow::Cow<'_, str> {
        let total = text.chars().count();
        if total <= 2 * keep_chars {
            return std::borrow::Cow::Borrowed(text);
        }
        let head_end = text
            .char_indices()
            .nth(keep_chars)
            .map_or(text.len(), |(i, _)| i);
        match self {
            Truncation::Head => std::borrow::Cow::Borrowed(&text[..head_end]),
            Truncation::HeadTail => {
                let tail_start = text
                    .char_indices()
                    .nth(total - keep_chars)
                    .map_or(text.len(), |(i, _)| i);
                // A space keeps the last head word and the first tail word apart.
                std::borrow::Cow::Owned(format!("{} {}", &text[..head_end], &text[tail_start..]))
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
        let cut = Truncation::HeadTail.precut(&text, 10);
        assert_eq!(cut, format!("{} {}", "é".repeat(10), "中".repeat(10)));
        assert_eq!(Truncation::Head.precut(&text, 10), "é".repeat(10));
        assert_eq!(Truncation::HeadTail.precut("short", 10), "short");
    }
}
