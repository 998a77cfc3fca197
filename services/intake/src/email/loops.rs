//! No mail loops. Two questions about every taken message:
//!
//! - [`dropped`]: is it a citizen's request at all? Bounces (null reverse-path, delivery
//!   reports, mail from MAILER-DAEMON or postmaster), other systems' auto-replies
//!   (`Auto-Submitted: auto-replied`, out-of-office answers to our receipt included) and our own
//!   mail coming back are taken with 250 and open no ticket.
//! - [`reply_to`]: may it be answered? RFC 3834's rules: never to a null reverse-path, never
//!   when `Auto-Submitted` is anything but `no`, nor to `Precedence: bulk|junk|list`, mailing
//!   lists (`List-Id`, `List-Unsubscribe`), `X-Auto-Response-Suppress: All|AutoReply`, daemons,
//!   no-reply addresses, or our own domain. The answer goes to the reverse-path (RFC 3834 §4),
//!   from the null reverse-path and with `Auto-Submitted: auto-replied` (`super::reply`), so
//!   whatever answers it cannot answer back.

use super::address::Address;
use super::mime::Mail;
use super::smtp::ReversePath;

/// Why a taken message opens no ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Bounce,
    AutoReply,
    Own,
}

impl Dropped {
    pub fn outcome(self) -> &'static str {
        match self {
            Dropped::Bounce => "dropped_bounce",
            Dropped::AutoReply => "dropped_auto_reply",
            Dropped::Own => "dropped_own",
        }
    }
}

/// Why a message gets no auto-reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    NullSender,
    AutoSubmitted,
    Precedence,
    List,
    ResponseSuppressed,
    Daemon,
    NoReply,
    Own,
}

impl Suppressed {
    /// The metric's outcome.
    pub fn outcome(self) -> &'static str {
        match self {
            Suppressed::NullSender => "suppressed_null_sender",
            Suppressed::AutoSubmitted => "suppressed_auto_submitted",
            Suppressed::Precedence => "suppressed_precedence",
            Suppressed::List => "suppressed_list",
            Suppressed::ResponseSuppressed => "suppressed_response_suppress",
            Suppressed::Daemon => "suppressed_daemon",
            Suppressed::NoReply => "suppressed_no_reply",
            Suppressed::Own => "suppressed_own",
        }
    }
}

/// Whether a taken message is no request (see the module header).
pub fn dropped(reverse_path: &ReversePath, mail: &Mail, own: &Address) -> Option<Dropped> {
    let Some(sender) = reverse_path.mailbox() else {
        // RFC 5321 §4.5.5: the null reverse-path is for notifications only.
        return Some(Dropped::Bounce);
    };
    if mail.signals.report || is_daemon(sender) || mail.from.as_ref().is_some_and(is_daemon) {
        return Some(Dropped::Bounce);
    }
    if mail.signals.auto_submitted.as_deref() == Some("auto-replied") {
        return Some(Dropped::AutoReply);
    }
    if is_own(sender, own) || mail.from.as_ref().is_some_and(|f| is_own(f, own)) {
        return Some(Dropped::Own);
    }
    None
}

/// Where the auto-reply goes, or why there is none.
pub fn reply_to(
    reverse_path: &ReversePath,
    mail: &Mail,
    own: &Address,
) -> Result<Address, Suppressed> {
    let Some(sender) = reverse_path.mailbox() else {
        return Err(Suppressed::NullSender);
    };
    let s = &mail.signals;
    if s.auto_submitted.as_deref().is_some_and(|v| v != "no") {
        return Err(Suppressed::AutoSubmitted);
    }
    if s.precedence
        .as_deref()
        .is_some_and(|p| matches!(p, "bulk" | "junk" | "list"))
    {
        return Err(Suppressed::Precedence);
    }
    if s.list {
        return Err(Suppressed::List);
    }
    if s.auto_response_suppress.as_deref().is_some_and(|v| {
        v.split(',')
            .any(|w| matches!(w.trim(), "all" | "autoreply" | "oof"))
    }) {
        return Err(Suppressed::ResponseSuppressed);
    }
    let from = mail.from.as_ref();
    if is_daemon(sender) || from.is_some_and(is_daemon) {
        return Err(Suppressed::Daemon);
    }
    if is_no_reply(sender) {
        return Err(Suppressed::NoReply);
    }
    if is_own(sender, own) || from.is_some_and(|f| is_own(f, own)) {
        return Err(Suppressed::Own);
    }
    Ok(sender.clone())
}

/// Mailer daemons, postmasters and list software (RFC 3834 §2).
fn is_daemon(a: &Address) -> bool {
    let local = a.local().to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "listserv" | "majordomo" | "mailer"
    ) || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
}

fn is_no_reply(a: &Address) -> bool {
    let local = a.local().to_ascii_lowercase().replace(['-', '_', '.'], "");
    matches!(local.as_str(), "noreply" | "donotreply")
}

