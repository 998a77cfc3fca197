//! Smart dispatch (智能派单): a ticket without a matter code, from its text to a department.
//!
//! 1. The classifier ([`crate::classifier`]) gives the first-level class with a calibrated
//!    probability, top three.
//! 2. For each class, the catalogue's matters of that class are narrowed to one matter code by
//!    the knowledge service's suggestions (its items name their matter, so an answer that fits
//!    the text points at the matter) and by the matters' own names and keywords in the text.
//! 3. The matter (or, with no matter singled out, the class when all its matters agree) gives
//!    the scope: a city department, or the district the gazetteer finds in the address (or in
//!    the text itself) — 属地; co-handlers (协办) from the matter's entry.
//! 4. Dispatched without a person only when the classifier is above its threshold (chosen on
//!    the validation fold for the target precision) and the first class has a department;
//!    otherwise the manual queue gets the top three, each with its department when it has one.
//!
//! Pure, like [`crate::router`]: the knowledge hints come in as data, so the same ticket always
//! gets the same answer and tests need no service.

use hotline_domain::DeptCode;
use hotline_domain::ServiceCode;
use hotline_domain::contract::Location;
use serde::Serialize;

use crate::catalogue::{Entry, Scope};
use crate::classifier::{Classification, Model};
use crate::gazetteer::{Found, Gazetteer};

/// A matter the knowledge service suggested for the text, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct MatterHint {
    pub code: ServiceCode,
}

/// One way the ticket could go.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub category: String,
    pub probability: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<ServiceCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter_name: Option<String>,
    /// The department it would go to; None when the class or address does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<DeptCode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub co: Vec<DeptCode>,
    /// How the matter and the department were found, or why there is no department.
    pub why: String,
}

/// The classifier's view of a ticket and where each likely class would send it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub model: String,
    /// Most likely first; at most three.
    pub candidates: Vec<Candidate>,
    /// Sure enough to dispatch the first candidate without a person.
    pub auto: bool,
}

impl Assessment {
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }
}

/// Assesses a ticket's text: the classes, their matters and departments.
pub fn assess(
    model: &Model,
    text: &str,
    location: &Location,
    entries: &[Entry],
    hints: &[MatterHint],
    gazetteer: &Gazetteer,
) -> Assessment {
    let classification = model.classify("", text);
    assess_classified(
        &model.version.to_string(),
        &classification,
        text,
        location,
        entries,
        hints,
        gazetteer,
    )
}

/// [`assess`] for a classification made already (the bench times the two apart).
pub fn assess_classified(
    model: &str,
    classification: &Classification,
    text: &str,
    location: &Location,
    entries: &[Entry],
    hints: &[MatterHint],
    gazetteer: &Gazetteer,
) -> Assessment {
    let candidates: Vec<Candidate> = classification
        .top
        .iter()
        .map(|s| {
            candidate(
                &s.category,
                s.probability,
                text,
                location,
                entries,
                hints,
                gazetteer,
            )
        })
        .collect();
    let auto = classification.auto && candidates.first().is_some_and(|c| c.lead.is_some());
    Assessment {
        model: model.to_owned(),
        candidates,
        auto,
    }
}

