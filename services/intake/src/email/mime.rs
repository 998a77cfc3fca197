//! A received message (RFC 5322 + MIME) parsed into what a ticket needs, with `mail-parser`
//! (its `full_encoding` feature decodes every charset through encoding_rs: GBK, GB18030 and
//! GB2312, which Chinese mail clients still send, in RFC 2047 encoded words and in bodies,
//! quoted-printable or base64).
//!
//! Everything is checked here, before anything is stored: the text rule
//! (`hotline_domain::text`) on the subject, the body, the sender's name and every attachment
//! name; the number, size and type of attachments.

use mail_parser::{Message, MessageParser, MimeHeaders as _, PartType};

use super::address::Address;
use super::smtp::Reply;
use hotline_domain::text::{self, TextError};

/// What attachments may be.
#[derive(Debug, Clone)]
pub struct MimeLimits {
    pub max_attachments: usize,
    pub max_attachment_bytes: u64,
    /// `type/subtype` or `type/*`, lower case.
    pub attachment_types: Vec<String>,
}

/// Why a message is refused after DATA. The texts name limits, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("the message cannot be parsed")]
    Unparsable,
    #[error("the message has no text and no attachment")]
    Empty,
    #[error("more than {0} attachments")]
    TooManyAttachments(usize),
    #[error("an attachment is larger than {0} octets")]
    AttachmentTooLarge(u64),
    #[error("an attachment's type is not accepted")]
    AttachmentType,
    #[error(transparent)]
    Text(#[from] TextError),
}

impl MimeError {
    /// The SMTP refusal: permanent, since sending the same message again cannot help.
    pub fn reply(&self) -> Reply {
        match self {
            MimeError::Unparsable => {
                Reply::refuse(554, "5.6.0 The message cannot be parsed", "mime")
            }
            MimeError::Empty => Reply::refuse(
                554,
                "5.6.0 The message has no text and no attachment",
                "empty",
            ),
            MimeError::TooManyAttachments(n) => Reply::refuse(
                552,
                format!("5.3.4 At most {n} attachments per message"),
                "too_many_attachments",
            ),
            MimeError::AttachmentTooLarge(n) => Reply::refuse(
                552,
                format!("5.3.4 Attachments may be at most {n} octets each"),
                "attachment_size",
            ),
            MimeError::AttachmentType => Reply::refuse(
                554,
                "5.6.1 An attachment's type is not accepted",
                "attachment_type",
            ),
            MimeError::Text(e) => Reply::refuse(554, format!("5.6.0 Refused: {e}"), "text"),
        }
    }
}

/// The headers the loop rules read (`super::loops`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// `Auto-Submitted`'s keyword, lower case (RFC 3834: `no`, `auto-replied`, ...).
    pub auto_submitted: Option<String>,
    /// `Precedence`, lower case.
    pub precedence: Option<String>,
    /// A `List-Id` or `List-Unsubscribe` header: mailing-list mail.
    pub list: bool,
    /// Microsoft's `X-Auto-Response-Suppress`, lower case.
    pub auto_response_suppress: Option<String>,
    /// A delivery or disposition report (`multipart/report`): a bounce.
    pub report: bool,
}

/// One attachment, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    /// `type/subtype`, lower case.
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A parsed, checked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// The From header's first address, if it is one.
    pub from: Option<Address>,
    pub from_name: Option<String>,
    /// Decoded, on one line.
    pub subject: String,
    /// Every text body, decoded, HTML turned into text, LF line ends, trimmed.
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub signals: Signals,
}

/// Longest attachment name kept (characters); longer ones are cut.
const MAX_NAME_CHARS: usize = 200;
/// Parts that sign the message (S/MIME, OpenPGP): neither kept nor refused.
const SIGNATURES: [&str; 4] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
];
/// Longest Message-ID used; a longer one is treated as absent.
const MAX_MESSAGE_ID: usize = 995;

