//! Shared test helpers: fake servers and fixtures used by several integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod cli;
pub mod engine;
pub mod fake_tencent;
pub mod feed;
