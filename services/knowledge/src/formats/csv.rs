//! CSV sheets, one row per node; the mapping is described in the module docs of [`super`].

use std::collections::HashMap;

use hotline_domain::{DeptCode, ItemCode, ServiceCode};

use super::fields as f;
use super::tree::{Kind, parse_class, parse_dept_code, parse_service_code};
use super::{ExportError, ImportError, Limits, decode_date, decode_list, encode_date, encode_list};
use crate::model::{Item, ItemClass, Leaf, MAX_DEPTH, ModelError, Node};

/// The columns, in the order export writes them.
pub const COLUMNS: [&str; 21] = [
    "item_code",
    "item_title",
    f::CLASS,
    f::MATTER_CODE,
    f::OWNER,
    f::CODE,
    "parent_code",
    f::KIND,
    "title",
    f::ANSWER,
    f::LEGAL_BASIS,
    f::DEPARTMENTS,
    f::PROCEDURE,
    f::MATERIALS,
    f::FEES,
    f::TIME_LIMIT,
    f::CONTACT,
    f::EFFECTIVE_FROM,
    f::EXPIRES_ON,
    f::KEYWORDS,
    f::SYNONYMS,
];

const ITEM_CODE: usize = 0;
const ITEM_TITLE: usize = 1;
const CLASS: usize = 2;
const MATTER_CODE: usize = 3;
const OWNER: usize = 4;
const CODE: usize = 5;
const PARENT_CODE: usize = 6;
const KIND: usize = 7;
const TITLE: usize = 8;
/// The leaf fields are the columns from here on.
const FIRST_LEAF_FIELD: usize = 9;
/// Columns that must be in the header; the others default to empty.
const REQUIRED: [usize; 7] = [
    ITEM_CODE,
    ITEM_TITLE,
    CLASS,
    MATTER_CODE,
    OWNER,
    CODE,
    TITLE,
];

/// One node's row, as read.
struct Row {
    line: usize,
    item: usize,
    code: ItemCode,
    parent: Option<String>,
    kind: Option<Kind>,
    title: String,
    /// The leaf columns' cells, `COLUMNS[FIRST_LEAF_FIELD..]`.
    leaf: Vec<String>,
}

/// An item as gathered from its rows.
struct ItemHead {
    code: ItemCode,
    title: String,
    class: ItemClass,
    matter_code: ServiceCode,
    owner: DeptCode,
}

fn csv_error(e: &csv::Error) -> ImportError {
    let line = e.position().map_or(0, |p| p.line());
    ImportError::Csv {
        line: usize::try_from(line).unwrap_or(usize::MAX),
        reason: e.to_string(),
    }
}

