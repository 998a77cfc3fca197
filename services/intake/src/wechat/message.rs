//! WeChat's XML, in and out: a pushed message or event parsed into [`Inbound`], and the
//! passive replies.
//!
//! WeChat's documents are one flat `<xml>` element whose children hold text or CDATA. The
//! reader refuses DTDs (no entity expansion), unknown entities and broken structure; children
//! of children (e.g. `ScanCodeInfo`) are skipped.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event as XmlEvent;

/// Why a body is not a WeChat message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("DTDs are not accepted")]
    Dtd,
    #[error("missing or invalid field {0}")]
    Field(&'static str),
}

/// Most fields in one document: WeChat's largest has about fifteen.
const MAX_FIELDS: usize = 64;

/// The children of the root element, by name.
pub fn fields(xml: &str) -> Result<BTreeMap<String, String>, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut depth = 0usize;
    let mut current: Option<(String, String)> = None;
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            XmlEvent::Start(e) => {
                depth += 1;
                if depth == 1 {
                    if seen_root {
                        return Err(XmlError::Malformed("more than one root".into()));
                    }
                    seen_root = true;
                } else if depth == 2 {
                    let name = e.local_name().into_inner().to_owned();
                    current = Some((name, String::new()));
                }
                if depth > 8 {
                    return Err(XmlError::Malformed("too deep".into()));
                }
            }
            XmlEvent::Empty(e) => {
                if depth == 0 {
                    return Err(XmlError::Malformed("an empty document".into()));
                }
                if depth == 1 {
                    let name = e.local_name().into_inner().to_owned();
                    out.insert(name, String::new());
                }
            }
            XmlEvent::End(_) => {
                if depth == 2
                    && let Some((name, value)) = current.take()
                {
                    if out.len() >= MAX_FIELDS {
                        return Err(XmlError::Malformed("too many fields".into()));
                    }
                    out.insert(name, value);
                }
                depth = depth.saturating_sub(1);
            }
            XmlEvent::Text(t) => push(&mut current, depth, &t.xml10_content()),
            XmlEvent::CData(c) => push(&mut current, depth, &c.xml10_content()),
            XmlEvent::GeneralRef(r) => {
                let c = match r
                    .resolve_char_ref()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        resolve_xml_entity(&name)
                            .ok_or_else(|| XmlError::Malformed("unknown entity".into()))?
                            .to_owned()
                    }
                };
                push(&mut current, depth, &c);
            }
            XmlEvent::DocType(_) => return Err(XmlError::Dtd),
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
            XmlEvent::Eof => break,
        }
    }
    if !seen_root || depth != 0 {
        return Err(XmlError::Malformed("no complete root element".into()));
    }
    Ok(out)
}

fn push(current: &mut Option<(String, String)>, depth: usize, text: &str) {
    if depth == 2
        && let Some((_, value)) = current
    {
        value.push_str(text);
    }
}

/// A message or event WeChat pushed to us.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// Our account's original id (gh_...): the `FromUserName` of our reply.
    pub to: String,
    /// The follower's OpenID: personal data, never logged.
    pub from: String,
    pub create_time: i64,
    pub msg_id: Option<String>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Text {
        content: String,
    },
    Voice {
        media_id: String,
        /// WeChat's speech recognition, when the account has it on.
        recognition: Option<String>,
    },
    Image {
        pic_url: String,
        media_id: String,
    },
    Location {
        lat: f64,
        long: f64,
        label: String,
    },
    Link {
        title: String,
        description: String,
        url: String,
    },
    Event(Event),
    /// video, shortvideo, file...: answered with what we accept.
    Unsupported,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Subscribe,
    Unsubscribe,
    Scan,
    Click {
        key: String,
    },
    View,
    /// The follower's position, reported by the client: no ticket.
    Location,
    Other,
}

impl Inbound {
    pub fn parse(fields: &BTreeMap<String, String>) -> Result<Inbound, XmlError> {
        let get = |name: &'static str| fields.get(name).map(|v| v.trim().to_owned());
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(XmlError::Field(name))
        };
        let to = need("ToUserName")?;
        let from = need("FromUserName")?;
        let create_time = need("CreateTime")?
            .parse::<i64>()
            .map_err(|_| XmlError::Field("CreateTime"))?;
        let msg_id = get("MsgId").filter(|v| !v.is_empty());
        // Text keeps its own spacing; other fields are trimmed.
        let raw = |name: &'static str| fields.get(name).cloned().unwrap_or_default();
        let coordinate = |name: &'static str, bound: f64| {
            need(name)?
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && v.abs() <= bound)
                .ok_or(XmlError::Field(name))
        };
        let kind = match need("MsgType")?.as_str() {
            "text" => Kind::Text {
                content: raw("Content"),
            },
            "voice" => Kind::Voice {
                media_id: need("MediaId")?,
                recognition: get("Recognition").filter(|r| !r.is_empty()),
            },
            "image" => Kind::Image {
                pic_url: need("PicUrl")?,
                media_id: need("MediaId")?,
            },
            "location" => Kind::Location {
                lat: coordinate("Location_X", 90.0)?,
                long: coordinate("Location_Y", 180.0)?,
                label: get("Label").unwrap_or_default(),
            },
            "link" => Kind::Link {
                title: get("Title").unwrap_or_default(),
                description: get("Description").unwrap_or_default(),
                url: need("Url")?,
            },
            "event" => Kind::Event(match need("Event")?.to_ascii_lowercase().as_str() {
                "subscribe" => Event::Subscribe,
                "unsubscribe" => Event::Unsubscribe,
                "scan" => Event::Scan,
                "click" => Event::Click {
                    key: get("EventKey").unwrap_or_default(),
                },
                "view" => Event::View,
                "location" => Event::Location,
                _ => Event::Other,
            }),
            _ => Kind::Unsupported,
        };
        Ok(Inbound {
            to,
            from,
            create_time,
            msg_id,
            kind,
        })
    }
}

