//! 并单 (duplicates): the open tickets that are likely the same matter as a ticket, or as the
//! draft an agent is writing, for the agent to merge (`Action::Merge`).
//!
//! Map:
//! - [`address_key`], [`Bigrams`], [`distance_m`]: the comparisons, pure functions. The ledger
//!   stores every new ticket's address key (`tickets.ticket.address_key`).
//! - [`Draft`]: what is compared: parsed from the agent's draft ([`DraftBody`], refused with
//!   [`DraftError`]) or taken from a stored ticket ([`Draft::of_ticket`]).
//! - [`Finder::find`]: one query fetches candidates through partial indexes that hold only the
//!   tickets still being worked on (migration `20261204000001_duplicates.sql`); [`judge`] then
//!   gives each its reasons and score, and keeps the best [`MAX_RESULTS`].
//!
//! What counts as the same matter (`[tickets.duplicates]` in the configuration):
//! - **the same citizen**: the same phone number (with or without +86) or the same account
//!   (WeChat openid, app account) within `citizen_days` (7);
//! - **the same place and matter** within `place_days` (3): the address keys are equal or one
//!   contains the other, or the coordinates are within `radius_m` (100 m); and the matter codes
//!   are equal, or, when either side has none, the texts are at least `text_similarity` alike
//!   (Jaccard index of their character bigrams).
//!
//! "Open" is [`hotline_domain::Status::is_open_for_citizen`]: received to replied, and reopened. A ticket that
//! is answered, completed, surveyed, closed, rejected, handed to an emergency service or merged
//! is no place to merge a new contact into (the ledger refuses it too): the new contact is a new
//! ticket.
//!
//! The score (0-1, higher first, then the earlier ticket: the natural one to merge into) adds
//! 0.45 for the same citizen, up to 0.3 for the place (0.3 the same address, 0.25 one address
//! within the other, 0.1-0.3 by distance within the radius), 0.2 for the same matter code and
//! 0.3 × the text similarity. It orders suggestions for a person who decides; it is not a
//! probability.
//!
//! Where the index cannot look: an address contained in the middle of another (neither its
//! start nor its end), unless the coordinates are close; and tickets created before the
//! migration have no address key (they are found by citizen and coordinates).
//!
//! Personal data: the draft's phone and account are compared, never stored or logged ([`Draft`]
//! has no `Debug`); the HTTP layer masks the candidates' contacts.

use std::collections::HashSet;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use hotline_domain::contract::TicketView;
use hotline_domain::{PhoneNumber, ServiceCode, TicketNo};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};

use crate::store;

/// At most this many suggestions.
pub const MAX_RESULTS: usize = 10;

/// Candidates read per query before judging: far more than [`MAX_RESULTS`], few enough to judge
/// at once (a busy spot collects many tickets; the newest are the likeliest).
const MAX_CANDIDATES: i64 = 200;

/// Address keys shorter than this (in characters) name no place precisely enough: "体育西路"
/// alone would match every number on the road.
pub const MIN_KEY_CHARS: usize = 5;

/// Longest address key kept: the draft's key is cut into its prefixes and suffixes, so this
/// bounds the query.
const MAX_KEY_CHARS: usize = 64;

/// The statuses the finder looks at ([`hotline_domain::Status::is_open_for_citizen`]), as the SQL of the
/// partial indexes' predicate, which the queries must repeat word for word.
pub const OPEN_STATUSES: &str = "status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened')";

/// The rules in force, from `[tickets.duplicates]`.
#[derive(Debug, Clone)]
pub struct Rules {
    pub citizen_window: Duration,
    pub place_window: Duration,
    pub radius_m: f64,
    pub text_similarity: f64,
}

impl Rules {
    pub fn from_settings(d: &hotline_config::Duplicates) -> Rules {
        Rules {
            citizen_window: Duration::days(i64::from(d.citizen_days)),
            place_window: Duration::days(i64::from(d.place_days)),
            radius_m: f64::from(d.radius_m),
            text_similarity: d.text_similarity,
        }
    }
}

// ---- comparisons ----

