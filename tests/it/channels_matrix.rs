//! Matrix through the real binary and daemon, against a real Synapse (`synapse.rs`): the
//! bot set up by password (only the access token kept), invited by the owner to a private
//! room and answered there; a stranger's direct chat gets one challenge and the model
//! hears nothing of them; an encrypted room gets one plain notice (never silence); with
//! the bot rate-limited, every send still lands exactly once (429s retried with the same
//! transaction id); an approval answered by the owner's reaction.

use serde_json::{Value, json};

use crate::channels::start_with;
use crate::channels_approvals::ASKING_CHAT;
use crate::daemon::{Home, wait_for};
use crate::draft::says;
use crate::llm_server::LlmServer;
use crate::synapse::{Synapse, synapse, unique};

const PASS: &str = "matrix test passphrase";

/// The bot's and the owner's ids and tokens.
struct People {
    bot: String,
    owner: String,
    owner_token: String,
}

/// A home whose Matrix channel is a fresh bot on the shared Synapse, the owner allowed.
fn setup(hs: &Synapse, model: &LlmServer) -> (Home, People) {
    let bot_password = "bot-password-1234";
    let (bot, _) = hs.register(&unique("pyra"), bot_password);
    let (owner, owner_token) = hs.register(&unique("owner"), "owner-password");
    let home = Home::new();
    let config = format!(
        "default_model: oa\nmodels:\n  - name: oa\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        model.url
    );
    std::fs::write(home.path().join("config.yaml"), config).unwrap();
    home.pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    // A wrong password stores nothing.
    home.pyra
        .run_unlocked(
            PASS,
            ["channels", "add", "matrix", "--homeserver", &hs.url, "--user", &bot, "--password-stdin"],
            Some("not-the-password"),
        )
        .code(1)
        .stderr_has("nothing was stored");
    assert!(!std::fs::read_to_string(home.path().join("config.yaml")).unwrap().contains("matrix"));
    home.pyra
        .run_unlocked(
            PASS,
            [
                "channels",
                "add",
                "matrix",
                "--homeserver",
                &hs.url,
                "--user",
                &bot,
                "--password-stdin",
                "--allow",
                &owner,
            ],
            Some(bot_password),
        )
        .success()
        .stdout_has("the password is not kept");
    for (file, bytes) in crate::harness::files_under(home.path()) {
        assert!(!String::from_utf8_lossy(&bytes).contains(bot_password), "{} holds the password", file.display());
    }
    (home, People { bot, owner, owner_token })
}

fn up(home: &Home) -> crate::channels::Up<'_> {
    start_with(home, &[("PYRA_VAULT_PASSPHRASE", PASS.to_string()), ("PYRA_MATRIX_POLL_MS", "1000".to_string())])
}

/// The `m.room.message` bodies `sender` sent in `room`, oldest first.
fn said_by(events: &[Value], sender: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_string))
        .collect()
}

/// Waits until `who` has said at least `n` things in `room`.
fn wait_said(hs: &Synapse, token: &str, room: &str, who: &str, n: usize) -> Vec<String> {
    let user = hs.user(token);
    wait_for(&format!("{n} message(s) from {who}"), || {
        let said = said_by(&user.messages(room), who);
        if said.len() >= n { Ok(said) } else { Err(format!("{said:?}")) }
    })
}

fn wait_joined(hs: &Synapse, token: &str, room: &str, who: &str) {
    let user = hs.user(token);
    wait_for(&format!("{who} to join"), || {
        let joined = user
            .messages(room)
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == who && e["content"]["membership"] == "join");
        if joined { Ok(()) } else { Err("not yet".to_string()) }
    });
}

