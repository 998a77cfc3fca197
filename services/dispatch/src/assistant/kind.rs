//! What kind of contact a message is (诉求类型), how urgent, and whether it is an emergency
//! for 110/119/120.
//!
//! Request type: every type scores its cues and the highest score wins.
//!
//! - The citizen's own word for the message outranks everything: 举报/投诉/求助/建议/咨询 in
//!   the title (10), or said of this message in the body ("特向您投诉", "现举报", "以上个人建议",
//!   5). A citizen who writes 建议 or 投诉 has chosen; agents keep that unless it is absurd.
//! - Then what the text does: grievance words (乱收费, 不作为, 推诿, 扰民, 污染…) for a
//!   complaint; another's offence (非法, 偷排, 保护伞, 未经检疫…) for a report; a wish for
//!   something new ("希望…能给…装空调", "呼吁") for a suggestion; a plea ("恳请解决", "帮帮",
//!   "求助无门") for help; a question ("请问", "是否", "怎么办理", "？") for a consultation.
//!   Each counts a little, and grievance counts before a question mark: complaints on the board
//!   are full of rhetorical questions ("为什么修好的路灯不开？").
//! - Ties go to the type that asks most of the city: report, complaint, help, suggestion,
//!   consultation, praise (a report names an offence to investigate; a consultation only needs
//!   an answer).
//!
//! Urgency: `emergency` when [`emergency`] finds one; `urgent` for a plea of urgency (紧急,
//! 十万火急, 人命关天, 救命, 立即派人) or an acute hazard (随时可能倒塌, 电线裸露, 井盖丢失,
//! 电梯下坠, 差点丢了性命); else `normal`. The ritual "希望尽快解决" and a standing
//! "安全隐患" are not urgent: nearly every letter on the board has one.
//!
//! Emergency: conservative on purpose, since a false one sends a fire engine. A clause must
//! state the danger as happening (着火了, 煤气泄漏, 被困在电梯里, 有人受伤, 房子塌了, 被淹了),
//! and its sentence must not make it hypothetical, preventive, recurring or past (一旦, 如果,
//! 以免, 隐患, 消防通道, 差点, 多次, 经常, 去年, a date…). Chimney smoke (浓烟滚滚) is
//! pollution, not a fire. On the 749 held-out board messages it fires on none (ASSISTANT.md).

use std::sync::LazyLock;

use hotline_domain::RequestType;
use hotline_domain::ticket::EmergencyService;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::text::Prepared;

/// How soon a matter needs someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Normal,
    Urgent,
    /// Life, fire, gas or flood: hand over to 110/119/120 (紧急转办).
    Emergency,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::Emergency => "emergency",
        }
    }
}

/// The danger an emergency message states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyKind {
    /// Someone injured, ill, trapped, in danger of their life; a building collapsed.
    Life,
    Fire,
    Gas,
    Flood,
}

impl EmergencyKind {
    /// Where an agent would usually hand it over; the agent decides.
    pub fn service(self) -> EmergencyService {
        match self {
            EmergencyKind::Life => EmergencyService::Ambulance120,
            EmergencyKind::Fire | EmergencyKind::Gas | EmergencyKind::Flood => {
                EmergencyService::Fire119
            }
        }
    }
}

/// An emergency and the words that showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyCue {
    pub kind: EmergencyKind,
    pub matched: String,
}

const EMERGENCY_PHRASES: &[(EmergencyKind, &[&str])] = &[
    (
        EmergencyKind::Fire,
        &[
            "着火了",
            "着火啦",
            "起火了",
            "起火啦",
            "失火了",
            "烧起来了",
            "正在燃烧",
            "正在着火",
            "火势很大",
            "火势蔓延",
            "发生火灾",
            "发生了火灾",
            "火灾现场",
        ],
    ),
    (
        EmergencyKind::Gas,
        &[
            "煤气泄漏",
            "煤气泄露",
            "燃气泄漏",
            "燃气泄露",
            "天然气泄漏",
            "天然气泄露",
            "液化气泄漏",
            "液化气泄露",
            "煤气漏气",
            "燃气漏气",
            "天然气漏气",
            "闻到煤气味",
            "闻到燃气味",
            "闻到天然气味",
            "很浓的煤气味",
            "很浓的燃气味",
            "很大的煤气味",
        ],
    ),
    (
        EmergencyKind::Flood,
        &[
            "被淹了",
            "水淹到",
            "进水了",
            "水漫进",
            "决堤",
            "溃坝",
            "山洪暴发",
            "被水围困",
            "被洪水",
        ],
    ),
    (
        EmergencyKind::Life,
        &[
            "被困在",
            "被困住",
            "困在电梯",
            "困在里面",
            "有人被困",
            "有人受伤",
            "受了重伤",
            "受重伤",
            "有人落水",
            "溺水",
            "触电了",
            "有人触电",
            "晕倒了",
            "昏迷不醒",
            "不省人事",
            "生命垂危",
            "快不行了",
            "大出血",
            "要跳楼",
            "想跳楼",
            "要自杀",
            "想自杀",
            "要轻生",
            "倒塌了",
            "坍塌了",
            "垮塌了",
            "塌了",
            "压在下面",
            "被埋",
        ],
    ),
];