pub(crate) fn read(text: &str, limits: Limits) -> Result<Vec<Item>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(record) => record.map_err(|e| csv_error(&e))?,
        None => return Err(ImportError::Empty),
    };
    // For each of COLUMNS, where it is in the file.
    let mut at: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        let Some(col) = COLUMNS.iter().position(|c| *c == name) else {
            if name.is_empty() {
                continue;
            }
            return Err(ImportError::UnknownField {
                line: 1,
                name: name.to_owned(),
            });
        };
        if at[col].replace(i).is_some() {
            return Err(ImportError::RepeatedField {
                line: 1,
                name: name.to_owned(),
            });
        }
    }
    if let Some(&missing) = REQUIRED.iter().find(|&&col| at[col].is_none()) {
        return Err(ImportError::MissingAttribute {
            line: 1,
            name: COLUMNS[missing].to_owned(),
        });
    }

    let mut items: Vec<ItemHead> = Vec::new();
    let mut item_at: HashMap<ItemCode, usize> = HashMap::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut row_at: HashMap<ItemCode, usize> = HashMap::new();
    for record in records {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = record
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if record.len() > header.len() {
            return Err(ImportError::Csv {
                line,
                reason: format!("{} cells, the header has {}", record.len(), header.len()),
            });
        }
        if rows.len() >= limits.max_nodes {
            return Err(ImportError::TooLarge {
                what: "nodes",
                max: limits.max_nodes,
            });
        }
        let cell = |col: usize| at[col].and_then(|i| record.get(i)).unwrap_or("");
        let required = |col: usize| {
            let raw = cell(col);
            if raw.trim().is_empty() {
                Err(ImportError::MissingAttribute {
                    line,
                    name: COLUMNS[col].to_owned(),
                })
            } else {
                Ok(raw)
            }
        };
        let code_in = |col: usize| {
            let raw = required(col)?;
            ItemCode::parse(raw).map_err(|reason| ImportError::BadCode {
                line,
                name: COLUMNS[col].to_owned(),
                value: raw.to_owned(),
                reason,
            })
        };

        let item_code = code_in(ITEM_CODE)?;
        let item = match item_at.get(&item_code) {
            Some(&i) => {
                // Later rows repeat the item's fields (or leave them blank).
                let head = &items[i];
                let differs = |col: usize, same: bool| {
                    if cell(col).trim().is_empty() || same {
                        Ok(())
                    } else {
                        Err(ImportError::InconsistentItem {
                            line,
                            item: item_code.clone(),
                            name: COLUMNS[col],
                        })
                    }
                };
                differs(ITEM_TITLE, cell(ITEM_TITLE) == head.title)?;
                differs(CLASS, ItemClass::parse(cell(CLASS)) == Some(head.class))?;
                differs(
                    MATTER_CODE,
                    ServiceCode::parse(cell(MATTER_CODE)).ok().as_ref() == Some(&head.matter_code),
                )?;
                differs(
                    OWNER,
                    DeptCode::parse(cell(OWNER)).ok().as_ref() == Some(&head.owner),
                )?;
                i
            }
            None => {
                let head = ItemHead {
                    code: item_code.clone(),
                    title: required(ITEM_TITLE)?.to_owned(),
                    class: parse_class(line, required(CLASS)?)?,
                    matter_code: parse_service_code(line, f::MATTER_CODE, required(MATTER_CODE)?)?,
                    owner: parse_dept_code(line, f::OWNER, required(OWNER)?)?,
                };
                items.push(head);
                item_at.insert(item_code.clone(), items.len() - 1);
                items.len() - 1
            }
        };

        let code = code_in(CODE)?;
        let parent = cell(PARENT_CODE).trim();
        let parent =
            (!parent.is_empty() && parent != item_code.as_str()).then(|| parent.to_owned());
        let kind = match cell(KIND).trim() {
            "" => None,
            raw => match Kind::parse(line, raw)? {
                kind @ (Kind::Situation | Kind::Answer) => Some(kind),
                _ => {
                    return Err(super::xml::structure(
                        line,
                        "a row is a situation or an answer; the item is given by item_code",
                    ));
                }
            },
        };
        if row_at.insert(code.clone(), rows.len()).is_some() {
            return Err(ImportError::Model(ModelError::DuplicateCode(code)));
        }
        rows.push(Row {
            line,
            item,
            code,
            parent,
            kind,
            title: cell(TITLE).to_owned(),
            leaf: (FIRST_LEAF_FIELD..COLUMNS.len())
                .map(|col| cell(col).to_owned())
                .collect(),
        });
    }

    // Children in row order, and the item's first-level rows.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut tops: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut parent_of: Vec<Option<usize>> = vec![None; rows.len()];
    for (r, row) in rows.iter().enumerate() {
        match &row.parent {
            None => tops[row.item].push(r),
            Some(parent) => {
                let p = ItemCode::parse(parent)
                    .ok()
                    .and_then(|code| row_at.get(&code).copied())
                    .filter(|&p| rows[p].item == row.item)
                    .ok_or_else(|| ImportError::UnknownParent {
                        line: row.line,
                        code: row.code.clone(),
                        parent: parent.clone(),
                    })?;
                children[p].push(r);
                parent_of[r] = Some(p);
            }
        }
    }

    // Every row must hang from a first-level row, within MAX_DEPTH: what does not is on (or
    // below) a loop of parent links.
    let mut depth: Vec<usize> = vec![0; rows.len()];
    let mut queue: Vec<usize> = tops.iter().flatten().copied().collect();
    for &r in &queue {
        depth[r] = 1;
    }
    let mut too_deep = None;
    while let Some(r) = queue.pop() {
        for &c in &children[r] {
            depth[c] = depth[r] + 1;
            if depth[c] > MAX_DEPTH && too_deep.is_none() {
                too_deep = Some(c);
            }
            queue.push(c);
        }
    }
    if let Some(start) = depth.iter().position(|&d| d == 0) {
        let mut seen = vec![false; rows.len()];
        let mut r = start;
        while !seen[r] {
            seen[r] = true;
            // Unreached rows all have parents: first-level rows were reached.
            r = parent_of[r].unwrap_or(r);
        }
        return Err(ImportError::Cycle {
            code: rows[r].code.clone(),
        });
    }
    if let Some(r) = too_deep {
        return Err(ImportError::TooDeep {
            line: rows[r].line,
            max: MAX_DEPTH,
        });
    }

    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(items.len());
    for (i, head) in items.into_iter().enumerate() {
        let nodes = tops[i]
            .iter()
            .map(|&r| build(r, &mut slots, &children))
            .collect::<Result<_, _>>()?;
        out.push(Item {
            code: head.code,
            title: head.title,
            class: head.class,
            matter_code: head.matter_code,
            owner: head.owner,
            nodes,
        });
    }
    Ok(out)
}

