//! The web UI in a real browser: Debian's headless Chromium driven over W3C WebDriver
//! (chromedriver, started by this test in its own process group and killed with it) by a
//! small client over a TCP socket. Sign in with the token; open a skill and see its DAG;
//! start a run from the form; watch its node colours change live while it runs; approve
//! it in another window and see it finish without a reload; a cross-origin form POST is
//! refused; a node output with `<script>` is shown as text. Screenshots of the main pages
//! go to `target/screenshots/` (and to `tests/screenshots/` with `PYRA_SCREENSHOTS=1`,
//! which is how README's are made).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::daemon::wait_for;
use crate::harness::{Output, Pyra, repo_root};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const REVIEW: &str = "name: review\ndescription: Prepare the weekly report, ask before sending it.\ninputs:\n  week: { type: integer, description: \"The week number\" }\nnodes:\n  prepare:\n    uses: template\n    with: { value: \"Report for week {{ inputs.week }}\" }\n  ask:\n    uses: approval\n    needs: [prepare]\n    with: { message: \"Send the report for week {{ inputs.week }}?\", timeout: 1h, on_timeout: reject }\n  send:\n    uses: template\n    needs: [ask]\n    with: { value: \"sent\" }\n  archive:\n    uses: template\n    needs: [prepare]\n    with: { value: \"archived\" }\noutputs:\n  result: \"{{ nodes.send.output }}\"\n";

const HOSTILE: &str = "name: hostile\nnodes:\n  fetch:\n    uses: template\n    with: { value: \"<script>document.title='pwned'</script><img src=x onerror=alert(1)>\" }\n";

/// chromedriver in its own process group; dropping it kills the group (Chromium too).
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 exchange with a JSON body; the reply's JSON.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(payload.as_bytes()).unwrap();
    // chromedriver says `Connection: close` but keeps the socket open: read the head, then
    // exactly the body its length announces.
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break reply.len();
        }
        reply.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&reply[..head_end]).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while reply.len() < head_end + length {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            let _ = stream.read_to_end(&mut reply);
        }
    }
    let body = String::from_utf8_lossy(&reply[head_end.min(reply.len())..]).into_owned();
    let body = if head.contains("transfer-encoding: chunked") { dechunk(&body) } else { body };
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n.min(after.len())]);
        rest = after.get(n + 2..).unwrap_or("");
    }
    out
}

struct Browser {
    driver: Driver,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = Driver { child: cmd.spawn().expect("chromedriver (apt: chromium-driver)"), port };
        wait_for("chromedriver", || {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() { Ok(()) } else { Err("not yet".into()) }
        });
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }}}});
        let reply = http(port, "POST", "/session", Some(&caps));
        let session = reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {reply}")).to_string();
        Browser { driver, session }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = http(self.driver.port, method, &format!("/session/{}{path}", self.session), body.as_ref());
        if reply["value"]["error"].is_string() {
            panic!("webdriver {method} {path}: {reply}");
        }
        reply["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    fn find(&self, css: &str) -> Option<String> {
        let reply = http(
            self.driver.port,
            "POST",
            &format!("/session/{}/element", self.session),
            Some(&json!({ "using": "css selector", "value": css })),
        );
        reply["value"][ELEMENT].as_str().map(str::to_string)
    }

    /// Waits until `css` matches an element.
    fn wait(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "never found {css} at {}", self.url());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or_default().to_string()
    }

    /// An attribute, or "" when the element went stale (the page swapped its live parts).
    fn attribute(&self, element: &str, name: &str) -> String {
        let kind = if name == "textContent" { "property" } else { "attribute" };
        let path = format!("/session/{}/element/{element}/{kind}/{name}", self.session);
        http(self.driver.port, "GET", &path, None)["value"].as_str().unwrap_or_default().to_string()
    }

    fn click(&self, element: &str) {
        self.cmd("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    fn type_into(&self, element: &str, text: &str) {
        self.cmd("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    fn title(&self) -> String {
        self.cmd("GET", "/title", None).as_str().unwrap_or_default().to_string()
    }

    fn screenshot(&self, name: &str) {
        let data = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).unwrap();
        let dirs: Vec<PathBuf> = std::iter::once(repo_root().join("target/screenshots"))
            .chain(std::env::var_os("PYRA_SCREENSHOTS").map(|_| repo_root().join("tests/screenshots")))
            .collect();
        for dir in dirs {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(self.driver.port, "DELETE", &format!("/session/{}", self.session), None);
    }
}

struct Up<'a>(&'a Pyra);

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = self.0.command(["daemon", "stop"]).output();
    }
}

#[allow(clippy::print_stderr, reason = "a skipped test says why in the test's output")]
fn available() -> bool {
    let found =
        Path::new("/usr/bin/chromium").exists() && Command::new("chromedriver").arg("--version").output().is_ok();
    if !found && std::env::var_os("PYRA_REQUIRE_CHROMIUM").is_some() {
        panic!("PYRA_REQUIRE_CHROMIUM is set but chromium or chromedriver is missing (apt: chromium chromium-driver)");
    }
    if !found {
        eprintln!("skipped: chromium and chromedriver are not installed (apt: chromium chromium-driver)");
    }
    found
}

