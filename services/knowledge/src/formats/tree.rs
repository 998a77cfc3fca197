//! The tree both XML formats read into and write from: a node with a text, named fields and
//! children, turned into [`Item`]s by the rules in the module docs of [`super`].

use hotline_domain::{DeptCode, ItemCode, ServiceCode};

use super::fields as f;
use super::{ImportError, decode_date, decode_list, encode_date, encode_list};
use crate::model::{Item, ItemClass, Leaf, MAX_DEPTH, Node};

/// A mind-map node as read, before it is known to be an item, a situation or an answer.
#[derive(Debug, Default)]
pub(crate) struct RawNode {
    /// Where the node starts, for errors.
    pub line: usize,
    /// `TEXT` (FreeMind) or `text` (OPML).
    pub text: Option<String>,
    /// A FreeMind note, reduced to text: the answer when there is no `answer` field.
    pub note: Option<String>,
    /// The fields in file order; a name may repeat (FreeMind lists).
    pub fields: Vec<(String, String)>,
    pub children: Vec<RawNode>,
}

/// The fields of one node, taken out one by one so that what is left over is known to be
/// unknown or misplaced.
struct Fields {
    line: usize,
    fields: Vec<(String, String)>,
}

impl Fields {
    /// A single-valued field.
    fn take(&mut self, name: &str) -> Result<Option<String>, ImportError> {
        let mut found = None;
        let mut i = 0;
        while i < self.fields.len() {
            if self.fields[i].0 == name {
                let (_, value) = self.fields.remove(i);
                if found.is_some() {
                    return Err(ImportError::RepeatedField {
                        line: self.line,
                        name: name.to_owned(),
                    });
                }
                found = Some(value);
            } else {
                i += 1;
            }
        }
        Ok(found)
    }

    fn text(&mut self, name: &str) -> Result<String, ImportError> {
        Ok(self.take(name)?.unwrap_or_default())
    }

    /// A list: every `singular` field is one entry, in order, then a `plural` field in the list
    /// syntax adds its entries.
    fn list(&mut self, singular: &str, plural: &str) -> Result<Vec<String>, ImportError> {
        // One pass, so that a node with very many entries costs linear time.
        let (entries, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fields)
            .into_iter()
            .partition(|(name, _)| name == singular);
        self.fields = rest;
        let mut out: Vec<String> = entries.into_iter().map(|(_, value)| value).collect();
        if let Some(raw) = self.take(plural)? {
            out.extend(decode_list(self.line, plural, &raw)?);
        }
        Ok(out)
    }

    fn code(&mut self, name: &str) -> Result<Option<ItemCode>, ImportError> {
        match self.take(name)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => ItemCode::parse(&raw)
                .map(Some)
                .map_err(|reason| ImportError::BadCode {
                    line: self.line,
                    name: name.to_owned(),
                    value: raw,
                    reason,
                }),
        }
    }

    fn required_code(&mut self, name: &str) -> Result<ItemCode, ImportError> {
        self.code(name)?
            .ok_or_else(|| ImportError::MissingAttribute {
                line: self.line,
                name: name.to_owned(),
            })
    }

    fn required(&mut self, name: &str) -> Result<String, ImportError> {
        match self.take(name)? {
            Some(raw) if !raw.trim().is_empty() => Ok(raw),
            _ => Err(ImportError::MissingAttribute {
                line: self.line,
                name: name.to_owned(),
            }),
        }
    }

    /// Whatever is left is an error: misplaced if it is a field of another kind of node,
    /// unknown otherwise.
    fn finish(self, code: &ItemCode) -> Result<(), ImportError> {
        match self.fields.into_iter().next() {
            None => Ok(()),
            Some((name, _)) if is_known(&name) => Err(ImportError::MisplacedField {
                line: self.line,
                code: code.to_string(),
                name,
            }),
            Some((name, _)) => Err(ImportError::UnknownField {
                line: self.line,
                name,
            }),
        }
    }
}

const LIST_FIELDS: [(&str, &str); 4] = [
    ("department", f::DEPARTMENTS),
    ("material", f::MATERIALS),
    ("keyword", f::KEYWORDS),
    ("synonym", f::SYNONYMS),
];

fn is_known(name: &str) -> bool {
    [
        f::CODE,
        f::KIND,
        f::CLASS,
        f::MATTER_CODE,
        f::OWNER,
        f::ANSWER,
        f::LEGAL_BASIS,
        f::PROCEDURE,
        f::FEES,
        f::TIME_LIMIT,
        f::CONTACT,
        f::EFFECTIVE_FROM,
        f::EXPIRES_ON,
    ]
    .contains(&name)
        || LIST_FIELDS.iter().any(|(s, p)| *s == name || *p == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Collection,
    Item,
    Situation,
    Answer,
}

impl Kind {
    pub(crate) fn parse(line: usize, raw: &str) -> Result<Kind, ImportError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            f::KIND_COLLECTION | "集合" => Ok(Kind::Collection),
            f::KIND_ITEM | "事项" => Ok(Kind::Item),
            f::KIND_SITUATION | "情形" => Ok(Kind::Situation),
            f::KIND_ANSWER | "答案" | "leaf" => Ok(Kind::Answer),
            _ => Err(ImportError::UnknownKind {
                line,
                value: raw.to_owned(),
            }),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Collection => f::KIND_COLLECTION,
            Kind::Item => f::KIND_ITEM,
            Kind::Situation => f::KIND_SITUATION,
            Kind::Answer => f::KIND_ANSWER,
        }
    }
}

