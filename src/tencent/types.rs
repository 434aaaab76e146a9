//! Wire types of the Tencent Meeting REST API (requests we send, responses we read).
//!
//! Pure data with serde: no I/O, no validation beyond what parsing needs. Request fields are
//! declared in alphabetical order so that serde emits keys in the same order as the official SDK
//! (its bodies are key-sorted); absent optional fields are omitted, never sent as `null`.
//! Response parsing is deliberately lenient about number-vs-string (the docs and SDKs disagree,
//! reference §2.3) and ignores unknown fields, because the API adds fields over time.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A meeting's recurrence (`recurring_rule`, reference §3.1). Integers throughout; the
/// `customized_*` fields only count when `recurring_type` is 5. With `sub_meeting_id` set it
/// serialises as `{"sub_meeting_id": …}` alone: moving one occurrence cannot be combined with
/// a rule change (reference §3.4), and the rule fields would read as one.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RecurringRule {
    /// Bit mask of days for custom rules (weekday bits, week-of-month bits or day-of-month bits).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customized_recurring_days: Option<i64>,
    /// Every n days/weeks/months for custom rules.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customized_recurring_step: Option<i64>,
    /// 0 by day, 1 by week, 2 monthly by weekday-of-week, 3 monthly by day-of-month.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customized_recurring_type: Option<i64>,
    /// 0 daily, 1 weekdays, 2 weekly, 3 every two weeks, 4 monthly, 5 custom.
    pub recurring_type: i64,
    /// PUT only: the occurrence whose time is being moved (then the rule itself is unchanged).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_meeting_id: Option<String>,
    /// Number of occurrences when `until_type` is 1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub until_count: Option<i64>,
    /// Last date (unix seconds) when `until_type` is 0.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub until_date: Option<i64>,
    /// 0 ends by date, 1 ends by count.
    pub until_type: i64,
}

impl Serialize for RecurringRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Move<'a> {
            sub_meeting_id: &'a str,
        }
        #[derive(Serialize)]
        struct Rule {
            #[serde(skip_serializing_if = "Option::is_none")]
            customized_recurring_days: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            customized_recurring_step: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            customized_recurring_type: Option<i64>,
            recurring_type: i64,
            #[serde(skip_serializing_if = "Option::is_none")]
            until_count: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            until_date: Option<i64>,
            until_type: i64,
        }
        match &self.sub_meeting_id {
            Some(id) => Move { sub_meeting_id: id }.serialize(serializer),
            None => Rule {
                customized_recurring_days: self.customized_recurring_days,
                customized_recurring_step: self.customized_recurring_step,
                customized_recurring_type: self.customized_recurring_type,
                recurring_type: self.recurring_type,
                until_count: self.until_count,
                until_date: self.until_date,
                until_type: self.until_type,
            }
            .serialize(serializer),
        }
    }
}

/// A designated host or invitee (same-enterprise user).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MeetingUser {
    /// Whether the user joins anonymously.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_anonymous: Option<bool>,
    /// Display name in the meeting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nick_name: Option<String>,
    /// The enterprise userid.
    pub userid: String,
}

/// Live-streaming settings of a meeting (`live_config`, reference §2.2; Tencent's LiveConfig
/// object). In requests calmeet sends the first six fields; answers (create, GET, modify) add
/// `live_addr`, the address viewers watch the stream at. Absent fields are omitted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LiveConfig {
    /// Whether viewers may chat (live interaction).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_live_im: Option<bool>,
    /// Whether the stream needs a password to watch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_live_password: Option<bool>,
    /// Whether a replay is kept after the stream.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_live_replay: Option<bool>,
    /// Answer only: the watch address of the stream.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_addr: Option<String>,
    /// The stream's password (with `enable_live_password`; the meeting's own when omitted).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_password: Option<String>,
    /// Title of the stream.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_subject: Option<String>,
    /// Introduction shown to viewers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_summary: Option<String>,
}

/// One entry of `user_non_registered` in a create answer: an invitee that is not a registered
/// user of the enterprise, so the meeting is not in their list. The API documents the field as
/// a list of userids; objects with a `userid` are accepted as well.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum NonRegistered {
    /// A bare userid.
    Id(String),
    /// An object carrying the userid.
    User {
        /// The userid.
        userid: String,
    },
}

impl NonRegistered {
    /// The userid either shape carries.
    #[must_use]
    pub fn userid(&self) -> &str {
        match self {
            Self::Id(u) | Self::User { userid: u } => u,
        }
    }
}

