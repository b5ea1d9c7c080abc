//! The checked-in `schemas/skill.schema.json`, `schemas/plugin.schema.json` and
//! `schemas/config.schema.json` must equal what the Rust types (and config.yaml's declared
//! fields) generate. Run with `PYRA_BLESS=1` to rewrite them after changing the model, a
//! node kind or a declared field.

use crate::harness::{Pyra, repo_root};

/// `pyra COMMAND schema` equals `schemas/FILE` (or, with `PYRA_BLESS`, rewrites it).
fn fresh(command: &str, file: &str) {
    let generated = Pyra::new().run([command, "schema"]);
    generated.success();
    let path = repo_root().join("schemas").join(file);
    if std::env::var_os("PYRA_BLESS").is_some() {
        std::fs::write(&path, &generated.stdout).expect("write schema");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated.stdout,
        "schemas/{file} is stale: run `PYRA_BLESS=1 cargo test --workspace` and commit the result"
    );
}

#[test]
fn checked_in_schema_is_fresh() {
    fresh("skill", "skill.schema.json");
}

#[test]
fn checked_in_plugin_schema_is_fresh() {
    fresh("plugin", "plugin.schema.json");
}

#[test]
fn checked_in_config_schema_is_fresh() {
    fresh("config", "config.schema.json");
}

#[test]
fn schema_is_valid_json_schema_with_kind_completion() {
    let schema = Pyra::new().run(["skill", "schema"]).json();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let node = &schema["$defs"]["Node"];
    let kinds = node["properties"]["uses"]["examples"].as_array().expect("kinds listed");
    assert!(kinds.iter().any(|k| k == "http"));
    let http = node["allOf"].as_array().unwrap().iter().find(|c| c["if"]["properties"]["uses"]["const"] == "http");
    assert!(http.unwrap()["then"]["properties"]["with"]["properties"]["url"].is_object());
}