pub(crate) fn parse_class(line: usize, raw: &str) -> Result<ItemClass, ImportError> {
    ItemClass::parse(raw).ok_or_else(|| ImportError::UnknownClass {
        line,
        value: raw.to_owned(),
    })
}

pub(crate) fn parse_service_code(
    line: usize,
    name: &str,
    raw: &str,
) -> Result<ServiceCode, ImportError> {
    ServiceCode::parse(raw).map_err(|reason| ImportError::BadCode {
        line,
        name: name.to_owned(),
        value: raw.to_owned(),
        reason,
    })
}

pub(crate) fn parse_dept_code(line: usize, name: &str, raw: &str) -> Result<DeptCode, ImportError> {
    DeptCode::parse(raw).map_err(|reason| ImportError::BadCode {
        line,
        name: name.to_owned(),
        value: raw.to_owned(),
        reason,
    })
}

/// Items from the top-level nodes of a file: each is an item, or a collection of items.
pub(crate) fn items(roots: Vec<RawNode>) -> Result<Vec<Item>, ImportError> {
    let mut out = Vec::new();
    for mut root in roots {
        let kind = kind_of(&mut root)?;
        match kind {
            Some(Kind::Collection) => {
                if let Some((name, _)) = root.fields.first() {
                    return Err(ImportError::MisplacedField {
                        line: root.line,
                        code: f::KIND_COLLECTION.to_owned(),
                        name: name.clone(),
                    });
                }
                for mut child in root.children {
                    match kind_of(&mut child)? {
                        None | Some(Kind::Item) => out.push(item(child)?),
                        Some(_) => {
                            return Err(super::xml::structure(
                                child.line,
                                "a collection holds items only",
                            ));
                        }
                    }
                }
            }
            None | Some(Kind::Item) => out.push(item(root)?),
            Some(_) => {
                return Err(super::xml::structure(
                    root.line,
                    "the top-level node must be an item or a collection of items",
                ));
            }
        }
    }
    Ok(out)
}

/// Takes the node's `kind` out of its fields.
fn kind_of(raw: &mut RawNode) -> Result<Option<Kind>, ImportError> {
    let mut fields = Fields {
        line: raw.line,
        fields: std::mem::take(&mut raw.fields),
    };
    let kind = fields.take(f::KIND);
    raw.fields = fields.fields;
    kind?.map(|k| Kind::parse(raw.line, &k)).transpose()
}

fn item(raw: RawNode) -> Result<Item, ImportError> {
    let line = raw.line;
    let mut fields = Fields {
        line,
        fields: raw.fields,
    };
    let code = fields.required_code(f::CODE)?;
    let class = parse_class(line, &fields.required(f::CLASS)?)?;
    let matter_code = parse_service_code(line, f::MATTER_CODE, &fields.required(f::MATTER_CODE)?)?;
    let owner = parse_dept_code(line, f::OWNER, &fields.required(f::OWNER)?)?;
    fields.finish(&code)?;
    let title = raw.text.ok_or_else(|| ImportError::MissingAttribute {
        line,
        name: "text".to_owned(),
    })?;
    let nodes = raw
        .children
        .into_iter()
        .map(|child| node(child, 1))
        .collect::<Result<_, _>>()?;
    Ok(Item {
        code,
        title,
        class,
        matter_code,
        owner,
        nodes,
    })
}

fn node(mut raw: RawNode, depth: usize) -> Result<Node, ImportError> {
    let line = raw.line;
    if depth > MAX_DEPTH {
        return Err(ImportError::TooDeep {
            line,
            max: MAX_DEPTH,
        });
    }
    let kind = kind_of(&mut raw)?;
    let mut fields = Fields {
        line,
        fields: raw.fields,
    };
    let code = fields.required_code(f::CODE)?;
    let text = raw.text.ok_or_else(|| ImportError::MissingAttribute {
        line,
        name: "text".to_owned(),
    })?;
    let kind = match kind {
        Some(kind @ (Kind::Situation | Kind::Answer)) => kind,
        Some(_) => {
            return Err(super::xml::structure(
                line,
                format!("{code}: an item's nodes are situations or answers"),
            ));
        }
        None if raw.children.is_empty() => Kind::Answer,
        None => Kind::Situation,
    };
    match kind {
        Kind::Answer => {
            if !raw.children.is_empty() {
                return Err(ImportError::AnswerWithChildren { line, code });
            }
            let answer = match fields.take(f::ANSWER)? {
                Some(answer) => answer,
                None => raw.note.unwrap_or_default(),
            };
            let leaf = leaf(&mut fields, code, text, answer)?;
            fields.finish(&leaf.code)?;
            Ok(Node::Answer(leaf))
        }
        _ => {
            fields.finish(&code)?;
            let children = raw
                .children
                .into_iter()
                .map(|child| node(child, depth + 1))
                .collect::<Result<_, _>>()?;
            Ok(Node::Situation {
                code,
                label: text,
                children,
            })
        }
    }
}

