//! The ticket (工单) and its closed loop (国办发〔2020〕53号: 受理、派单、办理、答复、督办、办结、回访、评价).
//!
//! ```text
//! received ─┬─> answered ──────────────────────────────> surveyed ─> closed
//!           ├─> rejected | emergency | merged
//!           └─> dispatched ─┬─> returned ─> (review) ─> dispatched
//!                           └─> accepted ─> in_progress ─> replied ─> completed ─> surveyed
//!                                 │  ▲  │                 surveyed(unsatisfied) ─> reopened ─> dispatched
//!                                 └──┼──┴─> awaiting_citizen (补充材料) ─> in_progress
//! ```
//! [`Ticket::decide`] is the single place that says whether an action is allowed, by whom, and
//! what state follows; the tickets service applies it and writes the history.
//!
//! A ticket created during a call may be held (`held`, 暂缓派单): it stays received and is not
//! dispatched until it is released (`release`: the agent finished the call, or the call ended
//! and the wrap-up time passed) or the agent ends it on the spot (answer, reject, emergency,
//! merge). So an answer on the spot never races an automatic dispatch.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::department::{DepartmentLevel, Directory};
use crate::ids::{DeptCode, TicketNo};

/// The kind of contact (诉求类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// 咨询
    Consultation,
    /// 求助
    HelpRequest,
    /// 投诉
    Complaint,
    /// 举报
    Report,
    /// 建议
    Suggestion,
    /// 表扬
    Praise,
}

impl RequestType {
    pub const ALL: [RequestType; 6] = [
        RequestType::Consultation,
        RequestType::HelpRequest,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Suggestion,
        RequestType::Praise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Consultation => "consultation",
            RequestType::HelpRequest => "help_request",
            RequestType::Complaint => "complaint",
            RequestType::Report => "report",
            RequestType::Suggestion => "suggestion",
            RequestType::Praise => "praise",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            RequestType::Consultation => "咨询",
            RequestType::HelpRequest => "求助",
            RequestType::Complaint => "投诉",
            RequestType::Report => "举报",
            RequestType::Suggestion => "建议",
            RequestType::Praise => "表扬",
        }
    }

    /// Accepts the English name or the Chinese term.
    pub fn parse(raw: &str) -> Option<RequestType> {
        let raw = raw.trim();
        RequestType::ALL
            .into_iter()
            .find(|t| t.as_str() == raw || t.chinese() == raw)
    }
}

/// The channel a contact came in on; notices go back on the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Wechat,
    Web,
    Email,
    App,
    /// Text messages through the city's SMS gateway (`hotline sms`).
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "phone",
            Channel::Wechat => "wechat",
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::App => "app",
            Channel::Sms => "sms",
        }
    }
}

/// Where a ticket is in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 受理: registered, not yet routed.
    Received,
    /// 直接答复: answered on the spot from the knowledge base.
    Answered,
    /// 不予受理: out of scope (litigation, arbitration, 信访, secrets, privacy...).
    Rejected,
    /// 紧急转办: handed to 110/119/120.
    Emergency,
    /// 并单: merged into an earlier ticket on the same matter.
    Merged,
    /// 派单: waiting for the lead department to sign for it.
    Dispatched,
    /// 退单: the department sent it back; waiting for the centre's review.
    Returned,
    /// 签收: the lead department signed for it.
    Accepted,
    /// 办理: the department is working on it.
    InProgress,
    /// 补充材料: the department asked the citizen for more information and waits for the answer;
    /// the department's deadline clock is paused meanwhile.
    AwaitingCitizen,
    /// 答复: the department replied to the citizen.
    Replied,
    /// 办结: the department completed it.
    Completed,
    /// 回访: the citizen was called back and gave a rating.
    Surveyed,
    /// 重办: the citizen was not satisfied; waiting to be dispatched again.
    Reopened,
    /// 归档: done.
    Closed,
}