/// An address as the finder compares it: full-width letters and digits folded to ASCII, lower
/// case, letters and digits only (no spaces or punctuation), and the leading 中国, province,
/// city and district or county dropped ("广东省广州市天河区体育西路103号" and "体育西路 103 号"
/// are the same key). `None` when what is left is shorter than [`MIN_KEY_CHARS`].
pub fn address_key(address: &str) -> Option<String> {
    let folded: String = address
        .chars()
        .map(|c| match c {
            // Full-width forms of ASCII (Ａ, １, ...).
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut rest: &str = &folded;
    rest = rest.strip_prefix("中国").unwrap_or(rest);
    for suffixes in [&["自治区", "省"][..], &["市"], &["区", "县"]] {
        rest = strip_division(rest, suffixes);
    }
    let key: String = rest.chars().take(MAX_KEY_CHARS).collect();
    (key.chars().count() >= MIN_KEY_CHARS).then_some(key)
}

/// Drops a leading administrative division: 2-6 characters naming it, then one of `suffixes`.
/// Words that end in 区 without naming a district (社区, 小区, 园区...) stay: they are part of
/// the place.
fn strip_division<'a>(text: &'a str, suffixes: &[&str]) -> &'a str {
    const NOT_A_DIVISION: [char; 10] = ['社', '小', '园', '景', '校', '街', '片', '厂', '矿', '营'];
    for (count, (at, c)) in text.char_indices().enumerate().take(7) {
        if count >= 2
            && let Some(suffix) = suffixes.iter().find(|s| text[at..].starts_with(**s))
        {
            let before = text[..at].chars().last();
            if *suffix == "区" && before.is_some_and(|b| NOT_A_DIVISION.contains(&b)) {
                return text;
            }
            return &text[at + suffix.len()..];
        }
        if "省市区县".contains(c) {
            // Another division's word: not the one this pass strips.
            return text;
        }
    }
    text
}

/// Whether two address keys name the same place: equal, or one inside the other.
fn address_match(a: &str, b: &str) -> Option<PlaceMatch> {
    if a == b {
        Some(PlaceMatch::Address)
    } else if a.contains(b) || b.contains(a) {
        Some(PlaceMatch::AddressContained)
    } else {
        None
    }
}

/// Every prefix and suffix of `key` at least [`MIN_KEY_CHARS`] long, `key` itself included: a
/// stored key equal to one of them is contained in `key` at its start or its end.
fn affixes(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::with_capacity(chars.len() * 2);
    for n in MIN_KEY_CHARS..=chars.len() {
        out.push(chars[..n].iter().collect());
        out.push(chars[chars.len() - n..].iter().collect());
    }
    out.sort();
    out.dedup();
    out
}

/// The half-open range of strings starting with `prefix`, compared byte by byte (text_pattern_ops).
fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}{}", char::MAX))
}

/// A place on the map, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub long: f64,
}

impl Point {
    /// `None` unless both are finite and on the globe.
    pub fn new(lat: f64, long: f64) -> Option<Point> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&long))
            .then_some(Point { lat, long })
    }

    /// The box around this point that holds every point within `radius_m` (a little more).
    fn bounding_box(self, radius_m: f64) -> (Point, Point) {
        let dlat = radius_m / 111_320.0;
        // Longitude degrees shrink towards the poles; never divide by (almost) nothing.
        let dlong = radius_m / (111_320.0 * self.lat.to_radians().cos().max(0.01));
        (
            Point {
                lat: self.lat - dlat,
                long: self.long - dlong,
            },
            Point {
                lat: self.lat + dlat,
                long: self.long + dlong,
            },
        )
    }
}

/// Great-circle distance in metres (haversine; the earth as a sphere is plenty at 100 m).
pub fn distance_m(a: Point, b: Point) -> f64 {
    const EARTH_M: f64 = 6_371_000.0;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlong = (b.long - a.long).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlong / 2.0).sin().powi(2);
    2.0 * EARTH_M * h.sqrt().min(1.0).asin()
}

