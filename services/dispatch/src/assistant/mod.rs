//! The seat assistant (坐席助手, issue 11 item 5): from a message or a call's transcript, the
//! fields an agent fills in — address, district, phone numbers, time, request type, urgency —
//! and, from the classifier, the matter's category. A pure library: no I/O, no state; every
//! field is a suggestion the agent confirms. Measurements: `services/dispatch/ASSISTANT.md`.
//!
//! - [`extract`]: the text-only fields ([`Fields`]); [`assist`]: the same plus the classifier's
//!   category and top three (what `POST /v1/assist` answers).
//! - [`text`]: the input capped ([`text::MAX_DETAIL_CHARS`]) and width-normalised.
//! - [`place`]: address and district (jieba words and tags, the board's anonymised divisions).
//! - [`phone`]: phone numbers as digits (service numbers and codes left out).
//! - [`when`]: the matter's time as the text says it.
//! - [`kind`]: request type, urgency, and [`emergency_cue`] for 110/119/120 hand-over.
//! - [`eval`]: the hand-checked sample, the matching rules, the report.
//! - [`cli`]: `hotline dispatch assist | assist-eval`.

pub mod cli;
pub mod eval;
pub mod kind;
pub mod phone;
pub mod place;
pub mod text;
pub mod when;

use hotline_domain::RequestType;
use serde::{Deserialize, Serialize};

use crate::classifier::{Classification, Model};

pub use eval::{Report, Sample, evaluate};
pub use kind::{EmergencyCue, EmergencyKind, Urgency, emergency_cue};

/// A category the classifier proposes, with its calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Likely {
    pub category: String,
    pub probability: f32,
}

/// What the assistant fills in. Every field may be empty: a message need not name a place,
/// and an empty message names nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    /// The most specific place, as written (`A市A3区杜鹃文苑小区8栋`).
    pub address: Option<String>,
    /// The district or county named (`A3区`, `天河区`, `K8县`).
    pub district: Option<String>,
    /// Phone numbers, digits only, in order of appearance.
    pub phones: Vec<String>,
    /// When the matter happened or the time asked about, as written (`2019年1月5日`,
    /// `每天晚上`, `凌晨3点`).
    pub time: Option<String>,
    pub request_type: Option<RequestType>,
    /// The words that decided the request type, for the agent to check.
    pub request_type_cue: Option<String>,
    pub urgency: Option<Urgency>,
    /// The words that made it urgent or an emergency.
    pub urgency_cue: Option<String>,
    /// Set with `urgency: emergency`: what kind, so the agent hands it to 110/119/120.
    pub emergency: Option<EmergencyKind>,
    /// The classifier's first-level category; [`extract`] leaves it empty.
    pub category: Option<String>,
    pub category_confidence: Option<f32>,
    /// Whether the category is sure enough for automatic dispatch (the model's threshold).
    pub category_auto: Option<bool>,
    /// The three most likely categories.
    pub top3: Vec<Likely>,
    /// The catalogue's matter code; smart dispatch fills it ([`Fields::with_matter_code`]).
    pub matter_code: Option<String>,
}

impl Fields {
    /// The classifier's answer for the same message.
    pub fn with_classification(mut self, classification: &Classification) -> Fields {
        if let Some(best) = classification.best() {
            self.category = Some(best.category.clone());
            self.category_confidence = Some(best.probability);
            self.category_auto = Some(classification.auto);
        }
        self.top3 = classification
            .top
            .iter()
            .map(|s| Likely {
                category: s.category.clone(),
                probability: s.probability,
            })
            .collect();
        self
    }

    pub fn with_matter_code(mut self, code: impl Into<String>) -> Fields {
        self.matter_code = Some(code.into());
        self
    }
}

