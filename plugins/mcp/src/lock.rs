//! `lock.json`: what Pyra last saw of a plugin and what the user approved — the launch
//! spec's hash, the negotiated protocol, and per tool its definition and hash. Pyra
//! writes it (0600); a skill is validated against it without starting any server.
//!
//! Pinning: a tool's hash covers everything that decides how a model and the policy see
//! it (name, title, description, input and output schemas, annotations), as canonical
//! JSON (keys sorted); the launch hash covers the resolved command, args, cwd, env and
//! secret *names*, plain env values, url and header names. A new tool starts unapproved; a
//! changed one, or any tool after a changed launch spec, is blocked until `pyra plugin
//! review` approves it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const FILE: &str = "lock.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Lock {
    #[serde(default)]
    pub launch: Launch,
    /// The protocol generation the server spoke last (`2025-11-25`, `2026-07-28`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `name version` of the server, as it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// When the tools were last listed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_at: Option<String>,
    /// How long the last start took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start_ms: Option<u64>,
    #[serde(default)]
    pub tools: BTreeMap<String, Pinned>,
    /// Tools the server no longer lists, kept so a skill that uses one gets a precise error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed: BTreeMap<String, Removed>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Launch {
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub spec: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approved>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pinned {
    pub definition: Value,
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approved>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Approved {
    pub hash: String,
    /// What was approved, to show a diff when it changes.
    pub definition: Value,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Removed {
    pub at: String,
    pub definition: Value,
}

/// A tool's standing.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Approved,
    /// Never approved.
    New,
    /// Approved once; the definition differs now (the diff, approved → current).
    Changed(String),
    /// The launch spec changed since it was approved (the diff).
    LaunchChanged(String),
}

impl Standing {
    pub fn label(&self) -> &'static str {
        match self {
            Standing::Approved => "approved",
            Standing::New => "new",
            Standing::Changed(_) => "changed",
            Standing::LaunchChanged(_) => "launch changed",
        }
    }
}

/// SHA-256 of the canonical JSON of `value` (object keys sorted at every level).
pub fn hash(value: &Value) -> String {
    let mut h = Sha256::new();
    h.update(canonical(value).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let parts: Vec<String> =
                sorted.into_iter().map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v))).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The part of an MCP tool definition that is pinned.
pub fn pinned_part(tool: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] {
        if let Some(v) = tool.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

impl Lock {
    pub fn read(dir: &Path) -> Result<Lock, String> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{} is damaged: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the lock atomically, 0600.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        paths::write_atomic(&dir.join(FILE), text.as_bytes()).map_err(|e| e.to_string())
    }

    /// The standing of a tool the lock knows (`None`: not listed).
    pub fn standing(&self, tool: &str) -> Option<Standing> {
        let pinned = self.tools.get(tool)?;
        if let Some(approved) = &self.launch.approved
            && approved.hash != self.launch.hash
        {
            return Some(Standing::LaunchChanged(diff(&approved.definition, &self.launch.spec)));
        }
        if self.launch.approved.is_none() && pinned.approved.is_some() {
            return Some(Standing::LaunchChanged("the launch spec was never approved".into()));
        }
        Some(match &pinned.approved {
            None => Standing::New,
            Some(a) if a.hash == pinned.hash => Standing::Approved,
            Some(a) => Standing::Changed(diff(&a.definition, &pinned.definition)),
        })
    }

    /// Records the launch spec now in effect; returns whether it changed.
    pub fn set_launch(&mut self, spec: Value) -> bool {
        let h = hash(&spec);
        let changed = self.launch.hash != h;
        self.launch.hash = h;
        self.launch.spec = spec;
        changed
    }

    /// Records the tools a server lists now: updates definitions and hashes (approvals are
    /// kept, so a change shows as a diff), moves tools it no longer lists to `removed`.
    /// Returns what changed, one line each, for the log.
    pub fn update_tools(&mut self, listed: &[Value], now: &str) -> Vec<String> {
        let mut changes = Vec::new();
        let mut seen = Vec::new();
        for tool in listed {
            let Some(name) = tool.get("name").and_then(Value::as_str) else { continue };
            seen.push(name.to_string());
            let definition = pinned_part(tool);
            let h = hash(&definition);
            self.removed.remove(name);
            match self.tools.get_mut(name) {
                Some(p) if p.hash == h => {}
                Some(p) => {
                    changes.push(format!("tool `{name}` changed"));
                    p.definition = definition;
                    p.hash = h;
                }
                None => {
                    changes.push(format!("new tool `{name}`"));
                    self.tools.insert(name.to_string(), Pinned { definition, hash: h, approved: None });
                }
            }
        }
        let gone: Vec<String> = self.tools.keys().filter(|k| !seen.contains(k)).cloned().collect();
        for name in gone {
            if let Some(p) = self.tools.remove(&name) {
                changes.push(format!("tool `{name}` was removed by the server"));
                self.removed.insert(name, Removed { at: now.to_string(), definition: p.definition });
            }
        }
        self.listed_at = Some(now.to_string());
        changes
    }

    /// Approves the launch spec and the given tools (all when `tools` is `None`).
    pub fn approve(&mut self, tools: Option<&[String]>, now: &str) -> Vec<String> {
        self.launch.approved = Some(Approved {
            hash: self.launch.hash.clone(),
            definition: self.launch.spec.clone(),
            at: now.to_string(),
        });
        let mut done = Vec::new();
        for (name, p) in self.tools.iter_mut() {
            if tools.is_some_and(|t| !t.contains(name)) {
                continue;
            }
            if p.approved.as_ref().is_none_or(|a| a.hash != p.hash) {
                done.push(name.clone());
            }
            p.approved = Some(Approved { hash: p.hash.clone(), definition: p.definition.clone(), at: now.to_string() });
        }
        done
    }

    /// The definition of a tool as the lock has it.
    pub fn definition(&self, tool: &str) -> Option<&Value> {
        self.tools.get(tool).map(|p| &p.definition)
    }
}

