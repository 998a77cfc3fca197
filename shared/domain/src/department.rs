//! Departments (承办单位) and their hierarchy: city > district > street/town.
//!
//! A city department or a district government receives tickets from the centre; a district may
//! pass a ticket down to one of its streets (二级派单). The directory is reference data loaded at
//! start-up (the demo city's is `deploy/seed/departments.csv`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::DeptCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentLevel {
    /// A city-level department (市直部门), e.g. the housing bureau.
    City,
    /// A district government (区), e.g. Tianhe.
    District,
    /// A street office or town (街道/镇) under a district.
    Street,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub code: DeptCode,
    pub name: String,
    pub name_en: String,
    pub level: DepartmentLevel,
    pub parent: Option<DeptCode>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("duplicate department {0}")]
    Duplicate(DeptCode),
    #[error("{child} names parent {parent}, which is not in the directory")]
    UnknownParent { child: DeptCode, parent: DeptCode },
    #[error("a street ({0}) must have a district as its parent")]
    StreetWithoutDistrict(DeptCode),
}

/// Every department the hotline dispatches to.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_code: BTreeMap<DeptCode, Department>,
}

#[derive(Deserialize)]
struct Row {
    code: String,
    name: String,
    name_en: String,
    level: DepartmentLevel,
    parent: Option<String>,
}

impl Directory {
    /// The demo city (Guangzhou's 11 districts, its main departments and some streets).
    pub fn demo() -> Directory {
        #[allow(clippy::expect_used)]
        Directory::from_csv(DEMO_DEPARTMENTS)
            .expect("the demo directory shipped with the code parses")
    }

    /// Parses `code,name,name_en,level,parent` rows. All or nothing.
    pub fn from_csv(text: &str) -> Result<Directory, DirectoryError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut by_code = BTreeMap::new();
        for (index, row) in reader.deserialize::<Row>().enumerate() {
            let line = index + 2;
            let row = row.map_err(|e| DirectoryError::Line {
                line,
                reason: e.to_string(),
            })?;
            let code = DeptCode::parse(&row.code).map_err(|e| DirectoryError::Line {
                line,
                reason: e.to_string(),
            })?;
            let parent = match row.parent.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) => Some(DeptCode::parse(p).map_err(|e| DirectoryError::Line {
                    line,
                    reason: e.to_string(),
                })?),
            };
            let dept = Department {
                code: code.clone(),
                name: row.name,
                name_en: row.name_en,
                level: row.level,
                parent,
            };
            if by_code.insert(code.clone(), dept).is_some() {
                return Err(DirectoryError::Duplicate(code));
            }
        }
        let directory = Directory { by_code };
        for dept in directory.by_code.values() {
            if let Some(parent) = &dept.parent {
                let Some(p) = directory.by_code.get(parent) else {
                    return Err(DirectoryError::UnknownParent {
                        child: dept.code.clone(),
                        parent: parent.clone(),
                    });
                };
                if dept.level == DepartmentLevel::Street && p.level != DepartmentLevel::District {
                    return Err(DirectoryError::StreetWithoutDistrict(dept.code.clone()));
                }
            } else if dept.level == DepartmentLevel::Street {
                return Err(DirectoryError::StreetWithoutDistrict(dept.code.clone()));
            }
        }
        Ok(directory)
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
mod tests {
    use super::*;

    #[test]
    fn demo_directory_has_eleven_districts_with_streets() {
        let dir = Directory::demo();
        assert_eq!(dir.districts().count(), 11);
        let th = DeptCode::parse("GZ-TH").expect("code");
        let street = dir
            .iter()
            .find(|d| d.parent.as_ref() == Some(&th))
            .expect("Tianhe has streets");
        assert!(dir.is_street_of(&th, &street.code));
        assert!(!dir.is_street_of(&street.code, &th));
    }

    #[test]
    fn broken_directories_are_refused_whole() {
        let missing_parent = "code,name,name_en,level,parent\nGZ-X-1,a,a,street,GZ-X\n";
        assert!(matches!(
            Directory::from_csv(missing_parent),
            Err(DirectoryError::UnknownParent { .. })
        ));
        let dup = "code,name,name_en,level,parent\nGZ-A,a,a,city,\nGZ-A,b,b,city,\n";
        assert!(matches!(
            Directory::from_csv(dup),
            Err(DirectoryError::Duplicate(_))
        ));
        let bad = "code,name,name_en,level,parent\ngz a,a,a,city,\n";
        assert!(matches!(
            Directory::from_csv(bad),
            Err(DirectoryError::Line { line: 2, .. })
        ));
    }
}
