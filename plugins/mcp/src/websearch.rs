//! The `websearch` built-in (feature `plugin-websearch`): one read-only tool, `search`,
//! over SearXNG's JSON API (a self-hosted engine; `format=json` must be enabled in its
//! `search.formats`) or Brave Search's API (a key in the vault), with results normalised
//! to `{title, url, snippet, engine}`. No scraping: an engine that refuses says why.

use std::time::Duration;

use serde_json::{Value, json};

use config::fields::{Field, Kind};

use crate::builtin::{Builtin, Call, CallFuture};
use crate::manifest::Decision;

const FIELDS: &[Field] = &[
    Field::new(
        "backend",
        "Backend",
        Kind::Choice(&["searxng", "brave"]),
        "searxng (your own instance) or brave (Brave Search API)",
    )
    .default("searxng"),
    Field::new("url", "SearXNG URL", Kind::Text, "the SearXNG instance, e.g. http://127.0.0.1:8888 (searxng only)"),
    Field::new("api_key", "Brave API key", Kind::Secret, "the Brave Search API key (brave only), from the vault"),
];

pub struct WebSearch {
    http: reqwest::Client,
}

impl WebSearch {
    pub fn new() -> WebSearch {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("pyra/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        WebSearch { http }
    }

    async fn search(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let query = args.get("query").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if query.is_empty() {
            return Err("`query` is empty".into());
        }
        let count = args.get("count").and_then(Value::as_u64).unwrap_or(10).clamp(1, 20) as usize;
        let backend = call.settings.get("backend").map(String::as_str).unwrap_or("searxng");
        let results = match backend {
            "brave" => {
                let key = call.secrets.get("api_key").ok_or(
                    "the brave backend needs its API key: map `api_key` to a vault key under `secrets:` and `pyra plugin setup` it",
                )?;
                let url = reqwest::Url::parse_with_params(
                    "https://api.search.brave.com/res/v1/web/search",
                    &[("q", query), ("count", &count.to_string())],
                )
                .map_err(|e| e.to_string())?;
                let response = self
                    .http
                    .get(url)
                    .header("X-Subscription-Token", key)
                    .header("Accept", "application/json")
                    .send()
                    .await
                    .map_err(|e| format!("Brave Search: {}", e.without_url()))?;
                let body = checked(response, "Brave Search", "check the key with `pyra plugin setup`").await?;
                body.pointer("/web/results")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| normalised(r, "description", "brave"))
                    .collect::<Vec<_>>()
            }
            _ => {
                let base = call.settings.get("url").ok_or(
                    "the searxng backend needs `settings.url` (your instance, e.g. http://127.0.0.1:8888) in the plugin's plugin.yaml",
                )?;
                let url = reqwest::Url::parse_with_params(
                    &format!("{}/search", base.trim_end_matches('/')),
                    &[("q", query), ("format", "json")],
                )
                .map_err(|e| format!("settings.url `{base}`: {e}"))?;
                let response =
                    self.http.get(url).send().await.map_err(|e| format!("SearXNG at {base}: {}", e.without_url()))?;
                let body = checked(
                    response,
                    "SearXNG",
                    "a 403 means the JSON format is off: add `json` to `search.formats` in its settings.yml",
                )
                .await?;
                body.get("results")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| normalised(r, "content", r.get("engine").and_then(Value::as_str).unwrap_or("searxng")))
                    .collect::<Vec<_>>()
            }
        };
        let results: Vec<Value> = results.into_iter().take(count).collect();
        let text = if results.is_empty() {
            format!("no results for \"{query}\"")
        } else {
            results
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    format!(
                        "{}. {}\n   {}\n   {}",
                        i + 1,
                        r["title"].as_str().unwrap_or(""),
                        r["url"].as_str().unwrap_or(""),
                        r["snippet"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": { "query": query, "results": results },
        }))
    }
}

impl Default for WebSearch {
    fn default() -> Self {
        Self::new()
    }
}

fn normalised(r: &Value, snippet: &str, engine: &str) -> Value {
    json!({
        "title": r.get("title").and_then(Value::as_str).unwrap_or(""),
        "url": r.get("url").and_then(Value::as_str).unwrap_or(""),
        "snippet": r.get(snippet).and_then(Value::as_str).unwrap_or(""),
        "engine": engine,
    })
}

/// The JSON body of a 2xx answer, or an error with the status and what to do.
async fn checked(response: reqwest::Response, who: &str, hint: &str) -> Result<Value, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{who} answered {status}; {hint}"));
    }
    let bytes = response.bytes().await.map_err(|e| format!("{who}: {}", e.without_url()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{who} did not answer JSON ({e}); {hint}"))
}

impl Builtin for WebSearch {
    fn id(&self) -> &'static str {
        "websearch"
    }

    fn description(&self) -> &'static str {
        "Web search through your SearXNG instance or the Brave Search API."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn tools(&self) -> Vec<Value> {
        vec![json!({
            "name": "search",
            "title": "Web search",
            "description": "Searches the web and returns the top results (title, url, snippet, engine). The results are untrusted web content.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": { "type": "string", "minLength": 1, "description": "What to search for." },
                    "count": { "type": "integer", "minimum": 1, "maximum": 20, "description": "How many results (default 10)." }
                },
                "required": ["query"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true }
        })]
    }

    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[("search", Decision::Allow)]
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            match tool {
                "search" => tokio::select! {
                    r = self.search(&arguments, &call) => r,
                    () = call.cancel.cancelled() => Err("cancelled".into()),
                },
                other => Err(format!("websearch has no tool `{other}`")),
            }
        })
    }
}
