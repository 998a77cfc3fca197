//! Every word of the console, once per language: [`ZH`] (the default) and [`EN`]. A word added
//! to [`Texts`] must be given in both, or the crate does not build. Names of statuses, steps,
//! roles, stages and levels are tables keyed by the services' own codes; a code missing from a
//! table shows as the code.
//!
//! The language: `?lang=zh|en` on any page (remembered in the `hotline_lang` cookie for a year),
//! else the cookie, else the browser's `Accept-Language` (the first of zh/en it names), else
//! Chinese.

pub mod agent;
pub mod knowledge;
pub mod supervisor;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// The cookie that remembers a chosen language.
pub const LANG_COOKIE: &str = "hotline_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of `<html>`.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(raw: &str) -> Option<Lang> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (the switch in the header).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language for a request: the query's `lang`, the cookie's, `Accept-Language`'s, or
    /// Chinese. The second value is a language the query chose (to be remembered).
    pub fn negotiate(
        query_lang: Option<&str>,
        cookie: Option<&str>,
        accept_language: Option<&str>,
    ) -> (Lang, Option<Lang>) {
        if let Some(chosen) = query_lang.and_then(Lang::parse) {
            return (chosen, Some(chosen));
        }
        if let Some(remembered) = cookie.and_then(Lang::parse) {
            return (remembered, None);
        }
        let from_browser = accept_language.and_then(|header| {
            header.split(',').find_map(|part| {
                let tag = part.split(';').next().unwrap_or("").trim();
                let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
                match primary.as_str() {
                    "zh" => Some(Lang::Zh),
                    "en" => Some(Lang::En),
                    _ => None,
                }
            })
        });
        (from_browser.unwrap_or(Lang::Zh), None)
    }

    pub fn t(self) -> &'static Texts {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

/// A table from a service's code to its words.
pub type Names = &'static [(&'static str, &'static str)];

/// The words of one language.
pub struct Texts {
    pub app_name: &'static str,
    /// The link to the other language, in that language.
    pub other_lang: &'static str,
    pub home: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub signin_title: &'static str,
    pub signin_intro: &'static str,
    pub signed_out: &'static str,
    pub session_expired: &'static str,
    pub home_title: &'static str,
    pub home_intro: &'static str,
    pub home_nothing: &'static str,
    pub tile_inbox: &'static str,
    pub tile_inbox_desc: &'static str,
    pub tile_queue: &'static str,
    pub tile_queue_desc: &'static str,
    pub tile_returns: &'static str,
    pub tile_returns_desc: &'static str,
    pub tile_catalogue: &'static str,
    pub tile_catalogue_desc: &'static str,
    pub err_title: &'static str,
    pub err_forbidden: &'static str,
    pub err_not_found: &'static str,
    pub err_invalid: &'static str,
    pub err_conflict: &'static str,
    pub err_unavailable: &'static str,
    pub err_internal: &'static str,
    pub err_csrf: &'static str,
    pub err_signin: &'static str,
    pub back_home: &'static str,
    pub done: &'static str,
    pub refreshes: &'static str,
    pub ticket_no: &'static str,
    pub status: &'static str,
    pub matter: &'static str,
    pub description: &'static str,
    pub address: &'static str,
    pub citizen: &'static str,
    pub confidential: &'static str,
    pub channel: &'static str,
    pub request_type: &'static str,
    pub created: &'static str,
    pub lead: &'static str,
    pub co: &'static str,
    pub deadline: &'static str,
    pub no_deadline: &'static str,
    pub paused: &'static str,
    pub history: &'static str,
    pub deadlines: &'static str,
    pub stage: &'static str,
    pub due: &'static str,
    pub warn_from: &'static str,
    pub level: &'static str,
    pub extension_pending: &'static str,
    pub actions: &'static str,
    pub no_actions: &'static str,
    pub open: &'static str,
    pub inbox_title: &'static str,
    pub inbox_empty: &'static str,
    pub act_accept: &'static str,
    pub act_return: &'static str,
    pub act_progress: &'static str,
    pub act_request_info: &'static str,
    pub act_reply: &'static str,
    pub act_complete: &'static str,
    pub act_extension: &'static str,
    pub field_reason: &'static str,
    pub field_note: &'static str,
    pub field_question: &'static str,
    pub field_reply: &'static str,
    pub field_until: &'static str,
    pub reveal: &'static str,
    pub reveal_reason: &'static str,
    pub reveal_button: &'static str,
    pub revealed: &'static str,
    pub phone: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub queue_title: &'static str,
    pub queue_empty: &'static str,
    pub queue_why: &'static str,
    pub enqueued: &'static str,
    pub priority: &'static str,
    pub suggestions: &'static str,
    pub no_suggestions: &'static str,
    pub dispatch_to: &'static str,
    pub choose_department: &'static str,
    pub dispatch_button: &'static str,
    pub proposal: &'static str,
    pub returns_title: &'static str,
    pub returns_empty: &'static str,
    pub return_reason: &'static str,
    pub review_due: &'static str,
    pub uphold: &'static str,
    pub uphold_hint: &'static str,
    pub approve_redispatch: &'static str,
    pub redispatch_title: &'static str,
    pub catalogue_title: &'static str,
    pub code: &'static str,
    pub name_col: &'static str,
    pub group: &'static str,
    pub scope: &'static str,
    pub scope_city: &'static str,
    pub scope_district: &'static str,
    pub department: &'static str,
    pub co_handlers: &'static str,
    pub keywords: &'static str,
    pub version: &'static str,
    pub audit_trail: &'static str,
    pub changed_at: &'static str,
    pub changed_by: &'static str,
    pub change_reason: &'static str,
    pub change_title: &'static str,
    pub change_button: &'static str,
    pub change_admin_only: &'static str,
    pub comma_separated: &'static str,
    pub statuses: Names,
    pub steps: Names,
    pub roles: Names,
    pub stages: Names,
    pub levels: Names,
    pub channels: Names,
    pub request_types: Names,
    pub priorities: Names,
}

