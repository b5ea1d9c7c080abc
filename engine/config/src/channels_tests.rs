//! The `channels:` section through the crate's API: no channel when absent, Telegram's
//! defaults, and located errors for a name where a user id belongs, a bad rate, an
//! unknown key.

use crate::tests::{EXAMPLE, parse};
use crate::{ConfigError, TelegramSettings};

/// The diagnostics of an invalid text: (code, the text the span covers, help).
fn errors(text: &str) -> Vec<(&'static str, String, String)> {
    match parse(text) {
        Err(ConfigError::Invalid(i)) => i
            .diagnostics
            .iter()
            .map(|d| (d.code, text[d.span.clone().expect("located")].to_string(), d.help.clone().unwrap_or_default()))
            .collect(),
        other => panic!("expected errors for {text:?}, got {other:?}"),
    }
}

#[test]
fn no_channel_unless_configured_and_telegram_defaults() {
    assert_eq!(parse(EXAMPLE).unwrap().channels.telegram, None);
    let t = parse("channels:\n  telegram:\n    allow: [123456789]\n").unwrap().channels.telegram.unwrap();
    assert_eq!(t.allow, vec![123_456_789]);
    assert_eq!(t.rate_per_hour, TelegramSettings::DEFAULT_RATE_PER_HOUR);
    assert_eq!(t.api_url, "https://api.telegram.org");
    let t = parse("channels:\n  telegram: {}\n").unwrap().channels.telegram.unwrap();
    assert!(t.allow.is_empty());
}

#[test]
fn names_bad_rates_and_unknown_keys_are_located() {
    let found = errors("channels:\n  telegram:\n    allow: [123, \"@alice\"]\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1.as_str()), ("config-value", "\"@alice\""));
    assert!(found[0].2.contains("pyra channels pair"), "{}", found[0].2);
    let found = errors("channels:\n  telegram:\n    rate_per_hour: 0\n");
    assert_eq!(found[0].1, "0");
    let found = errors("channels:\n  telegram:\n    alow: [1]\n");
    assert!(found[0].2.contains("allow"), "did you mean: {found:?}");
    let found = errors("channels:\n  signal: {}\n");
    assert_eq!(found[0].1, "signal");
}

#[test]
fn a_channel_is_added_and_removed_by_minimal_edits() {
    let text = format!("{EXAMPLE}# my channels\n");
    let config = parse(&text).unwrap();
    let added = config.with_channel("telegram", serde_json::json!({ "allow": [42] })).unwrap();
    assert_eq!(added.channels.telegram.as_ref().unwrap().allow, vec![42]);
    assert!(added.text().starts_with(EXAMPLE), "the rest is kept: {}", added.text());
    assert!(added.text().contains("# my channels"));
    let removed = added.without_channel("telegram").unwrap();
    assert_eq!(removed.channels.telegram, None);
    assert!(!removed.text().contains("channels:"), "{}", removed.text());
    assert!(removed.text().contains("# my channels"));
}

#[test]
fn a_plain_passphrase_is_refused_and_never_shown() {
    let text = "channels:\n  telegram:\n    challenge: passphrase\n    passphrase: hunter2hunter2\n";
    match parse(text) {
        Err(e @ ConfigError::Invalid(_)) => {
            let shown = e.render(false);
            assert!(shown.contains("must be an Argon2id hash"), "{shown}");
            assert!(!shown.contains("hunter2hunter2"), "the value is hidden: {shown}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let found = errors("channels:\n  telegram:\n    challenge: magic\n");
    assert!(found[0].2.contains("pairing"), "{found:?}");
}

#[test]
fn signal_and_matrix_take_stable_ids_only_and_need_their_account() {
    let text = "channels:\n  signal:\n    account: \"+4915112345678\"\n    allow: [\"+4917000000001\", \"a1b2c3d4-e5f6-4711-8899-aabbccddeeff\"]\n    address: 127.0.0.1:7583\n  matrix:\n    homeserver: https://matrix.example.org\n    user: \"@pyra:example.org\"\n    allow: [\"@Alice:example.org\"]\n";
    let channels = parse(text).unwrap().channels;
    let signal = channels.signal.unwrap();
    assert_eq!((signal.cli.as_str(), signal.rate_per_hour), ("signal-cli", TelegramSettings::DEFAULT_RATE_PER_HOUR));
    assert_eq!(channels.matrix.unwrap().allow, vec!["@Alice:example.org".to_string()], "case kept");

    let found = errors("channels:\n  signal:\n    account: \"+4915112345678\"\n    allow: [\"Alice\"]\n");
    assert_eq!((found[0].0, found[0].1.as_str()), ("config-value", "\"Alice\""), "{found:?}");
    let found = errors("channels:\n  signal:\n    account: \"+4915112345678\"\n    address: 0.0.0.0:7583\n");
    assert!(found[0].2.contains("no authentication"), "{found:?}");
    let found = errors("channels:\n  signal:\n    allow: []\n");
    assert_eq!((found[0].0, found[0].1.as_str()), ("config-missing", "signal"), "{found:?}");
    let found = errors("channels:\n  matrix:\n    homeserver: https://m.example.org\n    user: pyra\n");
    assert_eq!(found[0].1, "pyra", "{found:?}");
    let found = errors(
        "channels:\n  matrix:\n    homeserver: https://m.example.org\n    user: \"@p:m\"\n    allow: [\"Alice Smith\"]\n    passphrase: hunter2hunter2\n",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|f| f.2.contains("pyra channels passphrase matrix")), "{found:?}");
}
