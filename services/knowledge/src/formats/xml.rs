//! What the two XML formats share: escaping on the way out, attributes, lines and errors on the
//! way in.

use quick_xml::XmlVersion;
use quick_xml::events::BytesStart;

use hotline_domain::ItemCode;

use super::{ExportError, ImportError};

/// The deepest element nesting read at all (FreeMind notes hold a little HTML); the node depth
/// proper is checked against [`crate::model::MAX_DEPTH`] separately.
pub(crate) const MAX_ELEMENT_DEPTH: usize = 64;

/// Whether XML 1.0 can carry `c` (escaped if need be).
pub(crate) fn representable(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// The first character of `text` that XML cannot carry.
pub(crate) fn unrepresentable(text: &str) -> Option<char> {
    text.chars().find(|&c| !representable(c))
}

/// `value` if XML can carry it, else the export error naming the node and field.
pub(crate) fn checked<'a>(
    code: &ItemCode,
    field: &'static str,
    value: &'a str,
) -> Result<&'a str, ExportError> {
    match unrepresentable(value) {
        Some(ch) => Err(ExportError::Unrepresentable {
            code: code.clone(),
            field,
            ch,
        }),
        None => Ok(value),
    }
}

/// Appends `text` escaped for a double-quoted attribute value. Newlines, carriage returns and
/// tabs become character references so that attribute-value normalization keeps them.
pub(crate) fn push_attr_value(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xa;"),
            '\r' => out.push_str("&#xd;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}

/// Appends `text` escaped as element content.
pub(crate) fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xd;"),
            c => out.push(c),
        }
    }
}

/// Turns byte offsets into line numbers, counting forward from the last offset asked for (the
/// reader only moves forward), so that a large file is scanned once.
pub(crate) struct Lines<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines {
            text,
            pos: 0,
            line: 1,
        }
    }

    pub(crate) fn at(&mut self, pos: u64) -> usize {
        let pos = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if pos < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        let bytes = &self.text.as_bytes()[self.pos..pos];
        self.line += bytes.iter().filter(|&&b| b == b'\n').count();
        self.pos = pos;
        self.line
    }
}

pub(crate) fn xml_error(line: usize, error: impl std::fmt::Display) -> ImportError {
    ImportError::Xml {
        line,
        reason: error.to_string(),
    }
}

pub(crate) fn structure(line: usize, reason: impl Into<String>) -> ImportError {
    ImportError::Structure {
        line,
        reason: reason.into(),
    }
}

/// An element's local name (any namespace prefix dropped).
pub(crate) fn local_name(e: &BytesStart<'_>) -> String {
    let name = e.name();
    let name: &str = name.as_ref();
    name.rsplit_once(':')
        .map_or(name, |(_, local)| local)
        .to_owned()
}

/// An element's attributes, names as written and values unescaped and normalized as XML 1.0
/// says (character references such as `&#xa;` survive normalization; only the five predefined
/// entities are resolved, any other entity is an error).
pub(crate) fn attributes(
    e: &BytesStart<'_>,
    line: usize,
) -> Result<Vec<(String, String)>, ImportError> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_error(line, err))?;
        let key: &str = attr.key.as_ref();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| xml_error(line, err))?;
        out.push((key.to_owned(), value.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_escaping_keeps_every_representable_character() {
        let mut out = String::new();
        push_attr_value(&mut out, "a\"<>&'\n\r\tb");
        assert_eq!(out, "a&quot;&lt;&gt;&amp;'&#xa;&#xd;&#x9;b");
        assert!(representable('\n') && representable('中') && !representable('\u{1}'));
        let mut lines = Lines::new("a\nb\nc");
        assert_eq!(lines.at(0), 1);
        assert_eq!(lines.at(3), 2);
        assert_eq!(lines.at(5), 3);
        assert_eq!(lines.at(1), 1);
    }
}
