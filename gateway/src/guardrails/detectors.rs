//! The detectors: where a text holds an email address, a phone number, a payment card number,
//! an IBAN or an API-key-like secret.
//!
//! A regex proposes each candidate; cards must then start as payment cards do (2 to 6) and
//! pass the Luhn check, and IBANs the ISO 13616 mod-97 check (a candidate that fails is
//! searched for a shorter one that passes, so a card followed by its expiry date or an IBAN
//! followed by its BIC is still found); phone numbers must have 7 to 15 digits, and a value
//! after `api_key=` or `Bearer ` must look random (letters and digits, high entropy).
//! Overlapping candidates are one value of the longest one's kind, so a card number is never
//! also counted as a phone number, and no part of either is left unmasked. The patterns read
//! the text with full-width forms folded to ASCII and letters of scripts written without
//! spaces standing in for non-word characters ([`fold_width`]).

use std::sync::LazyLock;

use regex::Regex;

use super::Kind;

/// One detected value: its byte range in the text and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// What was found.
    pub kind: Kind,
}

/// Compiles a pattern written in this file; a typo is a bug caught by every test.
#[expect(
    clippy::expect_used,
    reason = "constant patterns, compiled in every test"
)]
fn pattern(re: &str) -> Regex {
    Regex::new(re).expect("valid built-in guardrail pattern")
}

/// A letter, mark or digit of a script that separates words with spaces: addresses may hold
/// them (`jöhn.doe@example.com`, `josé@correo.es`, RFC 6531), but in Chinese, Japanese, Thai,
/// Lao, Khmer or Burmese text, written without spaces, they would pull the words before an
/// address into it (`我的邮箱是jean@example.com` is masked as `我的邮箱是[EMAIL]`).
macro_rules! word_char {
    () => {
        r"[\p{L}\p{M}\p{N}&&[^\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]]"
    };
}

/// A letter of a top-level domain: [`word_char!`] but digits.
macro_rules! tld_char {
    () => {
        r"[\p{L}\p{M}&&[^\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]]"
    };
}

/// No `\b` at either end: the leftmost match starts where the run of address characters does
/// and the top-level domain takes every letter that follows (a Unicode `\b` does not hold
/// between `是` and `jean` or `.jp` and `です`, and an ASCII one would start `Ünal@…` at its
/// `n`).
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"(?i)(?:",
        word_char!(),
        r"|[._%+-])+@(?:",
        word_char!(),
        r"|-)+(?:\.(?:",
        word_char!(),
        r"|-)+)*\.",
        tld_char!(),
        r"{2,}"
    ))
});

/// [`EMAIL`] for ASCII text, where its classes take only ASCII letters and digits: the same
/// matches, found without the Unicode classes' larger automaton (with them the detectors took
/// two thirds longer on ASCII prose).
static EMAIL_ASCII: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i-u)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"));

/// One [`word_char!`].
static WORD_CHAR: LazyLock<Regex> = LazyLock::new(|| pattern(concat!("^", word_char!(), "$")));

/// International numbers (`+44 20 7946 0958`, `+1 (555) 123-4567`), US-style
/// `555-123-4567` / `(555) 123-4567`, and trunk-prefixed national numbers (`020 7946 0958`,
/// `030 1234567`). Plain digit runs are left alone: they are more often ids than phones.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"\+[1-9]\d{0,3}(?:[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}){1,6}\b",
        r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}\b",
        r"|\b\d{3}[.-]\d{3}[.-]\d{4}\b",
        r"|\b0\d{1,4}[ -]\d{3,4}[ -]?\d{2,5}\b",
    ))
});

/// 13 to 19 digits, optionally grouped by single spaces or dashes.
static CARD: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b(?:\d[ -]?){12,18}\d\b"));

/// Country code, two check digits, then 11 to 30 letters or digits, optionally in groups.
static IBAN: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b[A-Z]{2}\d{2}(?: ?[A-Z\d]){11,30}\b"));

/// One decimal digit of any script (`\d` is Unicode's `Nd`).
static DIGIT: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\d$"));

/// Vendor key formats, matched whole.
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"\bsk-[A-Za-z0-9_-]{20,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b",
        r"|\bgithub_pat_[A-Za-z0-9_]{22,}",
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        r"|\bAIza[0-9A-Za-z_-]{35}",
    ))
});

