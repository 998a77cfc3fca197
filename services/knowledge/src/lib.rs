//! # hotline-knowledge: the governed knowledge base (知识库)
//!
//! - [`model`]: an item is a coded decision tree: situations (情形) down to standard answers.
//! - [`search`]: Chinese full-text search (jieba + BM25) over published leaves, one index per
//!   replica.
//! - [`formats`]: mind maps (FreeMind `.mm`, OPML) and CSV in and out, lossless.
#![forbid(unsafe_code)]

pub mod formats;
pub mod model;
pub mod search;
