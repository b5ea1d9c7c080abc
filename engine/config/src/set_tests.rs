//! Dotted keys for every declared field, through the crate's API: `field_for`, `get`,
//! `set` typing a value by its field's kind, `unset`, secrets and hashes refused,
//! did-you-mean from the declarations; and the checks of the declared kinds on fields
//! without a check of their own.

use serde_json::json;

use crate::fields::{self, Kind};
use crate::tests::{EXAMPLE, errors, parse};
use crate::{Config, ConfigError};

/// The dotted key of every declared field, an entry named `gpt-4.1` for `*`.
fn every_key() -> Vec<(String, &'static str)> {
    let mut keys = Vec::new();
    for section in fields::SECTIONS {
        for field in section.fields {
            let path = section.path.replace('*', "gpt-4.1");
            let key = if path.is_empty() { field.key.to_string() } else { format!("{path}.{}", field.key) };
            keys.push((key, field.key));
        }
    }
    keys
}

#[test]
fn every_declared_field_has_a_key() {
    for (key, field) in every_key() {
        let (section, found) = Config::field_for(&key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(found.key, field, "{key}");
        assert!(key.ends_with(&format!("{}.{field}", section.path.replace('*', "gpt-4.1"))) || section.path.is_empty());
    }
    let (_, f) = Config::field_for("channels.telegram.recipients.family.home").unwrap();
    assert_eq!((f.key, f.kind), ("recipients", Kind::Map), "a map's item names its map");
    let (s, f) = Config::field_for("telemetry.headers.x-scope").unwrap();
    assert_eq!((s.path, f.key), ("telemetry", "headers"));
    let (s, f) = Config::field_for("channels.telegram.token").unwrap();
    assert_eq!((s.path, f.kind), ("channels.telegram", Kind::Secret));
    for key in ["models.local", "daemon.webhook", "chat", "channels.telegram.bogus", "telemetry.headers.", "nope"] {
        assert!(Config::field_for(key).is_none(), "{key}");
    }
    // Every key parses for `get`: not set in an empty file (or its entry is missing).
    let config = parse("models: [{ name: gpt-4.1, provider: openai, model: gpt-4.1 }]\n").unwrap();
    for (key, _) in every_key() {
        match config.get(&key) {
            Ok(_) | Err(ConfigError::NotSet(_)) => {}
            Err(ConfigError::Key { message, .. }) if message.contains("is a secret") => {}
            other => panic!("{key}: {other:?}"),
        }
    }
}

#[test]
fn set_types_a_value_by_its_field() {
    let config = parse(EXAMPLE).unwrap();
    // One value at a time: `none` first, as the openai embedder needs its model.
    let set = config.set("memory.embeddings.provider", "none").and_then(|c| c.set("memory.embeddings.model", "m"));
    let set = set.and_then(|c| c.set("memory.embeddings.provider", "openai"));
    let set = set.and_then(|c| c.set("memory.embeddings.batch", "32")).unwrap();
    let set = set.set("memory.embeddings.exclude_categories", "private, health").unwrap();
    assert_eq!(set.get("memory.embeddings.batch").unwrap(), 32);
    assert_eq!(set.get("memory.embeddings.exclude_categories").unwrap(), json!(["private", "health"]));
    let e = set.memory.embedder().unwrap();
    assert_eq!((e.provider.as_str(), e.batch()), ("openai", 32));
    let err = set.set("memory.embeddings.fusion", "rff").unwrap_err();
    assert!(err.render(false).contains("did you mean `rrf`?"), "{}", err.render(false));

    let set = config.set("mcp.serve.skills", "weather, notes-*").unwrap();
    assert_eq!(set.mcp.exposed(), ["weather", "notes-*"]);
    let set = set.set("mcp.serve.http.listen", "127.0.0.1:0").unwrap();
    assert_eq!(set.mcp.http().unwrap().listen.port(), 0);

    // Telegram's ids are numbers in the file; a skill's name that is all digits stays text.
    let set = config.set("channels.telegram.allow", "123, 456").unwrap();
    assert_eq!(set.channels.telegram.as_ref().unwrap().allow, vec![123, 456]);
    assert!(set.text().ends_with("channels:\n  telegram:\n    allow:\n      - 123\n      - 456\n"), "{}", set.text());
    let set = set.set("channels.telegram.groups", "-1001234567890").unwrap();
    assert_eq!(set.get("channels.telegram.groups").unwrap(), json!([-1_001_234_567_890_i64]));
    let set = set.set("channels.telegram.recipients.family", "-1001234567890").unwrap();
    assert_eq!(set.get("channels.telegram.recipients.family").unwrap(), -1_001_234_567_890_i64);
    let set = set.set("channels.telegram.recipients", "family=1, work=-2").unwrap();
    assert_eq!(set.get("channels.telegram.recipients").unwrap(), json!({ "family": 1, "work": -2 }));
    let set = set.set("channels.telegram.rate_per_hour", "5").unwrap();
    assert_eq!(set.channels.telegram.as_ref().unwrap().rate_per_hour, 5);
    let err = set.set("channels.telegram.recipients", "family").unwrap_err();
    assert!(err.render(false).contains("e.g. `channels.telegram.recipients.family`"), "{}", err.render(false));
    assert_eq!(config.set("chat.tools", "2fa, 123").unwrap().chat.tools, ["2fa", "123"]);
    let set = config.set("telemetry.endpoint", "http://h:1").unwrap().set("telemetry.headers.x-shard", "3").unwrap();
    assert_eq!(set.get("telemetry.headers.x-shard").unwrap(), "3");

    // Signal's numbers stay text (`+…`).
    let set = config.set("channels.signal.account", "+4915112345678").unwrap();
    let set = set.set("channels.signal.allow", "+4917000000001").unwrap();
    assert_eq!(set.channels.signal.unwrap().allow, ["+4917000000001"]);
    let err = config.set("channels.telegram.challenge", "pairng").unwrap_err();
    assert!(err.render(false).contains("did you mean `pairing`?"), "{}", err.render(false));
}

#[test]
fn secrets_and_hashes_are_never_typed_in() {
    let config = parse(EXAMPLE).unwrap();
    let err = config.set("channels.telegram.token", "123456:ABCdefGHIjklMNOpqrSTUvwxYZ").unwrap_err();
    let out = err.render(false);
    assert!(matches!(err, ConfigError::Key { .. } | ConfigError::Secret { .. }), "{out}");
    assert!(!out.contains("ABCdef"), "never echoed: {out}");
    let err = config.set("channels.matrix.token", "plain").unwrap_err();
    let out = err.render(false);
    assert!(out.contains("`pyra vault set channel:matrix:token`") && !out.contains("plain"), "{out}");
    let err = config.get("channels.telegram.token").unwrap_err();
    assert!(err.render(false).contains("lives in the vault as `channel:telegram:token`"), "{err:?}");
    let err = config.set("channels.telegram.passphrase", "hunter2hunter2").unwrap_err();
    let out = err.render(false);
    assert!(out.contains("`pyra channels passphrase telegram`") && !out.contains("hunter2"), "{out}");
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let set = config.set("channels.telegram.passphrase", hash).unwrap();
    assert_eq!(set.channels.telegram.unwrap().passphrase.as_deref(), Some(hash), "the command's hash goes in");
    let err = config.unset("channels.telegram.token").unwrap_err();
    assert!(matches!(err, ConfigError::Key { .. }), "{err:?}");

    // Written into the file by hand: an unknown key whose value is hidden.
    let out = errors("channels:\n  telegram:\n    token: 123456:notashapeknown\n");
    assert!(out.contains("unknown key `token` in `channels.telegram`"), "{out}");
    assert!(out.contains("`pyra vault set channel:telegram:token`") && !out.contains("notashape"), "{out}");
}

#[test]
fn misspelt_keys_get_the_nearest_declared_one() {
    let config = parse(EXAMPLE).unwrap();
    for (key, help) in [
        ("memory.embedings.provider", "did you mean `memory.embeddings.provider`?"),
        ("channels.telegram.alow", "did you mean `channels.telegram.allow`?"),
        ("channels.telegam.recipients.family", "did you mean `channels.telegram.recipients.family`?"),
        ("mcp.serve.skils", "did you mean `mcp.serve.skills`?"),
        ("mcp.serv.http.listen", "did you mean `mcp.serve.http.listen`?"),
        ("memory.foo", "`memory` takes `embeddings.provider`, `embeddings.model`"),
        ("chat.nothing.near", "`chat` takes `recall`, `recall_category` and `tools`"),
        ("chanels.telegram.allow", "did you mean `channels`?"),
        ("bogus", "keys are `default_model`, `models.NAME.FIELD`, `chat.FIELD`"),
        ("models.local.prices.promt", "did you mean `models.local.prices.prompt`?"),
    ] {
        let err = config.get(key).unwrap_err();
        assert!(matches!(err, ConfigError::Key { .. }), "{key}: {err:?}");
        assert!(err.render(false).contains(help), "{key}: {}", err.render(false));
    }
    let err = config.get("bogus").unwrap_err().render(false);
    assert!(err.contains("`mcp.serve.FIELD`") && err.contains("`channels.NAME.FIELD`"), "{err}");
}

#[test]
fn unset_removes_a_value_back_to_its_default() {
    let text = format!("{EXAMPLE}chat:\n  recall: 3   # few\n  tools: [weather]\n");
    let config = parse(&text).unwrap();
    let unset = config.unset("chat.recall").unwrap();
    assert_eq!(unset.chat.recall(), crate::ChatSettings::DEFAULT_RECALL);
    assert_eq!(unset.text(), format!("{EXAMPLE}chat:\n  tools: [weather]\n"));
    let unset = config.unset("models.local.options.temperature").unwrap();
    assert_eq!(unset.entry("local").unwrap().options.temperature, None);
    assert!(unset.text().contains("options: { max_tokens: 2048, context_window: 8192 }"), "{}", unset.text());
    // Not set: nothing changes.
    assert_eq!(config.unset("daemon.max_runs").unwrap().text(), text);
    // A required field: the check says what is missing.
    let err = config.unset("models.local.model").unwrap_err();
    assert!(err.render(false).contains("model entry `local` has no `model`"), "{}", err.render(false));
    let with = config.set("telemetry.endpoint", "http://h:1").unwrap().set("telemetry.headers.x-scope", "a").unwrap();
    let err = with.unset("telemetry.endpoint").unwrap_err();
    assert!(err.render(false).contains("`telemetry` has no `endpoint`"), "{}", err.render(false));
    let without = with.unset("telemetry.headers.x-scope").unwrap();
    assert!(matches!(without.get("telemetry.headers.x-scope"), Err(ConfigError::NotSet(_))));
    // Only single values, of entries that exist.
    assert!(matches!(config.unset("chat"), Err(ConfigError::Key { .. })));
    assert!(matches!(config.unset("models.nope.model"), Err(ConfigError::Key { .. })));
}

#[test]
fn declared_kinds_are_checked_where_no_check_of_its_own_is() {
    let out = errors("memory:\n  embeddings:\n    provider: local\n    path: /m\n    timeout: soon\n    batch: 4096\n");
    assert!(out.contains("`timeout` must be a number, found a string"), "{out}");
    assert!(out.contains("`batch` must be a whole number from 1 to 2048, found 4096"), "{out}");
    let out = errors("channels:\n  signal:\n    account: \"+4915112345678\"\n    cli: 3\n");
    assert!(out.contains("`cli` must be a string, found a number"), "{out}");
    let out = errors("models:\n  - { name: a, provider: p, model: m, prices: { prompt: -1 } }\n");
    assert!(out.contains("`prompt` must be a number from 0 to 1000000, found -1"), "{out}");
    let out = errors(
        "channels:\n  matrix:\n    homeserver: https://m.example.org\n    user: \"@p:m\"\n    rate_per_hour: 0\n",
    );
    assert!(out.contains("`rate_per_hour` must be a whole number from 1 to 10000, found 0"), "{out}");
    assert!(out.contains("(default 20)"), "{out}");
}

#[test]
fn unsetting_the_only_key_of_a_map_keeps_the_rest_of_the_file() {
    let head = "# Mine.\ndefault_model: local   # used\nmodels:\n  - { name: local, provider: ollama, model: m }\n";
    let text = format!("{head}mcp:\n  serve:\n    skills:   # exposed\n      - weather\n      - notes\n# the end\n");
    let unset = parse(&text).unwrap().unset("mcp.serve.skills").unwrap();
    assert_eq!(unset.text(), format!("{head}mcp:\n  serve: {{}}\n# the end\n"));
    // The section stays: an empty `webhook:` map still turns the webhook on.
    let text = "daemon:\n  webhook:\n    listen: 127.0.0.1:9000   # mine\n";
    let unset = parse(text).unwrap().unset("daemon.webhook.listen").unwrap();
    assert_eq!(unset.text(), "daemon:\n  webhook: {}\n");
    assert!(unset.daemon.webhook.is_some());
    let text = "channels:\n  signal:\n    account: \"+4915112345678\"\n";
    let err = parse(text).unwrap().unset("channels.signal.account").unwrap_err();
    assert!(err.render(false).contains("`channels.signal` needs `account`"), "{}", err.render(false));
}
