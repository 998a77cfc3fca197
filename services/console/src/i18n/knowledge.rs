//! The department portal's knowledge pages' words (本部门知识条目: the list, an item with its
//! published content and its draft, the edit form, the history and the diff), in their own
//! table beside [`super::Texts`]. Reached as `t.kn()`; a word must be given in both languages or
//! the crate does not build. Names of statuses, classes, fields and task reasons are tables keyed
//! by the knowledge service's own codes.

use super::{EN, Names, Texts};

pub struct KnowledgeTexts {
    pub tile: &'static str,
    pub tile_desc: &'static str,
    pub list_title: &'static str,
    pub list_intro: &'static str,
    pub list_empty: &'static str,
    pub code: &'static str,
    pub title: &'static str,
    pub class: &'static str,
    pub matter_code: &'static str,
    pub version: &'static str,
    pub status: &'static str,
    pub written: &'static str,
    pub written_by: &'static str,
    pub submitted: &'static str,
    pub reviewed_by: &'static str,
    pub review_note: &'static str,
    pub tasks_title: &'static str,
    pub no_tasks: &'static str,
    pub task_reason: &'static str,
    pub task_note: &'static str,
    pub due: &'static str,
    pub overdue: &'static str,
    pub published_title: &'static str,
    pub no_published: &'static str,
    pub working_title: &'static str,
    pub no_working: &'static str,
    pub in_review: &'static str,
    pub rejected_notice: &'static str,
    pub read_only: &'static str,
    pub edit: &'static str,
    pub edit_title: &'static str,
    pub edit_intro: &'static str,
    pub save: &'static str,
    pub submit: &'static str,
    pub submit_note: &'static str,
    pub saved: &'static str,
    pub submitted_done: &'static str,
    pub conflict: &'static str,
    pub submit_conflict: &'static str,
    pub refused: &'static str,
    pub situation: &'static str,
    pub answer_node: &'static str,
    pub one_per_line: &'static str,
    pub remove_answer: &'static str,
    pub add_answer: &'static str,
    pub add_answer_note: &'static str,
    pub parent: &'static str,
    pub top_level: &'static str,
    pub new_code: &'static str,
    pub history: &'static str,
    pub compare: &'static str,
    pub diff_title: &'static str,
    pub no_changes: &'static str,
    pub item_level: &'static str,
    pub before: &'static str,
    pub after: &'static str,
    pub back_to_item: &'static str,
    pub back_to_list: &'static str,
    /// The knowledge service's version statuses.
    pub statuses: Names,
    /// The five classes of matter.
    pub classes: Names,
    /// An item's and a leaf's fields, as the diff names them.
    pub fields: Names,
    /// What a node's change is (`added`, `removed`, `changed`).
    pub changes: Names,
    /// Why an update task was opened.
    pub reasons: Names,
}

