//! The query strings of GET `requests` and `servicerequestupdates`, parsed into ledger queries.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use hotline_domain::contract::{TicketQuery, UpdatesQuery};
use hotline_domain::{ServiceCode, Status, TicketNo};

use crate::error::Rejection;

/// The longest span a query may cover, and the default window (the spec's 90 days).
pub const MAX_SPAN: Duration = Duration::days(90);
/// The spec's default cap: "90 days or first 1000 requests returned, whichever is smallest".
pub const MAX_RESULTS: u32 = 1000;
/// FixMyStreet polls often; without dates it gets the last day.
pub const DEFAULT_UPDATES_WINDOW: Duration = Duration::days(1);

/// An ISO 8601 date-time with a zone (`Z` or an offset, with or without a colon).
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339 in the city's offset, as every datetime in our responses.
pub fn render_datetime(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A period between two instants, at most [`MAX_SPAN`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// `start_date`/`end_date`; a missing end is now, a missing start is `default_span` before
    /// the end.
    fn parse(
        start: Option<&str>,
        end: Option<&str>,
        default_span: Duration,
        now: DateTime<Utc>,
    ) -> Result<Window, Rejection> {
        let to = match end {
            Some(raw) => parse_datetime(raw).ok_or(Rejection::Date("end_date"))?,
            None => now,
        };
        let from = match start {
            Some(raw) => parse_datetime(raw).ok_or(Rejection::Date("start_date"))?,
            None => to - default_span,
        };
        if from > to {
            return Err(Rejection::DatesReversed);
        }
        if to - from > MAX_SPAN {
            return Err(Rejection::SpanTooLong);
        }
        Ok(Window { from, to })
    }
}

/// The first value of each known parameter; the spec has no repeated parameters.
#[derive(Debug, Default)]
struct Params {
    service_request_id: Option<String>,
    service_code: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
    jurisdiction_id: Option<String>,
}

impl Params {
    fn read(query: &[u8]) -> Result<Params, Rejection> {
        let mut params = Params::default();
        for (name, value) in crate::form::pairs(query)? {
            let slot = match name.as_str() {
                "service_request_id" => &mut params.service_request_id,
                "service_code" => &mut params.service_code,
                "start_date" => &mut params.start_date,
                "end_date" => &mut params.end_date,
                "status" => &mut params.status,
                "jurisdiction_id" => &mut params.jurisdiction_id,
                _ => continue,
            };
            let value = value.trim();
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.to_owned());
            }
        }
        Ok(params)
    }
}

/// A comma separated list, blanks dropped.
fn comma_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// GET `requests`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestsFilter {
    pub query: TicketQuery,
    pub jurisdiction_id: Option<String>,
}

