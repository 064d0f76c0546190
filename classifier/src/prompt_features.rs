//! Prompt statistics the sentence embedding does not carry well, as a few extra input features.
//!
//! MiniLM reads at most 128 or 256 tokens (head and tail of longer prompts) and mean-pools them
//! into a unit vector, so how long a prompt is, how much of it is code, numbers or formulas,
//! and whether it is English are weak in the embedding, yet they say something about how hard
//! a prompt is for a small model. Each feature is computed on the whole text and scaled to
//! about `[0, 1]`, then multiplied by [`FEATURE_SCALE`] so that, appended to a unit-length
//! embedding, they do not swamp kNN's similarities.

/// Number of features.
pub const PROMPT_FEATURES: usize = 7;

/// Multiplier on every feature (the embedding has unit length; each feature is at most this).
pub const FEATURE_SCALE: f32 = 0.3;

/// Names, in order (for reports and manifests).
pub const PROMPT_FEATURE_NAMES: [&str; PROMPT_FEATURES] = [
    "log_chars",
    "log_lines",
    "digits",
    "code_symbols",
    "math_symbols",
    "non_ascii",
    "questions",
];

/// The features of `text`, each in `[0, FEATURE_SCALE]`.
pub fn prompt_features(text: &str) -> [f32; PROMPT_FEATURES] {
    let (mut chars, mut lines, mut digits, mut code, mut math, mut non_ascii, mut questions) =
        (0usize, 1usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        chars += 1;
        match c {
            '\n' => lines += 1,
            '0'..='9' => digits += 1,
            '{' | '}' | ';' | '(' | ')' | '[' | ']' | '_' | '`' | '#' => code += 1,
            '=' | '+' | '*' | '/' | '^' | '$' | '\\' | '<' | '>' | '%' => math += 1,
            '?' => questions += 1,
            c if !c.is_ascii() => non_ascii += 1,
            _ => {}
        }
    }
    let share = |k: usize| {
        if chars == 0 {
            0.0
        } else {
            k as f32 / chars as f32
        }
    };
    // Lengths on a log scale: 10⁵ characters or 10³ lines and more read as 1.
    let log_scaled = |v: usize, top: f32| ((v as f32).ln_1p() / top.ln_1p()).min(1.0);
    let raw = [
        log_scaled(chars, 1e5),
        log_scaled(lines, 1e3),
        (share(digits) * 4.0).min(1.0),
        (share(code) * 8.0).min(1.0),
        (share(math) * 8.0).min(1.0),
        share(non_ascii),
        log_scaled(questions, 20.0),
    ];
    raw.map(|v| v * FEATURE_SCALE)
}

/// `embedding` followed by the features of `text`.
pub fn with_prompt_features(embedding: &[f32], text: &str) -> Vec<f32> {
    let mut out = Vec::with_capacity(embedding.len() + PROMPT_FEATURES);
    out.extend_from_slice(embedding);
    out.extend_from_slice(&prompt_features(text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_bounded_and_tell_prompts_apart() {
        for text in [
            "",
            "?",
            &"x".repeat(1_000_000),
            &"\n".repeat(5000),
            "日本語のテキスト",
        ] {
            let f = prompt_features(text);
            assert!(
                f.iter().all(|v| (0.0..=FEATURE_SCALE).contains(v)),
                "{text:.20}: {f:?}"
            );
        }
        let prose = prompt_features("What is the capital of France?");
        let code = prompt_features("fn main() { let x = vec![1, 2]; println!(\"{x}\"); }");
        let maths = prompt_features("Solve 3x^2 + 4x = 12 for x, where x > 0.");
        assert!(code[3] > prose[3] && code[3] > maths[3]);
        assert!(maths[4] > prose[4] && maths[2] > prose[2]);
        assert!(prose[6] > 0.0 && code[6] == 0.0);
        assert_eq!(
            with_prompt_features(&[1.0, 0.0], "a").len(),
            2 + PROMPT_FEATURES
        );
    }
}
