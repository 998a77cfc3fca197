//! The citizen's tickets: submit (the Open311 create path, channel `app`, the account's phone
//! as the contact), list, the public timeline of one, the callback survey.
//!
//! A submission is `multipart/form-data`: a `ticket` part (JSON: category, description,
//! address, lat/long, confidential, attributes) and up to 3 `photo` parts, checked as the web
//! page checks them and kept in schema `attachments`. Its fields go through Open311's reader
//! (`PostedServiceRequest::from_pairs`: the text rule) and checks (`NewServiceRequest::parse`),
//! so a NUL in a description is a 400 and nothing is stored. The `Idempotency-Key` header,
//! scoped to the citizen, makes a retried submission the same ticket (Redis, then the ledger).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hotline_domain::contract::{
    CreateTicket, HistoryEntry, TicketCommand, TicketQuery, TicketUpdate, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, ServiceCode, TicketNo};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::App;
use super::error::AppError;
use super::http::Citizen;
use crate::error::Rejection;
use crate::idempotency::{self, Claim};
use crate::metrics::TICKETS_CREATED;
use crate::submission::NewServiceRequest;
use crate::web::photo::{MAX_PHOTOS, Photo, PhotoError};
use crate::wire::PostedServiceRequest;

/// The most tickets a list answers (newest first).
const LIST_LIMIT: u32 = 100;
/// Largest `ticket` part.
const MAX_TICKET_PART: usize = 64 * 1024;

/// The `ticket` part of a submission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The catalogue's service code (the same catalogue as Open311's).
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub long: Option<f64>,
    #[serde(default)]
    pub confidential: bool,
    /// The service definition's answers, by attribute code.
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl NewTicket {
    /// Open311's field names, with the account's phone and id as the contact.
    fn pairs(self, citizen: &Citizen) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("service_code".to_owned(), self.category),
            ("phone".to_owned(), citizen.phone.as_str().to_owned()),
            ("account_id".to_owned(), citizen.account_id()),
            ("confidential".to_owned(), self.confidential.to_string()),
        ];
        if let Some(d) = self.description {
            pairs.push(("description".into(), d));
        }
        if let Some(a) = self.address {
            pairs.push(("address_string".into(), a));
        }
        if let Some(lat) = self.lat {
            pairs.push(("lat".into(), lat.to_string()));
        }
        if let Some(long) = self.long {
            pairs.push(("long".into(), long.to_string()));
        }
        for (code, values) in self.attributes {
            for value in values {
                pairs.push((format!("attribute[{code}][]"), value));
            }
        }
        pairs
    }
}

/// A submission as read from the wire, photos checked.
struct Upload {
    ticket: NewTicket,
    photos: Vec<Photo>,
}

/// Reads the parts: exactly one `ticket`, at most [`MAX_PHOTOS`] `photo`; anything else is a
/// 400.
async fn read(mut multipart: Multipart) -> Result<Upload, AppError> {
    let mut ticket = None;
    let mut photos = Vec::new();
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::Malformed(format!(
                "the body is larger than {} bytes",
                crate::web::form::UPLOAD_LIMIT
            ))
        } else {
            AppError::Malformed("the body is not valid multipart/form-data".into())
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("ticket") => {
                if ticket.is_some() {
                    return Err(Rejection::Repeated("ticket".into()).into());
                }
                let bytes = field.bytes().await.map_err(malformed)?;
                if bytes.len() > MAX_TICKET_PART {
                    return Err(AppError::Malformed("the ticket part is too large".into()));
                }
                let parsed: NewTicket = serde_json::from_slice(&bytes)
                    .map_err(|e| AppError::Malformed(format!("the ticket part: {e}")))?;
                ticket = Some(parsed);
            }
            Some("photo") => {
                if photos.len() == MAX_PHOTOS {
                    return Err(PhotoError::TooMany.into());
                }
                let name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(malformed)?;
                photos.push(Photo::parse(
                    photos.len() + 1,
                    name.as_deref(),
                    content_type.as_deref(),
                    bytes,
                )?);
            }
            _ => {
                return Err(AppError::Malformed(
                    "parts must be named ticket or photo".into(),
                ));
            }
        }
    }
    let ticket = ticket.ok_or_else(|| AppError::Malformed("the ticket part is missing".into()))?;
    Ok(Upload { ticket, photos })
}

