//! `plugins::signal::Client` against the signal-cli mock (`signal_mock.rs`), over TCP
//! (`Client::connect`, as to `signal-cli daemon --tcp`) and over stdio through the shim
//! (`Client::spawn`, as Pyra runs `signal-cli -a ACCOUNT jsonRpc --receive-mode=manual`):
//! receiving only once subscribed and each queued message once, what `parse` makes of each
//! kind of envelope, sends and their timestamps, errors, a dying signal-cli, and no process
//! left after `shutdown`.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use plugins::signal::{Client, Envelope, Kind, Notifications, RpcError, parse};
use serde_json::{Value, json};

use crate::signal_mock::{ACCOUNT_UUID, SignalMock, VERSION};

const ACCOUNT: &str = "+4915100000001";
const ALICE: &str = "a11ce000-0000-4000-8000-0000000a11ce";
const ALICE_NUMBER: &str = "+4915100000002";
const BOB: &str = "b0b00000-0000-4000-8000-000000000b0b";
const GROUP: &str = "Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI=";
const WAIT: Duration = Duration::from_secs(10);

fn run<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(test)
}

/// The next notification, parsed.
async fn next(notes: &mut Notifications) -> Envelope {
    let value = tokio::time::timeout(WAIT, notes.recv()).await.expect("a notification in time").expect("open");
    parse(&value, ACCOUNT).unwrap_or_else(|| panic!("not an envelope: {value}"))
}

/// Polls `done` every 10 ms until it holds; panics after `WAIT`.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing arrives: a round trip to signal-cli first, so anything it had sent is in.
async fn nothing_pending(client: &Client, notes: &mut Notifications) {
    client.call("version", Value::Null, WAIT).await.expect("version");
    tokio::task::yield_now().await;
    assert!(notes.try_recv().is_err(), "something arrived");
}

/// Spawns the shim (retrying while the fresh script is "text file busy" in a child another
/// test thread forked).
async fn spawn(shim: &Path, account: &str) -> (Client, Notifications) {
    let program = shim.to_str().expect("utf-8 path");
    let env = [("SIGNAL_MOCK_TEST".to_string(), "1".to_string())];
    for _ in 0..50 {
        match Client::spawn(program, account, &env).await {
            Err(RpcError::Io(message)) if message.contains("busy") => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            started => return started.expect("spawn the shim"),
        }
    }
    panic!("the shim stayed busy");
}

/// Pids of live processes in process group `group` (zombies count as gone).
fn group_members(group: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
        if fields.len() > 2 && fields[2] == group.to_string() && !matches!(fields[0], "Z" | "X") {
            members.push(pid);
        }
    }
    members
}