/// The character bigrams of a text (letters and digits only, lower case): what two texts
/// written by different people about the same thing share, whatever their word order.
#[derive(Debug, Clone, Default)]
pub struct Bigrams(HashSet<(char, char)>);

impl Bigrams {
    pub fn of(text: &str) -> Bigrams {
        let chars: Vec<char> = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        Bigrams(chars.windows(2).map(|w| (w[0], w[1])).collect())
    }

    /// Jaccard index: shared bigrams over all bigrams (0 when either text has none).
    pub fn similarity(&self, other: &Bigrams) -> f64 {
        if self.0.is_empty() || other.0.is_empty() {
            return 0.0;
        }
        let shared = self.0.intersection(&other.0).count();
        let all = self.0.len() + other.0.len() - shared;
        shared as f64 / all as f64
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A phone number as the ledger may hold it: mainland mobile numbers with and without the
/// country code, since channels report them either way.
fn phone_forms(phone: &str) -> Vec<String> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    let national = digits.strip_prefix("86").filter(|n| n.len() == 11);
    match national.or((digits.len() == 11).then_some(digits)) {
        Some(n) if n.starts_with('1') => vec![n.to_owned(), format!("+86{n}"), format!("86{n}")],
        _ => vec![phone.to_owned()],
    }
}

// ---- what is compared ----

/// What the agent is writing, as sent to `POST /v1/duplicates`. Every field is optional, but
/// one of phone, account, address or coordinates must be given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub long: Option<f64>,
    #[serde(default)]
    pub service_code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Why a draft was refused. Names the field, never its value (a phone number is personal data).
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error(transparent)]
    Text(#[from] hotline_domain::TextError),
    #[error("phone must be 5-20 digits (spaces, dashes and a leading + allowed)")]
    Phone,
    #[error("lat and long must be given together, within -90..90 and -180..180")]
    Coordinates,
    #[error("service_code: {0}")]
    ServiceCode(#[source] hotline_domain::IdError),
    #[error("give at least one of phone, account_id, address, or lat and long")]
    NothingToCompare,
}

impl From<DraftError> for hotline_runtime::ApiError {
    fn from(e: DraftError) -> hotline_runtime::ApiError {
        hotline_runtime::ApiError::invalid(e.to_string())
    }
}

/// What is compared against the open tickets. No `Debug`: it holds the citizen's contact.
pub struct Draft {
    /// The windows reach back from here: the ticket's creation, or now for a draft.
    reference: DateTime<Utc>,
    /// The ticket itself, when the draft is a stored ticket.
    exclude: Option<TicketNo>,
    phones: Vec<String>,
    account: Option<String>,
    address_key: Option<String>,
    point: Option<Point>,
    service_code: Option<ServiceCode>,
    text: Bigrams,
}

fn non_blank(field: &str, value: Option<String>) -> Result<Option<String>, DraftError> {
    let Some(value) = value else { return Ok(None) };
    hotline_domain::text::check(field, &value)?;
    let trimmed = value.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

impl Draft {
    /// Parses the agent's draft.
    pub fn parse(body: DraftBody) -> Result<Draft, DraftError> {
        let phones = match non_blank("phone", body.phone)? {
            Some(raw) => phone_forms(
                PhoneNumber::parse_lenient(&raw)
                    .map_err(|_| DraftError::Phone)?
                    .as_str(),
            ),
            None => Vec::new(),
        };
        let account = non_blank("account_id", body.account_id)?;
        let address = non_blank("address", body.address)?;
        let point = match (body.lat, body.long) {
            (None, None) => None,
            (Some(lat), Some(long)) => Some(Point::new(lat, long).ok_or(DraftError::Coordinates)?),
            _ => return Err(DraftError::Coordinates),
        };
        let service_code = non_blank("service_code", body.service_code)?
            .map(|c| ServiceCode::parse(&c))
            .transpose()
            .map_err(DraftError::ServiceCode)?;
        let description = non_blank("description", body.description)?;
        let address_key = address.as_deref().and_then(address_key);
        if phones.is_empty() && account.is_none() && address_key.is_none() && point.is_none() {
            return Err(DraftError::NothingToCompare);
        }
        Ok(Draft {
            reference: Utc::now(),
            exclude: None,
            phones,
            account,
            address_key,
            point,
            service_code,
            text: description.as_deref().map(Bigrams::of).unwrap_or_default(),
        })
    }

    /// A stored ticket as a draft: its own contact, place, matter and text; itself excluded.
    pub fn of_ticket(ticket: &TicketView) -> Draft {
        let phones = ticket
            .citizen
            .phone
            .as_deref()
            .map(|p| match PhoneNumber::parse_lenient(p) {
                Ok(n) => phone_forms(n.as_str()),
                // Stored as given: compare it as it is.
                Err(_) => vec![p.to_owned()],
            })
            .unwrap_or_default();
        let location = &ticket.location;
        Draft {
            reference: ticket.created_at,
            exclude: Some(ticket.ticket_no),
            phones,
            account: ticket.citizen.account_id.clone(),
            address_key: location.address.as_deref().and_then(address_key),
            point: location
                .lat
                .zip(location.long)
                .and_then(|(lat, long)| Point::new(lat, long)),
            service_code: ticket.service_code.clone(),
            text: Bigrams::of(&ticket.description),
        }
    }
}

// ---- the answer ----

/// How a candidate is the same citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CitizenMatch {
    Phone,
    Account,
}

/// How a candidate is the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceMatch {
    /// The address keys are equal.
    Address,
    /// One address key is inside the other ("体育西路103号" in "体育西路103号B座").
    AddressContained,
    /// The coordinates are within the radius.
    Nearby,
}

