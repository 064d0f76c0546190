//! Placeholders in JSON text (tool-call arguments, masked as text like every other field): a
//! value found outside any JSON string is a number there (`{"account": 4111111111111111}`),
//! and a bare `[CARD]` in its place leaves the arguments invalid JSON (the client's
//! `json.loads` fails; Anthropic and Gemini refuse the request the history goes into). Outside
//! a string the placeholder is written as a JSON string (`"[CARD]"`), taking the number's minus
//! sign with it; inside one it is written as in prose.

use super::Kind;

/// Where a scan of JSON text stands: inside a string or not, after a backslash or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonScan {
    in_string: bool,
    escaped: bool,
}

impl JsonScan {
    /// Moves the scan over `text`.
    pub fn advance(&mut self, text: &str) {
        for b in text.bytes() {
            if !self.in_string {
                self.in_string = b == b'"';
            } else if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
        }
    }
}

/// What replaces a value of `kind` whose text follows `before` (what is written since the last
/// value): the placeholder, and how many bytes at the end of `before` it replaces too. `scan`
/// stands where the value starts; `None` for prose.
pub fn placeholder(kind: Kind, scan: Option<JsonScan>, before: &str) -> (String, usize) {
    match scan {
        Some(scan) if !scan.in_string => {
            let sign = usize::from(before.ends_with('-'));
            (format!("\"{}\"", kind.placeholder()), sign)
        }
        _ => (kind.placeholder().to_owned(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_escapes_are_followed() {
        let mut scan = JsonScan::default();
        for (piece, inside) in [
            (r#"{"a": "x"#, true),
            (r#"\"y"#, true),
            (r#"\\"#, true),
            (r#"", "b": "#, false),
            (r#"-"#, false),
        ] {
            scan.advance(piece);
            assert_eq!(scan.in_string, inside, "{piece}");
        }
        let (text, sign) = placeholder(Kind::Card, Some(scan), ": -");
        assert_eq!((text.as_str(), sign), ("\"[CARD]\"", 1));
        let (text, sign) = placeholder(Kind::Card, None, ": -");
        assert_eq!((text.as_str(), sign), ("[CARD]", 0));
    }
}
