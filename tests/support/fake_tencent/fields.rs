//! The create/modify fields beyond times and recurrence, checked as strictly as the real API is
//! documented (reference §2.2, §2.4, §3.5, §5) and answered as it answers: `hosts` and
//! `invitees` shapes, `settings` keys and value types, `location` length, `enable_live` /
//! `live_config` fields and types, `sync_to_wework` (create only), plus `live_config.live_addr`
//! and `user_non_registered` in the answers.
//!
//! The settings table here is written from the reference, independently of calmeet's own list,
//! so that a key calmeet accepts but the API does not is caught.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::FakeMeeting;
use super::rules::Reject;

/// `settings` keys of the create request and the JSON type each takes (reference §2.2).
const SETTINGS: &[(&str, &str)] = &[
    ("mute_enable_join", "bool"),
    ("mute_enable_type_join", "int"),
    ("allow_unmute_self", "bool"),
    ("allow_in_before_host", "bool"),
    ("auto_in_waiting_room", "bool"),
    ("allow_screen_shared_watermark", "bool"),
    ("water_mark_type", "int"),
    ("only_enterprise_user_allowed", "bool"),
    ("only_user_join_type", "int"),
    ("auto_record_type", "string"),
    ("participant_join_auto_record", "bool"),
    ("enable_host_pause_auto_record", "bool"),
    ("auto_asr", "bool"),
    ("open_asr_view", "int"),
    ("change_nickname", "int"),
    ("allow_multi_device", "bool"),
];

/// `live_config` keys and their JSON types (Tencent's LiveConfig object).
const LIVE_CONFIG: &[(&str, &str)] = &[
    ("live_subject", "string"),
    ("live_summary", "string"),
    ("enable_live_password", "bool"),
    ("live_password", "string"),
    ("enable_live_im", "bool"),
    ("enable_live_replay", "bool"),
    ("live_watermark", "object"),
];

/// Most hosts or invitees per call.
const MAX_USERS: usize = 300;
/// `location`: 18 CJK or 36 Latin characters (ASCII 1 unit, anything else 2).
const LOCATION_WIDTH: usize = 36;
/// `live_subject` / `live_summary`: the subject's 512-byte rule (ASCII 2, CJK up to 4).
const LIVE_TEXT_WIDTH: usize = 512;

/// What the fake keeps of these fields per meeting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldState {
    /// Designated hosts (userids) as last sent.
    pub hosts: Vec<String>,
    /// Invitees as last sent.
    pub invitees: Vec<String>,
    /// Live streaming on.
    pub enable_live: bool,
    /// The last `live_config` sent.
    pub live_config: Option<Value>,
    /// The watch address, while live.
    pub live_addr: Option<String>,
    /// `sync_to_wework` as created.
    pub sync_to_wework: Option<bool>,
}

/// Switches of the fake's answers for these fields.
#[derive(Clone, Debug, Default)]
pub struct FieldAnswers {
    /// Leave `live_config.live_addr` out of create answers (a client must GET it).
    pub omit_live_addr_on_create: bool,
    /// Leave it out of every answer (GET and list too).
    pub omit_live_addr: bool,
    /// Invitee userids that are not registered: listed in `user_non_registered`.
    pub unregistered: HashSet<String>,
    /// List them as `{"userid": …}` objects instead of bare strings (the docs name the field
    /// but not its item shape, so the fake can answer either way).
    pub unregistered_as_objects: bool,
}

/// The fields of one request, validated.
pub struct Fields {
    hosts: Option<Vec<String>>,
    invitees: Option<Vec<String>>,
    enable_live: Option<bool>,
    live_config: Option<Value>,
    sync_to_wework: Option<bool>,
}

fn width(text: &str, ascii: usize, other: usize) -> usize {
    text.chars()
        .map(|c| if c.is_ascii() { ascii } else { other })
        .sum()
}

