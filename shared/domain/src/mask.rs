//! Masking of personal data (docs/roles.md, personal data): what goes into logs, spans, events for
//! departments that do not need it, and lists.

/// `13800138000` -> `138****8000`; short numbers keep only their last two digits.
pub fn phone(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() >= 7 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        let keep = chars.len().min(2);
        let tail: String = chars[chars.len() - keep..].iter().collect();
        format!("{}{tail}", "*".repeat(chars.len() - keep))
    }
}

/// `张三丰` -> `张**`: the family name stays so that an agent can address the citizen politely.
pub fn name(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// `li.ming@example.org` -> `l***@example.org`.
pub fn email(raw: &str) -> String {
    match raw.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_keep_only_what_identifies_the_record_not_the_person() {
        assert_eq!(super::phone("13800138000"), "138****8000");
        assert_eq!(super::phone("12345"), "***45");
        assert_eq!(super::name("张三丰"), "张**");
        assert_eq!(super::name("李"), "李*");
        assert_eq!(super::email("li.ming@example.org"), "l***@example.org");
        assert_eq!(super::email("nonsense"), "***");
    }
}
