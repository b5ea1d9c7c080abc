//! The crate's behaviour through its API, on one example file: loading and its located
//! errors, secrets refused and masked, selectors, dotted keys, and edits that keep the text.
//! The `daemon:` section has its own file, `daemon_tests.rs`.

use std::path::Path;

use crate::{ChatSettings, Config, ConfigError, HEADER, ModelEntry, ModelOptions, ResolveError, WebhookSettings};

pub(crate) const EXAMPLE: &str = "\
# Pyra configuration. Secrets never go here.
default_model: local          # the entry used when a node names none
models:
  - name: local               # what skills refer to
    provider: ollama
    model: llama3.2
    base_url: http://localhost:11434
    key: OLLAMA_API_KEY
    options: { temperature: 0.2, max_tokens: 2048, context_window: 8192 }
    prices: { prompt: 0.15, completion: 0.60, cached: 0.075 }
  - name: router
    provider: openrouter
    model: openai/gpt-4.1-mini
";

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_text(Path::new("/home/u/.pyra/config.yaml"), text, true)
}

/// The rendered errors of an invalid text.
pub(crate) fn errors(text: &str) -> String {
    match parse(text) {
        Err(e @ ConfigError::Invalid(_)) => e.render(false),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

pub(crate) fn invalid_codes(text: &str) -> Vec<&'static str> {
    match parse(text) {
        Err(ConfigError::Invalid(i)) => i.diagnostics.iter().map(|d| d.code).collect(),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn parses_the_documented_example() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.default_model.as_deref(), Some("local"));
    let local = config.entry("local").unwrap();
    assert_eq!(local.provider, "ollama");
    assert_eq!(local.key.as_deref(), Some("OLLAMA_API_KEY"));
    assert_eq!(local.options.temperature, Some(0.2));
    assert_eq!(local.options.max_tokens, Some(2048));
    assert_eq!(local.prices.unwrap().cached, Some(0.075));
    assert_eq!(config.entry("router").unwrap().options, ModelOptions::default());
    let span = config.entry_span("router", "provider").unwrap();
    assert_eq!(&EXAMPLE[span], "openrouter");
    // An empty file, or comments only, is an empty configuration.
    assert!(parse("").unwrap().models.is_empty());
    assert!(parse("# nothing yet\n").unwrap().default_model.is_none());
}

#[test]
fn timeouts_are_seconds_with_fractions() {
    let text = "models:\n  - name: local\n    provider: ollama\n    model: x\n    options: { first_token_timeout: 0.5, idle_timeout: 30 }\n";
    let options = parse(text).unwrap().entry("local").unwrap().options;
    assert_eq!((options.first_token_timeout, options.idle_timeout), (Some(0.5), Some(30.0)));
    let out = errors(&text.replace("0.5", "0").replace("30", "\"1m\""));
    assert!(out.contains("`first_token_timeout` must be a number from 0.1 to 86400, found 0"), "{out}");
    assert!(out.contains("`idle_timeout` must be a number, found"), "{out}");
}

#[test]
fn errors_are_located_with_did_you_mean() {
    let text = "defualt_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: x\n    options: { temprature: 0.2, max_tokens: 0 }\n    modle: y\n";
    let out = errors(text);
    assert!(out.contains("unknown key `defualt_model` in config.yaml"), "{out}");
    assert!(out.contains("--> /home/u/.pyra/config.yaml:1:1"), "{out}");
    assert!(out.contains("did you mean `default_model`?"), "{out}");
    assert!(out.contains("config.yaml:6:16") && out.contains("did you mean `temperature`?"), "{out}");
    assert!(out.contains("`max_tokens` must be a whole number at least 1, found 0"), "{out}");
    assert!(out.contains("config.yaml:7:5") && out.contains("did you mean `model`?"), "{out}");
    // Types, YAML 1.2 scalars and required keys.
    let codes = invalid_codes("models:\n  - name: a/b\n    provider: 3\n    options: { temperature: yes }\n");
    assert_eq!(codes, ["missing-key", "config-name", "config-type", "config-type"]);
    let out = errors("models: [{ name: a, provider: p }]\n");
    assert!(out.contains("model entry `a` has no `model`"), "{out}");
    let out = errors("models:\n  - name: a\n    provider: p\n    model: m\n  model: x\n");
    assert!(out.contains("invalid YAML") || out.contains("config.yaml:"), "{out}");
}

#[test]
fn duplicates_and_a_default_that_names_nothing() {
    let text = "default_model: locl\nmodels:\n  - { name: local, provider: ollama, model: a }\n  - { name: local, provider: ollama, model: b }\n";
    let out = errors(text);
    assert!(out.contains("duplicate model name `local`"), "{out}");
    assert!(out.contains("config.yaml:4:13") && out.contains("first defined here"), "{out}");
    assert!(out.contains("`default_model` names no entry: `locl`"), "{out}");
    assert!(out.contains("did you mean `local`?"), "{out}");
    let out = errors("default_model: x\n");
    assert!(out.contains("`pyra setup` adds one"), "{out}");
    let out = errors("default_model: x\nmodels:\n  - name: x\n    provider: p\n    model: m\n    bogus: 1\nbogus: 2\n");
    assert!(!out.contains("names no entry"), "an entry with an error still counts: {out}");
}

#[test]
fn secrets_are_refused_and_never_shown() {
    let secret = "sk-proj-Abcdefghijklmnop1234567890XYZ";
    let text = format!("models:\n  - name: a\n    provider: openai\n    model: m\n    key: {secret}\n");
    let out = errors(&text);
    assert!(out.contains("looks like a secret") && out.contains("pyra vault set"), "{out}");
    assert!(out.contains("config.yaml:5:10"), "{out}");
    assert!(!out.contains("Abcdefghijklmnop"), "the secret is masked: {out}");
    // Anywhere in the file, comments and unknown keys included.
    let out = errors(&format!("# old key: {secret}\nmodels: []\n"));
    assert!(out.contains("secret") && !out.contains("Abcdefghijklmnop"), "{out}");
    let out = errors(&format!("models:\n  - name: a\n    provider: openai\n    model: m\n    api_key: {secret}\n"));
    assert!(out.contains("unknown key `api_key`") && out.contains("vault"), "{out}");
    assert!(!out.contains("Abcdefghijklmnop"), "{out}");
    // A random-looking key value that no known shape matches, a name in the wrong
    // case, credentials in a URL.
    let codes = invalid_codes(
        "models:\n  - name: a\n    provider: p\n    model: m\n    key: Zq8xv2LmN4pR7tYw9KcB\n    base_url: https://user:pw@example.com/v1\n  - name: b\n    provider: p\n    model: m\n    key: openai_api_key\n",
    );
    assert_eq!(codes, ["secret-in-config", "secret-in-config", "config-key-name"]);
    let out =
        errors("models:\n  - name: a\n    provider: p\n    model: m\n    base_url: https://user:pw@example.com/v1\n");
    assert!(!out.contains("user:pw"), "{out}");
}

#[test]
fn resolves_names_and_model_overrides() {
    let config = parse(EXAMPLE).unwrap();
    let default = config.resolve(None).unwrap();
    assert_eq!((default.entry.as_str(), default.model.as_str()), ("local", "llama3.2"));
    assert_eq!(default.base_url.as_deref(), Some("http://localhost:11434"));
    assert!(default.prices.is_some());
    let other = config.resolve(Some("local/qwen3:8b")).unwrap();
    assert_eq!((other.provider.as_str(), other.model.as_str()), ("ollama", "qwen3:8b"));
    assert_eq!(other.options.temperature, Some(0.2));
    assert!(other.prices.is_none(), "the entry's prices are for its own model");
    let router = config.resolve(Some("router/meta-llama/llama-3.1-8b")).unwrap();
    assert_eq!(router.model, "meta-llama/llama-3.1-8b");
    assert_eq!(config.resolve(Some("router")).unwrap().model, "openai/gpt-4.1-mini");
    let err = config.resolve(Some("locl")).unwrap_err();
    assert_eq!(err.to_string(), "no model named `locl` in config.yaml; did you mean `local`?");
    assert!(matches!(config.resolve(Some("local/")), Err(ResolveError::Selector(_))));
    assert!(matches!(config.resolve(Some("/x")), Err(ResolveError::Selector(_))));
    assert_eq!(parse("").unwrap().resolve(None), Err(ResolveError::NoModels));
    let no_default = parse("models: [{ name: a, provider: p, model: m }]\n").unwrap();
    assert!(no_default.resolve(None).unwrap_err().to_string().contains("pyra config set default_model"));
}

#[test]
fn provider_ids_are_checked_by_the_caller_and_located() {
    let config = parse(EXAMPLE.replace("provider: openrouter", "provider: opnerouter").as_str()).unwrap();
    let err = config
        .validate_with(|p| if p == "opnerouter" { Err("did you mean `openrouter`?".into()) } else { Ok(()) })
        .unwrap_err();
    let out = err.render(false);
    assert!(out.contains("unknown provider `opnerouter`") && out.contains("config.yaml:12:15"), "{out}");
    assert!(config.validate_with(|_| Ok(())).is_ok());
}

#[test]
fn get_and_set_by_dotted_key() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.get("default_model").unwrap(), "local");
    assert_eq!(config.get("models.local.options.temperature").unwrap(), 0.2);
    assert_eq!(config.get("models.router.model").unwrap(), "openai/gpt-4.1-mini");
    assert!(config.get("models.local").unwrap().is_object());
    assert!(matches!(config.get("models.router.base_url"), Err(ConfigError::NotSet(_))));
    let err = config.get("models.local.options.temprature").unwrap_err();
    assert!(err.render(false).contains("did you mean `models.local.options.temperature`?"), "{err:?}");
    assert!(matches!(config.get("default"), Err(ConfigError::Key { .. })));
    assert!(matches!(config.get("models.nope.model"), Err(ConfigError::Key { .. })));

    // Numbers stay numbers; comments stay.
    let set = config.set("models.local.options.temperature", "0.7").unwrap();
    assert_eq!(set.entry("local").unwrap().options.temperature, Some(0.7));
    assert_eq!(set.text(), EXAMPLE.replace("temperature: 0.2", "temperature: 0.7"));
    let set = config.set("models.router.prices.prompt", "3").unwrap();
    assert!(
        set.text().contains(
            "  - name: router\n    provider: openrouter\n    model: openai/gpt-4.1-mini\n    prices:\n      prompt: 3\n"
        ),
        "{}",
        set.text()
    );
    // A model id that looks like a number stays text.
    let set = config.set("models.local.model", "010").unwrap();
    assert_eq!(set.entry("local").unwrap().model, "010");
    // An invalid result is an error located in the text it would have written.
    let err = config.set("models.local.options.temperature", "5").unwrap_err();
    assert!(err.render(false).contains("`temperature` must be a number from 0 to 2, found 5"), "{err:?}");
    let err = config.set("default_model", "nope").unwrap_err();
    assert!(err.render(false).contains("names no entry"), "{err:?}");
    // Secrets are refused without being echoed.
    let err = config.set("models.local.key", "sk-ant-api03-Abcdefghij1234567890KLMN").unwrap_err();
    assert!(matches!(err, ConfigError::Secret { .. }) && !err.render(false).contains("Abcdefghij"));
    assert!(config.set("models.local.key", "ANTHROPIC_API_KEY").is_ok());
    assert!(matches!(config.set("models.local.options", "1"), Err(ConfigError::Key { .. })));
    assert!(matches!(config.set("models.nope.model", "x"), Err(ConfigError::Key { .. })));
}

