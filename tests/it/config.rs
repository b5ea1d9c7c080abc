//! `pyra config path|get|set|unset|schema`: the file's place, values read and written
//! with comments kept, hand edits that break the file reported at their line, changes
//! that would break it refused without writing, secrets refused, the file kept private,
//! and the JSON Schema of the file printed.

use crate::harness::Pyra;

const CONFIG: &str = "\
# My models. Keys are in the vault.
default_model: local   # used when a skill names none
models:
  - name: local
    provider: ollama
    model: llama3.2
    options: { temperature: 0.2 }
  # the paid one
  - name: cloud
    provider: anthropic
    model: claude-sonnet-4-5
";

fn write_config(pyra: &Pyra, text: &str) -> std::path::PathBuf {
    let path = pyra.home_path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn path_prints_where_the_file_lives() {
    let pyra = Pyra::new();
    let out = pyra.run(["config", "path"]);
    out.success();
    assert_eq!(out.stdout.trim(), pyra.home_path().join("config.yaml").display().to_string());
    // Nothing is created by asking.
    assert!(!pyra.home_path().join("config.yaml").exists());
}

#[test]
fn set_then_get_keeps_comments_and_types() {
    let pyra = Pyra::new();
    let path = write_config(&pyra, CONFIG);
    pyra.run(["config", "get", "default_model"]).success().stdout_has("local\n");
    pyra.run(["config", "get", "models.cloud.model"]).success().stdout_has("claude-sonnet-4-5\n");

    pyra.run(["config", "set", "default_model", "cloud"]).success();
    pyra.run(["config", "set", "models.local.options.temperature", "0.7"]).success();
    pyra.run(["config", "set", "models.cloud.options.max_tokens", "4096"]).success();
    pyra.run(["config", "get", "default_model"]).success().stdout_has("cloud\n");
    pyra.run(["config", "get", "models.local.options.temperature"]).success().stdout_has("0.7\n");
    let options = pyra.run(["config", "get", "models.cloud.options"]);
    options.success();
    assert_eq!(options.json()["max_tokens"], 4096, "a number, not a string");

    let text = std::fs::read_to_string(&path).unwrap();
    let expected = CONFIG
        .replace("default_model: local ", "default_model: cloud ")
        .replace("temperature: 0.2", "temperature: 0.7")
        + "    options:\n      max_tokens: 4096\n";
    assert_eq!(text, expected);

    // Unknown keys and entries are usage errors with a suggestion; unset values fail.
    pyra.run(["config", "get", "models.local.options.temprature"])
        .code(2)
        .stderr_has("did you mean `models.local.options.temperature`?");
    pyra.run(["config", "set", "models.lcoal.model", "x"]).code(2).stderr_has("did you mean `local`?");
    pyra.run(["config", "get", "models.local.base_url"]).code(1).stderr_has("is not set");
}

#[test]
fn a_hand_edit_that_breaks_the_file_is_reported_at_its_line() {
    let pyra = Pyra::new();
    write_config(&pyra, &CONFIG.replace("    model: llama3.2\n", "    modle: llama3.2\n"));
    let out = pyra.run(["config", "get", "default_model"]);
    out.code(1).stderr_has("unknown key `modle` in a model entry").stderr_has("did you mean `model`?");
    out.stderr_has(&format!("{}:6:5", pyra.home_path().join("config.yaml").display()));
    out.stderr_has("config.yaml is invalid");

    // A provider id the registry does not know, located too.
    write_config(&pyra, &CONFIG.replace("provider: anthropic", "provider: antropic"));
    pyra.run(["config", "get", "default_model"])
        .code(1)
        .stderr_has("unknown provider `antropic`")
        .stderr_has("config.yaml:10:15")
        .stderr_has("did you mean `anthropic`?");
    // … which `set` can fix.
    pyra.run(["config", "set", "models.cloud.provider", "anthropic"]).success();
    pyra.run(["config", "get", "models.cloud.provider"]).success().stdout_has("anthropic");
}

#[test]
fn a_set_that_would_break_the_file_writes_nothing() {
    let pyra = Pyra::new();
    let path = write_config(&pyra, CONFIG);
    for (key, value, message) in [
        ("models.local.options.temperature", "9", "`temperature` must be a number from 0 to 2, found 9"),
        ("default_model", "nope", "`default_model` names no entry: `nope`"),
        ("models.local.provider", "olama", "did you mean `ollama`?"),
        ("models.local.name", "a/b", "invalid model name `a/b`"),
        ("models.local.key", "openai_key", "`key` must name a vault key in UPPER_SNAKE case"),
    ] {
        pyra.run(["config", "set", key, value])
            .code(1)
            .stderr_has(message)
            .stderr_has("config.yaml:")
            .stderr_has("nothing was written");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG, "{key} changed the file");
    }
}

