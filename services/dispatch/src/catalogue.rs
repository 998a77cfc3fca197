//! The dispatch catalogue (派单目录): for each matter, who handles it and where.
//!
//! A matter is either city-wide (always one department, e.g. social insurance) or handled by
//! the district the matter is in (e.g. a broken pavement). Entries change only through
//! [`Catalogue::update`], which bumps the version and records who changed what and why
//! (the seed paper's 事项承办责任主体联合审定 ends in such a change).
//!
//! The demo catalogue is built from the provincial classification in
//! `deploy/seed/categories.csv` (517 leaf matters) with an owner per first-level class.
//!
//! A city loads its own catalogue from a file (`hotline setup --catalogue FILE`, format in
//! docs/directory.md): [`from_csv`] parses and checks it against the department directory
//! (all or nothing, errors naming the line), [`Catalogue::load_file_entries`] applies it row by
//! row through [`Catalogue::update`], so the file's changes are versioned and audited like any
//! other and an unchanged file changes nothing.

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

/// The columns of a catalogue file (docs/directory.md); `subgroup`, `co_handlers`, `keywords`
/// and `description` may be left out.
pub const CSV_COLUMNS: [&str; 10] = [
    "code",
    "name",
    "group",
    "subgroup",
    "scope",
    "department",
    "co_handlers",
    "request_type",
    "keywords",
    "description",
];
const CSV_REQUIRED: [&str; 6] = [
    "code",
    "name",
    "group",
    "scope",
    "department",
    "request_type",
];

/// Why a catalogue file was refused. Every variant but the header's and the empty file's
/// names the line (the header is line 1); the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueFileError {
    #[error("line {line}: {reason}")]
    Csv { line: usize, reason: String },
    #[error("the header must name the columns {}; {missing} is missing", CSV_REQUIRED.join(","))]
    Header { missing: &'static str },
    #[error("line {line}: matter code {code:?}: {reason}")]
    BadCode {
        line: usize,
        code: String,
        reason: String,
    },
    #[error("line {line}: matter {code} is already on line {first_line}")]
    Duplicate {
        line: usize,
        code: ServiceCode,
        first_line: usize,
    },
    #[error("line {line}: matter {code} has no {field}")]
    Missing {
        line: usize,
        code: ServiceCode,
        field: &'static str,
    },
    #[error(
        "line {line}: matter {code} has scope {scope:?}; the scopes are city (one department everywhere) and district (the district the matter is in)"
    )]
    BadScope {
        line: usize,
        code: ServiceCode,
        scope: String,
    },
    #[error("line {line}: matter {code} has scope city, which needs a department")]
    NoDepartment { line: usize, code: ServiceCode },
    #[error(
        "line {line}: matter {code} has scope district, so the district the matter is in handles it; leave department empty (not {department}) or make the scope city"
    )]
    DepartmentForDistrict {
        line: usize,
        code: ServiceCode,
        department: String,
    },
    #[error("line {line}: matter {code} names department {department:?}: {reason}")]
    BadDepartment {
        line: usize,
        code: ServiceCode,
        department: String,
        reason: String,
    },
    #[error(
        "line {line}: matter {code} names department {department}, which is not in the directory"
    )]
    UnknownDepartment {
        line: usize,
        code: ServiceCode,
        department: DeptCode,
    },
    #[error("line {line}: matter {code}: {department} is both its department and a co-handler")]
    LeadAsCoHandler {
        line: usize,
        code: ServiceCode,
        department: DeptCode,
    },
    #[error("line {line}: matter {code} has request type {value:?}; the types are {}", RequestType::ALL.map(|t| t.as_str()).join(", "))]
    BadRequestType {
        line: usize,
        code: ServiceCode,
        value: String,
    },
    #[error("the catalogue has no matters")]
    Empty,
}

