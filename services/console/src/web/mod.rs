//! The console's routes and the layers every request passes.
//!
//! | route | what | who |
//! |---|---|---|
//! | `GET /` | the home page: a tile per screen the roles allow (none: 403), or the sign-in page | anyone |
//! | `GET /auth/login`, `GET /auth/callback`, `POST /auth/logout`, `GET /auth/signed-out` | sign-in and out ([`auth`]) | anyone |
//! | `GET /dept`, `GET /dept/rows`, `GET /dept/tickets/{no}`, `POST /dept/tickets/{no}/{step}`, `POST /dept/tickets/{no}/reveal` | the department portal ([`dept`]) | department staff |
//! | `GET /dept/knowledge`, `GET /dept/knowledge/{code}`, `GET`/`POST /dept/knowledge/{code}/edit`, `POST /dept/knowledge/{code}/submit`, `GET /dept/knowledge/{code}/diff` | the department's knowledge items ([`knowledge`]) | department staff (editing: with `knowledge_editor`) |
//! | `GET /knowledge/review`, `GET /knowledge/review/{code}`, `GET /knowledge/review/{code}/diff`, `POST /knowledge/review/{code}/{publish,reject,retire}` | the centre's knowledge review ([`review`]) | the centre's knowledge editors (`knowledge_editor` of `city.centre`), administrators |
//! | `GET /dispatch/queue`, `POST /dispatch/queue/{no}`, `GET /dispatch/returns`, `POST /dispatch/returns/{no}`, `GET /dispatch/tickets/{no}`, `POST /dispatch/tickets/{no}`, `GET /dispatch/catalogue`, `GET`/`POST /dispatch/catalogue/{code}` | the dispatcher's screens ([`dispatch`]) | dispatchers, supervisors, administrators |
//! | `GET /agent`, `GET /agent/events` (SSE), `GET /agent/calls/{id}`, `POST /agent/calls/{id}/{knowledge,assist,ticket,answer,flag,finish}`, `POST /agent/calls/{id}/reveal/{no}`, `GET /agent/calls/{id}/tree/{item}`, `GET /agent/tickets` | the agent desk ([`agent`]) | agents |
//! | `GET /supervisor`, `GET /supervisor/live`, `POST /supervisor/extensions/{no}`, `GET /supervisor/report[.csv\|.pdf]`, `GET /supervisor/hotspots[.json]` | the supervisor's board, report and 社情民意 ([`supervisor`]) | supervisors, administrators |
//! | `GET /assets/{name}` | htmx and the stylesheet ([`crate::assets`]) | anyone |
//!
//! Layers, outermost first: security headers on every answer ([`security_headers`]); the
//! language and the error pages ([`language_and_errors`]): a handler's [`ConsoleError`] becomes a
//! page in the person's language, or a redirect to sign in.

pub mod agent;
pub mod auth;
pub mod dept;
pub mod dispatch;
pub mod guard;
pub mod knowledge;
pub mod pages;
pub mod review;
pub mod supervisor;
pub mod table;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::FixedOffset;

use crate::error::{ConsoleError, Failure, FailureKind};
use crate::i18n::{LANG_COOKIE, Lang};
use crate::oidc::Oidc;
use crate::session::{Clock, Limits, Sessions, Store};
use crate::upstream::Upstream;
use guard::Signed;

/// The Content-Security-Policy of every answer: scripts and styles from this origin only (htmx
/// is a file here; no inline script or style, no eval), forms post here only, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
/// Forms are small: notes of a few thousand characters at most.
const BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct Console(Arc<Parts>);

