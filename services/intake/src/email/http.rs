//! The channel's HTTP port: `/healthz`, `/readyz`, `/metrics` (from the runtime) and the
//! centre's download of a mail's attachment, `GET /v1/attachments/{id}` (ids are in the
//! ticket's attribute `email.attachment_ids`), for agents, dispatchers, supervisors and
//! administrators with a signed-in token.
//!
//! The file goes out as a download (`Content-Disposition: attachment`, `nosniff`,
//! `no-store`), never to be rendered by the browser in our origin.

use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use hotline_auth::{Authorized, Policy, Role, Verifier};
use hotline_runtime::ApiError;
use uuid::Uuid;

use super::store::Store;

#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub verifier: Verifier,
}

impl FromRef<HttpState> for Verifier {
    fn from_ref(s: &HttpState) -> Verifier {
        s.verifier.clone()
    }
}

/// The centre's people who work on tickets.
pub struct ReadAttachments;
impl Policy for ReadAttachments {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read the attachments of mail to the hotline";
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/v1/attachments/{id}", get(download))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

async fn download(
    who: Authorized<ReadAttachments>,
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such attachment"))?;
    let found = state
        .store
        .download(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("no such attachment"))?;
    // Who read which ticket's file: the subject and the number, not the file's name.
    tracing::info!(
        subject = %who.subject,
        ticket = ?found.ticket_no.map(|n| n.to_string()),
        "email attachment downloaded"
    );
    let content_type = HeaderValue::from_str(&found.stored.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&found.stored.file_name)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        found.content,
    )
        .into_response())
}

/// RFC 5987's `attr-char` kept, every other octet `%XX`.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_encoded_for_the_header() {
        assert_eq!(percent_encode("照片 1.jpg"), "%E7%85%A7%E7%89%87%201.jpg");
        assert_eq!(percent_encode("a\"b;c"), "a%22b%3Bc");
        assert!(HeaderValue::from_str(&percent_encode("x\r\ny")).is_ok());
    }
}
