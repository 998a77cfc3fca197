//! The citizen web page, served by intake beside Open311 on the same port (`hotline intake`,
//! 8080): a form to report a problem, its receipt with the ticket number, and a progress lookup
//! by ticket number and the last 4 digits of the phone number. Plain HTML, no scripts.
//!
//! Map:
//! - this file: the routes (`GET /`, `POST /`, `GET /progress`, `/static/site.css` and
//!   `/static/icon.svg`), the
//!   handlers, the security headers every page carries.
//! - [`form`]: the multipart form read within its limits and renamed to Open311's fields; the
//!   lookup's fields parsed.
//! - [`photo`]: photos checked by their bytes and kept in Postgres (schema `attachments`).
//! - [`guard`]: one-time form tokens bound to the browser (CSRF, and the idempotency key of the
//!   submission) and per-client attempt limits, in Redis; the client's address.
//! - [`pages`]: the HTML; [`html`]: escaping.
//! - [`error`]: what can fail, its HTTP status (one place) and the words shown.
//!
//! A submission goes the way an Open311 POST goes: `PostedServiceRequest::from_pairs` (the text
//! rule), `NewServiceRequest::parse` (the checks), `routes::register` (number, Create command
//! on the web channel, Redis fast path and the ledger's idempotency).

pub mod error;
pub mod form;
pub mod guard;
pub mod html;
pub mod pages;
pub mod photo;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Multipart, RawQuery, State};
use axum::handler::Handler as _;
use axum::http::request::Parts as RequestParts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use hotline_domain::ServiceCode;
use hotline_domain::contract::{CatalogueService, ErrorKind};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::catalogue::Snapshot;
use crate::error::Rejection;
use crate::idempotency::IdempotencyKey;
use crate::routes::AppState;
use crate::submission::NewServiceRequest;
use error::{FormError, WebError};
use form::{Lookup, LookupInput, ReportForm, UPLOAD_LIMIT};
use guard::{Allowance, BROWSER_COOKIE, BROWSER_TTL, Bucket, ClientKey, Guard, Random};
use pages::{FormView, Progress, ReceiptView, Site};
use photo::PhotoStore;

pub use photo::migrate;

/// Scopes the page's form tokens as idempotency keys, the way an api key scopes an Open311
/// client's (`IdempotencyKey::parse`).
const FORM_SCOPE: &str = "hotline web page form";
/// Uploads read at once: each may hold [`UPLOAD_LIMIT`] in memory.
const UPLOADS_AT_ONCE: usize = 8;
const CSP: &str = "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SITE_CSS: &str = include_str!("site.css");
const ICON_SVG: &str = include_str!("icon.svg");

/// What the page's handlers share.
#[derive(Clone)]
pub struct Web(Arc<WebParts>);

struct WebParts {
    app: AppState,
    photos: PhotoStore,
    guard: Guard,
    uploads: Arc<Semaphore>,
}

impl Web {
    /// The page over intake's state, the pool holding schema `attachments` (migrated by the
    /// caller: [`migrate`]) and Redis at `redis_url` (connected lazily).
    pub fn new(app: AppState, pool: PgPool, redis_url: &str) -> anyhow::Result<Web> {
        let guard = Guard::new(redis_url, &app.parts().config.namespace)?;
        Ok(Web(Arc::new(WebParts {
            app,
            photos: PhotoStore::new(pool),
            guard,
            uploads: Arc::new(Semaphore::new(UPLOADS_AT_ONCE)),
        })))
    }

    fn site(&self) -> Site<'_> {
        let config = &self.0.app.parts().config;
        Site {
            city: &config.city,
            offset: config.utc_offset,
        }
    }

    /// A page for an error that ends the request, logged when it is ours.
    fn fail(&self, error: &WebError, back: &'static str) -> Response {
        log(error);
        html(error.status(), pages::error_page(&self.site(), error, back))
    }
}

/// The page's routes, for merging into intake's router.
pub fn router<S: Clone + Send + Sync + 'static>(web: Web) -> Router<S> {
    Router::new()
        .route(
            "/",
            get(form_page).post(submit.layer(DefaultBodyLimit::max(UPLOAD_LIMIT))),
        )
        .route("/progress", get(progress))
        .route("/static/site.css", get(css))
        .route("/static/icon.svg", get(icon))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(web)
}

/// The peer's address when the server recorded it (the runtime serves with `ConnectInfo`).
struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut RequestParts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// `GET /`: the form, with a fresh token. `?category=CODE` chooses a category and asks its
/// questions.
async fn form_page(
    State(web): State<Web>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let catalogue = web.0.app.parts().catalogue.snapshot().await?;
        let chosen = crate::form::pairs(query.unwrap_or_default().as_bytes())?
            .into_iter()
            .find(|(name, _)| name == "category")
            .map(|(_, code)| code);
        let browser = Browser::of(&headers);
        let token = web
            .0
            .guard
            .issue(&browser.id)
            .await
            .map_err(WebError::StoreUnavailable)?;
        let view = FormView {
            catalogue: &catalogue,
            token: token.as_str(),
            sent: None,
            selected: chosen.as_deref().and_then(|c| service(&catalogue, c)),
            error: None,
            max_description: web.0.app.parts().config.max_description_chars,
        };
        Ok::<_, WebError>(browser.set(html(StatusCode::OK, pages::report_form(&web.site(), &view))))
    }
    .await;
    result.unwrap_or_else(|e| web.fail(&e, "/"))
}

