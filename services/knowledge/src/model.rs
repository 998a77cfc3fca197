//! What a knowledge item is: a coded decision tree (the seed's "mind map", 思维导图).
//!
//! An [`Item`] is one matter (事项) as the hotline answers it, e.g. medical insurance (`YB`).
//! Its tree's inner nodes are situations (情形: "infants" `YB-TJ-1` > "local household"
//! `YB-TJ-2` > "not yet insured" `YB-TJ-4`); its leaves are standard answers (`YB-JD-...`)
//! agreed by the responsible departments, so that every agent gives the same answer (按图索骥).
//!
//! [`Item::check`] is the one place that decides whether a tree is well formed: codes unique,
//! every path ending in an answer, texts not empty, dates in order. Import, the HTTP API and the
//! store all go through it, so a malformed tree is never stored.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use serde::{Deserialize, Serialize};

/// The five classes of matter in the Guangzhou standard (事项分为咨询、诉求、突发、重点和指引).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemClass {
    /// 咨询: questions answered from policy.
    Consultation,
    /// 诉求: requests and complaints that usually become tickets.
    Appeal,
    /// 突发: incidents (outages, disasters) with a temporary script.
    Incident,
    /// 重点: matters the city is watching (new policies, campaigns).
    Priority,
    /// 指引: guidance to another channel or office.
    Guidance,
}

impl ItemClass {
    pub const ALL: [ItemClass; 5] = [
        ItemClass::Consultation,
        ItemClass::Appeal,
        ItemClass::Incident,
        ItemClass::Priority,
        ItemClass::Guidance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemClass::Consultation => "consultation",
            ItemClass::Appeal => "appeal",
            ItemClass::Incident => "incident",
            ItemClass::Priority => "priority",
            ItemClass::Guidance => "guidance",
        }
    }

    /// The Chinese name, as the seed and the centre's staff say it.
    pub fn zh(self) -> &'static str {
        match self {
            ItemClass::Consultation => "咨询",
            ItemClass::Appeal => "诉求",
            ItemClass::Incident => "突发",
            ItemClass::Priority => "重点",
            ItemClass::Guidance => "指引",
        }
    }

    /// Accepts the English name or the Chinese one.
    pub fn parse(raw: &str) -> Option<ItemClass> {
        let raw = raw.trim();
        ItemClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(raw) || c.zh() == raw)
    }
}

/// A standard answer (规范答案): what the agent tells the citizen, and what backs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaf {
    pub code: ItemCode,
    pub title: String,
    /// The standard answer, read or sent to the citizen.
    pub answer: String,
    /// 法律依据: the law, regulation or notice the answer rests on.
    #[serde(default)]
    pub legal_basis: String,
    /// 责任单位: the department(s) responsible; the first is the lead.
    #[serde(default)]
    pub departments: Vec<DeptCode>,
    /// 办理程序.
    #[serde(default)]
    pub procedure: String,
    /// 所需材料, one per entry.
    #[serde(default)]
    pub materials: Vec<String>,
    /// 收费标准.
    #[serde(default)]
    pub fees: String,
    /// 办理时限.
    #[serde(default)]
    pub time_limit: String,
    /// 咨询电话 / office address.
    #[serde(default)]
    pub contact: String,
    /// 生效日期: the answer applies from this day.
    #[serde(default)]
    pub effective_from: Option<NaiveDate>,
    /// 失效日期: the answer no longer applies from this day.
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Other ways citizens say it ("社保卡" for "社会保障卡").
    #[serde(default)]
    pub synonyms: Vec<String>,
}

/// A node of the tree: a situation to choose, or an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Leaves are most of a tree's nodes; boxing them would add an allocation to nearly every node
// for no saving.
#[allow(clippy::large_enum_variant)]
pub enum Node {
    /// 情形: the agent asks or chooses ("is the child registered here?").
    Situation {
        code: ItemCode,
        label: String,
        children: Vec<Node>,
    },
    Answer(Leaf),
}

impl Node {
    pub fn code(&self) -> &ItemCode {
        match self {
            Node::Situation { code, .. } => code,
            Node::Answer(leaf) => &leaf.code,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Node::Situation { label, .. } => label,
            Node::Answer(leaf) => &leaf.title,
        }
    }
}

