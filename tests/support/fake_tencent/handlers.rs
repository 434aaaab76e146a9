//! Meeting-state handlers of the fake Tencent Meeting server: create, get, list, modify,
//! cancel, each taking the parsed request and the shared state and returning the answer the
//! real API would give (reference §2). Authentication and faults are handled before these run.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::rules::{self, Reject, opt_int, opt_str, opt_time, req_int, req_str};
use super::submeetings::{self, Shown, SubMeetingModel};
use super::{FakeMeeting, FakeSubMeeting, State, fields};

pub(super) type Answer = Response<Full<Bytes>>;

pub(super) fn answer(status: u16, body: &Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

pub(super) fn api_error(status: u16, code: i64, message: &str) -> Answer {
    answer(
        status,
        &json!({"error_info": {"error_code": code, "new_error_code": 1_000_000_000 + code, "message": message}}),
    )
}

pub(super) fn invalid(reason: &Reject) -> Answer {
    api_error(400, 190_004, &format!("invalid parameter: {reason}"))
}

pub(super) fn not_exist() -> Answer {
    api_error(500, 9003, "MEETING NOT EXIST")
}

pub(super) fn create(st: &mut State, body: &Value) -> Answer {
    let new = match rules::validate_create(body) {
        Ok(new) => new,
        Err(reason) => return invalid(&reason),
    };
    let extra = match fields::check(body, false, &new.userid) {
        Ok(extra) => extra,
        Err(reason) => return invalid(&reason),
    };
    let n = st.meetings.len() as u64 + 1;
    let meeting_id = (7_567_173_273_889_000_000u64 + n * 7_919).to_string();
    let duration = new.end - new.start;
    let meeting = FakeMeeting {
        join_url: format!("https://meeting.tencent.com/dm/{meeting_id}"),
        meeting_code: (600_000_000 + n * 37).to_string(),
        meeting_id,
        userid: new.userid,
        subject: new.subject,
        start_time: new.start,
        end_time: new.end,
        meeting_type: new.meeting_type,
        password: new.password,
        location: new.location,
        time_zone: new.time_zone,
        settings: new.settings,
        sub_meetings: sub_meetings(new.rule.is_some(), &new.occurrences, duration),
        recurring_rule: new.rule,
        cancelled: false,
        modifications: 0,
        extra: fields::FieldState::default(),
    };
    let mut meeting = meeting;
    fields::apply(&mut meeting, extra);
    let mut info = json!({
        "subject": meeting.subject, "meeting_id": meeting.meeting_id,
        "meeting_code": meeting.meeting_code, "type": 0, "join_url": meeting.join_url,
        "hosts": [{"userid": meeting.userid}], "start_time": meeting.start_time.to_string(),
        "end_time": meeting.end_time.to_string(), "settings": meeting.settings,
        "meeting_type": meeting.meeting_type,
    });
    if let Some(p) = &meeting.password {
        info["password"] = json!(p);
    }
    if let Some(l) = &meeting.location {
        info["location"] = json!(l);
    }
    fields::answer(&mut info, &meeting, &st.fields, true);
    st.meetings.push(meeting);
    answer(
        200,
        &json!({"meeting_number": 1, "meeting_info_list": [info]}),
    )
}

/// `sub_meeting_id` is the occurrence's start as a string, as in the API's examples.
fn sub_meetings(recurring: bool, starts: &[i64], duration: i64) -> Vec<FakeSubMeeting> {
    if !recurring {
        return Vec::new();
    }
    starts
        .iter()
        .map(|&s| FakeSubMeeting {
            sub_meeting_id: s.to_string(),
            start_time: s,
            end_time: s + duration,
            cancelled: false,
        })
        .collect()
}

/// The GET/list item shape; sub-meeting times are integers as in the doc example.
fn info_json(
    m: &FakeMeeting,
    model: &SubMeetingModel,
    how: Shown,
    answers: &fields::FieldAnswers,
) -> Value {
    let status = if m.cancelled {
        "MEETING_STATE_CANCELLED"
    } else {
        "MEETING_STATE_INIT"
    };
    let mut info = json!({
        "meeting_id": m.meeting_id, "meeting_code": m.meeting_code, "subject": m.subject,
        "status": status, "type": 0, "meeting_type": m.meeting_type, "join_url": m.join_url,
        "start_time": m.start_time.to_string(), "end_time": m.end_time.to_string(),
        "hosts": [{"userid": m.userid}], "settings": m.settings,
    });
    if let Some(p) = &m.password {
        info["password"] = json!(p);
    }
    if let Some(l) = &m.location {
        info["location"] = json!(l);
    }
    if let Some(rule) = &m.recurring_rule {
        info["recurring_rule"] = rule.clone();
        submeetings::add_sub_meetings(&mut info, m, model, how);
    }
    fields::answer(&mut info, m, answers, false);
    info
}

fn userid_and_instance(query: &BTreeMap<String, String>) -> Result<&str, Reject> {
    let userid = query
        .get("userid")
        .filter(|u| !u.is_empty())
        .ok_or("userid is required")?;
    query
        .get("instanceid")
        .and_then(|i| i.parse::<i64>().ok())
        .ok_or("instanceid is required")?;
    Ok(userid)
}

pub(super) fn get(st: &State, id: &str, query: &BTreeMap<String, String>) -> Answer {
    if let Err(reason) = userid_and_instance(query) {
        return invalid(&reason);
    }
    match st.meetings.iter().find(|m| m.meeting_id == id) {
        Some(m) => answer(
            200,
            &json!({"meeting_number": 1, "meeting_info_list": [info_json(m, &st.sub_model, Shown::Get, &st.fields)]}),
        ),
        None => not_exist(),
    }
}

pub(super) fn list(st: &State, query: &BTreeMap<String, String>) -> Answer {
    let userid = match userid_and_instance(query) {
        Ok(u) => u,
        Err(reason) => return invalid(&reason),
    };
    let parse = |key: &str| {
        query
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (pos, offset) = (parse("pos"), usize::try_from(parse("cursory")).unwrap_or(0));
    let show_all = parse("is_show_all_sub_meetings") == 1;
    // A meeting is listed by its first live occurrence at or after `pos`.
    let mut hits: Vec<(i64, usize, &FakeMeeting)> = st
        .meetings
        .iter()
        .enumerate()
        .filter(|(_, m)| m.userid == userid && !m.cancelled)
        .filter_map(|(seq, m)| {
            let starts: Vec<i64> = if m.sub_meetings.is_empty() {
                vec![m.start_time]
            } else {
                m.sub_meetings
                    .iter()
                    .filter(|s| !s.cancelled)
                    .map(|s| s.start_time)
                    .collect()
            };
            starts.into_iter().find(|&s| s >= pos).map(|s| (s, seq, m))
        })
        .collect();
    hits.sort_by_key(|&(start, seq, _)| (start, seq));
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(st.page_size)
        .map(|(_, _, m)| info_json(m, &st.sub_model, Shown::List { all: show_all }, &st.fields))
        .collect();
    let end = offset + page.len();
    let remaining = hits.len().saturating_sub(end);
    let next = if st.page_overlap && end > offset + 1 {
        end - 1
    } else {
        end
    };
    answer(
        200,
        &json!({"meeting_number": page.len(), "meeting_info_list": page,
                "remaining": remaining, "next_pos": pos, "next_cursory": next}),
    )
}

pub(super) fn modify(st: &mut State, id: &str, body: &Value) -> Answer {
    match apply_modify(st, id, body) {
        Ok(Some(m)) => {
            let mut info = json!({"meeting_id": m.meeting_id, "meeting_code": m.meeting_code});
            fields::answer(&mut info, &m, &st.fields, false);
            info.as_object_mut().map(|o| o.remove("hosts"));
            answer(
                200,
                &json!({"meeting_number": 1, "meeting_info_list": [info]}),
            )
        }
        Ok(None) => not_exist(),
        Err(reason) => invalid(&reason),
    }
}

/// `Ok(None)` for an unknown or cancelled meeting. Validates everything before changing anything.
fn apply_modify(st: &mut State, id: &str, body: &Value) -> Result<Option<FakeMeeting>, Reject> {
    let o = rules::object(body)?;
    let creator = req_str(o, "userid")?;
    req_int(o, "instanceid")?;
    let extra = fields::check(body, true, &creator)?;
    let subject = opt_str(o, "subject")?;
    if let Some(s) = &subject {
        rules::check_subject(s)?;
    }
    let password = opt_str(o, "password")?;
    if let Some(p) = &password {
        rules::check_password(p, true)?;
    }
    let (start, end) = (opt_time(o, "start_time")?, opt_time(o, "end_time")?);
    let meeting_type = opt_int(o, "meeting_type")?;
    let location = opt_str(o, "location")?;
    let rule = o.get("recurring_rule").map(rules::object).transpose()?;
    let refuse_extension = st.refuse_extension;
    let on_series_modify = st.sub_model.on_series_modify;
    let Some(m) = st
        .meetings
        .iter_mut()
        .find(|m| m.meeting_id == id && !m.cancelled)
    else {
        return Ok(None);
    };
    let mut next = m.clone();
    if let Some(sub_id) = rule.and_then(|r| r.get("sub_meeting_id")) {
        // Moving one occurrence: only its time changes, and never together with the rule.
        if rule.is_some_and(|r| r.len() > 1) {
            return Err("cannot change the rule and one occurrence in the same call".into());
        }
        let sub_id = sub_id.as_str().ok_or("sub_meeting_id must be a string")?;
        let (Some(s), Some(e)) = (start, end) else {
            return Err("moving an occurrence needs start_time and end_time".into());
        };
        rules::check_times(s, e)?;
        let sub = next
            .sub_meetings
            .iter_mut()
            .find(|x| x.sub_meeting_id == sub_id && !x.cancelled)
            .ok_or("unknown sub_meeting_id")?;
        (sub.start_time, sub.end_time) = (s, e);
    } else {
        next.start_time = start.unwrap_or(next.start_time);
        next.end_time = end.unwrap_or(next.end_time);
        rules::check_times(next.start_time, next.end_time)?;
        next.meeting_type = meeting_type.unwrap_or(next.meeting_type);
        if rule.is_some() {
            next.recurring_rule = o.get("recurring_rule").cloned();
        }
        if next.meeting_type == 1 {
            let rule = next.recurring_rule.clone().unwrap_or(json!({}));
            let zone = rules::zone(next.time_zone.as_deref())?;
            let starts = rules::expand(&rule, next.start_time, zone)?;
            let last_now = m.sub_meetings.iter().map(|s| s.start_time).max();
            let last_then = starts.iter().copied().max();
            if refuse_extension
                && m.meeting_type == 1
                && last_then
                    .zip(last_now)
                    .is_some_and(|(then, now)| then > now)
            {
                return Err("recurring_rule: a recurring meeting cannot be extended past its last sub-meeting; create a new meeting for the later occurrences".into());
            }
            next.recurring_rule = Some(rule);
            let fresh = sub_meetings(true, &starts, next.end_time - next.start_time);
            next.sub_meetings =
                submeetings::after_series_modify(on_series_modify, &m.sub_meetings, fresh);
        } else {
            next.recurring_rule = None;
            next.sub_meetings.clear();
        }
    }
    if let Some(s) = subject {
        next.subject = s;
    }
    if let Some(p) = password {
        next.password = Some(p).filter(|p| !p.is_empty());
    }
    if location.is_some() {
        next.location = location;
    }
    if let Some(Value::Object(settings)) = o.get("settings") {
        for (k, v) in settings {
            next.settings[k] = v.clone();
        }
    }
    fields::apply(&mut next, extra);
    next.modifications += 1;
    *m = next.clone();
    Ok(Some(next))
}

pub(super) fn cancel(st: &mut State, id: &str, body: &Value) -> Answer {
    let parsed = (|| {
        let o = rules::object(body)?;
        req_str(o, "userid")?;
        req_int(o, "instanceid")?;
        req_int(o, "reason_code")?;
        opt_int(o, "meeting_type")?;
        opt_str(o, "sub_meeting_id")
    })();
    let sub_id = match parsed {
        Ok(sub_id) => sub_id,
        Err(reason) => return invalid(&reason),
    };
    // Cancelling what is already cancelled reports "not exist": only live meetings cancel.
    let Some(m) = st
        .meetings
        .iter_mut()
        .find(|m| m.meeting_id == id && !m.cancelled)
    else {
        return not_exist();
    };
    match sub_id {
        None => m.cancelled = true,
        Some(sub_id) => match m
            .sub_meetings
            .iter_mut()
            .find(|s| s.sub_meeting_id == sub_id && !s.cancelled)
        {
            Some(sub) => sub.cancelled = true,
            None => return not_exist(),
        },
    }
    answer(200, &json!({}))
}