impl Texts {
    /// The words for `code` in `table`, or the code itself.
    pub fn name(table: Names, code: &str) -> &str {
        table
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code, |(_, words)| words)
    }
}

pub static ZH: Texts = Texts {
    app_name: "12345热线工作台",
    other_lang: "English",
    home: "首页",
    sign_in: "登录",
    sign_out: "退出",
    signin_title: "登录工作台",
    signin_intro: "请使用统一身份认证账号登录。",
    signed_out: "您已安全退出。",
    session_expired: "登录已过期，请重新登录。",
    home_title: "工作台",
    home_intro: "按您的角色可用的功能：",
    home_nothing: "您的角色在工作台中没有可用的页面。",
    tile_inbox: "部门工作台",
    tile_inbox_desc: "本部门的工单、办理时限与签收、退单、办理、答复、办结。",
    tile_queue: "人工派单",
    tile_queue_desc: "智能派单未能确定的工单及其推荐部门，一键派单。",
    tile_returns: "退单审核",
    tile_returns_desc: "部门退回的工单：审核时限、驳回或改派。",
    tile_catalogue: "派单目录",
    tile_catalogue_desc: "事项与承办部门，每次修改留痕。",
    err_title: "无法完成",
    err_forbidden: "您的角色无权查看或办理此项。",
    err_not_found: "没有找到。",
    err_invalid: "提交的内容有误：",
    err_conflict: "工单当前状态不允许此操作：",
    err_unavailable: "服务暂时不可用，请稍后重试。",
    err_internal: "内部错误，请稍后重试。",
    err_csrf: "页面已过期或来自其他网站，请刷新后重试。",
    err_signin: "登录未完成，请重新登录。",
    back_home: "返回首页",
    done: "已完成：",
    refreshes: "每30秒自动刷新",
    ticket_no: "工单编号",
    status: "状态",
    matter: "事项",
    description: "诉求内容",
    address: "地址",
    citizen: "市民",
    confidential: "保密工单：不向部门显示市民信息",
    channel: "渠道",
    request_type: "诉求类型",
    created: "受理时间",
    lead: "主办部门",
    co: "协办部门",
    deadline: "时限",
    no_deadline: "无时限",
    paused: "已暂停",
    history: "办理过程",
    deadlines: "时限",
    stage: "环节",
    due: "到期",
    warn_from: "预警",
    level: "级别",
    extension_pending: "延期申请待审批",
    actions: "办理",
    no_actions: "当前状态下本部门无可办理的操作。",
    open: "打开",
    inbox_title: "部门工作台：待办工单",
    inbox_empty: "本部门暂无待办工单。",
    act_accept: "签收",
    act_return: "退单",
    act_progress: "办理进展",
    act_request_info: "补充材料（向市民询问，时限暂停）",
    act_reply: "答复市民",
    act_complete: "办结",
    act_extension: "申请延期",
    field_reason: "理由",
    field_note: "说明",
    field_question: "需要市民补充的内容",
    field_reply: "答复内容",
    field_until: "延期至",
    reveal: "查看市民联系方式",
    reveal_reason: "查看理由（将记录审计）",
    reveal_button: "查看",
    revealed: "已按审计要求记录本次查看。",
    phone: "电话",
    name: "姓名",
    email: "邮箱",
    queue_title: "人工派单",
    queue_empty: "人工派单队列为空。",
    queue_why: "进入原因",
    enqueued: "入队时间",
    priority: "优先级",
    suggestions: "推荐",
    no_suggestions: "无推荐",
    dispatch_to: "派往",
    choose_department: "选择部门",
    dispatch_button: "派单",
    proposal: "建议不予受理",
    returns_title: "退单审核",
    returns_empty: "暂无待审核的退单。",
    return_reason: "退单理由",
    review_due: "审核时限",
    uphold: "驳回退单",
    uphold_hint: "原部门继续办理",
    approve_redispatch: "同意退单并改派",
    redispatch_title: "改派",
    catalogue_title: "派单目录",
    code: "编码",
    name_col: "名称",
    group: "分类",
    scope: "管辖",
    scope_city: "市级部门",
    scope_district: "属地（所在区）",
    department: "部门",
    co_handlers: "协办部门",
    keywords: "关键词",
    version: "版本",
    audit_trail: "修改记录",
    changed_at: "时间",
    changed_by: "修改人",
    change_reason: "修改理由",
    change_title: "修改此事项",
    change_button: "保存修改",
    change_admin_only: "只有中心管理员可以修改派单目录。",
    comma_separated: "多个用逗号分隔",
    statuses: &[
        ("received", "已受理"),
        ("answered", "已直接答复"),
        ("rejected", "不予受理"),
        ("emergency", "转紧急"),
        ("merged", "已并单"),
        ("dispatched", "已派单"),
        ("returned", "已退单"),
        ("accepted", "已签收"),
        ("in_progress", "办理中"),
        ("awaiting_citizen", "待市民补充"),
        ("replied", "已答复"),
        ("completed", "已办结"),
        ("surveyed", "已回访"),
        ("reopened", "重办"),
        ("closed", "已关闭"),
    ],
    steps: &[
        ("created", "受理"),
        ("answer", "直接答复"),
        ("reject", "不予受理"),
        ("emergency", "转紧急"),
        ("merge", "并单"),
        ("merged_from", "并入"),
        ("dispatch", "派单"),
        ("return", "退单"),
        ("review_return", "退单审核"),
        ("accept", "签收"),
        ("add_progress", "办理进展"),
        ("request_information", "补充材料"),
        ("provide_information", "市民补充材料"),
        ("supplement", "市民补充"),
        ("request_extension", "申请延期"),
        ("decide_extension", "延期审批"),
        ("reply", "答复"),
        ("complete", "办结"),
        ("redispatch", "二级派单"),
        ("supervise", "督办"),
        ("release", "解除暂缓"),
        ("survey", "回访"),
        ("survey_unreachable", "回访未接通"),
        ("close", "关闭"),
        ("reopen", "重办"),
        ("conclude", "督办结论"),
    ],
    roles: &[
        ("agent", "接线员"),
        ("dispatcher", "派单员"),
        ("supervisor", "督办"),
        ("admin", "中心管理员"),
        ("knowledge_editor", "知识编辑"),
        ("department_staff", "部门人员"),
    ],
    stages: &[
        ("dispatch", "派单"),
        ("sign_off", "签收"),
        ("handling", "办理"),
        ("return_review", "退单审核"),
        ("callback", "回访"),
    ],
    levels: &[
        ("none", "正常"),
        ("warned", "预警"),
        ("overdue", "超时"),
        ("supervised", "督办"),
        ("escalated", "升级督办"),
    ],
    channels: &[
        ("phone", "电话"),
        ("wechat", "微信"),
        ("web", "网站"),
        ("email", "邮件"),
        ("app", "App"),
        ("sms", "短信"),
    ],
    request_types: &[
        ("consultation", "咨询"),
        ("help_request", "求助"),
        ("complaint", "投诉"),
        ("report", "举报"),
        ("suggestion", "建议"),
        ("praise", "表扬"),
    ],
    priorities: &[
        ("emergency", "紧急"),
        ("out_of_scope", "疑似不予受理"),
        ("normal", "一般"),
    ],
};

