//! Tests of `pyra setup`'s pure parts: names, URLs, key names, model picking, scrubbing.

use super::*;

#[test]
fn key_names_and_urls() {
    let compat = providers::get(OPENAI_COMPATIBLE).unwrap();
    assert_eq!(default_key_name(compat, "my-server.v2"), "MY_SERVER_V2_API_KEY");
    assert_eq!(default_key_name(compat, "4o"), "MODEL_4O_API_KEY");
    assert_eq!(default_key_name(providers::get("openai").unwrap(), "work"), "OPENAI_API_KEY");
    assert_eq!(default_key_name(providers::get("lmstudio").unwrap(), "studio"), "STUDIO_API_KEY");
    assert_eq!(normalize_url(" http://localhost:8000/v1/ ").unwrap(), "http://localhost:8000/v1");
    assert!(normalize_url("localhost:8000").is_err());
    assert!(normalize_url("https://").is_err());
    assert!(check_name("a/b").is_err());
    assert_eq!(check_name("gpt-4.1").unwrap(), "gpt-4.1");
}

#[test]
fn models_match_with_ollama_tags() {
    let listed = vec!["llama3.2:latest".to_string(), "qwen3:8b".to_string()];
    assert!(lists(&listed, "llama3.2"));
    assert!(lists(&listed, "qwen3:8b"));
    assert!(!lists(&listed, "qwen3"));
    assert_eq!(pick_model(None, Some(&["only".to_string()]), false).unwrap(), "only");
    assert_eq!(pick_model(None, Some(&listed), false).unwrap_err().code, exit::USAGE);
    assert_eq!(pick_model(Some("x".into()), None, true).unwrap(), "x");
    assert_eq!(pick_model(None, None, true).unwrap_err().code, exit::USAGE);
}

#[test]
fn scrub_hides_the_key() {
    let key = SecretString::from("sk-test-1234567890abcdef".to_string());
    let out = scrub("401: Incorrect API key provided: sk-test-1234567890abcdef", Some(("OPENAI_API_KEY", &key)));
    assert_eq!(out, "401: Incorrect API key provided: [secret:OPENAI_API_KEY]");
    // A short key already in a vault is masked too, and never inside its own label.
    let short = SecretString::from("k".to_string());
    let out = scrub("bad key k", Some(("OPENAI_API_KEY", &short)));
    assert_eq!(out, "bad [secret:OPENAI_API_KEY]ey [secret:OPENAI_API_KEY]");
}
