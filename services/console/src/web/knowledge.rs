//! The department portal's knowledge items (本部门知识条目, issue 13): a department without a
//! system of its own keeps the knowledge items it owns here. The list with each item's latest
//! status (and the reviewer's note of a rejection) and the department's open update tasks; an
//! item with its published content beside its working version, its history and the diff
//! between two versions; the edit form of the draft; submit for review.
//!
//! The centre's review of what a department submits is [`super::review`], which reads items
//! with this module's requests (the list, the versions, a version's content, a diff) and shows
//! them with its renderings: the heading, the status line, the published and the working
//! version's cards, the history, the diff page, the conflict and refusal notices.
//!
//! Everything goes to the knowledge API (8085) with the person's token. The knowledge service
//! decides who may write (services/knowledge/src/http.rs: a person with `knowledge_editor` and a
//! department writes and submits that department's items only; the centre reviews). Any
//! signed-in person may read any item there; the portal shows a department its own items only
//! and refuses the others' (403) before it reads their content.
//!
//! A save or a submit is made against the item the page was read from ([`Base`]: the latest
//! version's number and status, and the item's ETag read with its content): the console sends
//! the ETag as `If-Match` and the knowledge API refuses the write (412) if anything was written
//! since, checked under the item's row lock, so two saves cannot both pass. A refused save shows
//! the form again as a conflict (409) with the person's text on the version there now.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use hotline_auth::Role;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use serde::{Deserialize, Serialize};

use super::Console;
use super::guard::Signed;
use super::pages::{self, Screen, layout};
use super::table;
use crate::error::ConsoleError;
use crate::html::Html;
use crate::i18n::{Lang, Texts};
use crate::upstream::{Api, UpstreamError};

/// Most items one list asks for, a department's or the review queue (the API's default limit).
pub(super) const LIST_LIMIT: u32 = 500;

/// The five classes of matter (the knowledge service's `ItemClass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemClass {
    Consultation,
    Appeal,
    Incident,
    Priority,
    Guidance,
}

impl ItemClass {
    pub const ALL: [ItemClass; 5] = [
        ItemClass::Consultation,
        ItemClass::Appeal,
        ItemClass::Incident,
        ItemClass::Priority,
        ItemClass::Guidance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemClass::Consultation => "consultation",
            ItemClass::Appeal => "appeal",
            ItemClass::Incident => "incident",
            ItemClass::Priority => "priority",
            ItemClass::Guidance => "guidance",
        }
    }

    pub fn parse(raw: &str) -> Option<ItemClass> {
        ItemClass::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// Where a version stands (the knowledge service's `VersionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    Review,
    Published,
    Superseded,
    Retired,
    Rejected,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Review => "review",
            VersionStatus::Published => "published",
            VersionStatus::Superseded => "superseded",
            VersionStatus::Retired => "retired",
            VersionStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<VersionStatus> {
        [
            VersionStatus::Draft,
            VersionStatus::Review,
            VersionStatus::Published,
            VersionStatus::Superseded,
            VersionStatus::Retired,
            VersionStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A standard answer, as the knowledge API writes and reads it. Fields this console does not
/// know (a newer service's) are carried through a save unchanged in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaf {
    pub code: ItemCode,
    pub title: String,
    pub answer: String,
    #[serde(default)]
    pub legal_basis: String,
    #[serde(default)]
    pub departments: Vec<DeptCode>,
    #[serde(default)]
    pub procedure: String,
    #[serde(default)]
    pub materials: Vec<String>,
    #[serde(default)]
    pub fees: String,
    #[serde(default)]
    pub time_limit: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub effective_from: Option<NaiveDate>,
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub synonyms: Vec<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A node of an item's tree: a situation to choose, or an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// As in the knowledge service: leaves are most nodes, boxing them buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Node {
    Situation {
        code: ItemCode,
        label: String,
        children: Vec<Node>,
    },
    Answer(Leaf),
}

/// A knowledge item: one matter's tree and what governs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub code: ItemCode,
    pub title: String,
    pub class: ItemClass,
    pub matter_code: ServiceCode,
    pub owner: DeptCode,
    pub nodes: Vec<Node>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One version's metadata (the knowledge API's `VersionInfo`).
#[derive(Debug, Clone, Deserialize)]
pub struct VersionInfo {
    pub code: ItemCode,
    pub version: i32,
    pub status: VersionStatus,
    pub title: String,
    pub class: String,
    #[serde(default)]
    pub matter_code: String,
    pub owner: DeptCode,
    #[serde(default)]
    pub written_by: String,
    pub written_at: DateTime<Utc>,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reviewed_by: Option<String>,
    #[serde(default)]
    pub reviewed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub review_note: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    items: Vec<VersionInfo>,
}

#[derive(Deserialize)]
struct Versions {
    versions: Vec<VersionInfo>,
}

#[derive(Deserialize)]
struct OneVersion {
    item: Item,
}

/// An update task (知识更新任务): an agent's flag or the centre's policy change.
#[derive(Debug, Deserialize)]
struct Task {
    item_code: String,
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    leaf_code: Option<String>,
    due_at: DateTime<Utc>,
    #[serde(default)]
    overdue: bool,
}

#[derive(Deserialize)]
struct Tasks {
    tasks: Vec<Task>,
}

#[derive(Debug, Deserialize)]
struct NodeChange {
    code: String,
    change: String,
    #[serde(default)]
    fields: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ItemDiff {
    #[serde(default)]
    item_fields: Vec<String>,
    #[serde(default)]
    nodes: Vec<NodeChange>,
}

#[derive(Deserialize)]
struct DiffAnswer {
    diff: ItemDiff,
}

/// What a page was read from: the latest version's number and status (shown, and read by the
/// tests), and the item's ETag, which the knowledge API changes with every write to the item (a
/// replaced draft keeps its number, a submit its number and text): the save and the submit send
/// it back as `If-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub version: i32,
    pub status: VersionStatus,
    /// A strong entity tag, quotes included (`"17"`).
    pub etag: String,
}

/// A strong entity tag (RFC 9110 8.8.3): quoted, of visible ASCII without quotes; so it is
/// also a valid header value.
fn is_strong_etag(raw: &str) -> bool {
    raw.len() >= 2
        && raw.starts_with('"')
        && raw.ends_with('"')
        && raw[1..raw.len() - 1]
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
}

impl Base {
    pub fn of(info: &VersionInfo, etag: String) -> Base {
        Base {
            version: info.version,
            status: info.status,
            etag,
        }
    }

    /// `version:status:etag` (the form's hidden field).
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.version, self.status.as_str(), self.etag)
    }

    /// The form's hidden field `base`, which a save, a submit or a review step sends back.
    pub fn field(&self) -> Html {
        let mut h = Html::new();
        h.raw("<input type=\"hidden\" name=\"base\" value=\"")
            .text(self.encode())
            .raw("\">");
        h
    }

    pub fn parse(raw: &str) -> Option<Base> {
        let (version, rest) = raw.split_once(':')?;
        let (status, etag) = rest.split_once(':')?;
        if !is_strong_etag(etag) {
            return None;
        }
        Some(Base {
            version: version.parse().ok()?,
            status: VersionStatus::parse(status)?,
            etag: etag.to_owned(),
        })
    }
}

/// What the edit form sends for one answer. A field the form did not send keeps its value.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LeafEdit {
    title: Option<String>,
    answer: Option<String>,
    legal_basis: Option<String>,
    departments: Option<Vec<DeptCode>>,
    procedure: Option<String>,
    materials: Option<Vec<String>>,
    fees: Option<String>,
    time_limit: Option<String>,
    contact: Option<String>,
    effective_from: Option<Option<NaiveDate>>,
    expires_on: Option<Option<NaiveDate>>,
    keywords: Option<Vec<String>>,
    synonyms: Option<Vec<String>>,
}

impl LeafEdit {
    /// One field of an answer (`name` is the form's, for the refusal's words).
    fn set(&mut self, field: &str, value: &str, name: &str) -> Result<(), ConsoleError> {
        match field {
            "title" => self.title = Some(value.trim().to_owned()),
            "answer" => self.answer = Some(text(value)),
            "legal_basis" => self.legal_basis = Some(text(value)),
            "procedure" => self.procedure = Some(text(value)),
            "fees" => self.fees = Some(value.trim().to_owned()),
            "time_limit" => self.time_limit = Some(value.trim().to_owned()),
            "contact" => self.contact = Some(value.trim().to_owned()),
            "materials" => self.materials = Some(lines(value)),
            "keywords" => self.keywords = Some(lines(value)),
            "synonyms" => self.synonyms = Some(lines(value)),
            "departments" => {
                self.departments = Some(
                    lines(value)
                        .iter()
                        .map(|d| DeptCode::parse(d).map_err(|e| invalid(format!("{d:?}: {e}"))))
                        .collect::<Result<_, _>>()?,
                );
            }
            "effective_from" => self.effective_from = Some(date(value, name)?),
            "expires_on" => self.expires_on = Some(date(value, name)?),
            _ => return Err(invalid(format!("unknown field {name:?}"))),
        }
        Ok(())
    }

