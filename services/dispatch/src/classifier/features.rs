//! From a message's text to the classifier's features.
//!
//! - [`normalise`] / [`message_text`]: whitespace dropped, a subject repeated at the start of the
//!   detail dropped once (some sources join the subject into the detail).
//! - [`segment`]: jieba words (precise mode with HMM), the segmentation the segmented training
//!   file was made with, so raw messages and segmented rows give the same words.
//! - [`Features`]: the vocabulary (words and character 1–3-grams inside words), IDF, and the
//!   sparse sublinear TF-IDF vector, L2-normalised per block and as a whole.
//! - [`fnv64`], [`text_key`]: the stable hashes that name a message's text and the training data.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// The dictionary loads once (about a tenth of a second); every caller shares it.
static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// Subject and detail without whitespace; a detail that starts with its subject loses it.
pub fn normalise(subject: &str, detail: &str) -> (String, String) {
    let subject: String = subject.chars().filter(|c| !c.is_whitespace()).collect();
    let mut detail: String = detail.chars().filter(|c| !c.is_whitespace()).collect();
    if !subject.is_empty() && detail.starts_with(&subject) {
        detail.drain(..subject.len());
    }
    (subject, detail)
}

/// The one text a message is classified on.
pub fn message_text(subject: &str, detail: &str) -> String {
    let (subject, detail) = normalise(subject, detail);
    format!("{subject}。{detail}")
}

