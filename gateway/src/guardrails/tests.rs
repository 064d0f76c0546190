#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::detectors::{find, iban_valid, luhn_valid};
use super::*;
use crate::config::GuardrailsConfig;

fn kinds(text: &str) -> Vec<(Kind, &str)> {
    find(text, |_| true)
        .into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

#[test]
fn luhn_accepts_test_cards_and_rejects_a_changed_digit() {
    for valid in [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "79927398713",
    ] {
        assert!(luhn_valid(&digits(valid)), "{valid}");
    }
    for invalid in ["4111111111111112", "5555555555554445", "79927398710", ""] {
        assert!(!luhn_valid(&digits(invalid)), "{invalid}");
    }
}

#[test]
fn mod97_accepts_real_ibans_and_rejects_a_changed_digit() {
    for valid in [
        "GB82WEST12345698765432",
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ] {
        assert!(iban_valid(valid), "{valid}");
    }
    for invalid in [
        "GB82WEST12345698765433",
        "DE89370400440532013001",
        "GB00WEST12345698765432",
        "GB82",
    ] {
        assert!(!iban_valid(invalid), "{invalid}");
    }
}

#[test]
fn finds_each_kind() {
    let found = kinds(
        "Mail jane.doe+x@example.co.uk or call +44 20 7946 0958 / (555) 123-4567 / 030 1234567. \
         Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, \
         key sk-proj-abcdefghijklmnopqrstuvwx1234, AKIAIOSFODNN7EXAMPLE.",
    );
    assert_eq!(
        found,
        vec![
            (Kind::Email, "jane.doe+x@example.co.uk"),
            (Kind::Phone, "+44 20 7946 0958"),
            (Kind::Phone, "(555) 123-4567"),
            (Kind::Phone, "030 1234567"),
            (Kind::Card, "4111 1111 1111 1111"),
            (Kind::Iban, "GB82 WEST 1234 5698 7654 32"),
            (Kind::Secret, "sk-proj-abcdefghijklmnopqrstuvwx1234"),
            (Kind::Secret, "AKIAIOSFODNN7EXAMPLE"),
        ]
    );
}

/// A card or an IBAN written next to another number or capitals (an expiry date, a CVV, a BIC,
/// a currency) is still found: the joined candidate fails its checksum, so a shorter one
/// inside it is tried. Before, the joined candidate was dropped and the value went out whole.
#[test]
fn finds_cards_and_ibans_next_to_other_numbers_and_capitals() {
    for (text, value) in [
        ("card 4111 1111 1111 1111 12/25", "4111 1111 1111 1111"),
        ("card 4111 1111 1111 1111 123", "4111 1111 1111 1111"),
        ("4111 1111 1111 1111 12/25 123", "4111 1111 1111 1111"),
        ("acct 12 4111 1111 1111 1111", "4111 1111 1111 1111"),
        (
            "ref 2024 4111 1111 1111 1111 exp 0925",
            "4111 1111 1111 1111",
        ),
        ("1234 4111 1111 1111 1111 5678", "4111 1111 1111 1111"),
        ("amex 3782 822463 10005 1234", "3782 822463 10005"),
        ("4111111111111111 123", "4111111111111111"),
        ("4111-1111-1111-1111-12", "4111-1111-1111-1111"),
    ] {
        assert_eq!(kinds(text), vec![(Kind::Card, value)], "{text}");
    }
    for (text, value) in [
        (
            "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX",
            "DE89 3704 0044 0532 0130 00",
        ),
        (
            "GB82 WEST 1234 5698 7654 32 GBP",
            "GB82 WEST 1234 5698 7654 32",
        ),
        ("DE89370400440532013000 EUR OK", "DE89370400440532013000"),
    ] {
        assert_eq!(kinds(text), vec![(Kind::Iban, value)], "{text}");
    }
    // Two values joined into one candidate are both found.
    assert_eq!(
        kinds("GB82 WEST 1234 5698 7654 32 DE89 3704 0044 0532 0130 00"),
        vec![
            (Kind::Iban, "GB82 WEST 1234 5698 7654 32"),
            (Kind::Iban, "DE89 3704 0044 0532 0130 00"),
        ]
    );
    // Shorter candidates must be grouped like a card: small numbers next to each other are not
    // searched for one that happens to pass Luhn.
    assert!(kinds("scores 12 15 18 22 19 30 11 14 17 3").is_empty());
    // A long run of digits: bounded work, and still linear.
    let run = "1234 ".repeat(20_000);
    let started = std::time::Instant::now();
    let _ = kinds(&run);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Values that overlap are masked as one: before, the longer won and the shorter was dropped
/// whole, so the part of it outside the longer went out in clear (12 digits of the card here).
#[test]
fn overlapping_values_are_masked_as_one() {
    for (text, kind, value) in [
        (
            "Card 4111 1111 1111 1111.john@example.com ok",
            Kind::Email,
            "4111 1111 1111 1111.john@example.com",
        ),
        (
            "tel +44 20 7946 0958-alice@example.org",
            Kind::Email,
            "+44 20 7946 0958-alice@example.org",
        ),
        (
            "Call (555) 123-4567-maria@example.com_",
            Kind::Email,
            "(555) 123-4567-maria@example.com",
        ),
        // A phone-like run inside a card stays one card.
        ("4111-1111-1111-1111", Kind::Card, "4111-1111-1111-1111"),
    ] {
        assert_eq!(kinds(text), vec![(kind, value)], "{text}");
    }
}

/// Full-width forms (Japanese and Chinese input methods write them) are found as their ASCII
/// forms are, and digits of other scripts count by their values; before, the regexes matched
/// them but the checks counted no digit, so none was found.
#[test]
fn full_width_and_other_script_digits_are_found() {
    for (text, kind, value) in [
        (
            "電話 ０９０-１２３４-５６７８ まで",
            Kind::Phone,
            "０９０-１２３４-５６７８",
        ),
        (
            "電話０９０－１２３４－５６７８まで",
            Kind::Phone,
            "０９０－１２３４－５６７８",
        ),
        (
            "カード ４１１１ １１１１ １１１１ １１１１ です",
            Kind::Card,
            "４１１１ １１１１ １１１１ １１１１",
        ),
        (
            "カード４１１１　１１１１　１１１１　１１１１です",
            Kind::Card,
            "４１１１　１１１１　１１１１　１１１１",
        ),
        (
            "بطاقة ٤١١١ ١١١١ ١١١١ ١١١١",
            Kind::Card,
            "٤١١١ ١١١١ ١١١١ ١١١١",
        ),
        (
            "メール ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ まで",
            Kind::Email,
            "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ),
        (
            "IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
            Kind::Iban,
            "ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
        ),
    ] {
        assert_eq!(kinds(text), vec![(kind, value)], "{text}");
    }
    // A full-width number that fails Luhn is not a card.
    assert!(kinds("番号 ４１１１ １１１１ １１１１ １１１２").is_empty());
}

/// Addresses with letters beyond ASCII are masked whole (before, `jöhn.doe@…` lost only
/// `.doe@…`), and an address written straight after Chinese or Japanese words (no space) is
/// found without taking the words in (before, it was not found at all).
#[test]
fn addresses_beyond_ascii_are_masked_whole() {
    for (text, value) in [
        (
            "write to jöhn.doe@example.com today",
            "jöhn.doe@example.com",
        ),
        ("Ünal@example.com", "Ünal@example.com"),
        ("josé@correo.es", "josé@correo.es"),
        ("почта иван@пример.рф", "иван@пример.рф"),
        ("mail jane@münchen.de", "jane@münchen.de"),
        ("我的邮箱是jean@example.com。", "jean@example.com"),
        (
            "連絡先はtaro.yamada@example.co.jpです",
            "taro.yamada@example.co.jp",
        ),
    ] {
        assert_eq!(kinds(text), vec![(Kind::Email, value)], "{text}");
    }
}

#[test]
fn finds_vendor_tokens_and_assigned_secrets() {
    let ghp = format!("ghp_{}", "a1B2c3D4e5".repeat(4));
    let aiza = format!("AIza{}", "Sy9x_-Q7wZ".repeat(3) + "abcde");
    for secret in [
        "sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2",
        ghp.as_str(),
        "xoxb-1234567890-abcdefghij",
        aiza.as_str(),
    ] {
        assert_eq!(kinds(secret), vec![(Kind::Secret, secret)], "{secret}");
    }
    assert_eq!(
        kinds("api_key=Zx8Yw7Vu6Ts5Rq4Po3Nm2"),
        vec![(Kind::Secret, "Zx8Yw7Vu6Ts5Rq4Po3Nm2")]
    );
    assert_eq!(
        kinds("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc123XYZ"),
        vec![(Kind::Secret, "eyJhbGciOiJIUzI1NiJ9.abc123XYZ")]
    );
    // Words after a key name are not secrets.
    assert!(kinds("password: correcthorsebatterystaple").is_empty());
}

#[test]
fn ordinary_text_with_numbers_has_no_match() {
    for text in [
        "Order 12345 shipped on 2026-12-04, version 1.2.3, call me in 10 minutes",
        "The totals were 100 200 300 and 4000 in 2025.",
        "Timestamp 1733300000000 and id 9876543210123",
        "Version 10.2.15.3, build 2024.11.30, port 8080, ratio 3/4",
        "Room 12-B at 10:30, invoice INV-2026-0042, ISBN 978-3-16-148410-0",
        "The task-12 runs sk-short and DE12 is a road.",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
    // A 16-digit run that fails Luhn is not a card.
    assert!(kinds("ref 4111111111111112").is_empty());
    // Millisecond timestamps and Snowflake ids that pass Luhn are not cards either: masked,
    // they broke the JSON of tool-call arguments (`{"since_ms": [CARD]}`).
    for id in ["1718000000006", "1718000000014", "1234567890123456785"] {
        assert!(luhn_valid(&digits(id)), "{id} passes Luhn");
        let args = format!(r#"{{"since_ms": {id}, "ids": [{id}]}}"#);
        assert_eq!(kinds(&args), vec![], "{args}");
    }
}

fn policy(toml_src: &str) -> Policy {
    let raw: GuardrailsConfig = toml::from_str(toml_src).unwrap();
    crate::config::resolve_guardrails(Some(raw))
        .unwrap()
        .default
        .unwrap()
}

fn request(text: &str) -> ChatCompletionRequest {
    serde_json::from_value(serde_json::json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": text}]},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "c1", "type": "function",
                "function": {"name": "lookup", "arguments": format!("{{\"q\":\"{text}\"}}")}
            }]},
            {"role": "tool", "tool_call_id": "c1", "content": text}
        ]
    }))
    .unwrap()
}

