//! The Open311 GeoReport v2 wire shapes, and nothing else.
//!
//! Inbound: [`PostedServiceRequest`], the raw fields of a POST, read from a form or a JSON
//! body. It is turned into domain types by `submission` and goes no further.
//! Outbound: one struct per document, serialized to JSON and XML (see `format`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::Rejection;
use crate::format::{Document, XmlList, json, xml};

/// The fields of a POST `requests`, as sent. Personal data: its `Debug` shows only which
/// fields are present.
#[derive(Default, Clone, PartialEq)]
pub struct PostedServiceRequest {
    pub api_key: Option<String>,
    pub jurisdiction_id: Option<String>,
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
    /// Not in the spec: the kind of contact (咨询, 投诉, ...).
    pub request_type: Option<String>,
    /// Not in the spec: the citizen asks for confidentiality (保密).
    pub confidential: Option<String>,
    /// `attribute[code]=value`, several values for a multivaluelist.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl fmt::Debug for PostedServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |v: &Option<String>| v.as_ref().map(|_| "<set>");
        f.debug_struct("PostedServiceRequest")
            .field("service_code", &self.service_code)
            .field("api_key", &present(&self.api_key))
            .field("phone", &present(&self.phone))
            .field("email", &present(&self.email))
            .field("description", &present(&self.description))
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Longest attribute code we accept in `attribute[code]`.
const MAX_ATTRIBUTE_CODE: usize = 64;

impl PostedServiceRequest {
    /// Reads a form body (`application/x-www-form-urlencoded`).
    pub fn from_form(body: &[u8]) -> Result<PostedServiceRequest, Rejection> {
        PostedServiceRequest::from_pairs(crate::form::pairs(body)?)
    }

    /// Reads decoded `name=value` pairs (a form body, or the web page's multipart fields) under
    /// the same rules: the text rule, no repeated field, blank is absent.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<PostedServiceRequest, Rejection> {
        let mut posted = PostedServiceRequest::default();
        for (name, value) in pairs {
            posted.set(&name, value)?;
        }
        Ok(posted)
    }

    /// Reads a JSON object body. Values may be strings, numbers or booleans; `attribute` may
    /// be an object of code to value (or list of values), or keys may be `attribute[code]` as
    /// in a form.
    pub fn from_json(body: &[u8]) -> Result<PostedServiceRequest, Rejection> {
        let text = std::str::from_utf8(body).map_err(|_| Rejection::NotUtf8)?;
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Rejection::Malformed(format!("invalid JSON: {e}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(Rejection::Malformed(
                "the JSON body must be an object".into(),
            ));
        };
        let mut posted = PostedServiceRequest::default();
        for (name, value) in object {
            if name == "attribute" {
                let serde_json::Value::Object(attributes) = value else {
                    return Err(Rejection::Malformed("attribute must be an object".into()));
                };
                for (code, value) in attributes {
                    let code = attribute_code(&code)?;
                    let values: Vec<String> = match value {
                        serde_json::Value::Array(items) => items
                            .into_iter()
                            .map(|v| scalar(&code, v))
                            .collect::<Result<Vec<_>, _>>()?
                            .into_iter()
                            .flatten()
                            .collect(),
                        other => scalar(&code, other)?.into_iter().collect(),
                    };
                    for value in &values {
                        clean(&format!("attribute[{code}]"), value)?;
                    }
                    posted.attributes.entry(code).or_default().extend(values);
                }
                continue;
            }
            match value {
                serde_json::Value::Array(items) if name.starts_with("attribute[") => {
                    for item in items {
                        if let Some(v) = scalar(&name, item)? {
                            posted.set(&name, v)?;
                        }
                    }
                }
                other => {
                    if let Some(v) = scalar(&name, other)? {
                        posted.set(&name, v)?;
                    }
                }
            }
        }
        Ok(posted)
    }

    fn set(&mut self, name: &str, value: String) -> Result<(), Rejection> {
        if let Some(rest) = name.strip_prefix("attribute[") {
            // attribute[code] or attribute[code][] (a multivaluelist).
            let code = rest
                .strip_suffix("][]")
                .or_else(|| rest.strip_suffix(']'))
                .ok_or_else(|| Rejection::Malformed(format!("{name} is not attribute[code]")))?;
            let code = attribute_code(code)?;
            clean(&format!("attribute[{code}]"), &value)?;
            self.attributes.entry(code).or_default().push(value);
            return Ok(());
        }
        let slot = match name {
            "api_key" => &mut self.api_key,
            "jurisdiction_id" => &mut self.jurisdiction_id,
            "service_code" => &mut self.service_code,
            "lat" => &mut self.lat,
            "long" => &mut self.long,
            "address_string" => &mut self.address_string,
            "address_id" => &mut self.address_id,
            "email" => &mut self.email,
            "device_id" => &mut self.device_id,
            "account_id" => &mut self.account_id,
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "phone" => &mut self.phone,
            "description" => &mut self.description,
            "media_url" => &mut self.media_url,
            "request_type" => &mut self.request_type,
            "confidential" => &mut self.confidential,
            // Unknown fields are extensions we do not implement; the spec lets them pass.
            _ => return Ok(()),
        };
        // Every field the request keeps passes the one text rule, names, addresses and
        // phone numbers alike: a NUL stored nothing and failed batch-mates before issue 8.
        clean(name, &value)?;
        if slot.is_some() {
            // Two values for one field: which one the citizen meant is not ours to guess.
            return Err(Rejection::Repeated(name.to_owned()));
        }
        let value = value.trim().to_owned();
        // An empty field is an absent field (HTML forms send every input).
        if !value.is_empty() {
            *slot = Some(value);
        }
        Ok(())
    }
}

