//! sources
pub mod caldav;
pub mod ics;
