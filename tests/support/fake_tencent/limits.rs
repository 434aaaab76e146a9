//! Limits and answer shapes of the real Tencent Meeting API that the fake models on request
//! (issue #11), each behind its own switch and all off by default: the create pace (9008), a
//! create quota (500168 and friends), the 50 live recurring meetings per account, a create
//! limit of 50 occurrences (the modify/get limit some apps still get on create), unregistered
//! invitees (190001, or a create that leaves them out and names them in
//! `user_non_registered`), `null` optional fields and numbers as strings, and "already
//! cancelled" answered with an unexpected code. Kept apart from the meeting handlers so that
//! other models (sub-meetings) merge cleanly.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

use super::handlers::{Answer, answer, api_error, info_json, not_exist};
use super::submeetings::Shown;
use super::{FakeMeeting, State};

/// How the fake treats invitees that are not registered users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unregistered {
    /// Refuse the whole create with 190001, naming them in the message.
    #[default]
    Refuse,
    /// Create the meeting without them and list them in `user_non_registered`.
    LeaveOut,
}

/// The switches; see [`super::FakeTencent`]'s `set_*` methods.
#[derive(Default)]
pub struct Limits {
    /// (creates, window): beyond, 9008 "too many meetings created".
    pub create_pace: Option<(usize, Duration)>,
    pub create_times: VecDeque<tokio::time::Instant>,
    /// (creates, code): after this many accepted creates, every create answers `code`.
    pub create_quota: Option<(usize, i64)>,
    pub creates_accepted: usize,
    /// Most live recurring meetings per userid (the API: 50 per account).
    pub recurring_limit: Option<usize>,
    /// Most occurrences a recurring create may hold (count-ended rules), else 190004.
    pub create_occurrence_limit: Option<usize>,
    /// Userids that are not registered, and how a create naming them as invitees is answered.
    pub unregistered: Vec<String>,
    pub unregistered_mode: Unregistered,
    /// Answer optional fields as `null` and numbers as strings (create and get).
    pub null_fields: bool,
    /// (status, code) answered to a cancel of a meeting or occurrence already cancelled,
    /// instead of 9003.
    pub cancel_again: Option<(u16, i64)>,
}

/// Checks a create against the modelled limits. `Err` is the refusal to answer; `Ok` the
/// body to create from (unregistered invitees left out in [`Unregistered::LeaveOut`] mode)
/// and the userids left out.
#[allow(clippy::result_large_err)] // a test server; the refusal is the answer itself
pub(super) fn admit_create(st: &mut State, body: &Value) -> Result<(Value, Vec<String>), Answer> {
    let lim = &mut st.limits;
    if let Some((creates, code)) = lim.create_quota
        && lim.creates_accepted >= creates
    {
        return Err(api_error(
            500,
            code,
            "meeting-creation quota exceeded (injected)",
        ));
    }
    if let Some((creates, window)) = lim.create_pace {
        let now = tokio::time::Instant::now();
        while lim
            .create_times
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= window)
        {
            lim.create_times.pop_front();
        }
        if lim.create_times.len() >= creates {
            return Err(api_error(
                500,
                9008,
                "too many meetings created: at most 100 a day and 9 a minute",
            ));
        }
    }
    let userid = body["userid"].as_str().unwrap_or_default().to_owned();
    let recurring = body["meeting_type"].as_i64() == Some(1);
    if recurring && let Some(limit) = st.limits.recurring_limit {
        let live = st
            .meetings
            .iter()
            .filter(|m| m.userid == userid && m.meeting_type == 1 && !m.cancelled)
            .count();
        if live >= limit {
            return Err(api_error(
                400,
                190_004,
                &format!("invalid parameter: the account already holds {limit} recurring meetings"),
            ));
        }
    }
    if recurring
        && let Some(limit) = st.limits.create_occurrence_limit
        && body["recurring_rule"]["until_type"].as_i64() == Some(1)
        && body["recurring_rule"]["until_count"]
            .as_i64()
            .is_some_and(|n| n > limit as i64)
    {
        return Err(api_error(
            400,
            190_004,
            &format!("invalid parameter: until_count must be between 1 and {limit}"),
        ));
    }
    let mut body = body.clone();
    let mut left_out = Vec::new();
    if let Some(invitees) = body["invitees"].as_array().cloned() {
        let (bad, good): (Vec<Value>, Vec<Value>) = invitees.into_iter().partition(|i| {
            st.limits
                .unregistered
                .iter()
                .any(|u| i["userid"].as_str() == Some(u.as_str()))
        });
        left_out = bad
            .iter()
            .filter_map(|i| i["userid"].as_str().map(str::to_owned))
            .collect();
        if !left_out.is_empty() {
            if st.limits.unregistered_mode == Unregistered::Refuse {
                return Err(api_error(
                    500,
                    190_001,
                    &format!("user not registered: {}", left_out.join(",")),
                ));
            }
            body["invitees"] = json!(good);
        }
    }
    Ok((body, left_out))
}