#[test]
fn the_chat_section_is_checked_read_and_set() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.chat, ChatSettings::default());
    assert_eq!(config.chat.recall(), ChatSettings::DEFAULT_RECALL);
    let text = format!("{EXAMPLE}chat:\n  recall: 0        # no recall\n  recall_category: work\n  tools: [weather]\n");
    let config = parse(&text).unwrap();
    assert_eq!(config.chat.recall(), 0);
    assert_eq!(config.chat.recall_category.as_deref(), Some("work"));
    assert_eq!(config.chat.tools, ["weather"]);
    assert_eq!(config.get("chat.recall").unwrap(), 0);

    let set = config.set("chat.recall", "8").unwrap();
    assert_eq!(set.chat.recall, Some(8));
    assert!(set.text().contains("  recall: 8        # no recall\n"), "{}", set.text());
    let set = config.set("chat.tools", "weather, notes").unwrap();
    assert_eq!(set.chat.tools, ["weather", "notes"]);
    assert_eq!(config.set("chat.tools", "").unwrap().chat.tools, Vec::<String>::new());
    let set = parse(EXAMPLE).unwrap().set("chat.recall_category", "home").unwrap();
    assert_eq!(set.chat.recall_category.as_deref(), Some("home"));
    assert!(set.text().starts_with(EXAMPLE), "{}", set.text());

    let err = config.set("chat.recall", "500").unwrap_err();
    assert!(err.render(false).contains("`recall` must be a whole number from 0 to 100, found 500"), "{err:?}");
    let err = config.get("chat.recal").unwrap_err();
    assert!(err.render(false).contains("did you mean `chat.recall`?"), "{err:?}");
    let out = errors("chat:\n  recall: many\n  tols: []\n");
    assert!(out.contains("`recall` must be a whole number, found a string"), "{out}");
    assert!(out.contains("unknown key `tols` in `chat`") && out.contains("did you mean `tools`?"), "{out}");
    let out = errors("chat:\n  tools: weather\n");
    assert!(out.contains("`tools` must be a list, found a string"), "{out}");
    let out = errors("chat:\n  tools: [weather, 3, '']\n");
    assert!(out.contains("each item of `tools` must be a name, found a number"), "{out}");
    assert!(out.contains("each item of `tools` must be a name, found an empty string"), "{out}");
}

