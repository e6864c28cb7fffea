//! gleaner: polls RSS, Atom and JSON Feed sources and keeps every article as a plain-text
//! document in SQLite. The modules follow the pipeline, data flowing one way:
//!
//! `config` → `schedule` → `fetch` → `feed` → `render` (with `text`) → `dedup` → `full_text`
//! (with `extract` and `robots`) → `store`, wired together by `pipeline` (one poll) and `daemon` (the loop). See ARCHITECTURE.md.

pub mod commands;
pub mod config;
pub mod daemon;
pub mod dedup;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod full_text;
pub mod notify;
pub mod pipeline;
pub mod politeness;
pub mod progress;
pub mod record;
pub mod render;
pub mod robots;
pub mod schedule;
pub mod search;
pub mod source;
pub mod store;
pub mod subscriptions;
pub mod text;
