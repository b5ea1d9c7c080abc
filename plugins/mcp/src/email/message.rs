//! Pure mail logic, no IO: IMAP SEARCH queries from tool arguments, headers and bodies
//! of fetched mail (mail-parser; HTML as text; the body capped), and outgoing messages
//! built with lettre from arguments that are refused when a header would carry a CR or
//! LF (header injection).

use lettre::message::{Mailbox, Mailboxes, header::ContentType};
use mail_parser::MimeHeaders;
use serde_json::{Value, json};

use super::html;

/// The most text of a body a tool returns; the rest is cut with a note.
pub const BODY_CAP: usize = 64 * 1024;

/// An IMAP quoted string, or an error when the text cannot be one (a CR, LF or NUL).
pub fn quoted(what: &str, s: &str) -> Result<String, String> {
    if s.contains(['\r', '\n', '\0']) {
        return Err(format!("`{what}` holds a line break or NUL, which a search cannot carry"));
    }
    Ok(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// The `UID SEARCH` criteria for `search`'s arguments: `from`, `subject`, `text` (any
/// part), `since` (YYYY-MM-DD) and `unread`, all of which must match. Non-ASCII text
/// asks for `CHARSET UTF-8`.
pub fn search_criteria(args: &Value) -> Result<String, String> {
    let mut keys = Vec::new();
    for (arg, key) in [("from", "FROM"), ("subject", "SUBJECT"), ("text", "TEXT")] {
        if let Some(v) = args.get(arg).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()) {
            keys.push(format!("{key} {}", quoted(arg, v)?));
        }
    }
    if let Some(since) = args.get("since").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let date = chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d")
            .map_err(|_| format!("`since: {since}` is not a date like 2026-12-01"))?;
        keys.push(format!("SINCE {}", date.format("%-d-%b-%Y")));
    }
    if args.get("unread").and_then(Value::as_bool) == Some(true) {
        keys.push("UNSEEN".into());
    }
    let criteria = if keys.is_empty() { "ALL".to_string() } else { keys.join(" ") };
    Ok(if criteria.is_ascii() { criteria } else { format!("CHARSET UTF-8 {criteria}") })
}

