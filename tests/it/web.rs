//! The daemon's web UI over HTTP, against the real daemon on a free loopback port: the
//! token exchanged for a cookie, strangers and other hosts refused, cross-origin POSTs
//! refused (and nothing started), a run started from the form, a hostile output shown as
//! text, the live stream resuming after `Last-Event-ID`, stable pages of runs, an
//! approval answered once from the browser.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::daemon::wait_for;
use crate::harness::{Output, Pyra};

const SKILLS: &[(&str, &str)] = &[
    (
        "echo",
        "name: echo\ndescription: Say it back.\ninputs:\n  text: { type: string }\n  times: { type: integer, default: 1 }\nnodes:\n  say:\n    uses: template\n    with: { value: \"{{ inputs.text }}\" }\noutputs:\n  said: \"{{ nodes.say.output }}\"\n",
    ),
    (
        "ask",
        "name: ask\nnodes:\n  ok:\n    uses: approval\n    with: { message: \"Send the <b>weekly</b> report?\", timeout: 1h, on_timeout: reject }\n  done:\n    uses: template\n    needs: [ok]\n    with: { value: sent }\n",
    ),
];

struct Ui<'a> {
    pyra: &'a Pyra,
    port: u16,
    cookie: String,
}

impl Drop for Ui<'_> {
    fn drop(&mut self) {
        let _ = self.pyra.command(["daemon", "stop"]).output();
    }
}

/// A daemon with the UI on a free port, signed in (the token exchanged for the cookie).
fn start(pyra: &Pyra) -> Ui<'_> {
    let skills = pyra.home_path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    for (name, yaml) in SKILLS {
        std::fs::write(skills.join(format!("{name}.yaml")), yaml).unwrap();
    }
    std::fs::write(pyra.home_path().join("config.yaml"), "daemon:\n  web:\n    listen: 127.0.0.1:0\n").unwrap();
    Output::from(pyra.command(["daemon", "start"]).output().unwrap()).success();
    let run = pyra.home_path().join("run");
    let addr = wait_for("run/web.addr", || {
        std::fs::read_to_string(run.join("web.addr")).ok().filter(|a| !a.is_empty()).ok_or("not yet".to_string())
    });
    let port: u16 = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    let mut ui = Ui { pyra, port, cookie: String::new() };
    let token = std::fs::read_to_string(run.join("web.token")).unwrap();
    let (code, reply) = ui.get(&format!("/runs?token={token}&status=failed"), &[]);
    assert_eq!(code, 303, "{reply}");
    assert!(header(&reply, "location") == Some("/runs?status=failed"), "the token leaves the URL: {reply}");
    let cookie = header(&reply, "set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    ui.cookie = cookie.split(';').next().unwrap().to_string();
    ui
}

fn header<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let head = reply.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

