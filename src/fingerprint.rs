//! Fingerprints of the meeting-relevant content of an event.
//!
//! A server re-serialising an object, calmeet's own write-back, or a change to DTSTAMP,
//! LAST-MODIFIED, PRODID, SEQUENCE, alarms or attendees is not a change of the meeting. Only what
//! the meeting is made of counts: subject, times, time zone, rule and status. This
//! is compared with the fingerprint stored at the last successful API call to decide whether
//! the meeting must be modified.

use sha2::{Digest, Sha256};

use crate::event::{Event, Timing};

/// The fingerprint of an event's meeting-relevant fields, as a hex string.
#[must_use]
pub fn of_event(event: &Event, subject: &str) -> String {
    let mut canon = String::with_capacity(256);
    canon.push_str("v1\n");
    canon.push_str(subject);
    canon.push('\n');
    match &event.timing {
        Timing::AllDay => canon.push_str("allday\n"),
        Timing::Refused { property, .. } => canon.push_str(&format!("refused {property}\n")),
        Timing::Timed {
            start,
            end,
            local_start,
            zone,
        } => {
            canon.push_str(&format!(
                "{}\n{}\n{}\n{}\n",
                start.timestamp(),
                end.timestamp(),
                local_start.format("%Y%m%dT%H%M%S"),
                zone.name()
            ));
        }
    }
    canon.push_str(&normalise_rrule(event.rrule.as_deref().unwrap_or("")));
    canon.push('\n');
    // EXDATEs are not part of the series' fingerprint: each one cancels its own occurrence
    // (a modify of the whole series could reset the occurrences Tencent already changed).
    canon.push_str(if event.cancelled { "cancelled" } else { "live" });
    hex(&Sha256::digest(canon.as_bytes()))
}

/// Separates the event part of a stored fingerprint from its meeting-options part.
pub const OPTIONS_SEPARATOR: char = '+';

/// A meeting's full fingerprint: the event's (`base`, hex) and a short hash of the canonical
/// text of its options (settings, password, location, hosts, live streaming), joined by
/// [`OPTIONS_SEPARATOR`]. A change of either modifies the meeting.
#[must_use]
pub fn with_options(base: &str, options_canon: &str) -> String {
    let digest = hex(&Sha256::digest(options_canon.as_bytes()));
    format!("{base}{OPTIONS_SEPARATOR}{}", &digest[..16])
}

/// Whether the meeting recorded with `stored` is the one `desired` describes.
///
/// A fingerprint stored before meeting options were fingerprinted has no options part: its
/// meeting was made with the options configured then, which calmeet cannot know, so it counts
/// as unchanged when the event part matches (an upgrade modifies no meeting); the plan then
/// records the full fingerprint ([`is_legacy`]) so that later option changes are seen.
#[must_use]
pub fn same_meeting(stored: Option<&str>, desired: &str) -> bool {
    match stored {
        None => false,
        Some(s) if s == desired => true,
        Some(s) if is_legacy(s) => desired
            .split_once(OPTIONS_SEPARATOR)
            .is_some_and(|(base, _)| base == s),
        Some(_) => false,
    }
}

/// A fingerprint stored before options were part of it (no [`OPTIONS_SEPARATOR`]).
#[must_use]
pub fn is_legacy(stored: &str) -> bool {
    !stored.is_empty() && !stored.contains(OPTIONS_SEPARATOR)
}

/// Upper-cases an RRULE, drops spaces and sorts its parts, so that `FREQ=WEEKLY;BYDAY=MO` and
/// `byday=MO;freq=weekly` are the same rule.
#[must_use]
pub fn normalise_rrule(rule: &str) -> String {
    let mut parts: Vec<String> = rule
        .split(';')
        .map(|p| {
            p.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort();
    parts.join(";")
}

/// Lowercase hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrule_normalisation_ignores_order_case_and_spaces() {
        assert_eq!(
            normalise_rrule("freq=daily;BYDAY=MO, TU;"),
            normalise_rrule("BYDAY=MO,TU;FREQ=DAILY")
        );
        assert_ne!(
            normalise_rrule("FREQ=DAILY"),
            normalise_rrule("FREQ=WEEKLY")
        );
    }

    #[test]
    fn legacy_fingerprints_match_their_event_part_only() {
        let base = "ab".repeat(32);
        let full = with_options(&base, "settings={}");
        let other = with_options(&base, "settings={\"auto_in_waiting_room\":true}");
        assert_ne!(full, other);
        assert!(same_meeting(Some(&full), &full));
        assert!(!same_meeting(Some(&full), &other));
        // A row written before options were fingerprinted: unchanged whatever the options.
        assert!(same_meeting(Some(&base), &full));
        assert!(same_meeting(Some(&base), &other));
        assert!(!same_meeting(Some(&"cd".repeat(32)), &full));
        assert!(!same_meeting(None, &full));
        assert!(is_legacy(&base) && !is_legacy(&full) && !is_legacy(""));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }
}