/// Body of `POST /v1/meetings` (reference §2.2). Times are decimal strings of unix seconds
/// because the API rejects numbers there.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreateMeetingRequest {
    /// Live streaming on (with `live_config`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_live: Option<bool>,
    /// End, unix seconds as a decimal string.
    pub end_time: String,
    /// Designated hosts (commercial/enterprise editions only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hosts: Option<Vec<MeetingUser>>,
    /// Device type of the creator; 1 (PC) is what the daemon sends.
    pub instanceid: i64,
    /// Invitees, at most 300.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invitees: Option<Vec<MeetingUser>>,
    /// Live-streaming settings (with `enable_live`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_config: Option<LiveConfig>,
    /// Free-text location (≤ 18 CJK / 36 Latin characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<String>,
    /// 0 normal, 1 recurring.
    pub meeting_type: i64,
    /// 4–6 digits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub password: Option<String>,
    /// Required when `meeting_type` is 1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recurring_rule: Option<RecurringRule>,
    /// Meeting settings passed through from the config as-is.
    #[serde(skip_serializing_if = "Map::is_empty", default)]
    pub settings: Map<String, Value>,
    /// Start, unix seconds as a decimal string.
    pub start_time: String,
    /// Meeting title.
    pub subject: String,
    /// Sync the meeting to WeCom (API default true); create only, not modifiable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sync_to_wework: Option<bool>,
    /// IANA zone name, e.g. `Asia/Shanghai`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_zone: Option<String>,
    /// 0 scheduled, 1 instant (the wire name is `type`).
    pub r#type: i64,
    /// Creator (a registered enterprise user).
    pub userid: String,
}

/// Body of `PUT /v1/meetings/{id}` (reference §2.4): only present fields change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ModifyMeetingRequest {
    /// Turns live streaming on or off.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_live: Option<bool>,
    /// New end, unix seconds as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_time: Option<String>,
    /// Replaces the hosts; `Some(vec![])` clears them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hosts: Option<Vec<MeetingUser>>,
    /// Device type of the caller.
    pub instanceid: i64,
    /// Replaces the invitees.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invitees: Option<Vec<MeetingUser>>,
    /// New live-streaming settings (with `enable_live` true).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live_config: Option<LiveConfig>,
    /// New location.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<String>,
    /// 0 normal, 1 recurring.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub meeting_type: Option<i64>,
    /// New password; `Some("")` removes it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub password: Option<String>,
    /// New rule, or (with `sub_meeting_id`) the occurrence whose time moves.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recurring_rule: Option<RecurringRule>,
    /// Settings to change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub settings: Option<Map<String, Value>>,
    /// New start, unix seconds as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_time: Option<String>,
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// IANA zone name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_zone: Option<String>,
    /// The creator.
    pub userid: String,
}

/// Body of `POST /v1/meetings/{id}/cancel` (reference §2.5). Without `sub_meeting_id` the whole
/// series is cancelled.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CancelMeetingRequest {
    /// Device type of the caller.
    pub instanceid: i64,
    /// 1 when cancelling an occurrence of a recurring meeting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub meeting_type: Option<i64>,
    /// Caller-defined reason code (any integer).
    pub reason_code: i64,
    /// Free-text reason.
    pub reason_detail: String,
    /// The single occurrence to cancel.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_meeting_id: Option<String>,
    /// The caller (creator).
    pub userid: String,
}

/// One occurrence of a recurring meeting as the API reports it.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SubMeeting {
    /// Opaque id (it looks like the occurrence's original start, but never rely on that).
    #[serde(deserialize_with = "flex_string")]
    pub sub_meeting_id: String,
    /// 0 exists, 1 deleted.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub status: Option<i64>,
    /// Start, unix seconds.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub start_time: Option<i64>,
    /// End, unix seconds.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub end_time: Option<i64>,
}

/// A meeting as returned by create, get and list (`meeting_info_list[]` items).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MeetingInfo {
    /// The unique id to store and address the meeting by.
    #[serde(deserialize_with = "flex_string")]
    pub meeting_id: String,
    /// The 9-digit number people type to join.
    #[serde(deserialize_with = "flex_string", default)]
    pub meeting_code: String,
    /// Join link.
    #[serde(default)]
    pub join_url: String,
    /// Meeting password, when one is set and visible to the caller.
    #[serde(default)]
    pub password: Option<String>,
    /// Title.
    #[serde(default)]
    pub subject: Option<String>,
    /// Start, unix seconds.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub start_time: Option<i64>,
    /// End, unix seconds.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub end_time: Option<i64>,
    /// `MEETING_STATE_*` (e.g. `MEETING_STATE_CANCELLED`).
    #[serde(default)]
    pub status: Option<String>,
    /// 0 normal, 1 recurring, 5 PMI, …
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub meeting_type: Option<i64>,
    /// Occurrences (GET and list only; create does not report them).
    #[serde(default)]
    pub sub_meetings: Vec<SubMeeting>,
    /// The ongoing or next occurrence.
    #[serde(deserialize_with = "flex_opt_string", default)]
    pub current_sub_meeting_id: Option<String>,
    /// Occurrences still to come.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub remain_sub_meetings: Option<i64>,
    /// 1 when more occurrence exceptions exist than were listed. The doc example spells it
    /// with a trailing `s`, the table and SDK without; accept both.
    #[serde(
        deserialize_with = "flex_opt_int",
        default,
        alias = "has_more_sub_meetings"
    )]
    pub has_more_sub_meeting: Option<i64>,
    /// Whether the meeting is streamed live.
    #[serde(default)]
    pub enable_live: Option<bool>,
    /// Its live settings; `live_addr` is the watch address.
    #[serde(default)]
    pub live_config: Option<LiveConfig>,
    /// Create only: invitees that are not registered users (commercial/enterprise editions).
    #[serde(default)]
    pub user_non_registered: Vec<NonRegistered>,
}