fn candidate(
    category: &str,
    probability: f32,
    text: &str,
    location: &Location,
    entries: &[Entry],
    hints: &[MatterHint],
    gazetteer: &Gazetteer,
) -> Candidate {
    let mut out = Candidate {
        category: category.to_owned(),
        probability,
        matter: None,
        matter_name: None,
        lead: None,
        co: Vec::new(),
        why: String::new(),
    };
    let in_class: Vec<&Entry> = entries.iter().filter(|e| e.group == category).collect();
    if in_class.is_empty() {
        out.why = format!("class {category} has no matter in the catalogue");
        return out;
    }
    let (matter, how) = match narrow(&in_class, text, hints) {
        Some((entry, how)) => (Some(entry), how),
        None => (None, "no matter singled out".to_owned()),
    };
    let scope = match matter {
        Some(entry) => Some(&entry.scope),
        // Without a matter the class decides only when all its matters go the same way.
        None => {
            let first = &in_class[0].scope;
            in_class.iter().all(|e| &e.scope == first).then_some(first)
        }
    };
    if let Some(entry) = matter {
        out.matter = Some(entry.code.clone());
        out.matter_name = Some(entry.name.clone());
    }
    let lead = match scope {
        None => {
            out.why = format!("{how}; the class's matters go to different departments");
            return out;
        }
        Some(Scope::City { department }) => {
            out.why = format!("{how}; city-wide");
            department.clone()
        }
        Some(Scope::District) => {
            // 属地: the address first, then the text (callers often name the district only
            // in what they say).
            let found = gazetteer.locate(location).or_else(|| {
                gazetteer.locate(&Location {
                    address: Some(text.to_owned()),
                    ..Location::default()
                })
            });
            match found {
                Some(found) => {
                    let place = match &found {
                        Found::ByName(_) => "the district named".to_owned(),
                        Found::ByPosition(_, km) => {
                            format!("coordinates {km:.1} km from the district centre")
                        }
                    };
                    out.why = format!("{how}; district matter, {place}");
                    found.district().clone()
                }
                None => {
                    out.why = format!("{how}; district matter, but no district in the address");
                    return out;
                }
            }
        }
    };
    out.co = matter
        .map(|e| {
            e.co_handlers
                .iter()
                .filter(|c| **c != lead)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    out.lead = Some(lead);
    out
}

/// The matter of a class the text points at: knowledge suggestions weigh most (by rank), then
/// the matter's own name in the text, then its keywords. None when nothing points anywhere.
fn narrow<'a>(
    in_class: &[&'a Entry],
    text: &str,
    hints: &[MatterHint],
) -> Option<(&'a Entry, String)> {
    let mut best: Option<(f32, &'a Entry, String)> = None;
    for entry in in_class {
        let mut score = 0.0f32;
        let mut how = Vec::new();
        if let Some(rank) = hints.iter().position(|h| h.code == entry.code) {
            score += 3.0 / (rank as f32 + 1.0);
            how.push(format!("knowledge suggestion #{}", rank + 1));
        }
        if entry.name.chars().count() >= 2 && text.contains(entry.name.as_str()) {
            score += 2.0;
            how.push(format!("names 「{}」", entry.name));
        }
        for keyword in &entry.keywords {
            if *keyword != entry.name
                && keyword.chars().count() >= 2
                && text.contains(keyword.as_str())
            {
                score += 1.0;
                how.push(format!("keyword 「{keyword}」"));
            }
        }
        // Ties keep the first (lowest code): deterministic.
        if score > 0.0 && best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, entry, how.join(", ")));
        }
    }
    best.map(|(_, entry, how)| (entry, format!("matter {} by {how}", entry.code)))
}

#[cfg(test)]
mod tests {
    use hotline_domain::Directory;

    use super::*;
    use crate::catalogue::demo_entries;
    use crate::classifier::Model;

    fn setup() -> (Model, Vec<Entry>, Gazetteer) {
        (
            Model::shipped().expect("model"),
            demo_entries().expect("catalogue"),
            Gazetteer::demo(&Directory::demo()),
        )
    }

    #[test]
    fn a_confident_city_class_goes_to_its_department_without_a_matter_code() {
        let (model, entries, g) = setup();
        let text = "我在公司工作了三年，公司一直没有给我缴纳社会保险和住房公积金，请问我应该怎么维权？劳动合同也没有签。";
        let a = assess(&model, text, &Location::default(), &entries, &[], &g);
        let best = a.best().expect("a candidate");
        assert_eq!(best.category, "劳动和社会保障");
        assert_eq!(best.lead.as_ref().map(|d| d.as_str()), Some("GZ-RS"));
        assert!(a.auto, "{a:?}");
        assert_eq!(a.candidates.len(), 3);
    }

    #[test]
    fn a_district_class_needs_a_district_and_finds_it_in_the_text() {
        let (model, entries, g) = setup();
        let text = "天河区某小区旁边的建筑工地每天晚上施工到凌晨，噪音扰民严重，违章搭建也没人管，请城管部门处理。";
        let a = assess(&model, text, &Location::default(), &entries, &[], &g);
        let best = a.best().expect("a candidate");
        assert_eq!(best.category, "城乡建设");
        assert_eq!(
            best.lead.as_ref().map(|d| d.as_str()),
            Some("GZ-TH"),
            "{best:?}"
        );

        let elsewhere = text.replace("天河区", "A3区");
        let a = assess(&model, &elsewhere, &Location::default(), &entries, &[], &g);
        let best = a.best().expect("a candidate");
        assert_eq!(best.lead, None, "{best:?}");
        assert!(!a.auto, "no department: never automatic");
    }

    #[test]
    fn knowledge_hints_pick_the_matter_within_the_class() {
        let (model, entries, g) = setup();
        let labour: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.group == "劳动和社会保障")
            .collect();
        let hinted = labour[labour.len() - 1].code.clone();
        let text = "公司拖欠工资三个月了，老板一直不给，请帮忙解决";
        let a = assess(
            &model,
            text,
            &Location::default(),
            &entries,
            &[MatterHint {
                code: hinted.clone(),
            }],
            &g,
        );
        let best = a.best().expect("a candidate");
        assert_eq!(best.category, "劳动和社会保障");
        assert_eq!(best.matter.as_ref(), Some(&hinted), "{best:?}");
        assert!(best.why.contains("knowledge"), "{}", best.why);
    }
}
