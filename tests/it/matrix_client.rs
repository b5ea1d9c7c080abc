//! `plugins::matrix` against a real Synapse (`synapse.rs`; skipped without one): an invite
//! seen by the first sync, a join, a text whose sender is the exact MXID, a reply that
//! arrives once, reactions, an encrypted room reported as such, sends that meet a 429 and
//! still deliver exactly one event each, a repeated transaction id that delivers nothing
//! new, a redaction, a gap (`limited`), and errors that never carry the access token.
//! Every wait is a long poll with a deadline, never a fixed sleep.

use std::time::{Duration, Instant};

use plugins::matrix::{ApiError, Client, Event, Invite, parse_sync};
use serde_json::{Value, json};

use crate::synapse::{Synapse, synapse, unique};

/// What the bot's syncs brought since the last look.
#[derive(Default)]
struct Seen {
    invites: Vec<Invite>,
    /// (room, event), oldest first.
    events: Vec<(String, Event)>,
    encrypted: Vec<String>,
    limited: Vec<String>,
}

impl Seen {
    fn event(&self, id: &str) -> Option<&Event> {
        self.events.iter().map(|(_, e)| e).find(|e| event_id(e) == Some(id))
    }
}

fn event_id(event: &Event) -> Option<&str> {
    match event {
        Event::Text { event_id, .. } | Event::Reaction { event_id, .. } | Event::Encrypted { event_id, .. } => {
            Some(event_id)
        }
        Event::Other => None,
    }
}

/// The bot: a client, a runtime to drive it, and its sync position.
struct Bot {
    client: Client,
    rt: tokio::runtime::Runtime,
    since: Option<String>,
}

impl Bot {
    fn run<T>(&self, call: impl Future<Output = T>) -> T {
        self.rt.block_on(call)
    }

    /// Syncs until `done` holds for what arrived (panics after 30 s).
    #[track_caller]
    fn sync_until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Seen::default();
        loop {
            let reply = self.run(self.client.sync(self.since.as_deref(), 2000)).expect("sync");
            let batch = parse_sync(&reply);
            assert!(!batch.next_batch.is_empty(), "{reply}");
            self.since = Some(batch.next_batch);
            seen.invites.extend(batch.invites);
            for room in batch.rooms {
                if room.encrypted {
                    seen.encrypted.push(room.room_id.clone());
                }
                if room.limited {
                    seen.limited.push(room.room_id.clone());
                }
                seen.events.extend(room.events.into_iter().map(|e| (room.room_id.clone(), e)));
            }
            if done(&seen) {
                return seen;
            }
            assert!(Instant::now() < deadline, "no {what} within 30 s");
        }
    }
}

fn bodies<'a>(events: &'a [Value], sender: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .filter_map(|e| e["content"]["body"].as_str())
        .collect()
}

fn new_bot(hs: &Synapse) -> (Bot, String, String) {
    let (bot_id, token) = hs.register(&unique("pyrabot"), "bot-password");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    (Bot { client: Client::new(&format!("{}/", hs.url), &token), rt, since: None }, bot_id, token)
}

