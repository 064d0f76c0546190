//! "Did you mean" suggestions for unknown model names.

/// Levenshtein distance over chars, case-insensitive (two-row dynamic programme).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Longest name a suggestion is searched for.
const MAX_SUGGESTED_LEN: usize = 256;

/// The known name closest to `wanted`, if it is close enough to be a plausible typo: within
/// a third of the longer name's length, or containing / contained in `wanted`.
pub(crate) fn closest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    // The search is linear in the name's length per known name: a name longer than any
    // plausible typo gets no suggestion instead of costing seconds of CPU.
    if wanted.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let lower = wanted.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for name in known {
        let name_lower = name.to_lowercase();
        let d = if !lower.is_empty() && (name_lower.contains(&lower) || lower.contains(&name_lower))
        {
            // Substring matches ("gpt4o-mini" vs "gpt-4o-mini" aside) rank by the length gap.
            name_lower.len().abs_diff(lower.len())
        } else {
            let d = distance(wanted, name);
            if d * 3 > wanted.chars().count().max(name.chars().count()) {
                continue;
            }
            d
        };
        if best.is_none_or(|(bd, bn)| d < bd || (d == bd && name < bn)) {
            best = Some((d, name));
        }
    }
    best.map(|(_, n)| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("GPT-4o", "gpt-4o"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn closest_finds_typos_and_rejects_far_names() {
        let known = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4.5"];
        assert_eq!(
            closest("gpt-4o-mni", known.iter().copied()).as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            closest("claude-sonet-4.5", known.iter().copied()).as_deref(),
            Some("claude-sonnet-4.5")
        );
        assert_eq!(closest("llama-70b", known.iter().copied()), None);
        // Issue 11: a huge name costs nothing and gets no suggestion.
        let huge = "gpt-4o".repeat(200_000);
        assert_eq!(closest(&huge, known.iter().copied()), None);
    }
}
