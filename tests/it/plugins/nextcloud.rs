//! Built-in plugin `nextcloud` through the real binary against Radicale and WsgiDAV under
//! Nextcloud's paths ([`peer`]): an event created, listed for its day, updated, a stale
//! ETag refused as a conflict (the server untouched), deleted; a recurring event
//! expanded across a week; a task added and completed; a contact found; a file uploaded,
//! listed, downloaded, moved and deleted. Every call that changes something waits for its
//! approval and has no effect before it. `..` is refused, a hostile server's answer
//! (broken, huge) is a clear error, a wrong password names its vault key. Without the
//! peers the tests say why and return, unless `PYRA_REQUIRE_PLUGIN_PEERS=1`.

mod peer;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::PASS;
use crate::harness::{Output, Pyra};

static SKILLS: AtomicUsize = AtomicUsize::new(0);

/// A Pyra with the plugin `nc` on the peer, alice's password in the vault.
fn nextcloud(url: &str, password: &str, extra: &[&str]) -> Pyra {
    let pyra = Pyra::new();
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    pyra.run_unlocked(PASS, ["vault", "set", "plugin:nc:password"], Some(password)).success();
    let mut argv: Vec<String> = ["plugin", "add", "nc", "--builtin", "nextcloud", "--yes"].map(String::from).to_vec();
    for s in [format!("url={url}"), "username=alice".into()].iter().map(String::as_str).chain(extra.iter().copied()) {
        argv.push("--setting".into());
        argv.push(s.to_string());
    }
    argv.extend(["--secret".into(), "password=plugin:nc:password".into()]);
    let added = pyra.run_unlocked(PASS, &argv, None);
    added.success().stdout_has("nc.calendar.events").stdout_has("nc.files.put");
    pyra
}

/// Runs one `nc.TOOL` node with these arguments.
fn call(pyra: &Pyra, tool: &str, with: Value) -> Output {
    let name = format!("t{}", SKILLS.fetch_add(1, Ordering::Relaxed));
    let skill = pyra.skill(
        &name,
        &format!(
            "name: {name}\nnodes:\n  c:\n    uses: nc.{tool}\n    with: {with}\noutputs:\n  text: \"{{{{ nodes.c.output.text }}}}\"\n  structured: \"{{{{ nodes.c.output.structured | tojson }}}}\"\n"
        ),
    );
    pyra.run_unlocked(PASS, ["run", &skill, "--json"], None)
}

/// The text and the structured result of a call that succeeded.
fn outputs(out: &Output) -> (String, Value) {
    out.success();
    let json = out.json();
    let structured = serde_json::from_str(json["structured"].as_str().unwrap_or("null")).unwrap_or_default();
    (json["text"].as_str().unwrap_or("").to_string(), structured)
}

/// A read-only call, which runs without asking.
fn read(pyra: &Pyra, tool: &str, with: Value) -> (String, Value) {
    outputs(&call(pyra, tool, with))
}

/// A call that changes something: it waits for its approval (and `before` sees nothing
/// changed), then runs once approved; the approval's output.
fn approved(pyra: &Pyra, tool: &str, with: Value, before: impl FnOnce()) -> Output {
    call(pyra, tool, with).code(3).stderr_has("waits for an approval");
    let id = pyra.last_run();
    let show = pyra.show(&id);
    let sub = show["approvals"][0]["node"].as_str().unwrap_or_default().to_string();
    assert!(sub.starts_with("c#tool:"), "{show}");
    before();
    let out = pyra.run_unlocked(PASS, ["approve", &id, &sub], None);
    if out.code == 0 {
        let show = pyra.show(&id);
        let structured = show["outputs"]["structured"].as_str().unwrap_or("null").to_string();
        return Output { code: 0, stdout: structured, stderr: out.stderr };
    }
    out
}

