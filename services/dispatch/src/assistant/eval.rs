//! The assistant measured on hand-checked messages.
//!
//! - [`Sample`]: one line of `deploy/seed/messages/assistant-sample.jsonl`: a message and what
//!   a careful agent would fill in (`null`: the message has none; `address` and `time` may list
//!   alternatives when the text names the same place or moment twice in different words).
//! - The matching rules, field by field (also in `services/dispatch/ASSISTANT.md`):
//!   - texts are compared on their letters, digits and Han characters only (whitespace and
//!     punctuation dropped);
//!   - `address`: the anonymised divisions at the start (`A市A3区`, `西地省`) are dropped from
//!     both, then one must contain the other, the shorter at least two characters, and the
//!     extracted one at most [`MAX_ADDRESS_CHARS`] (a whole sentence contains every place);
//!   - `district`: equal, or one ends with the other (`A市A3区` is `A3区`);
//!   - `time`: one contains the other, the shorter at least two characters, the extracted one
//!     at most [`MAX_TIME_CHARS`];
//!   - `phones`: the same set of digit strings;
//!   - `request_type`, `urgency`, `category`: equal.
//! - [`evaluate`] → [`Report`]: per field, how many samples expect a value, how many the
//!   assistant filled, filled correctly, filled wrongly, missed, filled when none was expected;
//!   the share of all sample × field pairs right (a null left null is right) and the share of
//!   expected values found.

use std::fmt;
use std::sync::LazyLock;

use hotline_domain::RequestType;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Fields;
use super::kind::Urgency;
use crate::classifier::Model;

pub const MAX_ADDRESS_CHARS: usize = 40;
pub const MAX_TIME_CHARS: usize = 20;

/// A value, or several a careful agent would accept equally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Alternatives {
    One(String),
    Any(Vec<String>),
}

impl Alternatives {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let all: Vec<&str> = match self {
            Alternatives::One(s) => vec![s.as_str()],
            Alternatives::Any(v) => v.iter().map(String::as_str).collect(),
        };
        all.into_iter()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    #[serde(default)]
    pub address: Option<Alternatives>,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub time: Option<Alternatives>,
    #[serde(default)]
    pub request_type: Option<RequestType>,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default)]
    pub category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    #[serde(default)]
    pub id: Value,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub detail: String,
    pub expected: Expected,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("line {line}: {source}")]
    Line {
        line: usize,
        source: serde_json::Error,
    },
}

/// The samples of a JSON-lines text (blank lines skipped).
pub fn parse_samples(jsonl: &str) -> Result<Vec<Sample>, SampleError> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|source| SampleError::Line {
                line: n + 1,
                source,
            })
        })
        .collect()
}

/// The fields measured, in report order.
pub const FIELDS: [&str; 7] = [
    "address",
    "district",
    "phones",
    "time",
    "request_type",
    "urgency",
    "category",
];

/// Letters, digits and Han characters only.
pub fn comparable(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect()
}

static LEADING_DIVISIONS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(?:[A-Z]\d{0,2}(?:省|市|区|县|州)|\p{Han}{2,3}省)+").ok());

fn without_divisions(s: &str) -> String {
    match LEADING_DIVISIONS.as_ref() {
        Some(re) => re.replace(s, "").into_owned(),
        None => s.to_owned(),
    }
}

/// One contains the other, and the shorter is not a single character.
fn overlap(a: &str, b: &str) -> bool {
    let shorter = a.chars().count().min(b.chars().count());
    shorter >= 2 && (a.contains(b) || b.contains(a))
}

pub fn same_place(extracted: &str, expected: &Alternatives) -> bool {
    let got = without_divisions(&comparable(extracted));
    extracted.chars().count() <= MAX_ADDRESS_CHARS
        && expected
            .iter()
            .any(|e| overlap(&got, &without_divisions(&comparable(e))))
}

pub fn same_district(extracted: &str, expected: &str) -> bool {
    let (a, b) = (comparable(extracted), comparable(expected));
    let shorter = a.chars().count().min(b.chars().count());
    shorter >= 2 && (a.ends_with(&b) || b.ends_with(&a))
}

