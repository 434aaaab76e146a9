//! The sub-meeting model of the fake Tencent Meeting server (issue #10): what a series modify
//! does to earlier per-occurrence changes, which sub-meetings GET and list show, and the live
//! occurrences a test compares with the calendar.
//!
//! Sub-meetings themselves are expanded from `recurring_rule` in `rules::expand` (reference
//! §3.1: recurring_type 0–4 and customized 5 with its sub-types 0–3, `until_type` /
//! `until_count` / `until_date`, in `time_zone`, Asia/Shanghai when absent). A sub-meeting's id
//! is its original start as a string (the documented form, §2.3); moving one (§3.4) keeps it.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::{FakeMeeting, FakeSubMeeting};

/// What a PUT that changes a series (its rule or times, without `sub_meeting_id`) does to the
/// occurrences cancelled or moved before it. The reference (§3.4) does not say; calmeet's plan
/// assumes the API may reset them and sends them again, so the fake can do either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeriesModify {
    /// The series is expanded afresh: every cancelled occurrence is live again and every moved
    /// one back at its slot (the stricter reading, and the default).
    #[default]
    ResetExceptions,
    /// Cancelled and moved occurrences whose `sub_meeting_id` the new rule still yields stay
    /// cancelled / moved; the others go with their slot.
    KeepExceptions,
}

/// Which sub-meetings a GET (and a list without `is_show_all_sub_meetings=1`) shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubMeetingWindow {
    /// At most this many sub-meetings in a GET answer (the doc example shows 5 of 7).
    pub shown: usize,
    /// Only sub-meetings ending after this instant (unix seconds) are shown, as an API that
    /// lists the current and upcoming ones would; `None` shows from the first.
    pub from: Option<i64>,
}

/// The switches of the sub-meeting model, kept apart from the fake's other state.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubMeetingModel {
    /// See [`SeriesModify`].
    pub on_series_modify: SeriesModify,
    /// `None`: GET and list show every sub-meeting (`has_more_sub_meeting` 0). `Some`: GET
    /// shows the window with `has_more_sub_meeting` 1 when more exist, and list shows only the
    /// first live sub-meeting unless asked `is_show_all_sub_meetings=1` (reference §2.6).
    pub window: Option<SubMeetingWindow>,
}

/// Sub-meetings of a fresh expansion, as a series modify leaves them under `mode`: `old` are
/// the meeting's sub-meetings before the PUT, `fresh` the new rule's expansion.
pub fn after_series_modify(
    mode: SeriesModify,
    old: &[FakeSubMeeting],
    mut fresh: Vec<FakeSubMeeting>,
) -> Vec<FakeSubMeeting> {
    if mode == SeriesModify::ResetExceptions {
        return fresh;
    }
    let before: HashMap<&str, &FakeSubMeeting> =
        old.iter().map(|s| (s.sub_meeting_id.as_str(), s)).collect();
    for s in &mut fresh {
        if let Some(prev) = before.get(s.sub_meeting_id.as_str()) {
            s.cancelled = prev.cancelled;
            let moved = prev.sub_meeting_id != prev.start_time.to_string();
            if moved {
                (s.start_time, s.end_time) = (prev.start_time, prev.end_time);
            }
        }
    }
    fresh
}

/// How a meeting is being shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// `GET /v1/meetings/{id}`.
    Get,
    /// `GET /v1/meetings` with `is_show_all_sub_meetings` as given.
    List { all: bool },
}

/// Adds `sub_meetings`, `has_more_sub_meeting`, `remain_sub_meetings` and
/// `current_sub_meeting_id` of a recurring meeting to its GET/list item.
pub fn add_sub_meetings(info: &mut Value, m: &FakeMeeting, model: &SubMeetingModel, how: Shown) {
    let item = |s: &FakeSubMeeting| {
        json!({"sub_meeting_id": s.sub_meeting_id, "status": i32::from(s.cancelled),
               "start_time": s.start_time, "end_time": s.end_time})
    };
    let live: Vec<&FakeSubMeeting> = m.sub_meetings.iter().filter(|s| !s.cancelled).collect();
    let shown: Vec<&FakeSubMeeting> = match (model.window, how) {
        (None, _) | (Some(_), Shown::List { all: true }) => m.sub_meetings.iter().collect(),
        (Some(_), Shown::List { all: false }) => live.iter().copied().take(1).collect(),
        (Some(w), Shown::Get) => m
            .sub_meetings
            .iter()
            .filter(|s| w.from.is_none_or(|from| s.end_time > from))
            .take(w.shown)
            .collect(),
    };
    let more = shown.len() < m.sub_meetings.len();
    info["sub_meetings"] = json!(shown.iter().map(|s| item(s)).collect::<Vec<_>>());
    info["has_more_sub_meeting"] = json!(i32::from(more));
    info["remain_sub_meetings"] = json!(live.len());
    if let Some(first) = live.first() {
        info["current_sub_meeting_id"] = json!(first.sub_meeting_id);
    }
}

/// Live occurrence intervals `[start, end)` of every live meeting, by meeting id: a single
/// meeting's own times, a series' live sub-meetings in order of start.
pub fn live_occurrences(meetings: &[FakeMeeting]) -> BTreeMap<String, Vec<(i64, i64)>> {
    meetings
        .iter()
        .filter(|m| !m.cancelled)
        .map(|m| {
            let mut spans: Vec<(i64, i64)> = if m.recurring_rule.is_some() {
                m.sub_meetings
                    .iter()
                    .filter(|s| !s.cancelled)
                    .map(|s| (s.start_time, s.end_time))
                    .collect()
            } else {
                vec![(m.start_time, m.end_time)]
            };
            spans.sort_unstable();
            (m.meeting_id.clone(), spans)
        })
        .collect()
}
