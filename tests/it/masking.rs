//! Masking secrets is one pass over the original text (issue #23): a value that occurs in
//! a secret's own name (`telegram` in `plugin:telegram:token`, `OPENAI` or `k` in
//! `OPENAI_API_KEY`) is hidden where the text has it and never inside a label already
//! written — in outputs, the run store, logs, errors and `pyra setup`'s check. And values
//! too short to mask usefully are refused by `pyra vault set` and `pyra setup --key-stdin`.

use age::secrecy::SecretString;
use vault::{Unlock, Vault};

use crate::harness::{Output, Pyra};
use crate::llm_server::{LlmServer, Reply};

const PASS: &str = "correct horse battery staple";
const TG: &str = "[secret:plugin:telegram:token]";
const OPENAI_KEY: &str = "[secret:OPENAI_API_KEY]";
const MODELS: &str = r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}"#;

/// `pyra ARGS` with the vault's passphrase in the environment and `stdin` piped in.
fn pyra_with(pyra: &Pyra, args: &[&str], stdin: Option<&str>) -> Output {
    pyra.run_unlocked(PASS, args, stdin)
}

/// Everything a user can see of the last run: its outputs and records, and its log.
fn run_store_text(pyra: &Pyra, env: (&str, &str)) -> (String, serde_json::Value) {
    let id = pyra.last_run();
    let show = Output::from(pyra.command(["runs", "show", &id, "--json"]).env(env.0, env.1).output().unwrap());
    show.success();
    let logs = Output::from(pyra.command(["runs", "logs", &id]).env(env.0, env.1).output().unwrap());
    logs.success();
    (format!("{}\n{}", show.stdout, logs.stdout), show.json())
}

/// No label was written inside another one: `text` without its labels holds no `[secret:`.
#[track_caller]
fn no_nested_labels(text: &str, label: &str) {
    assert!(!text.replace(label, "").contains("[secret:"), "a label inside a label:\n{text}");
}

#[test]
fn a_value_inside_its_own_secret_name_is_masked_without_nesting() {
    let pyra = Pyra::new();
    pyra_with(&pyra, &["vault", "init"], None).success();
    pyra_with(&pyra, &["vault", "set", "plugin:telegram:token"], Some("telegram")).success();

    // The skill of the issue. Its node renders a text from `secret()`, so the whole text
    // is hidden (a text derived from a secret); that one label is what used to be masked
    // again, into `[secret:plugin:[secret:plugin:telegram:token]:token]`.
    let issue = pyra.skill(
        "m",
        r#"name: m
secrets: ["plugin:telegram:token"]
nodes:
  a:
    uses: template
    with: { value: "{{ secret('plugin:telegram:token') }} is used by the telegram channel" }
outputs:
  v: "{{ nodes.a.output }}"
"#,
    );
    let out = pyra_with(&pyra, &["run", &issue], None);
    out.success();
    assert_eq!(out.stdout, format!("v: {TG}\n"));
    let (stored, run) = run_store_text(&pyra, ("PYRA_VAULT_PASSPHRASE", PASS));
    assert_eq!(run["outputs"]["v"], TG, "{run:#}");
    assert_eq!(crate::harness::node(&run, "a")["output"], TG, "{run:#}");
    no_nested_labels(&stored, TG);

    // The same sentence where the secret arrives as text — another node's output, a
    // program echoing it: each occurrence in the original text becomes one label.
    let echoed = pyra.skill(
        "m2",
        r#"name: m2
secrets: ["plugin:telegram:token"]
nodes:
  token:
    uses: template
    with: { value: "{{ secret('plugin:telegram:token') }}" }
  a:
    uses: template
    with: { value: "{{ nodes.token.output }} is used by the telegram channel" }
  echo:
    uses: exec
    with:
      argv: [sh, -c, 'echo "$T is used by the telegram channel"']
      env: { T: "{{ secret('plugin:telegram:token') }}" }
  refused:
    uses: exec
    on_error: continue
    with:
      argv: [sh, -c, 'echo "telegram: $T was refused by the TELEGRAM channel" >&2; exit 3']
      env: { T: "{{ secret('plugin:telegram:token') }}" }
outputs:
  v: "{{ nodes.a.output }}"
  echoed: "{{ nodes.echo.output.stdout | trim }}"
  error: "{{ nodes.refused.error }}"
"#,
    );
    let out = pyra_with(&pyra, &["run", &echoed, "--json"], None);
    out.success();
    let sentence = format!("{TG} is used by the {TG} channel");
    let refused = format!("{TG}: {TG} was refused by the {TG} channel");
    let json = out.json();
    assert_eq!(json["v"], sentence.as_str(), "{json:#}");
    assert_eq!(json["echoed"], sentence.as_str(), "{json:#}");
    assert_eq!(json["error"], format!("`sh` exited with code 3: {refused}"), "{json:#}");
    out.stderr_has(&refused);
    let (stored, run) = run_store_text(&pyra, ("PYRA_VAULT_PASSPHRASE", PASS));
    assert_eq!(run["outputs"]["v"], sentence.as_str(), "{run:#}");
    assert_eq!(crate::harness::node(&run, "a")["output"], sentence.as_str(), "{run:#}");
    assert_eq!(crate::harness::node(&run, "echo")["output"]["stdout"], format!("{sentence}\n"), "{run:#}");
    assert!(crate::harness::node(&run, "refused")["error"].as_str().unwrap().ends_with(&refused), "{run:#}");
    assert!(stored.contains(&format!("refused failed: `sh` exited with code 3: {refused}")), "runs logs:\n{stored}");
    for text in [&out.stdout, &out.stderr, &stored] {
        no_nested_labels(text, TG);
        // Every `telegram` of the original texts is inside a label.
        assert!(!text.replace(TG, "").to_lowercase().contains("telegram"), "{text}");
    }
}

