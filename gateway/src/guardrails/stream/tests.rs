#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::openai::wire::{FinishReason, Role};

fn policy() -> Policy {
    let raw: crate::config::GuardrailsConfig =
        toml::from_str("enabled = true\nresponses = true").unwrap();
    crate::config::resolve_guardrails(Some(raw))
        .unwrap()
        .default
        .unwrap()
}

/// `text` masked whole, as a non-streamed answer's field is.
fn masked_whole(text: &str) -> (String, [u32; 5]) {
    masked_as(text, super::super::Form::Prose)
}

/// Masked whole as tool-call arguments (JSON) are.
fn masked_arguments(text: &str) -> (String, [u32; 5]) {
    masked_as(text, super::super::Form::Json)
}

fn masked_as(text: &str, form: super::super::Form) -> (String, [u32; 5]) {
    let mut t = text.to_owned();
    let mut counts = [0; 5];
    super::super::mask_all(&policy(), &mut t, form, &mut counts);
    (t, counts)
}

fn sum(a: [u32; 5], b: [u32; 5]) -> [u32; 5] {
    std::array::from_fn(|i| a[i] + b[i])
}

fn chunk_of(choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "c".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices,
        usage: None,
        system_fingerprint: None,
    }
}

fn text_chunk(text: &str, finish: bool) -> ChatCompletionChunk {
    chunk_of(vec![ChunkChoice::text_for_test(0, text, finish)])
}

/// A tool-call fragment: the first one of a call carries its id, type and name, the others an
/// empty `content` beside it, as some OpenAI-compatible servers send.
fn call_chunk(index: u32, first: bool, arguments: &str) -> ChatCompletionChunk {
    let call = ToolCallDelta {
        index,
        id: first.then(|| format!("call_{index}")),
        kind: first.then(|| "function".to_owned()),
        function: Some(FunctionCallDelta {
            name: first.then(|| "send".to_owned()),
            arguments: Some(arguments.to_owned()),
        }),
    };
    chunk_of(vec![ChunkChoice {
        delta: Delta {
            content: (!first).then(String::new),
            tool_calls: Some(vec![call]),
            ..Delta::default()
        },
        ..ChunkChoice::default()
    }])
}

fn finish_chunk() -> ChatCompletionChunk {
    chunk_of(vec![ChunkChoice {
        finish_reason: Some(FinishReason::ToolCalls),
        ..ChunkChoice::default()
    }])
}

/// `text` in pieces of at most `size` bytes, on char boundaries (at least one char each).
fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let at = floor_boundary(rest, size).max(first.len_utf8());
        let (piece, tail) = rest.split_at(at);
        out.push(piece);
        rest = tail;
    }
    out
}

/// What a client puts together from the chunks it sees, and the order fields arrived in.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    content: String,
    /// By tool-call index: id, name, arguments.
    calls: BTreeMap<u32, (Option<String>, Option<String>, String)>,
    /// Each field as it first appears or comes back (one entry per run of one field).
    order: Vec<Field>,
}

impl Seen {
    fn note(&mut self, field: Field) {
        if self.order.last() != Some(&field) {
            self.order.push(field);
        }
    }

    fn take(&mut self, chunk: &ChatCompletionChunk) {
        for choice in &chunk.choices {
            let delta = &choice.delta;
            if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.note(Field::Content);
                self.content.push_str(text);
            }
            for call in delta.tool_calls.iter().flatten() {
                self.note(Field::Arguments(call.index));
                let entry = self.calls.entry(call.index).or_default();
                if let Some(id) = &call.id {
                    // The first fragment comes first and once.
                    assert!(entry.0.is_none() && entry.2.is_empty(), "{chunk:?}");
                    entry.0 = Some(id.clone());
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        entry.1 = Some(name.clone());
                    }
                    entry.2.push_str(f.arguments.as_deref().unwrap_or(""));
                }
            }
        }
    }
}

/// Streams `chunks` through a masker (flushing at the end) and returns what the client sees.
fn stream(chunks: Vec<ChatCompletionChunk>) -> (Seen, [u32; 5]) {
    let mut masker = StreamMasker::new(policy());
    let mut seen = Seen::default();
    let mut last = text_chunk("", false);
    for c in chunks {
        last = c.clone();
        for out in masker.chunk(c) {
            seen.take(&out);
        }
    }
    for out in masker.flush(&last) {
        seen.take(&out);
    }
    (seen, *masker.counts())
}