fn service<'a>(catalogue: &'a Snapshot, code: &str) -> Option<&'a CatalogueService> {
    ServiceCode::parse(code)
        .ok()
        .and_then(|c| catalogue.get(&c))
}

/// The browser's id cookie, made when it has none.
struct Browser {
    id: Random,
    /// `Set-Cookie` to send: the id is new.
    cookie: Option<HeaderValue>,
}

impl Browser {
    fn of(headers: &HeaderMap) -> Browser {
        if let Some(id) = guard::browser_of(headers) {
            return Browser { id, cookie: None };
        }
        let id = Random::new();
        let secure = headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        let cookie = format!(
            "{BROWSER_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
            id.as_str(),
            BROWSER_TTL.as_secs(),
            if secure { "; Secure" } else { "" }
        );
        Browser {
            id,
            cookie: HeaderValue::from_str(&cookie).ok(),
        }
    }

    fn set(&self, mut response: Response) -> Response {
        if let Some(cookie) = &self.cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response
    }
}

/// `POST /`: the form. A ticket and its receipt, or the form again with the error beside its
/// field.
async fn submit(
    State(web): State<Web>,
    Peer(peer): Peer,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    // Held until the answer: at most UPLOADS_AT_ONCE bodies in memory.
    let Ok(_permit) = web.0.uploads.clone().try_acquire_owned() else {
        return web.fail(&WebError::Busy, "/");
    };
    let client = ClientKey::of(guard::client_ip(peer, &headers));
    match web.0.guard.hit(Bucket::Submit, &client).await {
        Ok(Allowance::Allowed) => {}
        Ok(Allowance::Exceeded { retry_after_secs }) => {
            return retry_after(
                web.fail(&WebError::TooManyAttempts { retry_after_secs }, "/"),
                retry_after_secs,
            );
        }
        Err(e) => return web.fail(&WebError::StoreUnavailable(e), "/"),
    }
    let multipart = match multipart {
        Ok(m) => m,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return web.fail(
                &FormError::TooLarge {
                    limit: UPLOAD_LIMIT,
                }
                .into(),
                "/",
            );
        }
        Err(_) => return web.fail(&FormError::NotMultipart.into(), "/"),
    };
    let form = match form::read(multipart).await {
        Ok(form) => form,
        Err(e) => return web.fail(&e, "/"),
    };
    let catalogue = match web.0.app.parts().catalogue.snapshot().await {
        Ok(c) => c,
        Err(e) => return web.fail(&e.into(), "/"),
    };
    let browser = Browser::of(&headers);
    let token = match &form.token {
        Some(token) => match web.0.guard.check(token, &browser.id).await {
            Ok(true) => Some(token.clone()),
            Ok(false) => None,
            Err(e) => return web.fail(&WebError::StoreUnavailable(e), "/"),
        },
        None => None,
    };
    let Some(token) = token else {
        // Not a token we gave this browser (another site's form, or a stale page): the form
        // again, with a fresh token, and nothing registered.
        let fresh = match web.0.guard.issue(&browser.id).await {
            Ok(t) => t,
            Err(e) => return web.fail(&WebError::StoreUnavailable(e), "/"),
        };
        let error = WebError::from(FormError::Expired);
        return browser.set(again(&web, &catalogue, &fresh, &form, &error));
    };
    let request = match check(&web, &catalogue, &form) {
        Ok(request) => request,
        Err(error) => return again(&web, &catalogue, &token, &form, &error),
    };
    if let Some(e) = &form.photo_error {
        return again(&web, &catalogue, &token, &form, &WebError::Photo(e.clone()));
    }
    match register(&web, &token, request, &form).await {
        Ok(receipt) => html(StatusCode::OK, receipt),
        Err(error) => web.fail(&error, "/"),
    }
}

/// The form's fields through Open311's reader and checks.
fn check(
    web: &Web,
    catalogue: &Snapshot,
    form: &ReportForm,
) -> Result<NewServiceRequest, WebError> {
    let posted = form.posted()?;
    let raw = posted
        .service_code
        .as_deref()
        .ok_or(Rejection::MissingServiceCode)?;
    let code = ServiceCode::parse(raw).map_err(|_| Rejection::ServiceCodeFormat(raw.into()))?;
    let service = catalogue.get(&code).ok_or(Rejection::UnknownService)?;
    Ok(NewServiceRequest::parse(
        posted,
        service,
        web.0.app.parts().config.max_description_chars,
    )?)
}