fn day(pyra: &Pyra, date: &str) -> Vec<Value> {
    let (_, data) = read(pyra, "calendar.events", json!({ "start": date }));
    data["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_event_is_created_listed_updated_and_a_stale_etag_is_a_conflict() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &[]);
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/nc/plugin.yaml")).unwrap();
    assert!(
        manifest.contains("    calendar.events: allow\n") && !manifest.contains("calendar.create: allow"),
        "{manifest}"
    );

    let created = approved(
        &pyra,
        "calendar.create",
        json!({ "summary": "Dentist", "start": "2031-03-10T09:00:00Z", "end": "2031-03-10T10:00:00Z", "location": "Main St. 1, 2nd floor" }),
        || assert!(day(&pyra, "2031-03-10").is_empty(), "nothing is created before the approval"),
    );
    created.success();
    let events = day(&pyra, "2031-03-10");
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev["summary"], "Dentist");
    assert_eq!(ev["location"], "Main St. 1, 2nd floor");
    assert_eq!(
        (ev["start"].as_str(), ev["end"].as_str()),
        (Some("2031-03-10T09:00:00Z"), Some("2031-03-10T10:00:00Z"))
    );
    let href = ev["href"].as_str().unwrap().to_string();
    assert!(href.starts_with("/remote.php/dav/calendars/alice/personal/"), "{href}");
    let first = ev["etag"].as_str().unwrap().to_string();
    // The day before and after are empty: the range is the day.
    assert!(day(&pyra, "2031-03-09").is_empty() && day(&pyra, "2031-03-11").is_empty());

    let updated = approved(
        &pyra,
        "calendar.update",
        json!({ "href": href, "etag": first, "summary": "Dentist (moved)", "start": "2031-03-10T14:00:00Z" }),
        || assert_eq!(day(&pyra, "2031-03-10")[0]["summary"], "Dentist", "unchanged before the approval"),
    );
    updated.success();
    let now = day(&pyra, "2031-03-10");
    assert_eq!(now[0]["summary"], "Dentist (moved)");
    assert_eq!(now[0]["end"], "2031-03-10T15:00:00Z", "a new start keeps the length");
    let second = now[0]["etag"].as_str().unwrap().to_string();
    assert_ne!(first, second);

    // The first etag is stale now: a conflict that says to read again; nothing changes.
    let stale =
        approved(&pyra, "calendar.update", json!({ "href": href, "etag": first, "summary": "Overwritten" }), || {});
    assert_ne!(stale.code, 0);
    assert!(stale.stderr.contains("conflict") && stale.stderr.contains("read it again"), "{}", stale.stderr);
    let after = day(&pyra, "2031-03-10");
    assert_eq!(
        (after[0]["summary"].as_str(), after[0]["etag"].as_str()),
        (Some("Dentist (moved)"), Some(second.as_str()))
    );
    let stale = approved(&pyra, "calendar.delete", json!({ "href": href, "etag": first }), || {});
    assert!(stale.stderr.contains("conflict"), "{}", stale.stderr);
    assert_eq!(day(&pyra, "2031-03-10").len(), 1);

    // An href outside the calendar home is refused.
    let outside =
        approved(&pyra, "calendar.delete", json!({ "href": "/remote.php/dav/files/alice/x", "etag": second }), || {});
    assert!(outside.stderr.contains("is not under /remote.php/dav/calendars/alice/"), "{}", outside.stderr);

    approved(&pyra, "calendar.delete", json!({ "href": href, "etag": second }), || {
        assert_eq!(day(&pyra, "2031-03-10").len(), 1, "still there before the approval");
    })
    .success();
    assert!(day(&pyra, "2031-03-10").is_empty());
}

#[test]
fn a_recurring_event_is_expanded_across_a_week() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &["timezone=UTC"]);
    approved(
        &pyra,
        "calendar.create",
        json!({ "summary": "Stand-up", "start": "2031-04-07T09:00", "end": "2031-04-07T09:15", "rrule": "FREQ=DAILY;COUNT=10" }),
        || {},
    )
    .success();
    let (text, data) = read(&pyra, "calendar.events", json!({ "start": "2031-04-07", "end": "2031-04-14" }));
    let events = data["events"].as_array().unwrap();
    assert_eq!(events.len(), 7, "{text}");
    let starts: Vec<&str> = events.iter().map(|e| e["start"].as_str().unwrap()).collect();
    assert_eq!(starts[0], "2031-04-07T09:00:00Z");
    assert_eq!(starts[6], "2031-04-13T09:00:00Z");
    assert!(
        events.iter().all(|e| e["uid"] == events[0]["uid"] && e["recurring"] == true && e["recurrence_id"].is_string())
    );
    assert!(text.contains("2031-04-09T09:00:00Z – 2031-04-09T09:15:00Z  Stand-up"), "{text}");
}

#[test]
fn a_task_is_added_listed_and_completed() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &[]);
    let summary = format!("Renew passport {}", std::process::id());
    let open = |pyra: &Pyra| -> Vec<Value> {
        let (_, data) = read(pyra, "tasks.list", json!({}));
        data["tasks"].as_array().unwrap().iter().filter(|t| t["summary"] == summary.as_str()).cloned().collect()
    };
    approved(&pyra, "tasks.create", json!({ "summary": summary, "due": "2031-05-01", "priority": 1 }), || {
        assert!(open(&pyra).is_empty(), "nothing is added before the approval");
    })
    .success();
    let tasks = open(&pyra);
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0]["due"].as_str(), tasks[0]["done"].as_bool()), (Some("2031-05-01"), Some(false)));
    let (href, etag) = (tasks[0]["href"].as_str().unwrap(), tasks[0]["etag"].as_str().unwrap());
    approved(&pyra, "tasks.complete", json!({ "href": href, "etag": etag }), || {
        assert_eq!(open(&pyra).len(), 1, "still open before the approval");
    })
    .success();
    assert!(open(&pyra).is_empty(), "a completed task is not listed by default");
    let (text, _) = read(&pyra, "tasks.list", json!({ "include_completed": true }));
    assert!(text.contains(&format!("[x] {summary} (due 2031-05-01)")), "{text}");
    // Its old etag is stale now.
    let stale = approved(&pyra, "tasks.complete", json!({ "href": href, "etag": etag }), || {});
    assert!(stale.stderr.contains("conflict"), "{}", stale.stderr);
}