/// Words that make a sentence hypothetical, preventive, negated or past.
const NOT_NOW: &[&str] = &[
    "一旦",
    "如果",
    "假如",
    "万一",
    "要是",
    "倘若",
    "若是",
    "防止",
    "预防",
    "避免",
    "以免",
    "隐患",
    "可能",
    "会不会",
    "担心",
    "害怕",
    "演练",
    "消防通道",
    "消防栓",
    "消防设施",
    "没有发生",
    "未发生",
    "不会",
    "曾经",
    "以前",
    "去年",
    "前年",
    "上次",
    "差点",
    "险些",
    "当年",
    "防汛",
    "抗洪",
    "不能",
    "怎么办",
    "谁负责",
    // Recurring or past: a letter about what keeps happening is not a call for help now.
    "曾",
    "多次",
    "经常",
    "时常",
    "有时",
    "常常",
    "屡次",
    "频发",
    "先后",
    "余次",
    "那天",
    "当时",
    "昨天",
    "前天",
    "上周",
    "上个月",
    "正月",
];

fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['。', '！', '？', '!', '?', '；', ';', '\n'])
}

fn clauses(sentence: &str) -> impl Iterator<Item = &str> {
    sentence.split(['，', ',', '、', '：', ':'])
}

/// A year or a day of the month: "2003年正月初五本人分娩时大出血" is history.
static DATED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:19|20)\d{2}年|\d{1,2}月\d{1,2}[日号]").ok());

/// The emergency a message states, with its words (see the module's notes).
pub fn emergency(text: &str) -> Option<EmergencyCue> {
    for sentence in sentences(text) {
        let dated = DATED.as_ref().is_some_and(|re| re.is_match(sentence));
        if dated || NOT_NOW.iter().any(|w| sentence.contains(w)) {
            continue;
        }
        for clause in clauses(sentence) {
            for (kind, phrases) in EMERGENCY_PHRASES {
                if let Some(phrase) = phrases.iter().find(|p| clause.contains(*p)) {
                    return Some(EmergencyCue {
                        kind: *kind,
                        matched: (*phrase).to_owned(),
                    });
                }
            }
        }
    }
    None
}

/// The emergency a text states, if any: what dispatch needs to hand a ticket over.
pub fn emergency_cue(text: &str) -> Option<EmergencyKind> {
    emergency(&super::text::normalise(super::text::head(
        text,
        super::text::MAX_DETAIL_CHARS,
    )))
    .map(|c| c.kind)
}

const URGENT_PHRASES: &[&str] = &[
    "紧急",
    "十万火急",
    "刻不容缓",
    "火烧眉毛",
    "迫在眉睫",
    "危在旦夕",
    "人命关天",
    "救命",
    "立即派人",
    "马上派人",
    "赶紧派人",
    "立刻派人",
    "请马上",
    "请立即",
    "请立刻",
    "急需",
    "随时可能倒",
    "随时会倒",
    "随时可能塌",
    "随时会塌",
    "随时可能掉",
    "随时会掉",
    "摇摇欲坠",
    "电线裸露",
    "裸露的电线",
    "漏电",
    "井盖丢失",
    "井盖被盗",
    "没有井盖",
    "井盖缺失",
    "下坠",
    "差点丢了",
    "差点出人命",
    "危及生命",
    "威胁生命",
    "生命安全受到威胁",
    "燃眉之急",
    "年关将至",
    "被困电梯",
    "电梯困人",
    "电梯关人",
    "掉层",
    "溜梯",
    "冲顶",
    "蹲底",
    "跳下去",
    "不想活",
    "想死",
    "轻生",
    "跳楼",
    "自杀",
    "没有水喝",
    "没水喝",
    "没有饭吃",
];