    /// Whether the person typed anything (the new answer's fieldset is sent empty otherwise).
    fn is_blank(&self) -> bool {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        let none = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
        blank(&self.title)
            && blank(&self.answer)
            && blank(&self.legal_basis)
            && blank(&self.procedure)
            && blank(&self.fees)
            && blank(&self.time_limit)
            && blank(&self.contact)
            && none(&self.materials)
            && none(&self.keywords)
            && none(&self.synonyms)
    }

    fn apply(&self, leaf: &mut Leaf) {
        let set = |to: &mut String, from: &Option<String>| {
            if let Some(v) = from {
                to.clone_from(v);
            }
        };
        set(&mut leaf.title, &self.title);
        set(&mut leaf.answer, &self.answer);
        set(&mut leaf.legal_basis, &self.legal_basis);
        set(&mut leaf.procedure, &self.procedure);
        set(&mut leaf.fees, &self.fees);
        set(&mut leaf.time_limit, &self.time_limit);
        set(&mut leaf.contact, &self.contact);
        let set_list = |to: &mut Vec<String>, from: &Option<Vec<String>>| {
            if let Some(v) = from {
                to.clone_from(v);
            }
        };
        set_list(&mut leaf.materials, &self.materials);
        set_list(&mut leaf.keywords, &self.keywords);
        set_list(&mut leaf.synonyms, &self.synonyms);
        if let Some(d) = &self.departments {
            leaf.departments.clone_from(d);
        }
        if let Some(d) = self.effective_from {
            leaf.effective_from = d;
        }
        if let Some(d) = self.expires_on {
            leaf.expires_on = d;
        }
    }
}

/// A new answer from the form: its code, where it goes (a situation, or the item's first
/// level), its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLeaf {
    code: ItemCode,
    parent: Option<ItemCode>,
    fields: LeafEdit,
}

/// The edit form, parsed: the base it was read against and the texts, by node code; answers
/// to remove and one to add.
#[derive(Debug, Clone, PartialEq)]
pub struct Edits {
    pub base: Base,
    title: Option<String>,
    class: Option<ItemClass>,
    matter_code: Option<ServiceCode>,
    labels: BTreeMap<ItemCode, String>,
    leaves: BTreeMap<ItemCode, LeafEdit>,
    removed: BTreeSet<ItemCode>,
    added: Option<NewLeaf>,
}

/// A browser sends a textarea's line breaks as CRLF; the stored texts have LF (else every save
/// would change every multi-line answer).
fn text(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// A list field, one entry per line, blank lines dropped.
fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn invalid(message: String) -> ConsoleError {
    ConsoleError::Invalid(message)
}

fn date(raw: &str, field: &str) -> Result<Option<NaiveDate>, ConsoleError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| invalid(format!("{field} must be a date (YYYY-MM-DD)")))
}

fn node_code(raw: &str, name: &str) -> Result<ItemCode, ConsoleError> {
    ItemCode::parse(raw).map_err(|e| invalid(format!("{name}: {e}")))
}

impl Edits {
    /// The form's fields: `base`, `title`, `class`, `matter_code`, `s.<code>` (a situation's
    /// label), `l.<code>.<field>` (an answer's fields; `l.<code>.remove` removes it) and
    /// `new.code`, `new.parent`, `new.<field>` (an answer to add; all empty: none). Unknown names
    /// are ignored (`_csrf`).
    pub fn parse(pairs: &[(String, String)]) -> Result<Edits, ConsoleError> {
        let mut base = None;
        let mut edits = Edits {
            base: Base {
                version: 0,
                status: VersionStatus::Draft,
                etag: String::new(),
            },
            title: None,
            class: None,
            matter_code: None,
            labels: BTreeMap::new(),
            leaves: BTreeMap::new(),
            removed: BTreeSet::new(),
            added: None,
        };
        let mut new_code = String::new();
        let mut new_parent = String::new();
        let mut new_fields = LeafEdit::default();
        for (name, value) in pairs {
            match name.as_str() {
                "base" => {
                    base =
                        Some(Base::parse(value).ok_or_else(|| {
                            invalid("the form's version is not one we made".into())
                        })?);
                }
                "title" => edits.title = Some(value.trim().to_owned()),
                "class" => {
                    edits.class = Some(
                        ItemClass::parse(value)
                            .ok_or_else(|| invalid(format!("unknown class {value:?}")))?,
                    );
                }
                "matter_code" => {
                    edits.matter_code = Some(
                        ServiceCode::parse(value.trim())
                            .map_err(|e| invalid(format!("matter_code: {e}")))?,
                    );
                }
                "new.code" => value.trim().clone_into(&mut new_code),
                "new.parent" => value.trim().clone_into(&mut new_parent),
                _ => {
                    if let Some(code) = name.strip_prefix("s.") {
                        edits
                            .labels
                            .insert(node_code(code, name)?, value.trim().to_owned());
                    } else if let Some(field) = name.strip_prefix("new.") {
                        new_fields.set(field, value, name)?;
                    } else if let Some(rest) = name.strip_prefix("l.") {
                        let (code, field) = rest
                            .rsplit_once('.')
                            .ok_or_else(|| invalid(format!("unknown field {name:?}")))?;
                        let code = node_code(code, name)?;
                        if field == "remove" {
                            edits.removed.insert(code);
                        } else {
                            edits
                                .leaves
                                .entry(code)
                                .or_default()
                                .set(field, value, name)?;
                        }
                    }
                }
            }
        }
        edits.base = base.ok_or_else(|| invalid("the form has no version".into()))?;
        if !new_code.is_empty() || !new_fields.is_blank() {
            if new_code.is_empty() {
                return Err(invalid("the new answer needs a code".into()));
            }
            edits.added = Some(NewLeaf {
                code: node_code(&new_code, "new.code")?,
                parent: if new_parent.is_empty() {
                    None
                } else {
                    Some(node_code(&new_parent, "new.parent")?)
                },
                fields: new_fields,
            });
        }
        Ok(edits)
    }

    /// `item` with the form's texts, without the answers it removes and with the one it adds.
    /// The rest of the tree's shape is the item's (situations are not added, removed or moved
    /// here); a situation left empty is the knowledge service's to refuse.
    pub fn apply(&self, item: &Item) -> Result<Item, ConsoleError> {
        fn walk(nodes: &mut Vec<Node>, edits: &Edits) {
            nodes.retain(|n| !matches!(n, Node::Answer(l) if edits.removed.contains(&l.code)));
            for node in nodes {
                match node {
                    Node::Situation {
                        code,
                        label,
                        children,
                    } => {
                        if let Some(l) = edits.labels.get(code) {
                            label.clone_from(l);
                        }
                        walk(children, edits);
                    }
                    Node::Answer(leaf) => {
                        if let Some(e) = edits.leaves.get(&leaf.code) {
                            e.apply(leaf);
                        }
                    }
                }
            }
        }
        fn situation<'a>(nodes: &'a mut [Node], code: &ItemCode) -> Option<&'a mut Vec<Node>> {
            nodes.iter_mut().find_map(|n| match n {
                Node::Situation {
                    code: c, children, ..
                } => {
                    if c == code {
                        Some(children)
                    } else {
                        situation(children, code)
                    }
                }
                Node::Answer(_) => None,
            })
        }
        let mut out = item.clone();
        if let Some(t) = &self.title {
            out.title.clone_from(t);
        }
        if let Some(c) = self.class {
            out.class = c;
        }
        if let Some(m) = &self.matter_code {
            out.matter_code = m.clone();
        }
        walk(&mut out.nodes, self);
        if let Some(new) = &self.added {
            let mut leaf = Leaf {
                code: new.code.clone(),
                title: String::new(),
                answer: String::new(),
                legal_basis: String::new(),
                // The owner answers for it unless the form names others.
                departments: vec![out.owner.clone()],
                procedure: String::new(),
                materials: Vec::new(),
                fees: String::new(),
                time_limit: String::new(),
                contact: String::new(),
                effective_from: None,
                expires_on: None,
                keywords: Vec::new(),
                synonyms: Vec::new(),
                extra: serde_json::Map::new(),
            };
            new.fields.apply(&mut leaf);
            let siblings = match &new.parent {
                None => &mut out.nodes,
                Some(parent) => situation(&mut out.nodes, parent).ok_or_else(|| {
                    invalid(format!(
                        "the item has no situation {parent} to add the answer to"
                    ))
                })?,
            };
            siblings.push(Node::Answer(leaf));
        }
        Ok(out)
    }
}

/// The items the knowledge API lists for `query` (`department=`, `status=`, `limit=`), each
/// as its latest version.
pub(super) async fn latest_versions(
    console: &Console,
    signed: &Signed,
    query: &str,
) -> Result<Vec<VersionInfo>, ConsoleError> {
    let listed: Listed = console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/items?{query}"),
        )
        .await?;
    Ok(listed.items)
}

/// The department of the signed-in person, or 403: the pages are the department portal's.
fn department(signed: &Signed) -> Result<DeptCode, ConsoleError> {
    signed.department().cloned().ok_or(ConsoleError::Forbidden)
}

