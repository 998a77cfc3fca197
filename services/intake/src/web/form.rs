//! The page's two forms, parsed at the edge.
//!
//! The report form arrives as `multipart/form-data` (it carries photos). [`read`] streams it
//! with a cap on every part, so nothing larger than the limits is ever held, and answers a
//! [`ReportForm`]: the text fields as sent (to show the form again when it is refused), the
//! token, and the checked photos. [`ReportForm::posted`] renames the page's fields to
//! Open311's and hands them to the same reader an Open311 POST goes through
//! ([`PostedServiceRequest::from_pairs`]): one text rule, one set of checks.
//!
//! The lookup form is a GET: [`Lookup::parse`].

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use bytes::BytesMut;
use hotline_domain::TicketNo;

use super::error::{FormError, LookupError, WebError};
use super::guard::Random;
use super::photo::{MAX_PHOTO_BYTES, MAX_PHOTOS, Photo, PhotoError};
use crate::error::Rejection;
use crate::wire::PostedServiceRequest;

/// Largest text field, in bytes (a 4,000-character Chinese description is 12,000).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most parts a form may have (the page's fields, a few attributes, the photos).
const MAX_PARTS: usize = 64;
/// The body limit of the upload route: every photo at its largest, and the text around them.
pub const UPLOAD_LIMIT: usize = MAX_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024;

/// The report form as sent.
#[derive(Default)]
pub struct ReportForm {
    /// `(name, value)` of every text field, in order; names are the page's.
    pub fields: Vec<(String, String)>,
    pub token: Option<Random>,
    pub photos: Vec<Photo>,
    /// The first photo refused; the others are kept.
    pub photo_error: Option<PhotoError>,
}

impl std::fmt::Debug for ReportForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportForm")
            .field(
                "fields",
                &self.fields.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("photos", &self.photos.len())
            .finish_non_exhaustive()
    }
}

impl ReportForm {
    /// The first value of a field, for showing the form again.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field (a multivaluelist's checkboxes).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text fields as an Open311 POST, read by Open311's own rules. Fields the page does
    /// not have (`api_key`, `email`, `media_url`, ...) are dropped: a citizen on the page
    /// speaks only through its form.
    pub fn posted(&self) -> Result<PostedServiceRequest, Rejection> {
        let renamed = self.fields.iter().filter_map(|(name, value)| {
            let open311 = match name.as_str() {
                "category" => "service_code",
                "description" => "description",
                "address" => "address_string",
                "name" => "first_name",
                "phone" => "phone",
                "confidential" => "confidential",
                attribute if attribute.starts_with("attribute[") => attribute,
                _ => return None,
            };
            Some((open311.to_owned(), value.clone()))
        });
        PostedServiceRequest::from_pairs(renamed)
    }
}

/// Reads the multipart body, part by part, each within its cap.
///
/// A photo that is refused does not stop the reading: the rest of the form is still read (a
/// photo over its size is read to its end and dropped, within the route's body limit), so the
/// page can be shown again with what the citizen typed and the photo's error beside its field.
pub async fn read(mut multipart: Multipart) -> Result<ReportForm, WebError> {
    let mut form = ReportForm::default();
    let mut parts = 0;
    let mut files = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(FormError::TooManyFields.into());
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photo" {
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let mut bytes = BytesMut::new();
            let mut too_large = false;
            while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                if too_large || bytes.len() + chunk.len() > MAX_PHOTO_BYTES {
                    too_large = true;
                    bytes.clear();
                    continue;
                }
                bytes.extend_from_slice(&chunk);
            }
            // A file input left empty is still sent: no name, no bytes.
            if !too_large && bytes.is_empty() && file_name.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            files += 1;
            let checked = if too_large {
                Err(PhotoError::TooLarge { position: files })
            } else if files > MAX_PHOTOS {
                Err(PhotoError::TooMany)
            } else {
                Photo::parse(
                    files,
                    file_name.as_deref(),
                    content_type.as_deref(),
                    bytes.freeze(),
                )
            };
            match checked {
                Ok(photo) => form.photos.push(photo),
                Err(e) => {
                    form.photo_error.get_or_insert(e);
                }
            }
            continue;
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
                return Err(FormError::FieldTooLong.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(bytes.to_vec()).map_err(|_| Rejection::NotUtf8)?;
        if name == "token" {
            // A malformed token is treated as none: the form is then "expired".
            form.token = Random::parse(value.trim());
        } else {
            form.fields.push((name, value));
        }
    }
    Ok(form)
}

fn unreadable(e: MultipartError) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        FormError::TooLarge {
            limit: UPLOAD_LIMIT,
        }
        .into()
    } else {
        FormError::Unreadable.into()
    }
}

/// The progress lookup: a ticket number and the last 4 digits of the phone it was filed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub ticket_no: TicketNo,
    pub last4: [u8; 4],
}

/// The lookup form's raw values, kept to show them again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupInput {
    pub ticket_no: String,
    pub last4: String,
    /// The form was sent (a `last4` field came); else the page only shows the form, with the
    /// number filled in when the receipt's link gave one.
    pub sent: bool,
}