impl Status {
    pub const ALL: [Status; 15] = [
        Status::Received,
        Status::Answered,
        Status::Rejected,
        Status::Emergency,
        Status::Merged,
        Status::Dispatched,
        Status::Returned,
        Status::Accepted,
        Status::InProgress,
        Status::AwaitingCitizen,
        Status::Replied,
        Status::Completed,
        Status::Surveyed,
        Status::Reopened,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Answered => "answered",
            Status::Rejected => "rejected",
            Status::Emergency => "emergency",
            Status::Merged => "merged",
            Status::Dispatched => "dispatched",
            Status::Returned => "returned",
            Status::Accepted => "accepted",
            Status::InProgress => "in_progress",
            Status::AwaitingCitizen => "awaiting_citizen",
            Status::Replied => "replied",
            Status::Completed => "completed",
            Status::Surveyed => "surveyed",
            Status::Reopened => "reopened",
            Status::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// No action can follow.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Rejected | Status::Emergency | Status::Merged | Status::Closed
        )
    }

    /// Whether the citizen's matter is still being worked on: Open311's `open` vs `closed`.
    /// Completed, answered and surveyed tickets are `closed` for the citizen even though the
    /// callback may still reopen them.
    pub fn is_open_for_citizen(self) -> bool {
        matches!(
            self,
            Status::Received
                | Status::Dispatched
                | Status::Returned
                | Status::Accepted
                | Status::InProgress
                | Status::AwaitingCitizen
                | Status::Replied
                | Status::Reopened
        )
    }

    /// A department holds the ticket (its clock runs, except while awaiting the citizen).
    pub fn is_with_department(self) -> bool {
        matches!(
            self,
            Status::Dispatched
                | Status::Accepted
                | Status::InProgress
                | Status::AwaitingCitizen
                | Status::Replied
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did something to a ticket; every history entry names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The citizen, through a channel.
    Citizen { channel: Channel },
    /// A hotline centre agent or supervisor (坐席/班长).
    Agent { id: String },
    /// A department, through the gateway.
    Department { code: DeptCode },
    /// A service acting on its own (auto-dispatch, SLA, survey).
    System { service: String },
}

impl Actor {
    pub fn system(service: &str) -> Actor {
        Actor::System {
            service: service.to_owned(),
        }
    }

    fn is_centre(&self) -> bool {
        matches!(self, Actor::Agent { .. } | Actor::System { .. })
    }
}

/// Rules for not accepting a contact (不予受理).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectRule {
    /// 已进入诉讼程序
    Litigation,
    /// 已进入仲裁程序
    Arbitration,
    /// 应通过信访渠道
    Petition,
    /// 涉及国家秘密
    StateSecret,
    /// 涉及他人隐私
    Privacy,
    /// 非本市管辖
    OutOfJurisdiction,
    /// 无实质内容
    NoSubstance,
    /// 纪检监察: reports on officials' discipline or corruption belong to the discipline
    /// inspection and supervision organs (12388).
    DisciplineInspection,
    /// 行政复议: contesting an administrative decision goes to the review body by law.
    AdministrativeReview,
    /// 信息公开: a request for government information follows the disclosure-on-request
    /// procedure of the Regulations on Open Government Information.
    InformationDisclosure,
    /// 商业秘密: the request asks for another party's trade secrets.
    TradeSecret,
    /// 违背公序良俗: the request itself runs against public order and good morals.
    PublicOrder,
}

impl RejectRule {
    pub const ALL: [RejectRule; 12] = [
        RejectRule::Litigation,
        RejectRule::Arbitration,
        RejectRule::Petition,
        RejectRule::StateSecret,
        RejectRule::Privacy,
        RejectRule::OutOfJurisdiction,
        RejectRule::NoSubstance,
        RejectRule::DisciplineInspection,
        RejectRule::AdministrativeReview,
        RejectRule::InformationDisclosure,
        RejectRule::TradeSecret,
        RejectRule::PublicOrder,
    ];

