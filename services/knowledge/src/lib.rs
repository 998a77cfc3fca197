//! # hotline-knowledge: the governed knowledge base (知识库)
//!
//! - [`model`]: an item is a coded decision tree: situations (情形) down to standard answers.
//! - [`search`]: Chinese full-text search (jieba + BM25) over published leaves, one index per
//!   replica.
//! - [`governance`]: draft → review → published → retired, who may do which step.
//! - [`diff`]: what changed between two versions, node by node.
//! - [`store`]: the `knowledge` schema; every change with its event in the outbox.
//! - [`events`]: the facts published on `knowledge.events.<kind>`.
//! - [`formats`]: mind maps (FreeMind `.mm`, OPML) and CSV in and out, lossless.
//! - [`service`]: the running service: index per replica, NATS responders, the ticket-event
//!   consumer that counts first-contact answers; [`http`]: the API on port 8085;
//!   [`error`]: errors to HTTP/NATS kinds in one place; [`demo`]: the demo knowledge.
#![forbid(unsafe_code)]

pub mod demo;
pub mod diff;
pub mod error;
pub mod events;
pub mod formats;
pub mod governance;
pub mod http;
pub mod model;
pub mod search;
pub mod service;
pub mod store;

pub use service::run;
