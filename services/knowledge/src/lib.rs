//! # hotline-knowledge: the governed knowledge base (知识库)
//!
//! - [`model`]: an item is a coded decision tree: situations (情形) down to standard answers.
#![forbid(unsafe_code)]

pub mod model;