#[test]
fn over_tcp_messages_wait_for_the_subscription_and_arrive_once() {
    let mock = SignalMock::start(ACCOUNT);
    let queued = mock.push_text(ALICE, Some(ALICE_NUMBER), "sent while Pyra was down");
    run(async {
        let (client, mut notes) = Client::connect(&mock.address).await.expect("connect");
        // Manual receive mode: nothing is fetched before subscribeReceive.
        nothing_pending(&client, &mut notes).await;
        assert_eq!(mock.queued(), 1);
        client.subscribe_receive().await.expect("subscribe");
        assert_eq!(mock.requests("subscribeReceive"), vec![Value::Null], "no params");
        let first = next(&mut notes).await;
        assert_eq!(
            first,
            Envelope {
                id: format!("{ALICE}:{queued}"),
                sender: ALICE.into(),
                sender_number: Some(ALICE_NUMBER.into()),
                timestamp: queued,
                group: None,
                kind: Kind::Text { text: "sent while Pyra was down".into(), quote: None },
            }
        );
        assert_eq!(mock.queued(), 0);

        // A sender who hides their number; a group; a reaction to Pyra's own message.
        mock.push_text(BOB, None, "hi");
        let bob = next(&mut notes).await;
        assert_eq!((bob.sender.as_str(), bob.sender_number), (BOB, None));
        mock.push_group_text(GROUP, ALICE, Some(ALICE_NUMBER), "hello group");
        let group = next(&mut notes).await;
        assert_eq!(group.group.as_deref(), Some(GROUP));
        assert_eq!(group.kind, Kind::Text { text: "hello group".into(), quote: None });
        let sent = client.send_text(ALICE, "Approve? react with \u{2705}").await.expect("send");
        mock.push_reaction(ALICE, "\u{2705}\u{FE0F}", ACCOUNT, sent);
        assert_eq!(
            next(&mut notes).await.kind,
            Kind::Reaction {
                emoji: "\u{2705}".into(),
                target_author: ACCOUNT_UUID.into(),
                target_timestamp: sent,
                remove: false,
            }
        );

        // A reply quoting Pyra's message, in signal-cli's `JsonQuote` shape.
        let quote = json!({"id": sent, "author": ACCOUNT, "authorNumber": ACCOUNT, "authorUuid": ACCOUNT_UUID,
                           "text": "Approve?", "attachments": []});
        let data = json!({"timestamp": 1, "message": "yes", "expiresInSeconds": 0, "viewOnce": false, "quote": quote});
        mock.push_envelope(ALICE, json!({"dataMessage": data}));
        assert_eq!(next(&mut notes).await.kind, Kind::Text { text: "yes".into(), quote: Some("Approve?".into()) });

        // The user's phone: to a friend (ignored), to themselves (a note to self).
        mock.push_sync_sent(ALICE_NUMBER, "dinner at 8?");
        assert_eq!(next(&mut notes).await.kind, Kind::Ignored);
        let note = mock.push_sync_sent(ACCOUNT, "remember the milk");
        let parsed = next(&mut notes).await;
        assert_eq!((parsed.kind, parsed.timestamp), (Kind::NoteToSelf { text: "remember the milk".into() }, note));
        mock.push_receipt(ALICE, &[sent]);
        assert_eq!(next(&mut notes).await.kind, Kind::Ignored);
        mock.push_typing(ALICE);
        assert_eq!(next(&mut notes).await.kind, Kind::Ignored);
        nothing_pending(&client, &mut notes).await;

        // A second connection later: the queue was emptied; only new messages arrive.
        let (other, mut other_notes) = Client::connect(&mock.address).await.expect("connect again");
        other.subscribe_receive().await.expect("subscribe");
        nothing_pending(&other, &mut other_notes).await;
        let fresh = mock.push_text(ALICE, Some(ALICE_NUMBER), "fresh");
        assert_eq!(next(&mut other_notes).await.timestamp, fresh);
        assert_eq!(next(&mut notes).await.timestamp, fresh, "every subscription gets each message");
        other.shutdown().await;
        client.shutdown().await;
    });
}