/// Whether the person may write their department's items (the knowledge API's rule).
fn may_edit(signed: &Signed) -> bool {
    signed.principal.has(Role::KnowledgeEditor)
}

/// An item code from the URL; a malformed one names no item.
pub(super) fn item_code(raw: &str) -> Result<ItemCode, ConsoleError> {
    ItemCode::parse(raw).map_err(|_| ConsoleError::NotFound)
}

/// The item's versions, newest first; an item without any is not found.
pub(super) async fn versions_of(
    console: &Console,
    signed: &Signed,
    code: &ItemCode,
) -> Result<Vec<VersionInfo>, ConsoleError> {
    let found: Versions = console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/items/{code}/versions"),
        )
        .await?;
    if found.versions.is_empty() {
        return Err(ConsoleError::NotFound);
    }
    Ok(found.versions)
}

/// The item's versions, newest first, when the item is the department's; 403 otherwise (the
/// owner is the item's current owner, the same on every version row).
async fn own_versions(
    console: &Console,
    signed: &Signed,
    dept: &DeptCode,
    code: &ItemCode,
) -> Result<Vec<VersionInfo>, ConsoleError> {
    let versions = versions_of(console, signed, code).await?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    if &latest.owner != dept {
        return Err(ConsoleError::Forbidden);
    }
    Ok(versions)
}

pub(super) async fn content(
    console: &Console,
    signed: &Signed,
    code: &ItemCode,
    version: i32,
) -> Result<Item, ConsoleError> {
    let found: OneVersion = console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/items/{code}/versions/{version}"),
        )
        .await?;
    Ok(found.item)
}

/// A version's content with the item's ETag, read in one request (the API reads both in one
/// query), so the form's text and its `If-Match` belong together.
pub(super) async fn content_tagged(
    console: &Console,
    signed: &Signed,
    code: &ItemCode,
    version: i32,
) -> Result<(Item, String), ConsoleError> {
    let (found, etag): (OneVersion, _) = console
        .parts()
        .upstream
        .get_tagged(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/items/{code}/versions/{version}"),
        )
        .await?;
    let etag = etag.filter(|t| is_strong_etag(t)).ok_or_else(|| {
        ConsoleError::Unavailable(anyhow::anyhow!(
            "the knowledge API answered an item without a strong ETag"
        ))
    })?;
    Ok((found.item, etag))
}

pub(super) fn status_badge(lang: Lang, status: VersionStatus) -> Html {
    let mut h = Html::new();
    h.raw("<span class=\"status\">")
        .text(Texts::name(lang.t().kn().statuses, status.as_str()))
        .raw("</span>");
    h
}

pub(super) fn class_name(lang: Lang, class: &str) -> &str {
    Texts::name(lang.t().kn().classes, class)
}

/// The first cells of an item's row in a list (the row is left open for the list's own): its
/// code, linked to `href` + the code, its title, its owner (when `owner`), its class, and its
/// latest version's number and status.
pub(super) fn item_row(lang: Lang, href: &str, v: &VersionInfo, owner: bool) -> Html {
    let mut h = Html::new();
    h.raw("<tr><td class=\"mono\"><a href=\"")
        .text(href)
        .text(v.code.as_str())
        .raw("\">")
        .text(v.code.as_str())
        .raw("</a></td><td class=\"text\">")
        .text(&v.title)
        .raw("</td>");
    if owner {
        h.raw("<td class=\"mono\">")
            .text(v.owner.as_str())
            .raw("</td>");
    }
    h.raw("<td>")
        .text(class_name(lang, &v.class))
        .raw("</td><td class=\"num\">")
        .display(v.version)
        .raw("</td><td>")
        .append(status_badge(lang, v.status))
        .raw("</td>");
    h
}

fn flash(lang: Lang, done: Option<&str>) -> Html {
    let k = lang.t().kn();
    let words = match done {
        Some("saved") => Some(k.saved),
        Some("submitted") => Some(k.submitted_done),
        _ => None,
    };
    let mut h = Html::new();
    if let Some(w) = words {
        h.raw("<p class=\"flash ok\" role=\"status\">")
            .text(w)
            .raw("</p>");
    }
    h
}

/// `GET /dept/knowledge`: the department's items with their latest status, and open tasks.
pub async fn list(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    let items = latest_versions(
        &console,
        &signed,
        &format!("department={dept}&limit={LIST_LIMIT}"),
    )
    .await?;
    // The tasks are a help, not the page: without them the list still shows.
    let tasks: Option<Tasks> = console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/tasks?department={dept}&open=true"),
        )
        .await
        .ok();
    let t = lang.t();
    let k = t.kn();
    let offset = console.parts().offset;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(k.list_title)
        .raw(" · ")
        .text(dept.as_str())
        .raw("</h1><p class=\"muted\">")
        .text(k.list_intro)
        .raw("</p>");
    if !may_edit(&signed) {
        body.raw("<p class=\"flash ok\">")
            .text(k.read_only)
            .raw("</p>");
    }
    if items.is_empty() {
        body.raw("<p class=\"muted\">")
            .text(k.list_empty)
            .raw("</p>");
    } else {
        body.append(table::head(
            Some("items"),
            &[
                k.code,
                k.title,
                k.class,
                k.version,
                k.status,
                k.written,
                k.review_note,
            ],
        ));
        for v in &items {
            body.append(item_row(lang, "/dept/knowledge/", v, false))
                .raw("<td>")
                .text(pages::local(v.written_at, offset))
                .raw("</td><td class=\"text\">");
            if v.status == VersionStatus::Rejected {
                body.text(v.review_note.as_deref().unwrap_or(""));
            }
            body.raw("</td></tr>");
        }
        body.raw("</tbody></table></div>");
    }
    if let Some(tasks) = tasks {
        body.raw("<section class=\"card\"><h2>")
            .text(k.tasks_title)
            .raw("</h2>");
        if tasks.tasks.is_empty() {
            body.raw("<p class=\"muted\">").text(k.no_tasks).raw("</p>");
        } else {
            body.append(table::head(
                None,
                &[k.code, k.task_reason, k.task_note, k.due],
            ));
            for task in &tasks.tasks {
                body.raw("<tr><td class=\"mono\"><a href=\"/dept/knowledge/")
                    .text(&task.item_code)
                    .raw("\">")
                    .text(&task.item_code)
                    .raw("</a>");
                if let Some(leaf) = &task.leaf_code {
                    body.raw(" · ").text(leaf);
                }
                body.raw("</td><td>")
                    .text(Texts::name(k.reasons, &task.reason))
                    .raw("</td><td class=\"text\">")
                    .text(&task.note)
                    .raw("</td><td>")
                    .text(pages::local(task.due_at, offset));
                if task.overdue {
                    body.raw(" <span class=\"due due-over\">")
                        .text(k.overdue)
                        .raw("</span>");
                }
                body.raw("</td></tr>");
            }
            body.raw("</tbody></table></div>");
        }
        body.raw("</section>");
    }
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Knowledge),
            k.list_title,
            body,
        ),
    ))
}