impl Ui<'_> {
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], form: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: 127.0.0.1:{}\r\n", self.port));
        }
        if !self.cookie.is_empty() {
            head.push_str(&format!("Cookie: {}\r\n", self.cookie));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(form.as_bytes()).unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        let code = reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, reply)
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.request("GET", path, headers, "")
    }

    /// A POST from the UI's own page.
    fn post(&self, path: &str, form: &str) -> (u16, String) {
        self.request("POST", path, &[("Sec-Fetch-Site", "same-origin")], form)
    }

    fn run_status(&self, id: &str) -> String {
        self.pyra.run(["runs", "show", id, "--json"]).json()["status"].as_str().unwrap_or_default().to_string()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        let enc =
            |t: &str| {
                t.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b == b'.' {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
        s.push_str(&format!("{}={}", enc(k), enc(v)));
    }
    s
}

#[test]
fn the_ui_signs_in_with_the_token_and_refuses_strangers_and_other_hosts() {
    let pyra = Pyra::new();
    let ui = start(&pyra);
    for file in ["web.addr", "web.token"] {
        let mode = std::fs::metadata(pyra.home_path().join("run").join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    for path in ["/skills", "/skills/echo", "/runs", "/approvals", "/memory?q=x", "/skills/echo/history"] {
        let (code, reply) = ui.get(path, &[]);
        assert_eq!(code, 200, "{path}: {reply}");
        let csp = header(&reply, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&reply, "x-content-type-options"), Some("nosniff"));
    }
    let (_, skill) = ui.get("/skills/echo", &[]);
    assert!(body(&skill).contains("id=\"node-say\""), "the DAG is drawn with one element per node");
    // No cookie: sign in first.
    let stranger = Ui { pyra: &pyra, port: ui.port, cookie: String::new() };
    assert_eq!(stranger.get("/skills", &[]).0, 401);
    assert_eq!(stranger.get("/?token=0000", &[]).0, 401);
    std::mem::forget(stranger);
    // DNS rebinding: another name for this address is refused, even with the cookie.
    let (code, _) = ui.get("/skills", &[("Host", "attacker.example:80")]);
    assert_eq!(code, 403);
    assert_eq!(ui.get("/nothing-here", &[]).0, 404);
    assert_eq!(ui.request("PUT", "/skills", &[("Sec-Fetch-Site", "same-origin")], "").0, 405);
    let (code, css) = ui.get("/assets/pyra.css", &[]);
    assert!(code == 200 && body(&css).contains("state-failed"));
    let status = pyra.run(["daemon", "status"]);
    assert!(status.stdout.contains(&format!("web      http://127.0.0.1:{}/", ui.port)), "{}", status.stdout);
    // `pyra web --print` gives the address with the token.
    let printed = pyra.run(["web", "--print"]);
    printed.success();
    assert!(printed.stdout.contains(&format!("http://127.0.0.1:{}/?token=", ui.port)), "{}", printed.stdout);
}

#[test]
fn a_cross_origin_post_starts_nothing_and_the_form_starts_a_run_shown_as_text() {
    let pyra = Pyra::new();
    let ui = start(&pyra);
    let hostile = "<script>alert(1)</script>";
    let f = form(&[("in.text", hostile)]);
    // Another site's form (or one with no origin at all) is refused, and starts nothing.
    for headers in [vec![("Sec-Fetch-Site", "cross-site")], vec![("Origin", "http://localhost:1")], vec![]] {
        let (code, reply) = ui.request("POST", "/skills/echo/run", &headers, &f);
        assert_eq!(code, 403, "{headers:?}: {reply}");
    }
    assert_eq!(pyra.run(["runs", "list", "--json"]).json().as_array().map_or(0, Vec::len), 0);
    // Bad input: the form again, with why.
    let (code, reply) = ui.post("/skills/echo/run", &form(&[("in.text", "x"), ("in.times", "many")]));
    assert_eq!(code, 400, "{reply}");
    assert!(body(&reply).contains("times"), "{reply}");
    let (code, reply) = ui.post("/skills/echo/run", &form(&[("in.times", "2")]));
    assert_eq!(code, 400, "a required input is missing: {reply}");
    // The run, from the same origin.
    let (code, reply) =
        ui.request("POST", "/skills/echo/run", &[("Origin", &format!("http://127.0.0.1:{}", ui.port))], &f);
    assert_eq!(code, 303, "{reply}");
    let location = header(&reply, "location").unwrap().to_string();
    let id = location.trim_start_matches("/runs/").to_string();
    wait_for("the run to succeed", || if ui.run_status(&id) == "succeeded" { Ok(()) } else { Err("not yet".into()) });
    let (code, page) = ui.get(&location, &[]);
    assert_eq!(code, 200);
    assert!(!body(&page).contains("<script>alert"), "a node's output never becomes markup");
    assert!(body(&page).contains("&lt;script&gt;alert(1)"), "it is shown as text");
    assert!(body(&page).contains("class=\"node state-succeeded\""), "the DAG is coloured by state");
    // The live stream: every change once, with the store's ids; a reconnect resumes.
    let (code, stream) = ui.get(&format!("{location}/events"), &[]);
    assert_eq!(code, 200);
    assert_eq!(header(&stream, "content-type"), Some("text/event-stream"));
    let ids: Vec<i64> =
        body(&stream).lines().filter_map(|l| l.strip_prefix("id: ")).filter_map(|i| i.trim().parse().ok()).collect();
    assert!(ids.len() >= 4 && ids.windows(2).all(|w| w[0] < w[1]), "{stream}");
    assert!(body(&stream).contains("\"kind\":\"node.finished\""), "{stream}");
    let second = ids[1].to_string();
    let (_, resumed) = ui.get(&format!("{location}/events"), &[("Last-Event-ID", &second)]);
    let first_again: Option<i64> =
        body(&resumed).lines().find_map(|l| l.strip_prefix("id: ")).and_then(|i| i.trim().parse().ok());
    assert_eq!(first_again, Some(ids[2]), "{resumed}");
}

#[test]
fn runs_are_listed_in_stable_pages_with_filters() {
    let pyra = Pyra::new();
    let ui = start(&pyra);
    for i in 0..60 {
        let (code, reply) = ui.post("/skills/echo/run", &form(&[("in.text", &format!("n{i}"))]));
        assert_eq!(code, 303, "{reply}");
    }
    wait_for("every run to end", || {
        let list = pyra.run(["runs", "list", "--json", "--limit", "100"]).json();
        let done = list.as_array().map_or(0, |a| a.iter().filter(|r| r["status"] == "succeeded").count());
        if done == 60 { Ok(()) } else { Err(format!("{done} of 60")) }
    });
    let ids = |page: &str| -> Vec<String> {
        page.match_indices("<a href=\"/runs/")
            .map(|(at, _)| page[at + 15..].split('"').next().unwrap().to_string())
            .collect()
    };
    let (_, first) = ui.get("/runs?skill=echo", &[]);
    let page1 = ids(body(&first));
    assert_eq!(page1.len(), 50, "{first}");
    let next = body(&first).split("id=\"next-page\"").next().and_then(|b| b.rsplit("href=\"").next()).unwrap();
    // The template escapes the link (`&amp;`, `&#x2f;`); a browser reads it back.
    let next = next.split('"').next().unwrap().replace("&amp;", "&").replace("&#x2f;", "/");
    assert!(next.contains("after=") && next.contains("skill=echo"), "{next}");
    let (_, second) = ui.get(&next, &[]);
    let page2 = ids(body(&second));
    assert_eq!(page2.len(), 10);
    assert!(!body(&second).contains("id=\"next-page\""));
    let mut all: Vec<&String> = page1.iter().chain(&page2).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "every run exactly once");
    let (_, manual) = ui.get("/runs?trigger=manual&since=1h&skill=echo", &[]);
    assert_eq!(ids(body(&manual)).len(), 50, "{manual}");
    let (_, cron) = ui.get("/runs?trigger=cron", &[]);
    assert!(ids(body(&cron)).is_empty());
    let (_, failed) = ui.get("/runs?status=failed", &[]);
    assert!(ids(body(&failed)).is_empty());
    assert_eq!(ui.get("/runs?after=garbage", &[]).0, 400);
    assert_eq!(ui.get("/runs?status=sideways", &[]).0, 400);
}

#[test]
fn an_approval_is_answered_in_the_browser_once_and_the_run_goes_on() {
    let pyra = Pyra::new();
    let ui = start(&pyra);
    let (code, reply) = ui.post("/skills/ask/run", "");
    assert_eq!(code, 303, "{reply}");
    let id = header(&reply, "location").unwrap().trim_start_matches("/runs/").to_string();
    wait_for("the run to wait", || if ui.run_status(&id) == "waiting" { Ok(()) } else { Err("not yet".into()) });
    let (_, page) = ui.get("/approvals", &[]);
    assert!(body(&page).contains("Send the &lt;b&gt;weekly&lt;&#x2f;b&gt; report?"), "{page}");
    assert!(body(&page).contains("data-deadline"), "a countdown");
    let path = format!("/approvals/{id}/ok");
    let (code, _) = ui.request("POST", &path, &[("Sec-Fetch-Site", "same-site")], "decision=approve");
    assert_eq!(code, 403, "a sibling site cannot answer");
    let (code, reply) = ui.post(&path, &form(&[("decision", "approve"), ("reason", "looks right")]));
    assert_eq!(code, 200, "{reply}");
    wait_for("the run to finish", || if ui.run_status(&id) == "succeeded" { Ok(()) } else { Err("not yet".into()) });
    let shown = pyra.run(["runs", "show", &id, "--json"]).json();
    assert_eq!(shown["approvals"][0]["answered_by"], "web");
    assert_eq!(shown["approvals"][0]["reason"], "looks right");
    let (code, again) = ui.post(&path, "decision=reject");
    assert_eq!(code, 409, "single use: {again}");
}

#[test]
fn cancel_retry_history_and_memory_work_and_hostile_requests_are_refused() {
    let pyra = Pyra::new();
    let ui = start(&pyra);
    // Cancel a run that waits for its approval; then retry it.
    let (_, reply) = ui.post("/skills/ask/run", "");
    let id = header(&reply, "location").unwrap().trim_start_matches("/runs/").to_string();
    wait_for("the run to wait", || if ui.run_status(&id) == "waiting" { Ok(()) } else { Err("not yet".into()) });
    let (code, _) = ui.request("POST", &format!("/runs/{id}/cancel"), &[("Sec-Fetch-Site", "cross-site")], "");
    assert_eq!(code, 403);
    assert_eq!(ui.run_status(&id), "waiting");
    let (code, reply) = ui.post(&format!("/runs/{id}/cancel"), "");
    assert_eq!(code, 303, "{reply}");
    assert_eq!(ui.run_status(&id), "cancelled");
    assert_eq!(ui.post(&format!("/runs/{id}/cancel"), "").0, 409, "already ended");
    let (code, reply) = ui.post(&format!("/runs/{id}/retry"), "");
    assert_eq!(code, 303, "{reply}");
    wait_for("the retried run to wait again", || {
        if ui.run_status(&id) == "waiting" { Ok(()) } else { Err(ui.run_status(&id)) }
    });
    let (_, page) = ui.get(&format!("/runs/{id}"), &[]);
    assert!(body(&page).contains("id=\"cancel-button\""));
    // The history grid: the skill's nodes × its runs.
    let (code, grid) = ui.get("/skills/echo/history", &[]);
    assert_eq!(code, 200);
    assert!(body(&grid).contains("<code>say</code>"), "{grid}");
    // Memory: a note found by its words, opened; nothing outside memory is readable.
    let mut c = pyra.command(["memory", "write", "garden/roses"]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"Roses want <b>sun</b> and water.\n").unwrap();
    assert!(child.wait().unwrap().success());
    let (code, found) = ui.get("/memory?q=roses", &[]);
    assert_eq!(code, 200);
    assert!(body(&found).contains("garden") && body(&found).contains("matched by words"), "{found}");
    assert!(!body(&found).contains("<b>sun</b>"), "a note's markup is text");
    let (code, opened) = ui.get("/memory/note?path=garden%2Froses", &[]);
    assert_eq!(code, 200, "{opened}");
    assert!(body(&opened).contains("Roses want &lt;b&gt;sun"), "{opened}");
    for path in ["../config.yaml", "../../etc/passwd", "/etc/passwd", "../run/web.token"] {
        let (code, reply) = ui.get(&format!("/memory/note?path={}", form(&[("", path)]).trim_start_matches('=')), &[]);
        assert_eq!(code, 404, "{path}: {reply}");
        assert!(!body(&reply).contains("daemon:") && !body(&reply).contains("root:"), "{path}");
    }
    // Hostile requests: an oversized form, unknown runs and streams, a broken cookie.
    let big = "x".repeat(300 * 1024);
    assert_eq!(ui.post("/skills/echo/run", &format!("in.text={big}")).0, 413);
    assert_eq!(ui.get("/runs/nope", &[]).0, 404);
    assert_eq!(ui.get("/runs/nope/events", &[]).0, 404);
    assert_eq!(ui.post("/approvals/nope/ok", "decision=approve").0, 404);
    assert_eq!(ui.post("/skills/nope/run", "").0, 404);
    let broken = Ui { pyra: &pyra, port: ui.port, cookie: "pyra_web_1=; ;=;pyra_web_x".into() };
    assert_eq!(broken.get("/skills", &[]).0, 401);
    std::mem::forget(broken);
}
