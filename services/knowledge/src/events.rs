//! The facts the knowledge base publishes on `<ns>.knowledge.events.<kind>` (stream
//! `<NS>_KNOWLEDGE`), versioned JSON inside [`hotline_bus::Envelope`].
//!
//! A publish event names the item and version, not its content: replicas read the content from
//! the knowledge schema (their own service's store), so an event stays small however big the tree.

use chrono::{DateTime, Utc};
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use serde::{Deserialize, Serialize};

use crate::model::ItemClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A version was published: search must show it, agents may answer with it.
    Published,
    /// The item was retired: no longer answered with, gone from search.
    Retired,
    /// An update task was opened for the owning department.
    TaskOpened,
    /// An update task was done.
    TaskDone,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Published => "published",
            EventKind::Retired => "retired",
            EventKind::TaskOpened => "task_opened",
            EventKind::TaskDone => "task_done",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeEvent {
    pub kind: EventKind,
    pub item_code: ItemCode,
    pub version: i32,
    pub owner: DeptCode,
    pub matter_code: ServiceCode,
    pub class: ItemClass,
    pub title: String,
    /// The item's leaf codes in this version (empty for task events).
    #[serde(default)]
    pub leaves: Vec<ItemCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}
