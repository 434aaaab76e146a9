//! Reproduces every vector the official Tencent SDK produced (tests/fixtures/signature-vectors.json),
//! so a change to the signing code that the real server would reject fails here first.
#![allow(clippy::unwrap_used)]

use calmeet::tencent::sign;
use calmeet::tencent::types::{CancelMeetingRequest, CreateMeetingRequest, ModifyMeetingRequest};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signature-vectors.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))
}

#[test]
fn every_sdk_vector_is_reproduced() {
    let doc = fixture();
    let secret_id = s(&doc["credentials"], "SecretId");
    let secret_key = s(&doc["credentials"], "SecretKey").as_bytes();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(
        vectors.len(),
        6,
        "the fixture should hold all six SDK vectors"
    );
    for v in vectors {
        let name = s(v, "name");
        let (method, nonce, ts, uri) = (
            s(v, "method"),
            s(v, "nonce"),
            s(v, "timestamp"),
            s(v, "uri"),
        );
        let body = s(v, "body").as_bytes();

        let sts = sign::string_to_sign(method, secret_id, nonce, ts, uri, body);
        assert_eq!(
            String::from_utf8(sts.clone()).unwrap(),
            s(v, "string_to_sign"),
            "{name}"
        );
        assert_eq!(
            sign::hmac_hex(secret_key, &sts),
            s(v, "hmac_sha256_hex_lowercase"),
            "{name}"
        );

        let sig = sign::signature(secret_key, method, secret_id, nonce, ts, uri, body);
        assert_eq!(sig, s(v, "signature"), "{name}");
        assert_eq!(sig, s(&v["headers_sent"], "X-TC-Signature"), "{name}");
        assert_ne!(
            sig,
            s(v, "wrong_signature_if_base64_of_raw_digest"),
            "{name}"
        );

        assert!(sign::verify(
            secret_key,
            method,
            secret_id,
            nonce,
            ts,
            uri,
            body,
            s(v, "signature")
        ));
        let wrong = s(v, "wrong_signature_if_base64_of_raw_digest");
        assert!(
            !sign::verify(secret_key, method, secret_id, nonce, ts, uri, body, wrong),
            "{name}"
        );
    }
}

/// Our typed requests serialize to the very bytes the SDK signed, so the vectors also pin the
/// wire format (key order, strings for times, raw UTF-8 Chinese, omitted absent fields).
#[test]
fn typed_requests_serialize_to_the_sdk_bodies() {
    let doc = fixture();
    let body_of = |name: &str| {
        let v = doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap();
        s(v, "body").to_owned()
    };

    let create: CreateMeetingRequest =
        serde_json::from_str(&body_of("post_create_meeting_chinese_body")).unwrap();
    assert_eq!(create.r#type, 0);
    assert_eq!(
        create.recurring_rule.as_ref().unwrap().until_count,
        Some(10)
    );
    assert_eq!(
        serde_json::to_string(&create).unwrap(),
        body_of("post_create_meeting_chinese_body")
    );

    let cancel: CancelMeetingRequest =
        serde_json::from_str(&body_of("post_cancel_sub_meeting")).unwrap();
    assert_eq!(
        serde_json::to_string(&cancel).unwrap(),
        body_of("post_cancel_sub_meeting")
    );

    let modify: ModifyMeetingRequest =
        serde_json::from_str(&body_of("put_modify_meeting")).unwrap();
    assert_eq!(modify.subject.as_deref(), Some("周会（改期）"));
    assert_eq!(
        serde_json::to_string(&modify).unwrap(),
        body_of("put_modify_meeting")
    );
}
