//! Chinese full-text search over published leaves (standard answers), one in-RAM index per
//! replica, kept current from the publish events.
//!
//! # What is indexed
//!
//! One tantivy document per *leaf* of a published [`Item`]. Its text fields, each cut by the
//! same jieba analysis (see `text`), with the boost they get at query time:
//!
//! | field     | content                                                     | boost |
//! |-----------|-------------------------------------------------------------|-------|
//! | `title`   | the leaf's title                                            | 3.0   |
//! | `kw`      | the leaf's keywords and synonyms                            | 2.5   |
//! | `context` | the item's title and the situation path down to the leaf    | 1.5   |
//! | `answer`  | the standard answer                                         | 1.0   |
//! | `extra`   | legal basis, procedure, materials, fees, time limit, contact | 0.4   |
//!
//! plus filter fields: `item` (item code, also the delete key), `class`, `dept` (every
//! department of the leaf and the item's owner, multi-valued), `from`/`until` (effective and
//! expiry day as fast `i64`, present only when the leaf has the date), and `lid`, a fast
//! `u64` naming the leaf in the side map.
//!
//! Ranking is tantivy's BM25. Text fields keep term frequencies but no positions: there are no
//! phrase queries, and the index is smaller and faster to build.
//!
//! # Why a side map
//!
//! Nothing is STORED in tantivy. What a [`Hit`] shows (codes, titles, path, departments,
//! the answer for the snippet) lives in a `HashMap<lid, Arc<LeafDoc>>` next to the searcher;
//! a hit is resolved by reading `lid` from a fast field (a few nanoseconds) instead of
//! decompressing a doc-store block (tens of microseconds), and highlighting runs on the
//! in-memory answer. The map and the searcher are swapped together under one `RwLock`, so a
//! search always sees a searcher and a map that agree.
//!
//! # Why our own query building
//!
//! Users type Chinese, punctuation, `title:"`, `AND OR ((`: none of it may be an error or
//! change the meaning. tantivy's query language is never exposed. The text is normalised
//! (full-width to half-width, lower case), cut by jieba in precise and search mode, stop
//! words and punctuation dropped, and each remaining word becomes `TermQuery` SHOULD clauses
//! over the five text fields with the boosts above (precise words weigh 1, their sub-words
//! 0.5, lone characters 0.3 when the query has longer words). Synonym groups add the other
//! terms of a group at 0.8 (see [`SearchIndex::set_synonyms`]). Filters are applied while
//! ranking, never after it, so they cannot truncate the top-k the way a post-filter would:
//! class, department and item as non-scoring MUST clauses; the in-force date inside the
//! top-k collector, so that tantivy's block-max WAND pruning keeps working (see
//! `collect`). `total` is counted by a separate non-scoring pass, exactly up to
//! [`COUNT_EXACT_UP_TO`] matches and estimated beyond (`total_exact: false`).
//!
//! # Commit policy
//!
//! [`SearchIndex::upsert`] and [`SearchIndex::remove`] only *stage* a change in the one
//! `IndexWriter` (behind a `Mutex`). A background thread commits staged changes every
//! [`SearchOptions::commit_interval`] (200 ms by default) and reloads the reader, so an edit
//! is searchable within about a quarter of a second however many edits arrive: a burst of a
//! thousand edits costs a handful of commits, not a thousand. [`SearchIndex::commit`] commits
//! at once (bulk loads, tests); with `commit_interval: None` every `upsert`/`remove` commits
//! before returning. [`SearchIndex::upsert_many`] stages everything and commits once.
//!
//! Versions: each item's published version is remembered (removals leave a tombstone), and a
//! change at a version not newer than the one held is ignored, so replayed or reordered
//! events are harmless.
//!
//! # Calling it from async code
//!
//! Searches are synchronous and CPU-bound (at 100k leaves about 1.3 ms median and 3.5 ms
//! p99; a 300-character ticket suggestion about 5 ms median and 10 ms p99; see
//! `examples/search_load.rs`). Call them from `tokio::task::spawn_blocking` (or a
//! small dedicated pool) rather than on a runtime worker: a long ticket text or a
//! merge-heavy moment must not stall unrelated requests. The index is `Clone` (an `Arc`
//! inside), `Send` and `Sync`.

mod collect;
mod highlight;
mod synonyms;
#[cfg(test)]
mod tests;
mod text;
mod vocabulary;

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use serde::{Deserialize, Serialize};
use tantivy::DocSet;
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED,
    TantivyDocument, Term,
};

use crate::model::{Item, ItemClass, ModelError};
use collect::InForceTopDocs;
pub use synonyms::MAX_SYNONYM_GROUPS;
use synonyms::Synonyms;

