//! Departments (承办单位) and their hierarchy, loaded from a city's own directory file.
//!
//! - [`DepartmentLevel`]: city department, district, street/town, community/village, public
//!   utility; each level may hang only under certain others (the table in docs/directory.md).
//! - [`Directory`]: every department the hotline dispatches to, parsed whole from CSV
//!   (`code,name,name_en,level,parent`) by [`Directory::from_csv`]: codes unique, parents
//!   present, of a level the child may hang under, and no cycles. A file with any bad row is
//!   refused whole ([`DirectoryError`] names the line), so a half-read directory never runs.
//! - [`Directory::demo`]: the demo city's (`deploy/seed/departments.csv`).
//!
//! A city department or a district government receives tickets from the centre; a district may
//! pass a ticket down to one of its streets (二级派单). The parent is also whom a department
//! answers to (SLA's supervising authority). Where a deployment keeps its directory, and how
//! services get it: `hotline_bus::directory`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::DeptCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentLevel {
    /// A city-level department (市直部门), e.g. the housing bureau, or a unit under one.
    City,
    /// A district or county government (区/县).
    District,
    /// A street office or town (街道/镇) under a district.
    Street,
    /// A residents' community or village committee (社区/村) under a street.
    Community,
    /// A public utility (公共事业单位: water, power, gas, telecoms, public transport), on its
    /// own or under the city department or district that supervises it.
    Utility,
}

impl DepartmentLevel {
    pub const ALL: [DepartmentLevel; 5] = [
        DepartmentLevel::City,
        DepartmentLevel::District,
        DepartmentLevel::Street,
        DepartmentLevel::Community,
        DepartmentLevel::Utility,
    ];

    /// The name in the directory file (and in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentLevel::City => "city",
            DepartmentLevel::District => "district",
            DepartmentLevel::Street => "street",
            DepartmentLevel::Community => "community",
            DepartmentLevel::Utility => "utility",
        }
    }

    /// Accepts the English name in any case.
    pub fn parse(raw: &str) -> Option<DepartmentLevel> {
        let raw = raw.trim();
        DepartmentLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(raw))
    }

    /// The levels a department of this level may hang under; `top` says whether it may also
    /// have no parent. The hierarchy is what dispatch downwards and SLA's "who answers to
    /// whom" walk, so a street under a bureau would send its overdue warnings nowhere useful.
    fn parents(self) -> (&'static [DepartmentLevel], bool) {
        use DepartmentLevel as L;
        match self {
            L::City => (&[L::City], true),
            L::District => (&[], true),
            L::Street => (&[L::District], false),
            L::Community => (&[L::Street], false),
            L::Utility => (&[L::City, L::District], true),
        }
    }
}

impl std::fmt::Display for DepartmentLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub code: DeptCode,
    pub name: String,
    pub name_en: String,
    pub level: DepartmentLevel,
    pub parent: Option<DeptCode>,
}

/// Why a directory file was refused. Every variant names the line (the header is line 1);
/// the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("line {line}: {reason}")]
    Csv { line: usize, reason: String },
    #[error(
        "the header must name the columns code,name,name_en,level,parent; {missing} is missing"
    )]
    Header { missing: &'static str },
    #[error("line {line}: department code {code:?}: {reason}")]
    BadCode {
        line: usize,
        code: String,
        reason: String,
    },
    #[error("line {line}: {code} has no name")]
    NoName { line: usize, code: DeptCode },
    #[error(
        "line {line}: {code} has level {level:?}; the levels are city, district, street, community, utility"
    )]
    BadLevel {
        line: usize,
        code: DeptCode,
        level: String,
    },
    #[error("line {line}: {code} is already on line {first_line}")]
    Duplicate {
        line: usize,
        code: DeptCode,
        first_line: usize,
    },
    #[error("line {line}: {child} names parent {parent}, which is not in the directory")]
    UnknownParent {
        line: usize,
        child: DeptCode,
        parent: DeptCode,
    },
    #[error("line {line}: {child} is a {level}, which needs a parent ({expected})")]
    MissingParent {
        line: usize,
        child: DeptCode,
        level: DepartmentLevel,
        expected: String,
    },
    #[error(
        "line {line}: {child} is a {level} under {parent}, a {parent_level}; a {level} may hang under: {expected}"
    )]
    ParentLevel {
        line: usize,
        child: DeptCode,
        level: DepartmentLevel,
        parent: DeptCode,
        parent_level: DepartmentLevel,
        expected: String,
    },
    #[error("line {line}: {code} is its own ancestor (its parents go round in a circle)")]
    Cycle { line: usize, code: DeptCode },
    #[error("the directory has no departments")]
    Empty,
}