/// A matter's whole tree with what governs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The item's own code, the prefix of its nodes' codes by convention (`YB`).
    pub code: ItemCode,
    pub title: String,
    pub class: ItemClass,
    /// The dispatch catalogue's code of this matter (派单目录): the answer and the department a
    /// ticket goes to always agree. Publishing checks it against the catalogue.
    pub matter_code: ServiceCode,
    /// The department that owns and edits the item.
    pub owner: DeptCode,
    /// The first choices under the item.
    pub nodes: Vec<Node>,
}

/// A leaf together with where it hangs: what search indexes and returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafAt<'a> {
    pub item: &'a Item,
    /// The situation labels from the item down to the leaf's parent.
    pub path: Vec<&'a str>,
    pub leaf: &'a Leaf,
}

/// Why a tree is not well formed. Tests match on these, never on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("code {0} is used twice")]
    DuplicateCode(ItemCode),
    #[error("situation {0} has no children: every path must end in an answer")]
    EmptySituation(ItemCode),
    #[error("the item has no nodes")]
    EmptyItem,
    #[error("{code}: {field} must not be empty")]
    EmptyText { code: ItemCode, field: &'static str },
    #[error("{0}: expires before it takes effect")]
    DatesOutOfOrder(ItemCode),
    #[error("the tree is deeper than {max} levels")]
    TooDeep { max: usize },
    /// NUL and other control characters (tab, LF and CR are kept): `hotline_domain::text`.
    #[error("{code}: {field} contains a control character (U+{char:04X}), which is not allowed")]
    ControlCharacter {
        code: ItemCode,
        field: &'static str,
        char: u32,
    },
    #[error("{code}: {field} is longer than {max} characters")]
    TooLong {
        code: ItemCode,
        field: &'static str,
        max: usize,
    },
}

/// Deep enough for any real matter (the seed's deepest is four levels), shallow enough that a
/// hostile file cannot exhaust the stack.
pub const MAX_DEPTH: usize = 16;
/// The longest answer text accepted.
pub const MAX_ANSWER_CHARS: usize = 20_000;
/// The longest title or label accepted.
pub const MAX_TITLE_CHARS: usize = 300;

impl Item {
    /// Whether the tree is well formed; see [`ModelError`].
    pub fn check(&self) -> Result<(), ModelError> {
        if self.title.trim().is_empty() {
            return Err(ModelError::EmptyText {
                code: self.code.clone(),
                field: "title",
            });
        }
        too_long(&self.code, "title", &self.title, MAX_TITLE_CHARS)?;
        clean(&self.code, "title", &self.title)?;
        if self.nodes.is_empty() {
            return Err(ModelError::EmptyItem);
        }
        let mut seen = BTreeSet::from([self.code.clone()]);
        for node in &self.nodes {
            check_node(node, 1, &mut seen)?;
        }
        Ok(())
    }

    /// Every leaf with its path, depth first, in tree order.
    pub fn leaves(&self) -> Vec<LeafAt<'_>> {
        fn walk<'a>(
            item: &'a Item,
            nodes: &'a [Node],
            path: &mut Vec<&'a str>,
            out: &mut Vec<LeafAt<'a>>,
        ) {
            for node in nodes {
                match node {
                    Node::Answer(leaf) => out.push(LeafAt {
                        item,
                        path: path.clone(),
                        leaf,
                    }),
                    Node::Situation {
                        label, children, ..
                    } => {
                        path.push(label);
                        walk(item, children, path, out);
                        path.pop();
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &self.nodes, &mut Vec::new(), &mut out);
        out
    }

    /// The node with this code and the labels of the situations above it.
    pub fn find(&self, code: &ItemCode) -> Option<(Vec<&str>, &Node)> {
        fn walk<'a>(
            nodes: &'a [Node],
            code: &ItemCode,
            path: &mut Vec<&'a str>,
        ) -> Option<&'a Node> {
            for node in nodes {
                if node.code() == code {
                    return Some(node);
                }
                if let Node::Situation {
                    label, children, ..
                } = node
                {
                    path.push(label);
                    if let Some(found) = walk(children, code, path) {
                        return Some(found);
                    }
                    path.pop();
                }
            }
            None
        }
        let mut path = Vec::new();
        let node = walk(&self.nodes, code, &mut path)?;
        Some((path, node))
    }

    /// How many nodes the tree has (situations and answers).
    pub fn node_count(&self) -> usize {
        fn count(nodes: &[Node]) -> usize {
            nodes
                .iter()
                .map(|n| match n {
                    Node::Situation { children, .. } => 1 + count(children),
                    Node::Answer(_) => 1,
                })
                .sum()
        }
        count(&self.nodes)
    }
}