#[test]
fn a_contact_is_found_by_name_email_or_phone() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &[]);
    let (text, data) = read(&pyra, "contacts.search", json!({ "query": "jane" }));
    assert!(text.contains("Jane Doe · jane@example.org · +49 30 1234567 · ACME Research"), "{text}");
    assert_eq!(data["contacts"].as_array().unwrap().len(), 1, "{data}");
    let (_, data) = read(&pyra, "contacts.search", json!({ "query": "EXAMPLE.NET" }));
    assert_eq!(data["contacts"][0]["name"], "Bob Roe", "{data}");
    let (text, _) = read(&pyra, "contacts.search", json!({ "query": "nobody" }));
    assert!(text.contains("no contact in `contacts` matches \"nobody\""), "{text}");
}

#[test]
fn a_file_is_uploaded_listed_downloaded_moved_and_deleted_each_change_approved() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &[]);
    let put = approved(
        &pyra,
        "files.put",
        json!({ "path": "t-files/notes/todo.txt", "content": "buy milk\nfix the bike\n" }),
        || assert!(!peer.file("t-files").exists(), "nothing is written before the approval"),
    );
    put.success();
    assert_eq!(std::fs::read_to_string(peer.file("t-files/notes/todo.txt")).unwrap(), "buy milk\nfix the bike\n");
    let (text, data) = read(&pyra, "files.list", json!({ "path": "t-files/notes" }));
    assert_eq!(data["entries"][0]["path"], "t-files/notes/todo.txt", "{data}");
    assert_eq!(data["entries"][0]["size"], 22, "{data}");
    assert!(text.contains("todo.txt  (22 bytes)"), "{text}");
    let (text, _) = read(&pyra, "files.list", json!({ "path": "t-files" }));
    assert_eq!(text, "notes/");
    let (text, data) = read(&pyra, "files.get", json!({ "path": "t-files/notes/todo.txt" }));
    assert_eq!(text, "buy milk\nfix the bike\n");
    assert_eq!(data["binary"], false);

    // An existing file is not replaced without `overwrite`.
    let again = approved(&pyra, "files.put", json!({ "path": "t-files/notes/todo.txt", "content": "gone" }), || {});
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(peer.file("t-files/notes/todo.txt")).unwrap(), "buy milk\nfix the bike\n");

    approved(&pyra, "files.move", json!({ "from": "t-files/notes/todo.txt", "to": "t-files/done.txt" }), || {
        assert!(peer.file("t-files/notes/todo.txt").exists(), "not moved before the approval");
    })
    .success();
    assert!(!peer.file("t-files/notes/todo.txt").exists() && peer.file("t-files/done.txt").exists());

    approved(&pyra, "files.delete", json!({ "path": "t-files/done.txt" }), || {
        assert!(peer.file("t-files/done.txt").exists(), "not deleted before the approval");
    })
    .success();
    assert!(!peer.file("t-files/done.txt").exists());

    // A binary file is described, not shown; a big one is cut at the cap.
    std::fs::write(peer.file("t-files/photo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let (text, data) = read(&pyra, "files.get", json!({ "path": "t-files/photo.png" }));
    assert!(text.contains("`t-files/photo.png` is a binary file (16 bytes"), "{text}");
    assert_eq!(data["binary"], true);
    std::fs::write(peer.file("t-files/big.log"), "line\n".repeat(1_000_000)).unwrap();
    let (text, data) = read(&pyra, "files.get", json!({ "path": "t-files/big.log" }));
    let end = &text[text.len().saturating_sub(200)..];
    assert!(text.len() < 201_000 && end.contains("[cut: only the first 200000 bytes of 5000000"), "{end}");
    assert_eq!(data["truncated"], true);
}

#[test]
fn dotdot_is_refused_and_hostile_answers_are_clear_errors() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "alicepass", &[]);
    for path in ["../bob/secret.txt", "t/../../bob"] {
        call(&pyra, "files.get", json!({ "path": path })).code(1).stderr_has("`..` is refused");
    }
    call(&pyra, "files.list", json!({ "path": ".." })).code(1).stderr_has("`..` is refused");

    let broken = nextcloud(&peer.url, "alicepass", &["preset=custom", "calendar_home=/hostile/malformed/"]);
    call(&broken, "calendar.events", json!({ "start": "2031-03-10" })).code(1).stderr_has("not a WebDAV multistatus");
    let huge = nextcloud(&peer.url, "alicepass", &["preset=custom", "calendar_home=/hostile/huge/"]);
    call(&huge, "calendar.events", json!({ "start": "2031-03-10" })).code(1).stderr_has("is over 8 MB");
    // `custom` without the home a tool needs says which setting.
    call(&huge, "files.list", json!({})).code(1).stderr_has("`preset: custom` needs `settings.files_root`");
}

#[test]
fn a_wrong_password_names_its_vault_key() {
    let Some(peer) = peer::peer() else { return };
    let pyra = nextcloud(&peer.url, "not-alices-password", &[]);
    let out = call(&pyra, "files.list", json!({}));
    out.code(1).stderr_has("refused user `alice` with the password in vault key `plugin:nc:password`");
    assert!(!out.stderr.contains("not-alices-password"));
}