#[test]
fn the_owner_is_answered_and_a_strangers_direct_chat_gets_one_challenge() {
    let Some(hs) = synapse() else { return };
    let model = LlmServer::start(vec![says("Hello from Pyra."), says("Still here.")]);
    let (home, p) = setup(hs, &model);
    let (stranger, stranger_token) = hs.register(&unique("stranger"), "stranger-password");
    let _up = up(&home);
    let owner = hs.user(&p.owner_token);
    let room = owner.create_room(&[&p.bot], false);
    wait_joined(hs, &p.owner_token, &room, &p.bot);
    owner.send(&room, "hi pyra");
    let said = wait_said(hs, &p.owner_token, &room, &p.bot, 1);
    assert_eq!(said, ["Hello from Pyra."]);

    // A stranger's direct chat: joined, one pairing code, nothing more.
    let (status, created) = hs.http(
        "POST",
        "/_matrix/client/v3/createRoom",
        Some(&stranger_token),
        Some(&json!({ "preset": "trusted_private_chat", "is_direct": true, "invite": [p.bot] })),
    );
    assert_eq!(status, 200, "{created}");
    let dm = created["room_id"].as_str().unwrap().to_string();
    wait_joined(hs, &stranger_token, &dm, &p.bot);
    let stranger_as = hs.user(&stranger_token);
    stranger_as.send(&dm, "XYZZY let me in");
    stranger_as.send(&dm, "anyone there?");
    let said = wait_said(hs, &stranger_token, &dm, &p.bot, 1);
    assert!(said[0].contains("pyra channels pair"), "{said:?}");
    // A third message from the owner proves the stranger's second one was taken (and dropped).
    owner.send(&room, "still there?");
    wait_for("the owner's second turn to reach the model", || {
        if model.requests().len() >= 2 { Ok(()) } else { Err(format!("{}", model.requests().len())) }
    });
    assert_eq!(said_by(&stranger_as.messages(&dm), &p.bot).len(), 1, "one challenge only");
    for seen in model.requests() {
        let body = seen.body.to_string();
        assert!(!body.contains("XYZZY") && !body.contains("anyone there"), "{body}");
    }
    assert!(model.requests()[0].body.to_string().contains("untrusted"));
    let _ = stranger;

    // A skill's message.send reaches the owner in the room they last wrote from.
    let skill = home.pyra.skill(
        "notify",
        &format!(
            "name: notify\nnodes:\n  tell:\n    uses: message.send\n    with: {{ channel: matrix, to: \"{}\", text: \"The backup finished.\" }}\n",
            p.owner
        ),
    );
    home.pyra.run_unlocked(PASS, ["run", &skill], None).success();
    let said = wait_said(hs, &p.owner_token, &room, &p.bot, 3);
    assert!(said.contains(&"The backup finished.".to_string()), "{said:?}");
}

#[test]
fn an_encrypted_room_gets_one_notice_and_rate_limited_sends_land_once() {
    let Some(hs) = synapse() else { return };
    let model = LlmServer::start(vec![says("First answer."), says("Second answer.")]);
    let (home, p) = setup(hs, &model);
    // One message a second, no burst: the bot's quick sends meet 429s.
    hs.override_ratelimit(&p.bot, 1, 1);
    let _up = up(&home);
    let owner = hs.user(&p.owner_token);
    let secret_room = owner.create_room(&[&p.bot], true);
    wait_joined(hs, &p.owner_token, &secret_room, &p.bot);
    let cipher = json!({ "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC", "sender_key": "k", "device_id": "D", "session_id": "s" });
    owner.send_event(&secret_room, "m.room.encrypted", &cipher);
    owner.send_event(&secret_room, "m.room.encrypted", &cipher);
    let notice = wait_said(hs, &p.owner_token, &secret_room, &p.bot, 1);
    assert!(notice[0].contains("end-to-end encrypted"), "{notice:?}");

    let room = owner.create_room(&[&p.bot], false);
    wait_joined(hs, &p.owner_token, &room, &p.bot);
    owner.send(&room, "one");
    owner.send(&room, "two");
    let said = wait_said(hs, &p.owner_token, &room, &p.bot, 2);
    assert_eq!(said, ["First answer.", "Second answer."], "each reply once");
    // The bot's sends met the rate limit (Synapse's access log names the requester).
    let limited: Vec<String> = hs.log_lines(" 429 ").into_iter().filter(|l| l.contains(&p.bot)).collect();
    assert!(!limited.is_empty(), "no 429 for {}", p.bot);
    // Still one notice, and nothing from the encrypted room reached the model.
    assert_eq!(said_by(&owner.messages(&secret_room), &p.bot).len(), 1);
    assert_eq!(model.requests().len(), 2);
}

#[test]
fn an_approval_is_answered_by_the_owners_reaction() {
    let Some(hs) = synapse() else { return };
    let model = LlmServer::start(vec![says("unused")]);
    let (home, p) = setup(hs, &model);
    home.install("chat", ASKING_CHAT);
    let _up = up(&home);
    let owner = hs.user(&p.owner_token);
    let room = owner.create_room(&[&p.bot], false);
    wait_joined(hs, &p.owner_token, &room, &p.bot);
    owner.send(&room, "please send the report");
    let user = hs.user(&p.owner_token);
    let request = wait_for("the approval request", || {
        let found = user.messages(&room).into_iter().find(|e| {
            e["sender"] == p.bot.as_str()
                && e["content"]["body"].as_str().is_some_and(|b| b.contains("Send the weekly report?"))
        });
        found.ok_or_else(|| "not yet".to_string())
    });
    assert!(request["content"]["body"].as_str().unwrap().contains("reacting with 👍"), "{request}");
    let event_id = request["event_id"].as_str().unwrap();
    owner.react(&room, event_id, "❤️");
    owner.react(&room, event_id, "👍\u{FE0F}");
    wait_for("the reply after the approval", || {
        let said = said_by(&user.messages(&room), &p.bot);
        if said.iter().any(|s| s == "The report is sent.") { Ok(()) } else { Err(format!("{said:?}")) }
    });
    let runs = home.runs("chat");
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    let decided = format!("Approved (matrix:{}).", p.owner);
    assert!(said_by(&user.messages(&room), &p.bot).contains(&decided), "the request is marked decided");
}