/// A value after a key-like name or `Bearer `: only the value (group 1) is a secret, and only
/// when it looks random.
static ASSIGNED_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r#"(?i)(?:\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|secret|password|passwd)["']?\s*[:=]\s*["']?"#,
        r"|\bbearer\s+)",
        r"([A-Za-z0-9_\-./+=]{16,})",
    ))
});

/// Whether `c` can be part of an email address or an API key, the values of any length: the
/// union of those patterns' classes, [`word_char!`] and `._%+-@/=`. The streamed-answer masker
/// holds back the trailing run of these characters (`super::stream`). Full-width forms count as
/// what they fold to ([`fold_width`]).
pub fn in_long_value(c: char) -> bool {
    let c = fold_char(c);
    c.is_ascii_alphanumeric()
        || matches!(c, '.' | '_' | '%' | '+' | '-' | '@' | '/' | '=')
        || (!c.is_ascii() && WORD_CHAR.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Whether `c` can be part of a phone number, a card number or an IBAN, the values written with
/// separators: digits of any script (`\d` is Unicode's), capital letters, and ` .-+()`.
/// Full-width forms count as what they fold to ([`fold_width`]).
pub fn in_separated_value(c: char) -> bool {
    let c = fold_char(c);
    c.is_numeric() || c.is_ascii_uppercase() || matches!(c, ' ' | '.' | '-' | '+' | '(' | ')')
}

/// The most bytes a phone, card or IBAN match can span. The longest is a phone: `+`, four
/// digits, then six groups of a separator, a bracketed five-digit area code, a separator and
/// five digits; with four-byte digits (`\d` takes any script's) and full-width (three-byte)
/// `+`, brackets and separators that is 330 bytes. A card is at most 130, an IBAN 224.
pub const SEPARATED_MAX: usize = 330;

/// Every value of the `enabled` kinds in `text`, in order, without overlaps (overlapping
/// candidates are merged, [`merge_overlaps`]). Full-width forms (`０９０－１２３４－５６７８`,
/// `ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ`, as Japanese and Chinese input methods write them) are
/// found as their ASCII forms are, and values written against Chinese or Japanese words
/// (`電話090-1234-5678まで`) as if a space separated them ([`fold_width`]).
pub fn find(text: &str, enabled: impl Fn(Kind) -> bool) -> Vec<Found> {
    match fold_width(text) {
        None => find_folded(text, enabled),
        Some((folded, at)) => find_folded(&folded, enabled)
            .into_iter()
            .map(|f| Found {
                start: at[f.start],
                end: at[f.end],
                kind: f.kind,
            })
            .collect(),
    }
}

/// What the patterns see in place of `c`: the ASCII character a full-width form stands for
/// (U+FF01..=U+FF5E are `!`..=`~`, U+3000 the space); [`SPACELESS_STANDIN`] for a letter of a
/// script written without spaces ([`FOLDED`]), so that `\b` holds between `電話` and
/// `090-1234-5678` as it does between a space and a number; any other character as it is.
fn fold_char(c: char) -> char {
    match u32::from(c) {
        // Below Thai (U+0E00) no script is written without spaces.
        0..=0xDFF => c,
        _ if FOLDED.is_match(c.encode_utf8(&mut [0; 4])) => fold_matched(c),
        _ => c,
    }
}

/// [`fold_char`] of a character [`FOLDED`] matches.
fn fold_matched(c: char) -> char {
    match u32::from(c) {
        0x3000 => ' ',
        cp @ 0xFF01..=0xFF5E => char::from_u32(cp - 0xFEE0).unwrap_or(c),
        _ => SPACELESS_STANDIN,
    }
}

/// Runs of what [`fold_char`] changes: full-width forms, and characters of Chinese, Japanese,
/// Thai, Lao, Khmer or Burmese other than digits (the scripts written without spaces between
/// words, so a value written against a word of theirs has no `\b` before or after it).
static FOLDED: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"(?:[\u{3000}\u{FF01}-\u{FF5E}]",
        r"|[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}&&[^\d]])+"
    ))
});

/// What the patterns see in place of a character of a script written without spaces: a
/// symbol no pattern takes (OBJECT REPLACEMENT CHARACTER), not a word character.
const SPACELESS_STANDIN: char = '\u{FFFC}';

