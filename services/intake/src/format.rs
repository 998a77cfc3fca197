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
    Ok(quick_xml::se::to_string_with_root(root, value)?)
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