/// How urgent, and the words that said so (`emergency`: what [`emergency`] found in `text`).
pub fn urgency(text: &str, emergency: Option<&EmergencyCue>) -> (Urgency, Option<String>) {
    if let Some(cue) = emergency {
        return (Urgency::Emergency, Some(cue.matched.clone()));
    }
    // "紧急" in a name or a procedure ("紧急避险", "非紧急") is not a plea.
    let plea = URGENT_PHRASES.iter().find(|p| {
        text.match_indices(*p).any(|(i, _)| {
            let before = &text[..i];
            !(before.ends_with('非') || before.ends_with('不'))
        })
    });
    match plea {
        Some(p) => (Urgency::Urgent, Some((*p).to_owned())),
        None => (Urgency::Normal, None),
    }
}

/// Ties go to the first: the type that asks most of the city.
const PRIORITY: [RequestType; 6] = [
    RequestType::Report,
    RequestType::Complaint,
    RequestType::HelpRequest,
    RequestType::Suggestion,
    RequestType::Consultation,
    RequestType::Praise,
];

/// The citizen's own words for each type.
const OWN_WORDS: &[(RequestType, &[&str])] = &[
    (RequestType::Report, &["举报", "检举", "揭发"]),
    (RequestType::Complaint, &["投诉", "控诉"]),
    (
        RequestType::HelpRequest,
        &["求助", "求救", "救命", "救救", "帮帮"],
    ),
    (RequestType::Suggestion, &["建议", "提议", "倡议"]),
    (RequestType::Consultation, &["咨询", "请教", "请问", "询问"]),
    (RequestType::Praise, &["表扬", "感谢信", "赞扬", "点赞"]),
];

/// The body saying what this message is.
const PERFORMATIVES: &[(RequestType, &[&str])] = &[
    (
        RequestType::Report,
        &[
            "现举报",
            "特此举报",
            "实名举报",
            "我要举报",
            "向您举报",
            "向你举报",
            "特举报",
        ],
    ),
    (
        RequestType::Complaint,
        &[
            "特向您投诉",
            "特向你投诉",
            "向您投诉",
            "向你投诉",
            "我要投诉",
            "今投诉",
            "现投诉",
            "特此投诉",
            "投诉维权",
        ],
    ),
    (
        RequestType::HelpRequest,
        &[
            "求助信",
            "求助无门",
            "向您求助",
            "请求帮助",
            "恳请帮助",
            "请帮帮",
            "帮我解决",
        ],
    ),
    (
        RequestType::Suggestion,
        &[
            "以上个人建议",
            "以上建议",
            "特此建议",
            "提出以下建议",
            "强烈建议",
            "提个建议",
            "几点建议",
        ],
    ),
    (
        RequestType::Consultation,
        &["想咨询", "想问一下", "想了解", "请告知", "请教"],
    ),
];

