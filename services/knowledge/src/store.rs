//! The knowledge schema: items in every version, the published leaves, update tasks and the
//! contacts that measure first-contact answers. Every change runs in one transaction with its
//! event in the outbox, after [`crate::governance::decide`] allowed it, so nothing is stored half
//! and no event is lost or published for a change that did not commit.

use std::collections::BTreeSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_bus::Envelope;
use hotline_bus::outbox::{self, OutboxMessage};
use hotline_bus::subjects::Subjects;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Row as _, Transaction};
use uuid::Uuid;

use crate::events::{EventKind, KnowledgeEvent};
use crate::governance::{self, Editor, GovernanceError, ItemState, Outcome, Step, VersionStatus};
use crate::model::{Item, ModelError};

pub const SCHEMA: &str = "knowledge";

/// Why a store operation failed: a rule (the caller's fault) or the database (ours).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rule(#[from] GovernanceError),
    #[error("{0}")]
    Task(TaskError),
    /// The writer's `If-Match` names another revision than the item's: someone wrote since
    /// the writer read it (or the item does not exist). Nothing was written.
    #[error("the item changed since it was read: read it again")]
    Stale,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// An item's revision (the API's ETag): bumped by every write to any of its versions under the
/// item's row lock, so two reads with the same revision saw the same item.
pub type Revision = i64;

/// What a writer says it read (HTTP `If-Match`), checked under the item's row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: the item exists, whatever its revision.
    Exists,
    /// One of these revisions (an entity tag that is not one of ours is left out: it never
    /// matches, and an empty list refuses every write).
    OneOf(Vec<Revision>),
}

impl Precondition {
    /// Whether the item at `current` (`None`: no such item) is what the writer read.
    pub fn holds(&self, current: Option<Revision>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Precondition::Exists, Some(_)) => true,
            (Precondition::OneOf(tags), Some(now)) => tags.contains(&now),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Internal(e.into())
    }
}

impl From<ModelError> for StoreError {
    fn from(e: ModelError) -> Self {
        StoreError::Rule(GovernanceError::Model(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("no such task")]
    NotFound,
    #[error("the task is already done")]
    AlreadyDone,
    #[error("only the owning department or the centre may close this task")]
    NotOwner,
    #[error("no published leaf has this code")]
    UnknownLeaf,
    #[error("no such item")]
    UnknownItem,
    #[error("the reason must not be empty")]
    EmptyReason,
}

/// One version's metadata, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub code: String,
    pub version: i32,
    pub status: VersionStatus,
    pub title: String,
    pub class: String,
    pub matter_code: String,
    pub owner: String,
    pub written_by: String,
    pub written_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_note: Option<String>,
    /// The item's revision when this row was read (the API sends it as the ETag header, not in
    /// the body: it belongs to the item, not to this version).
    #[serde(skip)]
    pub revision: Revision,
}

/// An update task (知识更新任务).
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub item_code: String,
    pub department: String,
    pub kind: String,
    pub leaf_code: Option<String>,
    pub reason: String,
    pub note: String,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    pub done_note: Option<String>,
    pub done_version: Option<i32>,
    pub overdue: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    PolicyChange,
    Flag,
}

impl TaskKind {
    fn as_str(self) -> &'static str {
        match self {
            TaskKind::PolicyChange => "policy_change",
            TaskKind::Flag => "flag",
        }
    }
}

/// A contact the knowledge figures count (一次性解答率): a ticket created on a matter, or a
/// call answered on the spot from a leaf.
#[derive(Debug, Clone)]
pub struct Contact {
    pub event_id: Uuid,
    pub ticket_no: i64,
    /// `created` or `answered`.
    pub kind: &'static str,
    pub matter_code: Option<String>,
    pub leaf: Option<String>,
    pub at: DateTime<Utc>,
}

/// The store, with the subjects its events go to.
#[derive(Clone)]
pub struct Store {
    pub pool: PgPool,
    subjects: Subjects,
}