/// Why a candidate is suggested. Says how, never the contact compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    SameCitizen {
        by: CitizenMatch,
    },
    SamePlace {
        by: PlaceMatch,
        /// Between the coordinates, when both have them and they are within the radius.
        #[serde(skip_serializing_if = "Option::is_none")]
        distance_m: Option<u32>,
    },
    SameMatter {
        service_code: ServiceCode,
    },
    SimilarText {
        similarity: f64,
    },
}

/// One suggestion: an open ticket, why, and how strongly.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub ticket: TicketView,
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// The finder failed (the store); the caller answers `internal`.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("reading duplicate candidates")]
    Store(#[from] sqlx::Error),
    #[error("reading a stored ticket")]
    Row(#[source] anyhow::Error),
}

impl From<FindError> for hotline_runtime::ApiError {
    fn from(e: FindError) -> hotline_runtime::ApiError {
        hotline_runtime::ApiError::internal(&anyhow::Error::new(e))
    }
}

/// A stored ticket as the judge sees it.
struct Stored {
    view: TicketView,
    address_key: Option<String>,
    /// The phone number as the ledger keeps it for lookups.
    phone: Option<String>,
}

/// Whether `stored` is a likely duplicate of `draft`, with its reasons and score.
fn judge(draft: &Draft, stored: Stored, rules: &Rules) -> Option<Candidate> {
    let ticket = stored.view;
    let mut reasons = Vec::new();
    let mut score = 0.0;

    let recent_citizen = ticket.created_at >= draft.reference - rules.citizen_window;
    let by_phone = stored
        .phone
        .as_ref()
        .is_some_and(|p| draft.phones.contains(p));
    let by_account = draft.account.is_some() && ticket.citizen.account_id == draft.account;
    let same_citizen = recent_citizen && (by_phone || by_account);
    if same_citizen {
        reasons.push(Reason::SameCitizen {
            by: if by_phone {
                CitizenMatch::Phone
            } else {
                CitizenMatch::Account
            },
        });
        score += 0.45;
    }

    let recent_place = ticket.created_at >= draft.reference - rules.place_window;
    let by_address = draft
        .address_key
        .as_deref()
        .zip(stored.address_key.as_deref())
        .and_then(|(a, b)| address_match(a, b));
    let location = &ticket.location;
    let distance = draft
        .point
        .zip(
            location
                .lat
                .zip(location.long)
                .and_then(|(lat, long)| Point::new(lat, long)),
        )
        .map(|(a, b)| distance_m(a, b))
        .filter(|d| *d <= rules.radius_m);
    let place = match (by_address, distance) {
        (Some(PlaceMatch::Address), _) => Some((PlaceMatch::Address, 0.3)),
        (by, Some(d)) => {
            let near = 0.1 + 0.2 * (1.0 - d / rules.radius_m);
            match by {
                Some(by) if near < 0.25 => Some((by, 0.25)),
                _ => Some((PlaceMatch::Nearby, near)),
            }
        }
        (Some(by), None) => Some((by, 0.25)),
        (None, None) => None,
    }
    .filter(|_| recent_place);

    let same_code = draft
        .service_code
        .as_ref()
        .filter(|c| ticket.service_code.as_ref() == Some(*c));
    let similarity = if draft.text.is_empty() {
        0.0
    } else {
        draft.text.similarity(&Bigrams::of(&ticket.description))
    };
    let similar = similarity >= rules.text_similarity;
    // Two codes that differ are two matters, however alike the words; without a code on
    // either side the words decide.
    let codes_on_both = draft.service_code.is_some() && ticket.service_code.is_some();
    let same_matter = same_code.is_some() || (!codes_on_both && similar);

    let same_place_and_matter = place.is_some() && same_matter;
    if !same_citizen && !same_place_and_matter {
        return None;
    }
    if let Some((by, weight)) = place {
        reasons.push(Reason::SamePlace {
            by,
            distance_m: distance.map(|d| d.round() as u32),
        });
        score += weight;
    }
    if let Some(code) = same_code {
        reasons.push(Reason::SameMatter {
            service_code: code.clone(),
        });
        score += 0.2;
    }
    if similar {
        reasons.push(Reason::SimilarText {
            similarity: (similarity * 100.0).round() / 100.0,
        });
    }
    score += 0.3 * similarity;
    Some(Candidate {
        ticket,
        score: (score.min(1.0) * 1000.0).round() / 1000.0,
        reasons,
    })
}

/// Best first: the higher score, then the earlier ticket (the one to merge into), then the
/// number, so the order is stable.
fn rank(candidates: &mut Vec<Candidate>) {
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.ticket.created_at.cmp(&b.ticket.created_at))
            .then(a.ticket.ticket_no.cmp(&b.ticket.ticket_no))
    });
    candidates.truncate(MAX_RESULTS);
}

