//! The knowledge API (port 8085).
//!
//! Who may call what (docs/roles.md):
//! - Public: search, suggestions, the published tree and the export. They show published answers
//!   only (what the city tells citizens anyway) and store nothing of the query.
//! - Signed in (a person's JWT with any hotline role, or a department's system token): items,
//!   versions, diffs and tasks, which include drafts and internal notes.
//! - Editing: a department's system token (as the gateway's), or a person with the
//!   `knowledge_editor` role of a department: a department writes and submits its own items;
//!   the centre's (its token, its editors, the administrator) reviews, publishes and retires.
//! - Flagging an answer and answering a ticket with a leaf: the centre's people, recorded as the
//!   token's subject.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use hotline_auth::{AuthError, Principal, Role, Verifier};
use hotline_bus::rpc::{self, RemoteError};
use hotline_domain::contract::{CommandAccepted, TicketCommand};
use hotline_domain::{Action, Actor, DeptCode, ItemCode, TicketNo};
use hotline_runtime::ApiError;
use serde::Deserialize;
use serde_json::json;

use crate::diff::diff;
use crate::formats::{self, Format};
use crate::governance::{Editor, VersionStatus};
use crate::model::{Item, ItemClass, Node};
use crate::service::{Knowledge, SearchRequest, SuggestRequest};
use crate::store::{Precondition, Revision, TaskKind};

/// The body limit of every route but the import: an item, a note or a query is small.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Body limits per route: `knowledge.max_import_bytes` (32 MiB by default) for `/v1/import`
/// only, [`MAX_BODY_BYTES`] for everything else. `RequestBodyLimitLayer` answers 413 on a
/// Content-Length over the limit before anything is read (and cuts off a chunked body at it),
/// and the import handler checks its credential before it reads the body at all.
/// The router's state: the service, and the verifier of people's tokens.
#[derive(Clone)]
pub struct HttpState {
    pub knowledge: Knowledge,
    pub verifier: Verifier,
}

impl FromRef<HttpState> for Knowledge {
    fn from_ref(s: &HttpState) -> Knowledge {
        s.knowledge.clone()
    }
}

impl FromRef<HttpState> for Verifier {
    fn from_ref(s: &HttpState) -> Verifier {
        s.verifier.clone()
    }
}

/// Who calls: a department's system (its token, as at the gateway) or a person (a JWT). A
/// parts extractor: refused callers never get their body read.
pub enum Caller {
    System(DeptCode),
    Person(Principal),
}

impl FromRequestParts<HttpState> for Caller {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let token = hotline_auth::extract::bearer_of(parts).ok_or(AuthError::Missing)?;
        if let Some(code) = state.knowledge.auth.department_for_token(token) {
            return Ok(Caller::System(code));
        }
        let person = state.verifier.verify(token).await?;
        if person.roles.is_empty() {
            return Err(AuthError::forbidden("your account has no hotline role"));
        }
        Ok(Caller::Person(person))
    }
}

/// An editor: a department's token, or a person who edits knowledge for a department (the
/// centre's editors and the administrator edit as the centre).
pub struct Edit(pub Editor);

impl FromRequestParts<HttpState> for Edit {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let centre = &state.knowledge.centre;
        let as_editor = |code: DeptCode| {
            if &code == centre {
                Editor::Centre(code)
            } else {
                Editor::Department(code)
            }
        };
        match Caller::from_request_parts(parts, state).await? {
            Caller::System(code) => Ok(Edit(as_editor(code))),
            Caller::Person(p) if p.has(Role::KnowledgeEditor) => match p.department {
                Some(code) => Ok(Edit(as_editor(code))),
                None => Err(AuthError::forbidden(
                    "a knowledge editor needs a department",
                )),
            },
            Caller::Person(p) if p.has(Role::Admin) => Ok(Edit(Editor::Centre(centre.clone()))),
            Caller::Person(_) => Err(AuthError::forbidden(
                "editing knowledge needs the knowledge_editor role or a department credential",
            )),
        }
    }
}

