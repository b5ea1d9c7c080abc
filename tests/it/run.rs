//! `pyra run`: typed templating, conditions and skip propagation, retries, timeouts,
//! `for_each`, `on_error`, every built-in kind that needs no service, inputs and
//! `--dry-run`, all through the real binary.

use crate::harness::{Pyra, node};

#[test]
fn a_single_expression_keeps_its_type_and_text_stays_text() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "typed",
        r#"
name: typed
inputs:
  n: { type: integer, default: 2 }
nodes:
  list:
    uses: template
    with: { value: "{{ [1, 2, inputs.n] }}" }
  sum:
    uses: template
    with: { value: "{{ nodes.list.output | sum }}" }
  text:
    uses: template
    with: { value: "sum={{ nodes.sum.output }}" }
  obj:
    uses: template
    with:
      value: { total: "{{ nodes.sum.output * 10 }}", label: "{{ nodes.text.output }}", run: "{{ run.id | length > 0 }}" }
outputs:
  list: "{{ nodes.list.output }}"
  obj: "{{ nodes.obj.output }}"
  status: "{{ nodes.sum.status }}"
"#,
    );
    let out = pyra.run(["run", &skill, "--json", "--input", "n=4"]);
    out.success();
    let json = out.json();
    assert_eq!(json["list"], serde_json::json!([1, 2, 4]));
    assert_eq!(json["obj"], serde_json::json!({ "total": 70, "label": "sum=7", "run": true }));
    assert_eq!(json["status"], "succeeded");
}

#[test]
fn strict_undefined_fails_the_node_and_names_the_field() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "undef",
        r#"
name: undef
nodes:
  a:
    uses: template
    with: { value: { x: 1 } }
  b:
    uses: template
    with: { value: "{{ nodes.a.output.missing }}" }
"#,
    );
    let out = pyra.run(["run", &skill]);
    out.code(1).stderr_has("b failed").stderr_has("value").stderr_has("undefined");
}

#[test]
fn skipped_nodes_skip_their_dependents_unless_they_decide_themselves() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "skips",
        r#"
name: skips
inputs:
  go: { type: boolean, default: false }
nodes:
  gated:
    uses: template
    if: inputs.go
    with: { value: gated }
  after:
    uses: template
    with: { value: "{{ nodes.gated.output }}" }
  decides:
    uses: template
    if: nodes.gated.status == "skipped"
    with: { value: "fallback because gated was {{ nodes.gated.status }}" }
  plain:
    uses: template
    with: { value: plain }
outputs:
  decides: "{{ nodes.decides.output }}"
  after: "{{ nodes.after.output }}"
"#,
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["decides"], "fallback because gated was skipped");
    assert_eq!(out.json()["after"], serde_json::Value::Null);
    let run = pyra.show(&pyra.last_run());
    assert_eq!(node(&run, "gated")["status"], "skipped");
    assert_eq!(node(&run, "after")["status"], "skipped");
    assert!(node(&run, "after")["error"].as_str().unwrap().contains("`gated` was skipped"));
    assert_eq!(node(&run, "decides")["status"], "succeeded");
    assert_eq!(node(&run, "plain")["status"], "succeeded");

    // The same skill with the gate open runs `after` and skips `decides`.
    let out = pyra.run(["run", &skill, "--json", "--input", "go=true"]);
    out.success();
    assert_eq!(out.json()["after"], "gated");
}

#[test]
fn an_if_that_is_not_a_boolean_fails_clearly() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "notbool",
        "name: notbool\nnodes:\n  a:\n    uses: template\n    if: \"'yes'\"\n    with: { value: 1 }\n",
    );
    pyra.run(["run", &skill]).code(1).stderr_has("not true or false");
}

#[test]
fn a_flaky_program_succeeds_on_its_third_attempt() {
    let pyra = Pyra::new();
    let counter = pyra.work().join("count");
    let skill = pyra.skill(
        "flaky",
        &format!(
            r#"
name: flaky
nodes:
  flaky:
    uses: exec
    retry: {{ attempts: 3, backoff: 10ms, max_backoff: 50ms }}
    with:
      argv: [sh, -c, 'n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$0"; [ $n -ge 3 ] && echo ok', "{}"]
outputs:
  out: "{{{{ nodes.flaky.output.stdout | trim }}}}"
"#,
            counter.display()
        ),
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["out"], "ok");
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "3");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(node(&run, "flaky")["attempts"], 3);
    let logs = pyra.run(["runs", "logs", run["id"].as_str().unwrap()]);
    logs.success().stdout_has("attempt 1 failed").stdout_has("attempt 2 failed");
}