/// `text` as the patterns see it ([`fold_char`]), and for each byte offset of it that starts a
/// character (and its end) the offset in `text`; `None` when that is `text` itself. Folding
/// keeps the character count, so detection on the folded text maps back one character for one.
/// One pass of [`FOLDED`] finds what changes; text between its runs is copied as it is.
fn fold_width(text: &str) -> Option<(String, Vec<usize>)> {
    if text.is_ascii() {
        return None;
    }
    let mut runs = FOLDED.find_iter(text).peekable();
    runs.peek()?;
    let mut folded = String::with_capacity(text.len());
    let mut at = Vec::with_capacity(text.len() + 1);
    let mut copied = 0;
    let mut push = |folded: &mut String, i: usize, f: char| {
        folded.push(f);
        // One entry per byte of the folded character; only the first is ever looked up.
        at.extend(std::iter::repeat_n(i, f.len_utf8()));
    };
    for run in runs {
        for (i, c) in text[copied..run.start()].char_indices() {
            push(&mut folded, copied + i, c);
        }
        for (i, c) in run.as_str().char_indices() {
            push(&mut folded, run.start() + i, fold_matched(c));
        }
        copied = run.end();
    }
    for (i, c) in text[copied..].char_indices() {
        push(&mut folded, copied + i, c);
    }
    at.push(text.len());
    Some((folded, at))
}

/// The value of a decimal digit of any script (`\d`): ASCII directly, others by their place in
/// their script's block, since Unicode assigns decimal digits only in runs of ten from 0 to 9.
pub fn digit_value(c: char) -> Option<u8> {
    if let Some(d) = c.to_digit(10) {
        return u8::try_from(d).ok();
    }
    let is_digit = |c: char| DIGIT.is_match(c.encode_utf8(&mut [0; 4]));
    if !is_digit(c) {
        return None;
    }
    // Digits below it in an unbroken run of digits (blocks of ten can be adjacent: the five
    // mathematical digit styles are 50 in a row).
    let below = (1..u32::from(c))
        .map_while(|k| char::from_u32(u32::from(c) - k).filter(|&p| is_digit(p)))
        .count();
    u8::try_from(below % 10).ok()
}

/// The digit values in `s`, in order.
fn digits_of(s: &str) -> Vec<u8> {
    s.chars().filter_map(digit_value).collect()
}

/// [`find`] on text already folded.
fn find_folded(text: &str, enabled: impl Fn(Kind) -> bool) -> Vec<Found> {
    let mut found = Vec::new();
    let mut add = |start, end, kind| found.push(Found { start, end, kind });
    if enabled(Kind::Email) {
        let email = if text.is_ascii() {
            &*EMAIL_ASCII
        } else {
            &*EMAIL
        };
        for m in email.find_iter(text) {
            add(m.start(), m.end(), Kind::Email);
        }
    }
    if enabled(Kind::Phone) {
        for m in PHONE.find_iter(text) {
            let digits = digits_of(m.as_str()).len();
            if (7..=15).contains(&digits) {
                add(m.start(), m.end(), Kind::Phone);
            }
        }
    }
    if enabled(Kind::Card) {
        find_cards(text, |start, end| add(start, end, Kind::Card));
    }
    if enabled(Kind::Iban) {
        find_ibans(text, |start, end| add(start, end, Kind::Iban));
    }
    if enabled(Kind::Secret) {
        for m in SECRET.find_iter(text) {
            add(m.start(), m.end(), Kind::Secret);
        }
        for c in ASSIGNED_SECRET.captures_iter(text) {
            if let Some(v) = c.get(1).filter(|v| looks_random(v.as_str())) {
                add(v.start(), v.end(), Kind::Secret);
            }
        }
    }
    merge_overlaps(found)
}

/// Overlapping candidates become one value spanning them all, of the longest one's kind (the
/// earliest of equally long ones): a card number inside a phone-like run is one card, and a
/// card written against an email (`4111 1111 1111 1111.john@example.com`, where the email's
/// local part starts at the last group) is masked whole rather than losing the card's first
/// 12 digits to the email's win.
fn merge_overlaps(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut merged: Vec<Found> = Vec::with_capacity(found.len());
    // The kind of each merged value's longest member so far, with its length.
    let mut longest = 0;
    for f in found {
        match merged.last_mut() {
            Some(m) if f.start < m.end => {
                m.end = m.end.max(f.end);
                if f.end - f.start > longest {
                    longest = f.end - f.start;
                    m.kind = f.kind;
                }
            }
            _ => {
                longest = f.end - f.start;
                merged.push(f);
            }
        }
    }
    merged
}

