//! writeback
