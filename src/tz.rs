//! tz