/// The longest query [`SearchIndex::search`] accepts, in characters. Longer texts (a ticket's
/// description) go to [`SearchIndex::suggest`].
pub const MAX_QUERY_CHARS: usize = 200;
/// The most distinct words (after stop words) a query may have.
pub const MAX_QUERY_TERMS: usize = 48;
/// The longest ticket text [`SearchIndex::suggest`] accepts, in characters.
pub const MAX_SUGGEST_CHARS: usize = 2_000;
/// How many of a ticket text's words [`SearchIndex::suggest`] searches for.
pub const SUGGEST_TERMS: usize = 16;
/// The most hits one page may hold ([`SearchQuery::limit`] is clamped to it).
pub const MAX_LIMIT: usize = 100;
/// How deep paging may go: `offset + limit` at most this.
pub const MAX_WINDOW: usize = 1_000;
/// The most suggestions [`SearchIndex::suggest`] returns.
pub const MAX_SUGGESTIONS: usize = 50;
/// Matches are counted exactly up to about this many; beyond, `total` is estimated.
pub const COUNT_EXACT_UP_TO: usize = 5_000;
/// The longest snippet, in characters (not counting the `<em>` tags and `…`).
pub const SNIPPET_CHARS: usize = 120;

const TOKENIZER: &str = text::TOKENIZER_NAME;
const FIELD_FROM: &str = "from";
const FIELD_UNTIL: &str = "until";
const BOOST_TITLE: f32 = 3.0;
const BOOST_KW: f32 = 2.5;
const BOOST_CONTEXT: f32 = 1.5;
const BOOST_ANSWER: f32 = 1.0;
const BOOST_EXTRA: f32 = 0.4;
/// Weight of a sub-word found only by the search-mode cut.
const WEIGHT_SUBWORD: f32 = 0.5;
/// Weight of a lone character when the query has longer words.
const WEIGHT_SINGLE_CHAR: f32 = 0.3;
/// Weight of a synonym added by the global table.
const WEIGHT_SYNONYM: f32 = 0.8;
/// How many distinct words of a ticket text are looked up in the index at all.
const SUGGEST_CANDIDATES: usize = 96;

/// Filters; all given ones must hold. The index holds published leaves only, so publication
/// status is implicit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// The item's class.
    #[serde(default)]
    pub class: Option<ItemClass>,
    /// One of the leaf's departments, or the item's owner.
    #[serde(default)]
    pub department: Option<DeptCode>,
    /// Only answers in force on this day: `effective_from <= day < expires_on` (a missing
    /// date is open-ended), as [`crate::model::Leaf::in_force_on`].
    #[serde(default)]
    pub in_force_on: Option<NaiveDate>,
    /// Only leaves of this item.
    #[serde(default)]
    pub item: Option<ItemCode>,
}

/// A search as the user asked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Free text; never parsed as a query language.
    pub q: String,
    #[serde(default)]
    pub filters: Filters,
    /// Page size, clamped to [`MAX_LIMIT`]; 0 counts without returning hits.
    #[serde(default = "default_limit")]
    pub limit: usize,
    #[serde(default)]
    pub offset: usize,
    /// Whether to fill [`Hit::snippet`] and [`Hit::title_highlighted`].
    #[serde(default)]
    pub highlight: bool,
}

fn exact() -> bool {
    true
}

fn default_limit() -> usize {
    10
}

impl SearchQuery {
    /// The first ten hits for `q`, highlighted, without filters.
    pub fn new(q: impl Into<String>) -> SearchQuery {
        SearchQuery {
            q: q.into(),
            filters: Filters::default(),
            limit: default_limit(),
            offset: 0,
            highlight: true,
        }
    }
}

/// One matching leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The leaf's code.
    pub code: ItemCode,
    /// The leaf's title.
    pub title: String,
    /// BM25 score (comparable within one result list only).
    pub score: f32,
    /// The item the leaf belongs to.
    pub item: ItemCode,
    pub item_title: String,
    pub class: ItemClass,
    pub matter_code: ServiceCode,
    /// The situation labels from the item down to the leaf.
    pub path: Vec<String>,
    /// The leaf's departments (lead first); the item's owner when the leaf names none.
    pub departments: Vec<DeptCode>,
    /// At most [`SNIPPET_CHARS`] characters of the answer around the matches, HTML-escaped,
    /// matched terms in `<em>`…`</em>`; `…` marks a cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// The title, HTML-escaped, matched terms in `<em>`…`</em>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_highlighted: Option<String>,
}