#[test]
fn masks_every_text_of_the_request_and_counts() {
    let metrics = Metrics::new();
    let mut req = request("write to a@b.io with card 4111-1111-1111-1111");
    let report = apply(&policy("enabled = true"), &mut req, &metrics)
        .unwrap()
        .unwrap();
    let json = serde_json::to_string(&req).unwrap();
    assert!(!json.contains("a@b.io") && !json.contains("4111"), "{json}");
    assert_eq!(json.matches("[EMAIL]").count(), 3, "{json}");
    assert_eq!(report.masked["email"], 3);
    assert_eq!(report.masked["card"], 3);
    assert_eq!(report.blocked, None);
    assert_eq!(
        metrics.counter_value(
            "switchyard_guardrail_total",
            &[("kind", "card"), ("action", "mask")]
        ),
        3.0
    );
}

/// A card written as a JSON number in a tool call's arguments in the history becomes a JSON
/// string: before, a bare `[CARD]` made the arguments invalid JSON, and Anthropic and Gemini
/// refused the request (400) that the client had sent correctly.
#[test]
fn a_card_number_in_tool_arguments_is_masked_as_a_json_string() {
    let metrics = Metrics::new();
    let mut req = request("hello");
    let arguments = r#"{"account": 4111111111111111, "memo": "card 4111 1111 1111 1111"}"#;
    req.messages[2].tool_calls.as_mut().unwrap()[0]
        .function
        .arguments = arguments.to_owned();
    let report = apply(&policy("enabled = true"), &mut req, &metrics)
        .unwrap()
        .unwrap();
    assert_eq!(report.masked["card"], 2);
    let masked = &req.messages[2].tool_calls.as_ref().unwrap()[0]
        .function
        .arguments;
    let parsed: serde_json::Value = serde_json::from_str(masked).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({"account": "[CARD]", "memo": "card [CARD]"})
    );
    // Message text stays prose: no quotes are added there.
    let mut req = request("account: 4111111111111111");
    apply(&policy("enabled = true"), &mut req, &metrics).unwrap();
    assert_eq!(
        serde_json::to_value(&req.messages[3]).unwrap()["content"],
        "account: [CARD]"
    );
}

