//! A posted Open311 request, parsed into what the ledger registers.
//!
//! [`NewServiceRequest::parse`] is where every rule on a POST lives: a known service, a
//! location, well-formed contact details, the service definition's attributes. What comes out
//! is valid by construction and becomes a [`CreateTicket`] once it has a number.

use std::collections::BTreeMap;

use hotline_domain::contract::{
    AttributeType, CatalogueService, Citizen, CreateTicket, Location, ServiceAttribute,
};
use hotline_domain::{Channel, PhoneNumber, RequestType, ServiceCode, TicketNo};

use crate::error::Rejection;
use crate::wire::PostedServiceRequest;

/// Field length limits that keep one request from filling the ledger's rows.
const MAX_SHORT: usize = 255;
const MAX_ADDRESS: usize = 500;
const MAX_URL: usize = 2048;
const MAX_EMAIL: usize = 254;

/// A citizen's request, checked, before it has a ticket number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServiceRequest {
    pub service_code: ServiceCode,
    pub request_type: RequestType,
    pub description: String,
    pub location: Location,
    pub citizen: Citizen,
    pub confidential: bool,
    pub attributes: BTreeMap<String, Vec<String>>,
    pub media_url: Option<String>,
}

impl NewServiceRequest {
    /// Checks `posted` against the catalogue's `service` (already looked up by its code).
    pub fn parse(
        posted: PostedServiceRequest,
        service: &CatalogueService,
        max_description_chars: usize,
    ) -> Result<NewServiceRequest, Rejection> {
        let location = location(&posted)?;
        let description = match posted.description {
            Some(d) if d.chars().count() > max_description_chars => {
                return Err(Rejection::DescriptionTooLong {
                    max: max_description_chars,
                });
            }
            Some(d) => d,
            // Open311 makes the description optional; the ledger's ticket always says what
            // it is about, so a bare report is about its service.
            None => service.name.clone(),
        };
        let request_type = match posted.request_type.as_deref() {
            Some(raw) => RequestType::parse(raw).ok_or(Rejection::RequestType)?,
            None => service.default_request_type,
        };
        let confidential = match posted.confidential.as_deref() {
            None => false,
            Some(raw) => match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(Rejection::Confidential),
            },
        };
        let phone = posted
            .phone
            .as_deref()
            .map(|p| PhoneNumber::parse_lenient(p).map_err(|_| Rejection::Phone))
            .transpose()?;
        let email = posted.email.map(email).transpose()?;
        let media_url = posted.media_url.map(media_url).transpose()?;
        let citizen = Citizen {
            name: full_name(
                limit("first_name", posted.first_name, MAX_SHORT)?,
                limit("last_name", posted.last_name, MAX_SHORT)?,
            ),
            phone: phone.map(String::from),
            email,
            account_id: limit("account_id", posted.account_id, MAX_SHORT)?,
            device_id: limit("device_id", posted.device_id, MAX_SHORT)?,
        };
        let attributes = attributes(posted.attributes, &service.attributes)?;
        Ok(NewServiceRequest {
            service_code: service.code.clone(),
            request_type,
            description,
            location,
            citizen,
            confidential,
            attributes,
            media_url,
        })
    }

    /// The ledger's command body, once the request has its number.
    pub fn into_create(self, ticket_no: TicketNo) -> CreateTicket {
        CreateTicket {
            ticket_no,
            channel: Channel::Web,
            request_type: self.request_type,
            service_code: Some(self.service_code),
            description: self.description,
            location: self.location,
            citizen: self.citizen,
            confidential: self.confidential,
            attributes: self.attributes,
            media_url: self.media_url,
            hold: false,
        }
    }
}

/// lat+long, address_string or address_id: at least one.
fn location(posted: &PostedServiceRequest) -> Result<Location, Rejection> {
    let coordinate = |field: &'static str, raw: &str, bound: f64| {
        raw.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && v.abs() <= bound)
            .ok_or(Rejection::BadCoordinate(field))
    };
    let (lat, long) = match (posted.lat.as_deref(), posted.long.as_deref()) {
        (Some(lat), Some(long)) => (
            Some(coordinate("lat", lat, 90.0)?),
            Some(coordinate("long", long, 180.0)?),
        ),
        (None, None) => (None, None),
        _ => return Err(Rejection::HalfCoordinates),
    };
    let address = limit("address_string", posted.address_string.clone(), MAX_ADDRESS)?;
    let address_id = limit("address_id", posted.address_id.clone(), MAX_SHORT)?;
    if lat.is_none() && address.is_none() && address_id.is_none() {
        return Err(Rejection::MissingLocation);
    }
    Ok(Location {
        address,
        address_id,
        lat,
        long,
    })
}