/// A page of hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// How many leaves match in all: exact up to about [`COUNT_EXACT_UP_TO`], estimated
    /// beyond (see `total_exact`).
    pub total: usize,
    /// Whether `total` is exact; `false` when a broad query matched so many leaves that
    /// counting them all was not worth it and `total` was extrapolated.
    #[serde(default = "exact")]
    pub total_exact: bool,
    pub hits: Vec<Hit>,
    /// Time spent in the index, in microseconds.
    pub took_us: u64,
}

/// Why a search or an update failed. The first group are the caller's fault (HTTP 400, see
/// [`SearchError::is_caller_error`]); [`SearchError::Index`] is ours (HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the query is longer than {max} characters")]
    QueryTooLong { max: usize },
    #[error("the query has no searchable words")]
    EmptyQuery,
    #[error("the query has more than {max} distinct words")]
    TooManyTerms { max: usize },
    #[error("offset + limit must not exceed {max}")]
    PageTooDeep { max: usize },
    #[error("the item cannot be indexed: {0}")]
    InvalidItem(#[from] ModelError),
    #[error("search index failure: {0}")]
    Index(String),
}

impl SearchError {
    /// Whether the request was at fault (as opposed to the index).
    pub fn is_caller_error(&self) -> bool {
        !matches!(self, SearchError::Index(_))
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.to_string())
    }
}

/// Tuning of a [`SearchIndex`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// Memory budget of the index writer, split between its threads (tantivy needs at least
    /// 15 MB per thread).
    pub writer_heap_bytes: usize,
    /// Indexing threads.
    pub writer_threads: usize,
    /// How often staged changes are committed by the background thread; `None` commits in
    /// every `upsert`/`remove` call instead (no thread).
    pub commit_interval: Option<Duration>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 2);
        SearchOptions {
            writer_heap_bytes: 64 * 1024 * 1024,
            writer_threads: threads,
            commit_interval: Some(Duration::from_millis(200)),
        }
    }
}

/// The schema's fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    lid: Field,
    item: Field,
    class: Field,
    dept: Field,
    from: Field,
    until: Field,
    title: Field,
    kw: Field,
    context: Field,
    answer: Field,
    extra: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            lid: b.add_u64_field("lid", FAST),
            item: b.add_text_field("item", STRING),
            class: b.add_text_field("class", STRING),
            dept: b.add_text_field("dept", STRING),
            from: b.add_i64_field(FIELD_FROM, FAST),
            until: b.add_i64_field(FIELD_UNTIL, FAST),
            title: b.add_text_field("title", text.clone()),
            kw: b.add_text_field("kw", text.clone()),
            context: b.add_text_field("context", text.clone()),
            answer: b.add_text_field("answer", text.clone()),
            extra: b.add_text_field("extra", text),
        };
        (b.build(), fields)
    }

    fn scored(&self) -> [(Field, f32); 5] {
        [
            (self.title, BOOST_TITLE),
            (self.kw, BOOST_KW),
            (self.context, BOOST_CONTEXT),
            (self.answer, BOOST_ANSWER),
            (self.extra, BOOST_EXTRA),
        ]
    }
}

/// What the item's leaves share.
#[derive(Debug)]
struct ItemMeta {
    code: ItemCode,
    title: String,
    class: ItemClass,
    matter_code: ServiceCode,
}

/// What a hit shows about one leaf, kept in memory.
#[derive(Debug)]
struct LeafDoc {
    code: ItemCode,
    title: String,
    answer: String,
    path: Vec<String>,
    departments: Vec<DeptCode>,
    item: Arc<ItemMeta>,
}

/// The writer and the changes staged since the last commit.
struct Writer {
    writer: IndexWriter<TantivyDocument>,
    pending_add: Vec<(u64, Arc<LeafDoc>)>,
    pending_remove: Vec<u64>,
    dirty: bool,
}

/// What the index holds of an item.
#[derive(Debug, Clone)]
struct Entry {
    version: i64,
    /// `false` for a tombstone (removed at `version`).
    live: bool,
    lids: Vec<u64>,
}

/// A searcher and the leaf data of exactly its documents.
struct View {
    searcher: Searcher,
    docs: HashMap<u64, Arc<LeafDoc>>,
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<Writer>,
    items: RwLock<HashMap<ItemCode, Entry>>,
    view: RwLock<View>,
    synonyms: RwLock<Arc<Synonyms>>,
    next_lid: AtomicU64,
    commit_each_change: bool,
}

/// The search index of one replica. Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("leaves", &self.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A day as the `from`/`until` fast fields hold it.
fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

/// Where the in-force date filter goes (see [`SearchIndex::build_query`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dates {
    /// As MUST_NOT clauses: for counting.
    InQuery,
    /// Left to [`InForceTopDocs`]: for ranking.
    InCollector,
}

/// A weighted word of a query.
#[derive(Debug, Clone)]
struct Weighted {
    text: String,
    weight: f32,
}