    /// The rule as the centre cites it to the citizen (不予受理的依据), with where to go instead.
    pub fn citation(self) -> &'static str {
        match self {
            RejectRule::Litigation => "已进入诉讼程序的，依法不予受理，请通过司法途径解决",
            RejectRule::Arbitration => "已进入仲裁程序的，依法不予受理，请通过仲裁途径解决",
            RejectRule::Petition => "应当通过信访渠道反映的，请向信访部门提出",
            RejectRule::StateSecret => "涉及国家秘密的，不予受理",
            RejectRule::Privacy => "涉及他人隐私的，不予受理",
            RejectRule::OutOfJurisdiction => "不属于本市行政区域管辖的，请向所在地政府服务热线反映",
            RejectRule::NoSubstance => "诉求无实质内容的，不予受理",
            RejectRule::DisciplineInspection => {
                "属于纪检监察机关受理范围的，请向纪检监察机关反映（12388）"
            }
            RejectRule::AdministrativeReview => {
                "属于行政复议范围的，请依法向行政复议机关申请行政复议"
            }
            RejectRule::InformationDisclosure => {
                "申请获取政府信息的，请按《政府信息公开条例》依申请公开程序办理"
            }
            RejectRule::TradeSecret => "涉及商业秘密的，不予受理",
            RejectRule::PublicOrder => "违背公序良俗的诉求，不予受理",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyService {
    Police110,
    Fire119,
    Ambulance120,
}

/// The centre's ruling on a department's return (退单审核).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReturnDecision {
    /// The return was right: send the ticket to the department that owns the matter.
    Redispatch {
        lead: DeptCode,
        #[serde(default)]
        co: Vec<DeptCode>,
    },
    /// The return was wrong: the same department keeps the ticket.
    Uphold,
}

/// Everything that can happen to a ticket after it was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Answer {
        answer: String,
        #[serde(default)]
        knowledge_leaf: Option<String>,
    },
    Reject {
        rule: RejectRule,
        note: String,
    },
    Emergency {
        service: EmergencyService,
        note: String,
    },
    Merge {
        into: TicketNo,
    },
    Dispatch {
        lead: DeptCode,
        #[serde(default)]
        co: Vec<DeptCode>,
        #[serde(default)]
        note: String,
    },
    Return {
        reason: String,
    },
    ReviewReturn {
        ruling: ReturnDecision,
        #[serde(default)]
        note: String,
    },
    Accept,
    AddProgress {
        note: String,
    },
    /// 补充材料: the lead department asks the citizen for more information; its clock pauses.
    RequestInformation {
        question: String,
    },
    /// The citizen's answer, recorded by the centre on the citizen's behalf; the clock resumes.
    ProvideInformation {
        note: String,
    },
    /// 市民补充: the citizen adds to their open ticket (a reply to the receipt, a later message),
    /// recorded by the centre on their behalf. Unlike `ProvideInformation` nobody asked, so the
    /// status and the clocks stay as they are; the department sees it in the history.
    Supplement {
        note: String,
    },
    RequestExtension {
        reason: String,
        until: DateTime<Utc>,
    },
    DecideExtension {
        approved: bool,
        #[serde(default)]
        note: String,
    },
    Reply {
        text: String,
    },
    Complete {
        #[serde(default)]
        note: String,
    },
    /// 二级派单: a district hands the ticket to one of its streets.
    Redispatch {
        to: DeptCode,
        #[serde(default)]
        note: String,
    },
    /// 督办: a supervision order; allowed on any open ticket.
    Supervise {
        note: String,
    },
    /// Lifts the hold of a ticket created during a call: the agent finished (or the call ended
    /// and the wrap-up time passed), so dispatch may now route it. The status stays received.
    Release,
    Survey {
        satisfied: bool,
        #[serde(default)]
        note: String,
    },
    /// 回访未接通: the citizen could not be reached for the callback after the retries; the
    /// callback clock stops and the ticket may be closed, counted neither satisfied nor not.
    SurveyUnreachable {
        attempts: u32,
    },
    Close,
    /// 重办: the citizen was not satisfied; the ticket goes back to the lead department it had
    /// (or to dispatch when it had none, an answer on the spot).
    Reopen {
        reason: String,
    },
    /// A supervisor's ruling that ends an unsatisfied ticket without another reopen: the
    /// centre explained the outcome (解释办结), or the request is an unreasonable repeat
    /// (无理重复诉求) under a cited rule.
    Conclude {
        ruling: Ruling,
        note: String,
    },
    /// 并单, the target's side: `from` was merged into this ticket, whose steps its citizen now
    /// hears about. Recorded by the ledger with the `merge` of `from` (both in one transaction);
    /// nobody sends it.
    MergedFrom {
        from: TicketNo,
    },
}

/// How a supervisor concludes an unsatisfied ticket ([`Action::Conclude`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ruling {
    /// 解释办结: handled as far as the law allows; the citizen was told why.
    Explained,
    /// 无理重复诉求: the same demand again without new facts, closed under `rule` (the city's
    /// rule, cited by name and article).
    UnreasonableRepeat { rule: String },
}