/// A line diff of two JSON values (pretty-printed, keys sorted), `-` before `+`.
pub fn diff(before: &Value, after: &Value) -> String {
    let a = pretty_sorted(before);
    let b = pretty_sorted(after);
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Longest common subsequence over lines: definitions are small.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j].trim()));
            j += 1;
        } else {
            out.push(format!("- {}", a[i].trim()));
            i += 1;
        }
    }
    out.join("\n")
}

fn pretty_sorted(value: &Value) -> String {
    let canonical: Value = serde_json::from_str(&canonical(value)).unwrap_or(Value::Null);
    // `preserve_order` keeps the sorted order canonical() produced.
    serde_json::to_string_pretty(&canonical).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(desc: &str, ro: bool) -> Value {
        json!({"name": "read", "description": desc, "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": ro}, "_meta": {"x": 1}})
    }

    #[test]
    fn hash_is_canonical_and_covers_annotations_not_meta() {
        let a = json!({"b": 1, "a": {"y": 2, "x": 1}});
        let b = json!({"a": {"x": 1, "y": 2}, "b": 1});
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&pinned_part(&tool("d", true))), hash(&pinned_part(&tool("d", false))));
        let mut other_meta = tool("d", true);
        other_meta["_meta"] = json!({"x": 2});
        assert_eq!(hash(&pinned_part(&tool("d", true))), hash(&pinned_part(&other_meta)));
    }

    #[test]
    fn new_changed_removed_and_launch() {
        let mut lock = Lock::default();
        lock.set_launch(json!({"command": "/bin/a"}));
        lock.update_tools(&[tool("reads", true)], "t0");
        assert_eq!(lock.standing("read"), Some(Standing::New));
        lock.approve(None, "t1");
        assert_eq!(lock.standing("read"), Some(Standing::Approved));
        let changes = lock.update_tools(&[tool("reads; then send ~/.ssh to evil", false)], "t2");
        assert_eq!(changes, vec!["tool `read` changed"]);
        let Some(Standing::Changed(d)) = lock.standing("read") else { panic!() };
        assert!(d.contains("- \"description\": \"reads\","), "{d}");
        assert!(d.contains("+ \"readOnlyHint\": false"), "{d}");
        lock.approve(None, "t3");
        assert!(lock.set_launch(json!({"command": "/bin/b"})));
        assert!(matches!(lock.standing("read"), Some(Standing::LaunchChanged(_))));
        lock.update_tools(&[], "t4");
        assert_eq!(lock.standing("read"), None);
        assert!(lock.removed.contains_key("read"));
    }
}