/// A query after analysis: single terms, synonym conjunctions, and what to highlight.
#[derive(Debug, Clone, Default)]
struct Analyzed {
    terms: Vec<Weighted>,
    /// Synonyms the dictionary does not know, as the conjunction of their words.
    conjunctions: Vec<(Vec<String>, f32)>,
    highlight: Vec<String>,
}

impl SearchIndex {
    /// An empty index with the default [`SearchOptions`] and synonym table; loads the jieba
    /// dictionary (once per process).
    pub fn new() -> Result<SearchIndex, SearchError> {
        SearchIndex::with_options(SearchOptions::default())
    }

    /// An empty index tuned by `options`.
    pub fn with_options(options: SearchOptions) -> Result<SearchIndex, SearchError> {
        text::warm_up();
        let (schema, fields) = Fields::schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(TOKENIZER, text::ZhTokenizer);
        let threads = options.writer_threads.max(1);
        let heap = options.writer_heap_bytes.max(threads * 16 * 1024 * 1024);
        let writer = index.writer_with_num_threads::<TantivyDocument>(threads, heap)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let inner = Arc::new(Inner {
            fields,
            reader,
            writer: Mutex::new(Writer {
                writer,
                pending_add: Vec::new(),
                pending_remove: Vec::new(),
                dirty: false,
            }),
            items: RwLock::new(HashMap::new()),
            view: RwLock::new(View {
                searcher,
                docs: HashMap::new(),
            }),
            synonyms: RwLock::new(Arc::new(Synonyms::defaults())),
            next_lid: AtomicU64::new(0),
            commit_each_change: options.commit_interval.is_none(),
        });
        if let Some(every) = options.commit_interval {
            spawn_committer(Arc::downgrade(&inner), every)?;
        }
        Ok(SearchIndex { inner })
    }

    /// Replaces every leaf of `item`, published at `version`, in the index (items are keyed
    /// by item code). Returns `Ok(false)` and changes nothing when the index already holds
    /// this item — or its removal — at a version `>= version` (events may replay).
    ///
    /// The change is staged: searchable after the next commit (within
    /// [`SearchOptions::commit_interval`], or on return when that is `None`, or after
    /// [`SearchIndex::commit`]). Only published items belong here; retire with
    /// [`SearchIndex::remove`].
    pub fn upsert(&self, item: &Item, version: i64) -> Result<bool, SearchError> {
        item.check()?;
        let applied = {
            let mut w = lock(&self.inner.writer);
            self.stage_upsert(&mut w, item, version)?
        };
        if applied && self.inner.commit_each_change {
            self.commit()?;
        }
        Ok(applied)
    }

    /// Removes every leaf of the item (retired at `version`). Returns whether leaves were
    /// removed; `Ok(false)` when the index holds a newer version, or nothing. A tombstone is
    /// kept so that a replayed publish of an older version does not bring the item back.
    pub fn remove(&self, item_code: &ItemCode, version: i64) -> Result<bool, SearchError> {
        let removed = {
            let mut w = lock(&self.inner.writer);
            let mut items = write(&self.inner.items);
            match items.get(item_code) {
                Some(e) if e.version > version => return Ok(false),
                Some(e) if !e.live && e.version == version => return Ok(false),
                _ => {}
            }
            let old = items.insert(
                item_code.clone(),
                Entry {
                    version,
                    live: false,
                    lids: Vec::new(),
                },
            );
            match old {
                Some(old) if old.live => {
                    w.writer.delete_term(Term::from_field_text(
                        self.inner.fields.item,
                        item_code.as_str(),
                    ));
                    w.pending_remove.extend(old.lids);
                    w.dirty = true;
                    true
                }
                _ => false,
            }
        };
        if removed && self.inner.commit_each_change {
            self.commit()?;
        }
        Ok(removed)
    }

    /// Bulk load (a replica starting up): stages every item, then commits once. Returns how
    /// many items were applied. An item failing [`Item::check`] is skipped with a warning
    /// rather than keeping the others out of search; stale versions are ignored as in
    /// [`SearchIndex::upsert`].
    pub fn upsert_many(&self, items: &[(Item, i64)]) -> Result<usize, SearchError> {
        let mut applied = 0;
        {
            let mut w = lock(&self.inner.writer);
            for (item, version) in items {
                if let Err(e) = item.check() {
                    tracing::warn!(item = %item.code, error = %e, "not indexing a malformed item");
                    continue;
                }
                if self.stage_upsert(&mut w, item, *version)? {
                    applied += 1;
                }
            }
        }
        self.commit()?;
        Ok(applied)
    }