/// Our own address, or anything at our domain (a reply there would come back to us).
fn is_own(a: &Address, own: &Address) -> bool {
    a.domain() == own.domain()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::mime::Signals;

    fn own() -> Address {
        Address::parse("12345@hotline.local").expect("own")
    }

    fn from(addr: &str) -> ReversePath {
        ReversePath::Mailbox(Address::parse(addr).expect("addr"))
    }

    fn mail(signals: Signals) -> Mail {
        Mail {
            message_id: None,
            from: Some(Address::parse("citizen@example.cn").expect("addr")),
            from_name: None,
            subject: "s".into(),
            body: "b".into(),
            attachments: vec![],
            signals,
        }
    }

    #[test]
    fn a_citizens_mail_is_answered_at_its_reverse_path() {
        let m = mail(Signals::default());
        let sender = from("bounce+x@mail.example.cn");
        assert_eq!(dropped(&sender, &m, &own()), None);
        assert_eq!(
            reply_to(&sender, &m, &own()).map(|a| a.to_string()),
            Ok("bounce+x@mail.example.cn".to_owned())
        );
        let explicit_no = mail(Signals {
            auto_submitted: Some("no".into()),
            ..Signals::default()
        });
        assert!(
            reply_to(&sender, &explicit_no, &own()).is_ok(),
            "Auto-Submitted: no"
        );
    }

    #[test]
    fn automatic_and_list_mail_gets_no_reply() {
        let sender = from("citizen@example.cn");
        for (signals, why) in [
            (
                Signals {
                    auto_submitted: Some("auto-generated".into()),
                    ..Signals::default()
                },
                Suppressed::AutoSubmitted,
            ),
            (
                Signals {
                    precedence: Some("bulk".into()),
                    ..Signals::default()
                },
                Suppressed::Precedence,
            ),
            (
                Signals {
                    precedence: Some("junk".into()),
                    ..Signals::default()
                },
                Suppressed::Precedence,
            ),
            (
                Signals {
                    precedence: Some("list".into()),
                    ..Signals::default()
                },
                Suppressed::Precedence,
            ),
            (
                Signals {
                    list: true,
                    ..Signals::default()
                },
                Suppressed::List,
            ),
            (
                Signals {
                    auto_response_suppress: Some("dr, autoreply".into()),
                    ..Signals::default()
                },
                Suppressed::ResponseSuppressed,
            ),
        ] {
            assert_eq!(reply_to(&sender, &mail(signals), &own()), Err(why));
        }
        let normal = mail(Signals::default());
        assert_eq!(
            reply_to(&ReversePath::Null, &normal, &own()),
            Err(Suppressed::NullSender)
        );
        for (addr, why) in [
            ("MAILER-DAEMON@example.cn", Suppressed::Daemon),
            ("postmaster@example.cn", Suppressed::Daemon),
            ("owner-list@example.cn", Suppressed::Daemon),
            ("news-request@example.cn", Suppressed::Daemon),
            ("no-reply@example.cn", Suppressed::NoReply),
            ("do_not_reply@example.cn", Suppressed::NoReply),
            ("12345@hotline.local", Suppressed::Own),
            ("other@HOTLINE.local", Suppressed::Own),
        ] {
            assert_eq!(reply_to(&from(addr), &normal, &own()), Err(why), "{addr}");
        }
        let mut spoofed = mail(Signals::default());
        spoofed.from = Some(own());
        assert_eq!(
            reply_to(&from("citizen@example.cn"), &spoofed, &own()),
            Err(Suppressed::Own),
            "our own auto-reply coming back through a forwarder"
        );
    }

    #[test]
    fn bounces_auto_replies_and_our_own_mail_open_no_ticket() {
        let normal = mail(Signals::default());
        assert_eq!(
            dropped(&ReversePath::Null, &normal, &own()),
            Some(Dropped::Bounce)
        );
        let report = mail(Signals {
            report: true,
            ..Signals::default()
        });
        assert_eq!(
            dropped(&from("citizen@example.cn"), &report, &own()),
            Some(Dropped::Bounce)
        );
        assert_eq!(
            dropped(&from("MAILER-DAEMON@example.cn"), &normal, &own()),
            Some(Dropped::Bounce)
        );
        let ooo = mail(Signals {
            auto_submitted: Some("auto-replied".into()),
            ..Signals::default()
        });
        assert_eq!(
            dropped(&from("citizen@example.cn"), &ooo, &own()),
            Some(Dropped::AutoReply)
        );
        assert_eq!(
            dropped(&from("12345@hotline.local"), &normal, &own()),
            Some(Dropped::Own)
        );
        let generated = mail(Signals {
            auto_submitted: Some("auto-generated".into()),
            ..Signals::default()
        });
        assert_eq!(
            dropped(&from("sensor@example.cn"), &generated, &own()),
            None,
            "a system's report is a request (it only gets no reply)"
        );
    }
}
