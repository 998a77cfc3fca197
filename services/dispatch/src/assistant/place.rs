//! The matter's place: the most specific address, and the district (区/县) it is in.
//!
//! The text is cut into words by jieba with part-of-speech tags; the board's anonymised
//! divisions (`A市`, `A3区`, `K8县`) are taken out first, since jieba would split them into a
//! letter and a character. A place is a run of name-like words (nouns, place names, numbers,
//! the divisions) that ends in a place suffix; pronouns, particles, prepositions, conjunctions,
//! adverbs and punctuation end a run, and a verb or adjective stays in it only right before a
//! suffix (`育新街`, `建设路`). Suffixes rank by how fine a place they name: a unit
//! (`号`/`栋`/`楼`) 6, a compound, village or premises (`小区`/`村`/`学校`/`厂`) 5, a road
//! (`路`/`街`/`巷`) 4, a town (`镇`/`乡`/`街道`/`社区`) 3; a division alone is not an address.
//! A bare suffix word (`小区`, `学校`, `村`) names nothing: the part before it must have two
//! characters, or one after a division. A company is a place only after a division
//! (`A市美亲汽车租赁有限公司`, not `中国移动公司`).
//!
//! The address is the finest place, the title's places (and places that extend them) first:
//! the title states the matter; the body also tells history and other places.
//!
//! The district is a `区`/`县` name: an anonymised one or a jieba word ending in 区/县 that is
//! not a kind of area (小区, 社区, 景区, 园区, 城区, 辖区, 片区, 郊区, 开发区…) nor `本县`,
//! `全区`. The one inside the address wins, then the title's, then the most mentioned.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::text::Prepared;

/// The classifier has its own (private) instance; the dictionary is shared by nobody else.
static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// The board's anonymised divisions: `A市`, `A3区`, `D10县`, `M6州`.
static DIVISION_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Z]\d{0,2}(?:省|市|区|县|州)").ok());

/// The longest run of words considered one place.
const MAX_PLACE_CHARS: usize = 30;

/// Endings and how fine a place they name, longest first where one ends another.
const SUFFIXES: &[(&str, u8)] = &[
    ("单元", 6),
    ("号", 6),
    ("栋", 6),
    ("幢", 6),
    ("楼", 6),
    ("室", 6),
    ("小区", 5),
    ("花园", 5),
    ("新村", 5),
    ("家园", 5),
    ("公寓", 5),
    ("大厦", 5),
    ("山庄", 5),
    ("苑", 5),
    ("城", 5),
    ("村", 5),
    ("组", 5),
    ("寨", 5),
    ("学校", 5),
    ("学院", 5),
    ("大学", 5),
    ("中学", 5),
    ("小学", 5),
    ("幼儿园", 5),
    ("医院", 5),
    ("卫生院", 5),
    ("研究所", 5),
    ("科研所", 5),
    ("派出所", 5),
    ("卫生所", 5),
    ("湾", 5),
    ("阁", 5),
    ("公馆", 5),
    ("诊所", 5),
    ("市场", 5),
    ("超市", 5),
    ("商场", 5),
    ("酒店", 5),
    ("宾馆", 5),
    ("饭店", 5),
    ("酒家", 5),
    ("店", 5),
    ("停车场", 5),
    ("场", 5),
    ("厂", 5),
    ("矿", 5),
    ("公园", 5),
    ("广场", 5),
    ("车站", 5),
    ("站", 5),
    ("机场", 5),
    ("码头", 5),
    ("涵洞", 5),
    ("隧道", 5),
    ("桥", 5),
    ("水库", 5),
    ("公司", 5),
    ("集镇", 4),
    ("大道", 4),
    ("巷道", 4),
    ("公路", 4),
    ("路段", 4),
    ("路", 4),
    ("大街", 4),
    ("街", 4),
    ("巷", 4),
    ("弄", 4),
    ("胡同", 4),
    ("河", 4),
    ("街道", 3),
    ("社区", 3),
    ("镇", 3),
    ("乡", 3),
];

