//! A mailbox address (`local@domain`), parsed once at the edge: from SMTP's MAIL FROM / RCPT TO
//! paths and from the From header.
//!
//! The domain is lower-cased (domains are case-insensitive); the local part is kept as sent,
//! since RFC 5321 §2.4 lets the receiving host decide whether its case matters. Two addresses
//! are the same contact when both parts are equal after that.

use std::fmt;

/// Longest address SMTP can carry (RFC 5321 §4.5.3.1: a 256-octet path with its brackets).
const MAX_ADDRESS: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

/// Why a text is no address. Names no part of the text (it is personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("no '@' between a local part and a domain")]
    Shape,
    #[error("the address is too long")]
    Length,
    #[error("the local part has a character an address cannot carry")]
    Local,
    #[error("the domain is not a domain name")]
    Domain,
}

/// A checked, normalised mailbox address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

impl Address {
    /// `local@domain`, without angle brackets. Non-ASCII is allowed in both parts (SMTPUTF8).
    pub fn parse(raw: &str) -> Result<Address, AddressError> {
        let raw = raw.trim();
        if raw.len() > MAX_ADDRESS {
            return Err(AddressError::Length);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(AddressError::Shape)?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Shape);
        }
        if local.len() > MAX_LOCAL || domain.len() > MAX_DOMAIN {
            return Err(AddressError::Length);
        }
        if !local_ok(local) {
            return Err(AddressError::Local);
        }
        if !domain_ok(domain) {
            return Err(AddressError::Domain);
        }
        Ok(Address {
            local: local.to_owned(),
            domain: domain.to_lowercase(),
        })
    }

    /// An address from parts the configuration already checked.
    pub fn from_parts(local: &str, domain: &str) -> Result<Address, AddressError> {
        Address::parse(&format!("{local}@{domain}"))
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether this is the mailbox `local@domain`, the local part compared without case (our
    /// own mailbox: `12345` has no case, but `Postmaster`-style names do).
    pub fn is_mailbox(&self, local: &str, domain: &str) -> bool {
        self.local.eq_ignore_ascii_case(local) && self.domain.eq_ignore_ascii_case(domain)
    }

    /// Whether either part needs SMTPUTF8.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// A dot-atom or a quoted string (RFC 5321 §4.1.2), non-ASCII allowed (RFC 6531).
fn local_ok(local: &str) -> bool {
    if let Some(inner) = local
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| !c.is_control() && c != '"' && c != '\\');
    }
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// Labels of letters, digits and hyphens (or non-ASCII, for internationalised names), or an
/// address literal in brackets.
fn domain_ok(domain: &str) -> bool {
    if let Some(literal) = domain
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        let ip = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return ip.parse::<std::net::IpAddr>().is_ok();
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || c == '-'
                    || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lower_cased_and_local_parts_kept() {
        let a = Address::parse(" Zhang.San@Example.COM ").expect("valid");
        assert_eq!(a.to_string(), "Zhang.San@example.com");
        assert_eq!(a, Address::parse("Zhang.San@example.com").expect("valid"));
        assert_ne!(a, Address::parse("zhang.san@example.com").expect("valid"));
        assert!(a.is_ascii());
        let utf8 = Address::parse("张三@例子.中国").expect("SMTPUTF8");
        assert!(!utf8.is_ascii());
        assert_eq!(utf8.domain(), "例子.中国");
        assert!(Address::parse("\"a b\"@x.cn").is_ok(), "quoted local part");
        assert!(Address::parse("a@[127.0.0.1]").is_ok(), "address literal");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for (raw, why) in [
            ("no-at-sign", AddressError::Shape),
            ("@x.cn", AddressError::Shape),
            ("a@", AddressError::Shape),
            ("a b@x.cn", AddressError::Local),
            ("a..b@x.cn", AddressError::Local),
            ("a<b@x.cn", AddressError::Local),
            ("a\u{7}@x.cn", AddressError::Local),
            ("a@x..cn", AddressError::Domain),
            ("a@-x.cn", AddressError::Domain),
            ("a@x_y.cn", AddressError::Domain),
            ("a@[not-an-ip]", AddressError::Domain),
        ] {
            assert_eq!(Address::parse(raw), Err(why), "{raw:?}");
        }
        let long = format!("{}@x.cn", "a".repeat(65));
        assert_eq!(Address::parse(&long), Err(AddressError::Length));
    }

    #[test]
    fn our_mailbox_matches_without_case() {
        let a = Address::parse("12345@HOTLINE.local").expect("valid");
        assert!(a.is_mailbox("12345", "hotline.local"));
        let p = Address::parse("PostMaster@hotline.local").expect("valid");
        assert!(p.is_mailbox("postmaster", "hotline.local"));
        assert!(!p.is_mailbox("12345", "hotline.local"));
    }
}
