//! HTML built as Rust strings, escaped at the one door text comes in by (the citizen web page's
//! builder, services/intake/src/web/html.rs, kept in step).
//!
//! [`Html::raw`] takes only `&'static str`: markup written in this crate. Everything else (what
//! a citizen typed, notes, names, numbers, the words of [`crate::i18n`]) goes through
//! [`Html::text`], which escapes for element content and quoted attribute values alike.

use std::fmt::Write as _;

/// A page or fragment under construction.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
}

impl Html {
    pub fn new() -> Html {
        Html::default()
    }

    /// Markup written here, never data.
    pub fn raw(&mut self, markup: &'static str) -> &mut Html {
        self.out.push_str(markup);
        self
    }

    /// Data, escaped.
    pub fn text(&mut self, data: impl AsRef<str>) -> &mut Html {
        escape_into(&mut self.out, data.as_ref());
        self
    }

    /// A number (or anything whose `Display` is data), escaped like text.
    pub fn display(&mut self, data: impl std::fmt::Display) -> &mut Html {
        let mut buffer = String::new();
        // Writing to a String cannot fail.
        let _ = write!(buffer, "{data}");
        self.text(buffer)
    }

    /// Appends a fragment built the same way (so already escaped).
    pub fn append(&mut self, fragment: Html) -> &mut Html {
        self.out.push_str(&fragment.out);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `text` escaped for HTML content and double- or single-quoted attribute values.
///
/// Control characters HTML cannot carry (NUL and the other C0 controls but tab, LF and CR, DEL,
/// the C1 controls) are dropped: they only reach here when a form that was refused for holding
/// one is shown again, and a browser would turn them into U+FFFD or worse.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_in_text_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("噪音扰民 noise"), "噪音扰民 noise");
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaped once more, not trusted"
        );
    }

    #[test]
    fn controls_html_cannot_carry_are_dropped_and_line_breaks_kept() {
        assert_eq!(escape("a\u{0}b\u{7}c\u{7f}d\u{85}e"), "abcde");
        assert_eq!(escape("line 1\r\nline 2\tx"), "line 1\r\nline 2\tx");
    }

    #[test]
    fn the_builder_escapes_data_and_keeps_markup() {
        let mut page = Html::new();
        page.raw("<input value=\"")
            .text("\"><img src=x onerror=alert(1)>")
            .raw("\"><p>")
            .display(42)
            .raw("</p>");
        assert_eq!(
            page.finish(),
            "<input value=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\"><p>42</p>"
        );
    }
}
