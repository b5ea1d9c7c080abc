//! Plugin tools in an agent: the model server receives exactly the tools the node lists
//! (under provider-safe names), the call goes through the tool's policy and pinning, and
//! its result goes back marked untrusted.

use super::{add_fixture, manifest_append};
use crate::harness::Pyra;
use crate::llm_server::{LlmServer, Reply};

/// The recorded OpenAI tool call, renamed to call `fx.echo` with `{"text": "Berlin"}`.
fn echo_call() -> Reply {
    let mut reply = Reply::fixture("openai/tool_call_one.sse");
    let body = String::from_utf8(reply.body)
        .unwrap()
        .replace("get_weather", "fx__echo")
        .replace("\"arguments\":\"city\"", "\"arguments\":\"text\"");
    reply.body = body.into_bytes();
    reply.cuts = Vec::new();
    reply
}

fn setup(pyra: &Pyra, server: &LlmServer) {
    let config = format!(
        "default_model: oa\nmodels:\n  - name: oa\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        server.url
    );
    std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
}

#[test]
fn an_agent_offers_exactly_the_listed_plugin_tools_and_calls_one() {
    let server = LlmServer::start(vec![echo_call(), Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    setup(&pyra, &server);
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = pyra.skill(
        "ask",
        "name: ask\nnodes:\n  agent:\n    uses: agent\n    with:\n      prompt: Say Berlin.\n      tools: [fx.echo, fx.env]\noutputs:\n  answer: \"{{ nodes.agent.output }}\"\n",
    );
    pyra.run(["run", &skill]).success();
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let tools: Vec<String> = seen[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tools, vec!["fx__echo", "fx__env"], "exactly the listed tools");
    let second = serde_json::to_string(&seen[1].body).unwrap();
    assert!(second.contains("Berlin") && second.contains("<untrusted source="), "{second}");
}

#[test]
fn an_agent_never_sees_a_denied_or_blocked_tool() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    setup(&pyra, &server);
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n  tools:\n    env: deny\n    write: deny\n");
    let skill = pyra.skill(
        "ask",
        "name: ask\nnodes:\n  agent:\n    uses: agent\n    with:\n      prompt: Hello.\n      tools: [\"fx.*\"]\n",
    );
    pyra.run(["run", &skill]).success();
    let body = serde_json::to_string(&server.requests()[0].body).unwrap();
    assert!(body.contains("fx__echo") && !body.contains("fx__env") && !body.contains("fx__write"), "{body}");
    // Listing a denied tool by name is a located error.
    let named = pyra.skill(
        "named",
        "name: named\nnodes:\n  agent:\n    uses: agent\n    with:\n      prompt: Hello.\n      tools: [fx.env]\n",
    );
    pyra.run(["skill", "validate", &named]).code(1).stderr_has("lists `fx.env`, which is blocked");
}

#[test]
fn an_agent_node_narrows_the_policy_never_widens_it() {
    let server = LlmServer::start(vec![echo_call(), Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    setup(&pyra, &server);
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n  tools:\n    write: ask\n");
    let skill = pyra.skill(
        "ask",
        "name: ask\nnodes:\n  agent:\n    uses: agent\n    with:\n      prompt: Say Berlin.\n      tools: [\"fx.*\"]\n      tool_policy: { \"fx.echo\": ask, \"fx.env\": deny, \"fx.write\": allow }\n",
    );
    let out = pyra.run(["run", &skill]);
    out.code(3).stderr_has("the agent node asks for every tool call");
    let body = serde_json::to_string(&server.requests()[0].body).unwrap();
    assert!(body.contains("fx__echo") && body.contains("fx__write") && !body.contains("fx__env"), "{body}");
    let typo = pyra.skill("typo", "name: typo\nnodes:\n  agent:\n    uses: agent\n    with:\n      prompt: Hi.\n      tools: [\"fx.*\"]\n      tool_policy: { \"fx.ecko\": deny }\n");
    pyra.run(["skill", "validate", &typo])
        .code(1)
        .stderr_has("`tool_policy` rule `fx.ecko` matches no plugin tool")
        .stderr_has("fx.echo");
}