/// A home whose default model `op` (provider `openai`, key `OPENAI_API_KEY`) is `server`.
fn openai_config(pyra: &Pyra, server: &LlmServer) {
    let config = format!(
        "default_model: op\nmodels:\n  - name: op\n    provider: openai\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        server.url
    );
    std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
}

fn ask_skill(pyra: &Pyra) -> String {
    pyra.skill(
        "ask",
        "name: ask\nnodes:\n  answer:\n    uses: llm\n    with: { prompt: Say something. }\noutputs:\n  text: \"{{ nodes.answer.output }}\"\n",
    )
}

/// The server's answer to a key it does not know, echoing the key as OpenAI does.
fn unknown_key(key: &str) -> Reply {
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
    );
    Reply::json(401, &body)
}

#[test]
fn a_one_character_key_already_in_a_vault_is_masked_without_nesting() {
    // `pyra vault set` refuses such a value now; a vault written before (or by hand)
    // may still hold one. This one is written through the engine's vault, unlocked by
    // an identity file that `pyra vault init` generates.
    let server = LlmServer::start(vec![unknown_key("k")]);
    let pyra = Pyra::new();
    let identity = pyra.work().join("identity.txt");
    let identity_arg = identity.to_str().unwrap();
    pyra.run(["vault", "init", "--identity", identity_arg]).success();
    let unlock = Unlock::identity_file(&identity).unwrap();
    Vault::new(pyra.home_path())
        .update(&unlock, |v| {
            v.set("OPENAI_API_KEY", SecretString::from("k".to_string()));
            Ok(())
        })
        .unwrap();
    openai_config(&pyra, &server);

    let env = ("PYRA_VAULT_IDENTITY", identity_arg);
    let out = Output::from(pyra.command(["run", &ask_skill(&pyra)]).env(env.0, env.1).output().unwrap());
    out.code(1);
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer k"));
    // Every `k` and `K` of the server's message is hidden — it is the key — but only
    // there, never inside `[secret:OPENAI_API_KEY]`.
    let masked =
        format!("Incorrect API {OPENAI_KEY}ey provided: {OPENAI_KEY}. You can find your API {OPENAI_KEY}ey at");
    out.stderr_has(&masked);
    let (stored, run) = run_store_text(&pyra, env);
    let error = crate::harness::node(&run, "answer")["error"].as_str().unwrap().to_string();
    assert!(error.contains(&masked), "{error}");
    assert!(error.contains(&format!("/account/api-{OPENAI_KEY}eys.")), "{error}");
    assert!(!error.replace(OPENAI_KEY, "").to_lowercase().contains('k'), "{error}");
    assert!(stored.contains(&masked), "{stored}");
    for text in [&out.stdout, &out.stderr, &stored] {
        no_nested_labels(text, OPENAI_KEY);
    }
}

