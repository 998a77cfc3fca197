//! SMTP's server side (RFC 5321) as a state machine without I/O: [`Session`] takes one command
//! line at a time and answers the [`Reply`] to send; [`DataReader`] takes the lines after
//! `354` and gives back the message, dot-unstuffed, or the refusal. [`super::server`] does the
//! reading, writing and timing.
//!
//! Extensions advertised: SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
//! PIPELINING (RFC 2920: replies go out in order from one buffered reader, so batched commands
//! are safe) and ENHANCEDSTATUSCODES (RFC 2034). STARTTLS, AUTH, DSN and CHUNKING are not
//! offered; their commands answer 502.
//!
//! Only `mailbox@domain` is taken: any other recipient is refused at RCPT, so no message for
//! anyone else is ever read (no relaying).

use std::sync::Arc;

use super::address::Address;

/// Most refused commands in one session before it is closed (a client that only sends
/// garbage gets no more of our time).
pub const MAX_ERRORS: u32 = 20;

/// One SMTP reply: a code and its lines (each line's text starts with the enhanced status
/// code where RFC 2034 defines one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    lines: Vec<String>,
    /// Why we refused, for the metrics (a fixed word, never the client's text).
    reason: Option<&'static str>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
            reason: None,
        }
    }

    /// A refusal counted under `reason`.
    pub fn refuse(code: u16, text: impl Into<String>, reason: &'static str) -> Reply {
        Reply {
            reason: Some(reason),
            ..Reply::new(code, text)
        }
    }

    fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            lines,
            reason: None,
        }
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    pub fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// The first line's text.
    pub fn text(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }

    /// The reply as sent: `code-text` for every line but the last, `code text` for the last.
    pub fn wire(&self) -> String {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            // No CR or LF may break out of the line (texts are ours, but ticket numbers and
            // host names pass through format!).
            let line: String = line.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.push_str(&format!("{}{sep}{line}\r\n", self.code));
        }
        if self.lines.is_empty() {
            out.push_str(&format!("{}\r\n", self.code));
        }
        out
    }
}

/// Who we are in the conversation.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The name in the greeting and in EHLO's reply.
    pub hostname: String,
    /// The one mailbox taken: `mailbox@domain`.
    pub mailbox: String,
    pub domain: String,
}

/// What one session may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_recipients: usize,
    /// Longest line, CRLF included.
    pub max_line_bytes: usize,
}

/// MAIL FROM's path: `<>` (notifications: bounces, auto-replies) or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Address),
}

impl ReversePath {
    pub fn mailbox(&self) -> Option<&Address> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(a) => Some(a),
        }
    }
}

/// One accepted transaction, handed over with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub helo: String,
    pub reverse_path: ReversePath,
    pub recipients: Vec<Address>,
    pub smtputf8: bool,
}

/// What the server does after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send the reply and read the next command.
    Reply(Reply),
    /// Send the `354` and read the message with a [`DataReader`]; then [`Session::end_data`].
    Data(Reply),
    /// Send the reply and close the connection.
    Close(Reply),
}

#[derive(Debug, Clone)]
struct Transaction {
    reverse_path: ReversePath,
    recipients: Vec<Address>,
    /// A RCPT was tried, accepted or not: DATA without any answers 503, with only refused
    /// ones 554 (RFC 5321 §3.3).
    rcpt_tried: bool,
    smtputf8: bool,
}

/// One connection's SMTP state.
#[derive(Debug)]
pub struct Session {
    identity: Arc<Identity>,
    limits: Limits,
    helo: Option<String>,
    transaction: Option<Transaction>,
    errors: u32,
}

impl Session {
    pub fn new(identity: Arc<Identity>, limits: Limits) -> Session {
        Session {
            identity,
            limits,
            helo: None,
            transaction: None,
            errors: 0,
        }
    }

    pub fn greeting(&self) -> Reply {
        Reply::new(
            220,
            format!("{} ESMTP 12345 hotline", self.identity.hostname),
        )
    }