/// The citizen's `Idempotency-Key`: 1-255 visible ASCII characters, scoped to the citizen (two
/// citizens choosing the same key never collide). Answers `app:<sha256>`.
fn submission_key(citizen: &Citizen, headers: &HeaderMap) -> Result<String, AppError> {
    let raw = headers
        .get("idempotency-key")
        .map(|v| v.as_bytes())
        .ok_or_else(|| AppError::Malformed("the Idempotency-Key header is required".into()))?;
    if raw.is_empty() || raw.len() > 255 || !raw.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::IdempotencyKey.into());
    }
    let mut hasher = Sha256::new();
    hasher.update(citizen.bearer.citizen.as_bytes());
    hasher.update([0u8]);
    hasher.update(raw);
    Ok(format!("app:{}", hex::encode(hasher.finalize())))
}

#[derive(Debug, Serialize)]
struct Submitted {
    ticket_no: String,
    /// True when this was a retry of a submission already made.
    replayed: bool,
    photos: usize,
}

/// `POST /v1/tickets`.
pub async fn submit(
    State(app): State<App>,
    citizen: Citizen,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let parts = app.parts();
    // Held until the answer: at most UPLOADS_AT_ONCE bodies in memory.
    let Ok(_permit) = parts.uploads.clone().try_acquire_owned() else {
        return Err(AppError::Unavailable);
    };
    let key = submission_key(&citizen, &headers)?;
    let multipart = multipart.map_err(|r| AppError::Malformed(r.body_text()))?;
    let upload = read(multipart).await?;
    let intake = parts.intake.parts();
    let posted = PostedServiceRequest::from_pairs(upload.ticket.pairs(&citizen))?;
    let raw = posted
        .service_code
        .as_deref()
        .ok_or(Rejection::MissingServiceCode)?;
    let code = ServiceCode::parse(raw).map_err(|_| Rejection::ServiceCodeFormat(raw.into()))?;
    let catalogue = intake.catalogue.snapshot().await?;
    let service = catalogue.get(&code).ok_or(Rejection::UnknownService)?;
    let request = NewServiceRequest::parse(posted, service, intake.config.max_description_chars)?;
    let (ticket_no, replayed) = create_once(&app, &key, request).await?;
    let stored = parts
        .photos
        .save(ticket_no, &key, &upload.photos)
        .await
        .map_err(AppError::Internal)?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Submitted {
            ticket_no: ticket_no.to_string(),
            replayed,
            photos: stored.len(),
        }),
    )
        .into_response())
}

/// One ticket per key: Redis first, the ledger's idempotency key as the backstop (as every
/// channel does).
async fn create_once(
    app: &App,
    key: &str,
    request: NewServiceRequest,
) -> Result<(TicketNo, bool), AppError> {
    let intake = app.parts().intake.parts();
    let cache = intake.idempotency.as_deref();
    let cache_key = format!("{}:idem:{key}", intake.config.namespace);
    let issue = || async {
        intake.numbers.next().await.map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "app: no ticket number");
            AppError::Unavailable
        })
    };
    let ticket_no = match idempotency::claim(cache, &cache_key, issue).await? {
        Claim::Replayed(no) => return Ok((no, true)),
        Claim::Send(no) => no,
    };
    let command = TicketCommand::Create {
        idempotency_key: key.to_owned(),
        actor: Actor::Citizen {
            channel: Channel::App,
        },
        ticket: Box::new(CreateTicket {
            channel: Channel::App,
            ..request.into_create(ticket_no)
        }),
    };
    let accepted = intake.ledger.submit(command).await?;
    idempotency::confirm(cache, &cache_key, accepted.ticket_no).await;
    let outcome = if accepted.replayed {
        "replayed"
    } else {
        "created"
    };
    TICKETS_CREATED
        .with_label_values(&[Channel::App.as_str(), outcome])
        .inc();
    Ok((accepted.ticket_no, accepted.replayed))
}