/// A JWT-like bearer token of about 600 bytes: three base64url parts.
fn long_token() -> String {
    let part = |seed: u32, len: usize| -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|i| {
                let i = u32::try_from(i).unwrap();
                let at = (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 64;
                char::from(alphabet[at as usize])
            })
            .collect()
    };
    format!("eyJ{}.{}.{}", part(1, 120), part(2, 360), part(3, 117))
}

/// A VERP-style reply address with a 300-byte local part: not an email until its `@domain`
/// arrives, long after the first 256 bytes.
fn long_address() -> String {
    format!("reply+{}@lists.example.org", "9f86d081884c7d65".repeat(19))
}

fn prose_with_values() -> String {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(6);
    let capitals = "NOTE 1234 ABCD ".repeat(25);
    let token = long_token();
    assert!(token.len() > 580, "{}", token.len());
    format!(
        "{filler}Write to jane.doe@example.com or pay with 4111 1111 1111 1111; {filler}\
         Call +44 20 7946 0958, café ☕ déjà vu. {capitals}GB82 WEST 1234 5698 7654 32 {filler}\
         Authorization: Bearer {token} and sk-proj-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1{}_end. Replies go to \
         {} today. Bearer sk-proj-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1 ends it.",
        "x9".repeat(300),
        long_address()
    )
}

#[test]
fn values_split_across_chunks_are_masked_at_every_chunk_size() {
    let text = prose_with_values();
    let (whole, counts) = masked_whole(&text);
    // Every kind is in it, two keys over 600 bytes and an address over 300.
    assert_eq!(counts, [2, 1, 1, 1, 3]);
    for value in ["jane.doe", "eyJ", "x9x9", "9f86d"] {
        assert!(!whole.contains(value), "{value} in {whole}");
    }
    streamed_as_whole(&text, &whole, counts);
}

/// A card or IBAN next to another number or capitals (expiry, CVV, BIC, currency) is found by
/// trying shorter candidates inside the joined one; streamed, it is masked exactly as whole,
/// whatever the chunk size.
#[test]
fn values_next_to_other_numbers_are_masked_at_every_chunk_size() {
    let text = "Pay with card 4111 1111 1111 1111 12/25 and CVV: 4111 1111 1111 1111 123 today; \
                acct 12 4111 1111 1111 1111 or 1234 5555 5555 5555 4444 5678, amex \
                3782 822463 10005 1234. IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX, \
                GB82 WEST 1234 5698 7654 32 GBP, GB82 WEST 1234 5698 7654 32 \
                DE89 3704 0044 0532 0130 00 EUR. Scores 12 15 18 22 19 30 11 14 17 3 end";
    let (whole, counts) = masked_whole(text);
    assert_eq!(counts, [0, 0, 5, 4, 0], "{whole}");
    for value in ["4111", "5555", "3782", "DE89", "GB82", "0044"] {
        assert!(!whole.contains(value), "{value} in {whole}");
    }
    assert!(whole.contains("[CARD] 12/25"), "{whole}");
    assert!(whole.contains("[IBAN] BIC COBADEFFXXX"), "{whole}");
    streamed_as_whole(text, &whole, counts);
}

/// Values written against each other are masked as one, full-width and other-script values
/// and addresses beyond ASCII are found; streamed, each is masked exactly as whole at every
/// chunk size (before, an email written against a phone let the phone's area code out when
/// streamed byte by byte, though whole it was masked).
#[test]
fn adjacent_wide_and_non_ascii_values_are_masked_at_every_chunk_size() {
    let text =
        "Card 4111 1111 1111 1111.john@example.com ok; tel +44 20 7946 0958-alice@example.org \
                Call (555) 123-4567-maria@example.com_ 電話０９０－１２３４－５６７８まで、\
                カード４１１１　１１１１　１１１１　１１１１です。ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ \
                write to jöhn.doe@example.com, 我的邮箱是jean@example.com。 \
                連絡先はtaro.yamada@example.co.jpです ✓4111 1111 1111 1111✓";
    let (whole, counts) = masked_whole(text);
    assert_eq!(counts, [7, 1, 2, 0, 0], "{whole}");
    for value in [
        "4111",
        "１１１１",
        "0958",
        "555",
        "０９０",
        "jöhn",
        "jean",
        "taro",
        "ｊｏｈｎ",
    ] {
        assert!(!whole.contains(value), "{value} in {whole}");
    }
    streamed_as_whole(text, &whole, counts);
}