    /// A command line longer than the limit (the reader kept only its start).
    pub fn line_too_long(&mut self) -> Next {
        self.error(Reply::refuse(
            500,
            format!(
                "5.5.2 Line too long (at most {} octets)",
                self.limits.max_line_bytes
            ),
            "line_too_long",
        ))
    }

    /// One command line, without its CRLF.
    pub fn command(&mut self, line: &[u8]) -> Next {
        let Ok(line) = std::str::from_utf8(line) else {
            return self.error(Reply::refuse(500, "5.5.2 Command not recognised", "syntax"));
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a.trim()),
            None => (line.trim_end(), ""),
        };
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => self.hello(&verb, arg),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(arg),
            "RSET" => self.no_argument(arg, |s| {
                s.transaction = None;
                Next::Reply(Reply::new(250, "2.0.0 OK"))
            }),
            "NOOP" => Next::Reply(Reply::new(250, "2.0.0 OK")),
            "QUIT" => Next::Close(Reply::new(221, "2.0.0 Bye")),
            "VRFY" if arg.is_empty() => {
                self.error(Reply::refuse(501, "5.5.4 Syntax: VRFY <address>", "syntax"))
            }
            // RFC 5321 §3.5.3: 252 says neither yes nor no, so mailboxes cannot be harvested.
            "VRFY" => Next::Reply(Reply::new(
                252,
                "2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
            )),
            "HELP" => Next::Reply(Reply::new(
                214,
                format!(
                    "2.0.0 Send mail to {}@{} (RFC 5321)",
                    self.identity.mailbox, self.identity.domain
                ),
            )),
            "EXPN" | "STARTTLS" | "AUTH" | "BDAT" | "ETRN" | "TURN" => self.error(Reply::refuse(
                502,
                "5.5.1 Command not implemented",
                "not_implemented",
            )),
            _ => self.error(Reply::refuse(500, "5.5.2 Command not recognised", "syntax")),
        }
    }

    /// The transaction whose message was read; the session is ready for the next MAIL.
    pub fn end_data(&mut self) -> Option<Envelope> {
        let t = self.transaction.take()?;
        Some(Envelope {
            helo: self.helo.clone().unwrap_or_default(),
            reverse_path: t.reverse_path,
            recipients: t.recipients,
            smtputf8: t.smtputf8,
        })
    }

    /// Counts a refusal; past [`MAX_ERRORS`] the session ends.
    fn error(&mut self, reply: Reply) -> Next {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            return Next::Close(Reply::refuse(
                421,
                format!(
                    "4.7.0 {} Too many errors, closing connection",
                    self.identity.hostname
                ),
                "too_many_errors",
            ));
        }
        Next::Reply(reply)
    }

    fn no_argument(&mut self, arg: &str, then: impl FnOnce(&mut Session) -> Next) -> Next {
        if arg.is_empty() {
            then(self)
        } else {
            self.error(Reply::refuse(501, "5.5.4 No parameters allowed", "syntax"))
        }
    }

    fn hello(&mut self, verb: &str, arg: &str) -> Next {
        let name = arg.split_whitespace().next().unwrap_or("");
        if name.is_empty() || name.chars().any(char::is_control) {
            return self.error(Reply::refuse(
                501,
                format!("5.5.4 Syntax: {verb} <domain>"),
                "syntax",
            ));
        }
        // A new greeting resets any transaction (RFC 5321 §4.1.4).
        self.transaction = None;
        self.helo = Some(name.to_owned());
        let host = &self.identity.hostname;
        if verb == "HELO" {
            return Next::Reply(Reply::new(250, host.clone()));
        }
        Next::Reply(Reply::multi(
            250,
            vec![
                format!("{host} greets {name}"),
                format!("SIZE {}", self.limits.max_message_bytes),
                "8BITMIME".to_owned(),
                "SMTPUTF8".to_owned(),
                "PIPELINING".to_owned(),
                "ENHANCEDSTATUSCODES".to_owned(),
            ],
        ))
    }

    fn mail(&mut self, arg: &str) -> Next {
        if self.helo.is_none() {
            return self.error(Reply::refuse(
                503,
                "5.5.1 Send EHLO or HELO first",
                "sequence",
            ));
        }
        if self.transaction.is_some() {
            return self.error(Reply::refuse(503, "5.5.1 Nested MAIL command", "sequence"));
        }
        let Some((path, params)) = path_argument(arg, "FROM:") else {
            return self.error(Reply::refuse(
                501,
                "5.5.4 Syntax: MAIL FROM:<address>",
                "syntax",
            ));
        };
        let mut smtputf8 = false;
        for param in params.split_whitespace() {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
                None => (param.to_ascii_uppercase(), None),
            };
            match (key.as_str(), value) {
                ("SIZE", Some(v)) => match v.parse::<u64>() {
                    Ok(size) if size > self.limits.max_message_bytes => {
                        return self.error(Reply::refuse(
                            552,
                            "5.3.4 Message size exceeds fixed maximum message size",
                            "too_large",
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return self.error(Reply::refuse(
                            501,
                            "5.5.4 Bad SIZE parameter",
                            "syntax",
                        ));
                    }
                },
                ("BODY", Some(v))
                    if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
                ("SMTPUTF8", None) => smtputf8 = true,
                _ => {
                    return self.error(Reply::refuse(
                        555,
                        "5.5.4 Unsupported MAIL parameter",
                        "parameter",
                    ));
                }
            }
        }
        let reverse_path = if path.is_empty() {
            ReversePath::Null
        } else {
            match Address::parse(path) {
                Ok(a) if !a.is_ascii() && !smtputf8 => {
                    return self.error(Reply::refuse(
                        553,
                        "5.6.7 Non-ASCII address needs the SMTPUTF8 parameter",
                        "syntax",
                    ));
                }
                Ok(a) => ReversePath::Mailbox(a),
                Err(_) => {
                    return self.error(Reply::refuse(
                        501,
                        "5.1.7 Bad sender address syntax",
                        "bad_address",
                    ));
                }
            }
        };
        self.transaction = Some(Transaction {
            reverse_path,
            recipients: Vec::new(),
            rcpt_tried: false,
            smtputf8,
        });
        Next::Reply(Reply::new(250, "2.1.0 Sender OK"))
    }

    fn rcpt(&mut self, arg: &str) -> Next {
        let Some(t) = self.transaction.as_mut() else {
            return self.error(Reply::refuse(
                503,
                "5.5.1 Need MAIL before RCPT",
                "sequence",
            ));
        };
        t.rcpt_tried = true;
        let smtputf8 = t.smtputf8;
        let count = t.recipients.len();
        let Some((path, params)) = path_argument(arg, "TO:") else {
            return self.error(Reply::refuse(
                501,
                "5.5.4 Syntax: RCPT TO:<address>",
                "syntax",
            ));
        };
        if !params.trim().is_empty() {
            return self.error(Reply::refuse(
                555,
                "5.5.4 Unsupported RCPT parameter",
                "parameter",
            ));
        }
        if count >= self.limits.max_recipients {
            // 452, not 5xx: the client sends the rest in another transaction (RFC 5321 §4.5.3.1.10).
            return Next::Reply(Reply::refuse(
                452,
                "4.5.3 Too many recipients",
                "too_many_recipients",
            ));
        }
        if path.eq_ignore_ascii_case("postmaster") {
            // The bare `<Postmaster>` of RFC 5321 §4.1.1.3: this host is no postmaster's.
            return self.error(Reply::refuse(
                550,
                "5.1.1 No such mailbox here",
                "unknown_recipient",
            ));
        }
        let address = match Address::parse(path) {
            Ok(a) if !a.is_ascii() && !smtputf8 => {
                return self.error(Reply::refuse(
                    553,
                    "5.6.7 Non-ASCII address needs the SMTPUTF8 parameter",
                    "syntax",
                ));
            }
            Ok(a) => a,
            Err(_) => {
                return self.error(Reply::refuse(
                    501,
                    "5.1.3 Bad recipient address syntax",
                    "bad_address",
                ));
            }
        };
        if !address.domain().eq_ignore_ascii_case(&self.identity.domain) {
            return self.error(Reply::refuse(550, "5.7.1 Relaying denied", "relay_denied"));
        }
        if !address.is_mailbox(&self.identity.mailbox, &self.identity.domain) {
            return self.error(Reply::refuse(
                550,
                "5.1.1 No such mailbox here",
                "unknown_recipient",
            ));
        }
        if let Some(t) = self.transaction.as_mut() {
            t.recipients.push(address);
        }
        Next::Reply(Reply::new(250, "2.1.5 Recipient OK"))
    }

    fn data(&mut self, arg: &str) -> Next {
        if !arg.is_empty() {
            return self.error(Reply::refuse(501, "5.5.4 No parameters allowed", "syntax"));
        }
        let Some(t) = self.transaction.as_ref() else {
            return self.error(Reply::refuse(
                503,
                "5.5.1 Need MAIL before DATA",
                "sequence",
            ));
        };
        if t.recipients.is_empty() {
            let reply = if t.rcpt_tried {
                Reply::refuse(554, "5.5.1 No valid recipients", "no_recipients")
            } else {
                Reply::refuse(503, "5.5.1 Need RCPT before DATA", "sequence")
            };
            return self.error(reply);
        }
        Next::Data(Reply::new(354, "End data with <CR><LF>.<CR><LF>"))
    }
}