/// Words that end like a place and are not one.
const NOT_PLACES: &[&str] = &[
    "现场",
    "立场",
    "战场",
    "官场",
    "职场",
    "场所",
    "道路",
    "马路",
    "出路",
    "思路",
    "线路",
    "电路",
    "门路",
    "套路",
    "销路",
    "退路",
    "网站",
    "号码",
    "型号",
    "编号",
    "单号",
    "港湾",
    "海湾",
    "台湾",
    "账号",
    "帐号",
    "信号",
    "口号",
    "称号",
    "字号",
    "符号",
    "问号",
    "挂号",
    "番号",
    "楼层",
    "阶层",
    "基层",
    "高层",
    "底层",
    "卧室",
    "科室",
    "办公室",
    "教室",
    "小组",
    "工作组",
    "专家组",
    "班组",
    "农村",
    "乡村",
    "城中村",
    "全村",
    "本村",
    "城乡",
    "下乡",
    "家乡",
    "老乡",
    "城镇",
    "乡镇",
    "县城",
    "城市",
    "进城",
    "省城",
    "都市",
    "网店",
    "开店",
];

/// Words after which a number is a house number, not a count.
fn numbered(suffix: &str) -> bool {
    matches!(suffix, "号" | "栋" | "幢" | "楼" | "室" | "单元" | "组")
}

/// A word of the text with its tag (`div` for an anonymised division).
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    tag: &'a str,
    start: usize,
    end: usize,
}

impl Word<'_> {
    fn division(&self) -> bool {
        self.tag == "div"
    }
}

fn words(text: &str) -> Vec<Word<'_>> {
    fn tag_into<'a>(segment: &'a str, offset: usize, out: &mut Vec<Word<'a>>) {
        if segment.is_empty() {
            return;
        }
        for t in JIEBA.tag(segment, true) {
            out.push(Word {
                text: t.word,
                tag: t.tag,
                start: offset + t.byte_start,
                end: offset + t.byte_end,
            });
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    if let Some(codes) = DIVISION_CODE.as_ref() {
        for m in codes.find_iter(text) {
            tag_into(&text[at..m.start()], at, &mut out);
            out.push(Word {
                text: m.as_str(),
                tag: "div",
                start: m.start(),
                end: m.end(),
            });
            at = m.end();
        }
    }
    tag_into(&text[at..], at, &mut out);
    out
}

/// Words that never belong to a place name, whatever jieba tags them.
const FUNCTION_WORDS: &[&str] = &[
    "在", "是", "到", "从", "向", "对", "把", "被", "给", "和", "与", "及", "或", "的", "了", "着",
    "过", "我", "你", "他", "她", "它", "们", "这", "那", "该", "本", "其", "此", "各", "每", "有",
    "无", "为", "因", "于", "由", "将", "要", "会", "能", "可", "已", "就", "都", "也", "还", "又",
    "很", "太", "不", "没", "请", "让", "使", "叫", "等", "住", "位于", "家住", "住在", "关于",
    "反映", "投诉", "举报", "建议", "咨询", "希望", "请问", "有关",
];