fn leaf(
    fields: &mut Fields,
    code: ItemCode,
    title: String,
    answer: String,
) -> Result<Leaf, ImportError> {
    let line = fields.line;
    let departments = fields
        .list("department", f::DEPARTMENTS)?
        .iter()
        .map(|raw| parse_dept_code(line, f::DEPARTMENTS, raw))
        .collect::<Result<_, _>>()?;
    let effective_from = fields.text(f::EFFECTIVE_FROM)?;
    let expires_on = fields.text(f::EXPIRES_ON)?;
    Ok(Leaf {
        code,
        title,
        answer,
        legal_basis: fields.text(f::LEGAL_BASIS)?,
        departments,
        procedure: fields.text(f::PROCEDURE)?,
        materials: fields.list("material", f::MATERIALS)?,
        fees: fields.text(f::FEES)?,
        time_limit: fields.text(f::TIME_LIMIT)?,
        contact: fields.text(f::CONTACT)?,
        effective_from: decode_date(line, f::EFFECTIVE_FROM, &effective_from)?,
        expires_on: decode_date(line, f::EXPIRES_ON, &expires_on)?,
        keywords: fields.list("keyword", f::KEYWORDS)?,
        synonyms: fields.list("synonym", f::SYNONYMS)?,
    })
}

/// How an exporter writes list fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lists {
    /// One field per entry, named in the singular (FreeMind attributes may repeat).
    Repeated,
    /// One field in the list syntax, named in the plural (XML attributes may not repeat).
    Joined,
}

/// The fields of an item, in the order they are written (`kind` first).
pub(crate) fn item_fields(item: &Item) -> Vec<(&'static str, String)> {
    vec![
        (f::KIND, Kind::Item.as_str().to_owned()),
        (f::CODE, item.code.to_string()),
        (f::CLASS, item.class.as_str().to_owned()),
        (f::MATTER_CODE, item.matter_code.to_string()),
        (f::OWNER, item.owner.to_string()),
    ]
}

/// The fields of a node, in the order they are written; empty ones left out. The answer text
/// is among them under `answer` for the caller to place.
pub(crate) fn node_fields(node: &Node, lists: Lists) -> Vec<(&'static str, String)> {
    let leaf = match node {
        Node::Situation { code, .. } => {
            return vec![
                (f::KIND, Kind::Situation.as_str().to_owned()),
                (f::CODE, code.to_string()),
            ];
        }
        Node::Answer(leaf) => leaf,
    };
    let mut out = vec![
        (f::KIND, Kind::Answer.as_str().to_owned()),
        (f::CODE, leaf.code.to_string()),
        (f::ANSWER, leaf.answer.clone()),
    ];
    let push_text = |out: &mut Vec<(&'static str, String)>, name: &'static str, value: &str| {
        if !value.is_empty() {
            out.push((name, value.to_owned()));
        }
    };
    push_text(&mut out, f::LEGAL_BASIS, &leaf.legal_basis);
    let departments: Vec<&str> = leaf.departments.iter().map(DeptCode::as_str).collect();
    push_list(&mut out, lists, LIST_FIELDS[0], &departments);
    push_text(&mut out, f::PROCEDURE, &leaf.procedure);
    push_list(&mut out, lists, LIST_FIELDS[1], &leaf.materials);
    push_text(&mut out, f::FEES, &leaf.fees);
    push_text(&mut out, f::TIME_LIMIT, &leaf.time_limit);
    push_text(&mut out, f::CONTACT, &leaf.contact);
    if let Some(date) = leaf.effective_from {
        out.push((f::EFFECTIVE_FROM, encode_date(date)));
    }
    if let Some(date) = leaf.expires_on {
        out.push((f::EXPIRES_ON, encode_date(date)));
    }
    push_list(&mut out, lists, LIST_FIELDS[2], &leaf.keywords);
    push_list(&mut out, lists, LIST_FIELDS[3], &leaf.synonyms);
    out
}

fn push_list<S: AsRef<str>>(
    out: &mut Vec<(&'static str, String)>,
    lists: Lists,
    (singular, plural): (&'static str, &'static str),
    list: &[S],
) {
    if list.is_empty() {
        return;
    }
    match lists {
        Lists::Repeated => out.extend(list.iter().map(|s| (singular, s.as_ref().to_owned()))),
        Lists::Joined => out.push((plural, encode_list(list))),
    }
}
