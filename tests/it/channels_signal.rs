//! Signal through the real binary and daemon, against the signal-cli mock
//! (`signal_mock.rs`, signal-cli's JSON-RPC contract) launched as the daemon's child
//! through its shim: the owner is answered by the model and a stranger is challenged once
//! (the model hears nothing of them); messages sent while signal-cli was down arrive once
//! it is back and are answered once each; sync messages to others and the echoes of
//! Pyra's own sends are ignored; an approval is answered by the owner's reaction, a
//! stranger's reaction changes nothing.

use std::time::Duration;

use crate::channels::start_with;
use crate::channels_approvals::ASKING_CHAT;
use crate::daemon::{Home, wait_for};
use crate::draft::says;
use crate::llm_server::LlmServer;
use crate::signal_mock::{ACCOUNT_UUID, SignalMock};

const ACCOUNT: &str = "+4915100000001";
const OWNER: &str = "0a0a0a0a-1111-4222-8333-444444444444";
const OWNER_NUMBER: &str = "+4917000000002";
const STRANGER: &str = "0b0b0b0b-5555-4666-8777-888888888888";

/// A home with a model and the Signal channel through the mock's shim (outside the home,
/// whose files Pyra keeps 0600), the owner allowed.
fn setup(mock: &SignalMock, model: &LlmServer) -> (Home, tempfile::TempDir) {
    let home = Home::new();
    let config = format!(
        "default_model: oa\nmodels:\n  - name: oa\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        model.url
    );
    std::fs::write(home.path().join("config.yaml"), config).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let shim = mock.shim(bin.path());
    let shim = shim.to_string_lossy();
    home.pyra
        .run(["channels", "add", "signal", "--account", ACCOUNT, "--cli", &shim, "--allow", OWNER])
        .success()
        .stdout_has("signal-cli 0.13");
    assert_eq!(mock.connections(), 0, "the check's signal-cli is gone");
    (home, bin)
}

fn texts_to(mock: &SignalMock, to: &str) -> Vec<String> {
    mock.sent().iter().filter(|s| s.method == "send" && s.to == to).map(|s| s.text.clone()).collect()
}

#[test]
fn the_owner_is_answered_and_a_stranger_is_challenged_once() {
    let mock = SignalMock::start(ACCOUNT);
    let model = LlmServer::start(vec![says("Hello from Pyra.")]);
    let (home, _bin) = setup(&mock, &model);
    let _up = start_with(&home, &[]);
    mock.wait_subscribed(Duration::from_secs(30));
    assert_eq!(mock.launched_with(), ["-a", ACCOUNT, "jsonRpc", "--receive-mode=manual"]);

    mock.push_text(STRANGER, Some("+4917000000009"), "XYZZY let me in");
    mock.push_text(STRANGER, Some("+4917000000009"), "anyone there?");
    mock.push_text(OWNER, Some(OWNER_NUMBER), "hi pyra");
    let reply = wait_for("the owner's reply", || match texts_to(&mock, OWNER).first() {
        Some(t) => Ok(t.clone()),
        None => Err(format!("{:?}", mock.sent())),
    });
    assert_eq!(reply, "Hello from Pyra.");
    let challenge = texts_to(&mock, STRANGER);
    assert_eq!(challenge.len(), 1, "one challenge: {challenge:?}");
    assert!(challenge[0].contains("pyra channels pair"), "{}", challenge[0]);
    let heard = model.requests();
    assert_eq!(heard.len(), 1);
    let body = heard[0].body.to_string();
    assert!(body.contains("hi pyra") && body.contains("untrusted"), "{body}");
    assert!(!body.contains("XYZZY") && !body.contains("anyone there"), "{body}");
    assert!(!home.log().contains("XYZZY"), "a stranger's text is in no log line");
    let status = home.pyra.run(["channels", "status", "--json"]).json();
    let signal = status.as_array().unwrap().iter().find(|s| s["channel"] == "signal").expect("listed").clone();
    assert_eq!(signal["state"]["account"], ACCOUNT, "{signal}");
}