#[test]
fn timeouts_stop_a_node_and_a_whole_skill() {
    let pyra = Pyra::new();
    let pidfile = pyra.work().join("sleeper");
    let node_timeout = pyra.skill(
        "slow",
        &format!(
            "name: slow\nnodes:\n  nap:\n    uses: exec\n    timeout: 300ms\n    with: {{ argv: [sh, -c, 'echo $$ > \"$0\"; exec sleep 10', \"{}\"] }}\n",
            pidfile.display()
        ),
    );
    pyra.run(["run", &node_timeout]).code(1).stderr_has("timed out after 300ms");
    let sleeper = std::fs::read_to_string(&pidfile).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim())).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "the timed-out program was stopped");

    let skill_timeout = pyra.skill(
        "slowskill",
        "name: slowskill\ntimeout: 300ms\nnodes:\n  nap:\n    uses: wait\n    with: { duration: 10s }\n",
    );
    pyra.run(["run", &skill_timeout]).code(1).stderr_has("the skill timed out after 300ms");
}

#[test]
fn for_each_fans_out_in_order_with_item_and_index() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "fan",
        r#"
name: fan
nodes:
  words:
    uses: template
    with: { value: [delta, alpha, charlie, bravo] }
  shout:
    uses: exec
    for_each: "{{ nodes.words.output }}"
    concurrency: 2
    with: { argv: [sh, -c, 'sleep 0.0$1; echo "$0"', "{{ index }}:{{ item | upper }}", "{{ (4 - index) | string }}"] }
outputs:
  lines: "{{ nodes.shout.output | map(attribute='stdout') | map('trim') | list }}"
"#,
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["lines"], serde_json::json!(["0:DELTA", "1:ALPHA", "2:CHARLIE", "3:BRAVO"]));
}

#[test]
fn on_error_continue_records_the_error_and_lets_dependents_run() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "cont",
        r#"
name: cont
nodes:
  broken:
    uses: exec
    on_error: continue
    with: { argv: [sh, -c, 'echo boom >&2; exit 4'] }
  after:
    uses: template
    with: { value: "broken was {{ nodes.broken.status }} with output {{ nodes.broken.output }}" }
outputs:
  after: "{{ nodes.after.output }}"
  error: "{{ nodes.broken.error }}"
"#,
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    let json = out.json();
    assert_eq!(json["after"], "broken was failed with output None");
    assert!(json["error"].as_str().unwrap().contains("exited with code 4"), "{json}");
    assert!(json["error"].as_str().unwrap().contains("boom"), "{json}");
}

#[test]
fn a_failed_node_fails_the_run_but_independent_branches_finish() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "fail",
        r#"
name: fail
nodes:
  bad:
    uses: exec
    with: { argv: [sh, -c, 'exit 2'] }
  after_bad:
    uses: template
    needs: bad
    with: { value: 1 }
  other:
    uses: template
    with: { value: 2 }
"#,
    );
    pyra.run(["run", &skill]).code(1).stderr_has("node `bad` failed");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(run["status"], "failed");
    assert_eq!(node(&run, "after_bad")["status"], "skipped");
    assert_eq!(node(&run, "other")["status"], "succeeded");
}

#[test]
fn files_are_written_atomically_read_back_and_paths_are_checked() {
    let pyra = Pyra::new();
    let target = pyra.work().join("out/note.txt");
    let skill = pyra.skill(
        "files",
        &format!(
            r#"
name: files
inputs:
  path: {{ type: string, default: "{}" }}
nodes:
  write:
    uses: file.write
    with: {{ path: "{{{{ inputs.path }}}}", content: "hello\n", create_dirs: true }}
  read:
    uses: file.read
    with: {{ path: "{{{{ nodes.write.output.path }}}}" }}
outputs:
  text: "{{{{ nodes.read.output }}}}"
"#,
            target.display()
        ),
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["text"], "hello\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello\n");

    // The run database is protected, even when reached through a symlink.
    let link = pyra.work().join("innocent.db");
    std::os::unix::fs::symlink(pyra.home_path().join("pyra.db"), &link).unwrap();
    let out = pyra.run(["run", &skill, "--input", &format!("path={}", link.display())]);
    out.code(1).stderr_has("inside Pyra's run database");
    let out = pyra.run(["run", &skill, "--input", "path=/proc/self/environ_copy"]);
    out.code(1).stderr_has("outside the allowed folders");
}

