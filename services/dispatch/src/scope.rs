//! Out of scope (不予受理): the rules a hotline cites when a contact is not its to handle, and
//! the text cues that suggest one.
//!
//! A cue never rejects a ticket by itself: the ticket goes to the manual queue at the front,
//! with the rule proposed, and a person confirms with one action (a citizen wrongly turned away
//! costs more than a minute of an agent's time). The cues are deliberately narrow: each needs a
//! phrase that states the situation ("已向法院起诉", "申请信息公开"), not a topic word, and
//! their firing rate on the board's real messages is measured in `services/dispatch/SMART.md`.

use hotline_domain::ticket::RejectRule;

/// A proposed 不予受理 and the phrase that suggested it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScopeCue {
    pub rule: RejectRule,
    /// The rule as cited to the citizen.
    pub citation: &'static str,
    /// The words in the text that matched.
    pub matched: String,
}

/// One rule's cue: the text must contain one phrase of every group, all within `WINDOW`
/// characters of one another (one sentence, not one long letter), except when it contains a
/// phrase of `unless`.
struct Cue {
    rule: RejectRule,
    all_of: &'static [&'static [&'static str]],
    unless: &'static [&'static str],
}

/// How close, in characters, the phrases of one cue must be.
const WINDOW: usize = 24;

const CUES: &[Cue] = &[
    Cue {
        rule: RejectRule::Litigation,
        all_of: &[&[
            "已向法院起诉",
            "已经向法院起诉",
            "已起诉至法院",
            "已向人民法院提起诉讼",
            "法院已经立案",
            "法院已立案",
            "法院正在审理",
            "案件正在审理",
            "已经在打官司",
            "已提起诉讼",
            "已经提起诉讼",
        ]],
        unless: &[],
    },
    Cue {
        rule: RejectRule::Arbitration,
        all_of: &[&[
            "已申请劳动仲裁",
            "已经申请劳动仲裁",
            "已申请仲裁",
            "已经申请仲裁",
            "仲裁委已受理",
            "仲裁委员会已受理",
            "仲裁正在审理",
            "已提起仲裁",
        ]],
        unless: &[],
    },
    Cue {
        rule: RejectRule::DisciplineInspection,
        all_of: &[
            &["举报", "检举", "揭发"],
            &[
                "贪污",
                "受贿",
                "索贿",
                "收受贿赂",
                "挪用公款",
                "以权谋私",
                "公款吃喝",
                "公车私用",
                "违纪",
                "腐败",
                "吃拿卡要",
            ],
            &[
                "书记",
                "局长",
                "镇长",
                "乡长",
                "区长",
                "县长",
                "科长",
                "处长",
                "主任",
                "干部",
                "官员",
                "公务员",
                "村支书",
                "领导",
            ],
        ],
        unless: &[],
    },
    Cue {
        rule: RejectRule::AdministrativeReview,
        // The citizen asks the hotline to overturn a decision; a letter quoting the rule that
        // one may apply for review is not such a request.
        all_of: &[&[
            "我要申请行政复议",
            "我想申请行政复议",
            "我申请行政复议",
            "我们要申请行政复议",
            "我们申请行政复议",
            "要求行政复议",
            "要求撤销该行政处罚",
            "要求撤销行政处罚决定",
            "要求撤销处罚决定",
        ]],
        unless: &["行政复议结果", "复议决定书"],
    },
    Cue {
        rule: RejectRule::InformationDisclosure,
        all_of: &[&[
            "申请信息公开",
            "申请政府信息公开",
            "依申请公开",
            "政府信息公开申请",
            "申请公开政府信息",
        ]],
        unless: &[],
    },
    Cue {
        rule: RejectRule::TradeSecret,
        all_of: &[
            &["提供", "公开", "告诉我", "查询", "给我"],
            &[
                "商业秘密",
                "客户名单",
                "产品配方",
                "技术秘密",
                "竞争对手的报价",
                "对手公司的报价",
            ],
        ],
        unless: &["泄露商业秘密", "侵犯商业秘密", "窃取商业秘密"],
    },
    Cue {
        rule: RejectRule::PublicOrder,
        all_of: &[
            &[
                "帮我找",
                "帮忙找",
                "介绍",
                "提供",
                "如何办理",
                "怎么办理",
                "能否允许",
            ],
            &["代孕", "买卖器官", "卖肾", "色情服务", "赌博场所", "找小姐"],
        ],
        unless: &["举报", "投诉", "打击", "查处", "取缔"],
    },
];