#[derive(Debug, Serialize)]
struct Summary {
    ticket_no: String,
    status: &'static str,
    category: Option<String>,
    description: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /v1/tickets`: the tickets with the account's phone number, on any channel, newest
/// first.
pub async fn list(State(app): State<App>, citizen: Citizen) -> Result<Response, AppError> {
    let intake = app.parts().intake.parts();
    let query = TicketQuery {
        citizen_phone: Some(citizen.phone.as_str().to_owned()),
        limit: Some(LIST_LIMIT),
        ..TicketQuery::default()
    };
    let mut views = intake.ledger.list(query).await?;
    views.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    let tickets: Vec<Summary> = views
        .into_iter()
        .map(|v| Summary {
            ticket_no: v.ticket_no.to_string(),
            status: v.status.as_str(),
            category: v.service_code.map(|c| c.to_string()),
            description: v.description,
            created_at: v.created_at,
            updated_at: v.updated_at,
        })
        .collect();
    Ok(Json(json!({ "tickets": tickets })).into_response())
}

/// The ticket when it is the citizen's (by the phone it carries); anyone else's, and a
/// malformed number, are 404 alike.
async fn own(app: &App, citizen: &Citizen, raw: &str) -> Result<TicketWithHistory, AppError> {
    let ticket_no = TicketNo::parse(raw).map_err(|_| AppError::NotFound)?;
    let found = app.parts().intake.parts().ledger.get(ticket_no).await?;
    if found.ticket.citizen.phone.as_deref() != Some(citizen.phone.as_str()) {
        return Err(AppError::NotFound);
    }
    Ok(found)
}

#[derive(Debug, Serialize)]
struct Step {
    at: chrono::DateTime<chrono::Utc>,
    step: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// The steps the public sees (as FixMyStreet's updates): the creation, and every step but the
/// centre's internal ones (supervision, extensions).
fn public_steps(
    ticket_no: TicketNo,
    history: &[HistoryEntry],
    offset: chrono::FixedOffset,
) -> Vec<Step> {
    history
        .iter()
        .filter_map(|entry| {
            if entry.action.is_none() {
                return Some(Step {
                    at: entry.at,
                    step: entry.step.clone(),
                    status: entry.to.as_str(),
                    text: None,
                });
            }
            let update = TicketUpdate {
                ticket_no,
                entry: entry.clone(),
                status_after: entry.to,
            };
            crate::present::request_update(&update, false, offset).map(|out| Step {
                at: entry.at,
                step: entry.step.clone(),
                status: entry.to.as_str(),
                text: Some(out.description).filter(|d| !d.trim().is_empty()),
            })
        })
        .collect()
}

/// `GET /v1/tickets/{no}`: status and public history of one of the citizen's tickets.
pub async fn timeline(
    State(app): State<App>,
    citizen: Citizen,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    let found = own(&app, &citizen, &no).await?;
    let t = &found.ticket;
    Ok(Json(json!({
        "ticket_no": t.ticket_no.to_string(),
        "status": t.status.as_str(),
        "open": t.status.is_open_for_citizen(),
        "category": t.service_code.as_ref().map(|c| c.to_string()),
        "description": t.description,
        "address": t.location.address,
        "lat": t.location.lat,
        "long": t.location.long,
        "confidential": t.confidential,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "history": public_steps(
            t.ticket_no,
            &found.history,
            app.parts().intake.parts().config.utc_offset,
        ),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    pub satisfied: bool,
    #[serde(default)]
    pub note: String,
}

/// `POST /v1/tickets/{no}/survey`: the callback survey's answer (满意/不满意), recorded as
/// WeChat records it: the ledger takes survey answers only from the centre, so the channel
/// records it as the system actor `intake` on the citizen's behalf, after checking the ticket
/// is theirs. A ticket not awaiting a survey is a 409.
pub async fn survey(
    State(app): State<App>,
    citizen: Citizen,
    Path(no): Path<String>,
    answer: Result<Json<SurveyAnswer>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let answer = match answer {
        Ok(Json(a)) => a,
        Err(r) => return Err(AppError::Malformed(r.body_text())),
    };
    let found = own(&app, &citizen, &no).await?;
    let action = Action::Survey {
        satisfied: answer.satisfied,
        note: answer.note.trim().to_owned(),
    };
    action
        .check_text()
        .map_err(|e| AppError::Malformed(e.to_string()))?;
    // The same answer to the same state of the ticket is one step, however often it is sent.
    let last = found.history.last().map_or(0, |e| e.seq);
    let command = TicketCommand::Act {
        idempotency_key: format!("app:survey:{}:{last}", found.ticket.ticket_no),
        actor: Actor::system("intake"),
        ticket_no: found.ticket.ticket_no,
        action,
    };
    let accepted = match app.parts().intake.parts().ledger.submit(command).await {
        Ok(accepted) => accepted,
        Err(e) if e.kind().is_refusal() => {
            return Err(AppError::Conflict(
                "the ticket is not awaiting a survey".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(json!({
        "ticket_no": accepted.ticket_no.to_string(),
        "status": accepted.status.as_str(),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tokens::Bearer;
    use crate::testing::entry;
    use hotline_domain::{PhoneNumber, Status};

    fn citizen() -> Citizen {
        Citizen {
            bearer: Bearer {
                citizen: uuid::Uuid::now_v7(),
                session: uuid::Uuid::now_v7(),
            },
            phone: PhoneNumber::parse("13800138000").expect("phone"),
        }
    }

    #[test]
    fn a_ticket_part_becomes_open311_fields_with_the_account_as_contact() {
        let who = citizen();
        let ticket: NewTicket = serde_json::from_str(
            r#"{"category":"S1","description":"路灯不亮","address":"天河路1号",
                "lat":23.13,"long":113.32,"confidential":true,"attributes":{"when":["night"]}}"#,
        )
        .expect("json");
        let posted = PostedServiceRequest::from_pairs(ticket.pairs(&who)).expect("posted");
        assert_eq!(posted.service_code.as_deref(), Some("S1"));
        assert_eq!(posted.phone.as_deref(), Some("13800138000"));
        assert_eq!(posted.account_id, Some(who.account_id()));
        assert_eq!(posted.lat.as_deref(), Some("23.13"));
        assert_eq!(posted.confidential.as_deref(), Some("true"));
        assert_eq!(
            posted.attributes.get("when"),
            Some(&vec!["night".to_owned()])
        );
        // The contact is the account's: a phone in the part is an unknown field.
        assert!(
            serde_json::from_str::<NewTicket>(r#"{"category":"S1","phone":"13900000000"}"#)
                .is_err()
        );
        // The text rule holds for the app as for Open311.
        let nul: NewTicket =
            serde_json::from_str(r#"{"category":"S1","description":"a\u0000b"}"#).expect("json");
        assert!(matches!(
            PostedServiceRequest::from_pairs(nul.pairs(&who)),
            Err(Rejection::ControlCharacter { .. })
        ));
    }

    #[test]
    fn keys_are_scoped_to_the_citizen() {
        let (a, b) = (citizen(), citizen());
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", "retry-1".parse().expect("value"));
        let ka = submission_key(&a, &headers).expect("key");
        assert_eq!(ka, submission_key(&a, &headers).expect("key"));
        assert_ne!(ka, submission_key(&b, &headers).expect("key"));
        assert!(ka.starts_with("app:") && ka.len() == 4 + 64);
        assert!(submission_key(&a, &HeaderMap::new()).is_err(), "required");
        headers.insert("idempotency-key", "has space".parse().expect("value"));
        assert!(submission_key(&a, &headers).is_err());
    }

    #[test]
    fn the_timeline_keeps_public_steps_only() {
        let no = TicketNo::compose(261203, 1).expect("no");
        let mut created = entry(
            1,
            Actor::Citizen {
                channel: Channel::App,
            },
            Action::Accept,
            Status::Received,
        );
        created.action = None;
        created.step = "created".into();
        let history = vec![
            created,
            entry(
                2,
                Actor::system("sla"),
                Action::Supervise {
                    note: "超时督办".into(),
                },
                Status::Dispatched,
            ),
            entry(
                3,
                Actor::system("gateway"),
                Action::Reply {
                    text: "已修复路灯".into(),
                },
                Status::Replied,
            ),
        ];
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        let steps = public_steps(no, &history, offset);
        let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["created", "reply"], "supervision is internal");
        assert_eq!(steps[1].text.as_deref(), Some("已修复路灯"));
        assert_eq!(steps[1].status, "replied");
    }
}