/// The text-only fields of a message (subject and detail; either may be empty). Never panics;
/// reads at most [`text::MAX_SUBJECT_CHARS`] + [`text::MAX_DETAIL_CHARS`] characters.
pub fn extract(subject: &str, detail: &str) -> Fields {
    let prepared = text::prepare(subject, detail);
    if prepared.is_empty() {
        return Fields::default();
    }
    let all = prepared.joined.as_str();
    let (address, district) = place::address_and_district(&prepared);
    let emergency = kind::emergency(all);
    let (urgency, urgency_cue) = kind::urgency(all, emergency.as_ref());
    let (request_type, request_type_cue) = match (kind::request_type(&prepared), &emergency) {
        (Some((t, cue)), _) => (Some(t), Some(cue)),
        // Someone telling of a fire or a person trapped is asking for help, whatever the words.
        (None, Some(e)) => (Some(RequestType::HelpRequest), Some(e.matched.clone())),
        (None, None) => (None, None),
    };
    Fields {
        address,
        district,
        phones: phone::phones(all),
        time: when::time(all),
        request_type,
        request_type_cue,
        urgency: Some(urgency),
        urgency_cue,
        emergency: emergency.map(|e| e.kind),
        ..Fields::default()
    }
}

/// [`extract`] plus the classifier's category and top three: the whole answer for an agent.
/// The classifier reads the same capped text.
pub fn assist(model: &Model, subject: &str, detail: &str) -> Fields {
    let fields = extract(subject, detail);
    let subject = text::head(subject, text::MAX_SUBJECT_CHARS);
    let detail = text::head(detail, text::MAX_DETAIL_CHARS);
    if subject.trim().is_empty() && detail.trim().is_empty() {
        return fields;
    }
    fields.with_classification(&model.classify(subject, detail))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn empty_and_blank_messages_fill_nothing() {
        assert_eq!(extract("", ""), Fields::default());
        assert_eq!(extract(" \n\t", "\u{3000}\u{200B}"), Fields::default());
    }

    #[test]
    fn a_whole_message() {
        let f = extract(
            "A市A3区杜鹃文苑小区夜间施工扰民",
            "我是A市A3区杜鹃文苑小区8栋的业主，每天晚上10点以后工地还在施工，严重影响休息。\
             投诉多次无果。联系电话13800138000，有事也可打12345。",
        );
        assert_eq!(f.district.as_deref(), Some("A3区"));
        let address = f.address.clone().unwrap_or_default();
        assert!(address.contains("杜鹃文苑小区"), "{address}");
        assert_eq!(f.phones, ["13800138000"]);
        assert_eq!(f.time.as_deref(), Some("每天晚上10点以后"));
        assert_eq!(f.request_type, Some(RequestType::Complaint));
        assert_eq!(f.urgency, Some(Urgency::Normal));
        assert_eq!(f.category, None);
    }

    #[test]
    fn an_emergency_is_a_call_for_help() {
        let f = extract("", "天河区天河路208号楼下着火了，有人被困");
        assert_eq!(f.urgency, Some(Urgency::Emergency));
        assert_eq!(f.emergency, Some(EmergencyKind::Fire));
        assert_eq!(f.request_type, Some(RequestType::HelpRequest));
        assert_eq!(f.address.as_deref(), Some("天河区天河路208号"));
    }

    #[test]
    fn odd_unicode_does_not_panic() {
        for text in [
            "\u{0}\u{1}\u{7f}",
            "🔥🔥🔥着火了🔥",
            "A\u{0301}市\u{FE0F}区\u{200D}县",
            "１３８００１３８０００",
            "\u{10FFFF}\u{E000}路号栋",
            "区区区区县县县",
            "号",
            "第",
        ] {
            let f = extract(text, text);
            let _ = serde_json::to_string(&f).expect("serialisable");
        }
        assert_eq!(
            extract("", "１３８００１３８０００").phones,
            ["13800138000"]
        );
    }

    #[test]
    fn a_100_kb_message_returns_quickly() {
        let unit = "我是A市A3区杜鹃文苑小区8栋的业主，电话13800138000，每天晚上施工扰民。";
        let mut detail = String::new();
        while detail.len() < 100 * 1024 {
            detail.push_str(unit);
        }
        // The dictionary loads once per process; time the extraction, not the loading.
        let _ = extract("", "预热");
        let started = Instant::now();
        let f = extract("施工扰民", &detail);
        let took = started.elapsed();
        assert!(f.address.is_some());
        // Unoptimised test builds on a shared 2-core machine: generous, but a quadratic
        // blow-up on 100 kB would take minutes.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