fn version_info(r: &sqlx::postgres::PgRow) -> Result<VersionInfo, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(VersionInfo {
        code: r.try_get("code")?,
        version: r.try_get("version")?,
        status: VersionStatus::parse(&status).unwrap_or(VersionStatus::Draft),
        title: r.try_get("title")?,
        class: r.try_get("class")?,
        matter_code: r.try_get("matter_code")?,
        owner: r.try_get("owner")?,
        written_by: r.try_get("written_by")?,
        written_at: r.try_get("written_at")?,
        submitted_at: r.try_get("submitted_at")?,
        reviewed_by: r.try_get("reviewed_by")?,
        reviewed_at: r.try_get("reviewed_at")?,
        review_note: r.try_get("review_note")?,
        revision: r.try_get("revision")?,
    })
}

const VERSION_COLUMNS: &str = "v.code, v.version, v.status, v.title, v.class, v.matter_code, \
    i.owner, v.written_by, v.written_at, v.submitted_at, v.reviewed_by, v.reviewed_at, v.review_note, i.revision";

fn task_row(r: &sqlx::postgres::PgRow, now: DateTime<Utc>) -> Result<Task, sqlx::Error> {
    let due_at: DateTime<Utc> = r.try_get("due_at")?;
    let done_at: Option<DateTime<Utc>> = r.try_get("done_at")?;
    Ok(Task {
        id: r.try_get("id")?,
        item_code: r.try_get("item_code")?,
        department: r.try_get("department")?,
        kind: r.try_get("kind")?,
        leaf_code: r.try_get("leaf_code")?,
        reason: r.try_get("reason")?,
        note: r.try_get("note")?,
        opened_by: r.try_get("opened_by")?,
        opened_at: r.try_get("opened_at")?,
        due_at,
        done_at,
        done_by: r.try_get("done_by")?,
        done_note: r.try_get("done_note")?,
        done_version: r.try_get("done_version")?,
        overdue: done_at.map_or(now > due_at, |d| d > due_at),
    })
}

impl Store {
    pub fn new(pool: PgPool, subjects: Subjects) -> Store {
        Store { pool, subjects }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        hotline_bus::db::migrate(&self.pool, sqlx::migrate!("./migrations"), SCHEMA).await
    }

    async fn lock_state(
        tx: &mut Transaction<'_, Postgres>,
        code: &ItemCode,
    ) -> Result<Option<(ItemState, Revision)>, StoreError> {
        let row = sqlx::query(
            "SELECT i.owner, i.latest_version, i.published_version, v.status, i.revision \
             FROM knowledge.item i JOIN knowledge.item_version v \
               ON v.code = i.code AND v.version = i.latest_version \
             WHERE i.code = $1 FOR UPDATE OF i",
        )
        .bind(code.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let owner: String = row.try_get("owner")?;
        let status: String = row.try_get("status")?;
        let state = ItemState {
            owner: DeptCode::parse(&owner).context("stored owner")?,
            latest_version: row.try_get("latest_version")?,
            latest_status: VersionStatus::parse(&status)
                .with_context(|| format!("stored status {status}"))?,
            published_version: row.try_get("published_version")?,
        };
        Ok(Some((state, row.try_get("revision")?)))
    }

    /// Refuses the write when the writer's `If-Match` does not name the revision the lock
    /// holds: checked inside the writing transaction, so no write can land between the check
    /// and ours.
    fn check_precondition(
        precondition: Option<&Precondition>,
        locked: Option<&(ItemState, Revision)>,
    ) -> Result<(), StoreError> {
        match precondition {
            Some(p) if !p.holds(locked.map(|(_, revision)| *revision)) => Err(StoreError::Stale),
            _ => Ok(()),
        }
    }

    /// Where the item stands now, for a check before a slower step (the row lock is released
    /// at once; the step itself decides again under the lock).
    pub async fn state(&self, code: &ItemCode) -> Result<Option<ItemState>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let state = Self::lock_state(&mut tx, code).await?;
        tx.rollback().await?;
        Ok(state.map(|(state, _)| state))
    }

    /// Writes `items` as drafts (replacing working drafts), all or nothing; with `submit`
    /// also sends them to review. Returns the versions written.
    pub async fn write_drafts(
        &self,
        editor: &Editor,
        items: &[Item],
        submit: bool,
    ) -> Result<Vec<(ItemCode, i32)>, StoreError> {
        let written = self.write(editor, items, submit, None).await?;
        Ok(written
            .into_iter()
            .map(|(code, version, _)| (code, version))
            .collect())
    }