/// Card numbers: each candidate [`CARD`] proposes (the longest run of up to 19 digits in groups)
/// that passes the checks. When one fails, because an expiry date, a CVV or another number
/// written next to the card joined it (`4111 1111 1111 1111 12/25`, `acct 12 4111 …`), the
/// shorter candidates inside it are tried: first those starting where it starts and ending at
/// an earlier group's end (longest first), then, resuming the search at its next group, those
/// starting there. A candidate other than the one the regex first proposed must look like a
/// written card number ([`card_shaped`]), so tables of small numbers do not turn into cards.
/// The work is bounded: at most 7 group ends per start, and every start is a group of a
/// candidate of at most 19 digits.
fn find_cards(text: &str, mut add: impl FnMut(usize, usize)) {
    let mut pos = 0;
    // The end of the furthest rejected candidate: candidates starting before it are shorter
    // candidates inside one, held to `card_shaped`.
    let mut rejected_end = 0;
    while let Some(m) = CARD.find_at(text, pos) {
        let (start, end) = (m.start(), m.end());
        let inside = start < rejected_end;
        let separators = m
            .as_str()
            .char_indices()
            .filter(|(_, c)| matches!(c, ' ' | '-'))
            .map(|(i, _)| start + i);
        let group_ends: Vec<usize> = separators.collect();
        let hit = std::iter::once(end)
            .chain(group_ends.iter().rev().copied())
            .enumerate()
            .find(|&(i, e)| {
                let candidate = &text[start..e];
                ((i == 0 && !inside) || card_shaped(candidate)) && card_valid(candidate)
            });
        match hit {
            Some((_, e)) => {
                add(start, e);
                pos = e;
            }
            None => {
                rejected_end = rejected_end.max(end);
                // The next group of the candidate (a separator is one byte), else past it.
                pos = group_ends.first().map_or(end, |s| s + 1);
            }
        }
    }
}

/// Whether a card candidate (digits, single ` ` or `-` between groups) has 13 to 19 digits,
/// starts with a payment card's first digit (2 to 6: Mastercard's 2-series, Amex, Diners and
/// JCB, Visa, Mastercard, Discover and UnionPay) and passes the Luhn check. The first digit
/// keeps out the long numbers that start with 1, which a tenth of pass Luhn: millisecond
/// timestamps (13 digits until 2286) and Snowflake ids, common in tool-call arguments, where
/// `[CARD]` in place of a JSON number made the arguments invalid JSON.
fn card_valid(candidate: &str) -> bool {
    let chars = candidate
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .count();
    let digits = digits_of(candidate);
    (13..=19).contains(&chars)
        && (13..=19).contains(&digits.len())
        && digits.first().is_some_and(|d| (2..=6).contains(d))
        && luhn_valid(&digits)
}

/// Whether a card candidate is grouped as card numbers are written (`4111 1111 1111 1111`,
/// `3782 822463 10005`, `4111111111111111`): a first group of at least 4 digits and no group
/// under 3.
fn card_shaped(candidate: &str) -> bool {
    let mut groups = candidate.split([' ', '-']).map(|g| g.chars().count());
    groups.next().is_some_and(|first| first >= 4) && groups.all(|n| n >= 3)
}

/// IBANs: each candidate [`IBAN`] proposes that passes the mod-97 check or, when it fails
/// because a following all-caps word or number joined it (`… 0130 00 BIC COBADEFFXXX`,
/// `… 7654 32 GBP`), its longest prefix ending at a space that does; the search goes on after
/// what was found. At most one check per space of a candidate of at most 34 characters.
fn find_ibans(text: &str, mut add: impl FnMut(usize, usize)) {
    let mut pos = 0;
    while let Some(m) = IBAN.find_at(text, pos) {
        let candidate = m.as_str();
        let spaces = candidate.match_indices(' ').map(|(i, _)| i);
        let valid = std::iter::once(candidate.len())
            .chain(spaces.collect::<Vec<_>>().into_iter().rev())
            .find(|&e| iban_valid(&candidate[..e]));
        match valid {
            Some(e) => {
                add(m.start(), m.start() + e);
                pos = m.start() + e;
            }
            None => pos = m.end(),
        }
    }
}

/// The Luhn checksum (ISO/IEC 7812-1) over decimal digits, most significant first.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The ISO 13616 check: spaces dropped, 15 to 34 characters, the first four moved to the end,
/// letters as 10..=35 (digits of any script as their values), and the number mod 97 must be 1.
pub fn iban_valid(candidate: &str) -> bool {
    let compact: Vec<char> = candidate.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for &c in tail.iter().chain(head) {
        let value = match (c, digit_value(c)) {
            (_, Some(d)) => u32::from(d),
            ('A'..='Z', None) => u32::from(c) - u32::from('A') + 10,
            _ => return false,
        };
        // Two-digit values shift by 100; the remainder stays below 97, so no overflow.
        let shift = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * shift + value) % 97;
    }
    remainder == 1
}

