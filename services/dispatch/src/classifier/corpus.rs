//! The training data: the repository's labeled messages, minus the held-out ones.
//!
//! - [`Message`]: one JSON line of a message file (raw text or segmented tokens, a category).
//! - [`Corpus::load`]: reads `messages-labeled.jsonl`, `messages-extra-raw.jsonl` and
//!   `messages-extra-segmented.jsonl` from a directory (the repository's `deploy/seed/messages`),
//!   drops exact copies, every copy of a `heldout.jsonl` message (same text key) and every near
//!   copy (word sets with Jaccard ≥ 0.5: the segmented file holds the same messages in another
//!   form), and hashes all of it into the model's data hash.
//! - Extra files (`extra`): the hook for the platform's own corrections (a dispatcher's manual
//!   category for a ticket), in the same line format; they pass the same held-out filter.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use super::features::{fnv64_continue, segment, text_key};

/// One line of a message file. Raw lines have `subject`/`detail`, segmented lines `tokens`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub tokens: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
}

impl Message {
    /// The message's words: jieba on the raw text, or the segmented tokens as they are.
    pub fn words(&self) -> Option<Vec<String>> {
        match (&self.subject, &self.detail, &self.tokens) {
            (_, _, Some(tokens)) if self.subject.is_none() && self.detail.is_none() => {
                Some(tokens.split_whitespace().map(str::to_owned).collect())
            }
            (None, None, None) => None,
            (subject, detail, _) => Some(segment(&super::features::message_text(
                subject.as_deref().unwrap_or(""),
                detail.as_deref().unwrap_or(""),
            ))),
        }
    }

    /// The text key of a raw message (segmented rows have none: their text is gone).
    pub fn key(&self) -> Option<u64> {
        if self.subject.is_none() && self.detail.is_none() {
            return None;
        }
        Some(text_key(
            self.subject.as_deref().unwrap_or(""),
            self.detail.as_deref().unwrap_or(""),
        ))
    }
}

/// One training document.
#[derive(Debug, Clone)]
pub struct Example {
    /// Every word (raw messages keep jieba's stop words; the features drop them).
    pub words: Vec<String>,
    pub category: String,
    /// Raw text (the kind the platform classifies), not a segmented row: only these calibrate.
    pub raw: bool,
}

/// What the training reads, and what it left out.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub examples: Vec<Example>,
    /// How many held-out messages the rows were checked against.
    pub heldout: usize,
    pub dropped_copies: usize,
    pub dropped_heldout: usize,
    pub dropped_near_heldout: usize,
    /// FNV-1a over every file read, in order: names the data a model was trained on.
    pub data_hash: u64,
}

pub const LABELED: &str = "messages-labeled.jsonl";
pub const EXTRA_RAW: &str = "messages-extra-raw.jsonl";
pub const EXTRA_SEGMENTED: &str = "messages-extra-segmented.jsonl";
pub const HELDOUT: &str = "heldout.jsonl";

/// Jaccard of word sets at or above which a training row counts as a copy of a held-out message.
pub const NEAR_COPY: f64 = 0.5;

/// Reads a JSON-lines file of messages (blank lines skipped).
pub fn read_messages(path: &Path) -> anyhow::Result<(Vec<Message>, Vec<u8>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let mut messages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: Message = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), n + 1))?;
        messages.push(m);
    }
    Ok((messages, bytes))
}

impl Corpus {
    /// Loads the training data from `dir` (see the module's notes), plus `extra` files.
    pub fn load(dir: &Path, extra: &[PathBuf]) -> anyhow::Result<Corpus> {
        let mut hash = 0xcbf2_9ce4_8422_2325;
        let (heldout, bytes) = read_messages(&dir.join(HELDOUT))?;
        hash = fnv64_continue(hash, &bytes);
        let mut files: Vec<(PathBuf, bool)> = vec![
            (dir.join(LABELED), true),
            (dir.join(EXTRA_RAW), true),
            (dir.join(EXTRA_SEGMENTED), false),
        ];
        files.extend(extra.iter().map(|p| (p.clone(), true)));
        let mut rows = Vec::new();
        for (path, _) in &files {
            let (messages, bytes) = read_messages(path)?;
            hash = fnv64_continue(hash, &bytes);
            rows.extend(messages);
        }
        let mut corpus = Corpus::from_messages(&heldout, &rows)?;
        corpus.data_hash = hash;
        Ok(corpus)
    }

