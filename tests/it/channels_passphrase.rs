//! The passphrase challenge over Telegram, through the real daemon and the Bot API fake:
//! only its Argon2id hash is written; a stranger is asked once, each attempt is deleted
//! from the chat, the right passphrase admits them, three wrong ones lock them out for an
//! hour in silence — and no attempt reaches a model, a log or a file.

use std::time::Duration;

use crate::channels::{PASS, TOKEN, says, setup, start};
use crate::daemon::{Home, wait_for};
use crate::llm_server::LlmServer;
use crate::telegram_fake::TelegramFake;

const SECRET: &str = "open sesame 42";

fn with_passphrase(home: &Home) {
    home.pyra.run_unlocked(PASS, ["channels", "passphrase", "telegram"], Some(SECRET)).success();
    let config = std::fs::read_to_string(home.path().join("config.yaml")).unwrap();
    assert!(config.contains("challenge: passphrase") && config.contains("$argon2id$"), "{config}");
    assert!(!config.contains(SECRET), "only the hash is written");
}

fn texts(fake: &TelegramFake) -> Vec<String> {
    fake.sent().iter().filter(|s| s.method == "sendMessage").map(|s| s.text.clone()).collect()
}

fn wait_texts(fake: &TelegramFake, n: usize) -> Vec<String> {
    wait_for(&format!("{n} messages sent"), || {
        let t = texts(fake);
        if t.len() >= n { Ok(t) } else { Err(format!("{t:?}")) }
    })
}

#[test]
fn the_right_passphrase_admits_a_stranger_and_every_attempt_is_deleted() {
    let fake = TelegramFake::start(TOKEN);
    let model = LlmServer::start(vec![says("hello, friend")]);
    let home = setup(&fake, &model, "");
    with_passphrase(&home);
    let _up = start(&home);
    let stranger = 5150;
    fake.send_text(stranger, "hi");
    assert!(wait_texts(&fake, 1)[0].contains("send its passphrase"));
    let wrong = fake.send_text(stranger, "open sesame 41");
    assert!(wait_texts(&fake, 2)[1].contains("not the passphrase (1 of 3"));
    let right = fake.send_text(stranger, SECRET);
    assert!(wait_texts(&fake, 3)[2].starts_with("Welcome"));
    let deleted = fake.deleted();
    assert!(deleted.contains(&(stranger, wrong)) && deleted.contains(&(stranger, right)), "{deleted:?}");
    fake.send_text(stranger, "now answer me");
    assert_eq!(wait_texts(&fake, 4)[3], "hello, friend");
    let asked = model.requests();
    assert_eq!(asked.len(), 1);
    assert!(!asked[0].body.to_string().contains("sesame"), "no attempt reaches the model");
    assert!(!home.log().contains("sesame"));
    let found = crate::plugins::home_contains(&home.pyra, SECRET);
    assert!(found.is_empty(), "the passphrase is written in {found:?}");
}

#[test]
fn three_wrong_passphrases_lock_a_stranger_out_in_silence() {
    let fake = TelegramFake::start(TOKEN);
    let model = LlmServer::start(vec![]);
    let home = setup(&fake, &model, "");
    with_passphrase(&home);
    let _up = start(&home);
    let stranger = 6160;
    fake.send_text(stranger, "hi");
    wait_texts(&fake, 1);
    for (n, guess) in ["one guess", "two guess", "three guess"].iter().enumerate() {
        fake.send_text(stranger, guess);
        wait_texts(&fake, n + 2);
    }
    assert!(texts(&fake)[3].contains("will not read your messages for an hour"), "{:?}", texts(&fake));
    // Even the right one is not read now, and nothing is answered.
    fake.send_text(stranger, SECRET);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(texts(&fake).len(), 4, "{:?}", texts(&fake));
    assert!(model.requests().is_empty());
    home.pyra.run(["channels", "status", "--json"]).success();
    let status = home.pyra.run(["channels", "status", "--json"]).json()[0].clone();
    assert!(status["paired"].as_array().unwrap().is_empty(), "{status}");
}
