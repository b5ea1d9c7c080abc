//! Built-in plugins go through the same registry, pinning, policy and approvals as MCP
//! servers: `websearch` against a local server speaking SearXNG's JSON API (results, a 403
//! explained), a built-in this build lacks, a setting it does not declare; `pyra plugin
//! setup` from the declared fields (`--set`, and the prompts on a terminal).

use super::{PASS, home_contains, manifest_append};
use std::os::unix::fs::PermissionsExt;

use crate::harness::Pyra;
use crate::llm_server::{LlmServer, Reply};

const RESULTS: &str = r#"{"query": "spare key", "number_of_results": 2, "results": [
  {"url": "https://example.org/keys", "title": "Where to hide a spare key", "content": "Under the blue pot is the classic.", "engine": "duckduckgo", "score": 1.0},
  {"url": "https://example.org/locks", "title": "Smart locks", "content": "No key at all.", "engine": "bing", "score": 0.5}
], "suggestions": []}"#;

#[test]
fn websearch_over_searxng_is_a_tool_like_any_other() {
    let server = LlmServer::start(vec![Reply::json(200, RESULTS), Reply::json(403, "Forbidden")]);
    let pyra = Pyra::new();
    let added = pyra.run([
        "plugin",
        "add",
        "web",
        "--builtin",
        "websearch",
        "--setting",
        "backend=searxng",
        "--setting",
        &format!("url={}", server.url),
        "--yes",
    ]);
    added.success().stdout_has("web.search").stderr_has("approved 1 tool(s)");
    // The shipped policy is written out for the user to read: `search` (read-only) allowed.
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/web/plugin.yaml")).unwrap();
    assert!(manifest.contains("policy:\n  default: ask\n  tools:\n    search: allow\n"), "{manifest}");
    let skill = pyra.skill("find", "name: find\nnodes:\n  s:\n    uses: web.search\n    with: { query: spare key, count: 5 }\noutputs:\n  first: \"{{ nodes.s.output.structured.results[0].url }}\"\n  text: \"{{ nodes.s.output.text }}\"\n");
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    let outputs = out.json();
    assert_eq!(outputs["first"], "https://example.org/keys", "{outputs}");
    assert!(outputs["text"].as_str().unwrap().contains("Under the blue pot"), "{outputs}");
    let seen = server.requests();
    assert!(seen[0].path.contains("/search?q=spare+key&format=json"), "{}", seen[0].path);
    // A SearXNG without the JSON format: the error says which setting.
    pyra.run(["run", &skill]).code(1).stderr_has("403").stderr_has("search.formats");
}

#[test]
fn a_builtin_this_build_lacks_or_a_setting_it_does_not_declare_is_a_located_error() {
    let pyra = Pyra::new();
    let out = pyra.run(["plugin", "add", "x", "--builtin", "websearc", "--yes"]);
    out.code(1).stderr_has("this build has no built-in plugin `websearc`").stderr_has("websearch");
    let out = pyra.run(["plugin", "add", "y", "--builtin", "websearch", "--setting", "colour=blue", "--yes"]);
    out.code(1).stderr_has("has no setting `colour`");
    let out = pyra.run(["plugin", "add", "z", "--builtin", "websearch", "--setting", "backend=google", "--yes"]);
    out.code(1).stderr_has("`settings.backend: google` is not one of searxng, brave");
}

/// `web`, a websearch plugin whose manifest carries a comment of the owner's.
fn web(pyra: &Pyra) -> std::path::PathBuf {
    pyra.run([
        "plugin",
        "add",
        "web",
        "--builtin",
        "websearch",
        "--setting",
        "url=http://127.0.0.1:8888",
        "--no-start",
    ])
    .success();
    manifest_append(pyra, "web", "# my search engine, keep this note\n");
    pyra.home_path().join("plugins/web/plugin.yaml")
}