/// The ticket (one per token however often the form is sent), then its photos, then the
/// receipt. When the photos cannot be stored the citizen sends the form again and gets the same
/// ticket, with the photos this time.
async fn register(
    web: &Web,
    token: &Random,
    request: NewServiceRequest,
    form: &ReportForm,
) -> Result<String, WebError> {
    let key = IdempotencyKey::parse(FORM_SCOPE, token.as_str().as_bytes())?;
    let submission = key.ledger_key();
    let service_code = request.service_code.clone();
    let confidential = request.confidential;
    let has_phone = request.citizen.phone.is_some();
    let (ticket_no, outcome) = crate::routes::register(&web.0.app, Some(key), request).await?;
    let photos = web
        .0
        .photos
        .save(ticket_no, &submission, &form.photos)
        .await
        .map_err(WebError::StoreUnavailable)?;
    let catalogue = web.0.app.parts().catalogue.snapshot().await.ok();
    let service_name = catalogue
        .as_deref()
        .and_then(|c| c.get(&service_code))
        .map_or_else(|| service_code.to_string(), |s| s.name.clone());
    Ok(pages::receipt(
        &web.site(),
        &ReceiptView {
            ticket_no,
            service_name: &service_name,
            confidential,
            has_phone,
            repeated: outcome != "created",
            photos: &photos,
        },
    ))
}

/// The form shown again with what was sent and the error.
fn again(
    web: &Web,
    catalogue: &Snapshot,
    token: &Random,
    form: &ReportForm,
    error: &WebError,
) -> Response {
    let view = FormView {
        catalogue,
        token: token.as_str(),
        sent: Some(form),
        selected: form.value("category").and_then(|c| service(catalogue, c)),
        error: Some(error),
        max_description: web.0.app.parts().config.max_description_chars,
    };
    html(error.status(), pages::report_form(&web.site(), &view))
}

/// `GET /progress`: the lookup form, and with `ticket_no` and `last4` the ticket's progress.
/// An unknown number and a wrong ending get the same answer, and both count against the
/// client's attempts.
async fn progress(
    State(web): State<Web>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let site = web.site();
    let input = match LookupInput::from_query(query.unwrap_or_default().as_bytes()) {
        Ok(input) => input,
        Err(e) => return web.fail(&e.into(), "/progress"),
    };
    if !input.sent {
        return html(StatusCode::OK, pages::progress(&site, &input, None, None));
    }
    let lookup = match Lookup::parse(&input) {
        Ok(lookup) => lookup,
        Err(e) => {
            let error = WebError::from(e);
            return html(
                error.status(),
                pages::progress(&site, &input, None, Some(&error)),
            );
        }
    };
    let client = ClientKey::of(guard::client_ip(peer, &headers));
    let refused = |error: WebError| {
        log(&error);
        html(
            error.status(),
            pages::progress(&site, &input, None, Some(&error)),
        )
    };
    match web.0.guard.hit(Bucket::Lookup, &client).await {
        Ok(Allowance::Allowed) => {}
        Ok(Allowance::Exceeded { retry_after_secs }) => {
            return retry_after(
                refused(WebError::TooManyAttempts { retry_after_secs }),
                retry_after_secs,
            );
        }
        Err(e) => return refused(WebError::StoreUnavailable(e)),
    }
    let parts = web.0.app.parts();
    let found = match parts.ledger.get(lookup.ticket_no).await {
        Ok(found) if lookup.matches(found.ticket.citizen.phone.as_deref()) => found,
        Ok(_) => return refused(WebError::NotFound),
        Err(e) if e.kind() == ErrorKind::NotFound => return refused(WebError::NotFound),
        Err(e) => return refused(crate::error::Open311Error::from(e).into()),
    };
    let catalogue = parts.catalogue.snapshot().await.ok();
    let service_name = found
        .ticket
        .service_code
        .as_ref()
        .and_then(|code| catalogue.as_deref().and_then(|c| c.get(code)))
        .map(|s| s.name.as_str());
    let shown = Progress {
        ticket: &found.ticket,
        history: &found.history,
        service_name,
    };
    html(
        StatusCode::OK,
        pages::progress(&site, &input, Some(&shown), None),
    )
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SITE_CSS,
    )
        .into_response()
}

/// The tab's icon: linked from every page, so browsers do not ask for a `/favicon.ico`.
async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON_SVG,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn retry_after(mut response: Response, secs: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Our failures go to the log, the citizen's do not. Never personal data: the errors here name
/// stores and subjects, not what was sent.
fn log(error: &WebError) {
    if error.status().is_server_error() {
        match error {
            WebError::StoreUnavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "web page: a store is unavailable");
            }
            other => {
                tracing::warn!(error = %other, status = other.status().as_u16(), "web page failed")
            }
        }
    }
}

/// Headers every page and the stylesheet carry: no scripts or styles from anywhere but here
/// (and no inline ones), no framing, no sniffing, no referrer (the lookup's URL holds the
/// ticket number), and nothing personal cached.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
