//! `application/x-www-form-urlencoded` decoding that refuses what is not UTF-8.
//!
//! `serde_urlencoded` (and `form_urlencoded` under it) replace invalid UTF-8 with U+FFFD, which
//! would silently store a mangled description. The spec says clients send UTF-8; a body that
//! is not gets a 400 instead.

use crate::error::Rejection;

/// The `name=value` pairs of a query string or form body, in order.
pub fn pairs(input: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    input
        .split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &part[..0]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Percent-decodes one component (`+` is a space). A `%` not followed by two hex digits is
/// kept as it is, as browsers do.
fn decode(raw: &[u8]) -> Result<String, Rejection> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|h| hex(*h)),
                raw.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Rejection::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_names_values_plus_and_percent() {
        let got = pairs(b"a=1&attribute%5Bx%5D%5B%5D=b+c&empty=&flag&&d=%E5%99%AA%E9%9F%B3")
            .expect("valid");
        assert_eq!(
            got,
            vec![
                ("a".into(), "1".into()),
                ("attribute[x][]".into(), "b c".into()),
                ("empty".into(), "".into()),
                ("flag".into(), "".into()),
                ("d".into(), "噪音".into()),
            ]
        );
        assert_eq!(
            pairs(b"x=100%&y=%zz").expect("lenient"),
            vec![("x".into(), "100%".into()), ("y".into(), "%zz".into())]
        );
    }

    #[test]
    fn refuses_what_is_not_utf8_raw_or_encoded() {
        assert_eq!(pairs(b"description=%FF%FE"), Err(Rejection::NotUtf8));
        assert_eq!(pairs(b"description=\xff"), Err(Rejection::NotUtf8));
        assert_eq!(pairs(b"\xc3=x"), Err(Rejection::NotUtf8));
    }
}