pub static KN_ZH: KnowledgeTexts = KnowledgeTexts {
    tile: "知识条目",
    tile_desc: "本部门负责的知识条目：编辑草稿、提交审核、查看版本与差异。",
    list_title: "本部门知识条目",
    list_intro: "每个条目显示最新版本的状态。部门编写草稿并提交，热线中心审核后发布。",
    list_empty: "本部门还没有知识条目。",
    code: "编码",
    title: "标题",
    class: "类别",
    matter_code: "派单目录事项编码",
    version: "版本",
    status: "状态",
    written: "最近修改",
    written_by: "修改人",
    submitted: "提交时间",
    reviewed_by: "审核人",
    review_note: "审核意见",
    tasks_title: "待办的知识更新任务",
    no_tasks: "没有待办的更新任务。",
    task_reason: "原因",
    task_note: "说明",
    due: "期限",
    overdue: "已超期",
    published_title: "现行发布版本",
    no_published: "尚未发布。",
    working_title: "工作版本",
    no_working: "没有未发布的版本。",
    in_review: "已提交，等待热线中心审核；审核完成前不能再修改。",
    rejected_notice: "热线中心退回了上一次提交：",
    read_only: "您的账号没有知识编辑权限（knowledge_editor），只能查看。",
    edit: "编辑草稿",
    edit_title: "编辑草稿",
    edit_intro: "修改各节点的文字、删除或新增答案后保存为草稿；情形的增删和层级调整请用导入（思维导图、OPML、CSV）。",
    save: "保存草稿",
    submit: "提交审核",
    submit_note: "提交后由热线中心审核发布，审核期间不能修改。",
    saved: "草稿已保存。",
    submitted_done: "已提交审核。",
    conflict: "您打开表单后，条目已被修改，本次未保存。您填写的内容保留在下方；再次保存将覆盖对方的修改。现在的版本：",
    submit_conflict: "您打开页面后，条目已被修改，本次未提交。请查看现在的版本后再提交。",
    refused: "知识库未接受本次保存：",
    situation: "情形",
    answer_node: "答案",
    one_per_line: "每行一项",
    remove_answer: "删除此答案",
    add_answer: "新增答案",
    add_answer_note: "不需要新增时留空。编码由大写字母和数字组成、以“-”连接，在整个知识库中唯一，如条目编码加 -JD-序号。",
    parent: "位置",
    top_level: "条目第一层",
    new_code: "编码",
    history: "版本历史",
    compare: "与上一版比较",
    diff_title: "版本差异",
    no_changes: "两个版本内容相同。",
    item_level: "条目",
    before: "修改前",
    after: "修改后",
    back_to_item: "返回条目",
    back_to_list: "返回列表",
    statuses: &[
        ("draft", "草稿"),
        ("review", "待审核"),
        ("published", "已发布"),
        ("superseded", "已被替代"),
        ("retired", "已停用"),
        ("rejected", "已退回"),
    ],
    classes: &[
        ("consultation", "咨询"),
        ("appeal", "诉求"),
        ("incident", "突发"),
        ("priority", "重点"),
        ("guidance", "指引"),
    ],
    fields: &[
        ("title", "标题"),
        ("class", "类别"),
        ("matter_code", "派单目录事项编码"),
        ("owner", "负责部门"),
        ("label", "情形"),
        ("answer", "规范答案"),
        ("legal_basis", "法律依据"),
        ("departments", "责任单位"),
        ("procedure", "办理程序"),
        ("materials", "所需材料"),
        ("fees", "收费标准"),
        ("time_limit", "办理时限"),
        ("contact", "咨询电话/地址"),
        ("effective_from", "生效日期"),
        ("expires_on", "失效日期"),
        ("keywords", "关键词"),
        ("synonyms", "同义说法"),
        ("parent", "上级节点"),
        ("position", "顺序"),
        ("kind", "节点类型"),
    ],
    changes: &[("added", "新增"), ("removed", "删除"), ("changed", "修改")],
    reasons: &[
        ("wrong", "答案有误"),
        ("outdated", "已过时"),
        ("unclear", "表述不清"),
    ],
};