/// `FROM:<path> params` → (`path` without brackets or source route, `params`). Tolerates a
/// space after the colon, which some clients send.
fn path_argument<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let mut path = &rest[..end];
    let params = &rest[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return None;
    }
    // A source route (`@a,@b:user@host`) is to be ignored (RFC 5321 §3.3).
    if path.starts_with('@') {
        path = path.split_once(':').map(|(_, p)| p)?;
    }
    Some((path, params))
}

/// The message after `354`, line by line: dot-unstuffed, lines rejoined with CRLF, size
/// counted. Past the limit nothing more is kept but reading goes on to the end marker, so the
/// session can answer 552 and carry on.
#[derive(Debug)]
pub struct DataReader {
    max_bytes: u64,
    max_line_bytes: usize,
    message: Vec<u8>,
    size: u64,
    long_line: bool,
}

impl DataReader {
    pub fn new(limits: &Limits) -> DataReader {
        DataReader {
            max_bytes: limits.max_message_bytes,
            max_line_bytes: limits.max_line_bytes,
            message: Vec::new(),
            size: 0,
            long_line: false,
        }
    }

    /// One line as read, without its line end; `too_long` when the reader cut it. `true` at
    /// the end marker (a line holding one dot).
    pub fn line(&mut self, line: &[u8], too_long: bool) -> bool {
        if !too_long && line == b"." {
            return true;
        }
        self.long_line |= too_long;
        // RFC 5321 §4.5.2: a leading dot was doubled by the client.
        let line = line.strip_prefix(b".").unwrap_or(line);
        self.size = self.size.saturating_add(line.len() as u64 + 2);
        if self.size <= self.max_bytes && !self.long_line {
            self.message.extend_from_slice(line);
            self.message.extend_from_slice(b"\r\n");
        }
        false
    }