impl MeetingInfo {
    /// The live watch address the answer carries, when it carries a non-empty one.
    #[must_use]
    pub fn live_addr(&self) -> Option<&str> {
        self.live_config
            .as_ref()
            .and_then(|l| l.live_addr.as_deref())
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }
}

/// Response of create, get and modify: `{"meeting_number": n, "meeting_info_list": [...]}`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MeetingInfoList {
    /// The meetings.
    #[serde(default)]
    pub meeting_info_list: Vec<MeetingInfo>,
}

/// One page of `GET /v1/meetings` (reference §2.6).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ListMeetingsResponse {
    /// At most 20 meetings.
    #[serde(default)]
    pub meeting_info_list: Vec<MeetingInfo>,
    /// Non-zero when more pages follow.
    #[serde(deserialize_with = "flex_int", default)]
    pub remaining: i64,
    /// `pos` for the next page.
    #[serde(deserialize_with = "flex_int", default)]
    pub next_pos: i64,
    /// `cursory` for the next page.
    #[serde(deserialize_with = "flex_int", default)]
    pub next_cursory: i64,
}

/// `{"error_info": {...}}`, the body of every failed call (reference §4.1).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error.
    pub error_info: ErrorInfo,
}

/// The API's error detail; classify by `error_code`, never by HTTP status.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The stable code to branch on.
    #[serde(deserialize_with = "flex_int")]
    pub error_code: i64,
    /// A newer code whose mapping from `error_code` is not fixed; informational only.
    #[serde(deserialize_with = "flex_opt_int", default)]
    pub new_error_code: Option<i64>,
    /// Human-readable text (Chinese or English).
    #[serde(default)]
    pub message: String,
}

/// A number or a numeric string, as the API sends either.
#[derive(Deserialize)]
#[serde(untagged)]
enum IntOrString {
    Int(i64),
    Str(String),
}

fn flex_int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match IntOrString::deserialize(d)? {
        IntOrString::Int(n) => Ok(n),
        IntOrString::Str(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn flex_opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<IntOrString>::deserialize(d)? {
        None => Ok(None),
        Some(IntOrString::Int(n)) => Ok(Some(n)),
        // An empty string is how some endpoints say "not set".
        Some(IntOrString::Str(s)) if s.trim().is_empty() => Ok(None),
        Some(IntOrString::Str(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn flex_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match IntOrString::deserialize(d)? {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::Str(s) => s,
    })
}

fn flex_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<IntOrString>::deserialize(d)? {
        None => None,
        Some(IntOrString::Int(n)) => Some(n.to_string()),
        Some(IntOrString::Str(s)) => Some(s),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sub_meetings_parse_from_ints_or_strings() {
        let doc = r#"{"meeting_id":"1","sub_meetings":[
            {"sub_meeting_id":"1599622242","status":0,"start_time":1599622242,"end_time":1599625842},
            {"sub_meeting_id":1599708642,"status":"1","start_time":"1599708642","end_time":"1599712242"}],
            "has_more_sub_meetings":0,"remain_sub_meetings":5,"current_sub_meeting_id":"1599622242"}"#;
        let m: MeetingInfo = serde_json::from_str(doc).unwrap();
        assert_eq!(m.sub_meetings[0].start_time, Some(1_599_622_242));
        assert_eq!(m.sub_meetings[1].sub_meeting_id, "1599708642");
        assert_eq!(m.sub_meetings[1].status, Some(1));
        assert_eq!(m.has_more_sub_meeting, Some(0));
        assert_eq!(m.remain_sub_meetings, Some(5));
    }

    #[test]
    fn cancel_request_omits_absent_fields() {
        let req = CancelMeetingRequest {
            instanceid: 1,
            meeting_type: None,
            reason_code: 1,
            reason_detail: "x".into(),
            sub_meeting_id: None,
            userid: "u".into(),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"instanceid":1,"reason_code":1,"reason_detail":"x","userid":"u"}"#
        );
    }

    #[test]
    fn occurrence_move_sends_only_the_sub_meeting_id() {
        let rule = RecurringRule {
            recurring_type: 2,
            until_type: 1,
            until_count: Some(8),
            ..RecurringRule::default()
        };
        assert_eq!(
            serde_json::to_string(&rule).unwrap(),
            r#"{"recurring_type":2,"until_count":8,"until_type":1}"#
        );
        let back: RecurringRule =
            serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
        let moved = RecurringRule {
            sub_meeting_id: Some("1599622242".into()),
            ..RecurringRule::default()
        };
        assert_eq!(
            serde_json::to_string(&moved).unwrap(),
            r#"{"sub_meeting_id":"1599622242"}"#
        );
    }
}
