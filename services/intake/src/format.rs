//! Response formats: Open311 picks JSON or XML by the resource's suffix (`services.xml`).
//!
//! Every response body is a [`Document`]: one wire type, written as JSON with serde_json and
//! as XML with quick-xml, so the two formats cannot drift apart field by field.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::SerializeStruct as _;

use crate::error::{Open311Error, Rejection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// Splits `services.json` into (`services`, Json). The last dot separates the format, so
    /// service codes with dots (`01.02.003.xml`) keep theirs.
    pub fn split(resource: &str) -> Result<(&str, Format), Rejection> {
        let (name, ext) = resource.rsplit_once('.').ok_or(Rejection::Format)?;
        let format = match ext.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "xml" => Format::Xml,
            _ => return Err(Rejection::Format),
        };
        if name.is_empty() {
            return Err(Rejection::Format);
        }
        Ok((name, format))
    }

    /// The format named by a resource, JSON when it names none (for error replies).
    pub fn of(resource: &str) -> Format {
        Format::split(resource)
            .map(|(_, f)| f)
            .unwrap_or(Format::Json)
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }

    /// Writes `document` with `status`.
    pub fn render(self, status: StatusCode, document: &dyn Document) -> Response {
        let body = match self {
            Format::Json => document.to_json(),
            Format::Xml => document.to_xml().map(|xml| {
                // The spec requires the declaration with the encoding.
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}")
            }),
        };
        match body {
            Ok(body) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type()),
                )],
                body,
            )
                .into_response(),
            Err(e) => {
                // Our wire types always serialize; reaching this is a bug, not bad input.
                tracing::error!(error = %format!("{e:#}"), "response not encodable");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// An Open311 error document with the error's status.
    pub fn error(self, error: &Open311Error) -> Response {
        let status = error.status();
        // Our faults are errors; a dependency being away is a warning (the client retries).
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %chain(error), "request failed");
        } else if status.is_server_error() {
            tracing::warn!(error = %chain(error), status = status.as_u16(), "request failed");
        }
        let errors = Errors(vec![ErrorOut {
            code: status.as_u16(),
            description: error.description(),
        }]);
        self.render(status, &errors)
    }
}

/// The error with its sources, for the log only.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A response body in both formats.
pub trait Document {
    fn to_json(&self) -> anyhow::Result<String>;
    fn to_xml(&self) -> anyhow::Result<String>;
}

/// Serializes a list as `<root><item>..</item><item>..</item></root>` (the XML shape of every
/// Open311 list); JSON lists are plain arrays and do not need it.
pub struct XmlList<'a, T> {
    pub item: &'static str,
    pub items: &'a [T],
}

impl<T: Serialize> Serialize for XmlList<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("list", 1)?;
        s.serialize_field(self.item, self.items)?;
        s.end()
    }
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string(value)?)
}