/// Whether a value after `api_key=` / `Bearer ` looks like a generated token rather than a
/// word: it has letters and digits and at least 3 bits of Shannon entropy per character.
fn looks_random(value: &str) -> bool {
    let has_digit = value.bytes().any(|b| b.is_ascii_digit());
    let has_letter = value.bytes().any(|b| b.is_ascii_alphabetic());
    if !(has_digit && has_letter) {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    // Lengths here are far below f64's exact integer range.
    let len = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every character.
    fn every_char() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    #[test]
    fn value_characters_are_the_patterns_classes() {
        // The classes of the email, vendor-key and assigned-secret patterns, and of the phone,
        // card and IBAN ones, as the regex crate reads them.
        // Full-width forms are matched folded.
        let long = pattern(concat!(r"(?i)^(?:[a-z0-9._%+\-@/=_]|", word_char!(), ")$"));
        let separated = pattern(r"^[\dA-Z .+()\-]$");
        for c in every_char() {
            // The fast path below U+0E00 skips nothing FOLDED matches.
            let whole = FOLDED.find(c.encode_utf8(&mut [0; 4])).is_some();
            assert_eq!(
                fold_char(c),
                if whole { fold_matched(c) } else { c },
                "{c:?}"
            );
            let s = fold_char(c).to_string();
            assert_eq!(in_long_value(c), long.is_match(&s), "{c:?}");
            if separated.is_match(&s) {
                assert!(in_separated_value(c), "{c:?}");
            }
        }
    }

    #[test]
    fn separated_values_fit_in_separated_max() {
        // Four-byte digits (MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO) and full-width signs (the
        // ideographic space, `＋`, `（`, `）`, `Ａ`, `１`) make the longest matches.
        let d = |n: usize| "\u{1D7D8}".repeat(n);
        let group = format!("\u{3000}\u{FF08}{}\u{FF09}\u{3000}{}", d(5), d(5));
        let phone = format!("\u{FF0B}\u{FF11}{}{}", d(3), group.repeat(6));
        let card = format!("{}{}", format!("{}\u{3000}", d(1)).repeat(18), d(1));
        let iban = format!(
            "\u{FF27}\u{FF22}{}{}",
            d(2),
            format!("\u{3000}{}", d(1)).repeat(30)
        );
        for (re, text) in [(&*PHONE, phone), (&*CARD, card), (&*IBAN, iban)] {
            let (folded, at) = fold_width(&text).unwrap();
            let m = re.find(&folded).unwrap();
            assert_eq!((at[m.start()], at[m.end()]), (0, text.len()));
            assert!(text.len() <= SEPARATED_MAX, "{} bytes", text.len());
        }
    }

    /// On ASCII text the ASCII email pattern finds exactly what the full one does.
    #[test]
    fn the_ascii_email_pattern_agrees_on_ascii_text() {
        let pieces = [
            "a", "Z", "0", ".", "_", "%", "+", "-", "@", "co", "example", " ", "K", "s", ".jp",
            "@@", "x.y", "..", "\n", "(", "!",
        ];
        let mut state: u64 = 7;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..12 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[usize::try_from(state >> 33).unwrap() % pieces.len()]);
            }
            let spans = |re: &Regex| -> Vec<(usize, usize)> {
                re.find_iter(&text).map(|m| (m.start(), m.end())).collect()
            };
            assert_eq!(spans(&EMAIL_ASCII), spans(&EMAIL), "{text:?}");
        }
    }

    #[test]
    fn digits_of_every_script_have_their_values() {
        for (c, value) in [
            ('7', 7),
            ('\u{FF15}', 5),  // FULLWIDTH DIGIT FIVE
            ('\u{0663}', 3),  // ARABIC-INDIC DIGIT THREE
            ('\u{096F}', 9),  // DEVANAGARI DIGIT NINE
            ('\u{1D7D8}', 0), // MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO, the 11th in its run
            ('\u{1D7FF}', 9), // the run's last
        ] {
            assert_eq!(digit_value(c), Some(value), "{c:?}");
        }
        for c in ['a', '\u{00B2}', '\u{2155}', ' '] {
            assert_eq!(digit_value(c), None, "{c:?}");
        }
    }
}
