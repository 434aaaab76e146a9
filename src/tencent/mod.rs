//! tencent
pub mod client;
pub mod sign;
pub mod types;
