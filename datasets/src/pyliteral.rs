//! Decoding Python `repr` string lists, as found in RouterBench's `prompt` cells.

/// Parses a Python list-of-strings literal such as `['a\n', "b's"]`. Returns `None` when
/// `src` is not exactly such a literal (callers then keep the raw text).
pub(crate) fn parse_str_list(src: &str) -> Option<Vec<String>> {
    let mut chars = src.trim().chars().peekable();
    if chars.next()? != '[' {
        return None;
    }
    let mut out = Vec::new();
    loop {
        skip_ws(&mut chars);
        match chars.peek()? {
            ']' => {
                chars.next();
                break;
            }
            '\'' | '"' => out.push(parse_str(&mut chars)?),
            _ => return None,
        }
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            ']' => break,
            _ => return None,
        }
    }
    skip_ws(&mut chars);
    chars.next().is_none().then_some(out)
}

fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

/// One quoted string with Python escapes; unknown escapes keep their backslash, as Python does.
fn parse_str(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let quote = chars.next()?;
    let mut s = String::new();
    loop {
        let c = chars.next()?;
        if c == quote {
            return Some(s);
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            '0' => s.push('\0'),
            '\\' | '\'' | '"' => s.push(e),
            '\n' => {}
            'x' => s.push(hex(chars, 2)?),
            'u' => s.push(hex(chars, 4)?),
            'U' => s.push(hex(chars, 8)?),
            other => {
                s.push('\\');
                s.push(other);
            }
        }
    }
}

fn hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize) -> Option<char> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    char::from_u32(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_and_escapes() {
        let got = parse_str_list(r#"['Ian\'s\nA) x', "it's \"q\" \\ \x41\u00e9"]"#);
        assert_eq!(
            got,
            Some(vec![
                "Ian's\nA) x".to_owned(),
                "it's \"q\" \\ Aé".to_owned()
            ])
        );
    }

    #[test]
    fn rejects_non_lists() {
        assert_eq!(parse_str_list("plain text"), None);
        assert_eq!(parse_str_list("['unterminated"), None);
        assert_eq!(parse_str_list("['a'] trailing"), None);
        assert_eq!(parse_str_list("[1, 2]"), None);
        assert_eq!(parse_str_list("[]"), Some(vec![]));
    }
}