/// One of the centre's people who answer calls (flag an answer, answer a ticket with a leaf).
pub struct CentrePerson(pub Principal);

impl FromRequestParts<HttpState> for CentrePerson {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Person(p) if p.has_any(&[Role::Agent, Role::Supervisor, Role::Admin]) => {
                Ok(CentrePerson(p))
            }
            _ => Err(AuthError::forbidden(
                "flagging and answering with the knowledge base is for the centre's agents",
            )),
        }
    }
}

/// Anyone signed in: a person with a hotline role, or a department's system.
pub struct SignedIn;

impl FromRequestParts<HttpState> for SignedIn {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state)
            .await
            .map(|_| SignedIn)
    }
}

pub fn router(state: Knowledge, verifier: Verifier) -> Router {
    let import_limit = state.limits.max_import_bytes;
    let state = HttpState {
        knowledge: state,
        verifier,
    };
    let import_routes = Router::new()
        .route("/v1/import", post(import))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(import_limit));
    Router::new()
        .route("/v1/search", get(search).post(search_post))
        .route("/v1/suggest", post(suggest))
        .route("/v1/items", get(list_items))
        .route("/v1/items/{code}", get(get_item))
        .route("/v1/items/{code}/draft", put(write_draft))
        .route("/v1/items/{code}/submit", post(submit))
        .route("/v1/items/{code}/publish", post(publish))
        .route("/v1/items/{code}/reject", post(reject))
        .route("/v1/items/{code}/retire", post(retire))
        .route("/v1/items/{code}/versions", get(versions))
        .route("/v1/items/{code}/versions/{version}", get(get_version))
        .route("/v1/items/{code}/diff", get(get_diff))
        .route("/v1/items/{code}/tree", get(tree))
        .route("/v1/items/{code}/policy-changes", post(policy_change))
        .route("/v1/leaves/{code}/flags", post(flag))
        .route("/v1/leaves/{code}/answer", post(answer))
        .route("/v1/tasks", get(tasks))
        .route("/v1/tasks/{id}/close", post(close_task))
        .route("/v1/export", get(export))
        .route("/v1/figures/first-contact", get(first_contact))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .merge(import_routes)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// Errors become HTTP responses in one place: the runtime's `ApiError` (kinds from
/// [`crate::error`]).
type ApiResult<T> = Result<T, ApiError>;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message)
}

fn parse_code(raw: &str) -> ApiResult<ItemCode> {
    ItemCode::parse(raw).map_err(|e| bad(e.to_string()))
}

/// The item's revision as a strong entity tag: `"<revision>"`.
fn etag(revision: Revision) -> [(header::HeaderName, String); 1] {
    [(header::ETAG, format!("\"{revision}\""))]
}

/// The request's `If-Match` (RFC 9110 13.1.1), or `None` without one: `*`, or the revisions
/// of the strong tags it lists. A weak tag or one that is not ours never matches (strong
/// comparison), so it is left out; a header of only such tags refuses the write.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<Precondition>> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut revisions = Vec::new();
    for value in values {
        let value = value
            .to_str()
            .map_err(|_| bad("If-Match is not a list of entity tags"))?;
        for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                return Ok(Some(Precondition::Exists));
            }
            if let Some(revision) = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<Revision>().ok())
            {
                revisions.push(revision);
            }
        }
    }
    Ok(Some(Precondition::OneOf(revisions)))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not valid JSON here: {e}")))
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    class: Option<String>,
    department: Option<String>,
    on: Option<NaiveDate>,
    item: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn class_param(raw: Option<&str>) -> ApiResult<Option<ItemClass>> {
    raw.filter(|s| !s.is_empty())
        .map(|c| ItemClass::parse(c).ok_or_else(|| bad(format!("unknown class {c:?}"))))
        .transpose()
}