fn type_ok(v: &Value, ty: &str) -> bool {
    match ty {
        "bool" => v.is_boolean(),
        "int" => v.is_i64(),
        "string" => v.is_string(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn users(o: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, Reject> {
    let Some(v) = o.get(key) else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| format!("{key} must be an array"))?;
    if list.len() > MAX_USERS {
        return Err(format!("{key}: at most {MAX_USERS} users per call"));
    }
    let mut ids = Vec::new();
    for u in list {
        let u = u
            .as_object()
            .ok_or_else(|| format!("{key}[] must be objects"))?;
        for (k, v) in u {
            let ok = match k.as_str() {
                "userid" => v.as_str().is_some_and(|s| !s.is_empty()),
                "is_anonymous" => v.is_boolean(),
                "nick_name" => v.is_string(),
                _ => return Err(format!("{key}[]: unknown field {k}")),
            };
            if !ok {
                return Err(format!("{key}[].{k} has the wrong type or is empty"));
            }
        }
        let id = u
            .get("userid")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{key}[].userid is required"))?;
        ids.push(id.to_owned());
    }
    Ok(Some(ids))
}

/// Validates the fields of a create (`modify` false) or modify body by `creator`.
pub fn check(body: &Value, modify: bool, creator: &str) -> Result<Fields, Reject> {
    let o = body.as_object().ok_or("body is not a JSON object")?;
    let hosts = users(o, "hosts")?;
    if modify
        && let Some(h) = &hosts
        && !h.is_empty()
        && !h.iter().any(|u| u == creator)
    {
        return Err("hosts must include the creator (userid) when given".into());
    }
    let invitees = users(o, "invitees")?;
    if let Some(settings) = o.get("settings") {
        let settings = settings.as_object().ok_or("settings must be an object")?;
        for (k, v) in settings {
            let Some((_, ty)) = SETTINGS.iter().find(|(name, _)| name == k) else {
                return Err(format!("settings: unknown key {k}"));
            };
            if !type_ok(v, ty) {
                return Err(format!("settings.{k} must be {ty}, got {v}"));
            }
        }
    }
    if let Some(l) = o.get("location") {
        let l = l.as_str().ok_or("location must be a string")?;
        if width(l, 1, 2) > LOCATION_WIDTH {
            return Err(format!(
                "location longer than 18 CJK / 36 Latin characters: {l:?}"
            ));
        }
    }
    let sync_to_wework = match o.get("sync_to_wework") {
        None => None,
        Some(_) if modify => return Err("sync_to_wework cannot be modified".into()),
        Some(v) => Some(v.as_bool().ok_or("sync_to_wework must be a bool")?),
    };
    let enable_live = match o.get("enable_live") {
        None => None,
        Some(v) => Some(v.as_bool().ok_or("enable_live must be a bool")?),
    };
    let live_config = o.get("live_config").cloned();
    if let Some(c) = &live_config {
        if enable_live != Some(true) {
            return Err("live_config without enable_live = true".into());
        }
        let c = c.as_object().ok_or("live_config must be an object")?;
        for (k, v) in c {
            let Some((_, ty)) = LIVE_CONFIG.iter().find(|(name, _)| name == k) else {
                return Err(format!("live_config: unknown key {k}"));
            };
            if !type_ok(v, ty) {
                return Err(format!("live_config.{k} must be {ty}, got {v}"));
            }
        }
        for k in ["live_subject", "live_summary"] {
            if c.get(k)
                .and_then(Value::as_str)
                .is_some_and(|t| width(t, 2, 4) > LIVE_TEXT_WIDTH)
            {
                return Err(format!("live_config.{k} longer than 512 bytes"));
            }
        }
        if let Some(p) = c.get("live_password").and_then(Value::as_str)
            && !((4..=6).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("live_config.live_password must be 4-6 digits".into());
        }
    }
    Ok(Fields {
        hosts,
        invitees,
        enable_live,
        live_config,
        sync_to_wework,
    })
}

fn live_addr(m: &FakeMeeting) -> String {
    format!("https://meeting.tencent.com/l/live{}", m.meeting_code)
}

/// Applies validated fields to a meeting (a new one, or the copy a modify builds).
pub fn apply(m: &mut FakeMeeting, f: Fields) {
    if let Some(h) = f.hosts {
        m.extra.hosts = h;
    }
    if let Some(i) = f.invitees {
        m.extra.invitees = i;
    }
    if f.sync_to_wework.is_some() {
        m.extra.sync_to_wework = f.sync_to_wework;
    }
    match f.enable_live {
        Some(true) => {
            m.extra.enable_live = true;
            if f.live_config.is_some() {
                m.extra.live_config = f.live_config;
            }
            if m.extra.live_addr.is_none() {
                m.extra.live_addr = Some(live_addr(m));
            }
        }
        Some(false) => {
            m.extra.enable_live = false;
            m.extra.live_config = None;
            m.extra.live_addr = None;
        }
        None => {}
    }
}

/// Adds what the API answers about these fields to a meeting item: `enable_live` and
/// `live_config` with `live_addr` (GET, list, modify, and create unless told to leave the
/// address out), `user_non_registered` (create only).
pub fn answer(info: &mut Value, m: &FakeMeeting, answers: &FieldAnswers, create: bool) {
    if m.extra.enable_live {
        info["enable_live"] = json!(true);
        let mut config = m.extra.live_config.clone().unwrap_or_else(|| json!({}));
        let omit = answers.omit_live_addr || (create && answers.omit_live_addr_on_create);
        if !omit && let Some(addr) = &m.extra.live_addr {
            config["live_addr"] = json!(addr);
        }
        if let Some(c) = config.as_object_mut() {
            c.remove("live_password");
        }
        info["live_config"] = config;
    }
    if !m.extra.hosts.is_empty() {
        info["hosts"] = json!(
            m.extra
                .hosts
                .iter()
                .map(|u| json!({"userid": u}))
                .collect::<Vec<_>>()
        );
    }
    if create {
        let unregistered: Vec<&String> = m
            .extra
            .invitees
            .iter()
            .filter(|u| answers.unregistered.contains(*u))
            .collect();
        if !unregistered.is_empty() {
            info["user_non_registered"] = if answers.unregistered_as_objects {
                json!(
                    unregistered
                        .iter()
                        .map(|u| json!({"userid": u}))
                        .collect::<Vec<_>>()
                )
            } else {
                json!(unregistered)
            };
        }
    }
}