/// Text inside CDATA: a `]]>` in it is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A passive text reply to `to` (the follower) from `from` (our account).
pub fn text_reply(to: &str, from: &str, create_time: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
        cdata(to),
        cdata(from),
        cdata(content)
    )
}

/// Safe mode's envelope around an encrypted reply.
pub fn encrypted_reply(encrypt: &str, signature: &str, timestamp: &str, nonce: &str) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(signature),
        cdata(nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<Inbound, XmlError> {
        Inbound::parse(&fields(xml)?)
    }

    const HEAD: &str = "<ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1700000000</CreateTime>";

    #[test]
    fn every_message_type_parses() {
        let text = parse(&format!("<xml>{HEAD}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[路灯 不亮 &amp;]]></Content><MsgId>1234567890123456</MsgId></xml>")).expect("text");
        assert_eq!(text.from, "oUser1");
        assert_eq!(text.to, "gh_123");
        assert_eq!(text.msg_id.as_deref(), Some("1234567890123456"));
        assert_eq!(
            text.kind,
            Kind::Text {
                content: "路灯 不亮 &amp;".into()
            }
        );
        let voice = parse(&format!("<xml>{HEAD}<MsgType>voice</MsgType><MediaId>m1</MediaId><Format>amr</Format><Recognition><![CDATA[噪音扰民]]></Recognition><MsgId>1</MsgId></xml>")).expect("voice");
        assert_eq!(
            voice.kind,
            Kind::Voice {
                media_id: "m1".into(),
                recognition: Some("噪音扰民".into())
            }
        );
        let location = parse(&format!("<xml>{HEAD}<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[天河路1号]]></Label><MsgId>2</MsgId></xml>")).expect("location");
        assert_eq!(
            location.kind,
            Kind::Location {
                lat: 23.134521,
                long: 113.358803,
                label: "天河路1号".into()
            }
        );
        let image = parse(&format!("<xml>{HEAD}<MsgType>image</MsgType><PicUrl>http://mmbiz/x.jpg</PicUrl><MediaId>m2</MediaId><MsgId>3</MsgId></xml>")).expect("image");
        assert!(matches!(image.kind, Kind::Image { .. }));
        let link = parse(&format!("<xml>{HEAD}<MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>https://e.org/</Url><MsgId>4</MsgId></xml>")).expect("link");
        assert!(matches!(link.kind, Kind::Link { .. }));
        let event = parse(&format!("<xml>{HEAD}<MsgType>event</MsgType><Event>CLICK</Event><EventKey>QUERY</EventKey><ScanCodeInfo><ScanType>x</ScanType></ScanCodeInfo></xml>")).expect("event");
        assert_eq!(
            event.kind,
            Kind::Event(Event::Click {
                key: "QUERY".into()
            })
        );
        assert_eq!(event.msg_id, None);
        let video = parse(&format!(
            "<xml>{HEAD}<MsgType>video</MsgType><MsgId>5</MsgId></xml>"
        ))
        .expect("video");
        assert_eq!(video.kind, Kind::Unsupported);
    }

    #[test]
    fn bad_documents_are_refused() {
        assert_eq!(
            fields("<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><a>&x;</a></xml>"),
            Err(XmlError::Dtd)
        );
        assert!(matches!(
            fields("<xml><a>1</b></xml>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            fields("<xml><a>1</a>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(fields("not xml"), Err(XmlError::Malformed(_))));
        assert!(matches!(
            fields("<xml><a>&bogus;</a></xml>"),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(
            parse(&format!(
                "<xml>{HEAD}<MsgType>location</MsgType><Location_X>95</Location_X><Location_Y>1</Location_Y></xml>"
            )),
            Err(XmlError::Field("Location_X"))
        );
        assert_eq!(
            parse("<xml><MsgType>text</MsgType></xml>"),
            Err(XmlError::Field("ToUserName"))
        );
    }

    #[test]
    fn replies_escape_cdata_ends() {
        let reply = text_reply("oUser1", "gh_123", 1, "a]]>b");
        let f = fields(&reply).expect("well-formed");
        assert_eq!(f["Content"], "a]]>b");
        assert_eq!(f["ToUserName"], "oUser1");
        assert_eq!(f["MsgType"], "text");
    }
}