    fn stage_upsert(&self, w: &mut Writer, item: &Item, version: i64) -> Result<bool, SearchError> {
        let f = self.inner.fields;
        let mut items = write(&self.inner.items);
        if items.get(&item.code).is_some_and(|e| e.version >= version) {
            return Ok(false);
        }
        let meta = Arc::new(ItemMeta {
            code: item.code.clone(),
            title: item.title.clone(),
            class: item.class,
            matter_code: item.matter_code.clone(),
        });
        w.writer
            .delete_term(Term::from_field_text(f.item, item.code.as_str()));
        if let Some(old) = items.get(&item.code) {
            w.pending_remove.extend(old.lids.iter().copied());
        }
        let mut lids = Vec::new();
        for at in item.leaves() {
            let leaf = at.leaf;
            let lid = self.inner.next_lid.fetch_add(1, Ordering::Relaxed);
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.lid, lid);
            doc.add_text(f.item, item.code.as_str());
            doc.add_text(f.class, item.class.as_str());
            let mut depts: Vec<&DeptCode> = leaf.departments.iter().collect();
            depts.push(&item.owner);
            depts.sort();
            depts.dedup();
            for d in depts {
                doc.add_text(f.dept, d.as_str());
            }
            // Only when set: the date filter excludes by range, and a segment without dated
            // leaves then has nothing to exclude (see `build_query`).
            if let Some(from) = leaf.effective_from {
                doc.add_i64(f.from, day_number(from));
            }
            if let Some(until) = leaf.expires_on {
                doc.add_i64(f.until, day_number(until));
            }
            doc.add_text(f.title, &leaf.title);
            let kw: Vec<&str> = leaf
                .keywords
                .iter()
                .chain(&leaf.synonyms)
                .map(String::as_str)
                .collect();
            doc.add_text(f.kw, kw.join(" "));
            let mut context = item.title.clone();
            for label in &at.path {
                context.push(' ');
                context.push_str(label);
            }
            doc.add_text(f.context, context);
            doc.add_text(f.answer, &leaf.answer);
            let extra = [
                leaf.legal_basis.as_str(),
                leaf.procedure.as_str(),
                &leaf.materials.join(" "),
                leaf.fees.as_str(),
                leaf.time_limit.as_str(),
                leaf.contact.as_str(),
            ]
            .join(" ");
            doc.add_text(f.extra, extra);
            w.writer.add_document(doc)?;
            w.pending_add.push((
                lid,
                Arc::new(LeafDoc {
                    code: leaf.code.clone(),
                    title: leaf.title.clone(),
                    answer: leaf.answer.clone(),
                    path: at.path.iter().map(|s| (*s).to_owned()).collect(),
                    departments: if leaf.departments.is_empty() {
                        vec![item.owner.clone()]
                    } else {
                        leaf.departments.clone()
                    },
                    item: Arc::clone(&meta),
                }),
            ));
            lids.push(lid);
        }
        items.insert(
            item.code.clone(),
            Entry {
                version,
                live: true,
                lids,
            },
        );
        w.dirty = true;
        Ok(true)
    }

    /// Commits staged changes now and makes them searchable. Cheap when nothing is staged.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.inner.commit()
    }

    /// Replaces the global synonym table (groups of terms that mean the same, e.g.
    /// `["社保卡", "社会保障卡"]`); applies to the next query. Returns how many groups are in
    /// effect (groups of fewer than two distinct terms are dropped; at most
    /// [`MAX_SYNONYM_GROUPS`]). Pass the default table's groups along if they should stay.
    pub fn set_synonyms(&self, groups: Vec<Vec<String>>) -> usize {
        let table = Synonyms::new(&groups);
        let n = table.len();
        *write(&self.inner.synonyms) = Arc::new(table);
        n
    }

    /// Leaves currently searchable.
    pub fn len(&self) -> usize {
        usize::try_from(read(&self.inner.view).searcher.num_docs()).unwrap_or(usize::MAX)
    }

    /// Whether no leaf is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The version of the item the index holds (staged or committed), `None` when it holds
    /// none (never seen, or removed).
    pub fn version_of(&self, item_code: &ItemCode) -> Option<i64> {
        read(&self.inner.items)
            .get(item_code)
            .filter(|e| e.live)
            .map(|e| e.version)
    }

    /// Full-text search: BM25 over the leaves, filtered, one page of hits.
    ///
    /// Errors: [`SearchError::QueryTooLong`] beyond [`MAX_QUERY_CHARS`],
    /// [`SearchError::EmptyQuery`] when nothing searchable is left (blank, punctuation, only
    /// stop words), [`SearchError::TooManyTerms`] beyond [`MAX_QUERY_TERMS`] distinct words,
    /// [`SearchError::PageTooDeep`] beyond [`MAX_WINDOW`].
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        let limit = q.limit.min(MAX_LIMIT);
        if q.offset.saturating_add(limit) > MAX_WINDOW {
            return Err(SearchError::PageTooDeep { max: MAX_WINDOW });
        }
        check_length(&q.q, MAX_QUERY_CHARS)?;
        let normalized = text::normalize(&q.q);
        let words = text::query_words(&normalized);
        if words.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        if words.len() > MAX_QUERY_TERMS {
            return Err(SearchError::TooManyTerms {
                max: MAX_QUERY_TERMS,
            });
        }
        let analyzed = self.analyze_query(&normalized, &words);
        if analyzed.terms.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let counting = self.build_query(&analyzed, &q.filters, Dates::InQuery);
        let ranking = self.build_query(&analyzed, &q.filters, Dates::InCollector);
        let view = read(&self.inner.view);
        // Counting with a non-scoring weight and ranking alone (so that block-max WAND can
        // prune) is several times cheaper than one pass that must score every match.
        let (total, total_exact) = count_matches(&view.searcher, &counting, COUNT_EXACT_UP_TO)?;
        let top = if limit == 0 || total <= q.offset {
            Vec::new()
        } else {
            view.searcher
                .search(&ranking, &self.top_docs(limit, q.offset, &q.filters))?
        };
        let hits = self.resolve(&view, &top, q.highlight.then_some(&analyzed.highlight))?;
        drop(view);
        Ok(SearchResults {
            total,
            total_exact,
            hits,
            took_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }

    /// Answer suggestions for a ticket's free text: the text's most distinctive words (by
    /// their frequency in the text and their rarity in the index, at most [`SUGGEST_TERMS`]),
    /// searched as one OR query under `filters`; the best `k` leaves (at most
    /// [`MAX_SUGGESTIONS`]) with scores and highlighted snippets.
    ///
    /// Errors: [`SearchError::QueryTooLong`] beyond [`MAX_SUGGEST_CHARS`],
    /// [`SearchError::EmptyQuery`] when the text has no word the index knows.
    pub fn suggest(
        &self,
        text: &str,
        k: usize,
        filters: &Filters,
    ) -> Result<Vec<Hit>, SearchError> {
        check_length(text, MAX_SUGGEST_CHARS)?;
        let k = k.min(MAX_SUGGESTIONS);
        let normalized = text::normalize(text);
        let mut words = text::query_words(&normalized);
        if words.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        if words.iter().any(|w| w.chars >= 2) {
            words.retain(|w| w.chars >= 2);
        }
        // Frequent and long words first, then look only the first candidates up.
        words.sort_by_key(|w| std::cmp::Reverse((w.primary, w.count, w.chars)));
        words.truncate(SUGGEST_CANDIDATES);
        let f = self.inner.fields;
        let view = read(&self.inner.view);
        let n = view.searcher.num_docs() as f32;
        let mut scored: Vec<(f32, &text::QueryWord)> = Vec::with_capacity(words.len());
        for w in &words {
            let mut df = 0u64;
            for field in [f.title, f.kw, f.answer] {
                df += view
                    .searcher
                    .doc_freq(&Term::from_field_text(field, &w.text))?;
            }
            if df == 0 {
                continue;
            }
            let df = df as f32;
            let idf = (1.0 + (n - df + 0.5).max(0.0) / (df + 0.5)).ln();
            let length = 1.0 + 0.15 * (w.chars.saturating_sub(2).min(4) as f32);
            let role = if w.primary { 1.0 } else { WEIGHT_SUBWORD };
            let tf = 1.0 + (w.count as f32).ln();
            scored.push((tf * idf * length * role, w));
        }
        if scored.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(SUGGEST_TERMS);
        let mut analyzed = Analyzed::default();
        let mut primary = HashSet::new();
        for (_, w) in &scored {
            let role = if w.primary { 1.0 } else { WEIGHT_SUBWORD };
            analyzed.terms.push(Weighted {
                text: w.text.clone(),
                weight: (1.0 + (w.count as f32).ln()) * role,
            });
            analyzed.highlight.push(w.text.clone());
            if w.primary {
                primary.insert(w.text.as_str());
            }
        }
        self.add_synonyms(&normalized, &primary, &mut analyzed);
        if k == 0 {
            return Ok(Vec::new());
        }
        let query = self.build_query(&analyzed, filters, Dates::InCollector);
        let top = view
            .searcher
            .search(&query, &self.top_docs(k, 0, filters))?;
        self.resolve(&view, &top, Some(&analyzed.highlight))
    }

    /// Weighs the words of a search query and adds synonyms.
    fn analyze_query(&self, normalized: &str, words: &[text::QueryWord]) -> Analyzed {
        let has_long = words.iter().any(|w| w.chars >= 2);
        let mut analyzed = Analyzed::default();
        let mut primary = HashSet::new();
        for w in words {
            let mut weight = if w.primary { 1.0 } else { WEIGHT_SUBWORD };
            if w.chars == 1 && has_long {
                weight *= WEIGHT_SINGLE_CHAR;
            }
            analyzed.terms.push(Weighted {
                text: w.text.clone(),
                weight,
            });
            if w.chars >= 2 || !has_long {
                analyzed.highlight.push(w.text.clone());
            }
            if w.primary {
                primary.insert(w.text.as_str());
            }
        }
        self.add_synonyms(normalized, &primary, &mut analyzed);
        analyzed
    }

    fn add_synonyms(&self, normalized: &str, primary: &HashSet<&str>, analyzed: &mut Analyzed) {
        let table = Arc::clone(&read(&self.inner.synonyms));
        for term in table.expansions(normalized, primary) {
            if analyzed.terms.iter().any(|t| t.text == term.text) {
                continue;
            }
            if term.words.len() == 1 {
                analyzed.terms.push(Weighted {
                    text: term.words[0].clone(),
                    weight: WEIGHT_SYNONYM,
                });
            } else {
                analyzed
                    .conjunctions
                    .push((term.words.clone(), WEIGHT_SYNONYM));
            }
            analyzed.highlight.push(term.text.clone());
        }
    }

    /// One flat boolean query: SHOULD clauses per word and field (at least one must match),
    /// MUST non-scoring term filters and, with [`Dates::InQuery`], MUST_NOT date ranges.
    ///
    /// The shape matters for speed. tantivy runs block-max WAND (skipping whole blocks of
    /// postings that cannot reach the top-k) only when a segment's query reduces to a plain
    /// union of term scorers, so ranking leaves the date filter to the collector
    /// ([`collect::InForceTopDocs`]); counting, which scores nothing, has it in the query,
    /// as exclusions over fields only dated leaves have. Term filters (class, department,
    /// item) are selective, so intersecting with them is cheap anyway.
    fn build_query(&self, analyzed: &Analyzed, filters: &Filters, dates: Dates) -> BooleanQuery {
        let f = self.inner.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in f.scored() {
            for t in &analyzed.terms {
                let q = TermQuery::new(
                    Term::from_field_text(field, &t.text),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), boost * t.weight)),
                ));
            }
            for (words, weight) in &analyzed.conjunctions {
                let parts: Vec<Box<dyn Query>> = words
                    .iter()
                    .map(|w| {
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, w),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn Query>
                    })
                    .collect();
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(BooleanQuery::intersection(parts)),
                        boost * weight,
                    )),
                ));
            }
        }
        let mut must: Vec<Term> = Vec::new();
        if let Some(class) = filters.class {
            must.push(Term::from_field_text(f.class, class.as_str()));
        }
        if let Some(dept) = &filters.department {
            must.push(Term::from_field_text(f.dept, dept.as_str()));
        }
        if let Some(item) = &filters.item {
            must.push(Term::from_field_text(f.item, item.as_str()));
        }
        for term in must {
            let q = TermQuery::new(term, IndexRecordOption::Basic);
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(q), 0.0)),
            ));
        }
        if let (Some(day), Dates::InQuery) = (filters.in_force_on, dates) {
            let day = day_number(day);
            // Not yet in force: effective_from > day.
            clauses.push((
                Occur::MustNot,
                Box::new(RangeQuery::new(
                    Bound::Excluded(Term::from_field_i64(f.from, day)),
                    Bound::Unbounded,
                )),
            ));
            // No longer in force: expires_on <= day.
            clauses.push((
                Occur::MustNot,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Included(Term::from_field_i64(f.until, day)),
                )),
            ));
        }
        BooleanQuery::with_minimum_required_clauses(clauses, 1)
    }

    fn top_docs(&self, limit: usize, offset: usize, filters: &Filters) -> InForceTopDocs {
        InForceTopDocs {
            limit,
            offset,
            day: filters.in_force_on.map(day_number),
            from_field: FIELD_FROM,
            until_field: FIELD_UNTIL,
        }
    }

    /// Turns tantivy's top docs into hits through the side map.
    fn resolve(
        &self,
        view: &View,
        top: &[(f32, DocAddress)],
        highlight: Option<&Vec<String>>,
    ) -> Result<Vec<Hit>, SearchError> {
        let mut columns: HashMap<u32, Column<u64>> = HashMap::new();
        let mut hits = Vec::with_capacity(top.len());
        for &(score, addr) in top {
            let column = match columns.get(&addr.segment_ord) {
                Some(c) => c,
                None => {
                    let Some(segment) = view
                        .searcher
                        .segment_readers()
                        .get(addr.segment_ord as usize)
                    else {
                        continue;
                    };
                    let c = segment.fast_fields().u64("lid")?;
                    columns.entry(addr.segment_ord).or_insert(c)
                }
            };
            let Some(doc) = column
                .first(addr.doc_id)
                .and_then(|lid| view.docs.get(&lid))
            else {
                // Cannot happen: the map and the searcher are swapped together.
                tracing::warn!(?addr, "search hit without leaf data");
                continue;
            };
            hits.push(Hit {
                code: doc.code.clone(),
                title: doc.title.clone(),
                score,
                item: doc.item.code.clone(),
                item_title: doc.item.title.clone(),
                class: doc.item.class,
                matter_code: doc.item.matter_code.clone(),
                path: doc.path.clone(),
                departments: doc.departments.clone(),
                snippet: highlight
                    .map(|terms| highlight::fragment(&doc.answer, terms, SNIPPET_CHARS)),
                title_highlighted: highlight
                    .map(|terms| highlight::highlight_all(&doc.title, terms)),
            });
        }
        Ok(hits)
    }
}

