//! Identifiers, each parsed once where it enters the system.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("ticket number must be 16 digits")]
    TicketNoFormat,
    #[error("ticket number check digit does not match")]
    TicketNoCheckDigit,
    #[error("department code must be 2-32 characters of A-Z, 0-9 and '-'")]
    DeptCode,
    #[error("service code must be 1-32 characters of A-Z, a-z, 0-9, '.', '-' and '_'")]
    ServiceCode,
    #[error("phone number must be 5-20 digits, optionally starting with '+'")]
    PhoneNumber,
    #[error(
        "knowledge code must be 2-48 characters: segments of A-Z and 0-9 joined by '-', starting with a letter"
    )]
    ItemCode,
}

/// A ticket number (工单编号): 16 digits, dictated over the phone.
///
/// Layout `YYMMDD` + 9-digit sequence + Luhn check digit. The date makes a number readable
/// ("a ticket from the 29th"), the check digit catches a mistyped digit before any lookup, and
/// the sequence comes from blocks reserved per replica so that no request waits on a central
/// counter (see `hotline_bus::ticket_numbers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketNo(u64);

impl TicketNo {
    pub const MAX_SEQUENCE: u64 = 999_999_999;

    /// Builds the number for `date` (YYMMDD as a number, e.g. 261129) and a sequence within it.
    pub fn compose(yymmdd: u32, sequence: u64) -> Option<TicketNo> {
        if yymmdd > 991_231 || sequence > Self::MAX_SEQUENCE {
            return None;
        }
        let body = u64::from(yymmdd) * 1_000_000_000 + sequence;
        Some(TicketNo(body * 10 + u64::from(luhn_check_digit(body))))
    }

    pub fn parse(raw: &str) -> Result<TicketNo, IdError> {
        let raw = raw.trim();
        if raw.len() != 16 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::TicketNoFormat);
        }
        let value: u64 = raw.parse().map_err(|_| IdError::TicketNoFormat)?;
        let body = value / 10;
        if luhn_check_digit(body) as u64 != value % 10 {
            return Err(IdError::TicketNoCheckDigit);
        }
        Ok(TicketNo(value))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The YYMMDD the number was issued on.
    pub fn yymmdd(self) -> u32 {
        (self.0 / 10_000_000_000) as u32
    }
}

/// Luhn check digit over the decimal digits of `body`.
fn luhn_check_digit(body: u64) -> u8 {
    let mut sum = 0u32;
    let mut n = body;
    let mut double = true;
    while n > 0 {
        let mut d = (n % 10) as u32;
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        n /= 10;
    }
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016}", self.0)
    }
}

impl TryFrom<String> for TicketNo {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TicketNo::parse(&value)
    }
}

impl From<TicketNo> for String {
    fn from(value: TicketNo) -> Self {
        value.to_string()
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $err:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let raw = raw.trim();
                let valid: fn(&str) -> bool = $valid;
                if valid(raw) { Ok(Self(raw.to_owned())) } else { Err($err) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

string_id!(
    /// A department's code, e.g. `GZ-TH` (Tianhe district) or `GZ-TH-SP` (a street under it).
    /// Uppercase so that it is also a valid NATS subject token and consumer name.
    DeptCode,
    IdError::DeptCode,
    |s| (2..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
);

string_id!(
    /// The code of a matter in the dispatch catalogue (派单目录) and of an Open311 service.
    ServiceCode,
    IdError::ServiceCode,
    |s| (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
);

string_id!(
    /// A citizen's phone number, digits only (with an optional leading '+').
    PhoneNumber,
    IdError::PhoneNumber,
    |s| {
        let digits = s.strip_prefix('+').unwrap_or(s);
        (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    }
);

string_id!(
    /// The code of a knowledge item or of one of its nodes, in the seed's style: `YB` (the
    /// medical-insurance item), `YB-TJ-1` (a situation: infants), `YB-JD-2` (an answer leaf).
    /// Uppercase segments joined by '-', so it is also a valid NATS subject token.
    ItemCode,
    IdError::ItemCode,
    |s| (2..=48).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.split('-').all(|seg| !seg.is_empty()
            && seg.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
);

impl PhoneNumber {
    /// Accepts what people type: spaces, dashes and brackets are dropped before parsing.
    pub fn parse_lenient(raw: &str) -> Result<Self, IdError> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        Self::parse(&cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ticket_no_round_trips_and_checks_its_digit() {
        let no = TicketNo::compose(261129, 42).expect("in range");
        let text = no.to_string();
        assert_eq!(text.len(), 16);
        assert!(text.starts_with("261129000000042"));
        assert_eq!(TicketNo::parse(&text), Ok(no));
        assert_eq!(no.yymmdd(), 261129);
        let mut wrong = text.into_bytes();
        wrong[10] = if wrong[10] == b'9' {
            b'8'
        } else {
            wrong[10] + 1
        };
        let wrong = String::from_utf8(wrong).expect("ascii");
        assert_eq!(TicketNo::parse(&wrong), Err(IdError::TicketNoCheckDigit));
        assert_eq!(TicketNo::parse("12345"), Err(IdError::TicketNoFormat));
        assert_eq!(
            TicketNo::parse("26112900000004a2"),
            Err(IdError::TicketNoFormat)
        );
    }

    #[test]
    fn ids_reject_what_would_break_subjects() {
        assert!(DeptCode::parse("GZ-TH").is_ok());
        assert_eq!(DeptCode::parse("gz.th"), Err(IdError::DeptCode));
        assert_eq!(DeptCode::parse("GZ TH"), Err(IdError::DeptCode));
        assert!(ServiceCode::parse("01.02.003").is_ok());
        assert!(ItemCode::parse("YB-TJ-1").is_ok());
        assert!(ItemCode::parse("YB").is_ok());
        for bad in ["yb-tj-1", "YB--1", "YB-", "-YB", "1YB", "YB TJ", "Y"] {
            assert_eq!(ItemCode::parse(bad), Err(IdError::ItemCode), "{bad}");
        }
        assert_eq!(ServiceCode::parse(""), Err(IdError::ServiceCode));
        assert_eq!(ServiceCode::parse("a>b"), Err(IdError::ServiceCode));
        assert!(PhoneNumber::parse_lenient("+86 138-0013-8000").is_ok());
        assert_eq!(
            PhoneNumber::parse_lenient("call me"),
            Err(IdError::PhoneNumber)
        );
    }

    proptest! {
        #[test]
        fn any_single_digit_error_is_caught(seq in 0u64..=TicketNo::MAX_SEQUENCE, pos in 0usize..16, delta in 1u8..10) {
            let no = TicketNo::compose(261129, seq).expect("in range");
            let mut digits = no.to_string().into_bytes();
            digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(digits).expect("ascii");
            prop_assert!(TicketNo::parse(&typo).is_err());
        }
    }
}