/// An address list as text: `Name <a@b>, c@d`.
fn addresses(a: Option<&mail_parser::Address<'_>>) -> String {
    a.map(|a| {
        a.iter()
            .map(|addr| match (addr.name(), addr.address()) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (None, Some(e)) => e.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
    .unwrap_or_default()
}

/// Control characters other than new lines and tabs become spaces: a header or body from
/// outside must not move a terminal's cursor or hide text.
pub fn clean(s: &str) -> String {
    s.replace("\r\n", "\n").chars().map(|c| if c.is_control() && c != '\n' && c != '\t' { ' ' } else { c }).collect()
}

/// The headers `search` and `email.received` show, from a header block.
pub fn summary(header: &[u8]) -> Value {
    let parsed = mail_parser::MessageParser::default().parse_headers(header);
    let Some(m) = parsed else {
        return json!({ "from": "", "subject": "", "date": "", "message_id": "" });
    };
    json!({
        "from": clean(&addresses(m.from())),
        "subject": clean(m.subject().unwrap_or("")),
        "date": m.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        "message_id": clean(m.message_id().unwrap_or("")),
    })
}

/// A whole message for `read`: headers, the text body (HTML as text; capped) and its
/// attachments (name, type, size). `truncated` says the fetch stopped at the size cap,
/// so later attachments may be missing.
pub fn full(raw: &[u8], truncated: bool) -> Value {
    let Some(m) = mail_parser::MessageParser::default().parse(raw) else {
        return json!({ "body": "", "attachments": [], "note": "the message could not be parsed" });
    };
    let (body, from_html) = match m.text_bodies().next().filter(|p| !p.is_content_type("text", "html")) {
        Some(p) => (p.text_contents().unwrap_or("").to_string(), false),
        None => match m.html_bodies().next().and_then(|p| p.text_contents()) {
            Some(h) => (html::to_text(h), true),
            None => (String::new(), false),
        },
    };
    let mut body = clean(&body);
    let mut notes = Vec::new();
    if body.len() > BODY_CAP {
        let cut = (0..=BODY_CAP).rev().find(|i| body.is_char_boundary(*i)).unwrap_or(0);
        notes.push(format!("the body was cut at {BODY_CAP} of {} bytes", body.len()));
        body.truncate(cut);
    }
    if truncated {
        notes.push("the message is larger than the fetch limit: later parts and attachments may be missing".into());
    }
    let attachments: Vec<Value> = m
        .attachments()
        .map(|a| {
            let kind = a
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".into());
            json!({ "name": clean(a.attachment_name().unwrap_or("")), "type": kind, "size": a.len() })
        })
        .collect();
    json!({
        "from": clean(&addresses(m.from())),
        "to": clean(&addresses(m.to())),
        "cc": clean(&addresses(m.cc())),
        "reply_to": clean(&addresses(m.reply_to())),
        "subject": clean(m.subject().unwrap_or("")),
        "date": m.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        "message_id": clean(m.message_id().unwrap_or("")),
        "body": body,
        "body_from_html": from_html,
        "attachments": attachments,
        "notes": notes,
    })
}

/// Addresses from a string or a list of strings; a CR or LF is refused (header injection).
fn address_list(args: &Value, key: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = match args.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(format!("`{key}` holds a value that is not text")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("`{key}` is not an address or a list of addresses")),
    };
    let items: Vec<String> =
        items.into_iter().map(|s| s.trim_matches([' ', '\t']).to_string()).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = items.iter().find(|s| s.contains(['\r', '\n', '\0'])) {
        return Err(format!(
            "`{key}` holds a line break ({:?}): refused, a line break in a header would let the text add headers of its own",
            bad
        ));
    }
    Ok(items)
}

fn mailboxes(args: &Value, key: &str) -> Result<Option<Mailboxes>, String> {
    let list = address_list(args, key)?;
    if list.is_empty() {
        return Ok(None);
    }
    let mut boxes = Mailboxes::new();
    for a in list {
        boxes.push(a.parse::<Mailbox>().map_err(|e| format!("`{key}`: `{a}` is not an address ({e})"))?);
    }
    Ok(Some(boxes))
}

/// The message `send` and `draft` make from `to`, `cc`, `bcc`, `subject`, `body` and
/// `in_reply_to`; `from` is the account's address (a draft needs a recipient too).
pub fn outgoing(args: &Value, from: &str, name: Option<&str>) -> Result<lettre::Message, String> {
    let subject = args.get("subject").and_then(Value::as_str).unwrap_or("");
    if subject.contains(['\r', '\n', '\0']) {
        return Err(
            "`subject` holds a line break: refused, a line break in a header would let the text add headers of its own"
                .into(),
        );
    }
    let body = args.get("body").and_then(Value::as_str).unwrap_or("");
    let mut from_box: Mailbox =
        from.parse().map_err(|e| format!("`settings.address: {from}` is not an address ({e})"))?;
    if let Some(n) = name.filter(|n| !n.contains(['\r', '\n'])) {
        from_box.name = Some(n.to_string());
    }
    let mut builder = lettre::Message::builder().from(from_box).subject(subject);
    let (to, cc, bcc) = (mailboxes(args, "to")?, mailboxes(args, "cc")?, mailboxes(args, "bcc")?);
    if to.is_none() && cc.is_none() && bcc.is_none() {
        return Err("`to` is empty: a message needs at least one recipient".into());
    }
    for m in to.into_iter().flatten() {
        builder = builder.to(m);
    }
    for m in cc.into_iter().flatten() {
        builder = builder.cc(m);
    }
    for m in bcc.into_iter().flatten() {
        builder = builder.bcc(m);
    }
    if let Some(r) = args.get("in_reply_to").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        if r.contains(['\r', '\n', '\0']) || r.contains(char::is_whitespace) {
            return Err(
                "`in_reply_to` must be one Message-ID like <abc@example.org>, without spaces or line breaks".into()
            );
        }
        let id = if r.starts_with('<') { r.to_string() } else { format!("<{r}>") };
        builder = builder.in_reply_to(id.clone()).references(id);
    }
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    builder =
        builder.message_id(Some(format!("<{}.{}@{domain}>", chrono::Utc::now().timestamp_millis(), fastrand_id())));
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// A short random part for Message-IDs (from the clock's nanoseconds and the process id;
/// uniqueness, not secrecy, is what matters).
fn fastrand_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_criteria_quote_and_combine() {
        let q =
            search_criteria(&json!({"from": "bob", "subject": "say \"hi\"", "since": "2026-02-03", "unread": true}))
                .unwrap();
        assert_eq!(q, "FROM \"bob\" SUBJECT \"say \\\"hi\\\"\" SINCE 3-Feb-2026 UNSEEN");
        assert_eq!(search_criteria(&json!({})).unwrap(), "ALL");
        assert_eq!(search_criteria(&json!({"text": "café"})).unwrap(), "CHARSET UTF-8 TEXT \"café\"");
        assert!(search_criteria(&json!({"since": "yesterday"})).unwrap_err().contains("not a date"));
        assert!(search_criteria(&json!({"from": "a\r\nX DELETE"})).unwrap_err().contains("line break"));
    }

    #[test]
    fn a_line_break_in_a_header_is_refused() {
        let ok =
            outgoing(&json!({"to": ["bob@example.org"], "subject": "hi", "body": "x"}), "a@example.org", Some("A"));
        let raw = String::from_utf8(ok.unwrap().formatted()).unwrap();
        assert!(raw.contains("To: bob@example.org") && raw.contains("From: A <a@example.org>"), "{raw}");
        for args in [
            json!({"to": "bob@example.org", "subject": "hi\r\nBcc: eve@example.org"}),
            json!({"to": "bob@example.org\nBcc: eve@example.org", "subject": "hi"}),
            json!({"to": ["bob@example.org"], "cc": ["x@example.org\r\n"], "subject": "hi"}),
        ] {
            let e = outgoing(&args, "a@example.org", None).unwrap_err();
            assert!(e.contains("line break"), "{e}");
        }
        assert!(outgoing(&json!({"subject": "x"}), "a@example.org", None).unwrap_err().contains("`to` is empty"));
        assert!(
            outgoing(&json!({"to": "not an address"}), "a@example.org", None).unwrap_err().contains("not an address")
        );
    }

    #[test]
    fn bodies_are_text_capped_and_attachments_listed() {
        let raw = "From: Eve <eve@example.org>\r\nSubject: =?UTF-8?B?SGVsbG8g4pyT?=\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
                   <p>Hi</p><script>alert(1)</script>\x1b[2J\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\
                   Content-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n";
        let m = full(raw.as_bytes(), false);
        assert_eq!(m["subject"], "Hello ✓");
        assert_eq!(m["from"], "Eve <eve@example.org>");
        assert_eq!(m["body"], "Hi\n [2J", "{m}");
        assert_eq!(m["body_from_html"], true);
        assert_eq!(m["attachments"][0]["name"], "a.pdf");
        assert_eq!(m["attachments"][0]["type"], "application/pdf");
        let big = format!("Subject: big\r\n\r\n{}", "é".repeat(BODY_CAP));
        let m = full(big.as_bytes(), true);
        assert!(m["body"].as_str().unwrap().len() <= BODY_CAP);
        assert_eq!(m["notes"].as_array().unwrap().len(), 2, "{}", m["notes"]);
    }
}