#[test]
fn messages_sent_while_signal_cli_was_down_arrive_once_and_echoes_are_ignored() {
    let mock = SignalMock::start(ACCOUNT);
    let model = LlmServer::start(vec![says("one"), says("two"), says("three")]);
    let (home, _bin) = setup(&mock, &model);
    // Nobody listens yet: Signal's server keeps them.
    mock.push_text(OWNER, Some(OWNER_NUMBER), "first while down");
    mock.push_text(OWNER, Some(OWNER_NUMBER), "second while down");
    mock.echo_sends(true);
    let up = start_with(&home, &[]);
    let replies = wait_for("two replies", || {
        let r = texts_to(&mock, OWNER);
        if r.len() >= 2 { Ok(r) } else { Err(format!("{:?}", mock.sent())) }
    });
    assert_eq!(replies, ["one", "two"]);
    assert_eq!(mock.queued(), 0);

    // signal-cli dies; messages wait; the supervisor starts it again and they arrive once.
    mock.kill_connections();
    mock.push_text(OWNER, Some(OWNER_NUMBER), "third after a crash");
    // The owner's phone writing to someone else, synced to the account: not for Pyra.
    mock.push_sync_sent("+4917000000005", "dinner at eight?");
    let replies = wait_for("the third reply", || {
        let r = texts_to(&mock, OWNER);
        if r.len() >= 3 { Ok(r) } else { Err(format!("{:?}", mock.sent())) }
    });
    assert_eq!(replies, ["one", "two", "three"]);
    assert!(mock.shim_pids().len() >= 3, "the check, the first child, the restarted one: {:?}", mock.shim_pids());
    drop(up);
    // Each message reached the model once; the echoes of Pyra's sends and the sync message never.
    let heard: Vec<String> = model.requests().iter().map(|r| r.body.to_string()).collect();
    assert_eq!(heard.len(), 3, "{heard:#?}");
    assert!(heard.iter().all(|b| !b.contains("dinner at eight")));
    // No signal-cli outlives the daemon.
    wait_for("every shim gone", || {
        let alive: Vec<u32> = mock.shim_pids().into_iter().filter(|p| crate::daemon::alive(*p)).collect();
        if alive.is_empty() { Ok(()) } else { Err(format!("{alive:?}")) }
    });
}

#[test]
fn an_approval_is_answered_by_the_owners_reaction_and_a_strangers_changes_nothing() {
    let mock = SignalMock::start(ACCOUNT);
    let model = LlmServer::start(vec![says("unused")]);
    let (home, _bin) = setup(&mock, &model);
    home.install("chat", ASKING_CHAT);
    let _up = start_with(&home, &[]);
    mock.wait_subscribed(Duration::from_secs(30));
    mock.push_text(OWNER, Some(OWNER_NUMBER), "please send the report");
    let request = wait_for("the approval request", || {
        match mock.sent().into_iter().find(|s| s.method == "send" && s.text.contains("Send the weekly report?")) {
            Some(s) => Ok(s),
            None => Err(format!("{:?}", mock.sent())),
        }
    });
    assert!(request.text.contains("reacting with 👍"), "{}", request.text);
    // A stranger's thumbs-up and the owner's heart change nothing.
    mock.push_reaction(STRANGER, "👍", ACCOUNT, request.timestamp);
    mock.push_reaction(OWNER, "❤️", ACCOUNT, request.timestamp);
    mock.push_reaction(OWNER, "👍\u{FE0F}", ACCOUNT_UUID, request.timestamp);
    wait_for("the reply after the approval", || {
        if texts_to(&mock, OWNER).iter().any(|t| t == "The report is sent.") {
            Ok(())
        } else {
            Err(format!("{:?}", mock.sent()))
        }
    });
    let runs = home.runs("chat");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    let log = home.log();
    assert!(log.contains("an answer by 0b0b0b0b-5555-4666-8777-888888888888 refused"), "{log}");
    // The request is marked decided with a reaction of Pyra's own.
    assert!(mock.sent().iter().any(|s| s.method == "sendReaction" && s.text == "✅"), "{:?}", mock.sent());
}

#[test]
fn message_send_reaches_a_named_recipient_in_pieces() {
    let mock = SignalMock::start(ACCOUNT);
    let model = LlmServer::start(vec![]);
    let (home, _bin) = setup(&mock, &model);
    let path = home.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let named = text.replace("  signal:\n", &format!("  signal:\n    recipients:\n      me: {OWNER}\n"));
    assert_ne!(named, text);
    std::fs::write(&path, named).unwrap();
    let long = "word ".repeat(500);
    let skill = home.pyra.skill(
        "notify",
        &format!(
            "name: notify\nnodes:\n  tell:\n    uses: message.send\n    with: {{ channel: signal, to: me, text: \"{}\" }}\noutputs:\n  ids: \"{{{{ nodes.tell.output.message_ids | length }}}}\"\n",
            long.trim()
        ),
    );
    let out = home.pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["ids"], 2, "{}", out.stdout);
    let sent = texts_to(&mock, OWNER);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|t| t.len() <= 2000));
    // The signal-cli it started is gone.
    wait_for("every shim gone", || {
        let alive: Vec<u32> = mock.shim_pids().into_iter().filter(|p| crate::daemon::alive(*p)).collect();
        if alive.is_empty() { Ok(()) } else { Err(format!("{alive:?}")) }
    });
}