/// Finds duplicates in the ledger's store. Cheap to clone.
#[derive(Clone)]
pub struct Finder {
    pool: PgPool,
    rules: Rules,
}

impl Finder {
    pub fn new(pool: PgPool, rules: Rules) -> Finder {
        Finder { pool, rules }
    }

    /// The likely duplicates of `draft` among the open tickets, best first, at most
    /// [`MAX_RESULTS`].
    #[tracing::instrument(skip_all)]
    pub async fn find(&self, draft: &Draft) -> Result<Vec<Candidate>, FindError> {
        let citizen_since = draft.reference - self.rules.citizen_window;
        let place_since = draft.reference - self.rules.place_window;
        let key = draft.address_key.as_deref();
        let affixes = key.map(affixes).unwrap_or_default();
        let (from, to) = key.map(prefix_range).unzip();
        let reversed = key.map(|k| k.chars().rev().collect::<String>());
        let (rfrom, rto) = reversed.as_deref().map(prefix_range).unzip();
        let corners = draft.point.map(|p| p.bounding_box(self.rules.radius_m));
        let (low, high) = corners.unzip();
        // One arm per index, each with the partial indexes' predicate, united: the planner
        // reads each index for what it holds and never scans the table.
        let sql = format!(
            "SELECT {columns}, address_key, citizen_phone FROM tickets.ticket WHERE ticket_no IN ( \
               SELECT ticket_no FROM tickets.ticket WHERE citizen_phone = ANY($1) \
                 AND created_at >= $2 AND {open} \
               UNION SELECT ticket_no FROM tickets.ticket WHERE (citizen->>'account_id') = $3 \
                 AND created_at >= $2 AND {open} \
               UNION SELECT ticket_no FROM tickets.ticket WHERE address_key = ANY($4) \
                 AND created_at >= $5 AND {open} \
               UNION SELECT ticket_no FROM tickets.ticket WHERE address_key ~>=~ $6 \
                 AND address_key ~<~ $7 AND created_at >= $5 AND {open} \
               UNION SELECT ticket_no FROM tickets.ticket WHERE reverse(address_key) ~>=~ $8 \
                 AND reverse(address_key) ~<~ $9 AND created_at >= $5 AND {open} \
               UNION SELECT ticket_no FROM tickets.ticket \
                 WHERE point((location->>'long')::float8, (location->>'lat')::float8) \
                   <@ box(point($10::float8, $11::float8), point($12::float8, $13::float8)) \
                 AND location ? 'lat' AND location ? 'long' AND created_at >= $5 AND {open} \
             ) AND ($14::bigint IS NULL OR ticket_no <> $14) \
             ORDER BY created_at DESC LIMIT $15",
            columns = store::COLUMNS,
            open = OPEN_STATUSES,
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&draft.phones)
            .bind(citizen_since)
            .bind(&draft.account)
            .bind(&affixes)
            .bind(place_since)
            .bind(from)
            .bind(to)
            .bind(rfrom)
            .bind(rto)
            .bind(low.map(|p| p.long))
            .bind(low.map(|p| p.lat))
            .bind(high.map(|p| p.long))
            .bind(high.map(|p| p.lat))
            .bind(draft.exclude.map(|n| n.as_u64() as i64))
            .bind(MAX_CANDIDATES)
            .fetch_all(&self.pool)
            .await?;
        let mut found = Vec::new();
        for row in &rows {
            let stored = Stored {
                view: store::row_to_view(row).map_err(FindError::Row)?,
                address_key: row
                    .try_get("address_key")
                    .context("address_key")
                    .map_err(FindError::Row)?,
                phone: row
                    .try_get("citizen_phone")
                    .context("citizen_phone")
                    .map_err(FindError::Row)?,
            };
            // The query's windows and statuses are the judge's too; checked again so that the
            // judge alone decides what a duplicate is.
            if stored.view.status.is_open_for_citizen()
                && let Some(candidate) = judge(draft, stored, &self.rules)
            {
                found.push(candidate);
            }
        }
        rank(&mut found);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_domain::contract::{Citizen, Location};
    use hotline_domain::{Channel, RequestType, Status};

    fn rules() -> Rules {
        Rules {
            citizen_window: Duration::days(7),
            place_window: Duration::days(3),
            radius_m: 100.0,
            text_similarity: 0.4,
        }
    }

    #[test]
    fn the_open_statuses_are_the_domains_and_the_migrations() {
        let open: Vec<String> = Status::ALL
            .into_iter()
            .filter(|s| s.is_open_for_citizen())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(OPEN_STATUSES, format!("status IN ({})", open.join(",")));
        let migration = include_str!("../migrations/20261204000001_duplicates.sql");
        let predicate = OPEN_STATUSES.trim_start_matches("status ");
        assert_eq!(
            migration.matches(predicate).count(),
            4,
            "every partial index of the migration holds exactly the open statuses"
        );
        // The department's inbox (store::list_sql) writes it out for this one.
        let open_handlers = include_str!("../migrations/20261213000001_open_handlers.sql");
        assert_eq!(open_handlers.matches(predicate).count(), 1);
    }

    #[test]
    fn addresses_lose_spacing_width_and_the_divisions_above_the_street() {
        let key = address_key("广东省广州市天河区体育西路 103 号").expect("key");
        assert_eq!(key, "体育西路103号");
        assert_eq!(
            address_key("体育西路１０３号").as_deref(),
            Some("体育西路103号")
        );
        assert_eq!(
            address_key("中国广州市天河区体育西路103号，维多利广场B座").as_deref(),
            Some("体育西路103号维多利广场b座")
        );
        assert_eq!(
            address_key("新疆维吾尔自治区乌鲁木齐市天山区人民路1号").as_deref(),
            Some("人民路1号")
        );
        // 社区 and 小区 are places, not districts.
        assert_eq!(
            address_key("华师社区12栋301").as_deref(),
            Some("华师社区12栋301")
        );
        assert_eq!(
            address_key("天河区骏景花园小区3栋").as_deref(),
            Some("骏景花园小区3栋")
        );
        // "市民中心": 市 at the start names no city.
        assert_eq!(
            address_key("市民中心东广场").as_deref(),
            Some("市民中心东广场")
        );
        // Too little left to name a place.
        assert_eq!(address_key("广州市天河区"), None);
        assert_eq!(address_key("体育西路"), None);
        assert_eq!(address_key("  "), None);
    }

    #[test]
    fn affixes_cover_start_and_end_and_ranges_cover_longer_keys() {
        let a = affixes("体育西路103号");
        assert!(a.contains(&"体育西路103号".to_owned()));
        assert!(a.contains(&"体育西路1".to_owned()));
        assert!(a.contains(&"西路103号".to_owned()));
        assert!(!a.iter().any(|s| s.chars().count() < MIN_KEY_CHARS));
        let (from, to) = prefix_range("体育西路103号");
        let longer = "体育西路103号b座".to_owned();
        assert!(from <= longer && longer < to);
        let next = "体育西路104号";
        assert!(!(*next >= *from && *next < *to));
    }

    #[test]
    fn distances_and_boxes() {
        let a = Point::new(23.1291, 113.2644).expect("point");
        let b = Point::new(23.1296, 113.2644).expect("point");
        let d = distance_m(a, b);
        assert!((50.0..=60.0).contains(&d), "{d}");
        let (low, high) = a.bounding_box(100.0);
        let east = Point::new(23.1291, 113.2644 + 0.00097).expect("point");
        assert!(distance_m(a, east) < 100.0);
        assert!(east.long <= high.long && east.long >= low.long);
        assert_eq!(Point::new(91.0, 0.0), None);
        assert_eq!(Point::new(f64::NAN, 0.0), None);
    }

    #[test]
    fn bigram_similarity() {
        let a = Bigrams::of("小区门口路灯坏了，晚上很黑");
        let b = Bigrams::of("小区门口的路灯坏了");
        let c = Bigrams::of("餐馆油烟扰民");
        assert!(a.similarity(&b) >= 0.4, "{}", a.similarity(&b));
        assert!(a.similarity(&c) < 0.1);
        assert_eq!(a.similarity(&Bigrams::of("")), 0.0);
        assert_eq!(a.similarity(&a), 1.0);
    }

    #[test]
    fn phone_numbers_match_with_and_without_the_country_code() {
        assert_eq!(
            phone_forms("+8613800138000"),
            ["13800138000", "+8613800138000", "8613800138000"]
        );
        assert_eq!(phone_forms("13800138000")[0], "13800138000");
        assert_eq!(phone_forms("02012345678"), ["02012345678"]);
    }

    fn view(no: u64, hours_ago: i64) -> TicketView {
        let at = Utc::now() - Duration::hours(hours_ago);
        TicketView {
            ticket_no: TicketNo::compose(261204, no).expect("no"),
            status: Status::Received,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "餐馆油烟扰民".into(),
            location: Location::default(),
            citizen: Citizen::default(),
            confidential: false,
            lead: None,
            co: vec![],
            attributes: Default::default(),
            media_url: None,
            held: false,
            created_at: at,
            updated_at: at,
            extension_pending: false,
        }
    }

    fn draft(body: serde_json::Value) -> Draft {
        Draft::parse(serde_json::from_value(body).expect("body")).expect("draft")
    }

    fn stored(view: TicketView, address: Option<&str>, phone: Option<&str>) -> Stored {
        Stored {
            address_key: address.and_then(address_key),
            phone: phone.map(str::to_owned),
            view,
        }
    }

    #[test]
    fn the_same_citizen_within_the_window() {
        let d = draft(serde_json::json!({"phone": "+86 138-0013-8000"}));
        let c = judge(&d, stored(view(1, 24), None, Some("13800138000")), &rules())
            .expect("same citizen");
        assert_eq!(
            c.reasons,
            [Reason::SameCitizen {
                by: CitizenMatch::Phone
            }]
        );
        assert!(
            judge(
                &d,
                stored(view(2, 24 * 8), None, Some("13800138000")),
                &rules()
            )
            .is_none()
        );
        assert!(judge(&d, stored(view(3, 1), None, Some("13900139000")), &rules()).is_none());
    }

    #[test]
    fn the_same_place_needs_the_same_matter_or_like_words() {
        let code = "03.01.001";
        let d = draft(serde_json::json!({
            "address": "天河区体育西路103号", "service_code": code, "description": "路灯不亮"
        }));
        let mut same = view(1, 2);
        same.service_code = Some(ServiceCode::parse(code).expect("code"));
        let c = judge(
            &d,
            stored(same.clone(), Some("体育西路103号B座"), None),
            &rules(),
        )
        .expect("same place and matter");
        assert!(c.reasons.contains(&Reason::SamePlace {
            by: PlaceMatch::AddressContained,
            distance_m: None
        }));
        assert!(
            c.reasons
                .iter()
                .any(|r| matches!(r, Reason::SameMatter { .. }))
        );
        // Another matter at the same place is another ticket.
        let mut other = same.clone();
        other.service_code = Some(ServiceCode::parse("09.09.009").expect("code"));
        assert!(judge(&d, stored(other, Some("体育西路103号"), None), &rules()).is_none());
        // Outside the place window.
        let mut old = same;
        old.created_at = Utc::now() - Duration::days(4);
        assert!(judge(&d, stored(old, Some("体育西路103号"), None), &rules()).is_none());
        // Without a code, like words stand for the matter; unlike ones do not.
        let d = draft(serde_json::json!({
            "lat": 23.1291, "long": 113.2644, "description": "小区门口路灯坏了，晚上很黑"
        }));
        let mut near = view(4, 1);
        near.location.lat = Some(23.1295);
        near.location.long = Some(113.2644);
        near.description = "小区门口的路灯坏了".into();
        let c = judge(&d, stored(near.clone(), None, None), &rules()).expect("nearby, alike");
        assert!(matches!(
            c.reasons[0],
            Reason::SamePlace {
                by: PlaceMatch::Nearby,
                distance_m: Some(40..=50)
            }
        ));
        near.description = "餐馆油烟扰民".into();
        assert!(judge(&d, stored(near, None, None), &rules()).is_none());
    }

    #[test]
    fn best_first_then_the_earlier_at_most_ten() {
        let mut all: Vec<Candidate> = (0..15)
            .map(|i| Candidate {
                ticket: view(i + 1, 30 - i as i64),
                score: if i == 7 { 0.9 } else { 0.5 },
                reasons: vec![],
            })
            .collect();
        rank(&mut all);
        assert_eq!(all.len(), MAX_RESULTS);
        assert_eq!(all[0].ticket.ticket_no, view(8, 0).ticket_no);
        assert!(all[1].ticket.created_at < all[2].ticket.created_at);
    }

    #[test]
    fn drafts_are_parsed_once() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<DraftBody>(v)
                .map_err(|_| ())
                .and_then(|b| Draft::parse(b).map(|_| ()).map_err(|_| ()))
                .is_err()
        };
        assert!(bad(serde_json::json!({})));
        assert!(bad(serde_json::json!({"description": "只有文字"})));
        assert!(bad(serde_json::json!({"phone": "abc"})));
        assert!(bad(serde_json::json!({"lat": 23.1})));
        assert!(bad(serde_json::json!({"lat": 123.1, "long": 113.0})));
        assert!(bad(serde_json::json!({"address": "体育西路1号\u{0}"})));
        assert!(bad(
            serde_json::json!({"phone": "13800138000", "name": "张三"})
        ));
        assert!(bad(
            serde_json::json!({"phone": "13800138000", "service_code": "a b"})
        ));
        assert!(!bad(serde_json::json!({"account_id": "wechat:o123"})));
    }
}
