//! Known vulnerabilities, from the OSV database (`PYRA_OSV_URL`, default
//! `https://api.osv.dev`): the npm and PyPI packages plugins launch at a pinned version,
//! and Pyra's own crates (its `Cargo.lock`, compiled in). One `querybatch` request, then
//! one request per vulnerability found for its summary and severity. Offline, the report
//! says "not checked (offline)" — never a silent pass.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Finding, Report, Severity};
use crate::home::Home;

/// Pyra's own dependency versions.
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");

/// One package at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    /// Where it comes from, for the finding's location.
    pub from: String,
}

/// The crates.io packages of a `Cargo.lock`.
pub fn crates(lock: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)?.trim().strip_prefix("= ")?.trim().strip_prefix('"')?.strip_suffix('"')
            })
        };
        let registry = field("source").is_some_and(|s| s.starts_with("registry+"));
        if let (true, Some(name), Some(version)) = (registry, field("name"), field("version")) {
            out.push(Package {
                ecosystem: "crates.io",
                name: name.into(),
                version: version.into(),
                from: "Pyra (Cargo.lock)".into(),
            });
        }
    }
    out
}

/// The pinned package a plugin launches, if any (`name@1.2.3`, `name==1.2.3`).
fn plugin_package(name: &str, command: &str, args: &[String]) -> Option<Package> {
    let program = command.rsplit('/').next().unwrap_or(command);
    let spec = args.iter().find(|a| !a.starts_with('-') && *a != "run")?;
    let from = format!("plugins/{name}/plugin.yaml");
    match program {
        "npx" | "bunx" => {
            let (package, version) = spec.get(1..).and_then(|rest| rest.split_once('@'))?;
            let package = format!("{}{package}", &spec[..1]);
            Some(Package { ecosystem: "npm", name: package, version: version.into(), from })
        }
        "uvx" | "pipx" => {
            let (package, version) = spec.split_once("==")?;
            Some(Package { ecosystem: "PyPI", name: package.into(), version: version.into(), from })
        }
        _ => None,
    }
}

pub fn check(home: &Home, report: &mut Report) {
    let mut packages = crates(CARGO_LOCK);
    let host = crate::plugin_host::host(home);
    for name in host.names() {
        if let Ok(loaded) = host.load(&name)
            && let Some(command) = &loaded.manifest.command
        {
            packages.extend(plugin_package(&name, command, &loaded.manifest.args));
        }
    }
    let base = std::env::var("PYRA_OSV_URL").unwrap_or_else(|_| "https://api.osv.dev".into());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return report.skipped(format!("known vulnerabilities: not checked ({e})")),
    };
    match runtime.block_on(query(base.trim_end_matches('/'), &packages)) {
        Ok(found) => {
            for (package, vuln) in found {
                let severity = match vuln.pointer("/database_specific/severity").and_then(Value::as_str) {
                    Some("CRITICAL" | "HIGH") => Severity::High,
                    Some("LOW") => Severity::Low,
                    _ => Severity::Medium,
                };
                let id = vuln["id"].as_str().unwrap_or("?");
                let summary = vuln["summary"].as_str().unwrap_or("no summary");
                report.add(
                    Finding::new(
                        severity,
                        "vulnerability",
                        &package.from,
                        format!("{} {}@{}: {id} {summary}", package.ecosystem, package.name, package.version),
                    )
                    .fix(format!(
                        "update {} past the affected versions (https://osv.dev/vulnerability/{id})",
                        package.name
                    )),
                );
            }
        }
        Err(why) => report.skipped(format!("known vulnerabilities: not checked (offline: {why})")),
    }
}

/// The vulnerabilities of each package (full OSV records).
async fn query(base: &str, packages: &[Package]) -> Result<Vec<(Package, Value)>, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let queries: Vec<Value> = packages
        .iter()
        .map(|p| json!({ "package": { "name": p.name, "ecosystem": p.ecosystem }, "version": p.version }))
        .collect();
    let mut found = Vec::new();
    // The API takes at most 1,000 queries per request.
    for (chunk, queries) in packages.chunks(1000).zip(queries.chunks(1000)) {
        let body = json!({ "queries": queries }).to_string();
        let answer = post(&client, &format!("{base}/v1/querybatch"), body).await?;
        let results = answer["results"].as_array().ok_or("the OSV answer has no `results`")?;
        for (package, result) in chunk.iter().zip(results) {
            for vuln in result["vulns"].as_array().into_iter().flatten() {
                let Some(id) = vuln["id"].as_str() else { continue };
                let full = get(&client, &format!("{base}/v1/vulns/{id}")).await.unwrap_or_else(|_| vuln.clone());
                found.push((package.clone(), full));
            }
        }
    }
    Ok(found)
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<Value, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| llm::client::error_chain(&e))?;
    read(response).await
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    read(client.get(url).send().await.map_err(|e| llm::client::error_chain(&e))?).await
}

async fn read(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("the OSV API answered {status}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("the OSV API's answer is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lock_gives_registry_crates_only() {
        let lock = "version = 4\n\n[[package]]\nname = \"cli\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.228\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"x\"\n";
        let got = crates(lock);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].name.as_str(), got[0].version.as_str()), ("serde", "1.0.228"));
        assert!(crates(CARGO_LOCK).iter().any(|p| p.name == "tokio"));
    }

    #[test]
    fn pinned_launchers_name_their_package() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = plugin_package("m", "npx", &args(&["-y", "@modelcontextprotocol/server-memory@2025.4.25"])).unwrap();
        assert_eq!(
            (p.ecosystem, p.name.as_str(), p.version.as_str()),
            ("npm", "@modelcontextprotocol/server-memory", "2025.4.25")
        );
        let p = plugin_package("t", "uvx", &args(&["mcp-server-time==0.6.2"])).unwrap();
        assert_eq!((p.ecosystem, p.name.as_str()), ("PyPI", "mcp-server-time"));
        assert_eq!(plugin_package("x", "npx", &args(&["-y", "unpinned"])), None);
    }
}