fn limit(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, Rejection> {
    match value {
        Some(v) if v.chars().count() > max => Err(Rejection::TooLong { field, max }),
        other => Ok(other),
    }
}

/// A plausible address: one `@`, something on both sides, a dot in the domain. Whether it
/// exists is for the mail server to say.
fn email(raw: String) -> Result<String, Rejection> {
    let ok = raw.len() <= MAX_EMAIL
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        && match raw.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok { Ok(raw) } else { Err(Rejection::Email) }
}

/// Only http(s): the URL is shown to departments and citizens as a link.
fn media_url(raw: String) -> Result<String, Rejection> {
    let lower = raw.to_ascii_lowercase();
    let ok = raw.len() <= MAX_URL
        && (lower.starts_with("http://") || lower.starts_with("https://"))
        && raw.len() > lower.find("://").map_or(0, |i| i + 3)
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(raw)
    } else {
        Err(Rejection::MediaUrl)
    }
}

/// Chinese names are written family name first with no space (张 + 三 = 张三); others as
/// "first last".
fn full_name(first: Option<String>, last: Option<String>) -> Option<String> {
    match (first, last) {
        (Some(first), Some(last)) => {
            let cjk = |s: &str| s.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            Some(if cjk(&first) && cjk(&last) {
                format!("{last}{first}")
            } else {
                format!("{first} {last}")
            })
        }
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// Checks the answers against the service definition. Answers to questions the definition
/// does not ask are dropped: clients such as FixMyStreet send attributes of their own, and
/// storing unvetted data helps no one.
fn attributes(
    mut given: BTreeMap<String, Vec<String>>,
    definition: &[ServiceAttribute],
) -> Result<BTreeMap<String, Vec<String>>, Rejection> {
    let mut out = BTreeMap::new();
    let mut definition: Vec<&ServiceAttribute> = definition.iter().filter(|a| a.variable).collect();
    definition.sort_by_key(|a| a.order);
    for attribute in definition {
        let code = &attribute.code;
        let values: Vec<String> = given
            .remove(code)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            if attribute.required {
                return Err(Rejection::MissingAttribute(code.clone()));
            }
            continue;
        }
        let listed = |v: &String| attribute.values.iter().any(|item| &item.key == v);
        let single = || {
            if values.len() == 1 {
                Ok(())
            } else {
                Err(Rejection::AttributeSingle(code.clone()))
            }
        };
        match attribute.datatype {
            AttributeType::Singlevaluelist => {
                single()?;
                if !values.iter().all(listed) {
                    return Err(Rejection::AttributeNotListed(code.clone()));
                }
            }
            AttributeType::Multivaluelist => {
                if !values.iter().all(listed) {
                    return Err(Rejection::AttributeNotListed(code.clone()));
                }
            }
            AttributeType::Number => {
                single()?;
                if !values[0].parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(Rejection::AttributeNumber(code.clone()));
                }
            }
            AttributeType::Datetime => {
                single()?;
                if crate::query::parse_datetime(&values[0]).is_none() {
                    return Err(Rejection::AttributeDatetime(code.clone()));
                }
            }
            AttributeType::String | AttributeType::Text => {
                single()?;
                let max = if attribute.datatype == AttributeType::String {
                    MAX_SHORT
                } else {
                    4000
                };
                if values[0].chars().count() > max {
                    return Err(Rejection::AttributeTooLong {
                        code: code.clone(),
                        max,
                    });
                }
            }
        }
        out.insert(code.clone(), values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{service, service_with_attributes};

    fn posted(pairs: &str) -> PostedServiceRequest {
        PostedServiceRequest::from_form(pairs.as_bytes()).expect("form")
    }

    fn parse(pairs: &str) -> Result<NewServiceRequest, Rejection> {
        NewServiceRequest::parse(posted(pairs), &service_with_attributes("S1"), 20)
    }

    const OK: &str = "service_code=S1&lat=23.13&long=113.26&attribute[when]=night";

    #[test]
    fn a_complete_request_becomes_a_web_ticket() {
        let request = parse(&format!(
            "{OK}&description=loud+music&phone=%2B86+138-0013-8000&email=li%40example.org\
             &first_name=%E4%B8%89&last_name=%E5%BC%A0&media_url=https://img.example/1.jpg\
             &request_type=%E6%8A%95%E8%AF%89&confidential=true&attribute[floor]=3&attribute[nope]=x"
        ))
        .expect("valid");
        assert_eq!(request.request_type, RequestType::Complaint);
        assert_eq!(request.citizen.phone.as_deref(), Some("+8613800138000"));
        assert_eq!(request.citizen.name.as_deref(), Some("张三"));
        assert!(request.confidential);
        assert_eq!(request.location.lat, Some(23.13));
        assert_eq!(
            request.attributes.get("nope"),
            None,
            "not in the definition"
        );
        assert_eq!(request.attributes["floor"], vec!["3"]);
        let no = TicketNo::compose(261129, 1).expect("no");
        let create = request.into_create(no);
        assert_eq!(create.channel, Channel::Web);
        assert_eq!(create.ticket_no, no);
        assert_eq!(create.service_code.as_ref().map(|c| c.as_str()), Some("S1"));
    }

    #[test]
    fn defaults_come_from_the_catalogue() {
        let request = parse(OK).expect("valid");
        assert_eq!(request.request_type, RequestType::HelpRequest);
        assert_eq!(request.description, "Service S1", "the service's name");
        assert!(!request.confidential);
        assert_eq!(
            full_name(Some("Li".into()), Some("Ming".into())).as_deref(),
            Some("Li Ming")
        );
    }

    #[test]
    fn a_location_is_required_and_must_be_sane() {
        assert_eq!(
            parse("service_code=S1&attribute[when]=night"),
            Err(Rejection::MissingLocation)
        );
        assert_eq!(
            parse("lat=23.1&attribute[when]=night"),
            Err(Rejection::HalfCoordinates)
        );
        assert_eq!(
            parse("lat=91&long=113&attribute[when]=night"),
            Err(Rejection::BadCoordinate("lat"))
        );
        assert_eq!(
            parse("lat=23&long=NaN&attribute[when]=night"),
            Err(Rejection::BadCoordinate("long"))
        );
        assert!(
            parse("address_string=%E5%A4%A9%E6%B2%B3%E8%B7%AF1%E5%8F%B7&attribute[when]=night")
                .is_ok()
        );
        assert!(parse("address_id=A-77&attribute[when]=night").is_ok());
    }

    #[test]
    fn contact_details_are_checked() {
        assert_eq!(parse(&format!("{OK}&phone=call+me")), Err(Rejection::Phone));
        assert_eq!(
            parse(&format!("{OK}&email=not-an-address")),
            Err(Rejection::Email)
        );
        assert_eq!(
            parse(&format!("{OK}&media_url=javascript:alert(1)")),
            Err(Rejection::MediaUrl)
        );
        assert_eq!(
            parse(&format!("{OK}&request_type=gossip")),
            Err(Rejection::RequestType)
        );
        assert_eq!(
            parse(&format!("{OK}&confidential=maybe")),
            Err(Rejection::Confidential)
        );
        assert!(matches!(
            parse(&format!("{OK}&first_name={}", "x".repeat(300))),
            Err(Rejection::TooLong {
                field: "first_name",
                ..
            })
        ));
    }

    #[test]
    fn the_description_limit_counts_characters_not_bytes() {
        // 20 Chinese characters are 60 bytes and still within a 20-character limit.
        let twenty = "噪".repeat(20);
        assert!(parse(&format!("{OK}&description={twenty}")).is_ok());
        assert_eq!(
            parse(&format!("{OK}&description={twenty}x")),
            Err(Rejection::DescriptionTooLong { max: 20 })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, ..Default::default() })]

        /// Any set of fields (known names, arbitrary text) over a valid base: a checked request
        /// whose ticket holds nothing the domain's text rule refuses, or a typed rejection.
        #[test]
        fn any_fields_give_a_clean_ticket_or_a_rejection(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "description", "first_name", "last_name", "phone", "email",
                        "address_string", "address_id", "account_id", "device_id",
                        "media_url", "request_type", "confidential", "lat", "long",
                        "attribute[when]", "attribute[floor]", "attribute[since]",
                    ]),
                    proptest::prelude::any::<String>(),
                ),
                0..5,
            ),
        ) {
            let mut body = OK.to_owned();
            for (name, value) in &fields {
                body.push('&');
                body.push_str(&serde_urlencoded::to_string([(name, value)]).expect("encodes"));
            }
            let posted = PostedServiceRequest::from_form(body.as_bytes());
            if let Ok(posted) = posted
                && let Ok(request) = NewServiceRequest::parse(posted, &service_with_attributes("S1"), 200)
            {
                let create = request.into_create(TicketNo::compose(261129, 1).expect("no"));
                proptest::prop_assert_eq!(create.check_text(), Ok(()));
            }
        }
    }

    #[test]
    fn attributes_follow_the_definition() {
        assert_eq!(
            parse("lat=23&long=113"),
            Err(Rejection::MissingAttribute("when".into()))
        );
        assert_eq!(
            parse("lat=23&long=113&attribute[when]="),
            Err(Rejection::MissingAttribute("when".into())),
            "an empty answer is no answer"
        );
        assert_eq!(
            parse("lat=23&long=113&attribute[when]=noon"),
            Err(Rejection::AttributeNotListed("when".into()))
        );
        assert_eq!(
            parse("lat=23&long=113&attribute[when][]=day&attribute[when][]=night"),
            Err(Rejection::AttributeSingle("when".into()))
        );
        assert_eq!(
            parse(&format!("{OK}&attribute[floor]=ground")),
            Err(Rejection::AttributeNumber("floor".into()))
        );
        assert_eq!(
            parse(&format!("{OK}&attribute[since]=yesterday")),
            Err(Rejection::AttributeDatetime("since".into()))
        );
        let ok = parse(&format!(
            "{OK}&attribute[since]=2026-11-28T22:00:00%2B08:00&attribute[kinds][]=music&attribute[kinds][]=dogs"
        ))
        .expect("valid");
        assert_eq!(ok.attributes["kinds"], vec!["music", "dogs"]);
        assert_eq!(
            parse(&format!("{OK}&attribute[kinds][]=cats")),
            Err(Rejection::AttributeNotListed("kinds".into()))
        );
        // A service without a definition takes no attributes and requires none.
        let plain =
            NewServiceRequest::parse(posted("lat=1&long=2&attribute[x]=y"), &service("S2"), 20)
                .expect("valid");
        assert!(plain.attributes.is_empty());
    }
}