/// Texts made of values written straight against each other and against prose, in every
/// order a fixed generator draws: streamed at every chunk size, each is masked as whole.
#[test]
fn generated_runs_of_adjacent_values_stream_as_whole() {
    const PARTS: [&str; 22] = [
        "john@example.com",
        "+44 20 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "sk-abcdefghijklmnopqrstuvwx12",
        "api_key=",
        "password: ",
        "Bearer Zx9Kq2Lm8Np4Rt6Vw1Yb",
        "０９０－１２３４",
        "ｊｏｈ＠ｅｘ．ｃｏ",
        "電話",
        "jöhn",
        "é",
        " the ",
        "12",
        "-",
        ")",
        ".",
        "\n",
    ];
    let mut state: u64 = 0x5EED;
    let mut next = |n: usize| {
        // A 64-bit linear congruential generator (Knuth's MMIX constants): fixed and enough.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap() % n
    };
    for _ in 0..1_500 {
        let count = 2 + next(4);
        let text: String = (0..count).map(|_| PARTS[next(PARTS.len())]).collect();
        let (whole, counts) = masked_whole(&text);
        streamed_as_whole(&text, &whole, counts);
    }
}

/// `text` streamed in pieces of every size, with and without a separate final chunk, is
/// masked as `whole` with `counts`.
fn streamed_as_whole(text: &str, whole: &str, counts: [u32; 5]) {
    for size in 1..=text.len() + 1 {
        for finish in [true, false] {
            let mut chunks: Vec<_> = pieces(text, size)
                .into_iter()
                .map(|p| text_chunk(p, false))
                .collect();
            if finish {
                chunks.push(text_chunk("", true));
            }
            let (seen, got) = stream(chunks);
            assert_eq!(
                (seen.content.as_str(), got),
                (whole, counts),
                "chunk size {size}, finish {finish}"
            );
        }
    }
}

#[test]
fn tool_call_arguments_are_masked_at_every_chunk_size() {
    let token = long_token();
    let first = format!(
        r#"{{"to":"jane.doe@example.com","note":"call +44 20 7946 0958","auth":"Bearer {token}","reply":"{}"}}"#,
        long_address()
    );
    let second = format!(
        r#"{{"card":"4111 1111 1111 1111","key":"sk-proj-{}","iban":"GB82WEST12345698765432"}}"#,
        "Zx8Yw7Vu6Ts5".repeat(50)
    );
    let intro = "I will write to jane.doe@example.com now.";
    let wholes = [
        masked_whole(intro),
        masked_arguments(&first),
        masked_arguments(&second),
    ];
    let counts = wholes.iter().fold([0; 5], |acc, (_, c)| sum(acc, *c));
    assert_eq!(counts, [3, 1, 1, 1, 2]);
    for size in 1..=second.len() + 1 {
        for finish in [true, false] {
            let mut chunks: Vec<_> = pieces(intro, size)
                .into_iter()
                .map(|p| text_chunk(p, false))
                .collect();
            chunks.push(call_chunk(0, true, ""));
            chunks.extend(
                pieces(&first, size)
                    .into_iter()
                    .map(|p| call_chunk(0, false, p)),
            );
            chunks.push(call_chunk(1, true, ""));
            chunks.extend(
                pieces(&second, size)
                    .into_iter()
                    .map(|p| call_chunk(1, false, p)),
            );
            if finish {
                chunks.push(finish_chunk());
            }
            let (seen, got) = stream(chunks);
            let label = format!("chunk size {size}, finish {finish}");
            assert_eq!(got, counts, "{label}");
            assert_eq!(seen.content, wholes[0].0, "{label}");
            let call = |i: u32, args: &str| {
                (
                    Some(format!("call_{i}")),
                    Some("send".to_owned()),
                    args.to_owned(),
                )
            };
            assert_eq!(seen.calls[&0], call(0, &wholes[1].0), "{label}");
            assert_eq!(seen.calls[&1], call(1, &wholes[2].0), "{label}");
            // Each field arrives in one run, in order, as the Anthropic and Responses encoders
            // need.
            assert_eq!(
                seen.order,
                [Field::Content, Field::Arguments(0), Field::Arguments(1)],
                "{label}"
            );
        }
    }
}