#[test]
fn secrets_are_refused_and_never_echoed() {
    let pyra = Pyra::new();
    let path = write_config(&pyra, CONFIG);
    let secret = "sk-ant-api03-Zq8xv2LmN4pR7tYw9KcBdEfGhJ";
    let out = pyra.run(["config", "set", "models.cloud.key", secret]);
    out.code(1).stderr_has("looks like a secret").stderr_has("pyra vault set");
    assert!(!out.stderr.contains("Zq8xv2") && !out.stdout.contains("Zq8xv2"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
    pyra.run(["config", "set", "models.cloud.key", "ANTHROPIC_API_KEY"]).success();

    // A key pasted into the file by hand: reported at its line, masked.
    write_config(
        &pyra,
        &CONFIG.replace("model: claude-sonnet-4-5\n", &format!("model: claude-sonnet-4-5\n    key: {secret}\n")),
    );
    let out = pyra.run(["config", "get", "default_model"]);
    out.code(1).stderr_has("config.yaml:12:10").stderr_has("pyra vault set");
    assert!(!out.stderr.contains("Zq8xv2"), "{}", out.stderr);
}

#[test]
fn the_file_is_created_private() {
    let pyra = Pyra::new();
    let home = pyra.home_path().join("fresh-home");
    let out = pyra.command(["config", "set", "default_model", "local"]).env("PYRA_HOME", &home).output().unwrap();
    // No entry named `local` yet: refused, and nothing is created.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`pyra setup` adds one"));
    assert!(!home.join("config.yaml").exists());

    // A hand-written file loosened by an editor: a change writes it back 0600.
    let path = write_config(&pyra, CONFIG);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        pyra.run(["config", "set", "models.local.model", "qwen3:8b"]).success();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(pyra.home_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    pyra.run(["config", "get", "models.local.model"]).success().stdout_has("qwen3:8b");
}

#[test]
fn every_declared_section_is_set_and_unset_by_key() {
    let pyra = Pyra::new();
    let path = write_config(&pyra, CONFIG);
    pyra.run(["config", "set", "channels.telegram.allow", "123456789,42"]).success().stderr_has("set ");
    pyra.run(["config", "set", "memory.embeddings.provider", "none"]).success();
    pyra.run(["config", "set", "mcp.serve.skills", "weather"]).success();
    let allow = pyra.run(["config", "get", "channels.telegram.allow"]);
    assert_eq!(allow.success().json(), serde_json::json!([123_456_789, 42]), "numbers, as Telegram's ids are");
    pyra.run(["config", "get", "memory.embeddings.provider"]).success().stdout_has("none\n");
    pyra.run(["config", "get", "channels.telegram.alow"]).code(2).stderr_has("did you mean `channels.telegram.allow`?");
    let out = pyra.run(["config", "set", "channels.telegram.token", "123456:hunter2hunter2hunter2"]);
    out.code(2).stderr_has("pyra vault set channel:telegram:token");
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    pyra.run(["config", "set", "channels.telegram.passphrase", "hunter2hunter2"])
        .code(2)
        .stderr_has("pyra channels passphrase telegram");

    pyra.run(["config", "unset", "mcp.serve.skills"]).success().stderr_has("unset mcp.serve.skills");
    pyra.run(["config", "get", "mcp.serve.skills"]).code(1).stderr_has("is not set");
    pyra.run(["config", "unset", "models.local.model"])
        .code(1)
        .stderr_has("has no `model`")
        .stderr_has("nothing was written");
    assert!(std::fs::read_to_string(&path).unwrap().starts_with(CONFIG), "comments and entries kept");
}

#[test]
fn schema_prints_the_json_schema_of_the_file() {
    let schema = Pyra::new().run(["config", "schema"]).success().json();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["properties"]["chat"]["properties"]["recall"]["default"], 5);
    assert!(schema["properties"]["channels"]["properties"]["telegram"]["properties"].get("token").is_none());
}
