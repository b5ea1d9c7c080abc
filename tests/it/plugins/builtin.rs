//! Built-in plugins go through the same registry, pinning, policy and approvals as MCP
//! servers: `websearch` against a local server speaking SearXNG's JSON API (results, a 403
//! explained), a built-in this build lacks, a setting it does not declare.

use super::manifest_append;
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
    // Read-only by its own declaration, but the policy still decides: ask by default.
    let skill = pyra.skill("find", "name: find\nnodes:\n  s:\n    uses: web.search\n    with: { query: spare key, count: 5 }\noutputs:\n  first: \"{{ nodes.s.output.structured.results[0].url }}\"\n  text: \"{{ nodes.s.output.text }}\"\n");
    pyra.run(["run", &skill]).code(3).stderr_has("waits for an approval");
    manifest_append(&pyra, "web", "policy:\n  default: allow\n");
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