fn attribute_code(code: &str) -> Result<String, Rejection> {
    let code = code.trim();
    if code.is_empty() || code.chars().count() > MAX_ATTRIBUTE_CODE {
        return Err(Rejection::Malformed(format!(
            "attribute codes must be 1-{MAX_ATTRIBUTE_CODE} characters"
        )));
    }
    if hotline_domain::text::check("attribute", code).is_err() {
        return Err(Rejection::Malformed(
            "attribute codes must not contain control characters".into(),
        ));
    }
    Ok(code.to_owned())
}

/// The domain's text rule (`hotline_domain::text`): no NUL or other control characters.
fn clean(field: &str, value: &str) -> Result<(), Rejection> {
    hotline_domain::text::check(field, value).map_err(|e| match e {
        hotline_domain::TextError::Control { field, code } => {
            Rejection::ControlCharacter { field, code }
        }
    })
}

/// A JSON scalar as the text a form would have carried; `null` is absent.
fn scalar(field: &str, value: serde_json::Value) -> Result<Option<String>, Rejection> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(Rejection::Malformed(format!(
            "{field} must be a string, number or boolean"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Outbound documents.

/// One entry of GET `services`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceOut {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// Whether the service has a definition with attributes to fetch.
    pub metadata: bool,
    /// Always `realtime`: a POST returns the ticket number at once.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Comma separated, as in the spec.
    pub keywords: String,
    pub group: String,
}

/// GET `services/{code}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceDefinitionOut {
    pub service_code: String,
    pub attributes: Vec<AttributeOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeOut {
    pub variable: bool,
    pub code: String,
    pub datatype: &'static str,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: u32,
    pub description: String,
    pub values: Vec<ValueOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueOut {
    pub key: String,
    pub name: String,
}

impl Document for ServiceDefinitionOut {
    fn to_json(&self) -> anyhow::Result<String> {
        json(self)
    }
    /// `<service_definition>..<attributes><attribute>..<values><value>..`: XML wraps every
    /// nested list in an element of its own.
    fn to_xml(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct AttributeXml<'a> {
            variable: bool,
            code: &'a str,
            datatype: &'a str,
            required: bool,
            datatype_description: &'a Option<String>,
            order: u32,
            description: &'a str,
            values: XmlList<'a, ValueOut>,
        }
        #[derive(Serialize)]
        struct DefinitionXml<'a> {
            service_code: &'a str,
            attributes: XmlList<'a, AttributeXml<'a>>,
        }
        let attributes: Vec<AttributeXml<'_>> = self
            .attributes
            .iter()
            .map(|a| AttributeXml {
                variable: a.variable,
                code: &a.code,
                datatype: a.datatype,
                required: a.required,
                datatype_description: &a.datatype_description,
                order: a.order,
                description: &a.description,
                values: XmlList {
                    item: "value",
                    items: &a.values,
                },
            })
            .collect();
        xml(
            "service_definition",
            &DefinitionXml {
                service_code: &self.service_code,
                attributes: XmlList {
                    item: "attribute",
                    items: &attributes,
                },
            },
        )
    }
}

/// The answer to a POST `requests`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostedOut {
    pub service_request_id: String,
    pub service_notice: String,
    pub account_id: Option<String>,
}