    /// The filtering of [`Corpus::load`] on messages already read.
    pub fn from_messages(heldout: &[Message], rows: &[Message]) -> anyhow::Result<Corpus> {
        let heldout_keys: HashSet<u64> = heldout.iter().filter_map(Message::key).collect();
        // Stop words and punctuation would make every raw message look alike: the near-copy test
        // compares the words the segmented rows kept.
        let segmented_vocabulary: HashSet<&str> = rows
            .iter()
            .filter_map(|m| m.tokens.as_deref())
            .flat_map(str::split_whitespace)
            .collect();
        let content = |words: &[String]| -> HashSet<String> {
            words
                .iter()
                .filter(|w| {
                    segmented_vocabulary.is_empty() || segmented_vocabulary.contains(w.as_str())
                })
                .cloned()
                .collect()
        };
        let heldout_sets: Vec<HashSet<String>> = heldout
            .iter()
            .filter_map(Message::words)
            .map(|w| content(&w))
            .collect();
        let near = NearCopies::new(&heldout_sets);
        let mut corpus = Corpus {
            heldout: heldout.len(),
            ..Corpus::default()
        };
        let mut seen: HashSet<u64> = HashSet::new();
        for row in rows {
            let Some(category) = row.category.clone() else {
                anyhow::bail!("a training message has no category");
            };
            if let Some(key) = row.key() {
                if heldout_keys.contains(&key) {
                    corpus.dropped_heldout += 1;
                    continue;
                }
                if !seen.insert(key) {
                    corpus.dropped_copies += 1;
                    continue;
                }
            }
            let Some(words) = row.words() else { continue };
            if near.any(&content(&words)) {
                corpus.dropped_near_heldout += 1;
                continue;
            }
            corpus.examples.push(Example {
                words,
                category,
                raw: row.tokens.is_none(),
            });
        }
        Ok(corpus)
    }
}

/// Finds near copies (word-set Jaccard ≥ [`NEAR_COPY`]) of a set of reference messages.
pub struct NearCopies<'a> {
    reference: &'a [HashSet<String>],
    postings: HashMap<&'a str, Vec<u32>>,
}

impl<'a> NearCopies<'a> {
    pub fn new(reference: &'a [HashSet<String>]) -> Self {
        let mut postings: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, set) in reference.iter().enumerate() {
            for w in set {
                postings.entry(w.as_str()).or_default().push(i as u32);
            }
        }
        NearCopies {
            reference,
            postings,
        }
    }

    /// Whether `words` is a near copy of any reference message.
    pub fn any(&self, words: &HashSet<String>) -> bool {
        let mut overlap: HashMap<u32, u32> = HashMap::new();
        for w in words {
            for &i in self
                .postings
                .get(w.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                *overlap.entry(i).or_default() += 1;
            }
        }
        overlap.into_iter().any(|(i, shared)| {
            let union = words.len() + self.reference[i as usize].len() - shared as usize;
            f64::from(shared) >= NEAR_COPY * union as f64
        })
    }
}

/// Where the repository's message files are: `deploy/seed/messages` under the working directory
/// or one of its parents, else beside the source tree this binary was built from.
pub fn default_data_dir() -> PathBuf {
    let relative = Path::new("deploy").join("seed").join("messages");
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join(&relative).join(HELDOUT).is_file() {
                return dir.join(&relative);
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(subject: &str, detail: &str, category: &str) -> Message {
        Message {
            id: None,
            subject: Some(subject.into()),
            detail: Some(detail.into()),
            tokens: None,
            category: Some(category.into()),
        }
    }

    #[test]
    fn held_out_messages_and_their_copies_never_train() {
        let held = vec![raw(
            "路灯不亮",
            "小区门口的路灯坏了很久了一直没有人来修理请尽快处理",
            "城乡建设",
        )];
        let rows = vec![
            // the same message with its subject joined into the detail
            raw(
                "路灯不亮",
                "路灯不亮小区门口的路灯坏了很久了一直没有人来修理请尽快处理",
                "城乡建设",
            ),
            // its segmented copy
            Message {
                id: None,
                subject: None,
                detail: None,
                tokens: Some("路灯 不亮 小区 门口 路灯 坏 很久 一直 没有 修理 尽快 处理".into()),
                category: Some("城乡建设".into()),
            },
            raw(
                "医保报销",
                "新生儿医保如何办理报销手续需要哪些材料",
                "劳动和社会保障",
            ),
            raw(
                "医保报销",
                "新生儿医保如何办理报销手续需要哪些材料",
                "劳动和社会保障",
            ),
        ];
        let corpus = Corpus::from_messages(&held, &rows).expect("corpus");
        assert_eq!(corpus.dropped_heldout, 1);
        assert_eq!(corpus.dropped_near_heldout, 1);
        assert_eq!(corpus.dropped_copies, 1);
        assert_eq!(corpus.examples.len(), 1);
        assert_eq!(corpus.examples[0].category, "劳动和社会保障");
    }
}