/// What the text does, weight 1 each occurrence (capped).
const DOINGS: &[(RequestType, &[&str])] = &[
    (
        RequestType::Complaint,
        &[
            "乱收费",
            "不作为",
            "推诿",
            "推脱",
            "踢皮球",
            "欺诈",
            "扰民",
            "严重影响",
            "污染",
            "拖欠",
            "克扣",
            "刁难",
            "态度恶劣",
            "态度极度恶劣",
            "拒不",
            "何时休",
            "为何",
            "凭什么",
            "豆腐渣",
            "噪音",
            "脏乱差",
            "霸王条款",
            "坑害",
            "敷衍",
            "置之不理",
            "不管不问",
            "没人管",
            "无人管",
            "不管",
            "索赔",
            "维权",
            "侵害",
            "剥夺",
            "被骗",
            "不公平",
            "不公",
            "不合理",
            "气愤",
            "寒心",
            "失望",
            "黑心",
            "不满",
            "偷排",
            "乱扣费",
            "违规",
            "为什么",
            "怎么能",
            "臭气",
            "漏水",
            "开裂",
            "难道",
            "堪忧",
            "投诉",
            "不到位",
            "公道",
            "拒载",
            "宰客",
            "欠薪",
            "拖欠工资",
            "欠我们",
            "违约",
            "拖延",
            "不闻不问",
            "走过场",
            "不予理睬",
            "推三阻四",
            "不负责任",
            "霸占",
            "侵占",
            "强拆",
            "占道",
            "噪声",
            "油烟",
            "恶臭",
            "虚假宣传",
            "坑骗",
            "多收",
            "乱罚款",
            "拒不退还",
            "质量问题",
            "延期交房",
            "有法不执",
            "不公正",
        ],
    ),
    (
        RequestType::Report,
        &[
            "非法",
            "违法",
            "保护伞",
            "未经检疫",
            "无证经营",
            "无证行医",
            "假冒",
            "卖假",
            "贪污",
            "受贿",
            "挪用",
            "有人倒",
            "偷倒",
            "乱倒",
            "私自",
            "违建",
            "违章建筑",
            "赌博",
            "传销",
            "吸毒",
            "黑作坊",
            "举报",
            "贿赂",
            "行贿",
            "骗取",
            "挂靠",
            "私屠滥宰",
            "吃空饷",
            "黑厂",
        ],
    ),
    (
        RequestType::Suggestion,
        &[
            "希望能",
            "希望政府能",
            "能否考虑",
            "呼吁",
            "建议",
            "可否考虑",
            "应该增设",
            "增设",
            "开通",
            "预留",
        ],
    ),
    (
        RequestType::HelpRequest,
        &[
            "请求解决",
            "恳请解决",
            "恳请",
            "帮忙",
            "帮助",
            "救助",
            "怎么办",
            "无助",
            "没有办法",
            "走投无路",
            "生活困难",
            "给予解决",
            "请求",
            "求助",
        ],
    ),
    (
        RequestType::Consultation,
        &[
            "是否",
            "能否",
            "可否",
            "怎么办理",
            "如何办理",
            "需要哪些",
            "哪里办理",
            "到哪",
            "哪个部门",
            "什么时候",
            "何时",
            "怎样查询",
            "如何查询",
            "有进展",
            "请问",
            "咨询",
            "想知道",
        ],
    ),
];

/// "希望…能…" wishing for something new ("希望L市能给小学生教室装空调"), not for the
/// problem to be solved ("希望能尽快解决").
fn wish(text: &str) -> Option<&'static str> {
    const SOLVE: &[&str] = &[
        "尽快", "尽早", "早日", "及时", "解决", "处理", "查处", "调查", "重视", "回复", "答复",
        "得到", "还",
    ];
    text.match_indices("希望").find_map(|(i, _)| {
        let from = i + "希望".len();
        let window = super::text::head(&text[from..], 12);
        let at = window.find('能')?;
        let between = &window[..at];
        let rest = &text[from + at + '能'.len_utf8()..];
        (!between.contains(['。', '!', '?', ',', '，'])
            && !SOLVE.iter().any(|w| rest.starts_with(w)))
        .then_some("希望…能")
    })
}

fn count(text: &str, words: &[&str]) -> u32 {
    words
        .iter()
        .map(|w| text.matches(w).count() as u32)
        .sum::<u32>()
}