#[test]
fn setup_set_writes_a_declared_setting_minimally() {
    let pyra = Pyra::new();
    let path = web(&pyra);
    pyra.run(["plugin", "setup", "web", "--set", "backend=brave"])
        .success()
        .stderr_has("set backend in plugins/web/plugin.yaml")
        .stderr_has("secrets are not given with `--set`");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("  backend: brave\n") && text.contains("  url: http://127.0.0.1:8888\n"), "{text}");
    assert!(text.contains("# my search engine, keep this note"), "{text}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    pyra.run(["plugin", "doctor", "web"])
        .stderr_has("Backend (backend, choice: searxng|brave): brave")
        .stderr_has("Brave API key (api_key, secret): not mapped");
}

#[test]
fn setup_set_refuses_a_value_outside_the_choices_and_writes_nothing() {
    let pyra = Pyra::new();
    let path = web(&pyra);
    let before = std::fs::read_to_string(&path).unwrap();
    pyra.run(["plugin", "setup", "web", "--set", "url=http://127.0.0.1:9", "--set", "backend=bing"])
        .code(2)
        .stderr_has("`backend: bing` is not one of searxng, brave")
        .stderr_has("nothing was written");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn setup_set_of_an_unknown_key_suggests_the_declared_one() {
    let pyra = Pyra::new();
    let path = web(&pyra);
    let before = std::fs::read_to_string(&path).unwrap();
    pyra.run(["plugin", "setup", "web", "--set", "bakend=x"]).code(2).stderr_has("did you mean `backend`?");
    // A secret is never a setting, and never on a command line.
    pyra.run(["plugin", "setup", "web", "--set", "api_key=x"]).code(2).stderr_has("`api_key` is a secret");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    // Off a terminal and without `--set`: the mapped secrets as before, settings untouched.
    pyra.run(["plugin", "setup", "web"]).success().stderr_has("not mapped under `secrets:`: api_key");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn setup_on_a_terminal_asks_each_declared_field_and_maps_the_secret() {
    let pyra = Pyra::new();
    let path = web(&pyra);
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    let secret = "BSA-test-key-0123456789abcdef";
    let mut t = crate::pty::Terminal::start(
        &pyra,
        &["plugin", "setup", "web"],
        &[("PYRA_VAULT_PASSPHRASE", PASS), ("PYRA_VAULT_SCRYPT_LOG_N", "10")],
    );
    t.expect("Backend — searxng (your own instance) or brave (Brave Search API) [searxng] (searxng|brave): ");
    t.line("bing");
    t.expect("`backend: bing` is not one of searxng, brave");
    t.expect("(searxng|brave): ");
    t.line("brave");
    t.expect("SearXNG URL (url) — ");
    t.expect("[http://127.0.0.1:8888]: ");
    t.line("");
    t.expect("vault key `plugin:web:api_key`; Enter skips");
    t.expect("Value for plugin:web:api_key: ");
    t.line(secret);
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("mapped api_key under `secrets:`"), "{screen}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("  backend: brave\n") && text.contains("  url: http://127.0.0.1:8888\n"), "{text}");
    assert!(text.contains("secrets:\n  api_key: plugin:web:api_key\n"), "{text}");
    assert!(text.contains("# my search engine, keep this note"), "{text}");
    assert!(home_contains(&pyra, secret).is_empty(), "the key is only in the (encrypted) vault");
    pyra.run_unlocked(PASS, ["vault", "get", "plugin:web:api_key", "--reveal"], None).success().stdout_has(secret);
}

#[test]
fn settings_a_builtin_refuses_together_are_a_located_error_and_nothing_is_written() {
    let pyra = Pyra::new();
    let out = pyra.run([
        "plugin",
        "add",
        "mail",
        "--builtin",
        "email",
        "--setting",
        "imap_host=imap.example.org",
        "--setting",
        "username=me",
        "--setting",
        "imap_security=none",
        "--yes",
    ]);
    out.code(1)
        .stderr_has("`imap_security: none` would send the password and the mail unencrypted")
        .stderr_has("plugins/mail/plugin.yaml:");
    assert!(!pyra.home_path().join("plugins/mail").exists(), "nothing was written");
    // To a loopback host it is allowed (a local test server, a bridge on this machine).
    pyra.run([
        "plugin",
        "add",
        "mail",
        "--builtin",
        "email",
        "--setting",
        "imap_host=127.0.0.1",
        "--setting",
        "username=me",
        "--setting",
        "imap_security=none",
        "--yes",
    ])
    .success();
}