/// An item's content, read-only: its head and its tree, every answer with its fields.
pub(super) fn item_view(lang: Lang, item: &Item) -> Html {
    fn nodes(lang: Lang, list: &[Node], h: &mut Html) {
        let k = lang.t().kn();
        let field = |name: &'static str| Texts::name(k.fields, name);
        h.raw("<ul class=\"tree\">");
        for node in list {
            match node {
                Node::Situation {
                    code,
                    label,
                    children,
                } => {
                    h.raw("<li class=\"situation\">")
                        .text(label)
                        .raw(" <span class=\"mono muted\">")
                        .text(code.as_str())
                        .raw("</span>");
                    nodes(lang, children, h);
                    h.raw("</li>");
                }
                Node::Answer(leaf) => {
                    h.raw("<li class=\"answer\"><article class=\"leaf\"><h3>")
                        .text(&leaf.title)
                        .raw(" <span class=\"mono muted\">")
                        .text(leaf.code.as_str())
                        .raw("</span></h3><dl class=\"facts\"><dt>")
                        .text(field("answer"))
                        .raw("</dt><dd class=\"text\">")
                        .text(&leaf.answer)
                        .raw("</dd>");
                    let dates = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
                    for (name, value) in [
                        ("legal_basis", leaf.legal_basis.clone()),
                        ("procedure", leaf.procedure.clone()),
                        ("materials", leaf.materials.join("；")),
                        ("fees", leaf.fees.clone()),
                        ("time_limit", leaf.time_limit.clone()),
                        ("contact", leaf.contact.clone()),
                        (
                            "departments",
                            leaf.departments
                                .iter()
                                .map(DeptCode::as_str)
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        ("effective_from", dates(leaf.effective_from)),
                        ("expires_on", dates(leaf.expires_on)),
                        ("keywords", leaf.keywords.join("；")),
                        ("synonyms", leaf.synonyms.join("；")),
                    ] {
                        if !value.is_empty() {
                            h.raw("<dt>")
                                .text(field(name))
                                .raw("</dt><dd class=\"text\">")
                                .text(value)
                                .raw("</dd>");
                        }
                    }
                    h.raw("</dl></article></li>");
                }
            }
        }
        h.raw("</ul>");
    }
    let k = lang.t().kn();
    let mut h = Html::new();
    h.raw("<dl class=\"facts\"><dt>")
        .text(k.title)
        .raw("</dt><dd>")
        .text(&item.title)
        .raw("</dd><dt>")
        .text(k.class)
        .raw("</dt><dd>")
        .text(class_name(lang, item.class.as_str()))
        .raw("</dd><dt>")
        .text(k.matter_code)
        .raw("</dt><dd class=\"mono\">")
        .text(item.matter_code.as_str())
        .raw("</dd></dl>");
    nodes(lang, &item.nodes, &mut h);
    h
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    pub(super) done: Option<String>,
}

/// `GET /dept/knowledge/{code}`: the published content beside the working version (draft, in
/// review or rejected), the steps the person may take, the history.
pub async fn item(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    let code = item_code(&code)?;
    let versions = own_versions(&console, &signed, &dept, &code).await?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    let published = versions
        .iter()
        .find(|v| v.status == VersionStatus::Published);
    let published_item = match published {
        Some(p) => Some(content(&console, &signed, &code, p.version).await?),
        None => None,
    };
    let working = matches!(
        latest.status,
        VersionStatus::Draft | VersionStatus::Review | VersionStatus::Rejected
    );
    let (working_item, working_base) = if working {
        let (item, etag) = content_tagged(&console, &signed, &code, latest.version).await?;
        (Some(item), Some(Base::of(latest, etag)))
    } else {
        (None, None)
    };
    let t = lang.t();
    let k = t.kn();
    let offset = console.parts().offset;
    let mut body = crumbs_heading(
        "/dept/knowledge",
        k.back_to_list,
        &latest.title,
        code.as_str(),
    );
    body.append(flash(lang, done.done.as_deref()));
    // The last rejection's note, while no newer version was published.
    if let Some(rejected) = versions
        .iter()
        .take_while(|v| v.status != VersionStatus::Published)
        .find(|v| v.status == VersionStatus::Rejected)
    {
        body.raw("<p class=\"flash error\" id=\"rejection\">")
            .text(k.rejected_notice)
            .text(rejected.review_note.as_deref().unwrap_or(""))
            .raw("</p>");
    }
    body.raw("<section class=\"card\" id=\"actions\"><p>")
        .append(status_and_version(lang, latest))
        .raw("</p>");
    if !may_edit(&signed) {
        body.raw("<p class=\"muted\">")
            .text(k.read_only)
            .raw("</p>");
    } else if latest.status == VersionStatus::Review {
        body.raw("<p class=\"muted\">")
            .text(k.in_review)
            .raw("</p>");
    } else {
        body.raw("<div class=\"actions\"><a class=\"button\" id=\"edit\" href=\"/dept/knowledge/")
            .text(code.as_str())
            .raw("/edit\">")
            .text(k.edit)
            .raw("</a></div>");
        if let (VersionStatus::Draft, Some(base)) = (latest.status, &working_base) {
            body.raw("<form class=\"action\" method=\"post\" action=\"/dept/knowledge/")
                .text(code.as_str())
                .raw("/submit\">")
                .append(pages::csrf_field(&signed))
                .append(base.field())
                .raw("<p class=\"muted\">")
                .text(k.submit_note)
                .raw("</p><button type=\"submit\" id=\"submit\">")
                .text(k.submit)
                .raw("</button></form>");
        }
    }
    body.raw("</section><div class=\"grid\">")
        .append(published_card(lang, published, published_item.as_ref()))
        .append(working_card(
            lang,
            "working",
            k.working_title,
            latest,
            working_item.as_ref(),
        ))
        .raw("</div>")
        .append(history_table(
            lang,
            &versions,
            offset,
            &format!("/dept/knowledge/{code}/diff"),
        ));
    let title = latest.title.clone();
    Ok(pages::html(
        StatusCode::OK,
        layout(lang, Some(&signed), Some(Screen::Knowledge), &title, body),
    ))
}

/// A page's way back (`back` at `back_href`) and its heading: `title`, then `code` in
/// monospace (an item's code; on a diff page with the two versions).
pub(super) fn crumbs_heading(back_href: &str, back: &str, title: &str, code: &str) -> Html {
    let mut h = Html::new();
    h.raw("<nav class=\"crumbs\"><a href=\"")
        .text(back_href)
        .raw("\">")
        .text(back)
        .raw("</a></nav><h1>")
        .text(title)
        .raw(" <span class=\"mono\">")
        .text(code)
        .raw("</span></h1>");
    h
}

/// A version's status and number, for the line over an item's steps.
pub(super) fn status_and_version(lang: Lang, v: &VersionInfo) -> Html {
    let k = lang.t().kn();
    let mut h = Html::new();
    h.text(k.status)
        .raw(": ")
        .append(status_badge(lang, v.status))
        .raw(" · ")
        .text(k.version)
        .raw(" ")
        .display(v.version);
    h
}

/// A card (`id`) with one version's content under `heading`, its number (and its status when
/// `badge`) beside the heading; `empty` in its place when there is no such version.
fn version_card(
    lang: Lang,
    id: &str,
    heading: &str,
    shown: Option<(&VersionInfo, &Item)>,
    badge: bool,
    empty: &str,
) -> Html {
    let mut h = Html::new();
    h.raw("<section class=\"card\" id=\"")
        .text(id)
        .raw("\"><h2>")
        .text(heading);
    match shown {
        Some((v, item)) => {
            h.raw(" · v").display(v.version);
            if badge {
                h.raw(" ").append(status_badge(lang, v.status));
            }
            h.raw("</h2>").append(item_view(lang, item));
        }
        None => {
            h.raw("</h2><p class=\"muted\">").text(empty).raw("</p>");
        }
    }
    h.raw("</section>");
    h
}

/// The published version's card (`#published`): its content, or that none is published.
pub(super) fn published_card(
    lang: Lang,
    published: Option<&VersionInfo>,
    item: Option<&Item>,
) -> Html {
    let k = lang.t().kn();
    version_card(
        lang,
        "published",
        k.published_title,
        published.zip(item),
        false,
        k.no_published,
    )
}

/// The working version's card (`id`, under `heading`): the latest version's content with its
/// status when it is a draft, in review or rejected (`item`), or that there is none.
pub(super) fn working_card(
    lang: Lang,
    id: &str,
    heading: &str,
    latest: &VersionInfo,
    item: Option<&Item>,
) -> Html {
    version_card(
        lang,
        id,
        heading,
        item.map(|i| (latest, i)),
        true,
        lang.t().kn().no_working,
    )
}

/// An item's versions, newest first: who wrote, submitted and reviewed each, with the notes,
/// and each compared with the one before at `diff_href` (`?from=&to=` added).
pub(super) fn history_table(
    lang: Lang,
    versions: &[VersionInfo],
    offset: chrono::FixedOffset,
    diff_href: &str,
) -> Html {
    let k = lang.t().kn();
    let mut body = Html::new();
    body.raw("<section class=\"card\" id=\"history\"><h2>")
        .text(k.history)
        .raw("</h2>")
        .append(table::head(
            None,
            &[
                k.version,
                k.status,
                k.written,
                k.written_by,
                k.submitted,
                k.reviewed_by,
                k.review_note,
                "",
            ],
        ));
    for v in versions {
        body.raw("<tr><td class=\"num\">")
            .display(v.version)
            .raw("</td><td>")
            .append(status_badge(lang, v.status))
            .raw("</td><td>")
            .text(pages::local(v.written_at, offset))
            .raw("</td><td>")
            .text(&v.written_by)
            .raw("</td><td>")
            .text(
                v.submitted_at
                    .map(|at| pages::local(at, offset))
                    .unwrap_or_default(),
            )
            .raw("</td><td>")
            .text(v.reviewed_by.as_deref().unwrap_or(""))
            .raw("</td><td class=\"text\">")
            .text(v.review_note.as_deref().unwrap_or(""))
            .raw("</td><td>");
        if v.version > 1 {
            body.raw("<a href=\"")
                .text(diff_href)
                .raw("?from=")
                .display(v.version - 1)
                .raw("&amp;to=")
                .display(v.version)
                .raw("\">")
                .text(k.compare)
                .raw("</a>");
        }
        body.raw("</td></tr>");
    }
    body.raw("</tbody></table></div></section>");
    body
}

/// Why the edit form is shown again instead of saved.
enum Notice<'a> {
    /// The item changed after the form was read: the version now.
    Conflict(&'a VersionInfo),
    /// The knowledge API refused the content (or the step): its words.
    Refused(&'a str),
}

/// A write refused because the item changed since its page was read (`#conflict`): `words`,
/// then the version there now (number, status, who wrote it and when).
pub(super) fn conflict_flash(
    lang: Lang,
    words: &str,
    now: &VersionInfo,
    offset: chrono::FixedOffset,
) -> Html {
    let mut h = Html::new();
    h.raw("<p class=\"flash error\" role=\"alert\" id=\"conflict\">")
        .text(words)
        .raw("v")
        .display(now.version)
        .raw(" · ")
        .text(Texts::name(lang.t().kn().statuses, now.status.as_str()))
        .raw(" · ")
        .text(&now.written_by)
        .raw(" · ")
        .text(pages::local(now.written_at, offset))
        .raw("</p>");
    h
}

/// A write or a step the knowledge API refused (`#refused`): `words`, then its reason.
pub(super) fn refused_flash(words: &str, why: &str) -> Html {
    let mut h = Html::new();
    h.raw("<p class=\"flash error\" role=\"alert\" id=\"refused\">")
        .text(words)
        .text(why)
        .raw("</p>");
    h
}

fn input(h: &mut Html, label: &str, name: &str, value: &str, required: bool) {
    h.raw("<label for=\"")
        .text(name)
        .raw("\">")
        .text(label)
        .raw("</label><input type=\"text\" maxlength=\"500\" id=\"")
        .text(name)
        .raw("\" name=\"")
        .text(name)
        .raw("\" value=\"")
        .text(value)
        .raw("\"");
    if required {
        h.raw(" required");
    }
    h.raw(">");
}

fn textarea(h: &mut Html, label: &str, name: &str, value: &str, required: bool) {
    let attributes = if required { " required" } else { "" };
    labelled_textarea(h, label, name, name, attributes, value);
}

/// A textarea (`id`, sent as `name`) with its label; `attributes` (markup, as ` required`)
/// follow the name.
pub(super) fn labelled_textarea(
    h: &mut Html,
    label: &str,
    id: &str,
    name: &str,
    attributes: &'static str,
    value: &str,
) {
    h.raw("<label for=\"")
        .text(id)
        .raw("\">")
        .text(label)
        .raw("</label><textarea id=\"")
        .text(id)
        .raw("\" name=\"")
        .text(name)
        .raw("\"")
        .raw(attributes);
    // The line break after the tag is dropped by the HTML parser: a value that starts with a
    // line break keeps it.
    h.raw(">\n").text(value).raw("</textarea>");
}

fn date_input(h: &mut Html, label: &str, name: &str, value: Option<NaiveDate>) {
    h.raw("<label for=\"")
        .text(name)
        .raw("\">")
        .text(label)
        .raw("</label><input type=\"date\" id=\"")
        .text(name)
        .raw("\" name=\"")
        .text(name)
        .raw("\" value=\"")
        .text(value.map(|d| d.to_string()).unwrap_or_default())
        .raw("\">");
}

/// The edit form of `item`, read against `base`.
fn edit_form(
    lang: Lang,
    csrf: Html,
    item: &Item,
    base: &Base,
    notice: Option<Notice<'_>>,
    offset: chrono::FixedOffset,
) -> Html {
    fn nodes(lang: Lang, list: &[Node], h: &mut Html) {
        let k = lang.t().kn();
        let field = |name: &'static str| Texts::name(k.fields, name);
        for node in list {
            match node {
                Node::Situation {
                    code,
                    label,
                    children,
                } => {
                    h.raw("<fieldset><legend>")
                        .text(k.situation)
                        .raw(" <span class=\"mono\">")
                        .text(code.as_str())
                        .raw("</span></legend>");
                    input(h, field("label"), &format!("s.{code}"), label, true);
                    nodes(lang, children, h);
                    h.raw("</fieldset>");
                }
                Node::Answer(leaf) => {
                    let name = |f: &'static str| format!("l.{}.{f}", leaf.code);
                    let per_line = |f: &'static str| format!("{}（{}）", field(f), k.one_per_line);
                    h.raw("<fieldset><legend>")
                        .text(k.answer_node)
                        .raw(" <span class=\"mono\">")
                        .text(leaf.code.as_str())
                        .raw("</span></legend>");
                    input(h, field("title"), &name("title"), &leaf.title, true);
                    textarea(h, field("answer"), &name("answer"), &leaf.answer, true);
                    textarea(
                        h,
                        field("legal_basis"),
                        &name("legal_basis"),
                        &leaf.legal_basis,
                        false,
                    );
                    textarea(
                        h,
                        field("procedure"),
                        &name("procedure"),
                        &leaf.procedure,
                        false,
                    );
                    textarea(
                        h,
                        &per_line("materials"),
                        &name("materials"),
                        &leaf.materials.join("\n"),
                        false,
                    );
                    input(h, field("fees"), &name("fees"), &leaf.fees, false);
                    input(
                        h,
                        field("time_limit"),
                        &name("time_limit"),
                        &leaf.time_limit,
                        false,
                    );
                    input(h, field("contact"), &name("contact"), &leaf.contact, false);
                    textarea(
                        h,
                        &per_line("departments"),
                        &name("departments"),
                        &leaf
                            .departments
                            .iter()
                            .map(DeptCode::as_str)
                            .collect::<Vec<_>>()
                            .join("\n"),
                        false,
                    );
                    date_input(
                        h,
                        field("effective_from"),
                        &name("effective_from"),
                        leaf.effective_from,
                    );
                    date_input(h, field("expires_on"), &name("expires_on"), leaf.expires_on);
                    textarea(
                        h,
                        &per_line("keywords"),
                        &name("keywords"),
                        &leaf.keywords.join("\n"),
                        false,
                    );
                    textarea(
                        h,
                        &per_line("synonyms"),
                        &name("synonyms"),
                        &leaf.synonyms.join("\n"),
                        false,
                    );
                    h.raw("<label class=\"check\"><input type=\"checkbox\" value=\"1\" name=\"")
                        .text(name("remove"))
                        .raw("\"> ")
                        .text(k.remove_answer)
                        .raw("</label></fieldset>");
                }
            }
        }
    }
    let t = lang.t();
    let k = t.kn();
    let mut h = crumbs_heading(
        &format!("/dept/knowledge/{}", item.code),
        k.back_to_item,
        k.edit_title,
        item.code.as_str(),
    );
    match notice {
        Some(Notice::Conflict(now)) => {
            h.append(conflict_flash(lang, k.conflict, now, offset));
        }
        Some(Notice::Refused(why)) => {
            h.append(refused_flash(k.refused, why));
        }
        None => {}
    }
    h.raw("<p class=\"muted\">")
        .text(k.edit_intro)
        .raw("</p><form class=\"card\" method=\"post\" id=\"edit-form\" action=\"/dept/knowledge/")
        .text(item.code.as_str())
        .raw("/edit\">")
        .append(csrf)
        .append(base.field());
    input(&mut h, k.title, "title", &item.title, true);
    h.raw("<label for=\"class\">")
        .text(k.class)
        .raw("</label><select id=\"class\" name=\"class\">");
    for class in ItemClass::ALL {
        h.raw("<option value=\"").text(class.as_str()).raw("\"");
        if class == item.class {
            h.raw(" selected");
        }
        h.raw(">")
            .text(Texts::name(k.classes, class.as_str()))
            .raw("</option>");
    }
    h.raw("</select>");
    input(
        &mut h,
        k.matter_code,
        "matter_code",
        item.matter_code.as_str(),
        true,
    );
    nodes(lang, &item.nodes, &mut h);
    new_answer(lang, item, &mut h);
    h.raw("<button type=\"submit\" id=\"save\">")
        .text(k.save)
        .raw("</button></form>");
    h
}

/// The fieldset of an answer to add: where, its code, its main fields (its department is the
/// item's owner).
fn new_answer(lang: Lang, item: &Item, h: &mut Html) {
    fn situations<'a>(nodes: &'a [Node], out: &mut Vec<(&'a ItemCode, &'a str)>) {
        for n in nodes {
            if let Node::Situation {
                code,
                label,
                children,
            } = n
            {
                out.push((code, label));
                situations(children, out);
            }
        }
    }
    let k = lang.t().kn();
    let field = |name: &'static str| Texts::name(k.fields, name);
    let mut under = Vec::new();
    situations(&item.nodes, &mut under);
    h.raw("<fieldset id=\"new-answer\"><legend>")
        .text(k.add_answer)
        .raw("</legend><p class=\"muted\">")
        .text(k.add_answer_note)
        .raw("</p><label for=\"new.parent\">")
        .text(k.parent)
        .raw("</label><select id=\"new.parent\" name=\"new.parent\"><option value=\"\">")
        .text(k.top_level)
        .raw("</option>");
    for (code, label) in under {
        h.raw("<option value=\"")
            .text(code.as_str())
            .raw("\">")
            .text(label)
            .raw(" (")
            .text(code.as_str())
            .raw(")</option>");
    }
    h.raw("</select>");
    input(h, k.new_code, "new.code", "", false);
    input(h, field("title"), "new.title", "", false);
    textarea(h, field("answer"), "new.answer", "", false);
    textarea(h, field("legal_basis"), "new.legal_basis", "", false);
    textarea(h, field("procedure"), "new.procedure", "", false);
    textarea(
        h,
        &format!("{}（{}）", field("materials"), k.one_per_line),
        "new.materials",
        "",
        false,
    );
    input(h, field("time_limit"), "new.time_limit", "", false);
    input(h, field("contact"), "new.contact", "", false);
    h.raw("</fieldset>");
}

fn edit_page(
    lang: Lang,
    signed: &Signed,
    console: &Console,
    status: StatusCode,
    item: &Item,
    base: &Base,
    notice: Option<Notice<'_>>,
) -> Response {
    let body = edit_form(
        lang,
        pages::csrf_field(signed),
        item,
        base,
        notice,
        console.parts().offset,
    );
    pages::html(
        status,
        layout(
            lang,
            Some(signed),
            Some(Screen::Knowledge),
            lang.t().kn().edit_title,
            body,
        ),
    )
}

/// `GET /dept/knowledge/{code}/edit`: the latest version's content in the form, against it.
pub async fn edit(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    if !may_edit(&signed) {
        return Err(ConsoleError::Forbidden);
    }
    let code = item_code(&code)?;
    let versions = own_versions(&console, &signed, &dept, &code).await?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    if latest.status == VersionStatus::Review {
        return Err(ConsoleError::Conflict(lang.t().kn().in_review.to_owned()));
    }
    let (item, etag) = content_tagged(&console, &signed, &code, latest.version).await?;
    Ok(edit_page(
        lang,
        &signed,
        &console,
        StatusCode::OK,
        &item,
        &Base::of(latest, etag),
        None,
    ))
}

/// `POST /dept/knowledge/{code}/edit`: the form's texts on the latest version, as the draft,
/// sent with the form's ETag as `If-Match`. A changed item (another save, a submit, a review
/// since the form was read) is refused by the knowledge API (412) and shown as a conflict: the
/// form comes back with the person's texts on the version now, and nothing is written.
pub async fn save(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let pairs: Vec<(String, String)> = signed.form(&console, &headers, &body)?;
    let dept = department(&signed)?;
    if !may_edit(&signed) {
        return Err(ConsoleError::Forbidden);
    }
    let code = item_code(&code)?;
    // Another department's item is refused before its form is read: nothing about it is said.
    let versions = own_versions(&console, &signed, &dept, &code).await?;
    let edits = Edits::parse(&pairs)?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    let (current, etag) = content_tagged(&console, &signed, &code, latest.version).await?;
    let edited = edits.apply(&current)?;
    let now = Base::of(latest, etag);
    let body = serde_json::to_value(&edited)
        .map_err(|e| ConsoleError::Internal(anyhow::Error::new(e).context("encoding an item")))?;
    // The form's ETag, not the one just read: a write between the form's read and now is
    // the conflict this guards against.
    let written: Result<serde_json::Value, UpstreamError> = console
        .parts()
        .upstream
        .send_if_match(
            signed.token(),
            Method::PUT,
            Api::Knowledge,
            &format!("/v1/items/{code}/draft"),
            &body,
            Some(&edits.base.etag),
        )
        .await;
    match written {
        Ok(_) => Ok(pages::see_other(&format!(
            "/dept/knowledge/{code}?done=saved"
        ))),
        Err(UpstreamError::PreconditionFailed(_)) => {
            conflict_page(&console, &signed, lang, &dept, &code, &edits).await
        }
        // The person's texts are not lost to a refusal they can fix (an empty answer, a date
        // out of order, a code another item uses) or to a review that began meanwhile.
        Err(e) => {
            let (status, why) = refusal(e)?;
            Ok(edit_page(
                lang,
                &signed,
                &console,
                status,
                &edited,
                &now,
                Some(Notice::Refused(&why)),
            ))
        }
    }
}

/// The knowledge API's refusal of a write or a step that the person can act on (409: a state
/// that does not allow it; 400: content it does not take): the status and its words for the
/// page shown again. Any other failure is the error it is.
pub(super) fn refusal(e: UpstreamError) -> Result<(StatusCode, String), ConsoleError> {
    match e {
        UpstreamError::Conflict(why) => Ok((StatusCode::CONFLICT, why)),
        UpstreamError::Invalid(why) => Ok((StatusCode::BAD_REQUEST, why)),
        e => Err(e.into()),
    }
}

/// The edit form again after a refused `If-Match`: the person's texts on the version there now
/// (read again: the refusal means it changed), against its ETag, with the version named.
async fn conflict_page(
    console: &Console,
    signed: &Signed,
    lang: Lang,
    dept: &DeptCode,
    code: &ItemCode,
    edits: &Edits,
) -> Result<Response, ConsoleError> {
    let versions = own_versions(console, signed, dept, code).await?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    let (current, etag) = content_tagged(console, signed, code, latest.version).await?;
    // An answer the form edits may be gone from the version now: the form shows that version
    // as it is, with the conflict named, rather than failing.
    let edited = edits.apply(&current).unwrap_or(current);
    Ok(edit_page(
        lang,
        signed,
        console,
        StatusCode::CONFLICT,
        &edited,
        &Base::of(latest, etag),
        Some(Notice::Conflict(latest)),
    ))
}

/// `POST /dept/knowledge/{code}/submit`: the draft to the centre's review, with the page's
/// ETag as `If-Match` when the form carries one: a draft changed since the page was read is not
/// submitted unseen (409, nothing submitted).
pub async fn submit(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let pairs: Vec<(String, String)> = signed.form(&console, &headers, &body)?;
    let dept = department(&signed)?;
    if !may_edit(&signed) {
        return Err(ConsoleError::Forbidden);
    }
    let code = item_code(&code)?;
    own_versions(&console, &signed, &dept, &code).await?;
    let base = pairs
        .iter()
        .find(|(name, _)| name == "base")
        .map(|(_, raw)| {
            Base::parse(raw).ok_or_else(|| invalid("the form's version is not one we made".into()))
        })
        .transpose()?;
    let submitted: Result<serde_json::Value, UpstreamError> = console
        .parts()
        .upstream
        .send_if_match(
            signed.token(),
            Method::POST,
            Api::Knowledge,
            &format!("/v1/items/{code}/submit"),
            &serde_json::json!({}),
            base.as_ref().map(|b| b.etag.as_str()),
        )
        .await;
    match submitted {
        Ok(_) => Ok(pages::see_other(&format!(
            "/dept/knowledge/{code}?done=submitted"
        ))),
        Err(UpstreamError::PreconditionFailed(_)) => Err(ConsoleError::Conflict(
            lang.t().kn().submit_conflict.to_owned(),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

impl DiffQuery {
    /// The two version numbers; anything else is the person's mistake.
    pub(super) fn versions(&self) -> Result<(i32, i32), ConsoleError> {
        let version = |raw: Option<&str>| {
            raw.and_then(|v| v.trim().parse::<i32>().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| invalid("from and to must be version numbers".into()))
        };
        Ok((version(self.from.as_deref())?, version(self.to.as_deref())?))
    }
}

/// The text of `field` of `node` in `item` (of the item itself when `node` is `None`), for the
/// diff's before and after.
fn field_text(item: &Item, node: Option<&str>, field: &str) -> Option<String> {
    fn find<'a>(nodes: &'a [Node], code: &str) -> Option<&'a Node> {
        nodes.iter().find_map(|n| match n {
            Node::Situation {
                code: c, children, ..
            } => {
                if c.as_str() == code {
                    Some(n)
                } else {
                    find(children, code)
                }
            }
            Node::Answer(l) => (l.code.as_str() == code).then_some(n),
        })
    }
    let Some(code) = node else {
        return match field {
            "title" => Some(item.title.clone()),
            "class" => Some(item.class.as_str().to_owned()),
            "matter_code" => Some(item.matter_code.to_string()),
            "owner" => Some(item.owner.to_string()),
            _ => None,
        };
    };
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    match find(&item.nodes, code)? {
        Node::Situation { label, .. } => (field == "label").then(|| label.clone()),
        Node::Answer(l) => Some(match field {
            "title" => l.title.clone(),
            "answer" => l.answer.clone(),
            "legal_basis" => l.legal_basis.clone(),
            "procedure" => l.procedure.clone(),
            "fees" => l.fees.clone(),
            "time_limit" => l.time_limit.clone(),
            "contact" => l.contact.clone(),
            // Lists as one line (the table shows no line breaks).
            "materials" => l.materials.join("；"),
            "keywords" => l.keywords.join("；"),
            "synonyms" => l.synonyms.join("；"),
            "departments" => l
                .departments
                .iter()
                .map(DeptCode::as_str)
                .collect::<Vec<_>>()
                .join("；"),
            "effective_from" => date(l.effective_from),
            "expires_on" => date(l.expires_on),
            _ => return None,
        }),
    }
}

/// What changed between `old` and `new` as the knowledge API's diff names it: a row per
/// field, its text before and after (an added or removed node by its title or label).
pub(super) fn diff_table(lang: Lang, d: &ItemDiff, old: &Item, new: &Item) -> Html {
    let k = lang.t().kn();
    let mut body = Html::new();
    if d.item_fields.is_empty() && d.nodes.is_empty() {
        body.raw("<p class=\"muted\">")
            .text(k.no_changes)
            .raw("</p>");
    } else {
        body.append(table::head(Some("diff"), &[k.code, "", k.before, k.after]));
        let row = |body: &mut Html, who: &str, what: &str, before: String, after: String| {
            body.raw("<tr><td class=\"mono\">")
                .text(who)
                .raw("</td><td>")
                .text(what)
                .raw("</td><td class=\"text\">")
                .text(before)
                .raw("</td><td class=\"text\">")
                .text(after)
                .raw("</td></tr>");
        };
        for f in &d.item_fields {
            row(
                &mut body,
                k.item_level,
                Texts::name(k.fields, f),
                field_text(old, None, f).unwrap_or_default(),
                field_text(new, None, f).unwrap_or_default(),
            );
        }
        for change in &d.nodes {
            let kind = Texts::name(k.changes, &change.change);
            if change.fields.is_empty() {
                // Added or removed: the node's title (an answer) or label (a situation).
                let name = |item: &Item| {
                    field_text(item, Some(&change.code), "title")
                        .or_else(|| field_text(item, Some(&change.code), "label"))
                        .unwrap_or_default()
                };
                row(&mut body, &change.code, kind, name(old), name(new));
            }
            for f in &change.fields {
                row(
                    &mut body,
                    &change.code,
                    &format!("{kind}: {}", Texts::name(k.fields, f)),
                    field_text(old, Some(&change.code), f).unwrap_or_default(),
                    field_text(new, Some(&change.code), f).unwrap_or_default(),
                );
            }
        }
        body.raw("</tbody></table></div>");
    }
    body
}

/// `GET /dept/knowledge/{code}/diff?from=&to=`: what changed between two versions (the
/// knowledge API's diff names the nodes and fields; the texts come from the two versions).
pub async fn diff(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    let code = item_code(&code)?;
    let (from, to) = q.versions()?;
    own_versions(&console, &signed, &dept, &code).await?;
    diff_page(
        &console,
        &signed,
        lang,
        &code,
        (from, to),
        &format!("/dept/knowledge/{code}"),
        Screen::Knowledge,
    )
    .await
}

/// What changed from version `from` to `to` of `code`, as the knowledge API names it.
pub(super) async fn diff_of(
    console: &Console,
    signed: &Signed,
    code: &ItemCode,
    from: i32,
    to: i32,
) -> Result<ItemDiff, ConsoleError> {
    let found: DiffAnswer = console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/items/{code}/diff?from={from}&to={to}"),
        )
        .await?;
    Ok(found.diff)
}

/// The page comparing two versions of `code` (`(from, to)`): the knowledge API's diff with the
/// texts of both, its way back to the item's page at `item_href`, in `screen` of the menu.
/// Whether the person may see the item is the caller's to check first.
pub(super) async fn diff_page(
    console: &Console,
    signed: &Signed,
    lang: Lang,
    code: &ItemCode,
    (from, to): (i32, i32),
    item_href: &str,
    screen: Screen,
) -> Result<Response, ConsoleError> {
    let diff = diff_of(console, signed, code, from, to).await?;
    let old = content(console, signed, code, from).await?;
    let new = content(console, signed, code, to).await?;
    let k = lang.t().kn();
    let mut body = crumbs_heading(
        item_href,
        k.back_to_item,
        k.diff_title,
        &format!("{code} v{from} → v{to}"),
    );
    body.append(diff_table(lang, &diff, &old, &new));
    Ok(pages::html(
        StatusCode::OK,
        layout(lang, Some(signed), Some(screen), k.diff_title, body),
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An item as the knowledge API answers it (the medical-insurance item's shape, trimmed),
    /// with a field this console does not know.
    const ITEM: &str = r#"{
        "code": "TH-T", "title": "天河测试", "class": "consultation", "matter_code": "01.01.002",
        "owner": "GZ-TH", "future_field": {"x": 1},
        "nodes": [
            {"kind": "situation", "code": "TH-T-S1", "label": "本地户籍", "children": [
                {"kind": "answer", "code": "TH-T-A1", "title": "答复一", "answer": "第一行\n第二行",
                 "legal_basis": "", "departments": ["GZ-TH"], "procedure": "", "materials": ["身份证"],
                 "fees": "", "time_limit": "", "contact": "", "effective_from": "2026-01-01",
                 "expires_on": null, "keywords": ["测试"], "synonyms": [], "weight": 3}
            ]},
            {"kind": "answer", "code": "TH-T-A2", "title": "答复二", "answer": "答"}
        ]
    }"#;

    fn item() -> Item {
        serde_json::from_str(ITEM).expect("an item")
    }

    /// A form's fields (also the review's tests').
    pub(in crate::web) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn base() -> Base {
        Base {
            version: 2,
            status: VersionStatus::Draft,
            etag: "\"17\"".to_owned(),
        }
    }

    #[test]
    fn an_item_goes_back_to_the_api_with_the_fields_we_do_not_know() {
        let item = item();
        let back = serde_json::to_value(&item).expect("json");
        assert_eq!(back["future_field"]["x"], 1);
        assert_eq!(back["nodes"][0]["children"][0]["weight"], 3);
        assert_eq!(back["nodes"][0]["kind"], "situation");
        assert_eq!(back["nodes"][1]["kind"], "answer");
        let again: Item = serde_json::from_value(back).expect("read again");
        assert_eq!(again, item);
    }

    #[test]
    fn the_base_round_trips_and_only_a_strong_etag_parses() {
        let b = base();
        assert_eq!(Base::parse(&b.encode()), Some(b.clone()));
        assert_eq!(b.encode(), "2:draft:\"17\"");
        for bad in [
            "",
            "2",
            "2:draft",
            "x:draft:\"17\"",
            "2:gone:\"17\"",
            // The form of before If-Match (a time of writing), a weak tag, an unquoted one,
            // one with a quote or a line break inside.
            "2:draft:2026-03-05T08:09:10Z",
            "2:draft:W/\"17\"",
            "2:draft:17",
            "2:draft:\"",
            "2:draft:\"1\"7\"",
            "2:draft:\"1\n7\"",
        ] {
            assert_eq!(Base::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_forms_texts_land_on_their_nodes_and_the_rest_is_kept() {
        let form = pairs(&[
            ("_csrf", "x"),
            ("base", base().encode().as_str()),
            ("title", " 天河测试（修订） "),
            ("class", "guidance"),
            ("matter_code", "01.01.003"),
            ("s.TH-T-S1", "本市户籍"),
            ("l.TH-T-A1.answer", "新的第一行\r\n新的第二行"),
            ("l.TH-T-A1.materials", "身份证\r\n\r\n 户口簿 \r\n"),
            ("l.TH-T-A1.departments", "GZ-TH\r\nGZ-RS"),
            ("l.TH-T-A1.expires_on", "2027-01-01"),
            ("l.TH-T-A1.effective_from", ""),
        ]);
        let edits = Edits::parse(&form).expect("parsed");
        assert_eq!(edits.base, base());
        let edited = edits.apply(&item()).expect("applied");
        assert_eq!(edited.title, "天河测试（修订）");
        assert_eq!(edited.class, ItemClass::Guidance);
        assert_eq!(edited.matter_code.as_str(), "01.01.003");
        let Node::Situation {
            label, children, ..
        } = &edited.nodes[0]
        else {
            panic!("a situation first");
        };
        assert_eq!(label, "本市户籍");
        let Node::Answer(leaf) = &children[0] else {
            panic!("an answer");
        };
        assert_eq!(leaf.answer, "新的第一行\n新的第二行", "CRLF becomes LF");
        assert_eq!(leaf.materials, ["身份证", "户口簿"]);
        assert_eq!(
            leaf.departments
                .iter()
                .map(DeptCode::as_str)
                .collect::<Vec<_>>(),
            ["GZ-TH", "GZ-RS"]
        );
        assert_eq!(leaf.effective_from, None, "an emptied date is cleared");
        assert_eq!(leaf.expires_on, NaiveDate::from_ymd_opt(2027, 1, 1));
        assert_eq!(leaf.title, "答复一", "a field not sent is kept");
        assert_eq!(leaf.keywords, ["测试"]);
        assert_eq!(leaf.extra["weight"], 3);
        assert_eq!(
            edited.nodes[1],
            item().nodes[1],
            "an answer not in the form"
        );
        assert_eq!(
            edited.owner.as_str(),
            "GZ-TH",
            "the owner is not the form's"
        );
    }

    #[test]
    fn an_answer_is_removed_and_one_added_under_a_situation_or_at_the_top() {
        let b = base().encode();
        let b = b.as_str();
        let form = pairs(&[
            ("base", b),
            ("l.TH-T-A2.remove", "1"),
            ("new.parent", "TH-T-S1"),
            ("new.code", "TH-T-A3"),
            ("new.title", "新答复"),
            ("new.answer", "新的\r\n答复"),
            ("new.materials", "居住证"),
            ("new.contact", ""),
        ]);
        let edited = Edits::parse(&form)
            .expect("parsed")
            .apply(&item())
            .expect("applied");
        assert_eq!(edited.nodes.len(), 1, "A2 removed");
        let Node::Situation { children, .. } = &edited.nodes[0] else {
            panic!("the situation");
        };
        let Node::Answer(added) = &children[1] else {
            panic!("the new answer after A1");
        };
        assert_eq!(added.code.as_str(), "TH-T-A3");
        assert_eq!(added.answer, "新的\n答复");
        assert_eq!(added.materials, ["居住证"]);
        assert_eq!(
            added
                .departments
                .iter()
                .map(DeptCode::as_str)
                .collect::<Vec<_>>(),
            ["GZ-TH"],
            "the owner answers for it"
        );
        // At the top when no situation is named; an empty fieldset adds nothing.
        let top = Edits::parse(&pairs(&[
            ("base", b),
            ("new.parent", ""),
            ("new.code", "TH-T-A4"),
            ("new.title", "x"),
            ("new.answer", "y"),
        ]))
        .expect("parsed")
        .apply(&item())
        .expect("applied");
        assert!(matches!(&top.nodes[2], Node::Answer(l) if l.code.as_str() == "TH-T-A4"));
        let none = Edits::parse(&pairs(&[
            ("base", b),
            ("new.parent", "TH-T-S1"),
            ("new.code", ""),
            ("new.title", ""),
            ("new.answer", "\r\n"),
        ]))
        .expect("parsed");
        assert_eq!(none.apply(&item()).expect("applied"), item());
        // Text without a code, a bad code, or a situation the item does not have: refused.
        for form in [
            pairs(&[("base", b), ("new.answer", "an answer")]),
            pairs(&[("base", b), ("new.code", "th-a3"), ("new.answer", "x")]),
        ] {
            assert!(matches!(Edits::parse(&form), Err(ConsoleError::Invalid(_))));
        }
        let elsewhere = Edits::parse(&pairs(&[
            ("base", b),
            ("new.parent", "TH-T-S9"),
            ("new.code", "TH-T-A5"),
            ("new.answer", "x"),
        ]))
        .expect("parsed");
        assert!(matches!(
            elsewhere.apply(&item()),
            Err(ConsoleError::Invalid(_))
        ));
    }

    #[test]
    fn a_form_without_our_version_or_with_bad_values_is_refused() {
        let b = base().encode();
        let b = b.as_str();
        for form in [
            pairs(&[("title", "x")]),
            pairs(&[("base", "nonsense")]),
            pairs(&[("base", b), ("class", "gossip")]),
            pairs(&[("base", b), ("matter_code", "a b")]),
            pairs(&[("base", b), ("l.TH-T-A1.expires_on", "next year")]),
            pairs(&[("base", b), ("l.TH-T-A1.departments", "tianhe")]),
            pairs(&[("base", b), ("l.TH-T-A1.owner", "GZ-RS")]),
            pairs(&[("base", b), ("l.th.answer", "x")]),
        ] {
            assert!(
                matches!(Edits::parse(&form), Err(ConsoleError::Invalid(_))),
                "{form:?}"
            );
        }
    }

    #[test]
    fn the_edit_form_escapes_the_texts_and_keeps_a_leading_line_break() {
        let mut item = item();
        item.title = "\"><script>alert(1)</script>".into();
        if let Node::Answer(leaf) = &mut item.nodes[1] {
            leaf.answer = "\n</textarea><b>x</b>".into();
        }
        let mut h = Html::new();
        textarea(&mut h, "answer", "l.TH-T-A2.answer", "\nfirst", true);
        assert_eq!(
            h.finish(),
            "<label for=\"l.TH-T-A2.answer\">answer</label><textarea id=\"l.TH-T-A2.answer\" \
             name=\"l.TH-T-A2.answer\" required>\n\nfirst</textarea>"
        );
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        for page in [
            edit_form(Lang::En, Html::new(), &item, &base(), None, offset).finish(),
            item_view(Lang::Zh, &item).finish(),
        ] {
            assert!(!page.contains("<script>") && !page.contains("</textarea><b>"));
            assert!(page.contains("&lt;/textarea&gt;&lt;b&gt;x&lt;/b&gt;"));
        }
        let form = edit_form(Lang::En, Html::new(), &item, &base(), None, offset).finish();
        // The ETag's quotes escaped in the attribute (a browser sends them back unescaped).
        assert!(form.contains("name=\"base\" value=\"2:draft:&quot;17&quot;\""));
        assert!(form.contains("<option value=\"consultation\" selected>"));
        assert!(form.contains("name=\"s.TH-T-S1\" value=\"本地户籍\""));
        assert!(form.contains("type=\"checkbox\" value=\"1\" name=\"l.TH-T-A1.remove\""));
        assert!(form.contains("<option value=\"TH-T-S1\">本地户籍 (TH-T-S1)</option>"));
    }

    #[test]
    fn the_diff_shows_the_texts_of_the_fields_it_names() {
        let old = item();
        let mut new = item();
        if let Node::Answer(leaf) = &mut new.nodes[1] {
            leaf.answer = "新答".into();
        }
        assert_eq!(
            field_text(&old, Some("TH-T-A2"), "answer").as_deref(),
            Some("答")
        );
        assert_eq!(
            field_text(&new, Some("TH-T-A2"), "answer").as_deref(),
            Some("新答")
        );
        assert_eq!(
            field_text(&old, Some("TH-T-S1"), "label").as_deref(),
            Some("本地户籍")
        );
        assert_eq!(
            field_text(&old, Some("TH-T-A1"), "materials").as_deref(),
            Some("身份证")
        );
        assert_eq!(
            field_text(&old, None, "matter_code").as_deref(),
            Some("01.01.002")
        );
        assert_eq!(field_text(&old, Some("TH-T-X9"), "answer"), None);
    }

    /// Through the router, with a memory session store and the knowledge API on a port nothing
    /// listens on: what is refused is refused before any service is asked (a service asked
    /// would make it a 503).
    pub(in crate::web) mod routes {
        use axum::http::StatusCode;

        use crate::session::{Clock, Store, random_token};
        use crate::web::Console;

        /// The console with the knowledge and tickets APIs nowhere (also the review's tests').
        pub(in crate::web) fn console() -> Console {
            let nowhere = "http://127.0.0.1:9".to_owned();
            let settings = hotline_config::Settings::load_from(
                None,
                [
                    (
                        "HOTLINE__CONSOLE__KNOWLEDGE_URL".to_owned(),
                        nowhere.clone(),
                    ),
                    ("HOTLINE__CONSOLE__TICKETS_URL".to_owned(), nowhere),
                ],
            )
            .expect("settings");
            let clock = Clock::new();
            Console::with_clock(&settings, Store::memory(clock), clock).expect("console")
        }

        use crate::web::tests::{
            form_post as post, get_signed as get, signed_in, status_of as status,
        };

        #[tokio::test]
        async fn saves_and_submits_need_the_csrf_token_the_role_and_a_department() {
            let c = console();
            let (editor, csrf) =
                signed_in(&c, &["department_staff", "knowledge_editor"], Some("GZ-TH")).await;
            let base = "base=1%3Apublished%3A2026-03-05T08%3A09%3A10Z";
            for uri in ["/dept/knowledge/YB/edit", "/dept/knowledge/YB/submit"] {
                let without = post(uri, &editor, base.to_owned());
                assert_eq!(status(&c, without).await, StatusCode::FORBIDDEN, "{uri}");
                let wrong = post(uri, &editor, format!("_csrf={}&{base}", random_token()));
                assert_eq!(status(&c, wrong).await, StatusCode::FORBIDDEN, "{uri}");
                // With the token the knowledge API is asked, and it is not there.
                let right = post(uri, &editor, format!("_csrf={csrf}&{base}"));
                assert_eq!(
                    status(&c, right).await,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{uri}"
                );
            }
            // Staff without the editor's role read only: no form, no save, no submit.
            let (reader, csrf) = signed_in(&c, &["department_staff"], Some("GZ-HZ")).await;
            assert_eq!(
                status(&c, get("/dept/knowledge/YB/edit", &reader)).await,
                StatusCode::FORBIDDEN
            );
            for uri in ["/dept/knowledge/YB/edit", "/dept/knowledge/YB/submit"] {
                let r = post(uri, &reader, format!("_csrf={csrf}&{base}"));
                assert_eq!(status(&c, r).await, StatusCode::FORBIDDEN, "{uri}");
            }
            // The centre's people have no department: the portal's pages are not theirs.
            let (dispatcher, _) = signed_in(&c, &["dispatcher"], None).await;
            for uri in [
                "/dept/knowledge",
                "/dept/knowledge/YB",
                "/dept/knowledge/YB/edit",
            ] {
                assert_eq!(
                    status(&c, get(uri, &dispatcher)).await,
                    StatusCode::FORBIDDEN,
                    "{uri}"
                );
            }
            // A malformed code names no item.
            assert_eq!(
                status(&c, get("/dept/knowledge/not%20a%20code", &editor)).await,
                StatusCode::NOT_FOUND
            );
        }
    }
}