fn dept_param(raw: Option<&str>) -> ApiResult<Option<DeptCode>> {
    raw.filter(|s| !s.is_empty())
        .map(|d| DeptCode::parse(d).map_err(|e| bad(e.to_string())))
        .transpose()
}

async fn search(State(k): State<Knowledge>, Query(p): Query<SearchParams>) -> ApiResult<Response> {
    let request = SearchRequest {
        q: p.q.unwrap_or_default(),
        class: class_param(p.class.as_deref())?,
        department: dept_param(p.department.as_deref())?,
        on: p.on,
        item: p.item.as_deref().map(parse_code).transpose()?,
        limit: p.limit,
        offset: p.offset,
    };
    Ok(Json(k.search_blocking(request).await?).into_response())
}

/// The same search with the request as a JSON body ([`SearchRequest`]).
async fn search_post(State(k): State<Knowledge>, body: Bytes) -> ApiResult<Response> {
    let request: SearchRequest = json_body(&body)?;
    Ok(Json(k.search_blocking(request).await?).into_response())
}

async fn suggest(State(k): State<Knowledge>, body: Bytes) -> ApiResult<Response> {
    let request: SuggestRequest = json_body(&body)?;
    Ok(Json(k.suggest_blocking(request).await?).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    department: Option<String>,
    class: Option<String>,
    limit: Option<i64>,
}

async fn list_items(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| VersionStatus::parse(s).ok_or_else(|| bad(format!("unknown status {s:?}"))))
        .transpose()?;
    let class = class_param(p.class.as_deref())?;
    let owner = dept_param(p.department.as_deref())?;
    let items = k
        .store
        .list(
            status,
            owner.as_ref(),
            class.map(|c| c.as_str()),
            p.limit.unwrap_or(500).clamp(1, 5000),
        )
        .await?;
    Ok(Json(json!({ "items": items })).into_response())
}

async fn get_item(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let (item, info) = k
        .store
        .version(&code, None)
        .await?
        .ok_or_else(|| ApiError::not_found("no such item"))?;
    let tag = etag(info.revision);
    Ok((tag, Json(json!({ "version": info, "item": item }))).into_response())
}

#[derive(Deserialize)]
struct DraftParams {
    #[serde(default)]
    submit: bool,
}