impl CatalogueFileError {
    /// The line of the file the error is about (none: the file as a whole).
    pub fn line(&self) -> Option<usize> {
        use CatalogueFileError as E;
        match self {
            E::Csv { line, .. }
            | E::BadCode { line, .. }
            | E::Duplicate { line, .. }
            | E::Missing { line, .. }
            | E::BadScope { line, .. }
            | E::NoDepartment { line, .. }
            | E::DepartmentForDistrict { line, .. }
            | E::BadDepartment { line, .. }
            | E::UnknownDepartment { line, .. }
            | E::LeadAsCoHandler { line, .. }
            | E::BadRequestType { line, .. } => Some(*line),
            E::Header { .. } | E::Empty => None,
        }
    }
}

#[derive(Deserialize)]
struct CsvRow {
    code: String,
    name: String,
    group: String,
    #[serde(default)]
    subgroup: String,
    scope: String,
    department: String,
    #[serde(default)]
    co_handlers: String,
    request_type: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    description: String,
}

/// A list cell: `;` (or the full-width `；` a Chinese keyboard types) between items, blanks
/// and repeats dropped, order kept.
fn list(cell: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in cell.split([';', '；']).map(str::trim) {
        if !item.is_empty() && !items.iter().any(|i| i == item) {
            items.push(item.to_owned());
        }
    }
    items
}

/// Parses a catalogue file and checks it against `directory` (the one it will run with):
/// codes valid and unique, scope `city` with a department of the directory or `district`
/// without one, co-handlers in the directory, a known request type. All or nothing: the
/// first bad row refuses the whole file, naming its line. The entries carry no attributes
/// and version 0; [`Catalogue::load_file_entries`] stores them.
pub fn from_csv<R: std::io::Read>(
    reader: R,
    directory: &Directory,
) -> Result<Vec<Entry>, CatalogueFileError> {
    use CatalogueFileError as E;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = reader
        .headers()
        .map_err(|e| E::Csv {
            line: 1,
            reason: e.to_string(),
        })?
        .clone();
    for required in CSV_REQUIRED {
        if !headers.iter().any(|h| h == required) {
            return Err(E::Header { missing: required });
        }
    }
    let mut lines: BTreeMap<ServiceCode, usize> = BTreeMap::new();
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| E::Csv {
            line: e.position().map_or(0, |p| p.line() as usize),
            reason: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row: CsvRow = record.deserialize(Some(&headers)).map_err(|e| E::Csv {
            line,
            reason: e.to_string(),
        })?;
        let code = ServiceCode::parse(&row.code).map_err(|e| E::BadCode {
            line,
            code: row.code.clone(),
            reason: e.to_string(),
        })?;
        if let Some(&first_line) = lines.get(&code) {
            return Err(E::Duplicate {
                line,
                code,
                first_line,
            });
        }
        lines.insert(code.clone(), line);
        for (field, value) in [("name", &row.name), ("group", &row.group)] {
            if value.is_empty() {
                return Err(E::Missing { line, code, field });
            }
        }
        let department = |raw: &str| -> Result<DeptCode, CatalogueFileError> {
            let d = DeptCode::parse(raw).map_err(|e| E::BadDepartment {
                line,
                code: code.clone(),
                department: raw.to_owned(),
                reason: e.to_string(),
            })?;
            if directory.contains(&d) {
                Ok(d)
            } else {
                Err(E::UnknownDepartment {
                    line,
                    code: code.clone(),
                    department: d,
                })
            }
        };
        let scope = match row.scope.to_ascii_lowercase().as_str() {
            "city" if row.department.is_empty() => return Err(E::NoDepartment { line, code }),
            "city" => Scope::City {
                department: department(&row.department)?,
            },
            "district" if !row.department.is_empty() => {
                return Err(E::DepartmentForDistrict {
                    line,
                    code,
                    department: row.department,
                });
            }
            "district" => Scope::District,
            _ => {
                return Err(E::BadScope {
                    line,
                    code,
                    scope: row.scope,
                });
            }
        };
        let co_handlers = list(&row.co_handlers)
            .iter()
            .map(|d| department(d))
            .collect::<Result<Vec<_>, _>>()?;
        if let Scope::City { department } = &scope
            && co_handlers.contains(department)
        {
            return Err(E::LeadAsCoHandler {
                line,
                code,
                department: department.clone(),
            });
        }
        let default_request_type =
            RequestType::parse(&row.request_type).ok_or_else(|| E::BadRequestType {
                line,
                code: code.clone(),
                value: row.request_type.clone(),
            })?;
        // The second-level class is a keyword too, as in the demo catalogue: people name
        // the class ("供水") as often as the matter.
        let mut keywords = list(&row.subgroup);
        for k in list(&row.keywords) {
            if !keywords.contains(&k) {
                keywords.push(k);
            }
        }
        let description = if row.description.is_empty() {
            [row.group.as_str(), row.subgroup.as_str(), row.name.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ")
        } else {
            row.description
        };
        entries.push(Entry {
            code,
            name: row.name,
            description,
            group: row.group,
            keywords,
            default_request_type,
            scope,
            co_handlers,
            attributes: Vec::new(),
            version: 0,
        });
    }
    if entries.is_empty() {
        return Err(E::Empty);
    }
    Ok(entries)
}

/// What loading a catalogue file changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// New matters (version 1).
    pub added: Vec<ServiceCode>,
    /// Matters whose row differed from the catalogue (version bumped).
    pub changed: Vec<ServiceCode>,
    pub unchanged: usize,
    /// Matters in the catalogue but not in the file: left as they are (tickets name them;
    /// nothing deletes a matter).
    pub not_in_file: Vec<ServiceCode>,
}