/// A card written as a JSON number in a tool call's arguments is replaced by a JSON string,
/// its minus sign with it, so the arguments stay JSON; inside a string (escaped quotes too)
/// the placeholder is written as in prose. Streamed, at every chunk size, as whole.
#[test]
fn a_number_masked_in_arguments_leaves_them_json() {
    let arguments = r#"{"account": 4111111111111111, "refund": -5555555555554444, "ids": [4111111111111111,5555555555554444], "note": "say \"4111 1111 1111 1111\" and -4111111111111111", "at": 1718000000006}"#;
    let (whole, counts) = masked_arguments(arguments);
    assert_eq!(counts, [0, 0, 6, 0, 0], "{whole}");
    let parsed: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({
            "account": "[CARD]",
            "refund": "[CARD]",
            "ids": ["[CARD]", "[CARD]"],
            "note": "say \"[CARD]\" and -[CARD]",
            "at": 1_718_000_000_006_u64,
        })
    );
    for size in 1..=arguments.len() + 1 {
        let mut chunks = vec![call_chunk(0, true, "")];
        chunks.extend(
            pieces(arguments, size)
                .into_iter()
                .map(|p| call_chunk(0, false, p)),
        );
        chunks.push(finish_chunk());
        let (seen, got) = stream(chunks);
        assert_eq!(
            (seen.calls[&0].2.as_str(), got),
            (whole.as_str(), counts),
            "chunk size {size}"
        );
    }
}

