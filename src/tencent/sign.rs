//! Request signing for the Tencent Meeting REST API (the enterprise "JWT"/AK-SK scheme).
//!
//! Owns the exact string-to-sign and the signature encoding from the API reference §1.3–1.4,
//! shared by the client and the test server so both sides provably agree. Pure: no clock, no
//! randomness, no I/O — the caller supplies nonce and timestamp. It must never log or return
//! the secret key in any form.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Builds the bytes that are HMAC'ed: `METHOD\nX-TC-Key=..&X-TC-Nonce=..&X-TC-Timestamp=..\nURI\nBODY`.
///
/// `uri` is the path plus `?query` exactly as sent (already percent-encoded); `body` is the exact
/// body bytes sent (empty for GET, which leaves the string ending in `URI\n`). Bytes rather than a
/// `String` because the server signs what it receives, and the body is whatever we transmitted.
#[must_use]
pub fn string_to_sign(
    method: &str,
    secret_id: &str,
    nonce: &str,
    timestamp: &str,
    uri: &str,
    body: &[u8],
) -> Vec<u8> {
    let head = format!(
        "{}\nX-TC-Key={secret_id}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}\n{uri}\n",
        method.to_ascii_uppercase()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Lowercase hex of HMAC-SHA256(key, msg): the intermediate value the API Base64-encodes.
#[must_use]
pub fn hmac_hex(secret_key: &[u8], message: &[u8]) -> String {
    // HMAC hashes over-long keys and pads short ones (RFC 2104), so every length is valid.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret_key) else {
        unreachable!("HMAC-SHA256 accepts keys of any length")
    };
    mac.update(message);
    lower_hex(&mac.finalize().into_bytes())
}

/// The `X-TC-Signature` value: Base64 of the lowercase **hex string** (88 chars, ends in `==`),
/// not Base64 of the raw digest — the official SDKs all do it this way.
#[must_use]
pub fn signature(
    secret_key: &[u8],
    method: &str,
    secret_id: &str,
    nonce: &str,
    timestamp: &str,
    uri: &str,
    body: &[u8],
) -> String {
    let msg = string_to_sign(method, secret_id, nonce, timestamp, uri, body);
    base64::engine::general_purpose::STANDARD.encode(hmac_hex(secret_key, &msg))
}

/// Checks a received `X-TC-Signature` against the expected one in constant time, so a verifier
/// (the test server, or a future webhook receiver) leaks nothing about how many bytes matched.
#[must_use]
#[allow(clippy::too_many_arguments)] // mirrors `signature` plus the value under test
pub fn verify(
    secret_key: &[u8],
    method: &str,
    secret_id: &str,
    nonce: &str,
    timestamp: &str,
    uri: &str,
    body: &[u8],
    received: &str,
) -> bool {
    let expected = signature(secret_key, method, secret_id, nonce, timestamp, uri, body);
    constant_time_eq(expected.as_bytes(), received.as_bytes())
}

/// Byte comparison whose running time depends only on the lengths, not on where bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_of_88_char_hex_and_verifies() {
        let sig = signature(b"k", "get", "id", "1", "2", "/v1/meetings", b"");
        assert_eq!(sig.len(), 88);
        assert!(sig.ends_with("=="));
        assert!(verify(
            b"k",
            "GET",
            "id",
            "1",
            "2",
            "/v1/meetings",
            b"",
            &sig
        ));
        assert!(!verify(
            b"k2",
            "GET",
            "id",
            "1",
            "2",
            "/v1/meetings",
            b"",
            &sig
        ));
        assert!(!verify(
            b"k",
            "GET",
            "id",
            "1",
            "2",
            "/v1/meetings",
            b"x",
            &sig
        ));
        assert!(!verify(
            b"k",
            "GET",
            "id",
            "1",
            "2",
            "/v1/meetings",
            b"",
            &sig[1..]
        ));
    }

    #[test]
    fn empty_body_keeps_the_third_separator() {
        let s = string_to_sign("POST", "id", "42", "7", "/x", b"");
        assert_eq!(s, b"POST\nX-TC-Key=id&X-TC-Nonce=42&X-TC-Timestamp=7\n/x\n");
    }
}