#[test]
fn wait_pauses_and_http_reads_a_local_server() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        let body = r#"{"items":[{"title":"first"},{"title":"second"}]}"#;
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        request
    });
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "web",
        &format!(
            r#"
name: web
nodes:
  pause:
    uses: wait
    with: {{ duration: 100ms }}
  get:
    uses: http
    needs: pause
    with:
      url: "http://127.0.0.1:{port}/feed"
      query: {{ q: "a b" }}
      headers: {{ x-test: yes }}
outputs:
  titles: "{{{{ nodes.get.output.body['items'] | map(attribute='title') | list }}}}"
  status: "{{{{ nodes.get.output.status }}}}"
"#
        ),
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["titles"], serde_json::json!(["first", "second"]));
    assert_eq!(out.json()["status"], 200);
    let request = handle.join().unwrap();
    assert!(request.starts_with("GET /feed?q=a+b "), "{request}");
    assert!(request.to_ascii_lowercase().contains("x-test: yes"), "{request}");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(node(&run, "get")["untrusted"], true, "HTTP responses are untrusted data");
}

#[test]
fn a_program_argument_from_untrusted_data_needs_approval() {
    let pyra = Pyra::new();
    let data = pyra.work().join("name.txt");
    std::fs::write(&data, "from-a-file").unwrap();
    let skill = pyra.skill(
        "taint",
        &format!(
            r#"
name: taint
nodes:
  read:
    uses: file.read
    with: {{ path: "{}" }}
  echo:
    uses: exec
    with: {{ argv: [echo, "{{{{ nodes.read.output }}}}"] }}
  safe:
    uses: exec
    with: {{ argv: [echo, "{{{{ nodes.read.status }}}}"] }}
outputs:
  said: "{{{{ nodes.echo.output.stdout | trim }}}}"
"#,
            data.display()
        ),
    );
    let out = pyra.run(["run", &skill]);
    out.code(3).stderr_has("waiting for approval");
    let id = pyra.last_run();
    let run = pyra.show(&id);
    assert_eq!(node(&run, "echo")["status"], "waiting");
    assert_eq!(node(&run, "safe")["status"], "succeeded", "an argument from a status string is not untrusted");
    let out = pyra.run(["approve", &id, "--json"]);
    // `approve` has no --json: usage error, nothing answered.
    out.code(2);
    let out = pyra.run(["approve", &id]);
    out.success().stdout_has("said: from-a-file");
}

#[test]
fn a_skill_node_runs_another_skill_from_the_home() {
    let pyra = Pyra::new();
    let skills = pyra.home_path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::write(
        skills.join("double.yaml"),
        "name: double\ninputs:\n  x: { type: integer }\nnodes:\n  d:\n    uses: template\n    with: { value: \"{{ inputs.x * 2 }}\" }\noutputs:\n  y: \"{{ nodes.d.output }}\"\n",
    )
    .unwrap();
    let skill = pyra.skill(
        "caller",
        "name: caller\nnodes:\n  call:\n    uses: skill\n    with: { name: double, inputs: { x: 21 } }\noutputs:\n  answer: \"{{ nodes.call.output.y }}\"\n",
    );
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    assert_eq!(out.json()["answer"], 42);
    let list = pyra.run(["runs", "list", "--json", "--skill", "double"]);
    let runs = list.json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["parent_node"], "call");
}

#[test]
fn inputs_are_coerced_and_checked_with_clear_errors() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "ins",
        r#"
name: ins
inputs:
  count: { type: integer, minimum: 1 }
  mode: { type: string, enum: [fast, slow], default: fast }
nodes:
  a:
    uses: template
    with: { value: "{{ inputs.count }} {{ inputs.mode }}" }
outputs:
  a: "{{ nodes.a.output }}"
