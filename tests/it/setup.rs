//! `pyra setup` and `pyra models` against the local model server: scriptable setup with a
//! key from stdin (into the vault, sent in a header, nowhere else on disk), idempotence,
//! a failing check that writes nothing, offline setup, a local server without a key, the
//! server's model list, and one interactive setup on a pseudo-terminal.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Output, Pyra, files_under};
use crate::llm_server::{LlmServer, Reply};

const PASS: &str = "correct horse battery staple";
const KEY: &str = "sk-setup-test-7f3a9c1e5b2d8f4a";
const MODELS: &str =
    r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"qwen3-8b","object":"model"}]}"#;

/// `pyra ARGS` with the vault's passphrase in the environment and `stdin` piped in.
fn pyra_with(pyra: &Pyra, args: &[&str], stdin: Option<&str>) -> Output {
    pyra.run_unlocked(PASS, args, stdin)
}

fn config_text(pyra: &Pyra) -> String {
    std::fs::read_to_string(pyra.home_path().join("config.yaml")).unwrap_or_default()
}

/// The scriptable setup of an OpenAI-compatible server at `url`.
fn setup_args<'a>(url: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "setup",
        "--name",
        "myserver",
        "--provider",
        "openai-compatible",
        "--base-url",
        url,
        "--model",
        model,
        "--key-stdin",
        "--default",
        "--yes",
    ]
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn scriptable_setup_stores_the_key_in_the_vault_and_sends_it_in_a_header_only() {
    let server = LlmServer::start(vec![Reply::json(200, MODELS), Reply::json(200, MODELS), Reply::json(200, MODELS)]);
    let pyra = Pyra::new();
    let url = format!("{}/v1/", server.url);
    let out = pyra_with(&pyra, &setup_args(&url, "gpt-4o-mini"), Some(&format!("{KEY}\n")));
    out.success().stderr_has("the server answered: 2 model(s)").stderr_has("saved `myserver`");
    assert!(!out.stderr.contains("does not list"), "{}", out.stderr);

    let config = config_text(&pyra);
    let expected_entry = format!(
        "default_model: myserver\nmodels:\n  - name: myserver\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n    key: MYSERVER_API_KEY\n",
        server.url
    );
    assert!(config.ends_with(&expected_entry), "{config}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(pyra.home_path().join("config.yaml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The key went to the server in the Authorization header, never in the URL.
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/models");
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    // Stored in the vault (trailing newline removed), and nowhere else in plaintext.
    let reveal = pyra_with(&pyra, &["vault", "get", "MYSERVER_API_KEY", "--reveal"], None);
    assert_eq!(reveal.success().stdout, format!("{KEY}\n"));
    assert!(!out.stdout.contains(KEY) && !out.stderr.contains(KEY));
    for (path, bytes) in files_under(pyra.home_path()) {
        assert!(!holds(&bytes, KEY), "{} holds the key", path.display());
    }
    let log = std::fs::read_to_string(pyra.home_path().join("logs/security.log")).unwrap();
    assert!(log.contains(r#""action":"vault.set","outcome":"granted","key":"MYSERVER_API_KEY""#), "{log}");

    // The same command again: the same bytes, the vault not even rewritten.
    let vault_before = std::fs::read(pyra.home_path().join("vault/vault.age")).unwrap();
    let again = pyra_with(&pyra, &setup_args(&url, "gpt-4o-mini"), Some(KEY));
    again.success().stderr_has("is unchanged");
    assert_eq!(config_text(&pyra), config);
    assert_eq!(std::fs::read(pyra.home_path().join("vault/vault.age")).unwrap(), vault_before);

    // Another model updates the entry in place.
    let other = pyra_with(&pyra, &setup_args(&url, "qwen3-8b"), Some(KEY));
    other.success().stderr_has("saved `myserver`");
    assert_eq!(config_text(&pyra), config.replace("model: gpt-4o-mini", "model: qwen3-8b"));
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn an_unknown_provider_is_a_usage_error_with_a_suggestion() {
    let pyra = Pyra::new();
    let out = pyra.run(["setup", "--name", "x", "--provider", "opneai", "--yes"]);
    out.code(2).stderr_has("unknown provider `opneai`").stderr_has("did you mean `openai`?");
    pyra.run(["setup", "--provider", "openai-compatible", "--model", "m", "--yes"]).code(2).stderr_has("--base-url");
    // Not on a terminal, without the flags that say what to set up.
    pyra.run(["setup"]).code(2).stderr_has("no terminal").stderr_has("--provider");
    pyra.run(["setup", "--yes"]).code(2).stderr_has("--provider");
    assert!(!pyra.home_path().join("config.yaml").exists());
}

#[test]
fn a_failing_check_writes_nothing_and_shows_the_server_error() {
    let server = LlmServer::start(vec![Reply::json(401, r#"{"error":{"message":"Invalid API key","type":"auth"}}"#)]);
    let pyra = Pyra::new();
    pyra.run(["setup", "--name", "local", "--provider", "ollama", "--yes", "--no-check"]).success();
    let before = config_text(&pyra);
    let url = format!("{}/v1", server.url);
    let out = pyra_with(&pyra, &setup_args(&url, "gpt-4o-mini"), Some(KEY));
    out.code(1).stderr_has("401").stderr_has("Invalid API key").stderr_has("--no-check");
    assert!(!out.stderr.contains(KEY));
    assert_eq!(config_text(&pyra), before);
    assert!(!pyra.home_path().join("vault").exists(), "a key the server refused is not stored");
}

#[test]
fn no_check_sets_up_offline_and_needs_a_model_when_the_provider_has_none() {
    let pyra = Pyra::new();
    let args = ["setup", "--name", "local", "--provider", "ollama", "--model", "llama3.2", "--default", "--yes"];
    let offline: Vec<&str> = args.iter().copied().chain(["--no-check"]).collect();
    pyra.run(&offline).success().stderr_has("saved `local` (ollama, llama3.2)");
    assert!(
        config_text(&pyra)
            .ends_with("default_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: llama3.2\n")
    );
    pyra.run(&offline).success().stderr_has("unchanged");
    // A second entry does not take the default unless asked.
    pyra.run(["setup", "--name", "studio", "--provider", "lmstudio", "--model", "qwen3-8b", "--yes", "--no-check"])
        .success();
    let config = config_text(&pyra);
    assert!(config.contains("default_model: local\n") && config.contains("  - name: studio\n"), "{config}");
    // No default model and no server to ask.
    pyra.run(["setup", "--name", "v", "--provider", "vllm", "--yes", "--no-check"]).code(2).stderr_has("--model");
    // Not on a terminal, the flags are enough even without --yes.
    pyra.run(["setup", "--name", "l2", "--provider", "ollama", "--no-check"]).success();
}

#[test]
fn a_provider_that_needs_a_key_says_how_to_give_it() {
    let pyra = Pyra::new();
    let out =
        pyra_with(&pyra, &["setup", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "--yes"], None);
    out.code(1).stderr_has("needs an API key").stderr_has("--key-stdin").stderr_has("pyra vault set OPENAI_API_KEY");
    assert!(!pyra.home_path().join("config.yaml").exists());
}

#[test]
fn ollama_is_set_up_without_a_key_and_its_tags_match() {
    let tags = r#"{"models":[{"name":"llama3.2:latest"},{"name":"qwen3:8b"}]}"#;
    let server = LlmServer::start(vec![Reply::json(200, tags), Reply::json(200, tags)]);
    let pyra = Pyra::new();
    let out = pyra.run(["setup", "--name", "local", "--provider", "ollama", "--base-url", &server.url, "--yes"]);
    out.success().stderr_has("2 model(s)");
    assert!(!out.stderr.contains("does not list"), "llama3.2 is listed as llama3.2:latest: {}", out.stderr);
    let config = config_text(&pyra);
    assert!(config.contains(&format!("    model: llama3.2\n    base_url: {}\n", server.url)), "{config}");
    assert!(!config.contains("key:"), "{config}");
    let seen = server.requests();
    assert_eq!(seen[0].path, "/api/tags");
    assert_eq!(seen[0].header("authorization"), None);
    assert!(!pyra.home_path().join("vault").exists(), "no key, no vault");

    let listed = pyra.run(["models"]);
    assert_eq!(listed.success().stdout, "* llama3.2:latest\n  qwen3:8b\n");
}

#[test]
fn models_lists_the_servers_models_with_the_key_from_the_vault() {
    let server = LlmServer::start(vec![Reply::json(200, MODELS); 4]);
    let pyra = Pyra::new();
    let url = format!("{}/v1", server.url);
    pyra_with(&pyra, &setup_args(&url, "qwen3-8b"), Some(KEY)).success();

    let text = pyra_with(&pyra, &["models"], None);
    assert_eq!(text.success().stdout, "  gpt-4o-mini\n* qwen3-8b\n");
    let json = pyra_with(&pyra, &["models", "myserver", "--json"], None);
    assert_eq!(json.success().json(), serde_json::json!(["gpt-4o-mini", "qwen3-8b"]));
    // A selector with a model id uses its entry.
    let selected = pyra_with(&pyra, &["models", "myserver/gpt-4o-mini"], None);
    assert_eq!(selected.success().stdout, "  gpt-4o-mini\n* qwen3-8b\n");
    let seen = server.requests();
    assert_eq!(seen.len(), 4);
    for request in &seen {
        assert_eq!(request.path, "/v1/models");
        assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    }
    let log = std::fs::read_to_string(pyra.home_path().join("logs/security.log")).unwrap();
    assert!(log.contains(r#""action":"secret.read","outcome":"granted","key":"MYSERVER_API_KEY""#), "{log}");

    // An unknown entry is a usage error.
    pyra.run(["models", "nope"]).code(2).stderr_has("no model named `nope`");
    // Without the passphrase and no terminal, the vault stays locked.
    pyra.run(["models"]).code(1).stderr_has("PYRA_VAULT_PASSPHRASE");
}

#[test]
fn models_without_a_config_says_to_run_setup() {
    let pyra = Pyra::new();
    pyra.run(["models"]).code(1).stderr_has("pyra setup");
    pyra.run(["models", "local", "--json"]).code(1).stderr_has("pyra setup");
}

#[test]
fn without_a_model_the_servers_only_one_is_taken_or_the_choice_listed() {
    let one = r#"{"data":[{"id":"only-model"}]}"#;
    let server = LlmServer::start(vec![Reply::json(200, one), Reply::json(200, MODELS)]);
    let pyra = Pyra::new();
    let url = format!("{}/v1", server.url);
    let out = pyra.run(["setup", "--name", "a", "--provider", "llamacpp", "--base-url", &url, "--yes"]);
    out.success().stderr_has("the server's only model, `only-model`");
    assert!(config_text(&pyra).contains("    model: only-model\n"));
    let out = pyra.run(["setup", "--name", "b", "--provider", "vllm", "--base-url", &url, "--yes"]);
    out.code(2).stderr_has("gpt-4o-mini, qwen3-8b").stderr_has("--model");
    assert!(!config_text(&pyra).contains("name: b\n"));
}

/// Runs `pyra ARGS` on a pseudo-terminal (util-linux `script`), answering each prompt
/// once it is on screen; returns the exit code and everything the terminal showed.
fn on_terminal(pyra: &Pyra, args: &[&str], answers: &[(&str, &str)]) -> (i32, String) {
    let command = std::iter::once(env!("CARGO_BIN_EXE_pyra").to_string())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("PYRA_HOME", pyra.home_path())
        .env("PYRA_VAULT_PASSPHRASE", PASS)
        .env("PYRA_VAULT_SCRYPT_LOG_N", "10")
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    let screen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut from = 0;
    for (prompt, answer) in answers {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shown = screen.lock().unwrap().clone();
            if let Some(at) = shown[from..].find(prompt) {
                from += at + prompt.len();
                break;
            }
            assert!(Instant::now() < deadline, "no prompt {prompt:?} on screen:\n{shown}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the prompt reach its read (and a hidden one turn echo off).
        std::thread::sleep(Duration::from_millis(150));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let shown = screen.lock().unwrap().clone();
    (status.code().unwrap_or(-1), shown)
}

#[test]
fn interactive_setup_asks_on_a_terminal() {
    let server = LlmServer::start(vec![Reply::json(200, MODELS)]);
    let pyra = Pyra::new();
    let url = format!("{}/v1", server.url);
    let (code, screen) = on_terminal(
        &pyra,
        &["setup"],
        &[
            ("Provider (1-", "openai-compatible"),
            ("Name of the entry", "myserver"),
            ("Base URL", &url),
            ("API key, if the server needs one", KEY),
            ("Model (1-2 or an id)", "2"),
        ],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Any OpenAI-compatible server") && screen.contains("API key needed"), "{screen}");
    assert!(screen.contains("1  gpt-4o-mini") && screen.contains("2  qwen3-8b"), "{screen}");
    assert!(!screen.contains(KEY), "the key is not echoed: {screen}");
    let config = config_text(&pyra);
    assert!(config.contains("default_model: myserver\n"), "{config}");
    assert!(config.contains("    model: qwen3-8b\n") && config.contains("    key: MYSERVER_API_KEY\n"), "{config}");
    assert_eq!(server.requests()[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    let reveal = pyra_with(&pyra, &["vault", "get", "MYSERVER_API_KEY", "--reveal"], None);
    assert_eq!(reveal.success().stdout, format!("{KEY}\n"));
}