/// The node of row `r` with its subtree (depth already bounded by MAX_DEPTH).
fn build(
    r: usize,
    slots: &mut [Option<Row>],
    children: &[Vec<usize>],
) -> Result<Node, ImportError> {
    let Some(row) = slots[r].take() else {
        // Each row has one parent, so the rows reached from the tops form a forest.
        return Err(super::xml::structure(0, "a row is reached twice"));
    };
    let kind = row.kind.unwrap_or(if children[r].is_empty() {
        Kind::Answer
    } else {
        Kind::Situation
    });
    if kind == Kind::Situation {
        if let Some(k) = row.leaf.iter().position(|cell| !cell.is_empty()) {
            return Err(ImportError::MisplacedField {
                line: row.line,
                code: row.code.to_string(),
                name: COLUMNS[FIRST_LEAF_FIELD + k].to_owned(),
            });
        }
        let kids = children[r]
            .iter()
            .map(|&c| build(c, slots, children))
            .collect::<Result<_, _>>()?;
        return Ok(Node::Situation {
            code: row.code,
            label: row.title,
            children: kids,
        });
    }
    if !children[r].is_empty() {
        return Err(ImportError::AnswerWithChildren {
            line: row.line,
            code: row.code,
        });
    }
    let line = row.line;
    let mut cells = row.leaf.into_iter();
    let mut next = || cells.next().unwrap_or_default();
    let answer = next();
    let legal_basis = next();
    let departments = decode_list(line, f::DEPARTMENTS, &next())?
        .iter()
        .map(|raw| parse_dept_code(line, f::DEPARTMENTS, raw))
        .collect::<Result<_, _>>()?;
    let procedure = next();
    let materials = decode_list(line, f::MATERIALS, &next())?;
    let fees = next();
    let time_limit = next();
    let contact = next();
    let effective_from = decode_date(line, f::EFFECTIVE_FROM, &next())?;
    let expires_on = decode_date(line, f::EXPIRES_ON, &next())?;
    let keywords = decode_list(line, f::KEYWORDS, &next())?;
    let synonyms = decode_list(line, f::SYNONYMS, &next())?;
    Ok(Node::Answer(Leaf {
        code: row.code,
        title: row.title,
        answer,
        legal_basis,
        departments,
        procedure,
        materials,
        fees,
        time_limit,
        contact,
        effective_from,
        expires_on,
        keywords,
        synonyms,
    }))
}

pub(crate) fn write(items: &[Item]) -> Result<Vec<u8>, ExportError> {
    // The byte-order mark tells spreadsheets the file is UTF-8.
    let mut writer = csv::WriterBuilder::new().from_writer("\u{feff}".as_bytes().to_vec());
    let err = |e: csv::Error| ExportError::Csv(e.to_string());
    writer.write_record(COLUMNS).map_err(err)?;
    for item in items {
        let item_cells = [
            item.code.to_string(),
            item.title.clone(),
            item.class.as_str().to_owned(),
            item.matter_code.to_string(),
            item.owner.to_string(),
        ];
        // Depth first, parents before children, children in order.
        let mut stack: Vec<(&Node, Option<&ItemCode>)> =
            item.nodes.iter().rev().map(|n| (n, None)).collect();
        while let Some((node, parent)) = stack.pop() {
            let mut record: Vec<String> = item_cells.to_vec();
            record.push(node.code().to_string());
            record.push(parent.map(ItemCode::to_string).unwrap_or_default());
            match node {
                Node::Situation {
                    code,
                    label,
                    children,
                } => {
                    record.push(Kind::Situation.as_str().to_owned());
                    record.push(label.clone());
                    record.resize(COLUMNS.len(), String::new());
                    stack.extend(children.iter().rev().map(|c| (c, Some(code))));
                }
                Node::Answer(leaf) => {
                    record.push(Kind::Answer.as_str().to_owned());
                    record.push(leaf.title.clone());
                    let departments: Vec<&str> =
                        leaf.departments.iter().map(DeptCode::as_str).collect();
                    record.extend([
                        leaf.answer.clone(),
                        leaf.legal_basis.clone(),
                        encode_list(&departments),
                        leaf.procedure.clone(),
                        encode_list(&leaf.materials),
                        leaf.fees.clone(),
                        leaf.time_limit.clone(),
                        leaf.contact.clone(),
                        leaf.effective_from.map(encode_date).unwrap_or_default(),
                        leaf.expires_on.map(encode_date).unwrap_or_default(),
                        encode_list(&leaf.keywords),
                        encode_list(&leaf.synonyms),
                    ]);
                }
            }
            writer.write_record(&record).map_err(err)?;
        }
    }
    writer
        .into_inner()
        .map_err(|e| ExportError::Csv(e.to_string()))
}