impl Leaf {
    /// Whether the answer applies on `day` (effective and not yet expired).
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.effective_from.is_none_or(|from| from <= day)
            && self.expires_on.is_none_or(|until| day < until)
    }
}

fn too_long(
    code: &ItemCode,
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<(), ModelError> {
    if text.chars().count() > max {
        return Err(ModelError::TooLong {
            code: code.clone(),
            field,
            max,
        });
    }
    Ok(())
}

/// The domain's one text rule, so that no edge (import, draft) stores what Postgres or an XML
/// export cannot carry.
fn clean(code: &ItemCode, field: &'static str, text: &str) -> Result<(), ModelError> {
    match text.chars().find(|c| !hotline_domain::text::is_allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(ModelError::ControlCharacter {
            code: code.clone(),
            field,
            char: u32::from(c),
        }),
    }
}

fn check_node(node: &Node, depth: usize, seen: &mut BTreeSet<ItemCode>) -> Result<(), ModelError> {
    if depth > MAX_DEPTH {
        return Err(ModelError::TooDeep { max: MAX_DEPTH });
    }
    if !seen.insert(node.code().clone()) {
        return Err(ModelError::DuplicateCode(node.code().clone()));
    }
    match node {
        Node::Situation {
            code,
            label,
            children,
        } => {
            if label.trim().is_empty() {
                return Err(ModelError::EmptyText {
                    code: code.clone(),
                    field: "label",
                });
            }
            too_long(code, "label", label, MAX_TITLE_CHARS)?;
            clean(code, "label", label)?;
            if children.is_empty() {
                return Err(ModelError::EmptySituation(code.clone()));
            }
            for child in children {
                check_node(child, depth + 1, seen)?;
            }
        }
        Node::Answer(leaf) => {
            for (field, text) in [("title", &leaf.title), ("answer", &leaf.answer)] {
                if text.trim().is_empty() {
                    return Err(ModelError::EmptyText {
                        code: leaf.code.clone(),
                        field,
                    });
                }
            }
            too_long(&leaf.code, "title", &leaf.title, MAX_TITLE_CHARS)?;
            too_long(&leaf.code, "answer", &leaf.answer, MAX_ANSWER_CHARS)?;
            let texts = [
                ("title", &leaf.title),
                ("answer", &leaf.answer),
                ("legal_basis", &leaf.legal_basis),
                ("procedure", &leaf.procedure),
                ("fees", &leaf.fees),
                ("time_limit", &leaf.time_limit),
                ("contact", &leaf.contact),
            ];
            let lists = [
                ("materials", &leaf.materials),
                ("keywords", &leaf.keywords),
                ("synonyms", &leaf.synonyms),
            ];
            for (field, text) in texts {
                clean(&leaf.code, field, text)?;
            }
            for (field, list) in lists {
                for text in list {
                    clean(&leaf.code, field, text)?;
                }
            }
            if let (Some(from), Some(until)) = (leaf.effective_from, leaf.expires_on)
                && until <= from
            {
                return Err(ModelError::DatesOutOfOrder(leaf.code.clone()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn code(s: &str) -> ItemCode {
        ItemCode::parse(s).expect("valid code")
    }

    pub fn leaf(c: &str, title: &str, answer: &str) -> Leaf {
        Leaf {
            code: code(c),
            title: title.into(),
            answer: answer.into(),
            legal_basis: String::new(),
            departments: vec![],
            procedure: String::new(),
            materials: vec![],
            fees: String::new(),
            time_limit: String::new(),
            contact: String::new(),
            effective_from: None,
            expires_on: None,
            keywords: vec![],
            synonyms: vec![],
        }
    }

    /// A small tree shaped like the seed's: 婴幼儿 > 本市户籍 > 未参保 > answers.
    pub fn sample() -> Item {
        Item {
            code: code("YB"),
            title: "医保业务".into(),
            class: ItemClass::Consultation,
            matter_code: ServiceCode::parse("15.01.004").expect("valid"),
            owner: DeptCode::parse("GZ-RS").expect("valid"),
            nodes: vec![Node::Situation {
                code: code("YB-TJ-1"),
                label: "婴幼儿".into(),
                children: vec![Node::Situation {
                    code: code("YB-TJ-2"),
                    label: "本市户籍".into(),
                    children: vec![Node::Situation {
                        code: code("YB-TJ-4"),
                        label: "未参加城乡居民（含大病）医保".into(),
                        children: vec![
                            Node::Answer(leaf(
                                "YB-JD-10",
                                "参保登记",
                                "携带户口簿到社区服务中心办理参保登记。",
                            )),
                            Node::Answer(leaf(
                                "YB-JD-11",
                                "中途参保",
                                "新生儿出生后三个月内参保，自出生之日起享受待遇。",
                            )),
                        ],
                    }],
                }],
            }],
        }
    }

    #[test]
    fn a_well_formed_tree_passes_and_lists_its_leaves_with_paths() {
        let item = sample();
        assert_eq!(item.check(), Ok(()));
        let leaves = item.leaves();
        assert_eq!(leaves.len(), 2);
        assert_eq!(
            leaves[0].path,
            vec!["婴幼儿", "本市户籍", "未参加城乡居民（含大病）医保"]
        );
        assert_eq!(leaves[1].leaf.code, code("YB-JD-11"));
        assert_eq!(item.node_count(), 5);
        let (path, node) = item.find(&code("YB-TJ-4")).expect("present");
        assert_eq!(path, vec!["婴幼儿", "本市户籍"]);
        assert!(matches!(node, Node::Situation { .. }));
        assert!(item.find(&code("YB-JD-99")).is_none());
    }

    #[test]
    fn malformed_trees_are_refused_with_their_reason() {
        let mut dup = sample();
        if let Node::Situation { children, .. } = &mut dup.nodes[0] {
            children.push(Node::Answer(leaf("YB-TJ-2", "重复", "x")));
        }
        assert_eq!(dup.check(), Err(ModelError::DuplicateCode(code("YB-TJ-2"))));

        let mut empty = sample();
        empty.nodes.push(Node::Situation {
            code: code("YB-TJ-9"),
            label: "空".into(),
            children: vec![],
        });
        assert_eq!(
            empty.check(),
            Err(ModelError::EmptySituation(code("YB-TJ-9")))
        );

        let mut blank = sample();
        blank
            .nodes
            .push(Node::Answer(leaf("YB-JD-1", "标题", "  ")));
        assert!(matches!(
            blank.check(),
            Err(ModelError::EmptyText {
                field: "answer",
                ..
            })
        ));

        let mut nul = sample();
        let mut l = leaf("YB-JD-3", "t", "第一行\n第二行\t");
        l.materials = vec!["户口簿\0".into()];
        nul.nodes.push(Node::Answer(l));
        assert_eq!(
            nul.check(),
            Err(ModelError::ControlCharacter {
                code: code("YB-JD-3"),
                field: "materials",
                char: 0
            })
        );
        let mut escape = sample();
        escape.title = "标题\u{1b}[2J".into();
        assert!(matches!(
            escape.check(),
            Err(ModelError::ControlCharacter { field: "title", .. })
        ));

        let mut dates = sample();
        let mut l = leaf("YB-JD-2", "t", "a");
        l.effective_from = NaiveDate::from_ymd_opt(2026, 1, 1);
        l.expires_on = NaiveDate::from_ymd_opt(2025, 1, 1);
        dates.nodes.push(Node::Answer(l));
        assert_eq!(
            dates.check(),
            Err(ModelError::DatesOutOfOrder(code("YB-JD-2")))
        );

        let mut deep = Node::Answer(leaf("D-0", "t", "a"));
        for i in 1..=MAX_DEPTH + 1 {
            deep = Node::Situation {
                code: code(&format!("D-{i}")),
                label: "x".into(),
                children: vec![deep],
            };
        }
        let mut too_deep = sample();
        too_deep.nodes = vec![deep];
        assert_eq!(
            too_deep.check(),
            Err(ModelError::TooDeep { max: MAX_DEPTH })
        );
    }

    #[test]
    fn in_force_follows_effective_and_expiry_dates() {
        let mut l = leaf("YB-JD-1", "t", "a");
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d).expect("date");
        l.effective_from = Some(day(10));
        l.expires_on = Some(day(20));
        assert!(!l.in_force_on(day(9)));
        assert!(l.in_force_on(day(10)));
        assert!(l.in_force_on(day(19)));
        assert!(!l.in_force_on(day(20)));
        assert_eq!(ItemClass::parse("咨询"), Some(ItemClass::Consultation));
        assert_eq!(ItemClass::parse("guidance"), Some(ItemClass::Guidance));
        assert_eq!(ItemClass::parse("x"), None);
    }
}