/// Counts the documents matching `query`, without scoring. Each segment is counted exactly
/// up to its share of [`COUNT_EXACT_UP_TO`] (at least 500); a segment with more matches is
/// extrapolated from the fraction of its doc ids scanned (documents are in arrival order,
/// which has nothing to do with what they say). Exact counting of a query matching 40% of
/// 100k leaves costs several times the ranking itself.
fn count_matches(
    searcher: &Searcher,
    query: &dyn Query,
    up_to: usize,
) -> Result<(usize, bool), SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let segments = searcher.segment_readers();
    let budget = (up_to / segments.len().max(1)).max(up_to.min(500)).max(1) as u64;
    let mut total = 0u64;
    let mut exact = true;
    for reader in segments {
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut count = 0u64;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                count += 1;
                if count >= budget {
                    break;
                }
            }
            doc = scorer.advance();
        }
        if doc != TERMINATED {
            let scanned = u64::from(doc) + 1;
            let estimate = count * u64::from(reader.max_doc()) / scanned;
            count = estimate.min(u64::from(reader.num_docs())).max(count);
            exact = false;
        }
        total += count;
    }
    Ok((usize::try_from(total).unwrap_or(usize::MAX), exact))
}

/// Refuses an over-long text before any work proportional to it: the byte length bounds the
/// character count from both sides (1 to 4 bytes a character).
fn check_length(text: &str, max_chars: usize) -> Result<(), SearchError> {
    let too_long =
        text.len() > 4 * max_chars || (text.len() > max_chars && text.chars().count() > max_chars);
    if too_long {
        return Err(SearchError::QueryTooLong { max: max_chars });
    }
    if text.trim().is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    Ok(())
}

