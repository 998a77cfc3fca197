//! The dispatch catalogue (派单目录): for each matter, who handles it and where.
//!
//! A matter is either city-wide (always one department, e.g. social insurance) or handled by
//! the district the matter is in (e.g. a broken pavement). Entries change only through
//! [`Catalogue::update`], which bumps the version and records who changed what and why
//! (the seed paper's 事项承办责任主体联合审定 ends in such a change).
//!
//! The demo catalogue is built from the provincial classification in
//! `deploy/seed/categories.csv` (517 leaf matters) with an owner per first-level class.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use hotline_domain::contract::{AttributeType, AttributeValue, CatalogueService, ServiceAttribute};
use hotline_domain::{DeptCode, Directory, RequestType, ServiceCode};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};
use tokio::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// Always this department, wherever the matter is.
    City { department: DeptCode },
    /// The government of the district the matter is in.
    District,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub code: ServiceCode,
    pub name: String,
    pub description: String,
    pub group: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub default_request_type: RequestType,
    #[serde(flatten)]
    pub scope: Scope,
    #[serde(default)]
    pub co_handlers: Vec<DeptCode>,
    #[serde(default)]
    pub attributes: Vec<ServiceAttribute>,
    #[serde(default)]
    pub version: i32,
}

impl Entry {
    pub fn service(&self) -> CatalogueService {
        CatalogueService {
            code: self.code.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            group: self.group.clone(),
            keywords: self.keywords.clone(),
            default_request_type: self.default_request_type,
            attributes: self.attributes.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("matter {0} is not in the catalogue")]
    Unknown(ServiceCode),
    #[error("department {0} is not in the directory")]
    UnknownDepartment(DeptCode),
    #[error("a change needs who made it and why")]
    Unaudited,
    #[error("the entry was changed meanwhile (version {current}); reload and retry")]
    Stale { current: i32 },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Who owns each first-level class in the demo city, and what a contact on it usually is.
const DEMO_OWNERS: &[(&str, Option<&str>, RequestType)] = &[
    ("城乡建设", None, RequestType::Complaint),
    ("环境保护", Some("GZ-HB"), RequestType::Complaint),
    ("交通运输", Some("GZ-JT"), RequestType::Complaint),
    ("经济管理", Some("GZ-FG"), RequestType::Complaint),
    ("商贸旅游", Some("GZ-SW2"), RequestType::Complaint),
    ("卫生计生", Some("GZ-WJ"), RequestType::Consultation),
    ("劳动和社会保障", Some("GZ-RS"), RequestType::Consultation),
    ("教育文体", Some("GZ-JY"), RequestType::Consultation),
    ("民政", Some("GZ-MZ"), RequestType::Consultation),
    ("党务政务", Some("GZ-ZW"), RequestType::Consultation),
    ("科技与信息产业", Some("GZ-KJ"), RequestType::Consultation),
    ("政法", Some("GZ-GA"), RequestType::Report),
    ("纪检监察", Some("GZ-JW"), RequestType::Report),
    ("农村农业", None, RequestType::HelpRequest),
    ("国土资源", Some("GZ-GH"), RequestType::HelpRequest),
];

pub const DEMO_CATEGORIES: &str = include_str!("../../../deploy/seed/categories.csv");

/// The demo catalogue: one entry per leaf category, codes `LL.MM.NNN` by position.
pub fn demo_entries() -> anyhow::Result<Vec<Entry>> {
    let mut reader = csv::Reader::from_reader(DEMO_CATEGORIES.as_bytes());
    let mut l1_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut l2_index: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut l3_count: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut entries = Vec::new();
    for row in reader.records() {
        let row = row.context("reading categories.csv")?;
        let (l1, l2, l3) = (
            row.get(0).unwrap_or_default(),
            row.get(1).unwrap_or_default(),
            row.get(2).unwrap_or_default(),
        );
        let next = l1_index.len() + 1;
        let i1 = *l1_index.entry(l1.to_owned()).or_insert(next);
        let next = l2_index.keys().filter(|(a, _)| a == l1).count() + 1;
        let i2 = *l2_index
            .entry((l1.to_owned(), l2.to_owned()))
            .or_insert(next);
        let i3 = {
            let c = l3_count.entry((l1.to_owned(), l2.to_owned())).or_insert(0);
            *c += 1;
            *c
        };
        let (_, owner, request_type) = DEMO_OWNERS
            .iter()
            .find(|(name, _, _)| *name == l1)
            .with_context(|| format!("no owner for class {l1}"))?;
        let scope = match owner {
            Some(d) => Scope::City {
                department: DeptCode::parse(d)?,
            },
            None => Scope::District,
        };
        let attributes = if scope == Scope::District {
            vec![ServiceAttribute {
                code: "urgency".into(),
                variable: true,
                datatype: AttributeType::Singlevaluelist,
                required: false,
                description: "How urgent is it? 紧急程度".into(),
                order: 1,
                values: vec![
                    AttributeValue {
                        key: "normal".into(),
                        name: "一般 normal".into(),
                    },
                    AttributeValue {
                        key: "urgent".into(),
                        name: "紧急 urgent".into(),
                    },
                ],
            }]
        } else {
            Vec::new()
        };
        entries.push(Entry {
            code: ServiceCode::parse(&format!("{i1:02}.{i2:02}.{i3:03}"))?,
            name: l3.to_owned(),
            description: format!("{l1} / {l2} / {l3}"),
            group: l1.to_owned(),
            keywords: vec![l2.to_owned(), l3.to_owned()],
            default_request_type: *request_type,
            scope,
            co_handlers: Vec::new(),
            attributes,
            version: 1,
        });
    }
    Ok(entries)
}

/// The catalogue, read from Postgres and cached in memory (routing reads it per ticket).
#[derive(Clone)]
pub struct Catalogue {
    pool: PgPool,
    cache: Arc<RwLock<BTreeMap<ServiceCode, Entry>>>,
    /// Every entry, rebuilt on each change: smart dispatch reads all of them per ticket and
    /// must not copy 500 entries to do it.
    snapshot: Arc<std::sync::RwLock<Arc<Vec<Entry>>>>,
    directory: Arc<Directory>,
}

impl Catalogue {
    pub async fn load(pool: PgPool, directory: Arc<Directory>) -> anyhow::Result<Catalogue> {
        let catalogue = Catalogue {
            pool,
            cache: Arc::default(),
            snapshot: Arc::default(),
            directory,
        };
        catalogue.reload().await?;
        Ok(catalogue)
    }

    /// Re-reads every entry (other replicas may have changed some).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let rows = sqlx::query("SELECT code, entry_json FROM (SELECT code, to_jsonb(c) AS entry_json FROM dispatch.catalogue c) x")
            .fetch_all(&self.pool)
            .await
            .context("reading the catalogue")?;
        let mut map = BTreeMap::new();
        for row in rows {
            let raw: serde_json::Value = row.try_get("entry_json")?;
            let entry = entry_from_row(&raw).context("a catalogue row")?;
            map.insert(entry.code.clone(), entry);
        }
        let mut cache = self.cache.write().await;
        *cache = map;
        self.refresh_snapshot(&cache);
        Ok(())
    }

    fn refresh_snapshot(&self, cache: &BTreeMap<ServiceCode, Entry>) {
        let entries = Arc::new(cache.values().cloned().collect());
        match self.snapshot.write() {
            Ok(mut s) => *s = entries,
            Err(poisoned) => *poisoned.into_inner() = entries,
        }
    }

    /// Every entry, cheaply (a shared snapshot).
    pub fn entries(&self) -> Arc<Vec<Entry>> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The classes a department handles: the groups of its city-wide matters, or, for a
    /// district government, the groups of the district matters. A correction teaches the
    /// classifier only when this names exactly one class.
    pub fn classes_of(&self, department: &DeptCode) -> Vec<String> {
        let district = self
            .directory
            .get(department)
            .is_some_and(|d| d.level == hotline_domain::DepartmentLevel::District);
        let mut classes: Vec<String> = self
            .entries()
            .iter()
            .filter(|e| match &e.scope {
                Scope::City { department: d } => d == department,
                Scope::District => district,
            })
            .map(|e| e.group.clone())
            .collect();
        classes.sort();
        classes.dedup();
        classes
    }

    pub async fn get(&self, code: &ServiceCode) -> Option<Entry> {
        self.cache.read().await.get(code).cloned()
    }

    pub async fn all(&self) -> Vec<Entry> {
        self.cache.read().await.values().cloned().collect()
    }

    /// Seeds the demo entries that are missing (idempotent).
    pub async fn seed(pool: &PgPool, entries: &[Entry]) -> anyhow::Result<usize> {
        let mut tx = pool.begin().await?;
        let mut added = 0;
        for e in entries {
            let inserted = insert(&mut tx, e, 1).await?;
            if inserted {
                record(&mut tx, e, 1, "seed", "demo catalogue from categories.csv").await?;
                added += 1;
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Changes (or adds) an entry: audited and versioned. `expected_version` guards against
    /// overwriting a change made meanwhile (None for a new entry).
    pub async fn update(
        &self,
        mut entry: Entry,
        expected_version: Option<i32>,
        changed_by: &str,
        reason: &str,
    ) -> Result<Entry, CatalogueError> {
        if changed_by.trim().is_empty() || reason.trim().is_empty() {
            return Err(CatalogueError::Unaudited);
        }
        for d in entry.co_handlers.iter().chain(match &entry.scope {
            Scope::City { department } => Some(department),
            Scope::District => None,
        }) {
            if !self.directory.contains(d) {
                return Err(CatalogueError::UnknownDepartment(d.clone()));
            }
        }
        let mut tx = self.pool.begin().await.map_err(anyhow::Error::from)?;
        let current: Option<i32> =
            sqlx::query_scalar("SELECT version FROM dispatch.catalogue WHERE code = $1 FOR UPDATE")
                .bind(entry.code.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(anyhow::Error::from)?;
        if current != expected_version {
            return Err(CatalogueError::Stale {
                current: current.unwrap_or(0),
            });
        }
        let version = current.unwrap_or(0) + 1;
        entry.version = version;
        sqlx::query("DELETE FROM dispatch.catalogue WHERE code = $1")
            .bind(entry.code.as_str())
            .execute(&mut *tx)
            .await
            .map_err(anyhow::Error::from)?;
        insert(&mut tx, &entry, version).await?;
        record(&mut tx, &entry, version, changed_by, reason).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        let mut cache = self.cache.write().await;
        cache.insert(entry.code.clone(), entry.clone());
        self.refresh_snapshot(&cache);
        Ok(entry)
    }

    /// The audit trail of one matter, oldest first.
    pub async fn history(&self, code: &ServiceCode) -> anyhow::Result<Vec<serde_json::Value>> {
        let rows = sqlx::query("SELECT version, changed_by, reason, entry, at FROM dispatch.catalogue_history WHERE code = $1 ORDER BY version")
            .bind(code.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let at: chrono::DateTime<chrono::Utc> = r.try_get("at")?;
                Ok(serde_json::json!({
                    "version": r.try_get::<i32, _>("version")?,
                    "changed_by": r.try_get::<String, _>("changed_by")?,
                    "reason": r.try_get::<String, _>("reason")?,
                    "entry": r.try_get::<serde_json::Value, _>("entry")?,
                    "at": at,
                }))
            })
            .collect()
    }
}

fn entry_from_row(raw: &serde_json::Value) -> anyhow::Result<Entry> {
    let get = |k: &str| raw.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let scope = match get("scope").as_str() {
        Some("city") => Scope::City {
            department: serde_json::from_value(get("department"))?,
        },
        Some("district") => Scope::District,
        other => anyhow::bail!("unknown scope {other:?}"),
    };
    Ok(Entry {
        code: serde_json::from_value(get("code"))?,
        name: serde_json::from_value(get("name"))?,
        description: serde_json::from_value(get("description"))?,
        group: serde_json::from_value(get("grp"))?,
        keywords: serde_json::from_value(get("keywords"))?,
        default_request_type: serde_json::from_value(get("default_request_type"))?,
        scope,
        co_handlers: serde_json::from_value(get("co_handlers"))?,
        attributes: serde_json::from_value(get("attributes"))?,
        version: serde_json::from_value(get("version"))?,
    })
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    e: &Entry,
    version: i32,
) -> anyhow::Result<bool> {
    let (scope, department) = match &e.scope {
        Scope::City { department } => ("city", Some(department.to_string())),
        Scope::District => ("district", None),
    };
    let co: Vec<String> = e.co_handlers.iter().map(|d| d.to_string()).collect();
    let done = sqlx::query(
        "INSERT INTO dispatch.catalogue (code, name, description, grp, keywords, default_request_type, scope, department, \
         co_handlers, attributes, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (code) DO NOTHING",
    )
    .bind(e.code.as_str())
    .bind(&e.name)
    .bind(&e.description)
    .bind(&e.group)
    .bind(&e.keywords)
    .bind(e.default_request_type.as_str())
    .bind(scope)
    .bind(department)
    .bind(&co)
    .bind(serde_json::to_value(&e.attributes)?)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    e: &Entry,
    version: i32,
    by: &str,
    reason: &str,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO dispatch.catalogue_history (code, version, changed_by, reason, entry) VALUES ($1,$2,$3,$4,$5)")
        .bind(e.code.as_str())
        .bind(version)
        .bind(by)
        .bind(reason)
        .bind(serde_json::to_value(e)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalogue_covers_every_leaf_with_unique_codes() {
        let entries = demo_entries().expect("demo catalogue");
        assert_eq!(entries.len(), 517);
        let codes: std::collections::BTreeSet<_> = entries.iter().map(|e| e.code.clone()).collect();
        assert_eq!(codes.len(), 517);
        let directory = Directory::demo();
        for e in &entries {
            if let Scope::City { department } = &e.scope {
                assert!(directory.contains(department), "{department} missing");
            }
        }
        assert!(entries.iter().any(|e| e.scope == Scope::District));
        assert_eq!(entries[0].code.as_str(), "01.01.001");
    }
}