impl Action {
    /// A stable name used in subjects, metrics and history.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Answer { .. } => "answer",
            Action::Reject { .. } => "reject",
            Action::Emergency { .. } => "emergency",
            Action::Merge { .. } => "merge",
            Action::Dispatch { .. } => "dispatch",
            Action::Return { .. } => "return",
            Action::ReviewReturn { .. } => "review_return",
            Action::Accept => "accept",
            Action::AddProgress { .. } => "add_progress",
            Action::RequestInformation { .. } => "request_information",
            Action::ProvideInformation { .. } => "provide_information",
            Action::Supplement { .. } => "supplement",
            Action::RequestExtension { .. } => "request_extension",
            Action::DecideExtension { .. } => "decide_extension",
            Action::Reply { .. } => "reply",
            Action::Complete { .. } => "complete",
            Action::Redispatch { .. } => "redispatch",
            Action::Supervise { .. } => "supervise",
            Action::Release => "release",
            Action::Survey { .. } => "survey",
            Action::SurveyUnreachable { .. } => "survey_unreachable",
            Action::Close => "close",
            Action::Reopen { .. } => "reopen",
            Action::Conclude { .. } => "conclude",
            Action::MergedFrom { .. } => "merged_from",
        }
    }
}

/// Why an action was refused. Tests and callers match on these, never on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a ticket that is {from} cannot take `{action}`")]
    Illegal { from: Status, action: &'static str },
    #[error("only the hotline centre may `{action}`")]
    CentreOnly { action: &'static str },
    #[error("only the department handling the ticket may `{action}`")]
    NotHandler { action: &'static str },
    #[error("the department is not in the directory")]
    UnknownDepartment,
    #[error("a ticket can only be passed down from a district to one of its own streets")]
    NotAStreetOfDistrict,
    #[error("the text must not be empty")]
    EmptyText,
    #[error("an extension request is already waiting for a decision")]
    ExtensionPending,
    #[error("no extension request is waiting for a decision")]
    NoExtensionPending,
    #[error("a ticket cannot be merged into itself")]
    MergeIntoSelf,
    #[error("the lead department cannot also be a co-handler")]
    LeadAlsoCoHandler,
    #[error(
        "the ticket is held while the agent is on the call; it cannot `{action}` until released"
    )]
    Held { action: &'static str },
    #[error("the ticket is not held")]
    NotHeld,
}

/// What the ledger knows about a ticket that matters for deciding its next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub no: TicketNo,
    pub status: Status,
    /// 主办: the lead department, while a department holds the ticket.
    pub lead: Option<DeptCode>,
    /// 协办: co-handling departments.
    pub co: Vec<DeptCode>,
    pub extension_pending: bool,
    /// Satisfaction from the last callback, if any.
    pub satisfied: Option<bool>,
    /// Held from dispatch while the agent who created it during a call has not finished.
    #[serde(default)]
    pub held: bool,
}

/// The result of an allowed action: the ticket's next state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: Status,
    pub lead: Option<DeptCode>,
    pub co: Vec<DeptCode>,
    pub extension_pending: bool,
    pub satisfied: Option<bool>,
    pub held: bool,
}

impl Ticket {
    pub fn new(no: TicketNo) -> Ticket {
        Ticket {
            no,
            status: Status::Received,
            lead: None,
            co: Vec::new(),
            extension_pending: false,
            satisfied: None,
            held: false,
        }
    }

