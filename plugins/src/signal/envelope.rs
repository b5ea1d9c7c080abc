//! What arrives from signal-cli, as plain data: [`parse`] turns one `receive`
//! notification into an [`Envelope`] (never panicking, whatever the JSON), and [`split`]
//! cuts outgoing text so that Signal never turns it into a long-text attachment.
//!
//! The shapes are signal-cli's `JsonMessageEnvelope`, `JsonDataMessage`,
//! `JsonSyncMessage` / `JsonSyncDataMessage` (the data message's fields unwrapped next to
//! `destination*`), `JsonReaction` and `JsonQuote` (`src/main/java/org/asamk/signal/json/`
//! in AsamK/signal-cli). Fields signal-cli has no value for are `null`, not absent.

use serde_json::Value;

/// Text longer than this many UTF-8 bytes is cut by signal-cli and sent whole as a
/// `text/x-signal-plain` attachment (`ServiceConfig.MAX_MESSAGE_SIZE_BYTES`).
pub const MAX_BYTES: usize = 2000;

/// One received message, reduced to what a channel needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Stable id for deduplication: `<sender>:<timestamp>`.
    pub id: String,
    /// The sender's ACI (`sourceUuid`) when given, else `sourceNumber`; "" when neither.
    pub sender: String,
    pub sender_number: Option<String>,
    /// The message's timestamp (ms), which Signal uses as its id; for a sync message, the
    /// timestamp of the message the other device sent (= the `send` result's timestamp).
    pub timestamp: i64,
    /// `dataMessage.groupInfo.groupId` (base64).
    pub group: Option<String>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `dataMessage.message`, with the quoted message's text when it quotes one.
    Text { text: String, quote: Option<String> },
    /// `dataMessage.reaction`; `emoji` without U+FE0F / U+FE0E; `target_author` is the
    /// target's ACI when known, else its number.
    Reaction { emoji: String, target_author: String, target_timestamp: i64, remove: bool },
    /// A sync message from the account's own other device whose `sentMessage` went to the
    /// account itself. The caller must also drop the echoes of its own sends (a note to
    /// self it sent comes back like this): `timestamp` is the sent message's timestamp.
    NoteToSelf { text: String },
    /// Receipts, typing, calls, stories, edits, sync messages to others, group updates,
    /// attachments without text, unattributed envelopes, anything unknown.
    Ignored,
}

/// Parses a `receive` notification: the whole JSON-RPC message, its `params`, or the
/// `result` of a subscription (what [`super::Notifications`] yields). `None` when there is
/// no envelope at all. `account` is the account's number (`-a`); when empty, the
/// notification's own `account` is used.
pub fn parse(notification: &Value, account: &str) -> Option<Envelope> {
    let mut body = notification;
    if body.get("method").is_some() {
        body = body.get("params")?;
    }
    if body.get("envelope").is_none()
        && let Some(result) = body.get("result")
    {
        body = result;
    }
    let envelope = body.get("envelope").filter(|e| e.is_object())?;
    let account = match account {
        "" => text(body.get("account")).unwrap_or_default(),
        given => given.to_string(),
    };
    let uuid = text(envelope.get("sourceUuid"));
    let mut number = text(envelope.get("sourceNumber"));
    // `source` (deprecated) is the number when known, else the ACI.
    let legacy = text(envelope.get("source"));
    if number.is_none() && uuid.is_none() {
        number = legacy.clone().filter(|s| s.starts_with('+'));
    }
    let sender = uuid.or_else(|| number.clone()).or(legacy).unwrap_or_default();
    let mut timestamp = int(envelope.get("timestamp")).unwrap_or_default();
    let mut group = None;
    let kind = if sender.is_empty() {
        Kind::Ignored
    } else if let Some(data) = envelope.get("dataMessage").filter(|d| d.is_object()) {
        group = text(data.get("groupInfo").and_then(|g| g.get("groupId")));
        data_kind(data)
    } else if let Some(sent) = envelope.get("syncMessage").and_then(|s| s.get("sentMessage")).filter(|s| s.is_object())
    {
        let note = note_to_self(sent, &account, number.as_deref());
        if note != Kind::Ignored {
            timestamp = int(sent.get("timestamp")).unwrap_or(timestamp);
        }
        note
    } else {
        Kind::Ignored
    };
    Some(Envelope { id: format!("{sender}:{timestamp}"), sender, sender_number: number, timestamp, group, kind })
}

