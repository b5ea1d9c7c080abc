//! The fake's HTTP/1.1 side, by hand: requests read one after another on a kept-alive
//! connection (reqwest reuses them), parameters gathered from the query string and a JSON
//! or form body, answers written with a content-length. A long poll watches its socket so
//! that it ends when the client hangs up.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;

use serde_json::{Map, Value};

use super::{Shared, methods};

/// Parameters given as strings (query, form) that Telegram reads as integers.
const INTS: &[&str] =
    &["chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "message_thread_id", "cache_time"];
const BOOLS: &[&str] =
    &["show_alert", "disable_notification", "drop_pending_updates", "allow_sending_without_reply", "protect_content"];
/// Parameters that are JSON-serialised objects or lists.
const JSONS: &[&str] = &["reply_markup", "entities", "allowed_updates", "reply_parameters", "link_preview_options"];

pub(super) fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let _verb = parts.next();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_ascii_lowercase());
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            match read_chunked(&mut reader) {
                Some(b) => b,
                None => return,
            }
        } else {
            let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut b = vec![0; length];
            if reader.read_exact(&mut b).is_err() {
                return;
            }
            b
        };
        let close = header("connection").is_some_and(|v| v == "close");
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut params = Map::new();
        for (k, v) in form_pairs(query) {
            params.insert(k, Value::String(v));
        }
        let kind = header("content-type").unwrap_or_default();
        if kind.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in form_pairs(&String::from_utf8_lossy(&body)) {
                params.insert(k, Value::String(v));
            }
        } else if !body.is_empty()
            && let Ok(Value::Object(fields)) = serde_json::from_slice(&body)
        {
            params.extend(fields);
        }
        normalise(&mut params);
        let gone = || hung_up(&writer);
        let Some((status, answer)) = methods::handle(shared, path, params, &gone) else {
            return;
        };
        if !respond(&mut writer, status, &answer) || close {
            return;
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// True once the client closed its side (or the socket failed); reads nothing.
fn hung_up(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let peeked = stream.peek(&mut [0u8; 1]);
    let _ = stream.set_nonblocking(false);
    match peeked {
        Ok(n) => n == 0,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn respond(w: &mut TcpStream, status: u16, answer: &Value) -> bool {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    };
    let body = answer.to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n",
        body.len()
    );
    // One write: a head and a body written apart wait out the client's delayed ACK (Nagle).
    w.write_all(format!("{head}{body}").as_bytes()).is_ok() && w.flush().is_ok()
}

/// `a=1&b=x+y%21` as decoded pairs.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Strings that Telegram would read as numbers, booleans or JSON become those, so that a
/// call reads the same however its parameters came.
fn normalise(params: &mut Map<String, Value>) {
    for (key, value) in params.iter_mut() {
        let Value::String(s) = value else { continue };
        let parsed = if INTS.contains(&key.as_str()) {
            s.trim().parse::<i64>().ok().map(Value::from)
        } else if BOOLS.contains(&key.as_str()) {
            match s.as_str() {
                "true" | "True" | "1" => Some(Value::Bool(true)),
                "false" | "False" | "0" => Some(Value::Bool(false)),
                _ => None,
            }
        } else if JSONS.contains(&key.as_str()) {
            serde_json::from_str(s).ok()
        } else {
            None
        };
        if let Some(v) = parsed {
            *value = v;
        }
    }
}