    /// Decides whether `actor` may take `action` now, and what follows.
    pub fn decide(
        &self,
        actor: &Actor,
        action: &Action,
        directory: &Directory,
    ) -> Result<Transition, TransitionError> {
        use Status as S;
        let name = action.name();
        let illegal = || TransitionError::Illegal {
            from: self.status,
            action: name,
        };
        let keep = |to: Status| Transition {
            to,
            lead: self.lead.clone(),
            co: self.co.clone(),
            extension_pending: self.extension_pending,
            satisfied: self.satisfied,
            held: self.held,
        };
        if self.status.is_terminal() {
            return Err(illegal());
        }
        let centre_only = || {
            if actor.is_centre() {
                Ok(())
            } else {
                Err(TransitionError::CentreOnly { action: name })
            }
        };
        let lead_only = || match actor {
            Actor::Department { code } if self.lead.as_ref() == Some(code) => Ok(()),
            _ => Err(TransitionError::NotHandler { action: name }),
        };
        let known = |code: &DeptCode| {
            if directory.contains(code) {
                Ok(())
            } else {
                Err(TransitionError::UnknownDepartment)
            }
        };
        let assign = |lead: &DeptCode, co: &[DeptCode]| -> Result<Transition, TransitionError> {
            known(lead)?;
            for c in co {
                known(c)?;
                if c == lead {
                    return Err(TransitionError::LeadAlsoCoHandler);
                }
            }
            let mut co = co.to_vec();
            co.sort();
            co.dedup();
            Ok(Transition {
                to: S::Dispatched,
                lead: Some(lead.clone()),
                co,
                extension_pending: false,
                satisfied: None,
                held: false,
            })
        };
        let non_empty = |text: &str| {
            if text.trim().is_empty() {
                Err(TransitionError::EmptyText)
            } else {
                Ok(())
            }
        };
        let released = |to: Status| Transition {
            to,
            lead: None,
            co: Vec::new(),
            extension_pending: false,
            satisfied: self.satisfied,
            held: false,
        };

        match action {
            Action::Answer { answer, .. } => {
                centre_only()?;
                non_empty(answer)?;
                if self.status != S::Received {
                    return Err(illegal());
                }
                Ok(released(S::Answered))
            }
            Action::Reject { .. } | Action::Emergency { .. } => {
                centre_only()?;
                if self.status != S::Received {
                    return Err(illegal());
                }
                Ok(released(if matches!(action, Action::Reject { .. }) {
                    S::Rejected
                } else {
                    S::Emergency
                }))
            }
            Action::Merge { into } => {
                centre_only()?;
                if *into == self.no {
                    return Err(TransitionError::MergeIntoSelf);
                }
                if self.status != S::Received {
                    return Err(illegal());
                }
                Ok(released(S::Merged))
            }
            Action::Dispatch { lead, co, .. } => {
                centre_only()?;
                if !matches!(self.status, S::Received | S::Reopened) {
                    return Err(illegal());
                }
                // The agent on the call may still answer it: dispatch waits for the release.
                if self.held {
                    return Err(TransitionError::Held { action: name });
                }
                assign(lead, co)
            }
            Action::Return { reason } => {
                lead_only()?;
                non_empty(reason)?;
                if self.status != S::Dispatched {
                    return Err(illegal());
                }
                Ok(keep(S::Returned))
            }
            Action::ReviewReturn { ruling, .. } => {
                centre_only()?;
                if self.status != S::Returned {
                    return Err(illegal());
                }
                match ruling {
                    ReturnDecision::Uphold => Ok(keep(S::Dispatched)),
                    ReturnDecision::Redispatch { lead, co } => assign(lead, co),
                }
            }
            Action::Accept => {
                lead_only()?;
                if self.status != S::Dispatched {
                    return Err(illegal());
                }
                Ok(keep(S::Accepted))
            }
            Action::AddProgress { note } => {
                match actor {
                    Actor::Department { code }
                        if self.lead.as_ref() == Some(code) || self.co.contains(code) => {}
                    _ => return Err(TransitionError::NotHandler { action: name }),
                }
                non_empty(note)?;
                match self.status {
                    S::Accepted | S::InProgress => Ok(keep(S::InProgress)),
                    _ => Err(illegal()),
                }
            }
            Action::RequestInformation { question } => {
                lead_only()?;
                non_empty(question)?;
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                // A pending extension is decided against a running clock: settle it first.
                if self.extension_pending {
                    return Err(TransitionError::ExtensionPending);
                }
                Ok(keep(S::AwaitingCitizen))
            }
            Action::ProvideInformation { note } => {
                centre_only()?;
                non_empty(note)?;
                if self.status != S::AwaitingCitizen {
                    return Err(illegal());
                }
                Ok(keep(S::InProgress))
            }
            Action::RequestExtension { reason, .. } => {
                lead_only()?;
                non_empty(reason)?;
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                if self.extension_pending {
                    return Err(TransitionError::ExtensionPending);
                }
                Ok(Transition {
                    extension_pending: true,
                    ..keep(self.status)
                })
            }
            Action::DecideExtension { .. } => {
                centre_only()?;
                if !self.status.is_with_department() {
                    return Err(illegal());
                }
                if !self.extension_pending {
                    return Err(TransitionError::NoExtensionPending);
                }
                Ok(Transition {
                    extension_pending: false,
                    ..keep(self.status)
                })
            }
            Action::Reply { text } => {
                lead_only()?;
                non_empty(text)?;
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                Ok(keep(S::Replied))
            }
            Action::Complete { .. } => {
                lead_only()?;
                if self.status != S::Replied {
                    return Err(illegal());
                }
                Ok(Transition {
                    extension_pending: false,
                    ..keep(S::Completed)
                })
            }
            Action::Redispatch { to, .. } => {
                let Actor::Department { code } = actor else {
                    return Err(TransitionError::NotHandler { action: name });
                };
                lead_only()?;
                if !matches!(self.status, S::Dispatched | S::Accepted) {
                    return Err(illegal());
                }
                if directory.get(code).map(|d| d.level) != Some(DepartmentLevel::District)
                    || !directory.is_street_of(code, to)
                {
                    return Err(TransitionError::NotAStreetOfDistrict);
                }
                Ok(Transition {
                    to: S::Dispatched,
                    lead: Some(to.clone()),
                    co: self.co.clone(),
                    extension_pending: false,
                    satisfied: None,
                    held: false,
                })
            }
            Action::Supplement { note } => {
                centre_only()?;
                non_empty(note)?;
                if !self.status.is_open_for_citizen() {
                    return Err(illegal());
                }
                Ok(keep(self.status))
            }
            Action::Release => {
                centre_only()?;
                if !self.held {
                    return Err(TransitionError::NotHeld);
                }
                Ok(Transition {
                    held: false,
                    ..keep(self.status)
                })
            }
            Action::Supervise { note } => {
                centre_only()?;
                non_empty(note)?;
                if !self.status.is_open_for_citizen() {
                    return Err(illegal());
                }
                Ok(keep(self.status))
            }
            Action::Survey { satisfied, .. } => {
                centre_only()?;
                if !matches!(self.status, S::Completed | S::Answered) {
                    return Err(illegal());
                }
                Ok(Transition {
                    satisfied: Some(*satisfied),
                    ..keep(S::Surveyed)
                })
            }
            Action::SurveyUnreachable { .. } => {
                centre_only()?;
                if !matches!(self.status, S::Completed | S::Answered) {
                    return Err(illegal());
                }
                Ok(Transition {
                    satisfied: None,
                    ..keep(S::Surveyed)
                })
            }
            Action::Close => {
                centre_only()?;
                match (self.status, self.satisfied) {
                    // Satisfied, or not reached (unreachable is not counted as satisfied, but
                    // nothing is left to do).
                    (S::Surveyed, Some(true) | None) => Ok(keep(S::Closed)),
                    // A ticket the citizen could not be reached about is archived as completed.
                    (S::Completed | S::Answered, _) => Ok(keep(S::Closed)),
                    _ => Err(illegal()),
                }
            }
            Action::Reopen { reason } => {
                centre_only()?;
                non_empty(reason)?;
                if self.status != S::Surveyed || self.satisfied != Some(false) {
                    return Err(illegal());
                }
                // The lead stays: dispatch sends a reopened ticket back to the department that
                // completed it (重办 to the same lead), and routes one that had none.
                Ok(keep(S::Reopened))
            }
            Action::Conclude { ruling, note } => {
                centre_only()?;
                non_empty(note)?;
                if let Ruling::UnreasonableRepeat { rule } = ruling {
                    non_empty(rule)?;
                }
                if self.status != S::Surveyed || self.satisfied != Some(false) {
                    return Err(illegal());
                }
                Ok(keep(S::Closed))
            }
            Action::MergedFrom { from } => {
                centre_only()?;
                if *from == self.no {
                    return Err(TransitionError::MergeIntoSelf);
                }
                // Only a matter still being worked on can carry another citizen's along: a
                // finished one would leave the merged citizen without an answer.
                if !self.status.is_open_for_citizen() {
                    return Err(illegal());
                }
                Ok(keep(self.status))
            }
        }
    }

    /// Applies an allowed transition.
    pub fn apply(&mut self, transition: Transition) {
        self.status = transition.to;
        self.lead = transition.lead;
        self.co = transition.co;
        self.extension_pending = transition.extension_pending;
        self.satisfied = transition.satisfied;
        self.held = transition.held;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hold_tests;