pub struct Parts {
    pub sessions: Arc<Sessions>,
    pub oidc: Oidc,
    pub upstream: Upstream,
    /// The supervisor's counts, kept `console.figures_max_age_secs`.
    pub figures: Arc<crate::figures::Figures>,
    /// Cookies get `Secure` when people reach the console over https.
    pub secure_cookies: bool,
    /// `scheme://host[:port]` of the public URL: the only `Origin` a form may come from.
    pub origin: String,
    /// The city's offset from UTC: times are shown in local time.
    pub offset: FixedOffset,
    /// The hotline centre's department code (`city.centre`): its knowledge editors review.
    pub centre: hotline_domain::DeptCode,
    /// Cancelled when the console stops: ends the agent desk's live feeds, which would
    /// otherwise hold the graceful shutdown open.
    pub streams: tokio_util::sync::CancellationToken,
}

impl Console {
    pub fn new(settings: &hotline_config::Settings, store: Store) -> anyhow::Result<Console> {
        Console::with_clock(settings, store, Clock::new())
    }

    /// [`Console::new`] on a given clock (tests move it).
    pub fn with_clock(
        settings: &hotline_config::Settings,
        store: Store,
        clock: Clock,
    ) -> anyhow::Result<Console> {
        let public_url = settings.console_public_url();
        Ok(Console(Arc::new(Parts {
            sessions: Arc::new(Sessions::new(
                store,
                clock,
                Limits::from_settings(&settings.console),
            )),
            oidc: Oidc::from_settings(settings)?,
            upstream: Upstream::from_settings(settings)?,
            figures: crate::figures::Figures::new(std::time::Duration::from_secs(
                settings.console.figures_max_age_secs,
            )),
            secure_cookies: public_url.starts_with("https://"),
            origin: origin_of(&public_url),
            offset: settings.utc_offset(),
            centre: hotline_domain::DeptCode::parse(&settings.city.centre)
                .map_err(|e| anyhow::anyhow!("city.centre {:?}: {e}", settings.city.centre))?,
            streams: tokio_util::sync::CancellationToken::new(),
        })))
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.0.sessions
    }

    pub fn parts(&self) -> &Parts {
        &self.0
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_owned(),
    }
}

pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/signed-out", get(auth::signed_out))
        .route("/dept", get(dept::inbox))
        .route("/dept/rows", get(dept::inbox_rows))
        .route("/dept/tickets/{no}", get(dept::ticket))
        .route("/dept/tickets/{no}/reveal", post(dept::reveal))
        .route("/dept/tickets/{no}/act/{step}", post(dept::act))
        .route("/dept/knowledge", get(knowledge::list))
        .route("/dept/knowledge/{code}", get(knowledge::item))
        .route(
            "/dept/knowledge/{code}/edit",
            get(knowledge::edit).post(knowledge::save),
        )
        .route("/dept/knowledge/{code}/submit", post(knowledge::submit))
        .route("/dept/knowledge/{code}/diff", get(knowledge::diff))
        .route("/knowledge/review", get(review::queue))
        .route("/knowledge/review/{code}", get(review::item))
        .route("/knowledge/review/{code}/diff", get(review::diff))
        .route("/knowledge/review/{code}/{step}", post(review::step))
        .route("/dispatch/queue", get(dispatch::queue))
        .route("/dispatch/queue/{no}", post(dispatch::dispatch_queued))
        .route("/dispatch/returns", get(dispatch::returns))
        .route("/dispatch/returns/{no}", post(dispatch::review_return))
        .route(
            "/dispatch/tickets/{no}",
            get(dispatch::ticket).post(dispatch::redispatch),
        )
        .route("/dispatch/catalogue", get(dispatch::catalogue))
        .route(
            "/dispatch/catalogue/{code}",
            get(dispatch::catalogue_entry).post(dispatch::change_entry),
        )
        .route("/agent", get(agent::home))
        .route("/agent/events", get(agent::events))
        .route("/agent/tickets", get(agent::tickets))
        .route("/agent/calls/{id}", get(agent::call))
        .route("/agent/calls/{id}/knowledge", post(agent::knowledge))
        .route("/agent/calls/{id}/tree/{item}", get(agent::tree))
        .route("/agent/calls/{id}/assist", post(agent::assist))
        .route("/agent/calls/{id}/ticket", post(agent::create_ticket))
        .route("/agent/calls/{id}/answer", post(agent::answer))
        .route("/agent/calls/{id}/flag", post(agent::flag))
        .route("/agent/calls/{id}/finish", post(agent::finish))
        .route("/agent/calls/{id}/reveal/{no}", post(agent::reveal))
        .route("/supervisor", get(supervisor::board))
        .route("/supervisor/live", get(supervisor::live))
        .route("/supervisor/extensions/{no}", post(supervisor::decide))
        .route("/supervisor/report", get(supervisor::report_page))
        .route("/supervisor/report.csv", get(supervisor::report_csv))
        .route("/supervisor/report.pdf", get(supervisor::report_pdf))
        .route("/supervisor/hotspots", get(supervisor::hotspots))
        .route("/supervisor/hotspots.json", get(supervisor::hotspots_json))
        .route("/assets/{name}", get(crate::assets::serve))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            language_and_errors,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}

