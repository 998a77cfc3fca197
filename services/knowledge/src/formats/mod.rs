//! Import and export of knowledge items: FreeMind mind maps, OPML outlines and CSV sheets.
//!
//! The seed's knowledge base is drawn as mind maps (思维导图), so departments keep editing their
//! items in a mind-map tool, an outliner or a spreadsheet and hand the file to the centre. All
//! three formats carry every field of an [`Item`] and round-trip without loss:
//! `import(f, &export(f, items)?)? == items` for any items that pass [`Item::check`].
//!
//! ## Common rules
//!
//! - [`import`] is all or nothing: every item of the file passes [`Item::check`], every code
//!   (items' and nodes') is unique across the whole file, or the import fails with an
//!   [`ImportError`] that names the line and the reason, and returns nothing.
//! - Input must be UTF-8 (a byte-order mark is accepted). Files are limited in size, node count
//!   and depth ([`Limits`], [`MAX_DEPTH`]) before any tree is built, so a hostile file cannot
//!   exhaust memory or the stack. XML entities other than the five predefined ones and
//!   character references are refused, and so are DTDs: no entity expansion attack works.
//! - Field names are the same everywhere (see [`fields`]): `code`, `kind`, `class`,
//!   `matter_code`, `owner` and the leaf fields `answer`, `legal_basis`, `departments`,
//!   `procedure`, `materials`, `fees`, `time_limit`, `contact`, `effective_from`, `expires_on`
//!   (`YYYY-MM-DD`), `keywords`, `synonyms`. Empty text fields and empty lists are omitted on
//!   export and default to empty on import.
//! - `kind` is `item`, `situation` or `answer` (or `collection`, below; 事项/情形/答案 are
//!   accepted too). Export always writes it; on import a node without `kind` is a situation when
//!   it has children and an answer when it has none.
//! - A field that does not belong where it is written (an `answer` on a situation, an `owner`
//!   on a node) or an unknown field name is an error rather than silently dropped.
//!
//! ## FreeMind `.mm` ([`Format::FreeMind`])
//!
//! `<map version="1.0.1">` holds one root `<node>`. If the root has `kind` = `collection` its
//! child nodes are the items (this is how several items are exported); otherwise the root is
//! the item. A node's `TEXT` is the item's title, the situation's label or the answer's title.
//! All fields are FreeMind attributes (`<attribute NAME="code" VALUE="YB-TJ-1"/>`, shown in
//! FreeMind's attribute table). List fields are repeated attributes, one per entry, named in the
//! singular: `department`, `material`, `keyword`, `synonym` (a plural attribute with the list
//! syntax below is accepted too). Newlines and tabs are written as character references
//! (`&#xA;`), as FreeMind itself does. On import, an answer leaf without an `answer` attribute
//! takes its answer from FreeMind's note (`<richcontent TYPE="NOTE">`, HTML reduced to text,
//! one line per paragraph); FreeMind's own node attributes (`ID`, `CREATED`, `POSITION`, …) and
//! elements (`font`, `icon`, `edge`, …) are ignored.
//!
//! ## OPML 2.0 ([`Format::Opml`])
//!
//! `<opml version="2.0"><head><title>…</title></head><body>` holds one `<outline>` per item
//! (an outline with `kind="collection"` may group items too). An outline's `text` is its title
//! or label; the fields are outline attributes (OPML allows custom attributes), except the
//! answer, which goes in `_note`, the attribute outliners show as the row's note (`answer` is
//! accepted on import). List fields use the list syntax below. OPML's own attributes (`type`,
//! `created`, `isComment`, …) and other `_`-prefixed attributes are ignored.
//!
//! ## CSV ([`Format::Csv`])
//!
//! UTF-8 with a byte-order mark (so that spreadsheets open Chinese text correctly), a header
//! row, then one row per node, in tree order: `item_code, item_title, class, matter_code, owner,
//! code, parent_code, kind, title, answer, legal_basis, departments, procedure, materials, fees,
//! time_limit, contact, effective_from, expires_on, keywords, synonyms` ([`CSV_COLUMNS`]).
//! The item's fields are repeated on each of its rows and must agree (later rows may leave
//! them blank). `parent_code` is empty
//! for the item's first-level nodes; children keep their row order. Rows may come in any order
//! (a child before its parent is fine); parent links that loop are refused
//! ([`ImportError::Cycle`]), and so are links to codes not in the same item
//! ([`ImportError::UnknownParent`]). Columns may be reordered; `parent_code`, `kind` and the
//! answer columns may be left out (a file without `parent_code` is flat). A byte-order mark is
//! optional on import.
//!
//! ## List syntax (CSV cells, OPML attributes)
//!
//! Entries separated by `;` (or the full-width `；`), each trimmed: `户口簿;出生医学证明`. When an
//! entry would not survive that (it is empty, contains a semicolon, starts or ends with
//! whitespace, or the first entry starts with `[`), export writes the list as a JSON array of
//! strings instead (`["a;b"," c"]`), which import recognises by the leading `[`.