/// The first rule whose cue the text carries, if any.
pub fn check(text: &str) -> Option<ScopeCue> {
    CUES.iter().find_map(|cue| {
        if cue.unless.iter().any(|u| text.contains(u)) {
            return None;
        }
        let matched = within_window(text, cue.all_of)?;
        Some(ScopeCue {
            rule: cue.rule,
            citation: cue.rule.citation(),
            matched: matched.join("+"),
        })
    })
}

/// One phrase of every group, all within [`WINDOW`] characters of the first group's phrase.
fn within_window(text: &str, groups: &[&[&'static str]]) -> Option<Vec<&'static str>> {
    let (first, rest) = groups.split_first()?;
    // Character offsets of each phrase's occurrences; texts are capped by the ledger's limits.
    let hits = |group: &[&'static str]| -> Vec<(usize, &'static str)> {
        let mut out = Vec::new();
        for phrase in group {
            for (byte, _) in text.match_indices(*phrase) {
                out.push((text[..byte].chars().count(), *phrase));
            }
        }
        out
    };
    let rest_hits: Vec<Vec<(usize, &'static str)>> = rest.iter().map(|g| hits(g)).collect();
    for (at, phrase) in hits(first) {
        let mut found = vec![phrase];
        for group in &rest_hits {
            match group.iter().find(|(pos, _)| pos.abs_diff(at) <= WINDOW) {
                Some((_, p)) => found.push(*p),
                None => break,
            }
        }
        if found.len() == groups.len() {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_rule_has_a_cue_and_topic_words_alone_do_not_fire() {
        let cases = [
            (
                "我举报某镇镇长收受贿赂，以权谋私，请严肃处理",
                RejectRule::DisciplineInspection,
            ),
            (
                "我对区城管局的罚款不服，我要申请行政复议，请问怎么办",
                RejectRule::AdministrativeReview,
            ),
            (
                "本人申请政府信息公开，请提供该地块的征收批复",
                RejectRule::InformationDisclosure,
            ),
            (
                "请提供隔壁公司的客户名单和产品配方",
                RejectRule::TradeSecret,
            ),
            ("能否帮我找代孕机构", RejectRule::PublicOrder),
            (
                "我已向法院起诉，开发商一直拖延，请热线督促",
                RejectRule::Litigation,
            ),
            ("公司拖欠工资，我已申请劳动仲裁", RejectRule::Arbitration),
        ];
        for (text, rule) in cases {
            let cue = check(text).unwrap_or_else(|| panic!("no cue in {text}"));
            assert_eq!(cue.rule, rule, "{text}");
            assert!(!cue.citation.is_empty());
        }
        for text in [
            "小区门口的路灯坏了",
            "举报有人在小区里赌博",
            "建议政府公开财政预算，加强监督",
            "应当书面通知申请人，并告知申请人享有依法申请行政复议或者提起行政诉讼的权利",
            "我要举报。这个小区物业乱收费，业主委员会也不管，去年物业经理还被查出贪污，至今没有处理，请市里派人来看看，谢谢各位领导",
            "某公司涉嫌侵犯商业秘密，我要求查处",
            "领导干部要多听群众意见",
            "",
        ] {
            assert_eq!(check(text), None, "{text}");
        }
    }
}