#[test]
fn a_key_that_occurs_in_its_own_name_is_masked_without_nesting_in_setup_and_runs() {
    // `OPENAI` (and `openai`) occur in `[secret:OPENAI_API_KEY]`.
    let server = LlmServer::start(vec![unknown_key("OPENAI"), Reply::json(200, MODELS), unknown_key("OPENAI")]);
    let pyra = Pyra::new();
    let url = format!("{}/v1", server.url);
    let setup = ["setup", "--name", "op", "--provider", "openai", "--base-url", &url, "--key-stdin", "--yes"];
    let masked = format!(
        "Incorrect API key provided: {OPENAI_KEY}. You can find your API key at https://platform.{OPENAI_KEY}.com/account/api-keys."
    );

    // The setup's check fails: the server's message is shown masked; nothing is written.
    let out = pyra_with(&pyra, &setup, Some("OPENAI"));
    out.code(1).stderr_has(&masked).stderr_has("nothing was written");
    no_nested_labels(&out.stderr, OPENAI_KEY);
    assert!(!pyra.home_path().join("config.yaml").exists());

    // Stored once the check passes; then a run meets the same refusal.
    pyra_with(&pyra, &setup, Some("OPENAI")).success().stderr_has("saved `op`");
    let out = pyra_with(&pyra, &["run", &ask_skill(&pyra)], None);
    out.code(1).stderr_has(&masked);
    assert_eq!(server.requests()[2].header("authorization"), Some("Bearer OPENAI"));
    let (stored, run) = run_store_text(&pyra, ("PYRA_VAULT_PASSPHRASE", PASS));
    let error = crate::harness::node(&run, "answer")["error"].as_str().unwrap();
    assert!(error.contains(&masked), "{error}");
    assert!(stored.contains(&masked), "{stored}");
    for text in [&out.stdout, &out.stderr, &stored] {
        no_nested_labels(text, OPENAI_KEY);
        assert!(!text.replace(OPENAI_KEY, "").to_lowercase().contains("openai"), "{text}");
    }
}

#[test]
fn values_under_four_characters_are_refused_and_nothing_is_written() {
    let pyra = Pyra::new();
    pyra_with(&pyra, &["vault", "init"], None).success();
    pyra_with(&pyra, &["vault", "set", "plugin:telegram:token"], Some("tg-token-5e1f")).success();
    let vault_file = pyra.home_path().join("vault/vault.age");
    let before = std::fs::read(&vault_file).unwrap();

    for value in ["abc", "abc\n", "k", "ab"] {
        let out = pyra_with(&pyra, &["vault", "set", "plugin:test:pin"], Some(value));
        out.code(2).stderr_has("the value for `plugin:test:pin` has").stderr_has("need at least 4");
        out.stderr_has("`[secret:plugin:test:pin]`").stderr_has("nothing was written").stderr_has("help:");
        assert_eq!(std::fs::read(&vault_file).unwrap(), before, "{value:?} changed the vault");
    }
    // The same for a key that exists: it keeps its value.
    pyra_with(&pyra, &["vault", "set", "plugin:telegram:token"], Some("tg\n")).code(2).stderr_has("has 2 characters");
    assert_eq!(std::fs::read(&vault_file).unwrap(), before);
    let reveal = pyra_with(&pyra, &["vault", "get", "plugin:telegram:token", "--reveal"], None);
    assert_eq!(reveal.success().stdout, "tg-token-5e1f\n");
    pyra_with(&pyra, &["vault", "list"], None).success().stdout_has("plugin:telegram:token\n");
    assert!(!pyra_with(&pyra, &["vault", "list"], None).stdout.contains("plugin:test:pin"));
    // Four characters are enough.
    pyra_with(&pyra, &["vault", "set", "plugin:test:pin"], Some("abcd")).success();
    let log = std::fs::read_to_string(pyra.home_path().join("logs/security.log")).unwrap();
    assert_eq!(log.matches(r#""action":"vault.set""#).count(), 2, "{log}");

    // `pyra setup --key-stdin`: refused before the server is asked; no config, no vault.
    let server = LlmServer::start(vec![Reply::json(200, MODELS)]);
    let fresh = Pyra::new();
    let url = format!("{}/v1", server.url);
    let setup = ["setup", "--name", "op", "--provider", "openai", "--base-url", &url, "--key-stdin", "--yes"];
    let out = pyra_with(&fresh, &setup, Some("abc\n"));
    out.code(2).stderr_has("the value for `OPENAI_API_KEY` has 3 characters").stderr_has("need at least 4");
    out.stderr_has("nothing was written");
    assert!(server.requests().is_empty(), "the server was asked");
    assert!(!fresh.home_path().join("config.yaml").exists());
    assert!(!fresh.home_path().join("vault").exists());
    // With a vault already there, it is left as it was.
    let out = pyra_with(&pyra, &setup, Some("abc"));
    out.code(2).stderr_has("has 3 characters");
    assert!(!pyra.home_path().join("config.yaml").exists());
    assert!(!pyra_with(&pyra, &["vault", "list"], None).stdout.contains("OPENAI_API_KEY"));
}
