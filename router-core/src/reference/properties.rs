//! [`Reference`] as a whole: serde shape, each kind's scoring of realistic replies, and
//! properties over arbitrary replies (never a panic, always a score in [0, 1]).

use proptest::prelude::*;

use super::*;

fn choice(answer: &str) -> Reference {
    Reference::Choice {
        answer: answer.to_owned(),
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn serde_shape_is_tagged_by_kind() {
    let r: Reference = serde_json::from_str(r#"{"kind":"choice","answer":"C"}"#).unwrap();
    assert_eq!(r, choice("C"));
    let r: Reference = serde_json::from_str(r#"{"kind":"judge"}"#).unwrap();
    assert_eq!(r, Reference::Judge { guide: None });
    assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"kind":"judge"}"#);
    let r = Reference::Text {
        answers: strings(&["Paris"]),
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"kind":"text","answers":["Paris"]}"#
    );
    assert!(serde_json::from_str::<Reference>(r#"{"kind":"essay"}"#).is_err());
    assert!(serde_json::from_str::<Reference>(r#"{"kind":"number"}"#).is_err());
}

#[test]
fn choice_scores_the_chosen_letter() {
    let r = choice("C");
    for reply in [
        "\\boxed{C}",
        "Jupiter is the largest planet, so the answer is \\boxed{\\text{C}}.",
        "\\boxed{(c)}",
        "The answer is (C).",
        "Answer: C",
        "C",
        "C. Jupiter",
        "Let me think.\n\n(C) Jupiter",
    ] {
        assert_eq!(r.score(reply), Some(1.0), "{reply}");
    }
    for reply in [
        "\\boxed{B}",
        "The answer is (B).",
        "\\boxed{B, C}",
        "The answer is C or D.",
        "Jupiter",
        "",
        "A. Mars\nB. Venus\nC. Jupiter",
    ] {
        assert_eq!(r.score(reply), Some(0.0), "{reply}");
    }
    // A box is final: an earlier "answer is C" does not rescue a boxed B.
    assert_eq!(r.score("The answer is C... no: \\boxed{B}"), Some(0.0));
    // Lower-case references work too; a non-letter reference is compared exactly.
    assert_eq!(choice("c").score("\\boxed{C}"), Some(1.0));
    assert_eq!(choice("Paris").score("Answer: Paris"), Some(1.0));
}

#[test]
fn number_and_exact_use_check() {
    let r = Reference::Number {
        answer: "20000".to_owned(),
    };
    assert_eq!(r.score("So Blake gave $20,000. \\boxed{20,000}"), Some(1.0));
    assert_eq!(r.score("\\boxed{20001}"), Some(0.0));
    let r = Reference::Number {
        answer: "1.4%".to_owned(),
    };
    assert_eq!(r.score("The change is \\boxed{1.4\\%}"), Some(1.0));
    let r = Reference::Exact {
        answer: "g4f3".to_owned(),
    };
    assert_eq!(r.score("The missing move is \\boxed{g4f3}."), Some(1.0));
    assert_eq!(r.score("\\boxed{g4f2}"), Some(0.0));
}

#[test]
fn text_and_concepts_are_fractional() {
    let r = Reference::Text {
        answers: strings(&["bayreuth germany"]),
    };
    assert_eq!(r.score("The answer is Bayreuth, Germany."), Some(1.0));
    let partial = r.score("Bayreuth").unwrap();
    assert!(partial > 0.0 && partial < 1.0, "{partial}");
    let r = Reference::Concepts {
        concepts: strings(&["dog", "frisbee", "catch", "throw"]),
    };
    assert_eq!(
        r.score("The dog catches the frisbee that I throw."),
        Some(1.0)
    );
    assert_eq!(r.score("The dog sleeps."), Some(0.25));
}

#[test]
fn judge_has_no_automatic_score() {
    let r = Reference::Judge {
        guide: Some("assert f(1) == 2".to_owned()),
    };
    assert!(r.needs_judge());
    assert_eq!(r.score("def f(x): return x + 1"), None);
    assert!(!choice("A").needs_judge());
    assert_eq!(r.kind(), "judge");
}

#[test]
fn defects_name_unusable_references() {
    assert!(choice("C").defect().is_none());
    assert!(choice("K").defect().is_some());
    assert!(Reference::Number {
        answer: "many".to_owned()
    }
    .defect()
    .is_some());
    assert!(Reference::Exact {
        answer: " . ".to_owned()
    }
    .defect()
    .is_some());
    assert!(Reference::Text {
        answers: strings(&["the"])
    }
    .defect()
    .is_some());
    assert!(Reference::Concepts { concepts: vec![] }.defect().is_some());
    assert!(Reference::Judge { guide: None }.defect().is_none());
}

#[test]
fn huge_and_unicode_replies_are_fine() {
    let huge = "Jupiter é 木星 ".repeat(200_000) + "\\boxed{C}";
    assert_eq!(choice("C").score(&huge), Some(1.0));
    let text = Reference::Text {
        answers: strings(&["木星"]),
    };
    assert_eq!(text.score(&huge), Some(1.0));
    let concepts = Reference::Concepts {
        concepts: strings(&["jupiter", "saturn"]),
    };
    assert_eq!(concepts.score(&huge), Some(0.5));
    let unclosed = "\\boxed{".repeat(100_000);
    assert_eq!(choice("C").score(&unclosed), Some(0.0));
}

fn any_reference() -> impl Strategy<Value = Reference> {
    let word = "[a-zA-Z0-9é木 .,()-]{0,12}";
    prop_oneof![
        word.prop_map(|answer| Reference::Choice { answer }),
        word.prop_map(|answer| Reference::Number { answer }),
        word.prop_map(|answer| Reference::Exact { answer }),
        proptest::collection::vec(word, 0..4).prop_map(|answers| Reference::Text { answers }),
        proptest::collection::vec(word, 0..4).prop_map(|concepts| Reference::Concepts { concepts }),
    ]
}

proptest! {
    #[test]
    fn scores_stay_in_the_unit_interval(reference in any_reference(), reply in any::<String>()) {
        let score = reference.score(&reply).unwrap();
        prop_assert!((0.0..=1.0).contains(&score), "{score}");
    }

    #[test]
    fn latex_flavoured_replies_never_panic(
        reference in any_reference(),
        reply in "(\\\\boxed\\{|\\\\text\\{|[{}()]|answer is|Answer:|[A-Ja-j]|[.,:* \n]|é|木){0,40}",
    ) {
        let score = reference.score(&reply).unwrap();
        prop_assert!((0.0..=1.0).contains(&score), "{score}");
    }

    #[test]
    fn a_boxed_letter_is_always_read(letter in "[A-Ja-j]", noise in "[^\\\\]{0,200}") {
        let reply = format!("{noise}\n\\boxed{{{letter}}}");
        prop_assert_eq!(choice(&letter).score(&reply), Some(1.0));
    }
}
