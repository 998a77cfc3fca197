//! The trained classifier as data: what it was trained on, and how it predicts.
//!
//! - [`Model`]: vocabulary and IDF ([`Features`]), one weight per feature and category, the
//!   calibration temperature and the automatic-dispatch threshold, serialised as JSON.
//! - [`Version`]: name, training-data hash and date; the file name derives from it.
//! - [`Model::shipped`]: the model in `deploy/seed/models/dispatch-classifier.json`, built into
//!   the binary so the classifier needs no file, server or network at run time.
//! - [`Model::classify`]: the top-3 categories with calibrated probabilities.

use serde::{Deserialize, Serialize};

use super::features::{Features, message_text, segment};
use super::train::TrainOptions;

/// The model the repository ships (retrain with `hotline dispatch train`, then copy it here).
pub const SHIPPED: &str = include_str!("../../../../deploy/seed/models/dispatch-classifier.json");

pub const NAME: &str = "dispatch-classifier";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a classifier model: {0}")]
    Format(#[from] serde_json::Error),
    #[error("inconsistent classifier model: {0}")]
    Inconsistent(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Version {
    pub name: String,
    /// FNV-1a 64 of the training files (held-out file included), hex.
    pub data_hash: String,
    /// The day it was trained (UTC), `YYYY-MM-DD`.
    pub trained_on: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hash = self.data_hash.get(..8).unwrap_or(&self.data_hash);
        write!(f, "{}-{}-{hash}", self.name, self.trained_on)
    }
}

/// What the validation fold measured when the model was trained.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validation {
    pub messages: usize,
    pub top1: f64,
    /// Share of the fold at or above the threshold, and their precision.
    pub auto_coverage: f64,
    pub auto_precision: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    pub version: Version,
    /// Category names exactly as in the data, sorted.
    pub classes: Vec<String>,
    pub options: TrainOptions,
    pub features: Features,
    /// `weights[feature * classes.len() + class]`.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// Logits are divided by it before the softmax (temperature scaling on the validation fold).
    pub temperature: f32,
    /// The lowest confidence at which the validation fold was still precise enough
    /// (`options.target_precision`) to dispatch automatically.
    pub auto_threshold: f32,
    pub validation: Validation,
}

/// A category and its calibrated probability.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    pub category: String,
    pub probability: f32,
}

/// The top three categories, most likely first, and whether the first is sure enough.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Classification {
    pub top: Vec<Suggestion>,
    pub auto: bool,
}

impl Classification {
    pub fn best(&self) -> Option<&Suggestion> {
        self.top.first()
    }
}

impl Model {
    pub fn shipped() -> Result<Model, ModelError> {
        Model::from_json(SHIPPED)
    }

    pub fn from_json(json: &str) -> Result<Model, ModelError> {
        let mut model: Model = serde_json::from_str(json)?;
        let k = model.classes.len();
        if k < 2
            || model.bias.len() != k
            || model.weights.len() != model.features.len() * k
            || model.features.words.len() != model.features.word_idf.len()
            || model.features.grams.len() != model.features.gram_idf.len()
            || model.temperature <= 0.0
        {
            return Err(ModelError::Inconsistent(format!(
                "{} classes, {} biases, {} weights for {} features",
                k,
                model.bias.len(),
                model.weights.len(),
                model.features.len()
            )));
        }
        model.features.build_index();
        Ok(model)
    }

    /// JSON with weights rounded to 1e-4: a third of the size, and no figure moves.
    pub fn to_json(&self) -> Result<String, ModelError> {
        let round = |v: &[f32]| {
            v.iter()
                .map(|x| (x * 1e4).round() / 1e4)
                .collect::<Vec<f32>>()
        };
        let mut copy = self.clone();
        copy.weights = round(&self.weights);
        copy.features.word_idf = round(&self.features.word_idf);
        copy.features.gram_idf = round(&self.features.gram_idf);
        Ok(serde_json::to_string(&copy)?)
    }

    pub fn file_name(&self) -> String {
        format!("{}.json", self.version)
    }

    /// Uncalibrated scores of a document's words.
    pub fn logits(&self, words: &[String]) -> Vec<f32> {
        let filtered = self.features.filter(words);
        let x = self.features.vectorise(&filtered);
        let k = self.classes.len();
        let mut scores = self.bias.clone();
        for (j, value) in x {
            let row = &self.weights[j as usize * k..(j as usize + 1) * k];
            for (s, w) in scores.iter_mut().zip(row) {
                *s += w * value;
            }
        }
        scores
    }

    /// Calibrated probabilities, in `classes` order.
    pub fn probabilities(&self, words: &[String]) -> Vec<f32> {
        softmax(&self.logits(words), self.temperature)
    }

    pub fn classify_words(&self, words: &[String]) -> Classification {
        let p = self.probabilities(words);
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|a, b| p[*b].total_cmp(&p[*a]).then(a.cmp(b)));
        let top: Vec<Suggestion> = order
            .iter()
            .take(3)
            .map(|&i| Suggestion {
                category: self.classes[i].clone(),
                probability: p[i],
            })
            .collect();
        let auto = top
            .first()
            .is_some_and(|s| s.probability >= self.auto_threshold);
        Classification { top, auto }
    }

    pub fn classify(&self, subject: &str, detail: &str) -> Classification {
        self.classify_words(&segment(&message_text(subject, detail)))
    }
}

pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits
        .iter()
        .map(|l| ((l - max) / temperature).exp())
        .collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}
