//! Tests of the Matrix client's pure parts: `split` under both limits and `parse_sync`
//! over odd and hostile JSON, and a network error that never carries the token.

use super::*;

fn json_bytes(s: &str) -> usize {
    s.chars().map(json_len).sum()
}

#[test]
fn long_text_is_cut_under_both_limits_at_paragraphs() {
    let para = "word ".repeat(2000);
    let text = format!("{para}\n\n{para}\n\n{para}\n\n{para}");
    let parts = split(&text);
    assert!(parts.len() >= 2, "{}", parts.len());
    assert!(parts.iter().all(|p| p.chars().count() <= MAX_CHARS && json_bytes(p) <= MAX_JSON_BYTES));
    assert!(parts.iter().all(|p| p.trim_end().ends_with("word") && p.starts_with("word")), "cut at whitespace");
    assert_eq!(parts.join(" ").split_whitespace().count(), text.split_whitespace().count());
    assert_eq!(split("short"), vec!["short".to_string()]);
    assert!(split("").is_empty() && split("\n\n  \n").is_empty());
}

#[test]
fn multibyte_and_escaped_text_is_never_cut_inside_a_char_nor_over_the_byte_cap() {
    for text in ["😀".repeat(20_000), "日本".repeat(9_000), "\u{1}".repeat(10_000), "\"".repeat(30_000)] {
        let parts = split(&text);
        assert!(parts.len() >= 2, "{}", parts.len());
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CHARS && json_bytes(p) <= MAX_JSON_BYTES));
        assert!(parts.iter().all(|p| serde_json::to_string(p).unwrap().len() - 2 == json_bytes(p)));
        assert_eq!(parts.concat(), text);
    }
    // One line of words just over the limit: cut at a space in the second half.
    let text = format!("{} tail", "a".repeat(MAX_CHARS - 2));
    assert_eq!(split(&text), vec!["a".repeat(MAX_CHARS - 2), "tail".to_string()]);
}

fn one_room(state: Value, timeline: Value) -> Value {
    json!({ "next_batch": "s2", "rooms": { "join": { "!r": { "state": { "events": state }, "timeline": timeline } } } })
}

#[test]
fn a_sync_gives_texts_reactions_encrypted_events_and_invites() {
    let sync = json!({
        "next_batch": "s9_1",
        "rooms": {
            "join": { "!v12roomWithoutServer": {
                "state": { "events": [ { "type": "m.room.encryption", "state_key": "", "content": { "algorithm": "m.megolm.v1.aes-sha2" } } ] },
                "timeline": { "limited": true, "events": [
                    { "type": "m.room.message", "event_id": "$1", "sender": "@Owner:hs", "content": { "msgtype": "m.text", "body": "hi" } },
                    { "type": "m.room.message", "event_id": "$2", "sender": "@owner:hs", "content": {
                        "msgtype": "m.text", "body": "> <@bot:hs> earlier\n> more\n\nyes", "format": "org.matrix.custom.html",
                        "formatted_body": "<mx-reply><blockquote>earlier</blockquote></mx-reply><b>yes</b>",
                        "m.relates_to": { "m.in_reply_to": { "event_id": "$0" } } } },
                    { "type": "m.reaction", "event_id": "$3", "sender": "@owner:hs", "content": {
                        "m.relates_to": { "rel_type": "m.annotation", "event_id": "$0", "key": "\u{2705}\u{FE0F}" } } },
                    { "type": "m.room.encrypted", "event_id": "$4", "sender": "@owner:hs", "content": { "ciphertext": "x" } },
                    { "type": "m.room.member", "event_id": "$5", "sender": "@owner:hs", "state_key": "@owner:hs", "content": { "membership": "join" } },
                ] },
            } },
            "invite": { "!inv": { "invite_state": { "events": [
                { "type": "m.room.name", "sender": "@x:hs", "state_key": "", "content": { "name": "n" } },
                { "type": "m.room.member", "sender": "@owner:hs", "state_key": "@bot:hs", "content": { "membership": "invite", "is_direct": true } },
            ] } } },
        },
    });
    let batch = parse_sync(&sync);
    assert_eq!(batch.next_batch, "s9_1");
    assert_eq!(batch.invites, vec![Invite { room_id: "!inv".into(), inviter: "@owner:hs".into(), direct: true }]);
    let [room] = batch.rooms.as_slice() else { panic!("{batch:?}") };
    assert_eq!((room.room_id.as_str(), room.encrypted, room.limited), ("!v12roomWithoutServer", true, true));
    let owner = || "@owner:hs".to_string();
    let text = |id: &str, sender: &str, body: &str, html: Option<&str>, reply: Option<&str>| Event::Text {
        event_id: id.into(),
        sender: sender.into(),
        body: body.into(),
        formatted_body: html.map(str::to_string),
        reply_to: reply.map(str::to_string),
    };
    let reaction = Event::Reaction { event_id: "$3".into(), sender: owner(), target: "$0".into(), key: "✅".into() };
    let expected = [
        text("$1", "@Owner:hs", "hi", None, None),
        text("$2", "@owner:hs", "yes", Some("<b>yes</b>"), Some("$0")),
        reaction,
        Event::Encrypted { event_id: "$4".into(), sender: owner() },
        Event::Other,
    ];
    assert_eq!(room.events, expected);
    // Encryption enabled in the timeline counts too; a room without it is not encrypted.
    let enc = json!([{ "type": "m.room.encryption", "state_key": "", "content": {} }]);
    assert!(parse_sync(&one_room(json!([]), json!({ "events": enc }))).rooms[0].encrypted);
    assert!(!parse_sync(&one_room(json!([]), json!({ "events": [] }))).rooms[0].encrypted);
}