fn class_of(b: &Browser, css: &str) -> String {
    b.find(css).map(|e| b.attribute(&e, "class")).unwrap_or_default()
}

/// Waits until the element's class contains `state`.
fn wait_class(b: &Browser, css: &str, state: &str) {
    let started = Instant::now();
    while !class_of(b, css).contains(state) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{css} never became {state}: class {:?} at {}",
            class_of(b, css),
            b.url()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_web_ui_in_chromium_runs_watches_and_approves_a_skill() {
    if !available() {
        return;
    }
    let pyra = Pyra::new();
    let skills = pyra.home_path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::write(skills.join("review.yaml"), REVIEW).unwrap();
    std::fs::write(skills.join("hostile.yaml"), HOSTILE).unwrap();
    std::fs::write(pyra.home_path().join("config.yaml"), "daemon:\n  web:\n    listen: 127.0.0.1:0\n").unwrap();
    Output::from(pyra.command(["daemon", "start"]).output().unwrap()).success();
    let _up = Up(&pyra);
    let run_dir = pyra.home_path().join("run");
    let addr = wait_for("run/web.addr", || {
        std::fs::read_to_string(run_dir.join("web.addr")).ok().filter(|a| !a.is_empty()).ok_or("not yet".to_string())
    });
    let base = format!("http://{}", addr.trim());
    let token = std::fs::read_to_string(run_dir.join("web.token")).unwrap();
    let b = Browser::start();

    // Signed in by the token, which then leaves the address bar.
    b.go(&format!("{base}/?token={}", token.trim()));
    b.wait("a[href='/skills/review']");
    assert!(!b.url().contains("token"), "{}", b.url());
    b.screenshot("skills");

    // A skill's page with its DAG, one element per node.
    let link = b.wait("a[href='/skills/review']");
    b.click(&link);
    b.wait("svg.dag g#node-ask");
    for node in ["prepare", "ask", "send", "archive"] {
        assert!(b.find(&format!("g#node-{node}")).is_some(), "{node}");
    }
    b.screenshot("skill");

    // Run it from the form; its page colours the graph as the run goes on.
    let week = b.wait("#in-week");
    b.type_into(&week, "49");
    let run = b.wait("#run-button");
    b.click(&run);
    b.wait("body[data-run]");
    let run_url = b.url();
    let run_id = run_url.rsplit('/').next().unwrap().to_string();
    wait_class(&b, "#node-ask", "state-waiting");
    wait_class(&b, "#node-prepare", "state-succeeded");
    // Still pending while the approval waits (waited for: the live swap replaces the graph).
    wait_class(&b, "#node-send", "state-pending");
    b.wait("svg.timeline rect.open");
    b.screenshot("run-waiting");

    // Approve it in another window; the run's page, left open, follows without a reload.
    let window = b.cmd("POST", "/window/new", Some(json!({ "type": "tab" })));
    let first = b.cmd("GET", "/window", None);
    b.cmd("POST", "/window", Some(json!({ "handle": window["handle"] })));
    b.go(&format!("{base}/approvals"));
    b.wait("button[value='approve']");
    let message = b.text(&b.wait(".panel.untrusted p"));
    assert_eq!(message, "Send the report for week 49?");
    b.screenshot("approvals");
    let approve = b.wait("button[value='approve']");
    b.click(&approve);
    b.wait(".panel");
    b.cmd("POST", "/window", Some(json!({ "handle": first })));
    wait_class(&b, "#node-send", "state-succeeded");
    wait_class(&b, "#run-status .badge", "state-succeeded");
    assert_eq!(b.url(), run_url, "no navigation happened: the page updated itself");
    b.screenshot("run-done");
    let shown = pyra.run(["runs", "show", &run_id, "--json"]).json();
    assert_eq!(shown["approvals"][0]["answered_by"], "web");

    // A node's output with markup is text: nothing runs, the title stays.
    b.go(&format!("{base}/skills/hostile"));
    let run = b.wait("#run-button");
    b.click(&run);
    b.wait("body[data-run]");
    wait_class(&b, "#node-fetch", "state-succeeded");
    // Inside a closed <details>: its text content, as the page holds it.
    let output = b.attribute(&b.wait("pre.output"), "textContent");
    assert!(output.contains("<script>document.title='pwned'</script>"), "{output}");
    assert!(!b.title().contains("pwned"), "{}", b.title());

    // Another origin's form POST is refused and starts nothing.
    let before = pyra.run(["runs", "list", "--json"]).json().as_array().map_or(0, Vec::len);
    let page = format!(
        "data:text/html,<form method=post action='{base}/skills/review/run'><input name='in.week' value='1'></form>\
         <script>document.forms[0].submit()</script>"
    );
    b.go(&page);
    let started = Instant::now();
    while !b.url().starts_with(&base) && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = b.text(&b.wait("body"));
    assert!(body.contains("refused") || body.contains("Sign in"), "{body}");
    let after = pyra.run(["runs", "list", "--json"]).json().as_array().map_or(0, Vec::len);
    assert_eq!(after, before, "the cross-origin POST started nothing");

    // The runs list and the history grid.
    b.go(&format!("{base}/runs"));
    b.wait("#runs");
    b.screenshot("runs");
    b.go(&format!("{base}/skills/review/history"));
    b.wait("table.grid");
    b.screenshot("history");
}
