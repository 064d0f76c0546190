//! Reasoning effort: the values OpenAI's reasoning models take as `reasoning_effort`, which
//! differ from model to model (GPT-5 has `minimal` and no `none`, GPT-6.1 Sol neither, the
//! GPT-5.4 family defaults to `none`).

use serde::Deserialize;

/// One `reasoning_effort` value, in increasing order of effort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    /// No reasoning.
    None,
    /// The least reasoning (GPT-5).
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Extra high.
    Xhigh,
    /// The most.
    Max,
}

impl Effort {
    /// Every value, in order.
    pub const ALL: [Effort; 7] = [
        Effort::None,
        Effort::Minimal,
        Effort::Low,
        Effort::Medium,
        Effort::High,
        Effort::Xhigh,
        Effort::Max,
    ];

    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
            Effort::Max => "max",
        }
    }

    /// The value spelled `s`, if it is one.
    pub fn parse(s: &str) -> Option<Effort> {
        Effort::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The value of `supported` nearest to this one (the higher of two equally near);
    /// `None` when `supported` is empty.
    pub fn nearest(self, supported: &[Effort]) -> Option<Effort> {
        let rank = |e: Effort| Effort::ALL.iter().position(|a| *a == e).unwrap_or(0) as i64;
        supported
            .iter()
            .copied()
            .min_by_key(|e| ((rank(*e) - rank(self)).abs(), -rank(*e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_maps_to_the_nearest_the_model_takes() {
        let gpt5 = [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High];
        let sol = [Effort::Low, Effort::Medium, Effort::High, Effort::Xhigh];
        assert_eq!(Effort::None.nearest(&gpt5), Some(Effort::Minimal));
        assert_eq!(Effort::Xhigh.nearest(&gpt5), Some(Effort::High));
        assert_eq!(Effort::None.nearest(&sol), Some(Effort::Low));
        assert_eq!(Effort::Max.nearest(&sol), Some(Effort::Xhigh));
        assert_eq!(Effort::Medium.nearest(&sol), Some(Effort::Medium));
        assert_eq!(Effort::Medium.nearest(&[]), None);
        assert_eq!(Effort::parse("xhigh"), Some(Effort::Xhigh));
        assert_eq!(Effort::parse("extreme"), None);
    }
}