impl DirectoryError {
    /// The line of the file the error is about (none: the file as a whole).
    pub fn line(&self) -> Option<usize> {
        match self {
            DirectoryError::Csv { line, .. }
            | DirectoryError::BadCode { line, .. }
            | DirectoryError::NoName { line, .. }
            | DirectoryError::BadLevel { line, .. }
            | DirectoryError::Duplicate { line, .. }
            | DirectoryError::UnknownParent { line, .. }
            | DirectoryError::MissingParent { line, .. }
            | DirectoryError::ParentLevel { line, .. }
            | DirectoryError::Cycle { line, .. } => Some(*line),
            DirectoryError::Header { .. } | DirectoryError::Empty => None,
        }
    }
}

/// Every department the hotline dispatches to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    by_code: BTreeMap<DeptCode, Department>,
}

/// A row as written; parsed into a [`Department`] with its line for the errors.
#[derive(Deserialize)]
struct Row {
    code: String,
    name: String,
    #[serde(default)]
    name_en: String,
    level: String,
    #[serde(default)]
    parent: String,
}

/// The columns a directory file has, in the order [`Directory::to_csv`] writes them.
const COLUMNS: [&str; 5] = ["code", "name", "name_en", "level", "parent"];

impl Directory {
    /// The demo city (Guangzhou's 11 districts, its main departments and some streets).
    pub fn demo() -> Directory {
        #[allow(clippy::expect_used)]
        Directory::from_csv(DEMO_DEPARTMENTS.as_bytes())
            .expect("the demo directory shipped with the code parses")
    }

