//! calmeet: turns tagged calendar events into Tencent Meeting meetings.
//!
//! The crate is a functional core (`event`, `recurrence`, `tz`, `writeback`, `sync::plan`)
//! wrapped by an imperative shell (`source`, `tencent`, `store`, `sync::apply`, `daemon`).
//! Dependencies point inward: the core never imports an I/O module.
#![deny(clippy::unwrap_used)]

pub mod cli;
pub mod config;
pub mod daemon;
pub mod docs;
pub mod event;
pub mod failpoint;
pub mod fingerprint;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod recurrence;
pub mod secret_command;
pub mod service;
pub mod source;
pub mod store;
pub mod sync;
pub mod tencent;
pub mod tz;
pub mod writeback;