impl RequestsFilter {
    pub fn parse(query: &[u8], now: DateTime<Utc>) -> Result<RequestsFilter, Rejection> {
        let params = Params::read(query)?;
        let jurisdiction_id = params.jurisdiction_id.clone();
        // "service_request_id ... overrides all other arguments."
        if let Some(ids) = params.service_request_id.as_deref() {
            let ticket_nos = comma_list(ids)
                .map(|id| TicketNo::parse(id).map_err(|_| Rejection::TicketNo))
                .collect::<Result<Vec<_>, _>>()?;
            if ticket_nos.len() > MAX_RESULTS as usize {
                return Err(Rejection::Malformed(format!(
                    "at most {MAX_RESULTS} service_request_id values"
                )));
            }
            return Ok(RequestsFilter {
                query: TicketQuery {
                    ticket_nos,
                    limit: Some(MAX_RESULTS),
                    ..TicketQuery::default()
                },
                jurisdiction_id,
            });
        }
        let service_code = params
            .service_code
            .as_deref()
            .map(|raw| {
                comma_list(raw)
                    .map(|c| {
                        ServiceCode::parse(c).map_err(|_| Rejection::ServiceCodeFormat(c.into()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .filter(|codes| !codes.is_empty());
        let statuses = match params.status.as_deref() {
            None => Vec::new(),
            Some(raw) => {
                let (mut open, mut closed) = (false, false);
                for s in comma_list(raw) {
                    match s.to_ascii_lowercase().as_str() {
                        "open" => open = true,
                        "closed" => closed = true,
                        _ => return Err(Rejection::Status),
                    }
                }
                if open == closed {
                    // Both (or none named): no filter.
                    Vec::new()
                } else {
                    Status::ALL
                        .into_iter()
                        .filter(|s| s.is_open_for_citizen() == open)
                        .collect()
                }
            }
        };
        let window = Window::parse(
            params.start_date.as_deref(),
            params.end_date.as_deref(),
            MAX_SPAN,
            now,
        )?;
        Ok(RequestsFilter {
            query: TicketQuery {
                statuses,
                service_code,
                created_from: Some(window.from),
                created_to: Some(window.to),
                limit: Some(MAX_RESULTS),
                ..TicketQuery::default()
            },
            jurisdiction_id,
        })
    }
}

/// GET `servicerequestupdates`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatesFilter {
    pub query: UpdatesQuery,
    pub jurisdiction_id: Option<String>,
}

impl UpdatesFilter {
    pub fn parse(query: &[u8], now: DateTime<Utc>) -> Result<UpdatesFilter, Rejection> {
        let params = Params::read(query)?;
        let window = Window::parse(
            params.start_date.as_deref(),
            params.end_date.as_deref(),
            DEFAULT_UPDATES_WINDOW,
            now,
        )?;
        Ok(UpdatesFilter {
            query: UpdatesQuery {
                from: window.from,
                to: window.to,
                limit: Some(MAX_RESULTS),
            },
            jurisdiction_id: params.jurisdiction_id,
        })
    }
}

/// Only `jurisdiction_id` matters on the other GETs.
pub fn jurisdiction_of(query: &[u8]) -> Result<Option<String>, Rejection> {
    Ok(Params::read(query)?.jurisdiction_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_datetime("2026-11-29T12:00:00Z").expect("valid")
    }

    #[test]
    fn datetimes_need_a_zone_and_render_in_the_city_offset() {
        let t = parse_datetime("2026-11-29T20:00:00+08:00").expect("valid");
        assert_eq!(Some(t), parse_datetime("2026-11-29T12:00:00Z"));
        assert_eq!(Some(t), parse_datetime("2026-11-29T20:00:00+0800"));
        assert_eq!(Some(t), parse_datetime("2026-11-29T12:00:00.000Z"));
        assert_eq!(parse_datetime("2026-11-29T12:00:00"), None);
        assert_eq!(parse_datetime("2026-11-29"), None);
        let cst = FixedOffset::east_opt(8 * 3600).expect("offset");
        assert_eq!(render_datetime(t, cst), "2026-11-29T20:00:00+08:00");
        assert_eq!(
            render_datetime(t, FixedOffset::east_opt(0).expect("utc")),
            "2026-11-29T12:00:00Z"
        );
    }

    #[test]
    fn requests_default_to_the_last_90_days() {
        let f = RequestsFilter::parse(b"", now()).expect("valid");
        assert_eq!(f.query.created_to, Some(now()));
        assert_eq!(f.query.created_from, Some(now() - Duration::days(90)));
        assert_eq!(f.query.limit, Some(1000));
        assert!(f.query.statuses.is_empty());
    }

    #[test]
    fn bad_dates_and_long_spans_are_refused() {
        assert_eq!(
            RequestsFilter::parse(b"start_date=yesterday", now()),
            Err(Rejection::Date("start_date"))
        );
        assert_eq!(
            RequestsFilter::parse(b"end_date=2026-11-29", now()),
            Err(Rejection::Date("end_date"))
        );
        assert_eq!(
            RequestsFilter::parse(
                b"start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
                now()
            ),
            Err(Rejection::SpanTooLong)
        );
        assert_eq!(
            RequestsFilter::parse(
                b"start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
                now()
            ),
            Err(Rejection::DatesReversed)
        );
        // Only a start long ago: the span to now is too long as well.
        assert_eq!(
            RequestsFilter::parse(b"start_date=2026-01-01T00:00:00%2B08:00", now()),
            Err(Rejection::SpanTooLong)
        );
        let ok = RequestsFilter::parse(
            b"start_date=2026-09-01T00:00:00%2B08:00&end_date=2026-11-29T00:00:00%2B08:00",
            now(),
        )
        .expect("89 days");
        assert_eq!(
            ok.query.created_from,
            parse_datetime("2026-08-31T16:00:00Z")
        );
    }

    #[test]
    fn status_and_service_code_narrow_the_query() {
        let f = RequestsFilter::parse(b"status=open&service_code=S1,+S2", now()).expect("valid");
        assert!(f.query.statuses.contains(&Status::Dispatched));
        assert!(!f.query.statuses.contains(&Status::Closed));
        assert_eq!(
            f.query
                .service_code
                .expect("codes")
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect::<Vec<_>>(),
            vec!["S1", "S2"]
        );
        let closed = RequestsFilter::parse(b"status=closed", now()).expect("valid");
        assert!(closed.query.statuses.contains(&Status::Closed));
        assert!(closed.query.statuses.contains(&Status::Answered));
        assert!(!closed.query.statuses.contains(&Status::Received));
        let both = RequestsFilter::parse(b"status=open,closed", now()).expect("valid");
        assert!(both.query.statuses.is_empty());
        assert_eq!(
            RequestsFilter::parse(b"status=pending", now()),
            Err(Rejection::Status)
        );
        assert_eq!(
            RequestsFilter::parse(b"service_code=a%3Eb", now()),
            Err(Rejection::ServiceCodeFormat("a>b".into()))
        );
    }

    #[test]
    fn ids_override_everything_else() {
        let a = TicketNo::compose(261129, 1).expect("no");
        let b = TicketNo::compose(261129, 2).expect("no");
        let q = format!("service_request_id={a},{b}&start_date=garbage&status=pending");
        let f = RequestsFilter::parse(q.as_bytes(), now()).expect("ids win");
        assert_eq!(f.query.ticket_nos, vec![a, b]);
        assert_eq!(f.query.created_from, None);
        assert_eq!(
            RequestsFilter::parse(b"service_request_id=123", now()),
            Err(Rejection::TicketNo)
        );
    }

    #[test]
    fn updates_default_to_the_last_day() {
        let f = UpdatesFilter::parse(b"jurisdiction_id=gz", now()).expect("valid");
        assert_eq!(f.query.from, now() - Duration::days(1));
        assert_eq!(f.jurisdiction_id.as_deref(), Some("gz"));
        assert_eq!(
            UpdatesFilter::parse(b"start_date=2020-01-01T00:00:00Z", now()),
            Err(Rejection::SpanTooLong)
        );
    }
}
