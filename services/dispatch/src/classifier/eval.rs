//! Measuring a model on labeled messages.
//!
//! - [`evaluate`]: top-1 accuracy; precision when only the most confident share of messages is
//!   dispatched automatically (each coverage decile); the largest coverage still at 95%
//!   precision; the model's own threshold's coverage and precision; the confusion matrix.
//! - [`threshold_for_precision`]: the lowest confidence whose messages reach a precision (used
//!   on the validation fold when training).

use std::fmt;

use super::model::Model;

/// A labeled message's words and its true category.
pub struct Labeled {
    pub words: Vec<String>,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub classes: Vec<String>,
    pub messages: usize,
    pub correct: usize,
    /// (coverage, precision) for 10%, 20%, ... 100% of the messages, most confident first.
    pub deciles: Vec<(f64, f64)>,
    /// The largest share of messages, most confident first, still at least 95% right.
    pub coverage_at_95: f64,
    /// Messages at or above the model's threshold, and how many of them are right.
    pub auto: usize,
    pub auto_correct: usize,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Report {
    pub fn top1(&self) -> f64 {
        ratio(self.correct, self.messages)
    }

    /// Precision at a coverage (rounded up to whole messages).
    pub fn precision_at(&self, coverage: f64) -> f64 {
        self.deciles
            .iter()
            .find(|(c, _)| *c + 1e-9 >= coverage)
            .map_or(0.0, |(_, p)| *p)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Confidence and correctness of each message, most confident first (ties keep input order).
fn ranked(mut scored: Vec<(f32, bool)>) -> Vec<(f32, bool)> {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

/// The lowest confidence `t` such that messages with confidence ≥ `t` are at least `precision`
/// right; 1.0 when no such share exists (then practically nothing is automatic).
pub fn threshold_for_precision(scored: &[(f32, bool)], precision: f64) -> f32 {
    let ranked = ranked(scored.to_vec());
    let mut right = 0;
    let mut best = 1.0;
    for (i, (confidence, ok)) in ranked.iter().enumerate() {
        right += usize::from(*ok);
        // Only where the confidence drops next: a threshold takes every message tied with it.
        let boundary = ranked.get(i + 1).is_none_or(|next| next.0 < *confidence);
        if boundary && ratio(right, i + 1) >= precision {
            best = *confidence;
        }
    }
    best
}

/// Evaluates `model` on labeled messages. Categories the model does not know are an error.
pub fn evaluate(model: &Model, messages: &[Labeled]) -> anyhow::Result<Report> {
    let k = model.classes.len();
    let mut confusion = vec![vec![0; k]; k];
    let mut scored = Vec::with_capacity(messages.len());
    let (mut correct, mut auto, mut auto_correct) = (0, 0, 0);
    for m in messages {
        let Some(truth) = model.classes.iter().position(|c| *c == m.category) else {
            anyhow::bail!("category {:?} is not one the model knows", m.category);
        };
        let c = model.classify_words(&m.words);
        let Some(best) = c.best() else { continue };
        let predicted = model
            .classes
            .iter()
            .position(|x| *x == best.category)
            .unwrap_or(0);
        confusion[truth][predicted] += 1;
        let ok = predicted == truth;
        correct += usize::from(ok);
        if c.auto {
            auto += 1;
            auto_correct += usize::from(ok);
        }
        scored.push((best.probability, ok));
    }
    let ranked = ranked(scored);
    let n = ranked.len();
    let mut prefix = Vec::with_capacity(n);
    let mut right = 0;
    for (_, ok) in &ranked {
        right += usize::from(*ok);
        prefix.push(right);
    }
    let deciles = (1..=10)
        .map(|d| {
            let take = ((n * d) as f64 / 10.0).ceil() as usize;
            let take = take.clamp(1, n.max(1));
            let precision = prefix.get(take - 1).map_or(0.0, |r| ratio(*r, take));
            (d as f64 / 10.0, precision)
        })
        .collect();
    let coverage_at_95 = prefix
        .iter()
        .enumerate()
        .filter(|(i, r)| ratio(**r, i + 1) >= 0.95)
        .map(|(i, _)| ratio(i + 1, n))
        .fold(0.0, f64::max);
    Ok(Report {
        classes: model.classes.clone(),
        messages: n,
        correct,
        deciles,
        coverage_at_95,
        auto,
        auto_correct,
        confusion,
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "messages            {}", self.messages)?;
        writeln!(
            f,
            "top-1 accuracy      {:.4} ({} of {})",
            self.top1(),
            self.correct,
            self.messages
        )?;
        writeln!(f, "coverage at 95% precision  {:.4}", self.coverage_at_95)?;
        writeln!(
            f,
            "automatic (at the model's threshold)  coverage {:.4}, precision {:.4}",
            ratio(self.auto, self.messages),
            ratio(self.auto_correct, self.auto)
        )?;
        writeln!(f, "precision by coverage (most confident first):")?;
        for (coverage, precision) in &self.deciles {
            writeln!(f, "  {:>4.0}%  {:.4}", coverage * 100.0, precision)?;
        }
        writeln!(
            f,
            "confusion matrix (rows: true category, columns: predicted, in this order):"
        )?;
        for (i, class) in self.classes.iter().enumerate() {
            writeln!(f, "  [{i}] {class}")?;
        }
        write!(f, "      ")?;
        for i in 0..self.classes.len() {
            write!(f, "{:>6}", format!("[{i}]"))?;
        }
        writeln!(f)?;
        for (i, row) in self.confusion.iter().enumerate() {
            write!(f, "  {:>3} ", format!("[{i}]"))?;
            for n in row {
                write!(f, "{n:>6}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
