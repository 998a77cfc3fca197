//! Chinese full-text search over published leaves (in progress).
