//! Phone numbers in a message, as digits.
//!
//! A run of digits (with `-`, brackets, a `+86`) is a phone when its digits have the shape of
//! one: a mainland mobile (`1[3-9]` and 11 digits), a landline with its area code (`0` + 2 or 3
//! digits + 7 or 8), a `400`/`800` line, or the board's anonymised mask `0000-00000000` (also
//! behind an area code or a mobile prefix). A 7–8 digit local number counts only right after a
//! phone word (电话, 手机, 联系…) or in a list after another phone. Short service numbers
//! (12345, 110, 12315, 10086…) never have a phone's length, so they are never taken; runs next to
//! a code word (编码, 运单号, 身份证…), a letter or a URL are codes, not phones.

use std::sync::LazyLock;

use regex::Regex;

/// A digit run with the separators phone numbers are written with.
static RUN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\+?[(（]?\d(?:[\d\-()（）]| \d){5,24}\d").ok());

/// Words that make the run before them a code, not a phone.
const CODE_WORDS: &[&str] = &[
    "编码",
    "编号",
    "单号",
    "运单",
    "证号",
    "身份证",
    "账号",
    "帐号",
    "卡号",
    "订单",
    "批号",
    "文号",
    "案号",
    "工号",
    "学号",
    "车牌",
    "发票",
    "合同号",
    "型号",
    "代码",
    "序号",
    "字第",
    "id",
    "ID",
    "vid",
    "=",
    "/",
    "#",
];

/// Words that announce a phone number.
const PHONE_WORDS: &[&str] = &[
    "电话", "手机", "联系", "号码", "致电", "拨打", "热线", "座机", "tel", "Tel", "TEL", "电:",
    "电：",
];

/// The anonymised phone of the board's data.
const MASK: &str = "0000-00000000";

/// The last `n` characters before byte `at`.
fn before(text: &str, at: usize, n: usize) -> &str {
    let s = &text[..at];
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &s[start..]
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The digits of a run when it has a phone's shape (`local` allows a bare 7–8 digit number).
fn phone_digits(run: &str, local: bool) -> Option<String> {
    let mut d = digits(run);
    if run.ends_with(MASK) {
        let prefix = &d[..d.len() - 12];
        let masked_ok = prefix.is_empty()
            || (prefix.starts_with('0') && (3..=4).contains(&prefix.len()))
            || (prefix.starts_with('1') && prefix.len() == 3);
        return masked_ok.then_some(d);
    }
    if let Some(rest) = d.strip_prefix("0086") {
        d = rest.to_owned();
    } else if run.starts_with("+86") {
        d = d[2..].to_owned();
    }
    let b = d.as_bytes();
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
    let landline = (10..=12).contains(&b.len()) && b[0] == b'0' && b[1] != b'0';
    let business = b.len() == 10 && (d.starts_with("400") || d.starts_with("800"));
    let bare_local = local && (7..=8).contains(&b.len()) && (b'2'..=b'9').contains(&b[0]);
    (mobile || landline || business || bare_local).then_some(d)
}

/// Every phone number in `text`, digits only, each once, in order.
pub fn phones(text: &str) -> Vec<String> {
    let Some(run) = RUN.as_ref() else {
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    // Where the last accepted phone ended: a bare local number right after it is its sibling.
    let mut last_end: Option<usize> = None;
    for m in run.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        let neighbour_letter = text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            || text[end..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        let context = before(text, start, 8);
        let code = CODE_WORDS.iter().any(|w| {
            before(text, start, 6).contains(w)
                && !PHONE_WORDS
                    .iter()
                    .any(|p| before(text, start, 3).contains(p))
        });
        if neighbour_letter || code {
            continue;
        }
        let sibling = last_end.is_some_and(|e| {
            text[e..start].chars().count() <= 1
                && text[e..start]
                    .chars()
                    .all(|c| matches!(c, '、' | '/' | ',' | '，' | ';' | '；' | '或'))
        });
        let announced = PHONE_WORDS.iter().any(|w| context.contains(w));
        let trimmed = m.as_str().trim_start_matches(['(', '（']);
        // "138 0013 8000" is one number; "0000-00000000 2015" is a number and a year.
        let numbers = match phone_digits(trimmed, announced || sibling) {
            Some(d) => vec![d],
            None => trimmed
                .split(' ')
                .filter_map(|piece| phone_digits(piece, announced || sibling))
                .collect(),
        };
        if !numbers.is_empty() {
            last_end = Some(end);
        }
        for d in numbers {
            if !found.contains(&d) {
                found.push(d);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use crate::assistant::text::normalise;

    /// As `extract` calls it: on the normalised text.
    fn phones(text: &str) -> Vec<String> {
        super::phones(&normalise(text))
    }

    #[test]
    fn mobiles_and_landlines() {
        assert_eq!(
            phones("电话13800138000，座机020-12345678，或(0731)8888888"),
            ["13800138000", "02012345678", "07318888888"]
        );
        assert_eq!(phones("+86 138-0013-8000"), ["13800138000"]);
        assert_eq!(phones("0086 13800138000"), ["13800138000"]);
    }

    #[test]
    fn service_numbers_are_not_phones() {
        assert!(phones("打了12345和110，又打12315、10086、0731-12345").is_empty());
    }

    #[test]
    fn codes_dates_and_ids_are_not_phones() {
        assert!(phones("编码：0000-00000000，运单号EE0000-00000000US").is_empty());
        assert!(phones("2019-2-22和2015-4-17去的").is_empty());
        assert!(phones("身份证430102199001011234").is_empty());
        assert!(phones("https://baidu.com/#vid=0000-00000000").is_empty());
    }

    #[test]
    fn the_boards_masks_and_local_numbers() {
        assert_eq!(phones("本人电话0000-00000000。"), ["000000000000"]);
        assert_eq!(
            phones("王微 电话：0000-00000000 2015年4月11"),
            ["000000000000"]
        );
        assert_eq!(phones("手机 138 0013 8000"), ["13800138000"]);
        assert_eq!(
            phones("医保中心（0746-8353066、8367386）说"),
            ["07468353066", "8367386"]
        );
        assert_eq!(
            phones("一个号码（0731—0000-00000000）"),
            ["0731000000000000"]
        );
        // A bare 7-digit number needs a phone word.
        assert!(phones("收了4980416元").is_empty());
        assert_eq!(phones("发改局电话4980416的人"), ["4980416"]);
    }
}
