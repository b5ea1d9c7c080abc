//! OpenTelemetry export through the real binary: a local collector started by the test
//! (a minimal HTTP/1.1 server collecting OTLP/JSON bodies) receives a run's trace — the
//! `run` span its root with the run's id and skill, node attempts its children with node,
//! kind and attempt, a child run under the node that started it, a model call with the
//! GenAI names and the token counts the server reported (none when it reported none) —,
//! never a secret a node printed; a collector
//! that is down costs a run nothing (it ends, it succeeds), and the daemon counts what it
//! dropped in `pyra daemon status`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::daemon::{Home, wait_for};
use crate::harness::Pyra;
use crate::llm_server::{LlmServer, Reply};

const PASS: &str = "telemetry test passphrase";
const SECRET: &str = "0tel-s3cret-v4lue";

/// One request the collector received.
struct Received {
    path: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

/// A collector on 127.0.0.1 answering 200 to every request, keeping what it received.
struct Collector {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
                        let mut headers = Vec::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':') {
                                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                            }
                        }
                        let length = headers
                            .iter()
                            .find(|(n, _)| n == "content-length")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).into_owned();
                        keep.lock().expect("seen").push(Received { path, headers, body });
                        if writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Collector { url, seen }
    }

    fn bodies(&self) -> Vec<String> {
        self.seen.lock().expect("seen").iter().map(|r| r.body.clone()).collect()
    }

    /// Every span received, decoded.
    fn spans(&self) -> Vec<Span> {
        let seen = self.seen.lock().expect("seen");
        let mut spans = Vec::new();
        for request in seen.iter() {
            assert_eq!(request.path, "/v1/traces");
            let content_type = request.headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
            assert_eq!(content_type, Some("application/json"));
            let body: Value = serde_json::from_str(&request.body).expect("an OTLP/JSON body");
            for resource in body["resourceSpans"].as_array().expect("resourceSpans") {
                let service = &resource["resource"]["attributes"][0];
                assert_eq!(service["key"], "service.name");
                assert_eq!(service["value"]["stringValue"], "pyra");
                for scope in resource["scopeSpans"].as_array().expect("scopeSpans") {
                    assert_eq!(scope["scope"]["name"], "pyra");
                    spans.extend(scope["spans"].as_array().expect("spans").iter().map(Span::decode));
                }
            }
        }
        spans
    }
}

/// A received span, its attributes by key (each as its OTLP value object).
#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: Option<String>,
    name: String,
    kind: u64,
    attributes: BTreeMap<String, Value>,
    status: Value,
}

impl Span {
    fn decode(span: &Value) -> Span {
        let hex = |v: &Value, len: usize| {
            let s = v.as_str().expect("a hex id").to_string();
            assert!(s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{s}");
            s
        };
        let time = |k: &str| span[k].as_str().expect("a decimal string").parse::<u64>().expect("nanoseconds");
        assert!(time("startTimeUnixNano") <= time("endTimeUnixNano"), "{span}");
        assert!(time("startTimeUnixNano") > 1_700_000_000_000_000_000, "{span}");
        Span {
            trace: hex(&span["traceId"], 32),
            id: hex(&span["spanId"], 16),
            parent: span.get("parentSpanId").map(|p| hex(p, 16)),
            name: span["name"].as_str().expect("name").to_string(),
            kind: span["kind"].as_u64().expect("kind"),
            attributes: span["attributes"]
                .as_array()
                .expect("attributes")
                .iter()
                .map(|a| (a["key"].as_str().expect("key").to_string(), a["value"].clone()))
                .collect(),
            status: span.get("status").cloned().unwrap_or(Value::Null),
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)?.get("stringValue")?.as_str()
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key)?.get("intValue")?.as_str()?.parse().ok()
    }
}

fn configure(pyra: &Pyra, endpoint: &str) {
    std::fs::write(pyra.home_path().join("config.yaml"), format!("telemetry:\n  endpoint: {endpoint}\n"))
        .expect("config");
}