fn han_or_alnum(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// The place ending `s` ends with, and its rank.
fn suffix_of(s: &str) -> Option<(&'static str, u8)> {
    if NOT_PLACES.iter().any(|w| s.ends_with(w)) {
        return None;
    }
    SUFFIXES
        .iter()
        .filter(|(suffix, _)| s.ends_with(suffix))
        .max_by_key(|(suffix, _)| suffix.len())
        .copied()
}

/// A count ("三家", "几个") is not part of a name: "三家砂石场" is three plants.
fn is_count(word: &str) -> bool {
    const NUMERALS: &str = "一二三四五六七八九十两几多数每";
    const MEASURES: &str = "家个些条位名户座辆次件处间台部只种";
    let mut chars = word.chars();
    let Some(last) = chars.next_back() else {
        return false;
    };
    let lone_measure = chars.as_str().is_empty() && MEASURES.contains(last);
    let counted = MEASURES.contains(last)
        && !chars.as_str().is_empty()
        && chars.all(|c| NUMERALS.contains(c) || c.is_ascii_digit());
    lone_measure || counted
}

/// First characters of verbs that are never the start of a name ("未获街道", "去年社区").
const NOT_NAME_START: &str = "未不没已被将要会在去到来向把让使给从对为离";

/// `word` is itself a place ending ("街", "路", "小区"), not a name that ends in one.
fn bare_suffix(word: &str) -> bool {
    suffix_of(word).is_some_and(|(suffix, _)| suffix == word)
}

/// Whether a word may stand inside a place name.
fn name_like(word: &Word<'_>, next: Option<&Word<'_>>) -> bool {
    if word.division() {
        return true;
    }
    if !han_or_alnum(word.text) || FUNCTION_WORDS.contains(&word.text) || is_count(word.text) {
        return false;
    }
    // Place endings join whatever jieba tags them ("栋" and "村" come out as state words);
    // a lone "城" is more often half of 城铁, 城区 than a compound's name.
    let tag = word.tag;
    if suffix_of(word.text).is_some()
        && word.text != "城"
        && !tag.starts_with(['r', 'p', 'u', 'c', 'd'])
    {
        return true;
    }
    // Measure words stay ("海德公元小区" comes out as 公元/q): counts were taken out above.
    if tag.starts_with('n')
        || matches!(
            tag,
            "vn" | "j" | "s" | "m" | "mq" | "q" | "eng" | "b" | "l" | "i"
        )
    {
        return true;
    }
    // Pronouns, prepositions, particles, conjunctions, adverbs, modal, time and direction
    // words end a name.
    if tag.starts_with(['r', 'p', 'u', 'c', 'd', 'y', 'e', 'o', 'w', 'x', 't', 'f']) {
        return false;
    }
    // A verb or adjective is part of a name right before a place ending when it is a road's
    // (roads are named with slogans: "解放路", "育新街"), a word jieba did not know, or the
    // trade in a company's name ("美亲汽租赁有限公司"); a dictionary verb before premises is
    // an action ("开办诊所", "侵占小区"). Never before a proper name ("诉北京信息科技大学": a
    // new name starts), never a negated or directional verb ("未获街道").
    let road = next.is_some_and(|n| matches!(n.text, "路" | "街" | "巷" | "大道" | "大街"));
    let company = next.is_some_and(|n| n.text.ends_with("公司"));
    let unknown = !JIEBA.has_word(word.text) || company || road;
    unknown
        && next.is_some_and(|n| {
            !n.division()
                && (bare_suffix(n.text)
                    || (suffix_of(n.text).is_some() && matches!(n.tag, "n" | "ng" | "vn")))
        })
        && !word.text.starts_with(|c: char| NOT_NAME_START.contains(c))
}

/// Endings that name a kind of premises: "重点大学", "居民楼", "人民医院" are kinds, not
/// places, unless a proper name or a division comes with them.
fn needs_proper_name(suffix: &str) -> bool {
    matches!(
        suffix,
        "学校"
            | "学院"
            | "大学"
            | "中学"
            | "小学"
            | "幼儿园"
            | "医院"
            | "卫生院"
            | "诊所"
            | "市场"
            | "超市"
            | "商场"
            | "酒店"
            | "宾馆"
            | "饭店"
            | "酒家"
            | "店"
            | "停车场"
            | "场"
            | "厂"
            | "矿"
            | "公园"
            | "广场"
            | "车站"
            | "站"
            | "机场"
            | "码头"
            | "楼"
            | "室"
            | "单元"
            | "公司"
    )
}

/// A word that names one thing: a place or person name, an organisation, an abbreviation,
/// a number, an unknown word, a verb or adjective used as a name.
fn proper(word: &Word<'_>) -> bool {
    word.division()
        || matches!(
            word.tag,
            "ns" | "nr" | "nrt" | "nrfg" | "nz" | "nt" | "j" | "eng" | "m" | "mq" | "x" | "l" | "i"
        )
        || word.tag.starts_with(['v', 'a'])
}

/// One place found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub text: String,
    pub start: usize,
    /// The finest ending inside it (see the module's notes).
    pub rank: u8,
}

/// Whether `name` (the place without its divisions and ending) names something.
fn names_something(name: &str, after_division: bool, suffix: &str) -> bool {
    let n = name.chars().count();
    // "第二组", "字第7号": ordinals and document numbers.
    if name.contains('第') {
        return false;
    }
    // "国务院32号", "楚人教字[1991]60号": a document of an office, not a house number.
    let before_number = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if suffix == "号"
        && before_number.len() < name.len()
        && before_number.ends_with(['院', '局', '委', '厅', '部', '办', '府', '发', '字', '函'])
    {
        return false;
    }
    // "K8县卫生院", "C市火车站": the division's own institution needs no name.
    if n == 0 && after_division {
        return matches!(
            suffix,
            "医院" | "卫生院" | "机场" | "火车站" | "汽车站" | "车站" | "派出所" | "卫生所"
        );
    }
    if numbered(suffix) && name.chars().last().is_some_and(|c| c.is_ascii_digit()) {
        // "68号", "5栋": a number needs a road or a compound before it.
        return n > 1 + name.chars().filter(char::is_ascii_digit).count() || after_division;
    }
    n >= 2 || (n >= 1 && after_division)
}