mod csv;
mod freemind;
mod opml;
mod tree;
mod xml;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use hotline_domain::ItemCode;
use hotline_domain::ids::IdError;

pub use crate::model::MAX_DEPTH;
use crate::model::{Item, ModelError, Node};

pub use self::csv::COLUMNS as CSV_COLUMNS;

/// The field names shared by all formats.
pub mod fields {
    pub const CODE: &str = "code";
    pub const KIND: &str = "kind";
    pub const CLASS: &str = "class";
    pub const MATTER_CODE: &str = "matter_code";
    pub const OWNER: &str = "owner";
    pub const ANSWER: &str = "answer";
    pub const LEGAL_BASIS: &str = "legal_basis";
    pub const DEPARTMENTS: &str = "departments";
    pub const PROCEDURE: &str = "procedure";
    pub const MATERIALS: &str = "materials";
    pub const FEES: &str = "fees";
    pub const TIME_LIMIT: &str = "time_limit";
    pub const CONTACT: &str = "contact";
    pub const EFFECTIVE_FROM: &str = "effective_from";
    pub const EXPIRES_ON: &str = "expires_on";
    pub const KEYWORDS: &str = "keywords";
    pub const SYNONYMS: &str = "synonyms";

    /// `kind` values.
    pub const KIND_COLLECTION: &str = "collection";
    pub const KIND_ITEM: &str = "item";
    pub const KIND_SITUATION: &str = "situation";
    pub const KIND_ANSWER: &str = "answer";
}

/// A file format for knowledge items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// FreeMind mind map (`.mm`), also read by Freeplane, XMind's importer and others.
    FreeMind,
    /// OPML 2.0 outline (`.opml`), read by outliners and many mind-map tools.
    Opml,
    /// CSV, one row per node (`.csv`), for spreadsheets.
    Csv,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::FreeMind, Format::Opml, Format::Csv];

    /// The short name: `freemind`, `opml`, `csv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::FreeMind => "freemind",
            Format::Opml => "opml",
            Format::Csv => "csv",
        }
    }

    /// A format by name or extension, case-insensitive, with or without a leading dot:
    /// `mm`, `freemind`, `opml`, `csv`.
    pub fn from_name(raw: &str) -> Option<Format> {
        let raw = raw.trim();
        let raw = raw.strip_prefix('.').unwrap_or(raw);
        match raw.to_ascii_lowercase().as_str() {
            "mm" | "freemind" => Some(Format::FreeMind),
            "opml" => Some(Format::Opml),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The format of a file name or path by its extension (`医保.mm` → FreeMind).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let (_, ext) = name.trim().rsplit_once('.')?;
        Format::from_name(ext)
    }

    /// The format of a `Content-Type` header value, parameters ignored: `application/x-freemind`,
    /// `text/x-opml` (or `application/x-opml`, `text/opml`), `text/csv` (or `application/csv`).
    /// Generic types such as `application/xml` say nothing and give `None`.
    pub fn from_content_type(raw: &str) -> Option<Format> {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-freemind" | "application/freemind" => Some(Format::FreeMind),
            "text/x-opml" | "application/x-opml" | "text/opml" | "application/opml+xml" => {
                Some(Format::Opml)
            }
            "text/csv" | "application/csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The `Content-Type` to send an export with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::FreeMind => "application/x-freemind",
            Format::Opml => "text/x-opml; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::FreeMind => "mm",
            Format::Opml => "opml",
            Format::Csv => "csv",
        }
    }
}