impl LookupInput {
    pub fn from_query(query: &[u8]) -> Result<LookupInput, Rejection> {
        let mut input = LookupInput::default();
        for (name, value) in crate::form::pairs(query)? {
            match name.as_str() {
                "ticket_no" => input.ticket_no = value,
                "last4" => {
                    input.last4 = value;
                    input.sent = true;
                }
                _ => {}
            }
        }
        Ok(input)
    }
}

impl Lookup {
    /// Spaces people type into long numbers are dropped; the check digit catches a typo.
    pub fn parse(input: &LookupInput) -> Result<Lookup, LookupError> {
        let number: String = input
            .ticket_no
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let ticket_no = TicketNo::parse(&number).map_err(|_| LookupError::TicketNo)?;
        let digits = input.last4.trim().as_bytes();
        let last4: [u8; 4] = digits.try_into().map_err(|_| LookupError::LastFour)?;
        if !last4.iter().all(u8::is_ascii_digit) {
            return Err(LookupError::LastFour);
        }
        Ok(Lookup { ticket_no, last4 })
    }

    /// Whether `phone` (as the ticket holds it) ends in these 4 digits.
    pub fn matches(&self, phone: Option<&str>) -> bool {
        let Some(phone) = phone else {
            return false;
        };
        let digits: Vec<u8> = phone.bytes().filter(u8::is_ascii_digit).collect();
        digits.len() >= 4 && digits[digits.len() - 4..] == self.last4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> ReportForm {
        ReportForm {
            fields: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..ReportForm::default()
        }
    }

    #[test]
    fn page_fields_become_open311_fields_and_nothing_else_does() {
        let posted = form(&[
            ("category", "01.01.001"),
            ("description", "路灯不亮"),
            ("address", "天河路208号"),
            ("name", "张三"),
            ("phone", "138 0013 8000"),
            ("confidential", "on"),
            ("attribute[urgency]", "urgent"),
            ("api_key", "stolen"),
            ("media_url", "https://evil.example/x.png"),
            ("email", "x@example.org"),
        ])
        .posted()
        .expect("valid");
        assert_eq!(posted.service_code.as_deref(), Some("01.01.001"));
        assert_eq!(posted.address_string.as_deref(), Some("天河路208号"));
        assert_eq!(posted.first_name.as_deref(), Some("张三"));
        assert_eq!(posted.confidential.as_deref(), Some("on"));
        assert_eq!(posted.attributes["urgency"], vec!["urgent"]);
        assert_eq!(posted.api_key, None);
        assert_eq!(posted.media_url, None);
        assert_eq!(posted.email, None);
    }

    #[test]
    fn the_shared_text_rule_and_repeat_rule_apply() {
        assert_eq!(
            form(&[("description", "a\u{0}b")]).posted(),
            Err(Rejection::ControlCharacter {
                field: "description".into(),
                code: 0
            })
        );
        assert_eq!(
            form(&[("address", "x"), ("address", "y")]).posted(),
            Err(Rejection::Repeated("address_string".into()))
        );
        // Blank is absent, as for any HTML form.
        assert_eq!(
            form(&[("name", "  ")]).posted().expect("ok").first_name,
            None
        );
    }

    #[test]
    fn lookups_parse_numbers_as_typed_and_exactly_four_digits() {
        let no = TicketNo::compose(261129, 42).expect("no").to_string();
        let spaced = format!("{} {} {}", &no[..6], &no[6..11], &no[11..]);
        let input = |n: &str, l: &str| LookupInput {
            ticket_no: n.to_owned(),
            last4: l.to_owned(),
            sent: true,
        };
        let ok = Lookup::parse(&input(&spaced, " 8000 ")).expect("valid");
        assert_eq!(ok.ticket_no.to_string(), no);
        assert_eq!(ok.last4, *b"8000");
        assert_eq!(
            Lookup::parse(&input("12345", "8000")),
            Err(LookupError::TicketNo)
        );
        for bad in ["800", "80000", "8O00", "", "８０００"] {
            assert_eq!(
                Lookup::parse(&input(&no, bad)),
                Err(LookupError::LastFour),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_last_four_digits_match_the_stored_number_only() {
        let lookup = Lookup {
            ticket_no: TicketNo::compose(261129, 1).expect("no"),
            last4: *b"8000",
        };
        assert!(lookup.matches(Some("+8613800138000")));
        assert!(lookup.matches(Some("020-8000")));
        assert!(!lookup.matches(Some("13800138001")));
        assert!(!lookup.matches(Some("800")));
        assert!(!lookup.matches(None), "no phone, no lookup");
    }

    #[test]
    fn the_lookup_query_is_sent_or_not() {
        assert!(!LookupInput::from_query(b"").expect("ok").sent);
        let prefilled = LookupInput::from_query(b"ticket_no=1").expect("ok");
        assert!(!prefilled.sent);
        assert_eq!(prefilled.ticket_no, "1");
        assert_eq!(
            LookupInput::from_query(b"ticket_no=1&last4=2"),
            Ok(LookupInput {
                ticket_no: "1".into(),
                last4: "2".into(),
                sent: true,
            })
        );
        assert_eq!(
            LookupInput::from_query(b"last4=%FF"),
            Err(Rejection::NotUtf8)
        );
    }
}