/// The place ending a run of words (`run[..=k]` for the largest valid `k`).
fn place_in(run: &[Word<'_>], text: &str) -> Option<Place> {
    let mut best: Option<(usize, u8)> = None;
    let mut finest = 0u8;
    let first_name = run.iter().position(|w| !w.division()).unwrap_or(run.len());
    let after_division = first_name > 0;
    for k in first_name..run.len() {
        let span = &text[run[first_name].start..run[k].end];
        let Some((suffix, rank)) = suffix_of(span) else {
            continue;
        };
        if run[k].text == "城" {
            continue;
        }
        let name = &span[..span.len() - suffix.len()];
        if !names_something(name, after_division, suffix) {
            continue;
        }
        if needs_proper_name(suffix) && !after_division && !run[first_name..=k].iter().any(proper) {
            continue;
        }
        if suffix == "公司" && !after_division {
            continue;
        }
        finest = finest.max(rank);
        best = Some((k, finest));
    }
    let (k, rank) = best?;
    // Too long a run is a sentence of nouns: keep the words nearest the ending.
    let mut start = 0;
    while text[run[start].start..run[k].end].chars().count() > MAX_PLACE_CHARS && start < k {
        start += 1;
    }
    Some(Place {
        text: text[run[start].start..run[k].end].to_owned(),
        start: run[start].start,
        rank,
    })
}

/// Every place in the text, in order.
pub fn places(text: &str) -> Vec<Place> {
    let words = words(text);
    let mut found = Vec::new();
    let mut run: Vec<Word<'_>> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if name_like(word, words.get(i + 1)) {
            run.push(*word);
            continue;
        }
        if !run.is_empty() {
            found.extend(place_in(&run, text));
            run.clear();
        }
    }
    if !run.is_empty() {
        found.extend(place_in(&run, text));
    }
    found
}

/// Kinds of area that end in 区 or 县 and are not a district.
const NOT_DISTRICTS: &[&str] = &[
    "小区",
    "社区",
    "景区",
    "园区",
    "城区",
    "辖区",
    "片区",
    "郊区",
    "市区",
    "地区",
    "山区",
    "校区",
    "库区",
    "矿区",
    "灾区",
    "老区",
    "牧区",
    "营区",
    "军区",
    "特区",
    "选区",
    "禁区",
    "误区",
    "盲区",
    "学区",
    "街区",
    "湖区",
    "港区",
    "厂区",
    "院区",
    "住宅区",
    "居民区",
    "棚户区",
    "安置区",
    "家属区",
    "生活区",
    "商业区",
    "工业区",
    "保护区",
    "开采区",
    "管理区",
    "示范区",
    "试验区",
    "旅游区",
    "风景区",
    "开发区",
    "服务区",
    "功能区",
    "核心区",
    "自治区",
    "度假区",
    "新城区",
    "老城区",
    "主城区",
    "县区",
    "区县",
    "市县",
    "郡县",
    "州县",
];

/// Words before 区/县 that make it "this/every district", not a name.
const NOT_DISTRICT_NAMES: &[&str] = &[
    "本", "该", "全", "各", "我", "此", "每", "外", "邻", "周边", "其他", "两", "一", "某", "这个",
    "那个", "新",
];

fn district_word(word: &str) -> bool {
    // "浦东新区", "楚江新区": a named new area is a district; "新区" alone is not.
    let stem = word.strip_suffix("新区").filter(|s| !s.is_empty());
    let Some(stem) = stem
        .or_else(|| word.strip_suffix('区'))
        .or_else(|| word.strip_suffix('县'))
    else {
        return false;
    };
    // One character before 区/县 is a preposition or a pronoun more often than a name
    // ("由县", "在区"); the board's anonymised ones ("A3区") are found apart.
    stem.chars().count() >= 2
        && stem.chars().count() <= 5
        && han_or_alnum(stem)
        && !NOT_DISTRICTS.iter().any(|w| word.ends_with(w))
        && !NOT_DISTRICT_NAMES.contains(&stem)
}

/// District names in the text, with where they start.
pub fn districts(text: &str) -> Vec<(usize, String)> {
    let words = words(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if w.division() {
            if w.text.ends_with(['区', '县']) {
                found.push((w.start, w.text.to_owned()));
            }
            i += 1;
            continue;
        }
        // jieba may cut "天河区" as "天河" + "区".
        if let Some(next) = words.get(i + 1)
            && matches!(next.text, "区" | "县" | "新区")
            && next.start == w.end
            && w.tag.starts_with("ns")
        {
            let joined = &text[w.start..next.end];
            if district_word(joined) {
                found.push((w.start, joined.to_owned()));
                i += 2;
                continue;
            }
        }
        if w.text.chars().count() >= 2 && district_word(w.text) {
            found.push((w.start, w.text.to_owned()));
        }
        i += 1;
    }
    found
}