/// The answer to GET `tokens/{token}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenOut {
    pub service_request_id: String,
    pub token: String,
}

/// One service request in GET `requests`. No contact details, ever.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRequestOut {
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: &'static str,
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: Option<String>,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: Option<String>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// One entry of FixMyStreet's `servicerequestupdates`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestUpdateOut {
    pub update_id: String,
    pub service_request_id: String,
    /// FixMyStreet's vocabulary: open, investigating, in_progress, fixed, closed, ...
    pub status: &'static str,
    pub updated_datetime: String,
    pub description: String,
    pub media_url: Option<String>,
}

/// `{"service_request_updates":[..]}` / `<service_request_updates><request_update>..`.
pub struct RequestUpdates(pub Vec<RequestUpdateOut>);

impl Document for RequestUpdates {
    fn to_json(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Wrapped<'a> {
            service_request_updates: &'a [RequestUpdateOut],
        }
        json(&Wrapped {
            service_request_updates: &self.0,
        })
    }
    fn to_xml(&self) -> anyhow::Result<String> {
        xml(
            "service_request_updates",
            &XmlList {
                item: "request_update",
                items: &self.0,
            },
        )
    }
}

/// GET `discovery`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveryOut {
    pub changeset: String,
    pub contact: String,
    pub key_service: String,
    pub endpoints: Vec<EndpointOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointOut {
    pub specification: String,
    pub url: String,
    pub changeset: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub formats: Vec<String>,
}

