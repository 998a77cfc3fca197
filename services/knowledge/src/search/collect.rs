//! Top-k by score, restricted to the answers in force on a day, without giving up pruning.
//!
//! tantivy's block-max WAND (skip postings blocks whose best possible score cannot enter the
//! top-k) runs only when the query is a plain union of terms. A date filter expressed as a
//! query clause turns it off in every segment holding one expired or not-yet-effective leaf.
//! This collector drives [`Weight::for_each_pruning`] itself and checks the dates of the few
//! documents that beat the current threshold instead, reading the optional `from`/`until`
//! fast fields (present only on dated leaves).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// The best `offset + limit` documents in force on `day` (all documents when `None`); the
/// fruit is the page `offset..offset + limit`, best first.
pub(crate) struct InForceTopDocs {
    pub limit: usize,
    pub offset: usize,
    /// The day as the `from`/`until` fields hold it.
    pub day: Option<i64>,
    pub from_field: &'static str,
    pub until_field: &'static str,
}

#[derive(Clone, Copy)]
struct Entry {
    score: Score,
    doc: DocId,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Higher score is greater; on equal scores the lower doc id is greater (kept).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.doc.cmp(&self.doc))
    }
}

/// One segment's heap and date columns.
pub(crate) struct InForceSegment {
    k: usize,
    segment_ord: SegmentOrdinal,
    heap: BinaryHeap<Reverse<Entry>>,
    day: Option<i64>,
    from: Option<Column<i64>>,
    until: Option<Column<i64>>,
}

impl InForceSegment {
    /// Whether the document is in force: `from <= day < until`, a missing date open-ended.
    fn in_force(&self, doc: DocId) -> bool {
        let Some(day) = self.day else {
            return true;
        };
        let started = self
            .from
            .as_ref()
            .and_then(|c| c.first(doc))
            .is_none_or(|from| from <= day);
        let not_expired = self
            .until
            .as_ref()
            .and_then(|c| c.first(doc))
            .is_none_or(|until| day < until);
        started && not_expired
    }

    /// Offers a document; returns the score a document must now beat.
    fn push(&mut self, doc: DocId, score: Score) -> Score {
        if self.k > 0 && self.in_force(doc) {
            let entry = Entry { score, doc };
            if self.heap.len() < self.k {
                self.heap.push(Reverse(entry));
            } else if let Some(mut min) = self.heap.peek_mut()
                && entry > min.0
            {
                *min = Reverse(entry);
            }
        }
        self.threshold()
    }

    fn threshold(&self) -> Score {
        if self.heap.len() < self.k {
            Score::MIN
        } else {
            self.heap.peek().map_or(Score::MIN, |e| e.0.score)
        }
    }
}

impl SegmentCollector for InForceSegment {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.push(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        let ord = self.segment_ord;
        self.heap
            .into_iter()
            .map(|Reverse(e)| (e.score, DocAddress::new(ord, e.doc)))
            .collect()
    }
}

impl Collector for InForceTopDocs {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = InForceSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<InForceSegment> {
        let (from, until) = match self.day {
            Some(_) => (
                reader.fast_fields().column_opt::<i64>(self.from_field)?,
                reader.fast_fields().column_opt::<i64>(self.until_field)?,
            ),
            None => (None, None),
        };
        Ok(InForceSegment {
            k: self.offset.saturating_add(self.limit),
            segment_ord,
            heap: BinaryHeap::new(),
            day: self.day,
            from,
            until,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(all.into_iter().skip(self.offset).take(self.limit).collect())
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let mut segment = self.for_segment(segment_ord, reader)?;
        if segment.k == 0 {
            return Ok(Vec::new());
        }
        match reader.alive_bitset() {
            Some(alive) => weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
                if alive.is_deleted(doc) {
                    segment.threshold()
                } else {
                    segment.push(doc, score)
                }
            })?,
            None => weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
                segment.push(doc, score)
            })?,
        }
        Ok(segment.harvest())
    }
}
