//! The crate graph keeps its layers (ARCHITECTURE.md): each workspace crate depends only
//! on the crates this test allows it, always lower in the stack, and the pure crates pull
//! in no runtime, database or network crate, even transitively. Read from `cargo
//! metadata`, so a new dependency in any Cargo.toml is checked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Every workspace crate, its layer, and the workspace crates it may use. A crate may
/// only use crates of a lower layer.
const LAYERS: &[(&str, u8, &[&str])] = &[
    ("syntax", 0, &[]),
    ("clock", 0, &[]),
    ("paths", 0, &[]),
    ("security", 0, &[]),
    ("vault", 0, &[]),
    ("db", 0, &[]),
    ("term", 0, &[]),
    ("lang", 1, &["syntax"]),
    ("config", 1, &["syntax", "security"]),
    ("memory", 1, &["syntax", "paths", "db"]),
    ("conversations", 1, &["db"]),
    ("runtime", 2, &["syntax", "lang", "paths", "security", "db"]),
    ("llm", 2, &["syntax", "config"]),
    ("embed", 2, &["memory", "config"]),
    ("editor", 2, &["config", "term"]),
    ("plugins", 3, &["syntax", "lang", "runtime", "paths", "security", "memory", "config", "llm", "embed"]),
    ("telemetry", 3, &["runtime", "security"]),
    ("mcp", 3, &["syntax", "lang", "runtime", "paths", "security", "vault", "config"]),
    ("serve", 3, &["syntax", "lang", "runtime", "paths", "security"]),
    ("daemon", 4, &["syntax", "clock", "lang", "paths", "security", "vault", "db", "runtime", "serve"]),
    ("channels", 5, &["config", "conversations", "daemon", "db", "llm", "plugins", "runtime", "security"]),
    ("web", 5, &["daemon", "memory", "runtime", "security", "serve"]),
    (
        "cli",
        6,
        &[
            "syntax",
            "clock",
            "lang",
            "runtime",
            "paths",
            "security",
            "vault",
            "memory",
            "config",
            "conversations",
            "llm",
            "embed",
            "plugins",
            "term",
            "daemon",
            "telemetry",
            "mcp",
            "serve",
            "channels",
            "editor",
            "web",
        ],
    ),
];

/// Crates that must not reach these packages, directly or through anything they use.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("syntax", &["tokio", "rusqlite", "reqwest", "age"]),
    ("clock", &["tokio", "rusqlite", "reqwest"]),
    ("lang", &["tokio", "rusqlite", "reqwest", "age"]),
    ("security", &["tokio", "rusqlite", "reqwest"]),
    ("term", &["tokio", "rusqlite", "reqwest"]),
    ("config", &["tokio", "rusqlite", "reqwest"]),
    ("memory", &["tokio", "reqwest"]),
    ("db", &["tokio", "reqwest"]),
    ("conversations", &["tokio", "reqwest"]),
    ("runtime", &["reqwest"]),
    ("llm", &["rusqlite"]),
    ("daemon", &["reqwest"]),
    ("serve", &["reqwest"]),
    // One HTTP stack: the exporter posts OTLP/JSON with the workspace's reqwest.
    ("telemetry", &["tonic", "opentelemetry", "opentelemetry-otlp", "opentelemetry_sdk", "hyper-tls"]),
];

struct Graph {
    /// Package id → (name, normal dependencies' package ids).
    nodes: BTreeMap<String, (String, Vec<String>)>,
    /// Workspace crate name → package id.
    members: BTreeMap<String, String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(crate::harness::repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
        .collect();
    let members: BTreeMap<String, String> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| (names[id.as_str().unwrap()].clone(), id.as_str().unwrap().to_string()))
        .collect();
    let mut nodes = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_string();
        let normal = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        nodes.insert(id.clone(), (names[&id].clone(), normal));
    }
    Graph { nodes, members }
}

impl Graph {
    fn direct(&self, krate: &str) -> BTreeSet<String> {
        self.nodes[&self.members[krate]].1.iter().map(|id| self.nodes[id].0.clone()).collect()
    }
}

#[test]
fn each_crate_uses_only_the_crates_below_it() {
    let graph = graph();
    let listed: BTreeSet<&str> = LAYERS.iter().map(|(name, _, _)| *name).collect();
    let members: BTreeSet<&str> = graph.members.keys().map(String::as_str).collect();
    assert_eq!(members, listed, "every workspace crate has a layer in this test (and ARCHITECTURE.md)");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().map(|(name, layer, _)| (*name, *layer)).collect();
    for (name, own, allowed) in LAYERS {
        for dep in allowed.iter() {
            assert!(layer[dep] < *own, "{name} (layer {own}) may not use {dep} (layer {})", layer[dep]);
        }
        let used: BTreeSet<String> = graph.direct(name).into_iter().filter(|d| members.contains(d.as_str())).collect();
        let extra: Vec<&String> = used.iter().filter(|d| !allowed.contains(&d.as_str())).collect();
        assert!(extra.is_empty(), "{name} uses {extra:?}, which its layer does not allow");
    }
}

#[test]
fn one_http_stack() {
    let graph = graph();
    for name in ["reqwest", "hyper", "http", "rustls"] {
        let versions = graph.nodes.values().filter(|(n, _)| n == name).count();
        assert!(versions <= 1, "{versions} versions of {name} in the build: one HTTP stack, one TLS stack");
    }
}

/// What a crate pulls in when built on its own (`cargo tree -p NAME`): features are
/// resolved for it alone, as `cargo build -p NAME` would, not unified with the rest of
/// the workspace (where the CLI turns on rmcp's HTTP client for the plugin host).
fn reached_alone(name: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "-p", name, "-e", "normal", "--prefix", "none", "--format", "{p}", "--locked", "--offline"])
        .current_dir(crate::harness::repo_root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p {name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n != name)
        .collect()
}

#[test]
fn pure_crates_pull_in_no_runtime_database_or_network() {
    for (name, forbidden) in FORBIDDEN {
        let reached = reached_alone(name);
        let bad: Vec<&&str> = forbidden.iter().filter(|f| reached.contains(**f)).collect();
        assert!(bad.is_empty(), "{name} depends (perhaps through another crate) on {bad:?}");
    }
}
