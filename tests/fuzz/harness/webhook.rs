//! `webhook`: the daemon webhook's signature checks (`daemon::webhook::verify_raw`: GitHub's
//! `X-Hub-Signature-256` and Standard Webhooks' `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`) over hostile headers, bodies and secrets.
//!
//! Input: a mode byte, then the secret, a newline, header lines `name: value`, an empty
//! line and the body. Mode 0 and 1 sign the body correctly (GitHub, Standard Webhooks) on
//! top of the fuzzed headers. Properties: never a panic; a correct signature is accepted
//! and the same signature over another body refused; a refusal is a 401 (or a 500 for a
//! secret that is not base64 after `whsec_`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether a fuzzed header would stand in for the one the harness signs with.
fn signing_header(name: &[u8]) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with(b"x-hub-") || name.starts_with(b"x-github-") || name.starts_with(b"webhook-")
}

pub fn webhook(data: &[u8]) {
    let [mode, rest @ ..] = data else { return };
    let (secret, rest) = rest.split_at(rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len()));
    let rest = rest.get(1..).unwrap_or_default();
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut body: &[u8] = &[];
    let mut lines = rest;
    while !lines.is_empty() {
        let end = lines.iter().position(|b| *b == b'\n').unwrap_or(lines.len());
        let line = &lines[..end];
        lines = lines.get(end + 1..).unwrap_or_default();
        if line.is_empty() {
            body = lines;
            break;
        }
        let colon = line.iter().position(|b| *b == b':').unwrap_or(line.len());
        let value = line.get(colon + 1..).unwrap_or_default();
        headers.push((line[..colon].to_vec(), value.trim_ascii().to_vec()));
    }
    let verify = |headers: &[(Vec<u8>, Vec<u8>)], body: &[u8]| {
        let pairs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        daemon::webhook::verify_raw(&pairs, body, secret, NOW)
    };
    let signed = match mode % 4 {
        0 => {
            headers.retain(|(n, _)| !signing_header(n));
            let signature = format!("sha256={}", hex(&hmac(secret, &[body])));
            headers.push((b"X-Hub-Signature-256".to_vec(), signature.into_bytes()));
            headers.push((b"X-GitHub-Delivery".to_vec(), b"d-1".to_vec()));
            true
        }
        1 if !secret.starts_with(b"whsec_") => {
            headers.retain(|(n, _)| !signing_header(n));
            let stamp = (NOW + i64::from(*mode) - 128).to_string();
            let signature = base64(&hmac(secret, &[b"msg_1.", stamp.as_bytes(), b".", body]));
            headers.push((b"webhook-id".to_vec(), b"msg_1".to_vec()));
            headers.push((b"webhook-timestamp".to_vec(), stamp.into_bytes()));
            headers.push((b"webhook-signature".to_vec(), format!("v1,AAAA v1,{signature}").into_bytes()));
            true
        }
        _ => false,
    };
    let result = verify(&headers, body);
    match &result {
        Ok(id) => assert!(!id.is_empty() && id.len() <= 256, "delivery id {id:?}"),
        Err((status, _)) => assert!(*status == 401 || *status == 500, "refused with {status}"),
    }
    if signed {
        assert!(result.is_ok(), "a correctly signed delivery refused: {result:?}");
        let mut other = body.to_vec();
        match other.first_mut() {
            Some(b) => *b ^= 1,
            None => other.push(b'x'),
        }
        assert!(verify(&headers, &other).is_err(), "a signature accepted for another body");
    }
}