#[test]
fn the_matrix_client_syncs_joins_sends_and_reacts() {
    let Some(hs) = synapse() else { return };
    let (mut bot, bot_id, bot_token) = new_bot(hs);
    let owner_name = unique("owner");
    let (owner_id, _) = hs.register(&owner_name, "owner-password");
    let mut errors = Vec::new();

    // Logging in with a password gives a token for the same account; a wrong password is a
    // 403 that does not repeat it.
    let (owner_token, user_id, device) =
        bot.run(Client::login_password(&hs.url, &owner_name, "owner-password")).expect("login");
    assert_eq!((user_id.as_str(), device.is_empty()), (owner_id.as_str(), false));
    let owner = hs.user(&owner_token);
    let wrong = bot.run(Client::login_password(&hs.url, &owner_name, "not-the-password-at-all")).unwrap_err();
    assert!(matches!(&wrong, ApiError::Api { status: 403, errcode, .. } if errcode == "M_FORBIDDEN"), "{wrong:?}");
    assert!(!format!("{wrong} {wrong:?}").contains("not-the-password"));
    assert_eq!(bot.run(bot.client.whoami()).expect("whoami"), bot_id);

    // The first sync sees the invite, from the owner's exact id.
    let room = owner.create_room(&[&bot_id], false);
    let seen = bot.sync_until("invite", |s| !s.invites.is_empty());
    assert_eq!(seen.invites, [Invite { room_id: room.clone(), inviter: owner_id.clone(), direct: false }]);
    bot.run(bot.client.join(&room)).expect("join");
    // A direct chat's invite says so.
    let dm = json!({ "preset": "trusted_private_chat", "is_direct": true, "invite": [bot_id] });
    let (status, dm) = hs.http("POST", "/_matrix/client/v3/createRoom", Some(&owner_token), Some(&dm));
    assert_eq!(status, 200, "{dm}");
    let seen = bot.sync_until("the direct invite", |s| !s.invites.is_empty());
    assert_eq!(
        seen.invites,
        [Invite { room_id: dm["room_id"].as_str().unwrap().into(), inviter: owner_id.clone(), direct: true }]
    );

    let hello = owner.send(&room, "hello bot");
    let seen = bot.sync_until("the owner's text", |s| s.event(&hello).is_some());
    let Some(Event::Text { sender, body, reply_to: None, .. }) = seen.event(&hello) else {
        panic!("{:?}", seen.events)
    };
    assert_eq!((sender.as_str(), body.as_str()), (owner_id.as_str(), "hello bot"));
    assert!(!seen.encrypted.contains(&room));

    // A reply arrives once; a notice is an m.notice; the bot's own echo comes back (the
    // channel drops it by sender).
    let reply = bot.run(bot.client.send_text(&room, "hello owner", "t-reply", false)).expect("send");
    let notice = bot.run(bot.client.send_text(&room, "a note", "t-notice", true)).expect("notice");
    let events = owner.messages(&room);
    assert_eq!(bodies(&events, &bot_id), ["hello owner", "a note"]);
    let kind = |id: &str| events.iter().find(|e| e["event_id"] == id).map(|e| e["content"]["msgtype"].clone());
    assert_eq!((kind(&reply), kind(&notice)), (Some(json!("m.text")), Some(json!("m.notice"))));

    // Reactions, with and without the variation selector, parse to the same key.
    owner.react(&room, &reply, "✅\u{FE0F}");
    let own = bot.run(bot.client.react(&room, &hello, "👀", "t-react")).expect("react");
    let seen = bot.sync_until("the reactions", |s| s.event(&own).is_some());
    let reactions: Vec<_> = seen.events.iter().filter(|(_, e)| matches!(e, Event::Reaction { .. })).collect();
    assert!(
        reactions.iter().any(|(_, e)| matches!(e,
            Event::Reaction { sender, target, key, .. } if *sender == owner_id && *target == reply && key == "✅")),
        "{reactions:?}"
    );
    assert!(
        seen.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Text { event_id, sender, .. } if *event_id == reply && *sender == bot_id))
    );

    // An encrypted room says so, and its messages are `Encrypted`.
    let secret_room = owner.create_room(&[&bot_id], true);
    bot.sync_until("the second invite", |s| s.invites.iter().any(|i| i.room_id == secret_room));
    bot.run(bot.client.join(&secret_room)).expect("join");
    let ciphertext = json!({ "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnB", "sender_key": "k", "session_id": "s", "device_id": "D" });
    let sealed = owner.send_event(&secret_room, "m.room.encrypted", &ciphertext);
    let seen = bot.sync_until("the encrypted message", |s| s.event(&sealed).is_some());
    assert!(seen.encrypted.contains(&secret_room), "{:?}", seen.encrypted);
    assert_eq!(seen.event(&sealed), Some(&Event::Encrypted { event_id: sealed.clone(), sender: owner_id.clone() }));

    // Errors (no such room, a room the bot is not in, a wrong token) never carry a token.
    for e in [
        bot.run(bot.client.join("!nosuchroomanywhere")).unwrap_err(),
        bot.run(bot.client.send_text(&owner.create_room(&[], false), "x", "t-x", false)).unwrap_err(),
        bot.run(Client::new(&hs.url, "syt_d3JvbmcK_notTheRealTokenAtAll_0abcde").whoami()).unwrap_err(),
    ] {
        assert!(matches!(e, ApiError::Api { status: 401 | 403 | 404, .. }), "{e:?}");
        errors.push(format!("{e} {e:?}"));
    }
    assert!(errors[2].contains("pyra channels add matrix"), "{}", errors[2]);
    for text in &errors {
        assert!(!text.contains(&bot_token) && !text.contains("notTheRealToken"), "{text}");
    }
}

#[test]
fn sends_that_meet_a_429_deliver_once_and_a_reused_txn_id_delivers_nothing() {
    let Some(hs) = synapse() else { return };
    let (mut bot, bot_id, _) = new_bot(hs);
    let (_, owner_token) = hs.register(&unique("owner"), "owner-password");
    let owner = hs.user(&owner_token);
    let room = owner.create_room(&[&bot_id], false);
    bot.run(bot.client.join(&room)).expect("join");

    // One message a second, no burst: the second of two quick sends meets a 429 (the
    // access log shows it), waits what the server asked and goes through.
    hs.override_ratelimit(&bot_id, 1, 1);
    let txn = |n: &str| format!("{bot_id}-{n}");
    let first = bot.run(bot.client.send_text(&room, "one", &txn("1"), false)).expect("first send");
    let second = bot.run(bot.client.send_text(&room, "two", &txn("2"), false)).expect("second send");
    assert_ne!(first, second);
    let limited = hs.log_lines(&format!("/send/m.room.message/{}", crate::synapse::enc(&txn("2"))));
    assert!(limited.iter().any(|l| l.contains(" 429 ")), "{limited:#?}");
    assert!(limited.iter().any(|l| l.contains(" 200 ")), "{limited:#?}");
    assert_eq!(bodies(&owner.messages(&room), &bot_id), ["one", "two"]);

    // The same transaction id again: the server answers with the first event, and nothing
    // new appears.
    let again = bot.run(bot.client.send_text(&room, "one", &txn("1"), false)).expect("resend");
    assert_eq!(again, first);
    assert_eq!(bodies(&owner.messages(&room), &bot_id), ["one", "two"]);

    // A redaction empties the event's content.
    hs.override_ratelimit(&bot_id, 0, 0);
    bot.run(bot.client.redact(&room, &first, &txn("r"))).expect("redact");
    let events = owner.messages(&room);
    let redacted = events.iter().find(|e| e["event_id"] == first.as_str()).expect("still listed");
    assert_eq!(redacted["content"], json!({}), "{redacted}");

    // More than a sync's timeline limit since the last sync: a gap, reported.
    bot.sync_until("a first sync", |_| true);
    for i in 0..plugins::matrix::TIMELINE_LIMIT + 5 {
        owner.send(&room, &format!("burst {i}"));
    }
    let seen = bot.sync_until("the burst", |s| !s.events.is_empty());
    assert!(seen.limited.contains(&room), "no gap reported");
    assert!(seen.events.len() <= plugins::matrix::TIMELINE_LIMIT as usize);
}