/// Bounds on what one import may hold; checked while reading, before any tree is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file accepted, in bytes.
    pub max_bytes: usize,
    /// The most nodes (items, situations and answers together) in one file.
    pub max_nodes: usize,
}

/// 32 MiB: far above any real file (the whole demo catalogue is well under 1 MiB).
pub const MAX_IMPORT_BYTES: usize = 32 << 20;
/// 200,000 nodes in one file.
pub const MAX_IMPORT_NODES: usize = 200_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: MAX_IMPORT_BYTES,
            max_nodes: MAX_IMPORT_NODES,
        }
    }
}

/// Why a file was not imported. Nothing of the file is imported when any of these occurs.
///
/// `line` is the 1-based line of the file where the problem was found (for XML, the line where
/// the element's start tag ends; for CSV, the record's line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty")]
    Empty,
    #[error("the file holds more than {max} {what}")]
    TooLarge { what: &'static str, max: usize },
    #[error("line {line}: the file is not UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("line {line}: malformed XML: {reason}")]
    Xml { line: usize, reason: String },
    #[error("line {line}: malformed CSV: {reason}")]
    Csv { line: usize, reason: String },
    /// The file is well-formed but not shaped as the format requires (wrong root element, two
    /// root nodes, a DTD, an item inside an item…).
    #[error("line {line}: {reason}")]
    Structure { line: usize, reason: String },
    /// A required attribute, column or cell is missing or empty.
    #[error("line {line}: {name} is missing")]
    MissingAttribute { line: usize, name: String },
    /// A field name this crate does not know (a typo would otherwise lose data silently).
    #[error("line {line}: unknown field {name}")]
    UnknownField { line: usize, name: String },
    /// A known field where it does not belong: an answer field on a situation, an item field
    /// on a node.
    #[error("line {line}: field {name} does not belong on {code}")]
    MisplacedField {
        line: usize,
        code: String,
        name: String,
    },
    /// A single-valued field given twice.
    #[error("line {line}: field {name} is given twice")]
    RepeatedField { line: usize, name: String },
    #[error("line {line}: {name} {value:?} is not a valid code: {reason}")]
    BadCode {
        line: usize,
        name: String,
        value: String,
        reason: IdError,
    },
    #[error("line {line}: {name} {value:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        line: usize,
        name: String,
        value: String,
    },
    #[error("line {line}: {name} is not a valid list: {reason}")]
    BadList {
        line: usize,
        name: String,
        reason: String,
    },
    #[error(
        "line {line}: unknown class {value:?} (consultation, appeal, incident, priority or guidance)"
    )]
    UnknownClass { line: usize, value: String },
    #[error("line {line}: unknown kind {value:?} (item, situation, answer or collection)")]
    UnknownKind { line: usize, value: String },
    #[error("line {line}: answer {code} has children; only situations do")]
    AnswerWithChildren { line: usize, code: ItemCode },
    /// CSV: two rows of one item disagree on an item field.
    #[error("line {line}: item {item}: {name} differs from the item's first row")]
    InconsistentItem {
        line: usize,
        item: ItemCode,
        name: &'static str,
    },
    /// CSV: a parent code that is not a node of the same item.
    #[error("line {line}: {code}'s parent {parent} is not a node of the same item")]
    UnknownParent {
        line: usize,
        code: ItemCode,
        parent: String,
    },
    /// CSV: parent links that loop (a node that is its own ancestor).
    #[error("{code} is its own ancestor: the parent links form a cycle")]
    Cycle { code: ItemCode },
    #[error("line {line}: the tree is deeper than {max} levels")]
    TooDeep { line: usize, max: usize },
    /// The tree is not well formed ([`Item::check`]) or a code is used twice in the file.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Why items could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Only well-formed items with codes unique across the export are written, so that every
    /// export imports again.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// XML 1.0 cannot carry this character at all (not even escaped). The model refuses such
    /// characters already ([`ModelError::ControlCharacter`]); this stays as the XML writer's own
    /// guard should the two rules ever differ.
    #[error("{code}: {field} holds the control character U+{:04X}, which XML cannot carry", u32::from(*ch))]
    Unrepresentable {
        code: ItemCode,
        field: &'static str,
        ch: char,
    },
    #[error("writing CSV: {0}")]
    Csv(String),
}