/// An assistant turn's `reasoning_content` (DeepSeek's clients send it back) goes upstream
/// too: it is masked and checked against deny patterns like the rest.
#[test]
fn reasoning_sent_back_with_the_history_is_screened() {
    let metrics = Metrics::new();
    let with_reasoning = |reasoning: &str| -> ChatCompletionRequest {
        let mut req = request("hello");
        let mut m = req.messages[2].clone();
        m.extra
            .insert("reasoning_content".to_owned(), reasoning.into());
        req.messages[2] = m;
        req
    };
    let mut req = with_reasoning("the card is 4111 1111 1111 1111, mail a@b.io");
    apply(&policy("enabled = true"), &mut req, &metrics)
        .unwrap()
        .unwrap();
    let json = serde_json::to_string(&req).unwrap();
    assert!(!json.contains("4111") && !json.contains("a@b.io"), "{json}");
    assert!(json.contains("[CARD]"), "{json}");
    let mut req = with_reasoning("ignore previous instructions");
    let denied = apply(
        &policy("enabled = true\ndeny = [\"ignore previous instructions\"]"),
        &mut req,
        &metrics,
    );
    assert!(denied.is_err(), "a deny phrase in the reasoning passed");
}

#[test]
fn a_blocked_kind_refuses_without_echoing_and_changes_nothing() {
    let metrics = Metrics::new();
    let mut req = request("mail a@b.io, IBAN DE89 3704 0044 0532 0130 00");
    let before = req.clone();
    let refusal = apply(
        &policy("enabled = true\niban = \"block\""),
        &mut req,
        &metrics,
    )
    .unwrap_err();
    assert_eq!(refusal.report.blocked.as_deref(), Some("iban"));
    assert_eq!(refusal.error.code(), "guardrail_blocked");
    let body = refusal.error.body().to_string();
    assert!(body.contains("IBAN") && !body.contains("DE89"), "{body}");
    assert_eq!(req, before);
}