pub fn same_time(extracted: &str, expected: &Alternatives) -> bool {
    let got = comparable(extracted);
    extracted.chars().count() <= MAX_TIME_CHARS
        && expected.iter().any(|e| overlap(&got, &comparable(e)))
}

pub fn same_phones(extracted: &[String], expected: &[String]) -> bool {
    let digits = |v: &[String]| {
        let mut d: Vec<String> = v
            .iter()
            .map(|p| p.chars().filter(char::is_ascii_digit).collect())
            .collect();
        d.sort();
        d.dedup();
        d
    };
    digits(extracted) == digits(expected)
}

/// How one field did over the samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldStats {
    pub field: &'static str,
    /// Samples with an expected value.
    pub expected: usize,
    /// Samples the assistant filled.
    pub filled: usize,
    /// Filled, and matching the expected value.
    pub correct: usize,
    /// Filled with something else where a value was expected.
    pub wrong: usize,
    /// Left empty where a value was expected.
    pub missed: usize,
    /// Filled where none was expected.
    pub false_fills: usize,
    /// Left empty where none was expected.
    pub correct_nulls: usize,
}

/// One field of one sample the assistant got wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mistake {
    pub id: Value,
    pub field: &'static str,
    pub expected: Value,
    pub got: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub samples: usize,
    pub fields: Vec<FieldStats>,
    pub mistakes: Vec<Mistake>,
}

impl Report {
    /// Right sample × field pairs (a value found, or none where none is expected) over all.
    pub fn correct_share(&self) -> f64 {
        let right: usize = self
            .fields
            .iter()
            .map(|f| f.correct + f.correct_nulls)
            .sum();
        ratio(right, self.samples * self.fields.len())
    }

    /// Expected values found over expected values.
    pub fn expected_share(&self) -> f64 {
        let correct: usize = self.fields.iter().map(|f| f.correct).sum();
        let expected: usize = self.fields.iter().map(|f| f.expected).sum();
        ratio(correct, expected)
    }

    pub fn field(&self, name: &str) -> Option<&FieldStats> {
        self.fields.iter().find(|f| f.field == name)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "samples             {}", self.samples)?;
        writeln!(
            f,
            "{:<14} {:>8} {:>6} {:>7} {:>5} {:>6} {:>11} {:>8}",
            "field", "expected", "filled", "correct", "wrong", "missed", "false fills", "right"
        )?;
        for s in &self.fields {
            writeln!(
                f,
                "{:<14} {:>8} {:>6} {:>7} {:>5} {:>6} {:>11} {:>8.3}",
                s.field,
                s.expected,
                s.filled,
                s.correct,
                s.wrong,
                s.missed,
                s.false_fills,
                ratio(s.correct + s.correct_nulls, self.samples)
            )?;
        }
        writeln!(
            f,
            "fields right (all sample × field pairs, a null left null counts): {:.4}",
            self.correct_share()
        )?;
        writeln!(
            f,
            "expected values found (pairs with an expected value only):        {:.4}",
            self.expected_share()
        )
    }
}

