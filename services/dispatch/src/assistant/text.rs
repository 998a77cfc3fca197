//! The text every extractor reads: capped, width-normalised, subject and detail joined.
//!
//! - [`prepare`]: at most [`MAX_SUBJECT_CHARS`] + [`MAX_DETAIL_CHARS`] characters are read, so
//!   a pasted 100 kB transcript costs the same as a long letter; full-width letters, digits and
//!   signs become ASCII (citizens type `０７３１－８８８８８８８` as often as `0731-8888888`);
//!   control and zero-width characters go; whitespace goes except between two ASCII letters
//!   or two digits (the board's texts break `2015年 7月 29日` with stray spaces, and a phone
//!   number followed by a date must not become one long number).
//! - [`Prepared`]: the joined text `subject。detail` and where the subject ends, because a
//!   place or type named in the subject outranks one in the body.

/// The subject is a title; anything longer is a body pasted into the wrong field.
pub const MAX_SUBJECT_CHARS: usize = 500;
/// Four times the longest message on the board (4,298 characters): enough for any letter,
/// small enough that jieba and the patterns stay in milliseconds.
pub const MAX_DETAIL_CHARS: usize = 16_000;

/// How much of the detail stands in for a subject when there is none (the board's raw rows
/// join the title into the detail).
const PSEUDO_SUBJECT_CHARS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// `subject。detail` (or just the detail).
    pub joined: String,
    /// Byte offset in `joined` where the title ends: the subject, or the first sentence of a
    /// detail that came without one.
    pub title_end: usize,
}

impl Prepared {
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    pub fn in_title(&self, byte: usize) -> bool {
        byte < self.title_end
    }

    pub fn title(&self) -> &str {
        self.joined.get(..self.title_end).unwrap_or("")
    }
}

/// The first `n` characters of `s` (a prefix on a character boundary).
pub fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// One character in the form the extractors expect, or none.
fn fold(c: char) -> Option<char> {
    match c {
        // Full-width ASCII (！ to ～) is the ASCII character 0xFEE0 below.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
        '\u{3000}' => Some(' '),
        // Dashes people put in phone numbers and date ranges.
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some('-'),
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' => None,
        c if c.is_control() && !c.is_whitespace() => None,
        c => Some(c),
    }
}

/// Width-folded `s` without whitespace, except one space between two ASCII letters or digits.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars().filter_map(fold) {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space
            && c.is_ascii_alphanumeric()
            && out
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_alphanumeric())
        {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// The capped, normalised message. A detail that starts with its subject loses the copy (some
/// sources join the subject in), as the classifier does.
pub fn prepare(subject: &str, detail: &str) -> Prepared {
    let subject = normalise(head(subject, MAX_SUBJECT_CHARS));
    let mut detail = normalise(head(detail, MAX_DETAIL_CHARS));
    if !subject.is_empty() && detail.starts_with(&subject) {
        detail.drain(..subject.len());
    }
    if subject.is_empty() {
        let title = head(&detail, PSEUDO_SUBJECT_CHARS);
        let title_end = title
            .char_indices()
            .find(|(_, c)| matches!(c, '。' | '！' | '？' | '!' | '?' | '；'))
            .map_or(title.len(), |(i, c)| i + c.len_utf8());
        return Prepared {
            title_end,
            joined: detail,
        };
    }
    if detail.is_empty() {
        return Prepared {
            title_end: subject.len(),
            joined: subject,
        };
    }
    let title_end = subject.len();
    Prepared {
        joined: format!("{subject}。{detail}"),
        title_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_spaces_fold() {
        assert_eq!(normalise("０７３１－８８８８ ８８８"), "0731-8888 888");
        assert_eq!(normalise("2015年 7月\u{200B} 29日"), "2015年7月29日");
        assert_eq!(normalise("Tianhe  Road"), "Tianhe Road");
    }

    #[test]
    fn subject_and_title() {
        let p = prepare("路灯不亮", "路灯不亮门口的路灯坏了");
        assert_eq!(p.joined, "路灯不亮。门口的路灯坏了");
        assert_eq!(p.title(), "路灯不亮");
        let p = prepare("", "A3区垃圾场焚烧垃圾！晚上烟雾弥漫。");
        // Full-width punctuation folds to ASCII like the rest.
        assert_eq!(p.title(), "A3区垃圾场焚烧垃圾!");
        assert!(prepare(" ", "\u{FEFF}").is_empty());
    }

    #[test]
    fn caps_on_character_boundaries() {
        let long = "路".repeat(MAX_DETAIL_CHARS * 3);
        let p = prepare("", &long);
        assert_eq!(p.joined.chars().count(), MAX_DETAIL_CHARS);
        assert_eq!(head("ab", 5), "ab");
        assert_eq!(head("路灯", 1), "路");
    }
}