/// The address and the district of a prepared message.
pub fn address_and_district(prepared: &Prepared) -> (Option<String>, Option<String>) {
    let text = prepared.joined.as_str();
    let found = places(text);
    let title: Vec<&Place> = found
        .iter()
        .filter(|p| prepared.in_title(p.start))
        .collect();
    let related = |p: &Place| {
        prepared.in_title(p.start)
            || title
                .iter()
                .any(|t| p.text.contains(&t.text) || t.text.contains(&p.text))
    };
    let best = found
        .iter()
        .enumerate()
        .filter(|(_, p)| p.rank >= 3)
        .max_by_key(|(i, p)| {
            (
                p.rank + if related(p) { 2 } else { 0 },
                std::cmp::Reverse(*i),
            )
        })
        .map(|(_, p)| p);
    let mentions = districts(text);
    let district = best
        .and_then(|p| {
            mentions
                .iter()
                .find(|(_, d)| p.text.contains(d.as_str()))
                .map(|(_, d)| d.clone())
        })
        .or_else(|| {
            mentions
                .iter()
                .find(|(at, _)| prepared.in_title(*at))
                .map(|(_, d)| d.clone())
        })
        .or_else(|| most_mentioned(&mentions));
    (best.map(|p| p.text.clone()), district)
}

/// The district named most often (the first of equals).
fn most_mentioned(mentions: &[(usize, String)]) -> Option<String> {
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for (order, (_, d)) in mentions.iter().enumerate() {
        let entry = counts.entry(d.as_str()).or_insert((0, order));
        entry.0 += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, (count, first))| (*count, std::cmp::Reverse(*first)))
        .map(|(d, _)| d.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::text::prepare;

    fn both(subject: &str, detail: &str) -> (Option<String>, Option<String>) {
        address_and_district(&prepare(subject, detail))
    }

    #[test]
    fn anonymised_addresses() {
        let (address, district) = both("", "我是A市A3区杜鹃文苑小区的业主，楼下每天晚上施工。");
        assert_eq!(address.as_deref(), Some("A市A3区杜鹃文苑小区"));
        assert_eq!(district.as_deref(), Some("A3区"));
    }

    #[test]
    fn the_finest_place_extending_the_titles() {
        let (address, _) = both(
            "建议对东六线海德公元小区单层露台的违章建筑进行最严执法",
            "东六线海德公元小区8号栋单层的公共阳台原本是所有业主共同的活动场所",
        );
        let address = address.unwrap_or_default();
        assert!(address.ends_with("海德公元小区8号栋"), "{address}");
    }

    #[test]
    fn kinds_of_area_are_not_districts() {
        for text in [
            "我们小区的路灯坏了",
            "社区和景区都不管，园区、城区、辖区、片区、郊区也一样",
            "本县全区各县都有",
        ] {
            let (_, district) = both("", text);
            assert_eq!(district, None, "{text}");
        }
        let (_, district) = both("", "天河区天河路208号门口");
        assert_eq!(district.as_deref(), Some("天河区"));
        let (_, district) = both("", "楚江新区质检部门不管");
        assert_eq!(district.as_deref(), Some("楚江新区"));
        let (address, _) = both("", "L5县内各路中巴车胡乱收费");
        assert_eq!(address, None);
    }

    #[test]
    fn codes_documents_and_actions_are_not_places() {
        for text in [
            "我的运单号：EE123",
            "根据国务院32号文件",
            "他在K市K2区开办诊所",
            "幼儿园侵占小区绿地",
        ] {
            let (address, _) = both("", text);
            assert_eq!(address, None, "{text}");
        }
        let (address, district) = both("", "由县政府安排进行，K8县卫生院住院部关闭");
        assert_eq!(address.as_deref(), Some("K8县卫生院"));
        assert_eq!(district.as_deref(), Some("K8县"));
        let (address, _) = both("", "M1区育新街路灯为什么不开");
        assert_eq!(address.as_deref(), Some("M1区育新街"));
    }

    #[test]
    fn bare_suffix_words_name_nothing() {
        let (address, _) = both("", "我们小区的学校和医院都在村里。");
        assert_eq!(address, None);
    }
}
