//! The meeting provider: Tencent Meeting (腾讯会议) over its signed REST API.
//!
//! Owns the provider-facing surface the sync engine programs against: the [`MeetingApi`] trait
//! and the [`ApiError`] classification that decides retry, give up, or reconcile. A second
//! provider would be a sibling module implementing [`MeetingApi`]. Nothing here touches the
//! calendar or the state database, and no error message may ever contain the secret key.

pub mod client;
mod retry;
pub mod sign;
pub mod types;

use std::future::Future;

pub use client::{ClientConfig, TencentClient};
use types::{CancelMeetingRequest, CreateMeetingRequest, MeetingInfo, ModifyMeetingRequest};

/// What the daemon needs from a meeting provider.
///
/// Futures are `Send` so that implementations can be driven from spawned tokio tasks.
pub trait MeetingApi {
    /// Creates a meeting. Never retried blindly: on [`ApiError::Ambiguous`] the meeting may
    /// exist, and the caller must look for it (see [`MeetingApi::list_meetings`]) before
    /// creating again.
    fn create_meeting(
        &self,
        req: &CreateMeetingRequest,
    ) -> impl Future<Output = Result<MeetingInfo, ApiError>> + Send;

    /// Changes the given fields of a meeting (or, with `recurring_rule.sub_meeting_id`, moves one
    /// occurrence). The API does not echo the new state; call [`MeetingApi::get_meeting`] for it.
    fn modify_meeting(
        &self,
        meeting_id: &str,
        req: &ModifyMeetingRequest,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Cancels a meeting or one occurrence. A meeting that does not exist or is already
    /// cancelled yields [`ApiError::NotFound`]: for a caller that wants it gone that is success,
    /// and it is also what a retry after a lost success answer sees.
    fn cancel_meeting(
        &self,
        meeting_id: &str,
        req: &CancelMeetingRequest,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Reads one meeting, with its occurrences when it is recurring.
    fn get_meeting(
        &self,
        meeting_id: &str,
        userid: &str,
        instanceid: i64,
    ) -> impl Future<Output = Result<MeetingInfo, ApiError>> + Send;

    /// Lists the user's upcoming and ongoing meetings starting at or after `pos` (unix seconds),
    /// all pages, each meeting once.
    fn list_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> impl Future<Output = Result<Vec<MeetingInfo>, ApiError>> + Send;

    /// [`MeetingApi::list_meetings`] with every sub-meeting of each recurring meeting
    /// (`is_show_all_sub_meetings=1`, reference §2.6): how occurrences a GET does not list are
    /// found.
    fn list_meetings_with_all_sub_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> impl Future<Output = Result<Vec<MeetingInfo>, ApiError>> + Send;
}

/// Why a meeting API call failed, in the terms a caller acts on.
///
/// `code`/`message` are Tencent's `error_info`; classification follows the code, never the
/// HTTP status (the API answers a bad signature with HTTP 500, for instance).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client cannot be built or a request cannot be formed from the given input.
    #[error("invalid Tencent Meeting client input: {0}")]
    Invalid(String),
    /// The signature did not verify (200003); includes timestamps more than 5 minutes off.
    #[error(
        "signature rejected (Tencent error {code}: {message}): check secret_id/secret_key and the system clock"
    )]
    SignatureRejected {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// AppId/SecretId/SdkId not accepted (190303, 50000, 50001).
    #[error(
        "authentication failed (Tencent error {code}: {message}): check app_id and secret_id, and set sdk_id only if Tencent assigned one"
    )]
    AuthFailed {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// The caller may not do this (not the creator, edition lacks the feature, …).
    #[error(
        "permission denied (Tencent error {code}: {message}): the userid must be the meeting's creator and allowed to schedule meetings"
    )]
    PermissionDenied {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// The request was refused as invalid (190004 and friends); sending it again cannot help.
    #[error(
        "request rejected (Tencent error {code}: {message}): check the meeting's userid, times, subject, password and recurrence"
    )]
    InvalidRequest {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// The meeting does not exist or is already cancelled (9003, 202001).
    #[error("meeting not found or already cancelled (Tencent error {code}: {message})")]
    NotFound {
        /// Tencent error code (0 when the API answered with an empty list).
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// Rate limit still hit after the client's retries (190310, 190311, 190313, 9061).
    #[error("rate limited by Tencent Meeting (error {code}: {message}); try again later")]
    RateLimited {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// The account's meeting-creation quota is used up (500029 hourly, 500168 monthly).
    #[error(
        "meeting-creation quota exhausted (Tencent error {code}: {message}); creates resume when the quota resets"
    )]
    QuotaExceeded {
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// Any other definitive API error.
    #[error("Tencent Meeting error {code} (HTTP {status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Tencent error code.
        code: i64,
        /// Tencent message.
        message: String,
    },
    /// A non-success HTTP status without an `error_info` body that retrying cannot fix.
    #[error("Tencent Meeting answered HTTP {status} without an error code")]
    Http {
        /// HTTP status.
        status: u16,
    },
    /// Network trouble or server errors that outlasted the client's retries.
    #[error("Tencent Meeting unreachable or failing: {detail}")]
    Transient {
        /// What went wrong on the last attempt.
        detail: String,
    },
    /// A non-idempotent call may or may not have taken effect (timeout, dropped response,
    /// server error after sending). Reconcile by listing meetings before trying again.
    #[error(
        "{operation} may or may not have happened ({detail}); list the user's meetings to find out before trying again"
    )]
    Ambiguous {
        /// The operation, e.g. "create meeting".
        operation: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A success status with a body we cannot read.
    #[error("unexpected response from Tencent Meeting: {detail}")]
    InvalidResponse {
        /// What was wrong with it.
        detail: String,
    },
}

impl ApiError {
    /// True when repeating the same call later cannot succeed without a change by the user
    /// (credentials, config, event data) — the caller should record the failure, not retry.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ApiError::Invalid(_)
                | ApiError::SignatureRejected { .. }
                | ApiError::AuthFailed { .. }
                | ApiError::PermissionDenied { .. }
                | ApiError::InvalidRequest { .. }
                | ApiError::NotFound { .. }
                | ApiError::Api { .. }
                | ApiError::Http { .. }
        )
    }

    /// True when the call's effect is unknown and the caller must reconcile before retrying.
    #[must_use]
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, ApiError::Ambiguous { .. })
    }

    /// True for [`ApiError::NotFound`], which a caller cancelling a meeting may treat as done.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
}