/// `GET /`: the screens the person's roles allow; a plain 403 when there are none; the sign-in
/// page when nobody is signed in.
async fn home(signed: Result<Signed, ConsoleError>, lang: Lang) -> Result<Response, ConsoleError> {
    match signed {
        Ok(signed) => {
            let screens = pages::screens(&signed.principal, signed.reviews_knowledge);
            if screens.is_empty() {
                return Err(ConsoleError::Forbidden);
            }
            Ok(pages::html(
                StatusCode::OK,
                pages::home(lang, &signed, &screens),
            ))
        }
        Err(ConsoleError::NotSignedIn { expired }) => Ok(pages::html(
            StatusCode::OK,
            pages::sign_in(lang, expired.then_some(lang.t().session_expired)),
        )),
        Err(e) => Err(e),
    }
}

/// Reads a cookie's value from the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// The language of the request (see [`crate::i18n`]), remembered when `?lang=` chose it; and
/// every [`Failure`] rendered as a page in it. A request that needs a session and has none is
/// sent to sign in (htmx requests through `HX-Redirect`, as a redirect of theirs would be
/// followed inside the page).
async fn language_and_errors(
    State(console): State<Console>,
    mut request: Request,
    next: Next,
) -> Response {
    let query_lang = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "lang").map(|(_, v)| v));
    let headers = request.headers();
    let (lang, chosen) = Lang::negotiate(
        query_lang.as_deref(),
        cookie(headers, LANG_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let htmx = headers.contains_key("hx-request");
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let return_to = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    request.extensions_mut().insert(lang);
    let mut response = next.run(request).await;
    if let Some(failure) = response.extensions_mut().remove::<Failure>() {
        response = match failure.kind {
            FailureKind::SignIn { .. } => {
                // Only a page read is worth coming back to; a form sent with an ended session
                // goes home after signing in.
                let back = if method == Method::GET && !path.starts_with("/auth/") {
                    return_to
                } else {
                    "/".to_owned()
                };
                let to = format!(
                    "/auth/login?{}",
                    serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default()
                );
                if htmx {
                    let mut r = StatusCode::OK.into_response();
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert("hx-redirect", v);
                    }
                    r
                } else {
                    pages::see_other(&to)
                }
            }
            _ => pages::html(response.status(), pages::error(lang, &console, &failure)),
        };
    }
    if let Some(chosen) = chosen {
        let value = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
            chosen.code(),
            if console.0.secure_cookies {
                "; Secure"
            } else {
                ""
            }
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The language chosen by [`language_and_errors`] (Chinese when the layer did not run).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Lang, Self::Rejection> {
        Ok(parts.extensions.get::<Lang>().copied().unwrap_or(Lang::Zh))
    }
}

/// Headers on every answer: the CSP, no framing (both ways of saying it), no sniffing, no
/// referrer beyond this origin (ticket numbers are in URLs), nothing personal cached.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: with no-referrer browsers send `Origin: null` on a
    // form's POST, and the CSRF check compares the Origin.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests;