/// The request type and the strongest words that decided it.
pub fn request_type(prepared: &Prepared) -> Option<(RequestType, String)> {
    let title = prepared.title();
    let text = prepared.joined.as_str();
    let mut scores: Vec<(RequestType, u32, Option<&str>)> =
        PRIORITY.iter().map(|t| (*t, 0, None)).collect();
    let mut add = |t: RequestType, points: u32, why: &'static str| {
        if let Some(entry) = scores.iter_mut().find(|(k, _, _)| *k == t) {
            entry.1 += points;
            if entry.2.is_none() {
                entry.2 = Some(why);
            }
        }
    };
    for (t, words) in OWN_WORDS {
        if let Some(w) = words.iter().find(|w| title.contains(*w)) {
            add(*t, 10, w);
        }
    }
    for (t, words) in PERFORMATIVES {
        if let Some(w) = words.iter().find(|w| text.contains(*w)) {
            add(*t, 5, w);
        }
    }
    for (t, words) in DOINGS {
        let n = count(text, words).min(4);
        if n > 0
            && let Some(w) = words.iter().find(|w| text.contains(*w))
        {
            add(*t, n, w);
        }
    }
    if let Some(cue) = wish(text) {
        add(RequestType::Suggestion, 2, cue);
    }
    // A question in the title is a consultation unless the title also aggrieves or accuses
    // ("…偷排油漆何时休？" is a complaint).
    let title_question = title.ends_with(['？', '?', '吗', '呢'])
        || ["何时", "什么时候", "怎么", "如何", "是否", "能否", "哪"]
            .iter()
            .any(|w| title.contains(w));
    let title_aggrieved = DOINGS
        .iter()
        .filter(|(t, _)| matches!(t, RequestType::Complaint | RequestType::Report))
        .any(|(_, words)| words.iter().any(|w| title.contains(w)));
    if title_question && !title_aggrieved {
        add(RequestType::Consultation, 3, "标题是问句");
    }
    let (kind, points, why) = scores
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, points, _))| (*points, std::cmp::Reverse(*i)))
        .map(|(_, s)| *s)?;
    (points > 0).then(|| (kind, why.unwrap_or_default().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::text::prepare;

    fn kind(subject: &str, detail: &str) -> Option<RequestType> {
        request_type(&prepare(subject, detail)).map(|(k, _)| k)
    }

    #[test]
    fn own_words_decide() {
        assert_eq!(
            kind("举报A市美亲汽车租赁公司合同欺骗", "我的车被偷走"),
            Some(RequestType::Report)
        );
        assert_eq!(
            kind("咨询D市办理二孩准生证问题", "请问我们需要怎么样才可以呢？"),
            Some(RequestType::Consultation)
        );
        assert_eq!(
            kind("建议L9县机场把旅游点串成一线", "让好的景点串成线"),
            Some(RequestType::Suggestion)
        );
    }

    #[test]
    fn rhetorical_questions_are_complaints() {
        assert_eq!(
            kind(
                "M1区育新街路灯为什么不开",
                "为什么修好的路灯不开？太气愤了，不作为，推诿。"
            ),
            Some(RequestType::Complaint)
        );
    }

    #[test]
    fn wishes_are_suggestions() {
        assert_eq!(
            kind("希望L市能给小学生教室装空调保暖", "天气越来越冷了"),
            Some(RequestType::Suggestion)
        );
        assert_eq!(wish("希望能尽快解决"), None);
        assert_eq!(
            kind(
                "A7县星沙三一重工偷排油漆何时休",
                "周边居民的生活环境严重污染"
            ),
            Some(RequestType::Complaint)
        );
    }

    #[test]
    fn plain_questions_are_consultations() {
        assert_eq!(
            kind("", "M市工人技师考试什么时候才进行？请问什么时候才开考"),
            Some(RequestType::Consultation)
        );
        assert_eq!(kind("", ""), None);
    }

    #[test]
    fn fire_lanes_are_not_fires() {
        for text in [
            "消防通道被占用，一旦发生火灾后果不堪设想",
            "小区没有消防通道，发生火灾怎么办",
            "存在火灾隐患，如果着火了谁负责",
            "去年这里着火了，至今没人管",
            "6月12日上午，老人差点被困在电梯里",
            "路面积水严重，希望尽快解决",
            "烟囱浓烟滚滚，灰尘满天飞",
            "先后20余次有人被困在电梯里",
            "2003年正月初五本人分娩时大出血",
        ] {
            assert_eq!(emergency_cue(text), None, "{text}");
        }
    }

    #[test]
    fn stated_emergencies() {
        assert_eq!(
            emergency_cue("楼下着火了，浓烟很大"),
            Some(EmergencyKind::Fire)
        );
        assert_eq!(
            emergency_cue("家里煤气泄漏，味道很大"),
            Some(EmergencyKind::Gas)
        );
        assert_eq!(
            emergency_cue("有人被困在电梯里出不来"),
            Some(EmergencyKind::Life)
        );
        assert_eq!(
            emergency_cue("暴雨后一楼被淹了"),
            Some(EmergencyKind::Flood)
        );
        assert_eq!(
            emergency_cue("工地围墙倒塌了，压到人"),
            Some(EmergencyKind::Life)
        );
        assert_eq!(EmergencyKind::Gas.service(), EmergencyService::Fire119);
    }

    #[test]
    fn urgency_levels() {
        let level = |text: &str| urgency(text, emergency(text).as_ref()).0;
        assert_eq!(level("希望尽快解决，存在安全隐患"), Urgency::Normal);
        assert_eq!(level("电线裸露在路边，请立即派人"), Urgency::Urgent);
        assert_eq!(level("非紧急情况，咨询一下"), Urgency::Normal);
        assert_eq!(level("请有关人员和相关人员处理"), Urgency::Normal);
        assert_eq!(level("电梯关人掉层"), Urgency::Urgent);
        assert_eq!(level("有人受伤了，快来"), Urgency::Emergency);
    }
}