/// jieba words of `text`.
pub fn segment(text: &str) -> Vec<String> {
    JIEBA
        .cut(text, true)
        .into_iter()
        .map(|t| t.word.to_owned())
        .collect()
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
pub fn fnv64(bytes: &[u8]) -> u64 {
    fnv64_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continues an FNV-1a hash over more bytes (the data hash covers several files).
pub fn fnv64_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Names a message by its text, so a copy of a held-out message in another file (with or without
/// the subject joined in) is recognised. Short details are too generic alone: the subject joins.
pub fn text_key(subject: &str, detail: &str) -> u64 {
    let (subject, detail) = normalise(subject, detail);
    if detail.chars().count() >= 20 {
        fnv64(detail.as_bytes())
    } else {
        fnv64(format!("{subject}{detail}").as_bytes())
    }
}

/// Character 1–3-grams inside each word (not across words: the segmented rows lost their stop
/// words, so grams across word boundaries would differ between raw and segmented text).
pub fn char_grams(words: &[&str]) -> Vec<String> {
    let mut grams = Vec::new();
    for word in words {
        let chars: Vec<char> = word.chars().collect();
        for n in 1..=3 {
            for window in chars.windows(n) {
                grams.push(window.iter().collect());
            }
        }
    }
    grams
}

/// A sparse feature vector: (feature index, value), indices ascending.
pub type Sparse = Vec<(u32, f32)>;

/// Vocabulary and IDF of the two feature blocks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Features {
    /// Words a document may contribute: those of the segmented corpus. Raw text's jieba output
    /// also has stop words and punctuation, which the segmented rows lost; keeping only these
    /// words makes a raw message and its segmented copy the same document.
    pub known_words: Vec<String>,
    /// Word features, in index order.
    pub words: Vec<String>,
    pub word_idf: Vec<f32>,
    /// Character-gram features, indexed after the words.
    pub grams: Vec<String>,
    pub gram_idf: Vec<f32>,
    #[serde(skip)]
    index: Option<Index>,
}

#[derive(Debug, Clone, PartialEq)]
struct Index {
    known: HashSet<String>,
    features: HashMap<String, u32>,
    grams: HashMap<String, u32>,
}

impl Features {
    /// Chooses the vocabulary from training documents (already filtered to known words): the
    /// `max_words` words and `max_grams` grams in most documents, at least `min_df` of them.
    pub fn fit(
        known_words: Vec<String>,
        docs: &[Vec<&str>],
        max_words: usize,
        max_grams: usize,
        min_df: u32,
    ) -> Self {
        let mut word_df: HashMap<&str, u32> = HashMap::new();
        let mut gram_df: HashMap<String, u32> = HashMap::new();
        for doc in docs {
            let words: HashSet<&str> = doc.iter().copied().collect();
            for w in &words {
                *word_df.entry(w).or_default() += 1;
            }
            let grams: HashSet<String> = char_grams(doc).into_iter().collect();
            for g in grams {
                *gram_df.entry(g).or_default() += 1;
            }
        }
        let n = docs.len() as f32;
        let pick = |df: Vec<(String, u32)>, max: usize| -> (Vec<String>, Vec<f32>) {
            let mut df: Vec<(String, u32)> = df.into_iter().filter(|(_, d)| *d >= min_df).collect();
            // Ties broken by the text, so the vocabulary never depends on hash order.
            df.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            df.truncate(max);
            df.sort_by(|a, b| a.0.cmp(&b.0));
            // scikit-learn's smoothed IDF, which the candidates were measured with.
            let idf = df
                .iter()
                .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
                .collect();
            (df.into_iter().map(|(t, _)| t).collect(), idf)
        };
        let (words, word_idf) = pick(
            word_df
                .into_iter()
                .map(|(w, d)| (w.to_owned(), d))
                .collect(),
            max_words,
        );
        let (grams, gram_idf) = pick(gram_df.into_iter().collect(), max_grams);
        let mut features = Features {
            known_words,
            words,
            word_idf,
            grams,
            gram_idf,
            index: None,
        };
        features.build_index();
        features
    }

    /// Rebuilds the lookup tables after deserialising.
    pub fn build_index(&mut self) {
        let features = self
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        let offset = self.words.len() as u32;
        let grams = self
            .grams
            .iter()
            .enumerate()
            .map(|(i, g)| (g.clone(), offset + i as u32))
            .collect();
        self.index = Some(Index {
            known: self.known_words.iter().cloned().collect(),
            features,
            grams,
        });
    }

    pub fn len(&self) -> usize {
        self.words.len() + self.grams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the words the segmented corpus knows (see [`Features::known_words`]).
    pub fn filter<'a>(&self, words: &'a [String]) -> Vec<&'a str> {
        match &self.index {
            Some(index) => words
                .iter()
                .filter(|w| index.known.contains(w.as_str()))
                .map(String::as_str)
                .collect(),
            None => Vec::new(),
        }
    }

    /// The TF-IDF vector of a document's (filtered) words.
    pub fn vectorise(&self, words: &[&str]) -> Sparse {
        let Some(index) = &self.index else {
            return Vec::new();
        };
        let mut word_tf: HashMap<u32, u32> = HashMap::new();
        for w in words {
            if let Some(i) = index.features.get(*w) {
                *word_tf.entry(*i).or_default() += 1;
            }
        }
        let mut gram_tf: HashMap<u32, u32> = HashMap::new();
        for g in char_grams(words) {
            if let Some(i) = index.grams.get(&g) {
                *gram_tf.entry(*i).or_default() += 1;
            }
        }
        let offset = self.words.len() as u32;
        let block = |tf: HashMap<u32, u32>, idf: &[f32], base: u32| -> Sparse {
            let mut v: Sparse = tf
                .into_iter()
                .map(|(i, n)| {
                    let idf = idf.get((i - base) as usize).copied().unwrap_or(1.0);
                    (i, (1.0 + (n as f32).ln()) * idf)
                })
                .collect();
            // Summed in index order: a hash map's order would change the last bits per run.
            v.sort_by_key(|(i, _)| *i);
            normalise_l2(&mut v);
            v
        };
        let mut v = block(word_tf, &self.word_idf, 0);
        v.extend(block(gram_tf, &self.gram_idf, offset));
        normalise_l2(&mut v);
        v
    }
}

fn normalise_l2(v: &mut Sparse) {
    let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, x) in v.iter_mut() {
            *x /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_joined_into_the_detail_is_dropped_once() {
        assert_eq!(
            normalise("路灯不亮", "路灯不亮 小区门口的路灯坏了"),
            ("路灯不亮".to_owned(), "小区门口的路灯坏了".to_owned())
        );
        assert_eq!(
            text_key(
                "路灯不亮",
                "路灯不亮小区门口的路灯坏了很久了一直没有人来修理请尽快处理"
            ),
            text_key("", "小区门口的路灯坏了很久了一直没有人来修理请尽快处理")
        );
    }

    #[test]
    fn grams_stay_inside_words_and_vectors_are_unit_length() {
        assert_eq!(char_grams(&["路灯"]), vec!["路", "灯", "路灯"]);
        let docs = vec![vec!["路灯", "不亮"], vec!["路灯", "维修"]];
        let known = vec!["路灯".to_owned(), "不亮".to_owned(), "维修".to_owned()];
        let f = Features::fit(known, &docs, 100, 100, 1);
        let v = f.vectorise(&["路灯", "不亮"]);
        let norm: f32 = v.iter().map(|(_, x)| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let words = vec!["路灯".to_owned(), "的".to_owned()];
        assert_eq!(f.filter(&words), vec!["路灯"]);
    }
}
