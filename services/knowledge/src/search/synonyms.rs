//! The global synonym table, applied at query time.
//!
//! A group is a set of ways to say one thing (社保卡 / 社会保障卡). When a query word is a term
//! of a group, the other terms of the group are added to the query as alternatives with a
//! slightly lower weight. Query-time expansion means that changing the table never requires
//! re-indexing. Leaves' own `synonyms` are indexed with the leaf (see the `kw` field) and need
//! nothing here.

use std::collections::HashSet;

use super::text::{normalize, precise_words};
use super::vocabulary::DEFAULT_SYNONYMS;

/// The most groups [`Synonyms::new`] accepts (matching cost grows with the table).
pub const MAX_SYNONYM_GROUPS: usize = 20_000;

/// One term of a group, normalised, with its precise cut.
#[derive(Debug, Clone)]
pub(crate) struct SynTerm {
    pub text: String,
    /// The term's words: one word (the term itself) when the dictionary knows it; several
    /// when it does not, in which case it is searched as a conjunction of them.
    pub words: Vec<String>,
}

impl SynTerm {
    fn single(&self) -> bool {
        self.words.len() == 1 && self.words[0] == self.text
    }
}

/// A compiled synonym table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Synonyms {
    groups: Vec<Vec<SynTerm>>,
}

impl Synonyms {
    /// Normalises the terms, drops empty ones and groups of fewer than two distinct terms.
    pub fn new<S: AsRef<str>>(groups: &[Vec<S>]) -> Synonyms {
        let mut compiled = Vec::with_capacity(groups.len());
        for group in groups.iter().take(MAX_SYNONYM_GROUPS) {
            let mut seen = HashSet::new();
            let terms: Vec<SynTerm> = group
                .iter()
                .map(|t| normalize(t.as_ref().trim()))
                .filter(|t| !t.is_empty() && t.chars().count() <= 64)
                .filter(|t| seen.insert(t.clone()))
                .filter_map(|text| {
                    let words = precise_words(&text);
                    (!words.is_empty()).then_some(SynTerm { text, words })
                })
                .collect();
            if terms.len() >= 2 {
                compiled.push(terms);
            }
        }
        Synonyms { groups: compiled }
    }

    /// The table shipped with the service.
    pub fn defaults() -> Synonyms {
        let groups: Vec<Vec<&str>> = DEFAULT_SYNONYMS.iter().map(|g| g.to_vec()).collect();
        Synonyms::new(&groups)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// The alternatives to add for a query: for every group one of whose terms is a primary
    /// word of the query (or, for a term the dictionary does not know, occurs in the text),
    /// the group's other terms that the query does not already contain.
    pub fn expansions<'a>(&'a self, normalized: &str, primary: &HashSet<&str>) -> Vec<&'a SynTerm> {
        let mut out: Vec<&SynTerm> = Vec::new();
        for group in &self.groups {
            let hit = group.iter().any(|t| {
                if t.single() {
                    primary.contains(t.text.as_str())
                } else {
                    normalized.contains(t.text.as_str())
                }
            });
            if !hit {
                continue;
            }
            for term in group {
                let present =
                    primary.contains(term.text.as_str()) || normalized.contains(term.text.as_str());
                if !present && !out.iter().any(|o| o.text == term.text) {
                    out.push(term);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_word_expands_to_the_rest_of_its_group() {
        let syn = Synonyms::defaults();
        assert!(syn.len() >= 20);
        let primary = HashSet::from(["社保卡"]);
        let alts: Vec<&str> = syn
            .expansions("社保卡", &primary)
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(alts, vec!["社会保障卡"]);
    }

    #[test]
    fn unknown_multi_word_terms_match_by_substring_and_expand_to_conjunctions() {
        let syn = Synonyms::new(&[vec!["一网通办", "政务服务一体化平台"]]);
        let alts = syn.expansions("政务服务一体化平台怎么登录", &HashSet::new());
        assert_eq!(alts.len(), 1);
        assert_eq!(alts[0].text, "一网通办");
        assert!(!alts[0].words.is_empty());
    }

    #[test]
    fn degenerate_groups_are_dropped() {
        let syn = Synonyms::new(&[vec!["a", "A"], vec!["", "x"], vec!["只有一个"]]);
        assert_eq!(syn.len(), 0);
    }
}