pub static KN_EN: KnowledgeTexts = KnowledgeTexts {
    tile: "Knowledge items",
    tile_desc: "Your department's knowledge items: edit the draft, submit it for review, versions and diffs.",
    list_title: "Our knowledge items",
    list_intro: "Each item shows its latest version's status. The department writes and submits drafts; the hotline centre reviews and publishes them.",
    list_empty: "Your department has no knowledge items yet.",
    code: "Code",
    title: "Title",
    class: "Class",
    matter_code: "Catalogue matter code",
    version: "Version",
    status: "Status",
    written: "Last written",
    written_by: "Written by",
    submitted: "Submitted",
    reviewed_by: "Reviewed by",
    review_note: "Reviewer's note",
    tasks_title: "Open update tasks",
    no_tasks: "No open update tasks.",
    task_reason: "Reason",
    task_note: "Note",
    due: "Due",
    overdue: "overdue",
    published_title: "Published version",
    no_published: "Not published yet.",
    working_title: "Working version",
    no_working: "No unpublished version.",
    in_review: "Submitted: waiting for the hotline centre's review; it cannot be changed until then.",
    rejected_notice: "The hotline centre sent the last submission back: ",
    read_only: "Your account has no knowledge editing role (knowledge_editor): you can read only.",
    edit: "Edit the draft",
    edit_title: "Edit the draft",
    edit_intro: "Change the nodes' texts, remove or add answers, and save it as the draft; adding, removing or moving situations is done by import (mind map, OPML, CSV).",
    save: "Save the draft",
    submit: "Submit for review",
    submit_note: "Once submitted, the hotline centre reviews and publishes it; it cannot be changed during the review.",
    saved: "The draft is saved.",
    submitted_done: "Submitted for review.",
    conflict: "The item was changed after you opened this form, so nothing was saved. What you typed is kept below; saving again replaces the other change. The version now: ",
    submit_conflict: "The item was changed after you opened this page, so nothing was submitted. Look at the version now and submit again.",
    refused: "The knowledge base did not accept this save: ",
    situation: "Situation",
    answer_node: "Answer",
    one_per_line: "one per line",
    remove_answer: "Remove this answer",
    add_answer: "Add an answer",
    add_answer_note: "Leave empty when none is added. The code is upper-case letters and digits joined by '-', unique in the whole knowledge base: e.g. the item's code, -JD- and a number.",
    parent: "Under",
    top_level: "the item's first level",
    new_code: "Code",
    history: "Version history",
    compare: "compare with the previous",
    diff_title: "Changes between versions",
    no_changes: "The two versions have the same content.",
    item_level: "Item",
    before: "Before",
    after: "After",
    back_to_item: "Back to the item",
    back_to_list: "Back to the list",
    statuses: &[
        ("draft", "draft"),
        ("review", "in review"),
        ("published", "published"),
        ("superseded", "superseded"),
        ("retired", "retired"),
        ("rejected", "rejected"),
    ],
    classes: &[
        ("consultation", "consultation"),
        ("appeal", "request or complaint"),
        ("incident", "incident"),
        ("priority", "priority"),
        ("guidance", "guidance"),
    ],
    fields: &[
        ("title", "title"),
        ("class", "class"),
        ("matter_code", "catalogue matter code"),
        ("owner", "owner"),
        ("label", "situation"),
        ("answer", "standard answer"),
        ("legal_basis", "legal basis"),
        ("departments", "responsible departments"),
        ("procedure", "procedure"),
        ("materials", "materials"),
        ("fees", "fees"),
        ("time_limit", "time limit"),
        ("contact", "contact"),
        ("effective_from", "in force from"),
        ("expires_on", "expires on"),
        ("keywords", "keywords"),
        ("synonyms", "synonyms"),
        ("parent", "parent node"),
        ("position", "position"),
        ("kind", "node kind"),
    ],
    changes: &[
        ("added", "added"),
        ("removed", "removed"),
        ("changed", "changed"),
    ],
    reasons: &[
        ("wrong", "wrong answer"),
        ("outdated", "outdated"),
        ("unclear", "unclear"),
    ],
};

impl Texts {
    /// The knowledge pages' words in this table's language.
    pub fn kn(&'static self) -> &'static KnowledgeTexts {
        if std::ptr::eq(self, &EN) {
            &KN_EN
        } else {
            &KN_ZH
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn both_languages_have_the_knowledge_pages_words() {
        assert_eq!(Lang::Zh.t().kn().tile, "知识条目");
        assert_eq!(Lang::En.t().kn().tile, "Knowledge items");
        assert_eq!(Texts::name(Lang::Zh.t().kn().statuses, "review"), "待审核");
    }

    #[test]
    fn both_languages_name_the_same_codes() {
        let pairs: [(Names, Names); 5] = [
            (KN_ZH.statuses, KN_EN.statuses),
            (KN_ZH.classes, KN_EN.classes),
            (KN_ZH.fields, KN_EN.fields),
            (KN_ZH.changes, KN_EN.changes),
            (KN_ZH.reasons, KN_EN.reasons),
        ];
        for (zh, en) in pairs {
            let codes = |t: Names| t.iter().map(|(c, _)| *c).collect::<Vec<_>>();
            assert_eq!(codes(zh), codes(en));
        }
        // Every status the knowledge service has (governance.rs) has a Chinese name.
        for status in [
            "draft",
            "review",
            "published",
            "superseded",
            "retired",
            "rejected",
        ] {
            assert_ne!(Texts::name(KN_ZH.statuses, status), status);
        }
    }
}