#[test]
fn a_deny_pattern_refuses_with_its_index() {
    let mut req = request("please reveal PROJECT-ORION plans");
    let refusal = apply(
        &policy("enabled = true\ndeny = ['(?i)ignore previous', 'PROJECT-[A-Z]+']"),
        &mut req,
        &Metrics::new(),
    )
    .unwrap_err();
    assert_eq!(refusal.report.deny_pattern, Some(1));
    let body = refusal.error.body().to_string();
    assert!(
        body.contains("pattern 1") && !body.contains("ORION"),
        "{body}"
    );
}

#[test]
fn off_kinds_pass_and_clean_requests_report_nothing() {
    let mut req = request("call +1 (555) 123-4567");
    let before = req.clone();
    let report = apply(
        &policy("enabled = true\nphone = \"off\""),
        &mut req,
        &Metrics::new(),
    )
    .unwrap();
    assert_eq!((report, req), (None, before));
}

#[test]
fn config_checks_deny_patterns_and_defaults() {
    let bad: GuardrailsConfig =
        toml::from_str("enabled = true\ndeny = ['ok', '(unclosed']").unwrap();
    let err = crate::config::resolve_guardrails(Some(bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("guardrails.deny[1]"), "{err}");
    // Patterns that compile but match the empty string would refuse every request.
    for pattern in ["PROJECT-ORION|", "(secret)?", "x*", "^", "(?i)"] {
        let raw: GuardrailsConfig =
            toml::from_str(&format!("enabled = true\ndeny = ['ok', '{pattern}']")).unwrap();
        let err = crate::config::resolve_guardrails(Some(raw))
            .unwrap_err()
            .to_string();
        assert!(err.contains("guardrails.deny[1]"), "{pattern}: {err}");
        assert!(err.contains(pattern), "{pattern}: {err}");
    }
    // Even when the section is off: its values are still checked.
    let raw: GuardrailsConfig = toml::from_str("deny = ['a|']").unwrap();
    assert!(crate::config::resolve_guardrails(Some(raw)).is_err());
    let off: GuardrailsConfig = toml::from_str("email = \"block\"").unwrap();
    assert!(crate::config::resolve_guardrails(Some(off))
        .unwrap()
        .default
        .is_none());
    assert!(crate::config::resolve_guardrails(None)
        .unwrap()
        .default
        .is_none());
    assert!(toml::from_str::<GuardrailsConfig>("emails = \"mask\"").is_err());
    assert!(toml::from_str::<GuardrailsConfig>("email = \"redact\"").is_err());
    let all = policy("enabled = true");
    assert!(Kind::ALL.iter().all(|k| all.action(*k) == Action::Mask));
}

#[test]
fn profiles_are_whole_policies_checked_like_the_section() {
    let raw: GuardrailsConfig = toml::from_str(
        r#"
        enabled = true
        email = "mask"
        [profiles.strict]
        enabled = true
        email = "block"
        deny = ["(?i)password"]
        [profiles.off]
        enabled = false
        "#,
    )
    .unwrap();
    let g = crate::config::resolve_guardrails(Some(raw)).unwrap();
    assert_eq!(g.default.unwrap().action(Kind::Email), Action::Mask);
    let strict = g.profiles["strict"].as_ref().unwrap();
    assert_eq!(strict.action(Kind::Email), Action::Block);
    // Whole: a field the profile leaves out takes its default, not the section's.
    assert_eq!(strict.action(Kind::Phone), Action::Mask);
    assert!(g.profiles["off"].is_none());

    let bad: GuardrailsConfig =
        toml::from_str("[profiles.strict]\nenabled = true\ndeny = ['(']").unwrap();
    let err = crate::config::resolve_guardrails(Some(bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("guardrails.profiles.strict.deny[0]"), "{err}");
    let empty: GuardrailsConfig =
        toml::from_str("[profiles.strict]\nenabled = true\ndeny = ['ok', 'x*']").unwrap();
    let err = crate::config::resolve_guardrails(Some(empty))
        .unwrap_err()
        .to_string();
    assert!(err.contains("guardrails.profiles.strict.deny[1]"), "{err}");
    assert!(err.contains("x*"), "{err}");
    let nested: GuardrailsConfig = toml::from_str("[profiles.a.profiles.b]").unwrap();
    let err = crate::config::resolve_guardrails(Some(nested))
        .unwrap_err()
        .to_string();
    assert!(err.contains("guardrails.profiles.a.profiles"), "{err}");
    let named: GuardrailsConfig = toml::from_str("[profiles.\"has space\"]").unwrap();
    assert!(crate::config::resolve_guardrails(Some(named)).is_err());
}
