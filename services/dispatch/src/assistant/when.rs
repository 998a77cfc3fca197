//! When the matter happened (or the time asked about), as the text says it.
//!
//! Time expressions are found by one pattern: dates (`2019年1月5日`, `2016.7.7`, `1月5日`,
//! `10月份`, `今年8月底`, `2017年度`), days (`今天`, `前几天`, `上周三`), times of day with a
//! clock (`晚上十点以后`, `凌晨3点`, `22:00`), recurring evenings (`每天晚上`) and the vague
//! `最近`/`前不久`. Expressions that touch (`2013年8月-2018年8月`, `7月1日上午10点`) are one.
//! Not times: durations (`三十多年`, `5年左右`, `两个月`), ages (`今年63岁`), dates inside a
//! document's title or number (`《…（2017—2030年）》`, `[2014]22号`), `第三点`.
//!
//! The first expression that names a year, month, day, day of the week or clock time wins: a
//! citizen tells the matter before the history and the letter's date, so the first is usually
//! the matter's own. A vague one (`最近`) is taken only when there is nothing better.

use std::sync::LazyLock;

use regex::Regex;

/// A number of hours, days or months in digits or Chinese numerals.
const N: &str = r"(?:\d{1,2}|[一二三四五六七八九十两]{1,3})";
const DAYPART: &str =
    r"(?:凌晨|清晨|早晨|早上|上午|中午|午后|下午|傍晚|晚上|夜里|夜间|深夜|半夜|晚间)";
const QUALIFIER: &str = r"(?:左右|以后|之后|以前|之前|前后|多)?";
const YEAR: &str = r"(?:(?:19|20)\d{2}年(?:度|初|底|年初|年底|上半年|下半年)?|(?:今年|去年|前年|明年)(?:年初|年底|初|底)?)";
const MONTH: &str =
    r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])月份?(?:初|底|中旬|上旬|下旬)?";
const DAY: &str =
    r"(?:[12]\d|3[01]|0?[1-9]|三十一?|[一二]?十[一二三四五六七八九]?|[一二三四五六七八九])[日号]";
const NUMERIC_DATE: &str = r"(?:19|20)\d{2}[.\-/](?:1[0-2]|0?[1-9])[.\-/](?:[12]\d|3[01]|0?[1-9])";
const RELATIVE_DAY: &str = r"(?:今天|昨天|前天|明天|今日|昨日|今早|今晚|昨晚|前几天|这几天|上周[一二三四五六日天]?|上星期[一二三四五六日天]?|本周|这周|上个月|本月|这个月|近日|日前|周末|春节|国庆|元旦|清明|暑假|寒假)";
const RECURRING: &str = r"(?:(?:每天|每日|每到|每当|每逢|天天)(?:的)?|每晚)";
const VAGUE: &str = r"(?:最近|近来|近期|近段时间|前段时间|前不久|这段时间)";

fn clock() -> String {
    format!(r"(?:{N}(?:点|时)(?:\d{{1,2}}分|半|[一二三四五]十分?)?|(?:[01]?\d|2[0-3]):[0-5]\d)")
}

static TIME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let clock = clock();
    let alternatives = [
        format!("{NUMERIC_DATE}(?:{DAYPART})?(?:{clock})?{QUALIFIER}"),
        format!("{YEAR}?{MONTH}(?:{DAY})?(?:{DAYPART})?(?:{clock})?{QUALIFIER}"),
        YEAR.to_owned(),
        format!("{RELATIVE_DAY}(?:{DAYPART})?(?:{clock})?{QUALIFIER}"),
        format!("{RECURRING}(?:{DAYPART}(?:{clock})?|{clock}){QUALIFIER}"),
        format!("{DAYPART}{clock}{QUALIFIER}"),
        // A bare clock needs a qualifier or minutes: "10点以后", "22:00" (not "两点意见").
        r"\d{1,2}(?:点|时)(?:\d{1,2}分|半)?(?:左右|以后|之后|以前|前后|多)".to_owned(),
        format!(r"(?:[01]?\d|2[0-3]):[0-5]\d{QUALIFIER}"),
        VAGUE.to_owned(),
    ];
    Regex::new(&alternatives.join("|")).ok()
});

