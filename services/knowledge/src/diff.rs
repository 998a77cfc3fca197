//! What changed between two versions of an item, node by node, field by field: what the centre
//! reads before publishing, and what the owner reads after a rejection.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Item, Leaf, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChange {
    pub code: String,
    pub change: ChangeKind,
    /// The fields that differ (for `changed`): `label`, `answer`, `parent`, `position`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemDiff {
    /// Item-level fields that differ: `title`, `class`, `matter_code`, `owner`.
    pub item_fields: Vec<&'static str>,
    pub nodes: Vec<NodeChange>,
}

impl ItemDiff {
    pub fn is_empty(&self) -> bool {
        self.item_fields.is_empty() && self.nodes.is_empty()
    }
}

struct Placed<'a> {
    parent: Option<&'a str>,
    position: usize,
    node: &'a Node,
}

fn flatten(item: &Item) -> BTreeMap<&str, Placed<'_>> {
    fn walk<'a>(
        nodes: &'a [Node],
        parent: Option<&'a str>,
        out: &mut BTreeMap<&'a str, Placed<'a>>,
    ) {
        for (position, node) in nodes.iter().enumerate() {
            out.insert(
                node.code().as_str(),
                Placed {
                    parent,
                    position,
                    node,
                },
            );
            if let Node::Situation { children, code, .. } = node {
                walk(children, Some(code.as_str()), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&item.nodes, None, &mut out);
    out
}

fn leaf_fields(a: &Leaf, b: &Leaf) -> Vec<&'static str> {
    let mut f = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            f.push(name);
        }
    };
    check("title", a.title == b.title);
    check("answer", a.answer == b.answer);
    check("legal_basis", a.legal_basis == b.legal_basis);
    check("departments", a.departments == b.departments);
    check("procedure", a.procedure == b.procedure);
    check("materials", a.materials == b.materials);
    check("fees", a.fees == b.fees);
    check("time_limit", a.time_limit == b.time_limit);
    check("contact", a.contact == b.contact);
    check("effective_from", a.effective_from == b.effective_from);
    check("expires_on", a.expires_on == b.expires_on);
    check("keywords", a.keywords == b.keywords);
    check("synonyms", a.synonyms == b.synonyms);
    f
}

/// The changes that turn `old` into `new`.
pub fn diff(old: &Item, new: &Item) -> ItemDiff {
    let mut item_fields = Vec::new();
    if old.title != new.title {
        item_fields.push("title");
    }
    if old.class != new.class {
        item_fields.push("class");
    }
    if old.matter_code != new.matter_code {
        item_fields.push("matter_code");
    }
    if old.owner != new.owner {
        item_fields.push("owner");
    }
    let (a, b) = (flatten(old), flatten(new));
    let mut nodes = Vec::new();
    for (code, was) in &a {
        let Some(now) = b.get(code) else {
            nodes.push(NodeChange {
                code: (*code).to_owned(),
                change: ChangeKind::Removed,
                fields: vec![],
            });
            continue;
        };
        let mut fields = match (was.node, now.node) {
            (Node::Answer(x), Node::Answer(y)) => leaf_fields(x, y),
            (Node::Situation { label: x, .. }, Node::Situation { label: y, .. }) => {
                if x == y {
                    vec![]
                } else {
                    vec!["label"]
                }
            }
            _ => vec!["kind"],
        };
        if was.parent != now.parent {
            fields.push("parent");
        } else if was.position != now.position {
            fields.push("position");
        }
        if !fields.is_empty() {
            nodes.push(NodeChange {
                code: (*code).to_owned(),
                change: ChangeKind::Changed,
                fields,
            });
        }
    }
    for code in b.keys().filter(|c| !a.contains_key(*c)) {
        nodes.push(NodeChange {
            code: (*code).to_owned(),
            change: ChangeKind::Added,
            fields: vec![],
        });
    }
    ItemDiff { item_fields, nodes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{code, leaf, sample};

    #[test]
    fn a_version_compared_with_itself_has_no_changes() {
        assert!(diff(&sample(), &sample()).is_empty());
    }

    #[test]
    fn changes_are_reported_per_node_and_field() {
        let old = sample();
        let mut new = sample();
        new.title = "医保".into();
        // Change an answer, drop the other leaf, add a new top-level answer.
        if let Node::Situation { children, .. } = &mut new.nodes[0]
            && let Node::Situation { children, .. } = &mut children[0]
            && let Node::Situation { children, .. } = &mut children[0]
        {
            if let Node::Answer(l) = &mut children[0] {
                l.answer = "新的答复".into();
            }
            children.pop();
        }
        new.nodes.push(Node::Answer(leaf("YB-JD-20", "新增", "答")));
        let d = diff(&old, &new);
        assert_eq!(d.item_fields, vec!["title"]);
        let by_code: BTreeMap<_, _> = d.nodes.iter().map(|c| (c.code.as_str(), c)).collect();
        assert_eq!(by_code["YB-JD-10"].change, ChangeKind::Changed);
        assert_eq!(by_code["YB-JD-10"].fields, vec!["answer"]);
        assert_eq!(by_code["YB-JD-11"].change, ChangeKind::Removed);
        assert_eq!(by_code["YB-JD-20"].change, ChangeKind::Added);
        assert_eq!(d.nodes.len(), 3);
        let _ = code("YB");
    }
}