/// Reads the items of a file, with the default [`Limits`]. All or nothing.
pub fn import(format: Format, bytes: &[u8]) -> Result<Vec<Item>, ImportError> {
    import_with(format, bytes, Limits::default())
}

/// Reads the items of a file within `limits`. All or nothing.
pub fn import_with(format: Format, bytes: &[u8], limits: Limits) -> Result<Vec<Item>, ImportError> {
    if bytes.len() > limits.max_bytes {
        return Err(ImportError::TooLarge {
            what: "bytes",
            max: limits.max_bytes,
        });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            return Err(ImportError::NotUtf8 { line });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let items = match format {
        Format::FreeMind => freemind::read(text, limits)?,
        Format::Opml => opml::read(text, limits)?,
        Format::Csv => csv::read(text, limits)?,
    };
    check_all(&items)?;
    Ok(items)
}

/// Writes items in `format`. Refuses items that do not pass [`Item::check`] or whose codes
/// clash across items, since such a file would not import again.
pub fn export(format: Format, items: &[Item]) -> Result<Vec<u8>, ExportError> {
    check_all(items)?;
    match format {
        Format::FreeMind => freemind::write(items),
        Format::Opml => opml::write(items),
        Format::Csv => csv::write(items),
    }
}

/// Every item well formed and every code unique across all items.
fn check_all(items: &[Item]) -> Result<(), ModelError> {
    for item in items {
        item.check()?;
    }
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(&item.code) {
            return Err(ModelError::DuplicateCode(item.code.clone()));
        }
    }
    for item in items {
        let mut stack: Vec<&Node> = item.nodes.iter().collect();
        while let Some(node) = stack.pop() {
            if !seen.insert(node.code()) {
                return Err(ModelError::DuplicateCode(node.code().clone()));
            }
            if let Node::Situation { children, .. } = node {
                stack.extend(children);
            }
        }
    }
    Ok(())
}

/// Writes a list in the list syntax (see the module docs): `a;b` when that reads back the
/// same, a JSON array otherwise.
pub(crate) fn encode_list<S: AsRef<str>>(list: &[S]) -> String {
    let plain = list.iter().enumerate().all(|(i, s)| {
        let s = s.as_ref();
        !s.is_empty()
            && s.trim() == s
            && !s.contains([';', '；'])
            && (i != 0 || !s.starts_with('['))
    });
    if plain {
        list.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(";")
    } else {
        let list: Vec<&str> = list.iter().map(AsRef::as_ref).collect();
        serde_json::to_string(&list).unwrap_or_default()
    }
}

/// Reads the list syntax (see the module docs).
pub(crate) fn decode_list(line: usize, name: &str, raw: &str) -> Result<Vec<String>, ImportError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if raw.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(raw).map_err(|e| ImportError::BadList {
            line,
            name: name.to_owned(),
            reason: e.to_string(),
        });
    }
    Ok(raw
        .split([';', '；'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

pub(crate) fn encode_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(crate) fn decode_date(
    line: usize,
    name: &str,
    raw: &str,
) -> Result<Option<NaiveDate>, ImportError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| ImportError::BadDate {
            line,
            name: name.to_owned(),
            value: raw.to_owned(),
        })
}
