//! Import and export of items: FreeMind mind maps, OPML and CSV (in progress).