#[test]
fn odd_and_hostile_json_is_skipped_not_fatal() {
    for sync in [
        json!(null),
        json!([]),
        json!("text"),
        json!({ "next_batch": 7, "rooms": [] }),
        json!({ "rooms": { "join": [], "invite": "x" } }),
        json!({ "rooms": { "join": { "!r": null }, "invite": { "!i": { "invite_state": { "events": {} } } } } }),
        json!({ "rooms": { "join": { "!r": { "timeline": { "events": [null, 1, "x", [], {}] }, "state": 5 } } } }),
    ] {
        let batch = parse_sync(&sync);
        assert!(batch.invites.is_empty(), "{sync}");
        assert!(batch.rooms.iter().all(|r| r.events.iter().all(|e| *e == Event::Other) && !r.encrypted), "{sync}");
    }
    let odd = |event: Value| parse_event(&event);
    let msg =
        |content: Value| json!({ "type": "m.room.message", "event_id": "$e", "sender": "@a:b", "content": content });
    // No body, a non-string body, media, notices, edits, redacted (empty) content.
    for content in [
        json!({ "msgtype": "m.text" }),
        json!({ "msgtype": "m.text", "body": 5 }),
        json!({ "msgtype": "m.image", "body": "cat.png" }),
        json!({ "msgtype": "m.notice", "body": "from a bot" }),
        json!({ "msgtype": "m.text", "body": "* fixed", "m.relates_to": { "rel_type": "m.replace", "event_id": "$x" } }),
        json!({}),
        json!("content"),
    ] {
        assert_eq!(odd(msg(content.clone())), Event::Other, "{content}");
    }
    // A state event of a message type, ids that are not strings.
    let mut state = msg(json!({ "msgtype": "m.text", "body": "hi" }));
    state["state_key"] = json!("");
    assert_eq!(odd(state), Event::Other);
    assert_eq!(odd(json!({ "type": "m.room.message", "event_id": 1, "sender": "@a:b", "content": {} })), Event::Other);
    // Reactions without a target, another relation, or only a variation selector.
    let reaction = |rel: Value| json!({ "type": "m.reaction", "event_id": "$r", "sender": "@a:b", "content": { "m.relates_to": rel } });
    for rel in [
        json!({ "rel_type": "m.annotation", "key": "x" }),
        json!({ "rel_type": "m.reference", "event_id": "$t", "key": "x" }),
        json!({ "rel_type": "m.annotation", "event_id": "$t", "key": "\u{FE0F}" }),
        json!("m.annotation"),
    ] {
        assert_eq!(odd(reaction(rel.clone())), Event::Other, "{rel}");
    }
    // Only a well-formed fallback is stripped: a quote the user typed stays.
    let reply = |body: &str| {
        odd(msg(
            json!({ "msgtype": "m.text", "body": body, "m.relates_to": { "m.in_reply_to": { "event_id": "$p" } } }),
        ))
    };
    assert!(
        matches!(reply("> quoted, not a fallback"), Event::Text { body, .. } if body == "> quoted, not a fallback")
    );
    assert!(matches!(reply("> <@a:b> no blank line"), Event::Text { body, .. } if body == "> <@a:b> no blank line"));
    assert!(matches!(reply("plain"), Event::Text { body, .. } if body == "plain"));
    // Two invites from different senders in unverified stripped state: ambiguous, skipped.
    let member = |sender: &str| json!({ "type": "m.room.member", "sender": sender, "state_key": "@bot:hs", "content": { "membership": "invite" } });
    let sync = json!({ "rooms": { "invite": { "!i": { "invite_state": { "events": [member("@owner:hs"), member("@evil:x")] } } } } });
    assert!(parse_sync(&sync).invites.is_empty());
}

#[test]
fn errors_explain_and_carry_no_token_and_paths_are_opaque() {
    let api = |status, errcode: &str, retry_after_ms| ApiError::Api {
        status,
        errcode: errcode.into(),
        error: "text".into(),
        retry_after_ms,
    };
    assert!(api(401, "M_UNKNOWN_TOKEN", None).to_string().contains("pyra channels add matrix"));
    assert_eq!(api(429, "M_LIMIT_EXCEEDED", Some(90_000)).rate_limited(), Some(MAX_RETRY_WAIT));
    assert_eq!(api(429, "", None).rate_limited(), Some(Duration::from_secs(1)));
    assert_eq!(api(403, "M_FORBIDDEN", None).rate_limited(), None);
    let client = Client::new("http://127.0.0.1:1/", "syt_secret_token_value");
    assert!(!format!("{client:?}").contains("syt_secret"));
    assert_eq!(encode("!abc_DEF-123:example.org"), "%21abc_DEF-123%3Aexample.org");
    assert_eq!(encode("$a/b+c=?# é"), "%24a%2Fb%2Bc%3D%3F%23%20%C3%A9");
}

#[tokio::test]
async fn an_unreachable_homeserver_is_a_net_error_without_the_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"), "syt_secret_token_value");
    let e = client.send_text("!r", "hi", "t1", false).await.unwrap_err();
    assert!(matches!(e, ApiError::Net { sent: false, .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("syt_secret"));
}
