//! Approvals over Telegram, through the real daemon and the Bot API fake: a run a message
//! started waits for an approval; the owner gets Approve / Deny buttons; a stranger's
//! press, a forged button and a replayed one change nothing; the owner's press resumes
//! the run and its reply follows; unanswered for 2 minutes on the daemon's clock, the
//! channel denies and the step after the approval never runs.

use std::time::Duration;

use crate::channels::{OWNER, TOKEN, says, setup, start_with};
use crate::daemon::{Home, wait_for};
use crate::llm_server::LlmServer;
use crate::telegram_fake::{Sent, TelegramFake};

/// A chat skill of the user's own: it asks before it answers.
pub const ASKING_CHAT: &str = r#"name: chat
inputs:
  message: { type: string }
nodes:
  ok:
    uses: approval
    with: { message: "Send the weekly report?", timeout: 1h, on_timeout: reject }
  reply:
    uses: template
    needs: [ok]
    with: { value: "The report is sent." }
outputs:
  reply: "{{ nodes.reply.output }}"
"#;

/// A home whose chat skill asks before it answers, with the owner allowed (and so an
/// approver).
fn asking(fake: &TelegramFake, model: &LlmServer) -> Home {
    let home = setup(fake, model, "");
    home.install("chat", ASKING_CHAT);
    let path = home.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("    allow: []\n", &format!("    allow: [{OWNER}]\n"))).unwrap();
    home
}

fn button(sent: &Sent, index: usize) -> String {
    sent.params["reply_markup"]["inline_keyboard"][0][index]["callback_data"].as_str().expect("a button").to_string()
}

fn asked(home: &Home, fake: &TelegramFake) -> Sent {
    let sent = fake.wait_sent(1, Duration::from_secs(30));
    let request = sent[0].clone();
    assert!(request.text.contains("Send the weekly report?"), "{}", request.text);
    assert!(home.log().contains("connected"), "{}", home.log());
    request
}

/// The notes the fake's `answerCallbackQuery` calls carried, in order.
fn notes(fake: &TelegramFake) -> Vec<String> {
    fake.calls("answerCallbackQuery").iter().map(|c| c["text"].as_str().unwrap_or("").to_string()).collect()
}

fn wait_notes(fake: &TelegramFake, n: usize) -> Vec<String> {
    wait_for(&format!("{n} answered presses"), || {
        let notes = notes(fake);
        if notes.len() >= n { Ok(notes) } else { Err(format!("{notes:?}")) }
    })
}

#[test]
fn the_owners_press_approves_once_and_others_change_nothing() {
    let fake = TelegramFake::start(TOKEN);
    let model = LlmServer::start(vec![says("unused")]);
    let home = asking(&fake, &model);
    let _up = start_with(&home, &[]);
    fake.send_text(OWNER, "please send the report");
    let request = asked(&home, &fake);
    let (approve, deny) = (button(&request, 0), button(&request, 1));
    assert!(approve.len() <= 64 && deny.len() <= 64);

    fake.send_text(777, "hi");
    fake.press(777, request.message_id, &approve);
    let forged = format!("{}0000", &approve[..approve.len() - 4]);
    fake.press(OWNER, request.message_id, &forged);
    let notes = wait_notes(&fake, 2);
    assert_eq!(notes[0], "Only an approver can answer this.");
    assert!(notes[1].contains("not valid"), "{notes:?}");

    fake.press(OWNER, request.message_id, &approve);
    let sent = wait_for("the reply after the approval", || {
        let sent = fake.sent();
        match sent.iter().find(|s| s.method == "sendMessage" && s.text == "The report is sent.") {
            Some(_) => Ok(sent),
            None => Err(format!("{:?}", sent.iter().map(|s| (&s.method, &s.text)).collect::<Vec<_>>())),
        }
    });
    assert!(
        sent.iter().any(|s| s.method == "editMessageText" && s.text.contains("Approved (telegram:4242)")),
        "{sent:?}"
    );
    // A replay of the same button: answered, nothing changes.
    fake.press(OWNER, request.message_id, &deny);
    let notes = wait_notes(&fake, 4);
    assert_eq!(notes[2], "Approved");
    assert_eq!(notes[3], "This was already answered.");
    let runs = home.runs("chat");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
}

#[test]
fn unanswered_for_two_minutes_the_channel_denies_and_the_step_never_runs() {
    let fake = TelegramFake::start(TOKEN);
    let model = LlmServer::start(vec![says("unused")]);
    let home = asking(&fake, &model);
    home.set_clock("2026-12-07T12:00:00Z");
    let clock = format!("file:{}", home.out("clock").display());
    let _up = start_with(&home, &[("PYRA_CLOCK", clock)]);
    fake.send_text(OWNER, "please send the report");
    let request = asked(&home, &fake);
    home.set_clock("2026-12-07T12:03:00Z");
    let sent = wait_for("the denial", || {
        let sent = fake.sent();
        let edited =
            sent.iter().any(|s| s.method == "editMessageText" && s.text.contains("no answer within 2 minutes"));
        let told = sent.iter().any(|s| s.method == "sendMessage" && s.text.starts_with("Not done"));
        if edited && told { Ok(sent) } else { Err(format!("{:?}", sent.iter().map(|s| &s.text).collect::<Vec<_>>())) }
    });
    assert!(!sent.iter().any(|s| s.text == "The report is sent."), "the step after the approval never ran");
    // A press after the deadline changes nothing.
    fake.press(OWNER, request.message_id, &button(&request, 0));
    let notes = wait_notes(&fake, 1);
    assert_eq!(notes[0], "This was already answered.");
    let run = &home.runs("chat")[0];
    assert_ne!(run["status"], "succeeded", "{run}");
}

#[test]
fn an_approver_can_answer_with_text_and_a_wrong_id_changes_nothing() {
    let fake = TelegramFake::start(TOKEN);
    let model = LlmServer::start(vec![says("unused")]);
    let home = asking(&fake, &model);
    let _up = start_with(&home, &[]);
    fake.send_text(OWNER, "please send the report");
    let request = asked(&home, &fake);
    let id = request.text.rsplit("/deny ").next().unwrap().trim_end_matches(')').to_string();
    assert_eq!(id.len(), 10, "{}", request.text);
    fake.send_text(OWNER, "/approve AAAAAAAAAA");
    let sent = fake.wait_sent(2, Duration::from_secs(30));
    assert!(sent[1].text.contains("no request with that id"), "{}", sent[1].text);
    fake.send_text(OWNER, &format!("/approve {id}"));
    wait_for("the reply after the text approval", || {
        let texts: Vec<String> = fake.sent().iter().map(|s| s.text.clone()).collect();
        if texts.iter().any(|t| t == "The report is sent.") { Ok(()) } else { Err(format!("{texts:?}")) }
    });
    let texts: Vec<String> = fake.sent().iter().map(|s| s.text.clone()).collect();
    assert!(texts.contains(&"Approved.".to_string()), "{texts:?}");
    assert_eq!(home.runs("chat").len(), 1, "the commands started no chat turn");
}
