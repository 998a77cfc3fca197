//! Smart dispatch's classifier (issue 11): a ticket's text to one of the board's seven
//! first-level categories, with a calibrated confidence and whether it is sure enough to
//! dispatch without a person. Measurements and choices: `services/dispatch/CLASSIFIER.md`.
//!
//! - [`features`]: normalisation, jieba words, character grams inside words, TF-IDF vectors.
//! - [`corpus`]: the repository's training messages, minus the held-out ones and their copies.
//! - [`train`]: seeded softmax regression by SGD, temperature calibration, the 95% threshold.
//! - [`model`]: the serialisable, versioned model; top-3 predictions; the shipped model.
//! - [`eval`]: top-1, precision by coverage, coverage at 95% precision, confusion matrix.
//! - [`cli`]: `hotline dispatch classify | eval | train`.

pub mod cli;
pub mod corpus;
pub mod eval;
pub mod features;
pub mod model;
pub mod train;

pub use model::{Classification, Model, Suggestion};