#[test]
fn an_empty_list_key_is_an_empty_list() {
    // `tools:` with nothing after it passed the checks and then failed to deserialise,
    // reported at 1:1 with serde's words.
    assert!(parse("chat:\n  tools:\n").unwrap().chat.tools.is_empty());
    assert!(parse("daemon:\n  skill_dirs:\n").unwrap().daemon.skill_dirs.is_empty());
}

/// The YAML example in `lib.rs`'s module documentation.
pub(crate) fn docs_example() -> String {
    include_str!("lib.rs")
        .lines()
        .skip_while(|l| *l != "//! ```yaml")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| format!("{}\n", l.strip_prefix("//! ").unwrap_or("")))
        .collect()
}

#[test]
fn the_module_docs_example_parses() {
    let yaml = docs_example();
    let config = parse(&yaml).unwrap_or_else(|e| panic!("{}\n{yaml}", e.render(false)));
    assert_eq!(config.chat.tools, ["weather"]);
    assert_eq!(config.daemon.skill_dirs, ["~/work/pyra-skills", "/srv/skills"]);
    assert_eq!(config.daemon.webhook, Some(WebhookSettings::default()));
    let telemetry = config.telemetry.expect("the example exports");
    assert_eq!(telemetry.endpoint, "http://localhost:4318");
    assert_eq!(telemetry.headers.len(), 2);
}