    /// The message, or why it is refused.
    pub fn finish(self) -> Result<Vec<u8>, Reply> {
        if self.size > self.max_bytes {
            return Err(Reply::refuse(
                552,
                "5.3.4 Message size exceeds fixed maximum message size",
                "too_large",
            ));
        }
        if self.long_line {
            return Err(Reply::refuse(
                554,
                format!("5.6.0 A line is longer than {} octets", self.max_line_bytes),
                "line_too_long",
            ));
        }
        Ok(self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(
            Arc::new(Identity {
                hostname: "hotline.local".into(),
                mailbox: "12345".into(),
                domain: "hotline.local".into(),
            }),
            Limits {
                max_message_bytes: 1000,
                max_recipients: 2,
                max_line_bytes: 1000,
            },
        )
    }

    fn code(next: &Next) -> u16 {
        match next {
            Next::Reply(r) | Next::Data(r) | Next::Close(r) => r.code(),
        }
    }

    fn send(s: &mut Session, line: &str) -> u16 {
        code(&s.command(line.as_bytes()))
    }

    #[test]
    fn a_whole_transaction_in_order() {
        let mut s = session();
        assert!(s.greeting().wire().starts_with("220 hotline.local "));
        let Next::Reply(ehlo) = s.command(b"EHLO client.example") else {
            panic!("EHLO answered with a reply");
        };
        let wire = ehlo.wire();
        assert!(wire.starts_with("250-hotline.local greets client.example\r\n"));
        for ext in ["250-SIZE 1000\r\n", "250-8BITMIME\r\n", "250-SMTPUTF8\r\n"] {
            assert!(wire.contains(ext), "{ext} advertised in {wire}");
        }
        assert!(wire.ends_with("250 ENHANCEDSTATUSCODES\r\n"));
        assert!(!wire.contains("STARTTLS"), "no certificate, no STARTTLS");
        assert_eq!(
            send(
                &mut s,
                "MAIL FROM:<citizen@Example.com> SIZE=500 BODY=8BITMIME"
            ),
            250
        );
        assert_eq!(send(&mut s, "RCPT TO:<12345@HOTLINE.local>"), 250);
        let next = s.command(b"DATA");
        assert!(matches!(next, Next::Data(ref r) if r.code() == 354));
        let envelope = s.end_data().expect("the transaction");
        assert_eq!(
            envelope.reverse_path,
            ReversePath::Mailbox(Address::parse("citizen@example.com").expect("addr"))
        );
        assert_eq!(envelope.recipients.len(), 1);
        assert_eq!(envelope.helo, "client.example");
        // The next transaction starts afresh.
        assert_eq!(send(&mut s, "RCPT TO:<12345@hotline.local>"), 503);
        assert_eq!(send(&mut s, "MAIL FROM:<>"), 250, "null reverse-path");
        assert_eq!(send(&mut s, "RSET"), 250);
        assert_eq!(send(&mut s, "DATA"), 503, "RSET ended the transaction");
        assert_eq!(send(&mut s, "NOOP"), 250);
        assert_eq!(send(&mut s, "VRFY 12345"), 252);
        assert_eq!(send(&mut s, "VRFY"), 501);
        assert!(matches!(s.command(b"QUIT"), Next::Close(ref r) if r.code() == 221));
    }

    #[test]
    fn commands_out_of_order_and_bad_syntax_get_their_codes() {
        let mut s = session();
        assert_eq!(send(&mut s, "MAIL FROM:<a@b.cn>"), 503, "no greeting yet");
        assert_eq!(send(&mut s, "HELO"), 501);
        assert_eq!(send(&mut s, "HELO client"), 250);
        assert_eq!(
            send(&mut s, "MAIL FROM:a@b.cn"),
            501,
            "brackets are required"
        );
        assert_eq!(send(&mut s, "MAIL FROM:<not an address>"), 501);
        assert_eq!(send(&mut s, "MAIL FROM:<a@b.cn> RET=FULL"), 555, "no DSN");
        assert_eq!(send(&mut s, "MAIL FROM:<a@b.cn> SIZE=x"), 501);
        assert_eq!(send(&mut s, "MAIL FROM:<a@b.cn> SIZE=1001"), 552);
        assert_eq!(
            send(&mut s, "MAIL FROM:<张三@例子.中国>"),
            553,
            "no SMTPUTF8"
        );
        assert_eq!(send(&mut s, "MAIL FROM:<张三@例子.中国> SMTPUTF8"), 250);
        assert_eq!(send(&mut s, "MAIL FROM:<a@b.cn>"), 503, "nested MAIL");
        let mut s = session();
        assert_eq!(send(&mut s, "EHLO client"), 250);
        assert_eq!(send(&mut s, "MAIL FROM:<张三@例子.中国> SMTPUTF8"), 250);
        assert_eq!(send(&mut s, "DATA"), 503, "no RCPT tried");
        assert_eq!(send(&mut s, "RCPT TO:<other@hotline.local>"), 550);
        assert_eq!(
            send(&mut s, "RCPT TO:<12345@elsewhere.cn>"),
            550,
            "no relay"
        );
        assert_eq!(send(&mut s, "DATA"), 554, "every RCPT refused");
        assert_eq!(
            send(&mut s, "RCPT TO:<12345@hotline.local> NOTIFY=NEVER"),
            555
        );
        assert_eq!(send(&mut s, "RCPT TO:<@relay.cn:12345@hotline.local>"), 250);
        assert_eq!(send(&mut s, "DATA now"), 501);
        assert_eq!(send(&mut s, "STARTTLS"), 502);
        assert_eq!(send(&mut s, "FROB"), 500);
        assert_eq!(code(&s.command(b"\xff\xfe")), 500, "not UTF-8");
        let refused = s.command(b"RCPT TO:<other@hotline.local>");
        let Next::Reply(r) = refused else {
            panic!("a reply")
        };
        assert_eq!(r.reason(), Some("unknown_recipient"));
        assert!(r.wire().starts_with("550 5.1.1 "));
    }

    #[test]
    fn recipients_are_limited_per_message() {
        let mut s = session();
        send(&mut s, "EHLO c");
        send(&mut s, "MAIL FROM:<a@b.cn>");
        assert_eq!(send(&mut s, "RCPT TO:<12345@hotline.local>"), 250);
        assert_eq!(send(&mut s, "RCPT TO:<12345@hotline.local>"), 250);
        assert_eq!(send(&mut s, "RCPT TO:<12345@hotline.local>"), 452);
        assert_eq!(s.end_data().expect("tx").recipients.len(), 2);
    }

    #[test]
    fn too_many_errors_close_the_session() {
        let mut s = session();
        for _ in 0..MAX_ERRORS {
            assert_eq!(send(&mut s, "FROB"), 500);
        }
        assert!(matches!(s.command(b"FROB"), Next::Close(ref r) if r.code() == 421));
        let mut s = session();
        assert!(matches!(s.line_too_long(), Next::Reply(ref r) if r.code() == 500));
    }

    #[test]
    fn data_is_dot_unstuffed_and_limited() {
        let limits = Limits {
            max_message_bytes: 40,
            max_recipients: 1,
            max_line_bytes: 1000,
        };
        let mut d = DataReader::new(&limits);
        for line in [&b"Subject: x"[..], b"", b"..leading dot", b".", b"after"] {
            if d.line(line, false) {
                break;
            }
        }
        assert_eq!(
            d.finish().expect("message"),
            b"Subject: x\r\n\r\n.leading dot\r\n"
        );

        let mut d = DataReader::new(&limits);
        for _ in 0..10 {
            assert!(!d.line(b"0123456789", false));
        }
        assert!(d.line(b".", false), "read on to the end marker");
        let refused = d.finish().expect_err("too large");
        assert_eq!(refused.code(), 552);
        assert_eq!(refused.reason(), Some("too_large"));

        let mut d = DataReader::new(&limits);
        d.line(b"cut", true);
        assert!(!d.line(b".", true), "a cut line is no end marker");
        assert!(d.line(b".", false));
        assert_eq!(d.finish().expect_err("long line").code(), 554);
    }

    #[test]
    fn replies_are_one_line_each() {
        let r = Reply::new(250, "2.0.0 OK ticket 1\r\n250 forged");
        assert_eq!(r.wire(), "250 2.0.0 OK ticket 1250 forged\r\n");
    }
}