pub fn xml<T: Serialize>(root: &str, value: &T) -> anyhow::Result<String> {
    Ok(well_formed(quick_xml::se::to_string_with_root(
        root, value,
    )?))
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Makes the serializer's output well-formed XML 1.0 whatever text it holds. quick-xml escapes
/// markup (`<`, `&`, ...) but writes other characters as they are, and stored text may hold
/// what the edge refuses today (written before the check, or by a department). A character XML
/// 1.0 cannot carry, not even as a reference, becomes U+FFFD (so a reader sees something was
/// there); a carriage return is written as `&#13;` because a parser would otherwise turn it into
/// a line feed. Element names are our struct fields, so only text is affected.
fn well_formed(xml: String) -> String {
    if xml.chars().all(|c| xml_char(c) && c != '\r') {
        return xml;
    }
    let mut out = String::with_capacity(xml.len() + 16);
    for c in xml.chars() {
        match c {
            '\r' => out.push_str("&#13;"),
            c if xml_char(c) => out.push(c),
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
    out
}

/// A list that is a JSON array and `<root><item>...` in XML.
pub fn list_document<T: Serialize>(
    root: &'static str,
    item: &'static str,
    items: Vec<T>,
) -> ListDocument<T> {
    ListDocument { root, item, items }
}

pub struct ListDocument<T> {
    root: &'static str,
    item: &'static str,
    pub items: Vec<T>,
}

impl<T: Serialize> Document for ListDocument<T> {
    fn to_json(&self) -> anyhow::Result<String> {
        json(&self.items)
    }
    fn to_xml(&self) -> anyhow::Result<String> {
        xml(
            self.root,
            &XmlList {
                item: self.item,
                items: &self.items,
            },
        )
    }
}

/// One Open311 error.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorOut {
    pub code: u16,
    pub description: String,
}

/// `[{"code":..,"description":..}]` / `<errors><error>...`.
pub struct Errors(pub Vec<ErrorOut>);

impl Document for Errors {
    fn to_json(&self) -> anyhow::Result<String> {
        json(&self.0)
    }
    fn to_xml(&self) -> anyhow::Result<String> {
        xml(
            "errors",
            &XmlList {
                item: "error",
                items: &self.0,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_dot_names_the_format() {
        assert_eq!(
            Format::split("services.json"),
            Ok(("services", Format::Json))
        );
        assert_eq!(
            Format::split("01.02.003.XML"),
            Ok(("01.02.003", Format::Xml))
        );
        assert_eq!(Format::split("services"), Err(Rejection::Format));
        assert_eq!(Format::split("services.html"), Err(Rejection::Format));
        assert_eq!(Format::split(".json"), Err(Rejection::Format));
        assert_eq!(Format::of("whatever"), Format::Json);
    }

    #[test]
    fn errors_have_the_spec_shape_in_both_formats() {
        let errors = Errors(vec![ErrorOut {
            code: 400,
            description: "a <b> & c".into(),
        }]);
        let json: serde_json::Value =
            serde_json::from_str(&errors.to_json().expect("json")).expect("valid json");
        assert_eq!(
            json,
            serde_json::json!([{"code": 400, "description": "a <b> & c"}])
        );
        assert_eq!(
            errors.to_xml().expect("xml"),
            "<errors><error><code>400</code><description>a &lt;b&gt; &amp; c</description></error></errors>"
        );
    }

    /// The text of every `<description>` in `xml`, read back with quick-xml's parser; fails on
    /// anything that is not well-formed or holds a character XML 1.0 forbids.
    fn descriptions(xml: &str) -> Result<Vec<String>, String> {
        use quick_xml::events::Event;
        if let Some(c) = xml.chars().find(|c| !xml_char(*c)) {
            return Err(format!(
                "U+{:04X} is not an XML 1.0 character",
                u32::from(c)
            ));
        }
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut found = Vec::new();
        let mut current: Option<String> = None;
        let mut depth = 0usize;
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(e) => {
                    depth += 1;
                    if e.name().as_ref() == "description" {
                        current = Some(String::new());
                    }
                }
                Event::End(e) => {
                    depth = depth.checked_sub(1).ok_or("unbalanced")?;
                    if e.name().as_ref() == "description" {
                        found.push(current.take().ok_or("end without start")?);
                    }
                }
                Event::Empty(e) if e.name().as_ref() == "description" => found.push(String::new()),
                Event::Text(t) => {
                    if let Some(text) = current.as_mut() {
                        text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c.to_string(),
                        None => quick_xml::escape::resolve_predefined_entity(&r)
                            .ok_or_else(|| format!("unknown entity {}", &*r))?
                            .to_owned(),
                    };
                    if !resolved.chars().all(xml_char) {
                        return Err("a reference to a forbidden character".into());
                    }
                    if let Some(text) = current.as_mut() {
                        text.push_str(&resolved);
                    }
                }
                Event::CData(_) => return Err("unexpected CDATA".into()),
                Event::Eof => break,
                _ => {}
            }
        }
        if depth != 0 {
            return Err("unclosed element".into());
        }
        Ok(found)
    }

    #[test]
    fn stored_text_with_control_characters_stays_well_formed() {
        let errors = Errors(vec![ErrorOut {
            code: 400,
            description: "a\0b\u{1b}c\r\n\td\u{fffe}e <&> ]]>".into(),
        }]);
        let xml = errors.to_xml().expect("xml");
        assert!(!xml.contains('\0') && !xml.contains('\u{1b}'), "{xml:?}");
        assert_eq!(
            descriptions(&xml),
            Ok(vec![
                "a\u{fffd}b\u{fffd}c\r\n\td\u{fffd}e <&> ]]>".to_owned()
            ])
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 3000, ..Default::default() })]

        /// Any stored text: the XML writer's output parses back, and the text round-trips with
        /// exactly the characters XML 1.0 cannot carry replaced.
        #[test]
        fn any_text_gives_well_formed_xml_that_round_trips(
            texts in proptest::collection::vec(proptest::prelude::any::<String>(), 1..4),
            mixed in "[a-z\\x00-\\x1f\\x7f-\\x9f<>&\"' \\r\\n\\t\\u{fffe}\\u{ffff}\\u{d7ff}\\u{e000}]{0,40}",
        ) {
            let mut texts = texts;
            texts.push(mixed);
            let errors = Errors(
                texts
                    .iter()
                    .map(|t| ErrorOut { code: 400, description: t.clone() })
                    .collect(),
            );
            let xml = errors.to_xml().expect("xml");
            let expected: Vec<String> = texts
                .iter()
                .map(|t| t.chars().map(|c| if xml_char(c) { c } else { '\u{fffd}' }).collect())
                .collect();
            proptest::prop_assert_eq!(descriptions(&xml), Ok(expected));
        }
    }

    #[test]
    fn error_responses_carry_status_and_content_type() {
        let response = Format::Xml.error(&Open311Error::from(Rejection::ApiKey));
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/xml; charset=utf-8"
        );
    }
}