async fn write_draft(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    Query(p): Query<DraftParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let precondition = if_match(&headers)?;
    let item: Item = json_body(&body)?;
    if item.code != code {
        return Err(bad("the item's code differs from the path"));
    }
    let (version, revision) = k
        .store
        .write_draft(&editor, &item, p.submit, precondition.as_ref())
        .await?;
    Ok((
        StatusCode::OK,
        etag(revision),
        Json(json!({ "code": code, "version": version, "status": if p.submit { "review" } else { "draft" } })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct NoteBody {
    #[serde(default)]
    note: String,
}

fn note_body(body: &Bytes) -> ApiResult<NoteBody> {
    if body.is_empty() {
        Ok(NoteBody::default())
    } else {
        json_body(body)
    }
}

async fn submit(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let precondition = if_match(&headers)?;
    let (version, revision) = k
        .store
        .submit(&editor, &code, precondition.as_ref())
        .await?;
    Ok((
        etag(revision),
        Json(json!({ "code": code, "version": version, "status": "review" })),
    )
        .into_response())
}

async fn publish(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let precondition = if_match(&headers)?;
    let note = note_body(&body)?;
    // Refuse what the rules refuse before asking the catalogue (another service).
    let state = k.store.state(&code).await?;
    crate::governance::decide(&editor, &crate::governance::Step::Publish, state.as_ref())?;
    let known = k.catalogue_codes().await?;
    let (version, revision) = k
        .store
        .publish_if_match(
            &editor,
            &code,
            Some(&note.note)
                .filter(|n| !n.is_empty())
                .map(|n| n.as_str()),
            precondition.as_ref(),
            |m| known.contains(m),
        )
        .await?;
    Ok((
        etag(revision),
        Json(json!({ "code": code, "version": version, "status": "published" })),
    )
        .into_response())
}

async fn reject(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let precondition = if_match(&headers)?;
    let note = note_body(&body)?;
    if note.note.trim().is_empty() {
        return Err(bad("a rejection needs a note for the owner"));
    }
    let (version, revision) = k
        .store
        .reject(&editor, &code, &note.note, precondition.as_ref())
        .await?;
    Ok((
        etag(revision),
        Json(json!({ "code": code, "version": version, "status": "rejected" })),
    )
        .into_response())
}

async fn retire(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let precondition = if_match(&headers)?;
    let note = note_body(&body)?;
    if note.note.trim().is_empty() {
        return Err(bad("retiring an item needs a reason (note)"));
    }
    let (version, revision) = k
        .store
        .retire(&editor, &code, &note.note, precondition.as_ref())
        .await?;
    Ok((
        etag(revision),
        Json(json!({ "code": code, "version": version, "status": "retired" })),
    )
        .into_response())
}

async fn versions(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let versions = k.store.versions(&code).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("no such item"));
    }
    Ok(Json(json!({ "versions": versions })).into_response())
}

async fn get_version(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Path((code, version)): Path<(String, i32)>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let (item, info) = k
        .store
        .version(&code, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("no such version"))?;
    // The item's ETag, as on the item itself: a form read from this version sends it back as
    // If-Match on the draft write or the submit.
    let tag = etag(info.revision);
    Ok((tag, Json(json!({ "version": info, "item": item }))).into_response())
}

#[derive(Deserialize)]
struct DiffParams {
    from: i32,
    to: i32,
}

async fn get_diff(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    Query(p): Query<DiffParams>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let load = |v| {
        let k = k.clone();
        let code = code.clone();
        async move {
            k.store
                .version(&code, Some(v))
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no version {v}")))
        }
    };
    let (old, _) = load(p.from).await?;
    let (new, _) = load(p.to).await?;
    Ok(
        Json(json!({ "code": code, "from": p.from, "to": p.to, "diff": diff(&old, &new) }))
            .into_response(),
    )
}

#[derive(Deserialize)]
struct TreeParams {
    node: Option<String>,
}

fn node_summary(node: &Node) -> serde_json::Value {
    match node {
        Node::Situation {
            code,
            label,
            children,
        } => {
            json!({ "code": code, "kind": "situation", "label": label, "children": children.len() })
        }
        Node::Answer(leaf) => json!({ "code": leaf.code, "kind": "answer", "label": leaf.title }),
    }
}

/// Walks the published tree: the item's first choices, or one node's path and children (or its
/// answer when it is a leaf). The agent's 按图索骥.
async fn tree(
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    Query(p): Query<TreeParams>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let (item, info) = k
        .store
        .version(&code, None)
        .await?
        .filter(|(_, info)| info.status == VersionStatus::Published)
        .ok_or_else(|| ApiError::not_found("no published item with this code"))?;
    let head = json!({ "code": item.code, "title": item.title, "class": item.class,
        "matter_code": item.matter_code, "owner": item.owner, "version": info.version });
    let Some(node) = p.node.filter(|n| !n.is_empty()) else {
        let children: Vec<_> = item.nodes.iter().map(node_summary).collect();
        return Ok(Json(json!({ "item": head, "path": [], "children": children })).into_response());
    };
    let node = parse_code(&node)?;
    let (path, found) = item
        .find(&node)
        .ok_or_else(|| ApiError::not_found("no such node in this item"))?;
    let body = match found {
        Node::Situation { children, .. } => json!({
            "item": head, "path": path, "node": node_summary(found),
            "children": children.iter().map(node_summary).collect::<Vec<_>>(),
        }),
        Node::Answer(leaf) => json!({
            "item": head, "path": path, "node": node_summary(found), "answer": leaf,
            "in_force": leaf.in_force_on(k.today()),
        }),
    };
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct ReasonBody {
    reason: String,
    #[serde(default)]
    note: String,
}

fn due_in_working_days(k: &Knowledge) -> DateTime<Utc> {
    k.calendar
        .add_working_days(Utc::now(), k.limits.update_task_working_days)
}

/// A policy change (政策变化): the centre asks the owner to update the item.
async fn policy_change(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !editor.is_centre() {
        return Err(
            crate::governance::GovernanceError::CentreOnly("open a policy-change task").into(),
        );
    }
    let code = parse_code(&code)?;
    let b: ReasonBody = json_body(&body)?;
    let task = k
        .store
        .open_task(
            &code,
            TaskKind::PolicyChange,
            None,
            &b.reason,
            &b.note,
            editor.code().as_str(),
            due_in_working_days(&k),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(task)).into_response())
}

/// An agent flags an answer as wrong or outdated: a task for the owner.
async fn flag(
    CentrePerson(person): CentrePerson,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let agent = person.subject;
    let leaf = parse_code(&code)?;
    let b: ReasonBody = json_body(&body)?;
    if !matches!(b.reason.as_str(), "wrong" | "outdated" | "unclear") {
        return Err(bad("reason must be wrong, outdated or unclear"));
    }
    let (item, _, _) = k
        .store
        .leaf_owner(&leaf)
        .await?
        .ok_or(crate::store::TaskError::UnknownLeaf)
        .map_err(crate::store::StoreError::Task)?;
    let task = k
        .store
        .open_task(
            &item,
            TaskKind::Flag,
            Some(&leaf),
            &b.reason,
            &b.note,
            &format!("agent:{agent}"),
            due_in_working_days(&k),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(task)).into_response())
}

#[derive(Deserialize)]
struct AnswerBody {
    ticket_no: String,
}

/// Answers a ticket on the spot with a published leaf: the ledger records the answer with the
/// leaf's code, which is how first-contact answers are counted per leaf.
async fn answer(
    CentrePerson(person): CentrePerson,
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let agent = person.subject;
    let leaf_code = parse_code(&code)?;
    let b: AnswerBody = json_body(&body)?;
    let ticket_no = TicketNo::parse(&b.ticket_no).map_err(|e| bad(e.to_string()))?;
    let (item_code, _, version) = k
        .store
        .leaf_owner(&leaf_code)
        .await?
        .ok_or(crate::store::TaskError::UnknownLeaf)
        .map_err(crate::store::StoreError::Task)?;
    let (item, _) = k
        .store
        .version(&item_code, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("no such leaf"))?;
    let Some((_, Node::Answer(leaf))) = item.find(&leaf_code) else {
        return Err(ApiError::not_found("no such leaf"));
    };
    if !leaf.in_force_on(k.today()) {
        return Err(ApiError::conflict("this answer is not in force today"));
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("knowledge-answer:{v}"))
        .unwrap_or_else(|| format!("knowledge-answer:{ticket_no}:{leaf_code}"));
    let command = TicketCommand::Act {
        idempotency_key,
        actor: Actor::Agent { id: agent },
        ticket_no,
        action: Action::Answer {
            answer: leaf.answer.clone(),
            knowledge_leaf: Some(leaf_code.to_string()),
        },
    };
    let accepted: CommandAccepted = rpc::call(
        &k.bus,
        k.bus
            .subjects
            .ticket_commands_from(hotline_bus::Service::Knowledge),
        &command,
        rpc::DEFAULT_TIMEOUT,
    )
    .await
    .map_err(RemoteError::from)?;
    Ok(Json(
        json!({ "ticket": accepted, "leaf": leaf_code, "item": item_code, "version": version }),
    )
    .into_response())
}

#[derive(Deserialize)]
struct TaskParams {
    department: Option<String>,
    #[serde(default)]
    open: bool,
    #[serde(default)]
    overdue: bool,
}

async fn tasks(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Query(p): Query<TaskParams>,
) -> ApiResult<Response> {
    let department = dept_param(p.department.as_deref())?;
    let tasks = k
        .store
        .tasks(department.as_ref(), p.open, p.overdue)
        .await?;
    Ok(Json(json!({ "tasks": tasks })).into_response())
}

async fn close_task(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Response> {
    let note = note_body(&body)?;
    if note.note.trim().is_empty() {
        return Err(bad("closing a task without a new version needs a note"));
    }
    let task = k.store.close_task(&editor, id, &note.note).await?;
    Ok(Json(task).into_response())
}

#[derive(Deserialize)]
struct ImportParams {
    format: Option<String>,
    #[serde(default)]
    submit: bool,
}

fn format_of(name: Option<&str>, headers: &HeaderMap) -> ApiResult<Format> {
    let from_type = || {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_content_type)
    };
    match name {
        Some(n) => Format::from_name(n)
            .ok_or_else(|| bad(format!("unknown format {n:?}; use mm, opml or csv"))),
        None => from_type().ok_or_else(|| bad("say the format: ?format=mm|opml|csv")),
    }
}

/// Imports a file as drafts (or straight to review with `submit=true`): all or nothing.
///
/// The body is taken unread (`Body`, the last extractor) and read only after the credential and
/// the format were checked: an anonymous caller cannot make us buffer 32 MiB.
async fn import(
    Edit(editor): Edit,
    State(k): State<Knowledge>,
    Query(p): Query<ImportParams>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let format = format_of(p.format.as_deref(), &headers)?;
    let limit = k.limits.max_import_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        // Over the limit (a chunked body; a Content-Length over it never got here) or cut off.
        let message = format!("the file is larger than {limit} bytes");
        return Ok((
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({ "error": { "kind": "invalid", "message": message } })),
        )
            .into_response());
    };
    let items = tokio::task::spawn_blocking(move || formats::import(format, &body))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!(e)))??;
    let written = k.store.write_drafts(&editor, &items, p.submit).await?;
    let written: BTreeMap<String, i32> = written
        .into_iter()
        .map(|(c, v)| (c.to_string(), v))
        .collect();
    Ok((
        StatusCode::OK,
        Json(json!({ "imported": written.len(), "versions": written, "status": if p.submit { "review" } else { "draft" } })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ExportParams {
    format: Option<String>,
    /// Comma-separated item codes; all published items when absent.
    items: Option<String>,
}

/// Exports published items as a mind map, OPML or CSV.
async fn export(
    State(k): State<Knowledge>,
    Query(p): Query<ExportParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let format = format_of(Some(p.format.as_deref().unwrap_or("mm")), &headers)?;
    let codes = p
        .items
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_code)
        .collect::<ApiResult<Vec<_>>>()?;
    let items = k.store.published_items(&codes).await?;
    let bytes = formats::export(format, &items)
        .map_err(|e| ApiError::internal(&anyhow::Error::new(e).context("exporting")))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], bytes).into_response())
}

#[derive(Deserialize)]
struct PeriodParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// 一次性解答率 per item, and how often each leaf answered, in a period (default: 30 days).
async fn first_contact(
    _who: SignedIn,
    State(k): State<Knowledge>,
    Query(p): Query<PeriodParams>,
) -> ApiResult<Response> {
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(bad("from must be before to"));
    }
    let items = k.store.first_contact(from, to).await?;
    let leaves: Vec<_> = k
        .store
        .leaf_uses(from, to)
        .await?
        .into_iter()
        .map(|(code, uses)| json!({ "code": code, "answers": uses }))
        .collect();
    Ok(Json(json!({ "from": from, "to": to, "items": items, "leaves": leaves })).into_response())
}
