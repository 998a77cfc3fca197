//! The knowledge API (port 8085).
//!
//! Reading (search, suggestions, items, trees, versions, diffs, figures) is open to the centre's
//! agents. Writing needs a department credential (`Authorization: Bearer <token>`, the same
//! credentials as the gateway): a department writes and submits its own items; the centre's
//! credential reviews, publishes and retires. Agents identify themselves with `X-Agent-Id` to
//! flag an answer or answer a ticket with a leaf.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use hotline_bus::rpc::{self, RemoteError};
use hotline_domain::contract::{CommandAccepted, TicketCommand};
use hotline_domain::{Action, Actor, DeptCode, ItemCode, TicketNo};
use serde::Deserialize;
use serde_json::json;

use crate::diff::diff;
use crate::formats::{self, Format};
use crate::governance::{Editor, VersionStatus};
use crate::model::{Item, ItemClass, Node};
use crate::service::{Knowledge, SearchRequest, SuggestRequest};
use crate::store::TaskKind;

pub fn router(state: Knowledge) -> Router {
    let import_limit = state.limits.max_import_bytes;
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
        .route("/v1/import", post(import))
        .route("/v1/export", get(export))
        .route("/v1/figures/first-contact", get(first_contact))
        .layer(axum::extract::DefaultBodyLimit::max(import_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// The one place errors become HTTP responses.
pub struct ApiError(RemoteError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.0.to_http();
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

impl<E: Into<RemoteError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(RemoteError::invalid(message))
}

fn parse_code(raw: &str) -> ApiResult<ItemCode> {
    ItemCode::parse(raw).map_err(|e| bad(e.to_string()))
}

fn editor(k: &Knowledge, headers: &HeaderMap) -> ApiResult<Editor> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    k.editor(header).ok_or_else(|| {
        ApiError(RemoteError::new(
            hotline_domain::contract::ErrorKind::Forbidden,
            "a department credential is required (Authorization: Bearer <token>)",
        ))
    })
}

fn agent(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get("x-agent-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(str::to_owned)
        .ok_or_else(|| bad("X-Agent-Id (1-64 characters) is required"))
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

async fn get_item(State(k): State<Knowledge>, Path(code): Path<String>) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let (item, info) = k
        .store
        .version(&code, None)
        .await?
        .ok_or_else(|| ApiError(RemoteError::not_found("no such item")))?;
    Ok(Json(json!({ "version": info, "item": item })).into_response())
}

#[derive(Deserialize)]
struct DraftParams {
    #[serde(default)]
    submit: bool,
}

async fn write_draft(
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    Query(p): Query<DraftParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let code = parse_code(&code)?;
    let item: Item = json_body(&body)?;
    if item.code != code {
        return Err(bad("the item's code differs from the path"));
    }
    let written = k.store.write_drafts(&editor, &[item], p.submit).await?;
    let version = written.first().map(|(_, v)| *v).unwrap_or_default();
    Ok((
        StatusCode::OK,
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
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let code = parse_code(&code)?;
    let version = k.store.submit(&editor, &code).await?;
    Ok(Json(json!({ "code": code, "version": version, "status": "review" })).into_response())
}

async fn publish(
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let code = parse_code(&code)?;
    let note = note_body(&body)?;
    // Refuse what the rules refuse before asking the catalogue (another service).
    let state = k.store.state(&code).await?;
    crate::governance::decide(&editor, &crate::governance::Step::Publish, state.as_ref())?;
    let known = k.catalogue_codes().await?;
    let version = k
        .store
        .publish(
            &editor,
            &code,
            Some(&note.note)
                .filter(|n| !n.is_empty())
                .map(|n| n.as_str()),
            |m| known.contains(m),
        )
        .await?;
    Ok(Json(json!({ "code": code, "version": version, "status": "published" })).into_response())
}

async fn reject(
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let code = parse_code(&code)?;
    let note = note_body(&body)?;
    if note.note.trim().is_empty() {
        return Err(bad("a rejection needs a note for the owner"));
    }
    let version = k.store.reject(&editor, &code, &note.note).await?;
    Ok(Json(json!({ "code": code, "version": version, "status": "rejected" })).into_response())
}

async fn retire(
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let code = parse_code(&code)?;
    let note = note_body(&body)?;
    if note.note.trim().is_empty() {
        return Err(bad("retiring an item needs a reason (note)"));
    }
    let version = k.store.retire(&editor, &code, &note.note).await?;
    Ok(Json(json!({ "code": code, "version": version, "status": "retired" })).into_response())
}

async fn versions(State(k): State<Knowledge>, Path(code): Path<String>) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let versions = k.store.versions(&code).await?;
    if versions.is_empty() {
        return Err(ApiError(RemoteError::not_found("no such item")));
    }
    Ok(Json(json!({ "versions": versions })).into_response())
}

async fn get_version(
    State(k): State<Knowledge>,
    Path((code, version)): Path<(String, i32)>,
) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let (item, info) = k
        .store
        .version(&code, Some(version))
        .await?
        .ok_or_else(|| ApiError(RemoteError::not_found("no such version")))?;
    Ok(Json(json!({ "version": info, "item": item })).into_response())
}

#[derive(Deserialize)]
struct DiffParams {
    from: i32,
    to: i32,
}

async fn get_diff(
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
                .ok_or_else(|| ApiError(RemoteError::not_found(format!("no version {v}"))))
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
        .ok_or_else(|| ApiError(RemoteError::not_found("no published item with this code")))?;
    let head = json!({ "code": item.code, "title": item.title, "class": item.class,
        "matter_code": item.matter_code, "owner": item.owner, "version": info.version });
    let Some(node) = p.node.filter(|n| !n.is_empty()) else {
        let children: Vec<_> = item.nodes.iter().map(node_summary).collect();
        return Ok(Json(json!({ "item": head, "path": [], "children": children })).into_response());
    };
    let node = parse_code(&node)?;
    let (path, found) = item
        .find(&node)
        .ok_or_else(|| ApiError(RemoteError::not_found("no such node in this item")))?;
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
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
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
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let agent = agent(&headers)?;
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
    State(k): State<Knowledge>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let agent = agent(&headers)?;
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
        .ok_or_else(|| ApiError(RemoteError::not_found("no such leaf")))?;
    let Some((_, Node::Answer(leaf))) = item.find(&leaf_code) else {
        return Err(ApiError(RemoteError::not_found("no such leaf")));
    };
    if !leaf.in_force_on(k.today()) {
        return Err(ApiError(RemoteError::conflict(
            "this answer is not in force today",
        )));
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
        k.bus.subjects.ticket_commands(),
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

async fn tasks(State(k): State<Knowledge>, Query(p): Query<TaskParams>) -> ApiResult<Response> {
    let department = dept_param(p.department.as_deref())?;
    let tasks = k
        .store
        .tasks(department.as_ref(), p.open, p.overdue)
        .await?;
    Ok(Json(json!({ "tasks": tasks })).into_response())
}

async fn close_task(
    State(k): State<Knowledge>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
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
async fn import(
    State(k): State<Knowledge>,
    Query(p): Query<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let editor = editor(&k, &headers)?;
    let format = format_of(p.format.as_deref(), &headers)?;
    if body.len() > k.limits.max_import_bytes {
        return Err(bad(format!(
            "the file is larger than {} bytes",
            k.limits.max_import_bytes
        )));
    }
    let items = tokio::task::spawn_blocking(move || formats::import(format, &body))
        .await
        .map_err(|e| ApiError(RemoteError::internal(&anyhow::anyhow!(e))))??;
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
        .map_err(|e| ApiError(RemoteError::internal(&anyhow::anyhow!(e.to_string()))))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], bytes).into_response())
}

#[derive(Deserialize)]
struct PeriodParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// 一次性解答率 per item, and how often each leaf answered, in a period (default: 30 days).
async fn first_contact(
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