pub static EN: Texts = Texts {
    app_name: "12345 Hotline Console",
    other_lang: "中文",
    home: "Home",
    sign_in: "Sign in",
    sign_out: "Sign out",
    signin_title: "Sign in to the console",
    signin_intro: "Sign in with your hotline account.",
    signed_out: "You have signed out.",
    session_expired: "Your session has ended. Please sign in again.",
    home_title: "Console",
    home_intro: "What your roles allow:",
    home_nothing: "Your roles have no page in the console.",
    tile_inbox: "Department portal",
    tile_inbox_desc: "Your department's tickets and deadlines: accept, return, work, reply, complete.",
    tile_queue: "Manual dispatch",
    tile_queue_desc: "Tickets smart dispatch was not sure of, with suggested departments; one-click dispatch.",
    tile_returns: "Return reviews",
    tile_returns_desc: "Tickets departments returned: review deadline, reject or re-dispatch.",
    tile_catalogue: "Dispatch catalogue",
    tile_catalogue_desc: "Matters and the departments that handle them, every change audited.",
    err_title: "Could not do that",
    err_forbidden: "Your roles do not allow you to see or do this.",
    err_not_found: "Not found.",
    err_invalid: "Something in the request is not right: ",
    err_conflict: "The ticket's state does not allow this: ",
    err_unavailable: "A service is unavailable. Please try again shortly.",
    err_internal: "Internal error. Please try again shortly.",
    err_csrf: "The page has expired or came from another site. Reload it and try again.",
    err_signin: "Sign-in did not complete. Please sign in again.",
    back_home: "Back to the home page",
    done: "Done: ",
    refreshes: "refreshes every 30 seconds",
    ticket_no: "Ticket",
    status: "Status",
    matter: "Matter",
    description: "Description",
    address: "Address",
    citizen: "Citizen",
    confidential: "Confidential: the citizen is not shown to departments",
    channel: "Channel",
    request_type: "Type",
    created: "Received",
    lead: "Lead department",
    co: "Co-handlers",
    deadline: "Deadline",
    no_deadline: "no deadline",
    paused: "paused",
    history: "History",
    deadlines: "Deadlines",
    stage: "Stage",
    due: "Due",
    warn_from: "Warning from",
    level: "Level",
    extension_pending: "Extension request awaiting decision",
    actions: "Actions",
    no_actions: "Nothing for your department to do in this state.",
    open: "Open",
    inbox_title: "Department portal: open tickets",
    inbox_empty: "No open tickets for your department.",
    act_accept: "Accept",
    act_return: "Return",
    act_progress: "Add progress",
    act_request_info: "Ask the citizen for material (the clock pauses)",
    act_reply: "Reply to the citizen",
    act_complete: "Complete",
    act_extension: "Ask for an extension",
    field_reason: "Reason",
    field_note: "Note",
    field_question: "What the citizen should add",
    field_reply: "Reply",
    field_until: "Extend until",
    reveal: "Show the citizen's contact details",
    reveal_reason: "Reason (audited)",
    reveal_button: "Show",
    revealed: "This reveal has been recorded in the audit.",
    phone: "Phone",
    name: "Name",
    email: "Email",
    queue_title: "Manual dispatch",
    queue_empty: "The manual dispatch queue is empty.",
    queue_why: "Why here",
    enqueued: "Queued",
    priority: "Priority",
    suggestions: "Suggestions",
    no_suggestions: "no suggestions",
    dispatch_to: "Dispatch to",
    choose_department: "Choose a department",
    dispatch_button: "Dispatch",
    proposal: "Proposed: not accepted",
    returns_title: "Return reviews",
    returns_empty: "No returns waiting for review.",
    return_reason: "Reason for the return",
    review_due: "Review due",
    uphold: "Reject the return",
    uphold_hint: "the department keeps the ticket",
    approve_redispatch: "Approve and re-dispatch",
    redispatch_title: "Re-dispatch",
    catalogue_title: "Dispatch catalogue",
    code: "Code",
    name_col: "Name",
    group: "Group",
    scope: "Scope",
    scope_city: "city department",
    scope_district: "the district it is in",
    department: "Department",
    co_handlers: "Co-handlers",
    keywords: "Keywords",
    version: "Version",
    audit_trail: "Audit trail",
    changed_at: "When",
    changed_by: "By",
    change_reason: "Reason for the change",
    change_title: "Change this matter",
    change_button: "Save the change",
    change_admin_only: "Only the centre's administrators may change the catalogue.",
    comma_separated: "comma-separated",
    statuses: &[
        ("received", "received"),
        ("answered", "answered"),
        ("rejected", "not accepted"),
        ("emergency", "emergency"),
        ("merged", "merged"),
        ("dispatched", "dispatched"),
        ("returned", "returned"),
        ("accepted", "accepted"),
        ("in_progress", "in progress"),
        ("awaiting_citizen", "awaiting the citizen"),
        ("replied", "replied"),
        ("completed", "completed"),
        ("surveyed", "surveyed"),
        ("reopened", "reopened"),
        ("closed", "closed"),
    ],
    steps: &[
        ("created", "received"),
        ("answer", "answered on the spot"),
        ("reject", "not accepted"),
        ("emergency", "handed to emergency services"),
        ("merge", "merged"),
        ("merged_from", "merged in"),
        ("dispatch", "dispatched"),
        ("return", "returned"),
        ("review_return", "return reviewed"),
        ("accept", "accepted"),
        ("add_progress", "progress"),
        ("request_information", "material requested"),
        ("provide_information", "citizen provided material"),
        ("supplement", "citizen added"),
        ("request_extension", "extension requested"),
        ("decide_extension", "extension decided"),
        ("reply", "replied"),
        ("complete", "completed"),
        ("redispatch", "passed to a street"),
        ("supervise", "supervised"),
        ("release", "released"),
        ("survey", "surveyed"),
        ("survey_unreachable", "callback unreachable"),
        ("close", "closed"),
        ("reopen", "reopened"),
        ("conclude", "concluded"),
    ],
    roles: &[
        ("agent", "agent"),
        ("dispatcher", "dispatcher"),
        ("supervisor", "supervisor"),
        ("admin", "administrator"),
        ("knowledge_editor", "knowledge editor"),
        ("department_staff", "department staff"),
    ],
    stages: &[
        ("dispatch", "dispatch"),
        ("sign_off", "sign-off"),
        ("handling", "handling"),
        ("return_review", "return review"),
        ("callback", "callback"),
    ],
    levels: &[
        ("none", "on time"),
        ("warned", "warning"),
        ("overdue", "overdue"),
        ("supervised", "supervised"),
        ("escalated", "escalated"),
    ],
    channels: &[
        ("phone", "phone"),
        ("wechat", "WeChat"),
        ("web", "web"),
        ("email", "email"),
        ("app", "app"),
        ("sms", "SMS"),
    ],
    request_types: &[
        ("consultation", "consultation"),
        ("help_request", "help request"),
        ("complaint", "complaint"),
        ("report", "report"),
        ("suggestion", "suggestion"),
        ("praise", "praise"),
    ],
    priorities: &[
        ("emergency", "emergency"),
        ("out_of_scope", "possibly out of scope"),
        ("normal", "normal"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_domain::Status;

    #[test]
    fn the_language_comes_from_the_query_then_the_cookie_then_the_browser() {
        assert_eq!(Lang::negotiate(None, None, None), (Lang::Zh, None));
        assert_eq!(
            Lang::negotiate(Some("en"), Some("zh"), Some("zh-CN")),
            (Lang::En, Some(Lang::En))
        );
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("en"), None),
            (Lang::En, None)
        );
        assert_eq!(
            Lang::negotiate(None, None, Some("en-GB,en;q=0.9,zh;q=0.8")),
            (Lang::En, None)
        );
        assert_eq!(
            Lang::negotiate(None, None, Some("fr-FR, zh-TW;q=0.7, en;q=0.5")),
            (Lang::Zh, None)
        );
        assert_eq!(Lang::negotiate(None, None, Some("de")), (Lang::Zh, None));
    }

    #[test]
    fn words_are_looked_up_per_language_and_every_status_has_a_name() {
        assert_eq!(Lang::Zh.t().sign_in, "登录");
        assert_eq!(Lang::En.t().sign_in, "Sign in");
        for lang in [Lang::Zh, Lang::En] {
            let t = lang.t();
            for status in Status::ALL {
                let name = Texts::name(t.statuses, status.as_str());
                assert!(
                    lang == Lang::En || name != status.as_str(),
                    "{status} has no Chinese name"
                );
            }
        }
        assert_eq!(Texts::name(ZH.steps, "accept"), "签收");
        assert_eq!(Texts::name(EN.stages, "return_review"), "return review");
        assert_eq!(Texts::name(ZH.levels, "no-such-level"), "no-such-level");
    }

    #[test]
    fn both_languages_name_the_same_codes() {
        let pairs: [(Names, Names); 8] = [
            (ZH.statuses, EN.statuses),
            (ZH.steps, EN.steps),
            (ZH.roles, EN.roles),
            (ZH.stages, EN.stages),
            (ZH.levels, EN.levels),
            (ZH.channels, EN.channels),
            (ZH.request_types, EN.request_types),
            (ZH.priorities, EN.priorities),
        ];
        for (zh, en) in pairs {
            let codes = |t: Names| t.iter().map(|(c, _)| *c).collect::<Vec<_>>();
            assert_eq!(codes(zh), codes(en));
        }
    }
}
