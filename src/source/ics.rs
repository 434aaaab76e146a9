//! ics