#[test]
fn sends_reactions_and_errors_follow_signal_cli() {
    let mock = SignalMock::start(ACCOUNT);
    mock.push_group_text(GROUP, ALICE, Some(ALICE_NUMBER), "so there is a group");
    mock.unregistered("+4915199999999");
    run(async {
        let (client, _notes) = Client::connect(&mock.address).await.expect("connect");
        let to_alice = client.send_text(ALICE_NUMBER, "hello").await.expect("send");
        let to_group = client.send_text(&format!("group:{GROUP}"), "hello all").await.expect("group send");
        let reaction = client.send_reaction(ALICE, "\u{1F44D}", ALICE, 1_700_000_000_000).await.expect("react");
        assert!(to_alice < to_group && to_group < reaction, "fresh increasing timestamps");
        let sent = mock.sent();
        let shown: Vec<(&str, &str, &str, i64)> =
            sent.iter().map(|s| (s.method.as_str(), s.to.as_str(), s.text.as_str(), s.timestamp)).collect();
        let group_to = format!("group:{GROUP}");
        assert_eq!(
            shown,
            vec![
                ("send", ALICE_NUMBER, "hello", to_alice),
                ("send", group_to.as_str(), "hello all", to_group),
                ("sendReaction", ALICE, "\u{1F44D}", reaction),
            ]
        );
        assert_eq!(sent[0].params, json!({"recipient": [ALICE_NUMBER], "message": "hello"}));
        assert_eq!(sent[1].params, json!({"groupId": GROUP, "message": "hello all"}));
        assert_eq!(
            sent[2].params,
            json!({"recipient": [ALICE], "emoji": "\u{1F44D}", "targetAuthor": ALICE, "targetTimestamp": 1_700_000_000_000_i64})
        );
        let answer = client.call("send", json!({"recipient": [ALICE_NUMBER], "message": "raw"}), WAIT).await.unwrap();
        assert_eq!(
            answer["results"],
            json!([{"recipientAddress": {"uuid": ALICE, "number": ALICE_NUMBER, "username": null}, "type": "SUCCESS"}])
        );

        let refused = |code: i64, message: &str| RpcError::Rpc { code, message: message.into() };
        assert_eq!(client.send_text("+4915199999999", "anyone?").await, Err(refused(-1, "Failed to send message")));
        assert_eq!(client.send_text("group:bm9wZQ==", "x").await, Err(refused(-1, "Group not found: bm9wZQ==")));
        let empty = "Sending empty message is not allowed, either a message, attachment or sticker must be given.";
        assert_eq!(client.send_text(ALICE, "").await, Err(refused(-1, empty)));
        assert_eq!(client.call("version", Value::Null, WAIT).await, Ok(json!({"version": VERSION})));
        // `-a ACCOUNT`: one account, so no listAccounts; an unknown method likewise.
        assert_eq!(
            client.call("listAccounts", Value::Null, WAIT).await,
            Err(refused(-32601, "Method not implemented"))
        );
        assert_eq!(client.call("frobnicate", json!({}), WAIT).await, Err(refused(-32601, "Method not implemented")));
        assert_eq!(mock.sent().len(), 4, "refused sends are not recorded");
        client.shutdown().await;
        assert_eq!(client.send_text(ALICE, "after").await, Err(RpcError::Closed));
    });
    mock.multi_account(true);
    run(async {
        let (client, _notes) = Client::connect(&mock.address).await.expect("connect");
        let accounts = client.call("listAccounts", Value::Null, WAIT).await;
        assert_eq!(accounts, Ok(json!([{"number": ACCOUNT}])));
    });
}

#[test]
fn echoes_of_sends_come_back_as_sync_messages() {
    let mock = SignalMock::start(ACCOUNT);
    mock.echo_sends(true);
    run(async {
        let (client, mut notes) = Client::connect(&mock.address).await.expect("connect");
        client.subscribe_receive().await.expect("subscribe");
        let to_alice = client.send_text(ALICE, "hi Alice").await.expect("send");
        let echo = next(&mut notes).await;
        assert_eq!((echo.sender.as_str(), echo.timestamp, echo.kind), (ACCOUNT_UUID, to_alice, Kind::Ignored));
        // A reply in the note-to-self chat comes back as a note to self with the send's
        // timestamp: the channel must drop it by that timestamp.
        let to_self = client.send_text(ACCOUNT, "noted").await.expect("send to self");
        let echo = next(&mut notes).await;
        assert_eq!((echo.timestamp, echo.kind), (to_self, Kind::NoteToSelf { text: "noted".into() }));
    });
}

#[test]
fn receive_on_start_daemons_send_bare_params() {
    let mock = SignalMock::start(ACCOUNT);
    mock.receive_on_start(true);
    let ts = mock.push_text(ALICE, Some(ALICE_NUMBER), "no subscription needed");
    run(async {
        let (_client, mut notes) = Client::connect(&mock.address).await.expect("connect");
        mock.wait_subscribed(WAIT);
        let raw = tokio::time::timeout(WAIT, notes.recv()).await.expect("in time").expect("open");
        assert!(raw.get("subscription").is_none() && raw["envelope"].is_object(), "{raw}");
        let parsed = parse(&raw, ACCOUNT).expect("envelope");
        assert_eq!(
            (parsed.timestamp, parsed.kind),
            (ts, Kind::Text { text: "no subscription needed".into(), quote: None })
        );
    });
}