impl Inner {
    fn commit(&self) -> Result<(), SearchError> {
        let mut w = lock(&self.writer);
        if !w.dirty {
            return Ok(());
        }
        w.writer.commit()?;
        w.dirty = false;
        let adds = std::mem::take(&mut w.pending_add);
        let removes = std::mem::take(&mut w.pending_remove);
        // Still under the writer lock: views are published in commit order.
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        let mut view = write(&self.view);
        view.searcher = searcher;
        view.docs.extend(adds);
        for lid in removes {
            view.docs.remove(&lid);
        }
        Ok(())
    }

    /// Picks up segments merged in the background since the last reload.
    fn refresh(&self) -> Result<(), SearchError> {
        let w = lock(&self.writer);
        if w.dirty {
            return Ok(());
        }
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        write(&self.view).searcher = searcher;
        drop(w);
        Ok(())
    }
}

/// The background committer: commits staged changes every `every`; stops when the index is
/// dropped.
fn spawn_committer(inner: Weak<Inner>, every: Duration) -> Result<(), SearchError> {
    /// Reload this often even without changes, to release segments merged away.
    const REFRESH: Duration = Duration::from_secs(10);
    std::thread::Builder::new()
        .name("search-commit".into())
        .spawn(move || {
            let mut last_refresh = Instant::now();
            loop {
                std::thread::sleep(every);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let dirty = lock(&inner.writer).dirty;
                let result = if dirty {
                    inner.commit()
                } else if last_refresh.elapsed() >= REFRESH {
                    last_refresh = Instant::now();
                    inner.refresh()
                } else {
                    Ok(())
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "search index commit failed");
                }
            }
        })
        .map(|_| ())
        .map_err(|e| SearchError::Index(format!("cannot start the committer thread: {e}")))
}
