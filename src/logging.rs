//! logging (placeholder while daemon.rs compiles)