#[test]
fn a_dropped_connection_closes_the_notifications() {
    let mock = SignalMock::start(ACCOUNT);
    run(async {
        let (client, mut notes) = Client::connect(&mock.address).await.expect("connect");
        client.subscribe_receive().await.expect("subscribe");
        until("one connection", || mock.connections() == 1).await;
        mock.kill_connections();
        let closed = tokio::time::timeout(WAIT, notes.recv()).await.expect("closed in time");
        assert_eq!(closed, None);
        assert_eq!(client.send_text(ALICE, "anyone?").await, Err(RpcError::Closed));
        // Refused before any connection: the daemon has no authentication.
        let Err(RpcError::Io(message)) = Client::connect("192.0.2.7:7583").await else { panic!("connected") };
        assert!(message.contains("loopback"), "{message}");
    });
}

#[test]
fn the_spawned_shim_is_launched_in_manual_mode_and_leaves_nothing_behind() {
    let mock = SignalMock::start(ACCOUNT);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = mock.shim(dir.path());
    let queued = mock.push_text(ALICE, Some(ALICE_NUMBER), "waiting");
    run(async {
        let (client, mut notes) = spawn(&shim, ACCOUNT).await;
        until("the shim to connect", || mock.shim_pids().len() == 1).await;
        assert_eq!(mock.launched_with(), ["-a", ACCOUNT, "jsonRpc", "--receive-mode=manual"]);
        nothing_pending(&client, &mut notes).await;
        client.subscribe_receive().await.expect("subscribe");
        assert_eq!(next(&mut notes).await.timestamp, queued);
        let sent = client.send_text(ALICE, "over stdio").await.expect("send");
        assert_eq!(mock.wait_sent(1, WAIT)[0].timestamp, sent);
        let pid = mock.shim_pids()[0];
        assert!(!group_members(pid).is_empty(), "the shim runs in its own group");
        client.shutdown().await;
        until("the shim's group to be gone", || group_members(pid).is_empty()).await;
        assert!(client.exit_status().is_some());
        assert_eq!(tokio::time::timeout(WAIT, notes.recv()).await.expect("closed"), None);
    });
    mock.wait_connections(0, WAIT);
}

#[test]
fn a_dying_shim_closes_the_notifications_and_a_wrong_account_says_why() {
    let mock = SignalMock::start(ACCOUNT);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = mock.shim(dir.path());
    run(async {
        let (client, mut notes) = spawn(&shim, ACCOUNT).await;
        client.subscribe_receive().await.expect("subscribe");
        mock.kill_connections();
        assert_eq!(tokio::time::timeout(WAIT, notes.recv()).await.expect("closed"), None);
        until("the shim to exit", || client.exit_status().is_some()).await;
        assert_eq!(client.exit_status().and_then(|s| s.code()), Some(1));
        let pid = mock.shim_pids()[0];
        until("the shim's group to be gone", || group_members(pid).is_empty()).await;
        client.shutdown().await;

        let (client, mut notes) = spawn(&shim, "+4915100000099").await;
        assert_eq!(tokio::time::timeout(WAIT, notes.recv()).await.expect("closed"), None);
        until("the shim to exit", || client.exit_status().is_some()).await;
        assert_eq!(client.exit_status().and_then(|s| s.code()), Some(1));
        until("its stderr", || client.stderr_tail().contains("is not registered")).await;
        assert_eq!(client.stderr_tail(), "User +4915100000099 is not registered.");
        assert_eq!(client.subscribe_receive().await, Err(RpcError::Closed));
    });
}