/// How much an expression pins down: 1 vague, 2 a year or a day, 3 a month, 4 a date or a clock.
fn precision(s: &str) -> u8 {
    let has_clock =
        s.contains('点') || s.contains(':') || (s.contains('时') && !s.contains("时间"));
    let has_day = s.contains('月') && (s.contains('日') || s.contains('号'));
    if has_clock || has_day || s.matches(['.', '/', '-']).count() >= 2 {
        4
    } else if s.contains('月') && !s.contains("个月") {
        3
    } else if VAGUE_WORDS.contains(&s) {
        1
    } else {
        2
    }
}

const VAGUE_WORDS: &[&str] = &[
    "最近",
    "近来",
    "近期",
    "近段时间",
    "前段时间",
    "前不久",
    "这段时间",
];

/// Whether byte `at` is inside a 《title》 or a [document number].
fn inside_title(text: &str, at: usize) -> bool {
    let before = &text[..at];
    [('《', '》'), ('[', ']'), ('【', '】')]
        .iter()
        .any(|(open, close)| match before.rfind(*open) {
            Some(o) => !before[o..].contains(*close),
            None => false,
        })
}

/// Expressions in order, touching ones merged: (start, end, precision).
fn expressions(text: &str) -> Vec<(usize, usize, u8)> {
    let Some(time) = TIME.as_ref() else {
        return Vec::new();
    };
    let mut found: Vec<(usize, usize, u8)> = Vec::new();
    for m in time.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        let s = m.as_str();
        let after = &text[end..];
        let ordinal = text[..start].ends_with('第');
        // "今年63岁": an age.
        let age = after
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('岁')
            && after.starts_with(|c: char| c.is_ascii_digit());
        // "3年多", "半年" are not matched; "2000年来" is a duration in years too.
        let duration = s.ends_with('年') && (after.starts_with('来') || after.starts_with('间'));
        if ordinal || age || duration || inside_title(text, start) {
            continue;
        }
        let level = precision(s);
        if let Some(last) = found.last_mut() {
            let gap = &text[last.1..start];
            if gap.is_empty() || matches!(gap, "-" | "至" | "到" | "~" | "～" | "—") {
                last.1 = end;
                last.2 = last.2.max(level);
                continue;
            }
        }
        found.push((start, end, level));
    }
    found
}

/// The matter's time in `text` (see the module's notes).
pub fn time(text: &str) -> Option<String> {
    let found = expressions(text);
    found
        .iter()
        .find(|(_, _, level)| *level >= 2)
        .or_else(|| found.first())
        .map(|(start, end, _)| text[*start..*end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_clock_times() {
        assert_eq!(
            time("我于2019年1月5日去办").as_deref(),
            Some("2019年1月5日")
        );
        assert_eq!(
            time("7月1日上午10点将车停入").as_deref(),
            Some("7月1日上午10点")
        );
        assert_eq!(
            time("最近经常夜里11点以后飘出").as_deref(),
            Some("夜里11点以后")
        );
        assert_eq!(time("每天晚上都很吵").as_deref(), Some("每天晚上"));
        assert_eq!(time("凌晨3点还在施工").as_deref(), Some("凌晨3点"));
        assert_eq!(time("到22:00还没停").as_deref(), Some("22:00"));
        assert_eq!(time("我于2016.7.7参加面试").as_deref(), Some("2016.7.7"));
        assert_eq!(
            time("时间：2013年8月-2018年8月").as_deref(),
            Some("2013年8月-2018年8月")
        );
        assert_eq!(time("从今年年初开始").as_deref(), Some("今年年初"));
        assert_eq!(
            time("2014年十月我去市计生委").as_deref(),
            Some("2014年十月")
        );
    }

    #[test]
    fn not_times() {
        assert_eq!(time("我为企业奉献四十多年，住了三十多年"), None);
        assert_eq!(time("今年63岁，两个月没发"), None);
        assert_eq!(time("《双江口镇总体规划（2017—2030年）》"), None);
        assert_eq!(time("楚农工[2014]22号文件"), None);
        assert_eq!(time("第三点，两点意见"), None);
    }

    #[test]
    fn vague_only_when_nothing_else() {
        assert_eq!(time("最近因犯错").as_deref(), Some("最近"));
        assert_eq!(time("最近，2018年4月受伤").as_deref(), Some("2018年4月"));
    }
}