impl Document for DiscoveryOut {
    fn to_json(&self) -> anyhow::Result<String> {
        json(self)
    }
    fn to_xml(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct EndpointXml<'a> {
            specification: &'a str,
            url: &'a str,
            changeset: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            formats: XmlList<'a, String>,
        }
        #[derive(Serialize)]
        struct DiscoveryXml<'a> {
            changeset: &'a str,
            contact: &'a str,
            key_service: &'a str,
            endpoints: XmlList<'a, EndpointXml<'a>>,
        }
        let endpoints: Vec<EndpointXml<'_>> = self
            .endpoints
            .iter()
            .map(|e| EndpointXml {
                specification: &e.specification,
                url: &e.url,
                changeset: &e.changeset,
                kind: &e.kind,
                formats: XmlList {
                    item: "format",
                    items: &e.formats,
                },
            })
            .collect();
        xml(
            "discovery",
            &DiscoveryXml {
                changeset: &self.changeset,
                contact: &self.contact,
                key_service: &self.key_service,
                endpoints: XmlList {
                    item: "endpoint",
                    items: &endpoints,
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::list_document;

    #[test]
    fn form_fields_and_attributes_are_read() {
        let posted = PostedServiceRequest::from_form(
            b"api_key=k&service_code=S1&lat=23.1&long=113.3&attribute%5Bnoise%5D=night\
              &attribute[when][]=mon&attribute[when][]=tue&description=%E5%99%AA%E9%9F%B3&unknown=x&email=",
        )
        .expect("valid");
        assert_eq!(posted.service_code.as_deref(), Some("S1"));
        assert_eq!(posted.lat.as_deref(), Some("23.1"));
        assert_eq!(posted.description.as_deref(), Some("噪音"));
        assert_eq!(posted.email, None, "empty inputs are absent");
        assert_eq!(posted.attributes["noise"], vec!["night"]);
        assert_eq!(posted.attributes["when"], vec!["mon", "tue"]);
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        assert_eq!(
            PostedServiceRequest::from_form(b"phone=1&phone=2"),
            Err(Rejection::Repeated("phone".into()))
        );
        assert!(matches!(
            PostedServiceRequest::from_form(b"attribute[x=1"),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            PostedServiceRequest::from_form(b"attribute[]=1"),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn json_bodies_take_numbers_and_attribute_objects() {
        let posted = PostedServiceRequest::from_json(
            br#"{"api_key":"k","service_code":"S1","lat":23.1,"long":113.3,"confidential":true,
                "attribute":{"noise":"night","when":["mon","tue"],"floor":3},
                "attribute[extra]":"x","media_url":null}"#,
        )
        .expect("valid");
        assert_eq!(posted.lat.as_deref(), Some("23.1"));
        assert_eq!(posted.confidential.as_deref(), Some("true"));
        assert_eq!(posted.attributes["when"], vec!["mon", "tue"]);
        assert_eq!(posted.attributes["floor"], vec!["3"]);
        assert_eq!(posted.attributes["extra"], vec!["x"]);
        assert_eq!(posted.media_url, None);
        assert!(matches!(
            PostedServiceRequest::from_json(b"[1,2]"),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            PostedServiceRequest::from_json(br#"{"lat":{"x":1}}"#),
            Err(Rejection::Malformed(_))
        ));
        assert_eq!(
            PostedServiceRequest::from_json(b"{\"description\":\"\xff\"}"),
            Err(Rejection::NotUtf8)
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_field_and_form() {
        assert_eq!(
            PostedServiceRequest::from_form(b"description=loud%00music"),
            Err(Rejection::ControlCharacter {
                field: "description".into(),
                code: 0
            })
        );
        for body in [
            &b"first_name=%E4%B8%89%01"[..],
            b"address_string=x%1B%5B2J",
            b"phone=138%7F",
            b"attribute[when]=night%C2%85",
            b"api_key=k%00",
        ] {
            assert!(
                matches!(
                    PostedServiceRequest::from_form(body),
                    Err(Rejection::ControlCharacter { .. })
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            PostedServiceRequest::from_form(b"attribute[wh%00en]=night"),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            PostedServiceRequest::from_json(br#"{"description":"a\u0000b"}"#),
            Err(Rejection::ControlCharacter { .. })
        ));
        assert!(matches!(
            PostedServiceRequest::from_json(br#"{"attribute":{"when":["a\u0007"]}}"#),
            Err(Rejection::ControlCharacter { .. })
        ));
        // Multi-line text keeps its tabs and line breaks; a field we ignore is not looked at.
        let ok =
            PostedServiceRequest::from_form(b"description=a%0D%0A%09b&unknown=%00").expect("valid");
        assert_eq!(ok.description.as_deref(), Some("a\r\n\tb"));
        assert_eq!(
            Rejection::ControlCharacter {
                field: "description".into(),
                code: 0
            }
            .kind(),
            hotline_domain::contract::ErrorKind::Invalid,
            "a 400"
        );
    }

    /// Every text a parsed request holds, for the property tests.
    fn texts(p: &PostedServiceRequest) -> Vec<&str> {
        let fields = [
            &p.api_key,
            &p.jurisdiction_id,
            &p.service_code,
            &p.lat,
            &p.long,
            &p.address_string,
            &p.address_id,
            &p.email,
            &p.device_id,
            &p.account_id,
            &p.first_name,
            &p.last_name,
            &p.phone,
            &p.description,
            &p.media_url,
            &p.request_type,
            &p.confidential,
        ];
        fields
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(p.attributes.keys().map(String::as_str))
            .chain(p.attributes.values().flatten().map(String::as_str))
            .collect()
    }

    fn field_name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            prop::sample::select(vec![
                "api_key",
                "service_code",
                "lat",
                "long",
                "address_string",
                "address_id",
                "email",
                "first_name",
                "last_name",
                "phone",
                "description",
                "media_url",
                "request_type",
                "confidential",
                "attribute[when]",
                "attribute[when][]",
                "attribute[",
                "attribute[]",
            ])
            .prop_map(str::to_owned),
            "attribute\\[[^\\]]{0,8}\\](\\[\\])?",
            any::<String>(),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 3000, ..Default::default() })]

        /// Arbitrary bytes as a form or JSON body: a request or a typed rejection, no panic.
        #[test]
        fn any_body_bytes_parse_or_are_rejected(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            let parsed = [
                PostedServiceRequest::from_form(&body),
                PostedServiceRequest::from_json(&body),
            ];
            for p in parsed.iter().flatten() {
                for t in texts(p) {
                    proptest::prop_assert!(hotline_domain::text::check("f", t).is_ok());
                }
            }
        }

        /// Arbitrary name/value sets, urlencoded as a client would: whatever is accepted holds
        /// exactly the values sent (trimmed) and nothing the text rule refuses.
        #[test]
        fn any_key_value_set_parses_or_is_rejected(
            pairs in proptest::collection::vec((field_name(), proptest::prelude::any::<String>()), 0..8)
        ) {
            let body = serde_urlencoded::to_string(&pairs).expect("encodes");
            let form = PostedServiceRequest::from_form(body.as_bytes());
            let object: serde_json::Map<String, serde_json::Value> = pairs
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let json = PostedServiceRequest::from_json(
                &serde_json::to_vec(&object).expect("json"),
            );
            if let Ok(p) = &form {
                for t in texts(p) {
                    proptest::prop_assert!(hotline_domain::text::check("f", t).is_ok());
                }
                if let Some(d) = &p.description {
                    proptest::prop_assert!(
                        pairs.iter().any(|(k, v)| k == "description" && v.trim() == d)
                    );
                }
            }
            if let Ok(p) = &json {
                for t in texts(p) {
                    proptest::prop_assert!(hotline_domain::text::check("f", t).is_ok());
                }
            }
            // A refused character anywhere in a known field's value refuses the whole form.
            let poisoned = pairs.iter().any(|(k, v)| {
                matches!(k.as_str(), "description" | "phone" | "first_name" | "address_string")
                    && !v.chars().all(hotline_domain::text::is_allowed)
            });
            if poisoned {
                proptest::prop_assert!(form.is_err());
            }
        }
    }

    #[test]
    fn debug_hides_personal_data() {
        let posted = PostedServiceRequest {
            phone: Some("13800138000".into()),
            email: Some("li@example.org".into()),
            description: Some("my neighbour Zhang San".into()),
            ..Default::default()
        };
        let text = format!("{posted:?}");
        assert!(!text.contains("13800138000"), "{text}");
        assert!(!text.contains("li@example.org"), "{text}");
        assert!(!text.contains("Zhang"), "{text}");
    }

    fn definition() -> ServiceDefinitionOut {
        ServiceDefinitionOut {
            service_code: "S1".into(),
            attributes: vec![AttributeOut {
                variable: true,
                code: "noise".into(),
                datatype: "singlevaluelist",
                required: true,
                datatype_description: None,
                order: 1,
                description: "When?".into(),
                values: vec![
                    ValueOut {
                        key: "day".into(),
                        name: "Day".into(),
                    },
                    ValueOut {
                        key: "night".into(),
                        name: "Night".into(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn service_definition_xml_nests_lists_as_the_spec_does() {
        let xml = definition().to_xml().expect("xml");
        assert_eq!(
            xml,
            "<service_definition><service_code>S1</service_code><attributes><attribute>\
             <variable>true</variable><code>noise</code><datatype>singlevaluelist</datatype>\
             <required>true</required><datatype_description/><order>1</order>\
             <description>When?</description><values><value><key>day</key><name>Day</name></value>\
             <value><key>night</key><name>Night</name></value></values></attribute></attributes>\
             </service_definition>"
        );
        let json: serde_json::Value =
            serde_json::from_str(&definition().to_json().expect("json")).expect("valid");
        assert_eq!(json["attributes"][0]["values"][1]["key"], "night");
        assert_eq!(
            json["attributes"][0]["datatype_description"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn services_list_is_an_array_and_services_service_in_xml() {
        let doc = list_document(
            "services",
            "service",
            vec![ServiceOut {
                service_code: "S1".into(),
                service_name: "噪音扰民".into(),
                description: "Noise".into(),
                metadata: true,
                kind: "realtime",
                keywords: "noise, 噪音".into(),
                group: "环境保护".into(),
            }],
        );
        assert_eq!(
            doc.to_xml().expect("xml"),
            "<services><service><service_code>S1</service_code><service_name>噪音扰民</service_name>\
             <description>Noise</description><metadata>true</metadata><type>realtime</type>\
             <keywords>noise, 噪音</keywords><group>环境保护</group></service></services>"
        );
        let json: serde_json::Value =
            serde_json::from_str(&doc.to_json().expect("json")).expect("valid");
        assert_eq!(json[0]["type"], "realtime");
        let empty = list_document::<ServiceOut>("services", "service", vec![]);
        assert_eq!(empty.to_json().expect("json"), "[]");
        assert!(empty.to_xml().expect("xml").starts_with("<services"));
    }

    #[test]
    fn posted_request_and_updates_have_the_spec_shapes() {
        let doc = list_document(
            "service_requests",
            "request",
            vec![PostedOut {
                service_request_id: "2611290000000421".into(),
                service_notice: "ok".into(),
                account_id: None,
            }],
        );
        assert_eq!(
            doc.to_xml().expect("xml"),
            "<service_requests><request><service_request_id>2611290000000421</service_request_id>\
             <service_notice>ok</service_notice><account_id/></request></service_requests>"
        );
        assert_eq!(
            doc.to_json().expect("json"),
            r#"[{"service_request_id":"2611290000000421","service_notice":"ok","account_id":null}]"#
        );
        let updates = RequestUpdates(vec![RequestUpdateOut {
            update_id: "2611290000000421-3".into(),
            service_request_id: "2611290000000421".into(),
            status: "in_progress",
            updated_datetime: "2026-11-29T10:00:00+08:00".into(),
            description: "Crew sent".into(),
            media_url: None,
        }]);
        let json: serde_json::Value =
            serde_json::from_str(&updates.to_json().expect("json")).expect("valid");
        assert_eq!(
            json["service_request_updates"][0]["update_id"],
            "2611290000000421-3"
        );
        let xml = updates.to_xml().expect("xml");
        assert!(
            xml.starts_with(
                "<service_request_updates><request_update><update_id>2611290000000421-3</update_id>"
            ),
            "{xml}"
        );
        assert!(xml.ends_with("<media_url/></request_update></service_request_updates>"));
    }

    #[test]
    fn discovery_lists_endpoints_and_formats() {
        let doc = DiscoveryOut {
            changeset: "2026-11-29T10:00:00+08:00".into(),
            contact: "c".into(),
            key_service: "k".into(),
            endpoints: vec![EndpointOut {
                specification: "http://wiki.open311.org/GeoReport_v2".into(),
                url: "http://h/open311/v2".into(),
                changeset: "2026-11-29T10:00:00+08:00".into(),
                kind: "production".into(),
                formats: vec!["text/xml".into(), "application/json".into()],
            }],
        };
        let xml = doc.to_xml().expect("xml");
        assert!(
            xml.contains("<endpoints><endpoint><specification>http://wiki.open311.org/GeoReport_v2</specification>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<formats><format>text/xml</format><format>application/json</format></formats>"
            ),
            "{xml}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&doc.to_json().expect("json")).expect("valid");
        assert_eq!(json["endpoints"][0]["formats"][1], "application/json");
        assert_eq!(json["endpoints"][0]["type"], "production");
    }
}