fn data_kind(data: &Value) -> Kind {
    if let Some(reaction) = data.get("reaction").filter(|r| r.is_object()) {
        let emoji: String = text(reaction.get("emoji"))
            .unwrap_or_default()
            .chars()
            .filter(|c| !matches!(c, '\u{FE0F}' | '\u{FE0E}'))
            .collect();
        let target_author = text(reaction.get("targetAuthorUuid"))
            .or_else(|| text(reaction.get("targetAuthorNumber")))
            .or_else(|| text(reaction.get("targetAuthor")));
        let target_timestamp = int(reaction.get("targetSentTimestamp"));
        return match (emoji.is_empty(), target_author, target_timestamp) {
            (false, Some(target_author), Some(target_timestamp)) => Kind::Reaction {
                emoji,
                target_author,
                target_timestamp,
                remove: reaction.get("isRemove").and_then(Value::as_bool).unwrap_or(false),
            },
            _ => Kind::Ignored,
        };
    }
    match text(data.get("message")) {
        Some(text_) => Kind::Text { text: text_, quote: text(data.get("quote").and_then(|q| q.get("text"))) },
        None => Kind::Ignored,
    }
}

/// A `sentMessage` to the account itself, from the account itself, with text.
fn note_to_self(sent: &Value, account: &str, source_number: Option<&str>) -> Kind {
    let destination = text(sent.get("destinationNumber")).or_else(|| text(sent.get("destination")));
    let to_self = !account.is_empty() && destination.as_deref() == Some(account);
    let from_self = source_number.is_none_or(|n| n == account);
    let plain = sent.get("groupInfo").is_none_or(Value::is_null)
        && sent.get("reaction").is_none_or(Value::is_null)
        && sent.get("editMessage").is_none_or(Value::is_null);
    match text(sent.get("message")) {
        Some(text) if to_self && from_self && plain => Kind::NoteToSelf { text },
        _ => Kind::Ignored,
    }
}