    /// Parses a directory file: a header naming `code,name,name_en,level,parent` (any order;
    /// `name_en` may be left out), then one department a row. Blank parents mean none. All or
    /// nothing: the first bad row refuses the whole file, naming its line.
    pub fn from_csv<R: std::io::Read>(reader: R) -> Result<Directory, DirectoryError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = reader
            .headers()
            .map_err(|e| DirectoryError::Csv {
                line: 1,
                reason: e.to_string(),
            })?
            .clone();
        for required in ["code", "name", "level", "parent"] {
            if !headers.iter().any(|h| h == required) {
                return Err(DirectoryError::Header { missing: required });
            }
        }
        let mut by_code: BTreeMap<DeptCode, Department> = BTreeMap::new();
        let mut lines: BTreeMap<DeptCode, usize> = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| DirectoryError::Csv {
                line: e.position().map_or(0, |p| p.line() as usize),
                reason: e.to_string(),
            })?;
            // The header is line 1; a record's line is where it starts.
            let line = record.position().map_or(0, |p| p.line() as usize);
            let row: Row = record
                .deserialize(Some(&headers))
                .map_err(|e| DirectoryError::Csv {
                    line,
                    reason: e.to_string(),
                })?;
            let code = DeptCode::parse(&row.code).map_err(|e| DirectoryError::BadCode {
                line,
                code: row.code.clone(),
                reason: e.to_string(),
            })?;
            if row.name.is_empty() {
                return Err(DirectoryError::NoName { line, code });
            }
            let level =
                DepartmentLevel::parse(&row.level).ok_or_else(|| DirectoryError::BadLevel {
                    line,
                    code: code.clone(),
                    level: row.level.clone(),
                })?;
            let parent = match row.parent.as_str() {
                "" => None,
                p => Some(DeptCode::parse(p).map_err(|e| DirectoryError::BadCode {
                    line,
                    code: p.to_owned(),
                    reason: format!("as the parent of {code}: {e}"),
                })?),
            };
            if let Some(&first_line) = lines.get(&code) {
                return Err(DirectoryError::Duplicate {
                    line,
                    code,
                    first_line,
                });
            }
            lines.insert(code.clone(), line);
            by_code.insert(
                code.clone(),
                Department {
                    code,
                    name: row.name,
                    name_en: row.name_en,
                    level,
                    parent,
                },
            );
        }
        if by_code.is_empty() {
            return Err(DirectoryError::Empty);
        }
        let directory = Directory { by_code };
        // Checked in file order, so the error names the first bad line a person would find.
        let mut in_file_order: Vec<(&usize, &DeptCode)> =
            lines.iter().map(|(code, line)| (line, code)).collect();
        in_file_order.sort();
        for (&line, code) in in_file_order {
            if let Some(dept) = directory.by_code.get(code) {
                directory.check_parent(dept, line)?;
            }
        }
        Ok(directory)
    }

    fn check_parent(&self, dept: &Department, line: usize) -> Result<(), DirectoryError> {
        let (allowed, top) = dept.level.parents();
        let expected = || {
            let mut names: Vec<&str> = allowed.iter().map(|l| l.as_str()).collect();
            if top {
                names.push("none");
            }
            names.join(" or ")
        };
        let Some(parent) = &dept.parent else {
            if top {
                return Ok(());
            }
            return Err(DirectoryError::MissingParent {
                line,
                child: dept.code.clone(),
                level: dept.level,
                expected: expected(),
            });
        };
        let Some(p) = self.by_code.get(parent) else {
            return Err(DirectoryError::UnknownParent {
                line,
                child: dept.code.clone(),
                parent: parent.clone(),
            });
        };
        if !allowed.contains(&p.level) {
            return Err(DirectoryError::ParentLevel {
                line,
                child: dept.code.clone(),
                level: dept.level,
                parent: parent.clone(),
                parent_level: p.level,
                expected: expected(),
            });
        }
        // Only same-level links (a city unit under a city unit) can close a circle; walking
        // up at most len() steps finds one.
        let mut up = Some(parent);
        for _ in 0..self.by_code.len() {
            match up {
                None => return Ok(()),
                Some(code) if code == &dept.code => {
                    return Err(DirectoryError::Cycle {
                        line,
                        code: dept.code.clone(),
                    });
                }
                Some(code) => up = self.by_code.get(code).and_then(|d| d.parent.as_ref()),
            }
        }
        Err(DirectoryError::Cycle {
            line,
            code: dept.code.clone(),
        })
    }

    /// The directory as a file [`Directory::from_csv`] reads back to the same directory, in
    /// code order: the form it is stored in.
    pub fn to_csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        // Writing to memory cannot fail, and every field is a plain string.
        let mut rows = vec![COLUMNS.map(str::to_owned)];
        rows.extend(self.by_code.values().map(|d| {
            [
                d.code.to_string(),
                d.name.clone(),
                d.name_en.clone(),
                d.level.as_str().to_owned(),
                d.parent
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ]
        }));
        for row in rows {
            let _ = writer.write_record(&row);
        }
        let bytes = writer.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    pub fn get(&self, code: &DeptCode) -> Option<&Department> {
        self.by_code.get(code)
    }

    pub fn contains(&self, code: &DeptCode) -> bool {
        self.by_code.contains_key(code)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Department> {
        self.by_code.values()
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Districts, in code order.
    pub fn districts(&self) -> impl Iterator<Item = &Department> {
        self.by_code
            .values()
            .filter(|d| d.level == DepartmentLevel::District)
    }

    /// How many departments each level has, in level order (for the operator's summary).
    pub fn count_by_level(&self) -> Vec<(DepartmentLevel, usize)> {
        DepartmentLevel::ALL
            .into_iter()
            .map(|l| (l, self.by_code.values().filter(|d| d.level == l).count()))
            .collect()
    }

    /// True when `child` is a street directly under the district `parent` (二级派单 target).
    pub fn is_street_of(&self, parent: &DeptCode, child: &DeptCode) -> bool {
        self.by_code.get(child).is_some_and(|c| {
            c.level == DepartmentLevel::Street && c.parent.as_ref() == Some(parent)
        })
    }
}

/// The demo city's departments, shipped so that a fresh checkout runs a realistic hotline.
pub const DEMO_DEPARTMENTS: &str = include_str!("../../../deploy/seed/departments.csv");

#[cfg(test)]
mod tests;