/// Whether `file`'s row says the same as the stored `entry` (what a file can say: attributes
/// and the version are not in it).
fn same_as_file(entry: &Entry, file: &Entry) -> bool {
    entry.name == file.name
        && entry.description == file.description
        && entry.group == file.group
        && entry.keywords == file.keywords
        && entry.default_request_type == file.default_request_type
        && entry.scope == file.scope
        && entry.co_handlers == file.co_handlers
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

impl Catalogue {
    /// Brings the catalogue to a file's `entries` ([`from_csv`]) through [`Catalogue::update`],
    /// so each change is versioned and audited (`changed_by`, `reason`): a new matter gets
    /// version 1, a changed row the next version, an unchanged row nothing, so loading the
    /// same file again writes nothing. Attributes (not in the file) are kept. Matters not in
    /// the file stay as they are. Each matter is its own transaction: a failure half-way
    /// leaves the rest for a re-run, which picks up where this one stopped.
    pub async fn load_file_entries(
        &self,
        entries: Vec<Entry>,
        changed_by: &str,
        reason: &str,
    ) -> Result<LoadReport, CatalogueError> {
        let mut report = LoadReport::default();
        let in_file: std::collections::BTreeSet<ServiceCode> =
            entries.iter().map(|e| e.code.clone()).collect();
        for mut entry in entries {
            match self.get(&entry.code).await {
                Some(current) if same_as_file(&current, &entry) => report.unchanged += 1,
                Some(current) => {
                    entry.attributes = current.attributes;
                    let code = entry.code.clone();
                    self.update(entry, Some(current.version), changed_by, reason)
                        .await?;
                    report.changed.push(code);
                }
                None => {
                    let code = entry.code.clone();
                    self.update(entry, None, changed_by, reason).await?;
                    report.added.push(code);
                }
            }
        }
        report.not_in_file = self
            .all()
            .await
            .into_iter()
            .map(|e| e.code)
            .filter(|c| !in_file.contains(c))
            .collect();
        Ok(report)
    }

    /// Matters naming a department (lead or co-handler) that is not in the directory, e.g.
    /// after a new directory dropped one: tickets on them cannot be dispatched until they are
    /// changed.
    pub async fn dangling(&self) -> Vec<(ServiceCode, DeptCode)> {
        let mut dangling = Vec::new();
        for e in self.all().await {
            let lead = match &e.scope {
                Scope::City { department } => Some(department),
                Scope::District => None,
            };
            for d in lead.into_iter().chain(&e.co_handlers) {
                if !self.directory.contains(d) {
                    dangling.push((e.code.clone(), d.clone()));
                }
            }
        }
        dangling
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

    const HEADER: &str =
        "code,name,group,subgroup,scope,department,co_handlers,request_type,keywords\n";

    fn directory() -> Directory {
        Directory::from_csv(
            "code,name,name_en,level,parent\nX-A,甲局,,city,\nX-B,乙局,,city,\nX-D,区,,district,\nX-W,水司,,utility,X-A\n"
                .as_bytes(),
        )
        .expect("directory")
    }

    fn parse(rows: &str) -> Result<Vec<Entry>, CatalogueFileError> {
        from_csv(format!("{HEADER}{rows}").as_bytes(), &directory())
    }

    #[test]
    fn a_catalogue_file_becomes_entries() {
        let entries = parse(
            "01.01.001,停水,公用事业,供水,city,X-W,X-A；X-B;X-A,help_request,停水; 没水 ;供水\n\
             02.01.001,路灯不亮,城乡建设,市政设施,District,,X-A,投诉,\n",
        )
        .expect("parses");
        assert_eq!(entries.len(), 2);
        let water = &entries[0];
        assert_eq!(water.code.as_str(), "01.01.001");
        assert_eq!(
            water.scope,
            Scope::City {
                department: DeptCode::parse("X-W").expect("code")
            }
        );
        let co: Vec<&str> = water.co_handlers.iter().map(DeptCode::as_str).collect();
        assert_eq!(co, ["X-A", "X-B"]);
        assert_eq!(water.keywords, ["供水", "停水", "没水"]);
        assert_eq!(water.description, "公用事业 / 供水 / 停水");
        assert_eq!(water.default_request_type, RequestType::HelpRequest);
        let lamp = &entries[1];
        assert_eq!(lamp.scope, Scope::District);
        assert_eq!(lamp.default_request_type, RequestType::Complaint);
        // Without the optional columns.
        let minimal = from_csv(
            "code,name,group,scope,department,request_type\nA1,甲,乙,city,X-A,consultation\n"
                .as_bytes(),
            &directory(),
        )
        .expect("minimal columns");
        assert_eq!(minimal[0].description, "乙 / 甲");
        assert!(minimal[0].keywords.is_empty());
    }

    #[test]
    fn the_example_city_catalogue_fits_its_directory_and_not_the_demo() {
        let departments = include_str!("../../../deploy/seed/examples/othercity-departments.csv");
        let catalogue = include_str!("../../../deploy/seed/examples/othercity-catalogue.csv");
        let directory = Directory::from_csv(departments.as_bytes()).expect("directory");
        let entries = from_csv(catalogue.as_bytes(), &directory).expect("catalogue");
        assert!(entries.len() >= 20);
        assert!(entries.iter().any(|e| e.scope == Scope::District));
        let err = from_csv(catalogue.as_bytes(), &Directory::demo()).expect_err("LH-* unknown");
        assert!(
            matches!(err, CatalogueFileError::UnknownDepartment { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn an_unknown_department_is_refused_with_its_line() {
        let err = parse(
            "01.01.001,停水,公用事业,供水,city,X-W,,help_request,\n\
             01.01.002,停电,公用事业,供电,city,X-POWER,,help_request,\n",
        )
        .expect_err("refused");
        assert_eq!(
            err,
            CatalogueFileError::UnknownDepartment {
                line: 3,
                code: ServiceCode::parse("01.01.002").expect("code"),
                department: DeptCode::parse("X-POWER").expect("code"),
            }
        );
        assert_eq!(
            err.to_string(),
            "line 3: matter 01.01.002 names department X-POWER, which is not in the directory"
        );
        let co = parse("01.01.001,停水,公用事业,供水,city,X-W,X-A;X-Z,help_request,\n")
            .expect_err("unknown co-handler");
        assert!(
            matches!(co, CatalogueFileError::UnknownDepartment { line: 2, .. }),
            "{co:?}"
        );
    }

    #[test]
    fn a_bad_scope_is_refused_with_its_line() {
        let bad = parse("01.01.001,停水,公用事业,供水,citywide,X-W,,help_request,\n")
            .expect_err("refused");
        assert!(
            matches!(bad, CatalogueFileError::BadScope { line: 2, .. }),
            "{bad:?}"
        );
        let city_without =
            parse("01.01.001,停水,公用事业,供水,city,,,help_request,\n").expect_err("refused");
        assert!(matches!(
            city_without,
            CatalogueFileError::NoDepartment { line: 2, .. }
        ));
        let district_with =
            parse("01.01.001,路灯,城建,市政,district,X-D,,complaint,\n").expect_err("refused");
        assert!(matches!(
            district_with,
            CatalogueFileError::DepartmentForDistrict { line: 2, .. }
        ));
    }

    #[test]
    fn bad_rows_name_their_line() {
        type Expect = fn(&CatalogueFileError) -> bool;
        let ok = "01.01.001,停水,公用事业,供水,city,X-W,,help_request,\n";
        let cases: [(&str, Expect); 8] = [
            (
                "01 01,停水,公用事业,供水,city,X-W,,help_request,\n",
                |e| matches!(e, CatalogueFileError::BadCode { line: 3, .. }),
            ),
            (
                "01.01.001,又一个,公用事业,供水,city,X-W,,help_request,\n",
                |e| {
                    matches!(
                        e,
                        CatalogueFileError::Duplicate {
                            line: 3,
                            first_line: 2,
                            ..
                        }
                    )
                },
            ),
            (
                "01.01.002,,公用事业,供水,city,X-W,,help_request,\n",
                |e| {
                    matches!(
                        e,
                        CatalogueFileError::Missing {
                            line: 3,
                            field: "name",
                            ..
                        }
                    )
                },
            ),
            ("01.01.002,停电,,供电,city,X-W,,help_request,\n", |e| {
                matches!(
                    e,
                    CatalogueFileError::Missing {
                        line: 3,
                        field: "group",
                        ..
                    }
                )
            }),
            (
                "01.01.002,停电,公用事业,供电,city,x w,,help_request,\n",
                |e| matches!(e, CatalogueFileError::BadDepartment { line: 3, .. }),
            ),
            (
                "01.01.002,停电,公用事业,供电,city,X-W,X-W,help_request,\n",
                |e| matches!(e, CatalogueFileError::LeadAsCoHandler { line: 3, .. }),
            ),
            (
                "01.01.002,停电,公用事业,供电,city,X-W,,urgent,\n",
                |e| matches!(e, CatalogueFileError::BadRequestType { line: 3, .. }),
            ),
            ("01.01.002,停电,公用事业,供电,city,X-W\n", |e| {
                matches!(e, CatalogueFileError::Csv { line: 3, .. })
            }),
        ];
        for (row, expected) in cases {
            let err = parse(&format!("{ok}{row}")).expect_err(row);
            assert!(expected(&err), "{row:?}: {err:?}");
            assert!(err.to_string().starts_with("line 3: "), "{err}");
        }
        assert_eq!(parse("").expect_err("empty"), CatalogueFileError::Empty);
        let header = from_csv(
            "code,name,group,scope,request_type\n".as_bytes(),
            &directory(),
        )
        .expect_err("no department column");
        assert_eq!(
            header,
            CatalogueFileError::Header {
                missing: "department"
            }
        );
    }
}