/// Records an accepted create and shapes its answer: the invitees left out, and `null` fields
/// when switched on.
pub(super) fn created(st: &mut State, left_out: &[String]) -> Answer {
    st.limits.creates_accepted += 1;
    st.limits
        .create_times
        .push_back(tokio::time::Instant::now());
    let Some(m) = st.meetings.last() else {
        return not_exist();
    };
    let mut info = json!({
        "subject": m.subject, "meeting_id": m.meeting_id, "meeting_code": m.meeting_code,
        "type": 0, "join_url": m.join_url, "hosts": [{"userid": m.userid}],
        "start_time": m.start_time.to_string(), "end_time": m.end_time.to_string(),
        "settings": m.settings, "meeting_type": m.meeting_type, "password": m.password,
        "location": m.location,
    });
    // The answer's live address and listed unregistered invitees (issue #14's switches).
    super::fields::answer(&mut info, m, &st.fields, true);
    if !left_out.is_empty() {
        let mut listed: Vec<Value> = info["user_non_registered"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        listed.extend(left_out.iter().map(|u| json!(u)));
        info["user_non_registered"] = Value::Array(listed);
    } else if st.limits.null_fields && info.get("user_non_registered").is_none() {
        info["user_non_registered"] = Value::Null;
    }
    if st.limits.null_fields {
        nullify(&mut info);
    } else {
        strip_nulls(&mut info);
    }
    answer(
        200,
        &json!({"meeting_number": 1, "meeting_info_list": [info]}),
    )
}

/// A GET answer with `null` optional fields and numbers as strings.
pub(super) fn get_with_nulls(st: &State, id: &str) -> Answer {
    match st.meetings.iter().find(|m| m.meeting_id == id) {
        Some(m) => {
            let mut info = info_json(m, &st.sub_model, Shown::Get, &st.fields);
            nullify(&mut info);
            answer(
                200,
                &json!({"meeting_number": "1", "meeting_info_list": [info]}),
            )
        }
        None => not_exist(),
    }
}

/// The refusal of a cancel of something already cancelled, when switched to an unexpected
/// code; `None` lets the normal handler answer.
pub(super) fn cancel_again(st: &State, id: &str, body: &Value) -> Option<Answer> {
    let (status, code) = st.limits.cancel_again?;
    let m: &FakeMeeting = st.meetings.iter().find(|m| m.meeting_id == id)?;
    let already = match body["sub_meeting_id"].as_str() {
        Some(sub) => {
            m.cancelled
                || m.sub_meetings
                    .iter()
                    .any(|s| s.sub_meeting_id == sub && s.cancelled)
        }
        None => m.cancelled,
    };
    already.then(|| api_error(status, code, "operation not allowed in the meeting's state"))
}

/// Optional fields that are absent become `null`; numbers become strings.
fn nullify(info: &mut Value) {
    let Some(o) = info.as_object_mut() else {
        return;
    };
    for key in [
        "password",
        "location",
        "current_sub_meeting_id",
        "remain_sub_meetings",
        "has_more_sub_meeting",
        "sub_meetings",
        "time_zone",
        "live_config",
    ] {
        o.entry(key).or_insert(Value::Null);
    }
    for key in ["meeting_type", "type", "remain_sub_meetings"] {
        if let Some(n) = o.get(key).and_then(Value::as_i64) {
            o.insert(key.to_owned(), json!(n.to_string()));
        }
    }
}

fn strip_nulls(info: &mut Value) {
    if let Some(o) = info.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
}