/// Parses and checks `raw` (the message as received after DATA).
pub fn parse(raw: &[u8], limits: &MimeLimits) -> Result<Mail, MimeError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MimeError::Unparsable)?;
    if message.headers().is_empty() {
        return Err(MimeError::Unparsable);
    }
    let subject = one_line(message.subject().unwrap_or(""));
    let body = body_text(&message);
    let (from, from_name) = match message.from().and_then(|a| a.first()) {
        Some(addr) => (
            addr.address().and_then(|a| Address::parse(a).ok()),
            addr.name()
                .map(one_line)
                .filter(|n| !n.is_empty() && n.chars().count() <= 100),
        ),
        None => (None, None),
    };
    let message_id = message
        .message_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
        .filter(|id| !id.is_empty() && id.len() <= MAX_MESSAGE_ID && id.is_ascii());
    let attachments = attachments(&message, limits)?;
    text::check("subject", &subject)?;
    text::check("body", &body)?;
    if let Some(name) = &from_name {
        text::check("from", name)?;
    }
    for a in &attachments {
        text::check("attachment name", &a.name)?;
    }
    if subject.is_empty() && body.is_empty() && attachments.is_empty() {
        return Err(MimeError::Empty);
    }
    Ok(Mail {
        message_id,
        from,
        from_name,
        subject,
        body,
        attachments,
        signals: signals(&message),
    })
}

fn header_word(message: &Message<'_>, name: &str) -> Option<String> {
    let raw = message.header_raw(name)?;
    let word = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (!word.is_empty()).then_some(word)
}

fn signals(message: &Message<'_>) -> Signals {
    let report = message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    Signals {
        auto_submitted: header_word(message, "Auto-Submitted"),
        precedence: header_word(message, "Precedence"),
        list: message.header_raw("List-Id").is_some()
            || message.header_raw("List-Unsubscribe").is_some(),
        auto_response_suppress: header_word(message, "X-Auto-Response-Suppress"),
        report,
    }
}

/// Folded or encoded headers may carry line breaks and tabs: one line, single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn body_text(message: &Message<'_>) -> String {
    let mut parts = Vec::new();
    for i in 0..message.text_body_count() {
        if let Some(text) = message.body_text(i) {
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            let text = text.trim();
            if !text.is_empty() {
                parts.push(text.to_owned());
            }
        }
    }
    parts.join("\n\n")
}

fn attachments(message: &Message<'_>, limits: &MimeLimits) -> Result<Vec<Attachment>, MimeError> {
    let mut out = Vec::new();
    for part in message.attachments() {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if out.len() >= limits.max_attachments {
            return Err(MimeError::TooManyAttachments(limits.max_attachments));
        }
        let content_type = match part.content_type() {
            Some(ct) => format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase()
            ),
            None => "application/octet-stream".to_owned(),
        };
        // A signature signs the mail in transit; it says nothing to the department.
        if SIGNATURES.contains(&content_type.as_str()) {
            continue;
        }
        if !type_allowed(&content_type, &limits.attachment_types) {
            return Err(MimeError::AttachmentType);
        }
        let content = part.contents();
        if content.len() as u64 > limits.max_attachment_bytes {
            return Err(MimeError::AttachmentTooLarge(limits.max_attachment_bytes));
        }
        let position = out.len() + 1;
        out.push(Attachment {
            name: file_name(part.attachment_name(), position),
            content_type,
            content: content.to_vec(),
        });
    }
    Ok(out)
}

/// Whether `content_type` is in `allowed` (`type/*` takes every subtype).
pub fn type_allowed(content_type: &str, allowed: &[String]) -> bool {
    let Some((ty, _)) = content_type.split_once('/') else {
        return false;
    };
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == content_type || a.strip_suffix("/*").is_some_and(|prefix| prefix == ty)
    })
}

/// The attachment's own name without any path (a name is never a path on our side), cut to
/// [`MAX_NAME_CHARS`]; `附件<n>` when it has none.
fn file_name(raw: Option<&str>, position: usize) -> String {
    let base = raw
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or("").trim().to_owned())
        .map(|n| one_line(&n))
        .filter(|n| !n.is_empty() && n != "." && n != "..");
    match base {
        Some(n) => n.chars().take(MAX_NAME_CHARS).collect(),
        None => format!("附件{position}"),
    }
}