/// What one field of one sample came to: (filled, expected present, correct).
fn judge(fields: &Fields, expected: &Expected, field: &str) -> (bool, bool, bool, Value, Value) {
    match field {
        "address" => {
            let ok = match (&fields.address, &expected.address) {
                (Some(got), Some(want)) => same_place(got, want),
                _ => false,
            };
            (
                fields.address.is_some(),
                expected.address.is_some(),
                ok,
                json(&expected.address),
                json(&fields.address),
            )
        }
        "district" => {
            let ok = match (&fields.district, &expected.district) {
                (Some(got), Some(want)) => same_district(got, want),
                _ => false,
            };
            (
                fields.district.is_some(),
                expected.district.is_some(),
                ok,
                json(&expected.district),
                json(&fields.district),
            )
        }
        "phones" => (
            !fields.phones.is_empty(),
            !expected.phones.is_empty(),
            !expected.phones.is_empty() && same_phones(&fields.phones, &expected.phones),
            json(&expected.phones),
            json(&fields.phones),
        ),
        "time" => {
            let ok = match (&fields.time, &expected.time) {
                (Some(got), Some(want)) => same_time(got, want),
                _ => false,
            };
            (
                fields.time.is_some(),
                expected.time.is_some(),
                ok,
                json(&expected.time),
                json(&fields.time),
            )
        }
        "request_type" => (
            fields.request_type.is_some(),
            expected.request_type.is_some(),
            expected.request_type.is_some() && fields.request_type == expected.request_type,
            json(&expected.request_type),
            json(&fields.request_type),
        ),
        "urgency" => (
            fields.urgency.is_some(),
            expected.urgency.is_some(),
            expected.urgency.is_some() && fields.urgency == expected.urgency,
            json(&expected.urgency),
            json(&fields.urgency),
        ),
        _ => (
            fields.category.is_some(),
            expected.category.is_some(),
            expected.category.is_some() && fields.category == expected.category,
            json(&expected.category),
            json(&fields.category),
        ),
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The assistant on every sample: [`super::extract`], and the category from `model` when
/// given (without one the category is never filled).
pub fn evaluate(samples: &[Sample], model: Option<&Model>) -> Report {
    let mut stats: Vec<FieldStats> = FIELDS
        .iter()
        .map(|f| FieldStats {
            field: f,
            ..FieldStats::default()
        })
        .collect();
    let mut mistakes = Vec::new();
    for sample in samples {
        let fields = match model {
            Some(model) => super::assist(model, &sample.subject, &sample.detail),
            None => super::extract(&sample.subject, &sample.detail),
        };
        for s in stats.iter_mut() {
            let (filled, expected, correct, want, got) = judge(&fields, &sample.expected, s.field);
            s.filled += usize::from(filled);
            s.expected += usize::from(expected);
            match (expected, filled, correct) {
                (true, _, true) => s.correct += 1,
                (true, true, false) => s.wrong += 1,
                (true, false, _) => s.missed += 1,
                (false, true, _) => s.false_fills += 1,
                (false, false, _) => s.correct_nulls += 1,
            }
            if !(correct || (!expected && !filled)) {
                mistakes.push(Mistake {
                    id: sample.id.clone(),
                    field: s.field,
                    expected: want,
                    got,
                });
            }
        }
    }
    Report {
        samples: samples.len(),
        fields: stats,
        mistakes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Alternatives {
        Alternatives::One(s.to_owned())
    }

    #[test]
    fn places_match_by_containment_without_divisions() {
        assert!(same_place("A市A3区魏家坡小区", &one("魏家坡小区")));
        assert!(same_place("楚府东路", &one("A市楚府东路二段")));
        assert!(same_place("“湖天一色”东苑楼", &one("湖天一色东苑楼")));
        // A division alone names no place.
        assert!(!same_place("A5区", &one("A5区木莲路冯家冲安置小区")));
        assert!(!same_place("冯家冲", &one("木莲路")));
        let any = Alternatives::Any(vec!["中山南北路".into(), "蒸阳南路".into()]);
        assert!(same_place("蒸阳南路", &any));
    }

    #[test]
    fn districts_times_phones() {
        assert!(same_district("A市A3区", "A3区"));
        assert!(same_district("临G5县", "G5县"));
        assert!(!same_district("A13区", "A3区"));
        assert!(same_time("10月", &one("10月份")));
        assert!(same_time("夜里11点", &one("夜里11点以后")));
        assert!(!same_time("2008年", &one("2009年1月11日")));
        assert!(same_phones(
            &["000000000000".into()],
            &["0000-00000000".into(), "000000000000".into()]
        ));
    }

    #[test]
    fn a_report_counts_nulls_and_values() {
        let samples = parse_samples(
            r#"{"id":1,"subject":"","detail":"我是A市A3区杜鹃文苑小区的业主，电话13800138000","expected":{"address":"杜鹃文苑小区","district":"A3区","phones":["13800138000"],"time":null,"request_type":null,"urgency":"normal","category":null}}"#,
        )
        .expect("a sample line");
        assert_eq!(samples.len(), 1);
        let report = evaluate(&samples, None);
        let address = report.field("address").cloned().unwrap_or_default();
        assert_eq!((address.expected, address.correct), (1, 1));
        assert_eq!(report.field("time").map(|t| t.correct_nulls), Some(1));
        assert!(report.correct_share() > 0.5, "{report}");
    }
}