"#,
    );
    pyra.run(["run", &skill]).code(2).stderr_has("missing input `count`");
    pyra.run(["run", &skill, "-i", "count=abc"]).code(2).stderr_has("`abc` is not an integer");
    pyra.run(["run", &skill, "-i", "count=0"]).code(2).stderr_has("input `count`");
    pyra.run(["run", &skill, "-i", "count=2", "-i", "mode=medium"]).code(2).stderr_has("input `mode`");
    pyra.run(["run", &skill, "-i", "count=2", "-i", "mdoe=slow"]).code(2).stderr_has("did you mean `mode`");
    let inputs = pyra.work().join("in.json");
    std::fs::write(&inputs, r#"{"count": 3, "mode": "slow"}"#).unwrap();
    pyra.run(["run", &skill, "--inputs-file", inputs.to_str().unwrap()]).success().stdout_has("a: 3 slow");
    assert_eq!(pyra.run(["runs", "list", "--json"]).json().as_array().unwrap().len(), 1, "bad inputs start no run");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let pyra = Pyra::new();
    let marker = pyra.work().join("ran");
    let skill = pyra.skill(
        "plan",
        &format!(
            r#"
name: plan
nodes:
  first:
    uses: exec
    description: touches a file
    with: {{ argv: [touch, "{}"] }}
  second:
    uses: template
    if: nodes.first.status == "succeeded"
    retry: {{ attempts: 2 }}
    with: {{ value: 1 }}
"#,
            marker.display()
        ),
    );
    let out = pyra.run(["run", &skill, "--dry-run"]);
    out.success()
        .stdout_has("1. first [exec] — touches a file")
        .stdout_has("2. second [template] after first if nodes.first.status == \"succeeded\" (2 attempts)")
        .stdout_has("nothing was run");
    assert!(!marker.exists());
    assert!(!pyra.home_path().join("pyra.db").exists(), "a dry run leaves nothing behind");
    assert!(pyra.run(["runs", "list", "--json"]).json().as_array().unwrap().is_empty());
}

#[test]
fn a_rendered_value_of_the_wrong_type_fails_naming_node_and_field() {
    let pyra = Pyra::new();
    let skill = pyra.skill(
        "wrongtype",
        "name: wrongtype\nnodes:\n  n:\n    uses: template\n    with: { value: 3 }\n  call:\n    uses: exec\n    with: { argv: [echo, \"{{ nodes.n.output }}\"] }\n",
    );
    pyra.run(["run", &skill]).code(1).stderr_has("node `call` failed").stderr_has("with.argv.1").stderr_has("string");
}

#[test]
fn exec_takes_cwd_env_and_stdin_and_parses_json_on_request() {
    let pyra = Pyra::new();
    let dir = pyra.work().join("here");
    std::fs::create_dir_all(&dir).unwrap();
    let skill = pyra.skill(
        "prog",
        &format!(
            r#"
name: prog
env: [PYRA_TEST_VISIBLE]
nodes:
  report:
    uses: exec
    with:
      argv: [sh, -c, 'read line; printf "{{\"cwd\":\"%s\",\"mine\":\"%s\",\"declared\":\"%s\",\"hidden\":\"%s\",\"stdin\":\"%s\"}}" "$(pwd)" "$MINE" "$PYRA_TEST_VISIBLE" "$PYRA_TEST_HIDDEN" "$line"']
      cwd: "{}"
      env: {{ MINE: "{{{{ env.PYRA_TEST_VISIBLE }}}}-too" }}
      stdin: "hello from stdin\n"
      parse_json: true
outputs:
  out: "{{{{ nodes.report.output.stdout }}}}"
  code: "{{{{ nodes.report.output.exit_code }}}}"
"#,
            dir.display()
        ),
    );
    let out = pyra
        .command(["run", &skill, "--json"])
        .env("PYRA_TEST_VISIBLE", "seen")
        .env("PYRA_TEST_HIDDEN", "secret-ish")
        .output()
        .unwrap();
    let out = crate::harness::Output::from(out);
    out.success();
    let json = out.json();
    assert_eq!(json["code"], 0);
    let report = &json["out"];
    assert_eq!(report["cwd"], std::fs::canonicalize(&dir).unwrap().to_str().unwrap());
    assert_eq!(report["mine"], "seen-too");
    assert_eq!(report["declared"], "seen", "declared variables reach the program");
    assert_eq!(report["hidden"], "", "undeclared variables do not");
    assert_eq!(report["stdin"], "hello from stdin");
}