    /// Writes one item's draft (with `submit` also sends it to review) if `precondition` holds
    /// (none: unconditionally). Returns the version written and the item's new revision.
    pub async fn write_draft(
        &self,
        editor: &Editor,
        item: &Item,
        submit: bool,
        precondition: Option<&Precondition>,
    ) -> Result<(i32, Revision), StoreError> {
        let written = self
            .write(editor, std::slice::from_ref(item), submit, precondition)
            .await?;
        written
            .into_iter()
            .next()
            .map(|(_, version, revision)| (version, revision))
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("one item written, none returned")))
    }

    async fn write(
        &self,
        editor: &Editor,
        items: &[Item],
        submit: bool,
        precondition: Option<&Precondition>,
    ) -> Result<Vec<(ItemCode, i32, Revision)>, StoreError> {
        // Leaf and node codes are unique across the whole knowledge base, not only per item:
        // an agent's answer names a leaf by its code alone.
        let mut in_batch = BTreeSet::new();
        for item in items {
            item.check()?;
            if !in_batch.insert(item.code.clone()) {
                return Err(ModelError::DuplicateCode(item.code.clone()).into());
            }
        }
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::with_capacity(items.len());
        for item in items {
            let locked = Self::lock_state(&mut tx, &item.code).await?;
            Self::check_precondition(precondition, locked.as_ref())?;
            let state = locked.map(|(state, _)| state);
            let outcome = governance::decide(
                editor,
                &Step::WriteDraft {
                    owner: item.owner.clone(),
                },
                state.as_ref(),
            )?;
            Self::check_codes_free(&mut tx, item).await?;
            let content = serde_json::to_value(item).context("serialising the item")?;
            let status = if submit {
                VersionStatus::Review
            } else {
                VersionStatus::Draft
            };
            let (version, revision) = match outcome {
                Outcome::NewDraft { version, new_item } => {
                    let revision: Revision = if new_item {
                        sqlx::query_scalar(
                            "INSERT INTO knowledge.item (code, owner, latest_version) VALUES ($1, $2, $3) \
                             RETURNING revision",
                        )
                        .bind(item.code.as_str())
                        .bind(item.owner.as_str())
                        .bind(version)
                        .fetch_one(&mut *tx)
                        .await?
                    } else {
                        sqlx::query_scalar(
                            "UPDATE knowledge.item SET latest_version = $2, owner = $3, updated_at = now(), \
                             revision = revision + 1 WHERE code = $1 RETURNING revision",
                        )
                        .bind(item.code.as_str())
                        .bind(version)
                        .bind(item.owner.as_str())
                        .fetch_one(&mut *tx)
                        .await?
                    };
                    sqlx::query(
                        "INSERT INTO knowledge.item_version \
                         (code, version, status, content, title, class, matter_code, written_by, submitted_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $3 = 'review' THEN now() END)",
                    )
                    .bind(item.code.as_str())
                    .bind(version)
                    .bind(status.as_str())
                    .bind(&content)
                    .bind(&item.title)
                    .bind(item.class.as_str())
                    .bind(item.matter_code.as_str())
                    .bind(editor.code().as_str())
                    .execute(&mut *tx)
                    .await?;
                    (version, revision)
                }
                Outcome::ReplaceDraft { version } => {
                    sqlx::query(
                        "UPDATE knowledge.item_version SET status = $3, content = $4, title = $5, class = $6, \
                         matter_code = $7, written_by = $8, written_at = now(), \
                         submitted_at = CASE WHEN $3 = 'review' THEN now() END \
                         WHERE code = $1 AND version = $2",
                    )
                    .bind(item.code.as_str())
                    .bind(version)
                    .bind(status.as_str())
                    .bind(&content)
                    .bind(&item.title)
                    .bind(item.class.as_str())
                    .bind(item.matter_code.as_str())
                    .bind(editor.code().as_str())
                    .execute(&mut *tx)
                    .await?;
                    // The version number stays: the revision is what tells this draft from the
                    // one it replaces.
                    let revision: Revision = sqlx::query_scalar(
                        "UPDATE knowledge.item SET owner = $2, updated_at = now(), revision = revision + 1 \
                         WHERE code = $1 RETURNING revision",
                    )
                    .bind(item.code.as_str())
                    .bind(item.owner.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    (version, revision)
                }
                Outcome::Move { .. } => {
                    return Err(StoreError::Internal(anyhow::anyhow!(
                        "a draft write decided a move"
                    )));
                }
            };
            written.push((item.code.clone(), version, revision));
        }
        tx.commit().await?;
        Ok(written)
    }

    /// A node code already published in another item cannot be reused: answers are recorded by
    /// leaf code alone.
    async fn check_codes_free(
        tx: &mut Transaction<'_, Postgres>,
        item: &Item,
    ) -> Result<(), StoreError> {
        let codes: Vec<&str> = item.leaves().iter().map(|l| l.leaf.code.as_str()).collect();
        let clash: Option<String> = sqlx::query_scalar(
            "SELECT code FROM knowledge.leaf WHERE code = ANY($1) AND item_code <> $2 LIMIT 1",
        )
        .bind(&codes)
        .bind(item.code.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        match clash {
            Some(code) => Err(ModelError::DuplicateCode(
                ItemCode::parse(&code).context("stored leaf code")?,
            )
            .into()),
            None => Ok(()),
        }
    }

    /// Submits the draft for review if `precondition` holds (none: unconditionally). Returns
    /// the version and the item's new revision.
    pub async fn submit(
        &self,
        editor: &Editor,
        code: &ItemCode,
        precondition: Option<&Precondition>,
    ) -> Result<(i32, Revision), StoreError> {
        self.move_version(editor, code, Step::Submit, None, precondition, |_| Ok(()))
            .await
    }

    /// Sends the version in review back to its owner if `precondition` holds (none:
    /// unconditionally). Returns the version and the item's new revision.
    pub async fn reject(
        &self,
        editor: &Editor,
        code: &ItemCode,
        note: &str,
        precondition: Option<&Precondition>,
    ) -> Result<(i32, Revision), StoreError> {
        self.move_version(editor, code, Step::Reject, Some(note), precondition, |_| {
            Ok(())
        })
        .await
    }

    /// Publishes the version in review if its matter is in the catalogue (`known_matter`).
    pub async fn publish(
        &self,
        editor: &Editor,
        code: &ItemCode,
        note: Option<&str>,
        known_matter: impl Fn(&ServiceCode) -> bool,
    ) -> Result<i32, StoreError> {
        self.publish_if_match(editor, code, note, None, known_matter)
            .await
            .map(|(version, _)| version)
    }

    /// [`Store::publish`] if `precondition` holds (a reviewer's page read before another
    /// review, or before the owner's resubmission, must not publish what they did not see).
    /// Returns the version and the item's new revision.
    pub async fn publish_if_match(
        &self,
        editor: &Editor,
        code: &ItemCode,
        note: Option<&str>,
        precondition: Option<&Precondition>,
        known_matter: impl Fn(&ServiceCode) -> bool,
    ) -> Result<(i32, Revision), StoreError> {
        self.move_version(editor, code, Step::Publish, note, precondition, |item| {
            if known_matter(&item.matter_code) {
                Ok(())
            } else {
                Err(GovernanceError::UnknownMatter(item.matter_code.to_string()))
            }
        })
        .await
    }

    /// Retires the published version if `precondition` holds: gone from search and from
    /// agents' answers. Returns the version and the item's new revision.
    pub async fn retire(
        &self,
        editor: &Editor,
        code: &ItemCode,
        reason: &str,
        precondition: Option<&Precondition>,
    ) -> Result<(i32, Revision), StoreError> {
        self.move_version(
            editor,
            code,
            Step::Retire,
            Some(reason),
            precondition,
            |_| Ok(()),
        )
        .await
    }

    async fn move_version(
        &self,
        editor: &Editor,
        code: &ItemCode,
        step: Step,
        note: Option<&str>,
        precondition: Option<&Precondition>,
        check: impl Fn(&Item) -> Result<(), GovernanceError>,
    ) -> Result<(i32, Revision), StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked = Self::lock_state(&mut tx, code).await?;
        Self::check_precondition(precondition, locked.as_ref())?;
        let state = locked.map(|(state, _)| state);
        let outcome = governance::decide(editor, &step, state.as_ref())?;
        let Outcome::Move {
            version,
            from,
            to,
            superseded,
        } = outcome
        else {
            return Err(StoreError::Internal(anyhow::anyhow!(
                "a move decided a draft write"
            )));
        };
        let item = Self::load(&mut tx, code, version).await?;
        check(&item)?;
        sqlx::query(
            "UPDATE knowledge.item_version SET status = $3, \
               submitted_at = CASE WHEN $3 = 'review' THEN now() ELSE submitted_at END, \
               reviewed_by = CASE WHEN $3 IN ('published', 'rejected') THEN $4 ELSE reviewed_by END, \
               reviewed_at = CASE WHEN $3 IN ('published', 'rejected') THEN now() ELSE reviewed_at END, \
               review_note = COALESCE($5, review_note) \
             WHERE code = $1 AND version = $2 AND status = $6",
        )
        .bind(code.as_str())
        .bind(version)
        .bind(to.as_str())
        .bind(editor.code().as_str())
        .bind(note)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        match to {
            VersionStatus::Published => {
                if let Some(old) = superseded {
                    sqlx::query(
                        "UPDATE knowledge.item_version SET status = 'superseded' WHERE code = $1 AND version = $2",
                    )
                    .bind(code.as_str())
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE knowledge.item SET published_version = $2, retired_at = NULL, updated_at = now() WHERE code = $1",
                )
                .bind(code.as_str())
                .bind(version)
                .execute(&mut *tx)
                .await?;
                Self::replace_leaves(&mut tx, &item, version).await?;
                // Publishing a new version is what an update task asks for.
                let done: Vec<i64> = sqlx::query_scalar(
                    "UPDATE knowledge.task SET done_at = now(), done_by = $2, done_version = $3, \
                       done_note = 'published version ' || $3 \
                     WHERE item_code = $1 AND done_at IS NULL RETURNING id",
                )
                .bind(code.as_str())
                .bind(editor.code().as_str())
                .bind(version)
                .fetch_all(&mut *tx)
                .await?;
                let mut events =
                    vec![self.event(EventKind::Published, &item, version, None, None)?];
                for id in done {
                    events.push(self.event(EventKind::TaskDone, &item, version, Some(id), None)?);
                }
                outbox::enqueue(&mut tx, SCHEMA, &events).await?;
            }
            VersionStatus::Retired => {
                sqlx::query(
                    "UPDATE knowledge.item SET published_version = NULL, retired_at = now(), updated_at = now() WHERE code = $1",
                )
                .bind(code.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM knowledge.leaf WHERE item_code = $1")
                    .bind(code.as_str())
                    .execute(&mut *tx)
                    .await?;
                let event = self.event(EventKind::Retired, &item, version, None, None)?;
                outbox::enqueue(&mut tx, SCHEMA, &[event]).await?;
            }
            _ => {}
        }
        let revision: Revision = sqlx::query_scalar(
            "UPDATE knowledge.item SET revision = revision + 1 WHERE code = $1 RETURNING revision",
        )
        .bind(code.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((version, revision))
    }

    async fn replace_leaves(
        tx: &mut Transaction<'_, Postgres>,
        item: &Item,
        version: i32,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM knowledge.leaf WHERE item_code = $1")
            .bind(item.code.as_str())
            .execute(&mut **tx)
            .await?;
        let leaves = item.leaves();
        let codes: Vec<&str> = leaves.iter().map(|l| l.leaf.code.as_str()).collect();
        let titles: Vec<&str> = leaves.iter().map(|l| l.leaf.title.as_str()).collect();
        let paths: Vec<String> = leaves.iter().map(|l| l.path.join(" > ")).collect();
        let answers: Vec<&str> = leaves.iter().map(|l| l.leaf.answer.as_str()).collect();
        let keywords: Vec<String> = leaves
            .iter()
            .map(|l| {
                l.leaf
                    .keywords
                    .iter()
                    .chain(&l.leaf.synonyms)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // Departments as one text per leaf (arrays of arrays must be rectangular in Postgres).
        let departments: Vec<String> = leaves
            .iter()
            .map(|l| {
                l.leaf
                    .departments
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        sqlx::query(
            "INSERT INTO knowledge.leaf (code, item_code, version, title, path, answer, keywords, departments) \
             SELECT c, $2, $3, t, p, a, k, CASE WHEN d = '' THEN '{}'::text[] ELSE string_to_array(d, ',') END \
             FROM UNNEST($1::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS x(c, t, p, a, k, d)",
        )
        .bind(&codes)
        .bind(item.code.as_str())
        .bind(version)
        .bind(&titles)
        .bind(&paths)
        .bind(&answers)
        .bind(&keywords)
        .bind(&departments)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn load(
        tx: &mut Transaction<'_, Postgres>,
        code: &ItemCode,
        version: i32,
    ) -> Result<Item, StoreError> {
        let content: serde_json::Value = sqlx::query_scalar(
            "SELECT content FROM knowledge.item_version WHERE code = $1 AND version = $2",
        )
        .bind(code.as_str())
        .bind(version)
        .fetch_one(&mut **tx)
        .await?;
        Ok(serde_json::from_value(content).context("stored item content")?)
    }

    fn event(
        &self,
        kind: EventKind,
        item: &Item,
        version: i32,
        task_id: Option<i64>,
        due_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<OutboxMessage> {
        let data = KnowledgeEvent {
            kind,
            item_code: item.code.clone(),
            version,
            owner: item.owner.clone(),
            matter_code: item.matter_code.clone(),
            class: item.class,
            title: item.title.clone(),
            leaves: if kind == EventKind::Published {
                item.leaves().iter().map(|l| l.leaf.code.clone()).collect()
            } else {
                Vec::new()
            },
            task_id,
            due_at,
        };
        let id = Uuid::now_v7();
        let envelope = Envelope::new(id, kind.as_str(), data);
        Ok(OutboxMessage {
            subject: self.subjects.knowledge_event(kind.as_str()),
            msg_id: id.to_string(),
            traceparent: hotline_bus::trace::current_traceparent(),
            payload: envelope.to_bytes()?,
        })
    }

    /// One version of an item, with its metadata.
    pub async fn version(
        &self,
        code: &ItemCode,
        version: Option<i32>,
    ) -> Result<Option<(Item, VersionInfo)>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS}, v.content FROM knowledge.item i \
             JOIN knowledge.item_version v ON v.code = i.code \
             WHERE i.code = $1 AND v.version = COALESCE($2, i.published_version, i.latest_version)"
        )))
        .bind(code.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let content: serde_json::Value = row.try_get("content")?;
        let item: Item = serde_json::from_value(content).context("stored item content")?;
        Ok(Some((item, version_info(&row)?)))
    }

    /// Every version of an item, newest first.
    pub async fn versions(&self, code: &ItemCode) -> Result<Vec<VersionInfo>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM knowledge.item i JOIN knowledge.item_version v ON v.code = i.code \
             WHERE i.code = $1 ORDER BY v.version DESC"
        )))
        .bind(code.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(version_info).collect::<Result<_, _>>()?)
    }

    /// The latest version of each item, filtered.
    pub async fn list(
        &self,
        status: Option<VersionStatus>,
        owner: Option<&DeptCode>,
        class: Option<&str>,
        limit: i64,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM knowledge.item i \
             JOIN knowledge.item_version v ON v.code = i.code AND v.version = i.latest_version \
             WHERE ($1::text IS NULL OR v.status = $1) AND ($2::text IS NULL OR i.owner = $2) \
               AND ($3::text IS NULL OR v.class = $3) \
             ORDER BY i.code LIMIT $4"
        )))
        .bind(status.map(|s| s.as_str()))
        .bind(owner.map(|o| o.as_str()))
        .bind(class)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(version_info).collect::<Result<_, _>>()?)
    }

    /// Every published item with its version: what a replica indexes at start.
    pub async fn published(&self) -> Result<Vec<(Item, i32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.content, v.version FROM knowledge.item i \
             JOIN knowledge.item_version v ON v.code = i.code AND v.version = i.published_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let content: serde_json::Value = r.try_get("content")?;
                let item: Item = serde_json::from_value(content).context("stored item content")?;
                Ok((item, r.try_get("version")?))
            })
            .collect()
    }

    /// The published items among `codes` (all of them when empty), for export.
    pub async fn published_items(&self, codes: &[ItemCode]) -> Result<Vec<Item>, StoreError> {
        let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        let rows = sqlx::query(
            "SELECT v.content FROM knowledge.item i \
             JOIN knowledge.item_version v ON v.code = i.code AND v.version = i.published_version \
             WHERE cardinality($1::text[]) = 0 OR i.code = ANY($1) ORDER BY i.code",
        )
        .bind(&codes)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let content: serde_json::Value = r.try_get("content")?;
                Ok(serde_json::from_value(content).context("stored item content")?)
            })
            .collect()
    }

    /// The item a published leaf belongs to, and its owner.
    pub async fn leaf_owner(
        &self,
        leaf: &ItemCode,
    ) -> Result<Option<(ItemCode, DeptCode, i32)>, StoreError> {
        let row = sqlx::query(
            "SELECT l.item_code, i.owner, l.version FROM knowledge.leaf l \
             JOIN knowledge.item i ON i.code = l.item_code WHERE l.code = $1",
        )
        .bind(leaf.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let item: String = row.try_get("item_code")?;
        let owner: String = row.try_get("owner")?;
        Ok(Some((
            ItemCode::parse(&item).context("stored item code")?,
            DeptCode::parse(&owner).context("stored owner")?,
            row.try_get("version")?,
        )))
    }

    /// Opens an update task for the item's owner, due at `due_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_task(
        &self,
        item_code: &ItemCode,
        kind: TaskKind,
        leaf: Option<&ItemCode>,
        reason: &str,
        note: &str,
        opened_by: &str,
        due_at: DateTime<Utc>,
    ) -> Result<Task, StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Task(TaskError::EmptyReason));
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT v.content, i.latest_version FROM knowledge.item i JOIN knowledge.item_version v \
               ON v.code = i.code AND v.version = COALESCE(i.published_version, i.latest_version) \
             WHERE i.code = $1",
        )
        .bind(item_code.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Task(TaskError::UnknownItem));
        };
        let content: serde_json::Value = row.try_get("content")?;
        let item: Item = serde_json::from_value(content).context("stored item content")?;
        let version: i32 = row.try_get("latest_version")?;
        let now = Utc::now();
        let task_row = sqlx::query(
            "INSERT INTO knowledge.task (item_code, department, kind, leaf_code, reason, note, opened_by, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        )
        .bind(item_code.as_str())
        .bind(item.owner.as_str())
        .bind(kind.as_str())
        .bind(leaf.map(|l| l.as_str()))
        .bind(reason.trim())
        .bind(note)
        .bind(opened_by)
        .bind(due_at)
        .fetch_one(&mut *tx)
        .await?;
        let task = task_row_now(&task_row, now)?;
        let event = self.event(
            EventKind::TaskOpened,
            &item,
            version,
            Some(task.id),
            Some(due_at),
        )?;
        outbox::enqueue(&mut tx, SCHEMA, &[event]).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Closes a task without a new version ("checked, still correct").
    pub async fn close_task(
        &self,
        editor: &Editor,
        id: i64,
        note: &str,
    ) -> Result<Task, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT * FROM knowledge.task WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Task(TaskError::NotFound));
        };
        let task = task_row_now(&row, Utc::now())?;
        if task.done_at.is_some() {
            return Err(StoreError::Task(TaskError::AlreadyDone));
        }
        if !editor.is_centre() && editor.code().as_str() != task.department {
            return Err(StoreError::Task(TaskError::NotOwner));
        }
        let row = sqlx::query(
            "UPDATE knowledge.task SET done_at = now(), done_by = $2, done_note = $3 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(editor.code().as_str())
        .bind(note)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        task_row_now(&row, Utc::now())
    }

    /// Tasks, filtered: open only, overdue only, one department.
    pub async fn tasks(
        &self,
        department: Option<&DeptCode>,
        open_only: bool,
        overdue_only: bool,
    ) -> Result<Vec<Task>, StoreError> {
        let now = Utc::now();
        let rows = sqlx::query(
            "SELECT * FROM knowledge.task \
             WHERE ($1::text IS NULL OR department = $1) \
               AND (NOT $2 OR done_at IS NULL) \
               AND (NOT $3 OR (done_at IS NULL AND due_at < $4) OR done_at > due_at) \
             ORDER BY due_at LIMIT 1000",
        )
        .bind(department.map(|d| d.as_str()))
        .bind(open_only)
        .bind(overdue_only)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| task_row(r, now))
            .collect::<Result<_, _>>()?)
    }

    /// Records several contacts in one statement (the contact consumer's group commit). The
    /// event id keeps it idempotent, a contact recorded twice is one.
    pub async fn record_contacts(&self, contacts: &[Contact]) -> Result<(), StoreError> {
        if contacts.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = contacts.iter().map(|c| c.event_id.to_string()).collect();
        let nos: Vec<i64> = contacts.iter().map(|c| c.ticket_no).collect();
        let matters: Vec<Option<&str>> =
            contacts.iter().map(|c| c.matter_code.as_deref()).collect();
        let leaves: Vec<Option<&str>> = contacts.iter().map(|c| c.leaf.as_deref()).collect();
        let kinds: Vec<&str> = contacts.iter().map(|c| c.kind).collect();
        let ats: Vec<DateTime<Utc>> = contacts.iter().map(|c| c.at).collect();
        // A batch of every ticket event's contacts, the leaf found by code: planned once per
        // connection rather than for every batch (db::begin_keyed).
        let mut tx = hotline_bus::db::begin_keyed(&self.pool).await?;
        sqlx::query(
            "INSERT INTO knowledge.contact (event_id, ticket_no, matter_code, leaf_code, item_code, kind, at) \
             SELECT u.event_id, u.ticket_no, u.matter_code, u.leaf_code, l.item_code, u.kind, u.at \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) \
               AS u(event_id, ticket_no, matter_code, leaf_code, kind, at) \
             LEFT JOIN knowledge.leaf l ON l.code = u.leaf_code \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&nos)
        .bind(&matters)
        .bind(&leaves)
        .bind(&kinds)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// First-contact answers per item in `[from, to)`: contacts on its matter, how many were
    /// answered on the spot from one of its leaves, and the rate (一次性解答率).
    pub async fn first_contact(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FirstContact>, StoreError> {
        let rows = sqlx::query(
            "WITH items AS ( \
               SELECT i.code, v.matter_code, v.title FROM knowledge.item i \
               JOIN knowledge.item_version v ON v.code = i.code AND v.version = i.published_version), \
             period AS (SELECT * FROM knowledge.contact WHERE at >= $1 AND at < $2), \
             touched AS ( \
               SELECT items.code, p.ticket_no, p.kind FROM items JOIN period p \
                 ON (p.kind = 'created' AND p.matter_code = items.matter_code) \
                 OR (p.kind = 'answered' AND p.item_code = items.code)) \
             SELECT items.code, items.title, items.matter_code, \
                    count(DISTINCT t.ticket_no) AS contacts, \
                    count(DISTINCT t.ticket_no) FILTER (WHERE t.kind = 'answered') AS answered \
             FROM items JOIN touched t ON t.code = items.code \
             GROUP BY items.code, items.title, items.matter_code \
             ORDER BY answered DESC, items.code",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let contacts: i64 = r.try_get("contacts")?;
                let answered: i64 = r.try_get("answered")?;
                Ok(FirstContact {
                    item_code: r.try_get("code")?,
                    title: r.try_get("title")?,
                    matter_code: r.try_get("matter_code")?,
                    contacts,
                    answered_on_the_spot: answered,
                    rate: if contacts > 0 {
                        (answered as f64 / contacts as f64).min(1.0)
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }

    /// How often each leaf answered a contact in `[from, to)`.
    pub async fn leaf_uses(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT leaf_code, count(*) AS n FROM knowledge.contact \
             WHERE kind = 'answered' AND leaf_code IS NOT NULL AND at >= $1 AND at < $2 \
             GROUP BY leaf_code ORDER BY n DESC, leaf_code LIMIT 1000",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("leaf_code")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }
}

fn task_row_now(r: &sqlx::postgres::PgRow, now: DateTime<Utc>) -> Result<Task, StoreError> {
    Ok(task_row(r, now)?)
}

/// One item's first-contact figures.
#[derive(Debug, Clone, Serialize)]
pub struct FirstContact {
    pub item_code: String,
    pub title: String,
    pub matter_code: String,
    /// Tickets on the item's matter or answered from its leaves (each ticket once).
    pub contacts: i64,
    pub answered_on_the_spot: i64,
    pub rate: f64,
}