/// A reply's own words: lines quoted with `>` dropped, and everything from the quoted
/// original's header on (`-----原始邮件-----`, `-----Original Message-----`, `在 … 写道：`,
/// `On … wrote:`), which the department has already.
pub fn strip_quoted(body: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        let starts_original = (t.starts_with("-----") && t.ends_with("-----") && t.len() > 10)
            || t.starts_with("________________")
            || (t.starts_with('在') && (t.ends_with("写道：") || t.ends_with("写道:")))
            || (t.starts_with("On ") && t.ends_with("wrote:"))
            || t.starts_with("发件人：")
            || t.starts_with("From: ");
        if starts_original {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> MimeLimits {
        MimeLimits {
            max_attachments: 2,
            max_attachment_bytes: 64,
            attachment_types: vec!["image/*".into(), "application/pdf".into()],
        }
    }

    fn parse_ok(raw: &[u8]) -> Mail {
        parse(raw, &limits()).expect("parses")
    }

    #[test]
    fn gbk_subject_and_quoted_printable_body_decode() {
        let raw = b"From: =?GBK?B?1cXI/Q==?= <ZhangSan@Example.COM>\r\n\
To: 12345@hotline.local\r\n\
Subject: =?GBK?B?wre1xrK7wcE=?=\r\n\
Message-ID: <abc.1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=GBK\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
=CC=EC=BA=D3=C2=B7208=BA=C5=C2=B7=B5=C6=BB=B5=C1=CB=C8=FD=CC=EC=A1=A3\r\n";
        let mail = parse_ok(raw);
        assert_eq!(mail.subject, "路灯不亮");
        assert_eq!(mail.body, "天河路208号路灯坏了三天。");
        assert_eq!(
            mail.from.map(|a| a.to_string()).as_deref(),
            Some("ZhangSan@example.com")
        );
        assert_eq!(mail.from_name.as_deref(), Some("张三"));
        assert_eq!(mail.message_id.as_deref(), Some("abc.1@example.com"));
        assert_eq!(mail.signals, Signals::default());
    }

    #[test]
    fn gb18030_four_byte_characters_and_base64_decode() {
        // U+20BB7 (𠮷) is outside GBK: only a real GB18030 decoder gets it right.
        let raw = b"From: a@b.cn\r\n\
Subject: =?gb18030?B?lTSyNdKwvNLDxb/ayqm5pNTr0vQ=?=\r\n\
Content-Type: text/plain; charset=\"GB18030\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
lTSyNdKwvNLDxb/a0rm85MqpuaSjrNTr0vTIxcPxoaM=\r\n";
        let mail = parse_ok(raw);
        assert_eq!(mail.subject, "𠮷野家门口施工噪音");
        assert_eq!(mail.body, "𠮷野家门口夜间施工，噪音扰民。");
    }

    #[test]
    fn gb2312_quoted_printable_subject_and_8bit_body_decode() {
        let mut raw = b"From: a@b.cn\r\n\
Subject: =?gb2312?Q?=CD=B6=CB=DF=D4=EB=D2=F4?=\r\n\
Content-Type: text/plain; charset=gb2312\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n"
            .to_vec();
        raw.extend_from_slice(&[
            0xcd, 0xed, 0xc9, 0xcf, 0xca, 0xae, 0xb5, 0xe3, 0xba, 0xf3, 0xbb, 0xb9, 0xd4, 0xda,
            0xca, 0xa9, 0xb9, 0xa4,
        ]);
        raw.extend_from_slice(b"\r\n");
        let mail = parse_ok(&raw);
        assert_eq!(mail.subject, "投诉噪音");
        assert_eq!(mail.body, "晚上十点后还在施工");
    }

    #[test]
    fn multipart_with_an_attachment_named_in_gbk() {
        let raw = b"From: a@b.cn\r\n\
Subject: photo\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
--XX\r\n\
Content-Type: multipart/alternative; boundary=\"YY\"\r\n\
\r\n\
--YY\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
see photo\r\n\
--YY\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>see <b>photo</b></p>\r\n\
--YY--\r\n\
--XX\r\n\
Content-Type: image/jpeg; name=\"=?GBK?B?z9azodXVxqwuanBn?=\"\r\n\
Content-Disposition: attachment; filename=\"=?GBK?B?z9azodXVxqwuanBn?=\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
/9j/4AAQSkZJRg==\r\n\
--XX--\r\n";
        let mail = parse_ok(raw);
        assert_eq!(mail.body, "see photo", "the plain alternative, once");
        assert_eq!(mail.attachments.len(), 1);
        let a = &mail.attachments[0];
        assert_eq!(a.name, "现场照片.jpg");
        assert_eq!(a.content_type, "image/jpeg");
        assert_eq!(a.content, b"\xff\xd8\xff\xe0\x00\x10JFIF");
    }

    #[test]
    fn rfc_2231_names_in_gb18030_and_signatures_skipped() {
        // As Python's email package writes a non-ASCII file name.
        let raw = b"From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n\
--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename*=gb18030''%CF%D6%B3%A1%D5%D5%C6%AC%CB%B5%C3%F7.pdf\r\n\r\n\
JVBERi0xLjQ=\r\n\
--B\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nsig\r\n--B--\r\n";
        let mail = parse_ok(raw);
        assert_eq!(
            mail.attachments.len(),
            1,
            "the signature is not an attachment"
        );
        assert_eq!(mail.attachments[0].name, "现场照片说明.pdf");
        assert_eq!(mail.attachments[0].content, b"%PDF-1.4");
    }

    fn with_attachment(content_type: &str, name: &str, base64: &str) -> Vec<u8> {
        format!(
            "From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n\
--B\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{base64}\r\n--B--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn attachments_out_of_limits_refuse_the_message() {
        let exe = with_attachment("application/x-msdownload", "a.exe", "TVqQAAMAAAAEAAAA");
        assert_eq!(parse(&exe, &limits()), Err(MimeError::AttachmentType));
        assert_eq!(MimeError::AttachmentType.reply().code(), 554);
        let big = with_attachment("image/png", "big.png", &"QUFB".repeat(30));
        assert_eq!(
            parse(&big, &limits()),
            Err(MimeError::AttachmentTooLarge(64))
        );
        assert_eq!(MimeError::AttachmentTooLarge(64).reply().code(), 552);
        let path = with_attachment("application/pdf", "..\\..\\etc/passwd.pdf", "JVBERi0=");
        assert_eq!(parse_ok(&path).attachments[0].name, "passwd.pdf");
        let mut three = String::from(
            "From: a@b.cn\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n",
        );
        for i in 0..3 {
            three.push_str(&format!(
                "--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"{i}.png\"\r\n\r\nx\r\n"
            ));
        }
        three.push_str("--B--\r\n");
        assert_eq!(
            parse(three.as_bytes(), &limits()),
            Err(MimeError::TooManyAttachments(2))
        );
    }

    #[test]
    fn control_characters_and_empty_messages_are_refused() {
        let raw = b"From: a@b.cn\r\nSubject: ok\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbell\x07here\r\n";
        let refused = parse(raw, &limits()).expect_err("control character");
        assert!(matches!(refused, MimeError::Text(_)));
        let reply = refused.reply();
        assert_eq!(reply.code(), 554);
        assert!(!reply.text().contains("bell"), "the text is not echoed");
        let encoded = b"From: a@b.cn\r\nSubject: =?utf-8?Q?a=1Bb?=\r\n\r\nx\r\n";
        assert!(matches!(parse(encoded, &limits()), Err(MimeError::Text(_))));
        let empty = b"From: a@b.cn\r\nTo: 12345@hotline.local\r\n\r\n\r\n";
        assert_eq!(parse(empty, &limits()), Err(MimeError::Empty));
        assert_eq!(parse(b"", &limits()), Err(MimeError::Unparsable));
    }

    #[test]
    fn loop_headers_are_read() {
        let raw = b"From: MAILER-DAEMON@b.cn\r\nSubject: Undelivered\r\nAuto-Submitted: Auto-Replied; owner=x\r\n\
Precedence: Bulk\r\nList-Id: <news.b.cn>\r\nX-Auto-Response-Suppress: All\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n\
--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R--\r\n";
        let s = parse_ok(raw).signals;
        assert_eq!(s.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(s.precedence.as_deref(), Some("bulk"));
        assert!(s.list && s.report);
        assert_eq!(s.auto_response_suppress.as_deref(), Some("all"));
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@b.cn\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>\xe8\xb7\xaf\xe7\x81\xaf</p><script>x</script></body></html>\r\n";
        let body = parse_ok(raw).body;
        assert!(body.contains("路灯"), "{body}");
        assert!(!body.contains("<p>"), "{body}");
    }

    #[test]
    fn quoted_originals_are_cut_from_replies() {
        let reply = "门牌号是12号\n\n> 您的诉求已受理\n> 工单编号 1\n";
        assert_eq!(strip_quoted(reply), "门牌号是12号");
        let outlook = "补充：东门\n\n-----原始邮件-----\n发件人：12345\n主题：您的诉求已受理";
        assert_eq!(strip_quoted(outlook), "补充：东门");
        let gmail = "see attached\n\nOn Mon, 1 Dec 2026 at 10:00, 12345 wrote:\n> x";
        assert_eq!(strip_quoted(gmail), "see attached");
        let qq = "好的\n在 2026年12月1日 10:00，12345 写道：\n原文";
        assert_eq!(strip_quoted(qq), "好的");
    }

    #[test]
    fn attachment_types_match_exactly_or_by_family() {
        let allowed = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(type_allowed("image/heic", &allowed));
        assert!(type_allowed("application/pdf", &allowed));
        assert!(!type_allowed("application/pdfx", &allowed));
        assert!(!type_allowed("imagex/png", &allowed));
        assert!(!type_allowed("nonsense", &allowed));
    }
}