/// A non-empty string field.
fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// An integer field (Jackson writes `long` as a number; a numeric string is accepted).
fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Cuts `text` into messages of at most [`MAX_BYTES`] UTF-8 bytes, at a paragraph break,
/// else a line break, else a space in the second half of the window (a space anywhere
/// before a hard cut at a character boundary). The separator at a cut is dropped; nothing
/// else is. Empty or blank text gives no message.
pub fn split(text: &str) -> Vec<String> {
    crate::cut::cut(text, |rest| crate::cut::by_cost(rest, MAX_BYTES, char::len_utf8))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Envelope, Kind, MAX_BYTES, parse, split};

    const ACCOUNT: &str = "+4915100000001";
    const ALICE: &str = "a1b2c3d4-0000-4000-8000-00000000a11c";

    /// An envelope as signal-cli writes it, wrapped in a subscription's notification.
    fn notification(extra: Value) -> Value {
        let mut envelope = json!({
            "source": "+4915100000002", "sourceNumber": "+4915100000002", "sourceUuid": ALICE,
            "sourceName": "Alice", "sourceDevice": 1, "timestamp": 1_700_000_000_123_i64,
            "serverReceivedTimestamp": 1_700_000_000_200_i64, "serverDeliveredTimestamp": 1_700_000_000_300_i64,
        });
        for (key, value) in extra.as_object().unwrap() {
            envelope[key] = value.clone();
        }
        json!({"jsonrpc": "2.0", "method": "receive",
               "params": {"subscription": 0, "result": {"envelope": envelope, "account": ACCOUNT}}})
    }

    fn data(fields: Value) -> Value {
        let mut data = json!({"timestamp": 1_700_000_000_123_i64, "message": null, "expiresInSeconds": 0,
                              "isExpirationUpdate": false, "viewOnce": false});
        for (key, value) in fields.as_object().unwrap() {
            data[key] = value.clone();
        }
        json!({"dataMessage": data})
    }

    fn kind(value: &Value) -> Kind {
        parse(value, ACCOUNT).expect("an envelope").kind
    }

    #[test]
    fn a_data_message_in_every_wrapping() {
        let full = notification(data(json!({"message": "hello"})));
        let expected = Envelope {
            id: format!("{ALICE}:1700000000123"),
            sender: ALICE.into(),
            sender_number: Some("+4915100000002".into()),
            timestamp: 1_700_000_000_123,
            group: None,
            kind: Kind::Text { text: "hello".into(), quote: None },
        };
        assert_eq!(parse(&full, ACCOUNT), Some(expected.clone()));
        assert_eq!(parse(&full["params"], ACCOUNT), Some(expected.clone()));
        assert_eq!(parse(&full["params"]["result"], ACCOUNT), Some(expected.clone()));
        // `--receive-mode=on-start`: params are the result itself.
        let bare = json!({"jsonrpc": "2.0", "method": "receive", "params": full["params"]["result"]});
        assert_eq!(parse(&bare, ACCOUNT), Some(expected));
    }

    #[test]
    fn the_example_of_the_man_page() {
        // signal-cli-jsonrpc(5), automatic receiving.
        let line = r#"{"jsonrpc":"2.0","method":"receive","params":{"envelope":{"source":"+33123456789","sourceNumber":"+33123456789","sourceUuid":"uuid","sourceName":"name","sourceDevice":1,"timestamp":1631458508784,"dataMessage":{"timestamp":1631458508784,"message":"foobar","expiresInSeconds":0,"viewOnce":false,"mentions":[],"attachments":[],"contacts":[]}}}}"#;
        let parsed = parse(&serde_json::from_str(line).unwrap(), "+33000000000").unwrap();
        assert_eq!((parsed.id.as_str(), parsed.sender.as_str()), ("uuid:1631458508784", "uuid"));
        assert_eq!(parsed.kind, Kind::Text { text: "foobar".into(), quote: None });
        // Manual receiving: a sync message from the account's other device, to itself.
        let line = r#"{"jsonrpc":"2.0","method":"receive","params":{"subscription":0,"result":{"envelope":{"source":"+33123456789","sourceNumber":"+33123456789","sourceUuid":"uuid","sourceName":"name","sourceDevice":2,"timestamp":1693064367769,"syncMessage":{"sentMessage":{"destination":"+33123456789","destinationNumber":"+33123456789","destinationUuid":"uuid","timestamp":1693064367769,"message":"j","expiresInSeconds":0,"viewOnce":false}}},"account":"+33123456789"}}}"#;
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(kind_for(&value, "+33123456789"), Kind::NoteToSelf { text: "j".into() });
        // The account from the notification when the caller gives none.
        assert_eq!(kind_for(&value, ""), Kind::NoteToSelf { text: "j".into() });
        assert_eq!(kind_for(&value, "+33999999999"), Kind::Ignored);
    }

    fn kind_for(value: &Value, account: &str) -> Kind {
        parse(value, account).unwrap().kind
    }

    #[test]
    fn a_group_message_and_a_quote() {
        let group = json!({"groupId": "Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI=", "groupName": "Family",
                           "revision": 4, "type": "DELIVER"});
        let parsed = parse(&notification(data(json!({"message": "hi all", "groupInfo": group}))), ACCOUNT).unwrap();
        assert_eq!(parsed.group.as_deref(), Some("Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI="));
        assert_eq!(parsed.kind, Kind::Text { text: "hi all".into(), quote: None });
        let quote = json!({"id": 1_699_999_999_000_i64, "author": ACCOUNT, "authorNumber": ACCOUNT,
                           "authorUuid": null, "text": "the question", "attachments": []});
        let value = notification(data(json!({"message": "yes", "quote": quote})));
        assert_eq!(kind(&value), Kind::Text { text: "yes".into(), quote: Some("the question".into()) });
        // A quote of an attachment has no text.
        let quote = json!({"id": 1, "author": ACCOUNT, "text": null, "attachments": [{"contentType": "image/png"}]});
        assert_eq!(
            kind(&notification(data(json!({"message": "nice", "quote": quote})))),
            Kind::Text { text: "nice".into(), quote: None }
        );
        // A group update has no text.
        let update = json!({"groupId": "Zm9v", "groupName": "x", "revision": 5, "type": "UPDATE"});
        assert_eq!(kind(&notification(data(json!({"groupInfo": update})))), Kind::Ignored);
    }

    #[test]
    fn a_reaction_without_its_variation_selector() {
        let reaction = json!({"emoji": "\u{2714}\u{FE0F}", "targetAuthor": ACCOUNT, "targetAuthorNumber": ACCOUNT,
                              "targetAuthorUuid": "0000aaaa-0000-4000-8000-000000000001",
                              "targetSentTimestamp": 1_700_000_000_001_i64, "isRemove": false});
        assert_eq!(
            kind(&notification(data(json!({"reaction": reaction.clone()})))),
            Kind::Reaction {
                emoji: "\u{2714}".into(),
                target_author: "0000aaaa-0000-4000-8000-000000000001".into(),
                target_timestamp: 1_700_000_000_001,
                remove: false,
            }
        );
        let mut removed = reaction;
        removed["isRemove"] = json!(true);
        removed["targetAuthorUuid"] = Value::Null;
        removed["emoji"] = json!("\u{274C}\u{FE0E}");
        assert_eq!(
            kind(&notification(data(json!({"reaction": removed})))),
            Kind::Reaction {
                emoji: "\u{274C}".into(),
                target_author: ACCOUNT.into(),
                target_timestamp: 1_700_000_000_001,
                remove: true,
            }
        );
        // Without a target there is nothing to act on.
        let broken = json!({"emoji": "\u{1F44D}", "targetAuthor": null, "targetSentTimestamp": 5});
        assert_eq!(kind(&notification(data(json!({"reaction": broken})))), Kind::Ignored);
    }

    #[test]
    fn sync_messages_only_count_as_notes_to_self() {
        let own = json!({"source": ACCOUNT, "sourceNumber": ACCOUNT,
                         "sourceUuid": "0000aaaa-0000-4000-8000-000000000001", "sourceDevice": 1});
        let sync = |sent: Value| {
            let mut extra = own.clone();
            extra["syncMessage"] = json!({"sentMessage": sent});
            notification(extra)
        };
        let sent = |destination: Value, text: &str| {
            json!({"destination": destination, "destinationNumber": destination, "destinationUuid": null,
                   "timestamp": 1_700_000_000_555_i64, "message": text, "expiresInSeconds": 0, "viewOnce": false})
        };
        let note = parse(&sync(sent(json!(ACCOUNT), "remember the milk")), ACCOUNT).unwrap();
        assert_eq!(note.kind, Kind::NoteToSelf { text: "remember the milk".into() });
        assert_eq!((note.timestamp, note.sender_number.as_deref()), (1_700_000_000_555, Some(ACCOUNT)));
        // The user writing to a friend from their phone: never the bot's business.
        assert_eq!(kind(&sync(sent(json!("+4915100000002"), "see you at 8"))), Kind::Ignored);
        // To a group, even from the account itself.
        let mut to_group = sent(Value::Null, "in the group");
        to_group["groupInfo"] = json!({"groupId": "Zm9v", "type": "DELIVER"});
        assert_eq!(kind(&sync(to_group)), Kind::Ignored);
        // Read markers, blocked lists, contact syncs.
        let mut read = own.clone();
        read["syncMessage"] = json!({"readMessages": [{"sender": "+4915100000002", "timestamp": 1}]});
        assert_eq!(kind(&notification(read)), Kind::Ignored);
        let mut contacts = own;
        contacts["syncMessage"] = json!({"type": "CONTACTS_SYNC"});
        assert_eq!(kind(&notification(contacts)), Kind::Ignored);
    }

    #[test]
    fn receipts_typing_and_others_are_ignored() {
        let receipt = json!({"receiptMessage": {"when": 1_700_000_000_999_i64, "isDelivery": true, "isRead": false,
                                                "isViewed": false, "timestamps": [1_700_000_000_001_i64]}});
        assert_eq!(kind(&notification(receipt)), Kind::Ignored);
        let typing = json!({"typingMessage": {"action": "STARTED", "timestamp": 1_700_000_000_999_i64}});
        assert_eq!(kind(&notification(typing)), Kind::Ignored);
        assert_eq!(kind(&notification(json!({"callMessage": {"offerMessage": {"id": 1}}}))), Kind::Ignored);
        assert_eq!(kind(&notification(json!({"storyMessage": {"allowsReplies": true}}))), Kind::Ignored);
        assert_eq!(kind(&notification(json!({"editMessage": {"targetSentTimestamp": 1}}))), Kind::Ignored);
        // An attachment without text, a remote delete.
        assert_eq!(kind(&notification(data(json!({"attachments": [{"contentType": "image/jpeg"}]})))), Kind::Ignored);
        assert_eq!(kind(&notification(data(json!({"remoteDelete": {"timestamp": 1}})))), Kind::Ignored);
    }

    #[test]
    fn who_sent_it() {
        // A sender who hides their number.
        let mut hidden = data(json!({"message": "hi"}));
        hidden["source"] = json!(ALICE);
        hidden["sourceNumber"] = Value::Null;
        let parsed = parse(&notification(hidden), ACCOUNT).unwrap();
        assert_eq!((parsed.sender.as_str(), parsed.sender_number), (ALICE, None));
        // Only the deprecated `source`.
        let mut legacy = data(json!({"message": "hi"}));
        legacy["sourceUuid"] = Value::Null;
        legacy["sourceNumber"] = Value::Null;
        let parsed = parse(&notification(legacy), ACCOUNT).unwrap();
        assert_eq!(
            (parsed.sender.as_str(), parsed.sender_number.as_deref()),
            ("+4915100000002", Some("+4915100000002"))
        );
        // Nobody: an envelope signal-cli could not attribute is never acted on.
        let value = json!({"envelope": {"source": null, "sourceNumber": null, "sourceUuid": null, "timestamp": 7,
                                        "dataMessage": {"message": "who am I"}},
                           "account": ACCOUNT, "exception": {"message": "decryption failed", "type": "x"}});
        let parsed = parse(&value, ACCOUNT).unwrap();
        assert_eq!((parsed.sender.as_str(), parsed.id.as_str(), parsed.kind), ("", ":7", Kind::Ignored));
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            json!(null),
            json!(42),
            json!("receive"),
            json!([]),
            json!({}),
            json!({"method": "receive"}),
            json!({"method": "receive", "params": null}),
            json!({"method": "receive", "params": {"subscription": 0, "result": null}}),
            json!({"envelope": null}),
            json!({"envelope": "text"}),
            json!({"envelope": []}),
            json!({"envelope": {"sourceUuid": 5, "timestamp": "soon", "dataMessage": "hello"}}),
            json!({"envelope": {"sourceUuid": "u", "timestamp": 1.5, "dataMessage": {"message": ["a"], "reaction": 3}}}),
            json!({"envelope": {"sourceUuid": "u", "dataMessage": {"reaction": {"emoji": 1, "targetSentTimestamp": {}}}}}),
            json!({"envelope": {"sourceUuid": "u", "syncMessage": {"sentMessage": [1, 2]}}}),
            json!({"envelope": {"sourceUuid": "u", "syncMessage": "x", "dataMessage": null}}),
            json!({"envelope": {"sourceUuid": "u", "timestamp": u64::MAX}}),
        ];
        for sample in &samples {
            let parsed = parse(sample, ACCOUNT);
            if let Some(envelope) = parsed {
                assert!(matches!(envelope.kind, Kind::Ignored), "{sample}: {envelope:?}");
            }
        }
        assert_eq!(parse(&json!({"envelope": "text"}), ACCOUNT), None);
        let odd = json!({"envelope": {"sourceUuid": "u", "timestamp": "17", "dataMessage": {"message": "ok"}}});
        assert_eq!(parse(&odd, ACCOUNT).unwrap().timestamp, 17);
    }

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split("hello"), vec!["hello".to_string()]);
        assert!(split("").is_empty() && split(" \n ").is_empty());
        let exactly = "x".repeat(MAX_BYTES);
        assert_eq!(split(&exactly), vec![exactly.clone()]);
    }

    #[test]
    fn long_text_splits_at_paragraphs_then_lines_then_spaces() {
        let paragraph = "word ".repeat(300); // 1500 bytes
        let text = format!("{}\n\n{}\n\n{}", paragraph.trim_end(), paragraph.trim_end(), "end");
        let chunks = split(&text);
        assert_eq!(chunks, vec![paragraph.trim_end().to_string(), format!("{}\n\nend", paragraph.trim_end())]);
        let lines = (0..200).map(|i| format!("line {i:03}")).collect::<Vec<_>>().join("\n");
        let chunks = split(&lines);
        assert!(chunks.iter().all(|c| c.len() <= MAX_BYTES && c.starts_with("line ") && !c.ends_with('\n')));
        assert_eq!(chunks.join("\n"), lines);
        let words = "abcdefghi ".repeat(450);
        let chunks = split(&words);
        assert!(chunks.iter().all(|c| c.len() <= MAX_BYTES && !c.starts_with(' ')), "{chunks:?}");
        assert_eq!(chunks.join(" "), words);
    }

    #[test]
    fn multibyte_text_is_cut_on_characters_within_the_byte_limit() {
        // 4-byte emoji and 3-byte CJK without any space: hard cuts, at character boundaries.
        let text = "\u{1F600}\u{4E2D}".repeat(700);
        let chunks = split(&text);
        assert!(chunks.len() >= 3);
        assert!(
            chunks.iter().all(|c| c.len() <= MAX_BYTES),
            "{:?}",
            chunks.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(chunks.concat(), text);
        // A 2,000-character text of 2-byte letters is 4,000 bytes: Signal would attach it.
        let umlauts = "\u{E4}".repeat(2000);
        assert_eq!(split(&umlauts).len(), 2);
    }
}