#[test]
fn entry_names_may_hold_dots() {
    let config = parse("models:\n  - { name: gpt-4.1, provider: openai, model: gpt-4.1 }\n").unwrap();
    assert_eq!(config.get("models.gpt-4.1.model").unwrap(), "gpt-4.1");
    assert_eq!(config.get("models.gpt-4.1").unwrap()["provider"], "openai");
    let set = config.set("models.gpt-4.1.options.max_tokens", "100").unwrap();
    assert_eq!(set.entry("gpt-4.1").unwrap().options.max_tokens, Some(100));
}

#[test]
fn set_entry_keeps_comments_and_order() {
    let config = parse(EXAMPLE).unwrap();
    let entry = ModelEntry {
        name: "cloud".into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        base_url: None,
        key: None,
        options: ModelOptions { max_tokens: Some(4096), ..ModelOptions::default() },
        prices: None,
    };
    let added = config.set_entry(&entry, true).unwrap();
    assert_eq!(added.default_model.as_deref(), Some("cloud"));
    assert_eq!(added.entry("cloud"), Some(&entry));
    let expected = EXAMPLE.replace("default_model: local ", "default_model: cloud ")
        + "  - name: cloud\n    provider: anthropic\n    model: claude-sonnet-4-5\n    options:\n      max_tokens: 4096\n";
    assert_eq!(added.text(), expected);

    // Replacing an entry: changed fields in place, missing ones removed, comments kept.
    let local = ModelEntry {
        name: "local".into(),
        provider: "ollama".into(),
        model: "qwen3:8b".into(),
        base_url: None,
        key: Some("OLLAMA_API_KEY".into()),
        options: ModelOptions { temperature: Some(0.2), ..ModelOptions::default() },
        prices: None,
    };
    let replaced = added.set_entry(&local, false).unwrap();
    assert_eq!(replaced.entry("local"), Some(&local));
    assert_eq!(replaced.default_model.as_deref(), Some("cloud"));
    let text = replaced.text();
    assert!(
        text.starts_with("# Pyra configuration. Secrets never go here.\ndefault_model: cloud          # the entry")
    );
    assert!(text.contains("  - name: local               # what skills refer to\n    provider: ollama\n    model: qwen3:8b\n    key: OLLAMA_API_KEY\n    options: { temperature: 0.2 }\n  - name: router\n"), "{text}");

    // A new file gets the header.
    let fresh = Config::from_text(Path::new("config.yaml"), "", false).unwrap().set_entry(&local, true).unwrap();
    assert!(fresh.text().starts_with(HEADER), "{}", fresh.text());
    assert!(fresh.text().ends_with("default_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: qwen3:8b\n    key: OLLAMA_API_KEY\n    options:\n      temperature: 0.2\n"), "{}", fresh.text());
    assert_eq!(fresh.resolve(None).unwrap().model, "qwen3:8b");
}

#[test]
fn load_reads_the_home() {
    let home = tempfile::tempdir().unwrap();
    let empty = Config::load(home.path()).unwrap();
    assert!(!empty.exists() && empty.models.is_empty());
    std::fs::write(Config::file_path(home.path()), EXAMPLE).unwrap();
    let config = Config::load(home.path()).unwrap();
    assert!(config.exists());
    assert_eq!(config.path(), home.path().join("config.yaml"));
    std::fs::write(Config::file_path(home.path()), b"models: \xff\n").unwrap();
    assert!(Config::load(home.path()).unwrap_err().render(false).contains("not valid UTF-8"));
}