/// A URL nobody listens at.
fn closed_endpoint() -> String {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

const TWO: &str = "name: two\nnodes:\n  fetch:\n    uses: exec\n    with: { argv: [echo, hi] }\n  \
                   shape:\n    uses: template\n    with: { value: \"{{ nodes.fetch.output.stdout | trim }}!\" }\n\
                   outputs:\n  said: \"{{ nodes.shape.output }}\"\n";

#[test]
fn a_run_is_one_trace_the_run_its_root_and_its_node_attempts_children() {
    let collector = Collector::start();
    let pyra = Pyra::new();
    configure(&pyra, &collector.url);
    let skill = pyra.skill("two", TWO);
    let out = pyra.run(["run", &skill]);
    out.success().stdout_has("said: hi!");
    // Exported without -v, and nothing of it shown.
    assert!(!out.stderr.contains("run{") && !out.stderr.contains("run_id"), "{}", out.stderr);
    let run_id = pyra.last_run();

    // The command flushed before it exited.
    let spans = collector.spans();
    let runs: Vec<&Span> = spans.iter().filter(|s| s.name == "run").collect();
    assert_eq!(runs.len(), 1, "{spans:#?}");
    let run = runs[0];
    assert_eq!(run.parent, None, "the run is the trace's root");
    assert_eq!(run.text("run_id"), Some(run_id.as_str()));
    assert_eq!((run.text("skill"), run.text("trigger")), (Some("two"), Some("cli")));
    assert_eq!(run.int("depth"), Some(0));
    assert_eq!(run.attributes["resumed"]["boolValue"], false);
    assert_eq!((run.kind, &run.status), (1, &Value::Null));
    assert!(spans.iter().all(|s| s.trace == run.trace), "one trace: {spans:#?}");

    let mut nodes: Vec<&Span> = spans.iter().filter(|s| s.name == "node").collect();
    nodes.sort_by_key(|s| s.text("node").map(str::to_string));
    assert_eq!(nodes.len(), 2, "{spans:#?}");
    for (span, (node, kind)) in nodes.iter().zip([("fetch", "exec"), ("shape", "template")]) {
        assert_eq!(span.parent.as_deref(), Some(run.id.as_str()), "{span:#?}");
        assert_eq!((span.text("node"), span.text("kind")), (Some(node), Some(kind)));
        assert_eq!((span.int("attempt"), span.text("run_id")), (Some(1), Some(run_id.as_str())));
        assert_eq!(span.kind, 1);
        assert_ne!(span.id, run.id);
    }
    assert_ne!(nodes[0].id, nodes[1].id);

    // Another run, another trace.
    pyra.run(["run", &skill]).success();
    let traces: std::collections::BTreeSet<String> =
        collector.spans().iter().filter(|s| s.name == "run").map(|s| s.trace.clone()).collect();
    assert_eq!(traces.len(), 2);
}

#[test]
fn a_child_run_is_in_its_parents_trace_under_the_node_that_started_it() {
    let collector = Collector::start();
    let pyra = Pyra::new();
    configure(&pyra, &collector.url);
    std::fs::create_dir_all(pyra.home_path().join("skills")).expect("skills");
    std::fs::write(
        pyra.home_path().join("skills").join("child.yaml"),
        "name: child\nnodes:\n  c:\n    uses: exec\n    with: { argv: [echo, child] }\n",
    )
    .expect("child skill");
    let parent = pyra.skill("parent", "name: parent\nnodes:\n  call:\n    uses: skill\n    with: { name: child }\n");
    pyra.run(["run", &parent]).success();

    let spans = collector.spans();
    let run_of = |skill: &str| spans.iter().find(|s| s.name == "run" && s.text("skill") == Some(skill)).expect(skill);
    let (top, child) = (run_of("parent"), run_of("child"));
    assert_eq!(top.parent, None);
    let call = spans.iter().find(|s| s.text("node") == Some("call")).expect("the skill node's span");
    assert_eq!(call.parent.as_deref(), Some(top.id.as_str()));
    assert_eq!(child.parent.as_deref(), Some(call.id.as_str()), "{spans:#?}");
    assert_eq!(child.int("depth"), Some(1));
    let inner = spans.iter().find(|s| s.text("node") == Some("c")).expect("the child's node");
    assert_eq!(inner.parent.as_deref(), Some(child.id.as_str()));
    assert!(spans.iter().all(|s| s.trace == top.trace), "one trace: {spans:#?}");
}

/// A skill whose first node prints the secret and fails with it.
const LEAKY: &str = "name: leaky\nsecrets: [\"test:key\"]\nnodes:\n  shout:\n    uses: exec\n    \
                     with: { argv: [sh, -c, 'echo \"$0\"; echo \"$0\" >&2; exit 3', \"{{ secret('test:key') }}\"] }\n";

#[test]
fn a_secret_a_failing_node_prints_reaches_no_exported_span() {
    let collector = Collector::start();
    let pyra = Pyra::new();
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    pyra.run_unlocked(PASS, ["vault", "set", "test:key"], Some(SECRET)).success();
    configure(&pyra, &collector.url);
    let skill = pyra.skill("leaky", LEAKY);
    pyra.run_unlocked(PASS, ["run", &skill], None).code(1);

    let bodies = collector.bodies();
    assert!(!bodies.is_empty(), "the failed run was exported");
    for body in &bodies {
        assert!(!body.contains(SECRET), "a secret reached the collector:\n{body}");
    }
    let spans = collector.spans();
    let node = spans.iter().find(|s| s.name == "node").expect("the node's span");
    assert_eq!(node.status["code"], 2, "{node:#?}");
    let why = node.status["message"].as_str().expect("why it failed");
    assert!(why.contains("[secret:test:key]"), "present, masked: {why}");
    let run = spans.iter().find(|s| s.name == "run").expect("the run's span");
    assert_eq!(run.status["code"], 2, "{run:#?}");
}

#[test]
fn a_collector_that_is_down_costs_the_run_nothing() {
    let pyra = Pyra::new();
    configure(&pyra, &closed_endpoint());
    let skill = pyra.skill("two", TWO);
    // The command ends (no hang waiting for the collector) and the run is unaffected.
    pyra.run(["run", &skill]).success().stdout_has("said: hi!");
    let shown = pyra.run(["runs", "show", &pyra.last_run(), "--json"]);
    assert_eq!(shown.json()["status"], "succeeded");
}

#[test]
fn a_model_call_carries_the_genai_names_and_only_the_counts_the_server_reported() {
    let with_usage = Reply::fixture("openai/text.sse");
    // The same reply without its usage chunk: the server reported no counts.
    let fixture = String::from_utf8(with_usage.body.clone()).expect("utf-8");
    let body: String = fixture.split_inclusive('\n').filter(|l| !l.contains("\"usage\":{")).collect();
    let without_usage = Reply { body: body.into_bytes(), cuts: Vec::new(), ..with_usage.clone() };
    let server = LlmServer::start(vec![with_usage, without_usage]);
    let collector = Collector::start();
    let pyra = Pyra::new();
    std::fs::write(
        pyra.home_path().join("config.yaml"),
        format!(
            "default_model: oa\nmodels:\n  - name: oa\n    provider: openai-compatible\n    model: gpt-4o-mini\n    \
             base_url: {}/v1\ntelemetry:\n  endpoint: {}\n",
            server.url, collector.url
        ),
    )
    .expect("config");
    let skill = pyra.skill(
        "ask",
        "name: ask\nnodes:\n  answer:\n    uses: llm\n    with: { prompt: Say something. }\noutputs:\n  text: \"{{ nodes.answer.output }}\"\n",
    );
    pyra.run(["run", &skill]).success();
    pyra.run(["run", &skill]).success();

    let spans = collector.spans();
    let calls: Vec<&Span> = spans.iter().filter(|s| s.name == "model.call").collect();
    assert_eq!(calls.len(), 2, "{spans:#?}");
    for call in &calls {
        assert_eq!(call.kind, 3, "a client span");
        assert_eq!(call.text("gen_ai.request.model"), Some("gpt-4o-mini"));
        assert_eq!(call.text("gen_ai.operation.name"), Some("chat"));
        assert!(call.text("gen_ai.system").is_some(), "{call:#?}");
        let node = spans.iter().find(|s| Some(&s.id) == call.parent.as_ref()).expect("the call's parent");
        assert_eq!((node.name.as_str(), node.text("node"), node.text("kind")), ("node", Some("answer"), Some("llm")));
        assert_eq!(node.trace, call.trace);
    }
    let counted = calls.iter().find(|c| c.attributes.contains_key("gen_ai.usage.input_tokens")).expect("counts");
    assert_eq!(
        (counted.int("gen_ai.usage.input_tokens"), counted.int("gen_ai.usage.output_tokens")),
        (Some(19), Some(24))
    );
    let uncounted = calls.iter().find(|c| c.id != counted.id).expect("the other call");
    assert!(
        !uncounted.attributes.contains_key("gen_ai.usage.input_tokens")
            && !uncounted.attributes.contains_key("gen_ai.usage.output_tokens"),
        "an unreported count is absent, not 0: {uncounted:#?}"
    );
}

#[test]
fn the_daemon_counts_the_spans_a_dead_collector_dropped() {
    let home = Home::new();
    configure(&home.pyra, &closed_endpoint());
    home.install(
        "ping",
        "name: ping\ntriggers:\n  - event: ping\nnodes:\n  a:\n    uses: template\n    with: { value: 1 }\n",
    );
    let _daemon = home.start_at("2026-12-07T10:00:00Z");
    let status = home.status();
    assert_eq!(status["telemetry"]["exported"], 0, "{status:#}");
    home.pyra.run(["emit", "ping"]).success();
    let status = wait_for("a dropped count", || {
        let status = home.status();
        if status["telemetry"]["dropped"].as_u64().unwrap_or(0) > 0 { Ok(status) } else { Err(status.to_string()) }
    });
    assert_eq!(status["telemetry"]["exported"], 0, "{status:#}");
    assert!(status["telemetry"]["last_error"].is_string(), "{status:#}");
    assert!(status["telemetry"]["endpoint"].as_str().is_some_and(|e| e.ends_with("/v1/traces")), "{status:#}");
    let shown = home.pyra.run(["daemon", "status"]);
    shown.success().stdout_has("spans exported,").stdout_has("dropped");
}