#[test]
fn a_call_goes_out_with_its_id_and_name_while_its_arguments_are_held() {
    let mut masker = StreamMasker::new(policy());
    let out = masker.chunk(call_chunk(0, true, r#"{"to":"jane.doe@exa"#));
    assert_eq!(out.len(), 1);
    let call = &out[0].choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id.as_deref(), Some("call_0"));
    assert_eq!(call.kind.as_deref(), Some("function"));
    let function = call.function.as_ref().unwrap();
    assert_eq!(function.name.as_deref(), Some("send"));
    // What is released so far: the text before the run of email characters.
    assert_eq!(function.arguments.as_deref(), Some(r#"{"to":""#));
    // A fragment that only extends the address: nothing to send for the call yet.
    let out = masker.chunk(call_chunk(0, false, "mple.co"));
    assert_eq!(out[0].choices[0].delta, Delta::default());
    let out = masker.chunk(call_chunk(0, false, "m\"}"));
    let args = out[0].choices[0].delta.tool_calls.as_ref().unwrap()[0]
        .function
        .as_ref()
        .unwrap()
        .arguments
        .clone();
    assert_eq!(args.as_deref(), Some("[EMAIL]\"}"));
    assert_eq!(masker.counts()[0], 1);
}

#[test]
fn text_after_a_held_call_goes_out_in_a_chunk_of_its_own_after_it() {
    let mut masker = StreamMasker::new(policy());
    let _ = masker.chunk(call_chunk(0, true, r#"{"q":"abc"#));
    let mut c = text_chunk(" Done, see you.", true);
    c.choices[0].delta.role = Some(Role::Assistant);
    let out = masker.chunk(c);
    assert_eq!(out.len(), 2, "{out:?}");
    let first = &out[0].choices[0];
    assert_eq!(first.delta.role, Some(Role::Assistant));
    assert_eq!(first.finish_reason, None);
    let args = &first.delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        args.function.as_ref().unwrap().arguments.as_deref(),
        Some("abc")
    );
    assert!(first.delta.content.is_none());
    let second = &out[1].choices[0];
    assert_eq!(second.delta.content.as_deref(), Some(" Done, see you."));
    assert_eq!(second.finish_reason, Some(FinishReason::Stop));
}

#[test]
fn choices_are_held_apart() {
    let mut masker = StreamMasker::new(policy());
    let two = |a: &str, b: &str, finish: bool| {
        chunk_of(vec![
            ChunkChoice::text_for_test(0, a, finish),
            ChunkChoice::text_for_test(1, b, finish),
        ])
    };
    let mut seen = [String::new(), String::new()];
    for c in [
        two("mail jane.d", "mail john.d", false),
        two("oe@example.com ok", "oe@example.org ok", false),
        two("", "", true),
    ] {
        for out in masker.chunk(c) {
            for choice in &out.choices {
                let i = usize::try_from(choice.index).unwrap();
                seen[i].push_str(choice.delta.content.as_deref().unwrap_or(""));
            }
        }
    }
    assert_eq!(seen, ["mail [EMAIL] ok", "mail [EMAIL] ok"]);
    assert_eq!(masker.counts()[0], 2);
}

#[test]
fn text_is_released_as_the_stream_goes_and_multibyte_text_is_never_cut() {
    let mut masker = StreamMasker::new(policy());
    // Han characters can't be part of a value (Chinese and Japanese are written without
    // spaces, so addresses don't take them in): all of it goes out at once.
    let out = masker.chunk(text_chunk(&"漢".repeat(400), false));
    let first = out[0].choices[0].delta.content.clone().unwrap();
    assert_eq!(first.len(), 1200);
    // Accented letters can (`jöhn@…`): an accented word is held like any other word.
    let out = masker.chunk(text_chunk("déjà vu", false));
    assert_eq!(out[0].choices[0].delta.content.as_deref(), Some("déjà "));
    // Prose goes out but for the word being written.
    let out = masker.chunk(text_chunk(" Plain words are sent as they come", false));
    assert_eq!(
        out[0].choices[0].delta.content.as_deref(),
        Some("vu Plain words are sent as they ")
    );
    let out = masker.chunk(text_chunk("", true));
    assert_eq!(out[0].choices[0].delta.content.as_deref(), Some("come"));
}

#[test]
fn an_endless_token_is_released_past_hold_max() {
    let mut masker = StreamMasker::new(policy());
    let mut released = 0;
    let mut sent = 0;
    for piece in pieces(&"a1b2c3".repeat(2000), 7) {
        sent += piece.len();
        for out in masker.chunk(text_chunk(piece, false)) {
            released += out.choices[0].delta.content.as_deref().map_or(0, str::len);
        }
        // Never more than HOLD_MAX bytes (and the piece that passed it) held.
        assert!(
            sent - released < HOLD_MAX + 7,
            "{sent} sent, {released} released"
        );
    }
    assert!(released > 0);
}

#[test]
fn a_chunk_without_choices_passes_unchanged() {
    let mut masker = StreamMasker::new(policy());
    let mut usage = chunk_of(Vec::new());
    usage.usage = Some(crate::openai::wire::Usage::new(3, 4));
    assert_eq!(masker.chunk(usage.clone()), vec![usage]);
    assert!(masker.flush(&text_chunk("", false)).is_empty());
}

/// A reasoning server's `reasoning_content` (DeepSeek streams it before the answer) is masked
/// like the other texts and keeps its place before the content; before, the masker rebuilt
/// each delta from content, refusal and tool calls only and the reasoning never reached the
/// client.
#[test]
fn streamed_reasoning_is_masked_and_kept_before_the_content() {
    let reasoning = |text: &str| {
        chunk_of(vec![ChunkChoice {
            delta: Delta {
                reasoning_content: Some(text.to_owned()),
                ..Delta::default()
            },
            ..ChunkChoice::default()
        }])
    };
    let mut masker = StreamMasker::new(policy());
    let mut sent = Vec::new();
    for chunk in [
        reasoning("Mail jane.doe@exa"),
        reasoning("mple.com about it. "),
        text_chunk("Done.", true),
    ] {
        sent.extend(masker.chunk(chunk));
    }
    let (mut thought, mut answer) = (String::new(), String::new());
    for chunk in &sent {
        let delta = &chunk.choices[0].delta;
        assert!(
            delta.reasoning_content.is_none() || answer.is_empty(),
            "reasoning after the content: {sent:?}"
        );
        thought.push_str(delta.reasoning_content.as_deref().unwrap_or_default());
        answer.push_str(delta.content.as_deref().unwrap_or_default());
    }
    assert_eq!(thought, "Mail [EMAIL] about it. ");
    assert_eq!(answer, "Done.");
    assert_eq!(masker.counts()[0], 1);
}
