//! `pyra skill new NAME --describe "…"` against a local model server replaying a drafting
//! conversation: a first draft with two mistakes, its repair (the diagnostics, located,
//! went back to the model), the view, save / discard / edit, the never-valid case, and that
//! no node of a draft runs before it is saved.

use crate::harness::{Pyra, repo_root};
use crate::llm_server::{LlmServer, Reply};

/// An OpenAI-compatible streamed reply whose text is `text` (the audit's tests use it too).
pub fn says(text: &str) -> Reply {
    let chunk = serde_json::json!({
        "id": "chatcmpl-draft", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": null}]
    });
    let end = serde_json::json!({
        "id": "chatcmpl-draft", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    });
    let mut reply = Reply::fixture("openai/text.sse");
    reply.body = format!("data: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n").into_bytes();
    reply.cuts = Vec::new();
    reply
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/drafts").join(name)).unwrap()
}

fn setup(server: &LlmServer) -> Pyra {
    let pyra = Pyra::new();
    let config = format!(
        "default_model: oa\nmodels:\n  - name: oa\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        server.url
    );
    std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
    pyra
}

const DESCRIBE: &str = "every weekday at 7, check that my site answers and tell me when it does not, but ask me first";

#[test]
fn a_draft_with_two_mistakes_is_repaired_shown_and_saved() {
    let server = LlmServer::start(vec![says(&fixture("site-watch.bad.md")), says(&fixture("site-watch.good.md"))]);
    let pyra = setup(&server);
    let out = pyra.run(["skill", "new", "site-watch", "--describe", DESCRIBE, "--yes"]);
    out.success().stderr_has("round 1: 2 error(s)").stderr_has("round 2: the draft is valid");
    // The repair request carried the located diagnostics.
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let repair = serde_json::to_string(&seen[1].body).unwrap();
    assert!(repair.contains("unknown node kind `htpp`") && repair.contains("site-watch.yaml (draft 1):"), "{repair}");
    assert!(repair.contains("cron"), "the cron error went back too: {repair}");
    // The first request described the kinds of this build and no tool the machine lacks.
    let first = serde_json::to_string(&seen[0].body).unwrap();
    assert!(first.contains("http: ") && first.contains("No plugin tools are installed"), "{first}");
    // The view: the YAML, the DAG, the next fires, the approval.
    out.stdout_has("── the draft of `site-watch` (valid) ──")
        .stdout_has("── its graph ──")
        .stdout_has("cron \"0 7 * * MON-FRI\" (Europe/Berlin)")
        .stdout_has("ask (an approval node)");
    let saved = std::fs::read_to_string(pyra.home_path().join("skills/site-watch.yaml")).unwrap();
    assert!(saved.starts_with("# yaml-language-server: $schema=../schemas/skill.schema.json"), "{saved}");
    pyra.run(["skill", "validate", "site-watch"]).success();
    // No node of the draft ran: the only runs are the two drafting runs.
    let runs = pyra.run(["runs", "list", "--json"]).json();
    let skills: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["skill"].as_str().unwrap()).collect();
    assert_eq!(skills, vec!["draft-skill", "draft-skill"], "{runs}");
}

#[test]
fn a_draft_that_never_validates_is_kept_aside_not_saved() {
    let bad = fixture("site-watch.bad.md");
    let server = LlmServer::start(vec![says(&bad), says(&bad)]);
    let pyra = setup(&server);
    let out = pyra.run(["skill", "new", "site-watch", "--describe", DESCRIBE, "--rounds", "2", "--yes"]);
    out.code(1).stderr_has("did not validate after 2 round(s); nothing was saved");
    assert!(!pyra.home_path().join("skills/site-watch.yaml").exists());
    let kept = pyra.home_path().join("drafts/site-watch.yaml");
    assert!(std::fs::read_to_string(&kept).unwrap().contains("htpp"));
    let diagnostics = std::fs::read_to_string(pyra.home_path().join("drafts/site-watch.diagnostics.txt")).unwrap();
    assert!(diagnostics.contains("unknown node kind `htpp`"), "{diagnostics}");
}

#[test]
fn acting_without_asking_is_flagged_and_nothing_is_saved_without_a_terminal() {
    let server = LlmServer::start(vec![says(&fixture("cleanup.unguarded.md"))]);
    let pyra = setup(&server);
    let out = pyra.run(["skill", "new", "cleanup", "--describe", "delete old files in /tmp/pyra-x every night"]);
    out.success().stdout_has("⚠ acts on the world without asking first").stdout_has("purge: runs a program");
    out.stderr_has("not saved (no terminal to ask)");
    assert!(!pyra.home_path().join("skills/cleanup.yaml").exists());
    assert!(pyra.home_path().join("drafts/cleanup.yaml").exists());
}

#[test]
fn at_a_terminal_the_draft_is_edited_validated_again_and_saved_or_discarded() {
    let other = fixture("site-watch.good.md").replace("name: site-watch", "name: other-watch");
    let server = LlmServer::start(vec![says(&fixture("site-watch.good.md")), says(&other)]);
    let pyra = setup(&server);
    // An "editor" that changes the description in place.
    let editor = pyra.work().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/^description: .*/description: Edited by hand./' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let editor_env = editor.to_string_lossy().into_owned();
    let mut t = crate::pty::Terminal::start(
        &pyra,
        &["skill", "new", "site-watch", "--describe", DESCRIBE],
        &[("EDITOR", editor_env.as_str()), ("VISUAL", "")],
    );
    t.expect("[s]ave, [e]dit in $EDITOR, [d]iscard");
    t.line("e");
    t.expect("Edited by hand.");
    t.line("s");
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    let saved = std::fs::read_to_string(pyra.home_path().join("skills/site-watch.yaml")).unwrap();
    assert!(saved.contains("description: Edited by hand."), "{saved}");

    let mut t = crate::pty::Terminal::start(&pyra, &["skill", "new", "other-watch", "--describe", DESCRIBE], &[]);
    t.expect("[s]ave");
    t.line("d");
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("discarded; nothing was saved"), "{screen}");
    assert!(!pyra.home_path().join("skills/other-watch.yaml").exists());
}

#[test]
fn the_chat_drafts_a_skill_with_slash_skill_new() {
    let server = LlmServer::start(vec![says(&fixture("site-watch.good.md"))]);
    let pyra = setup(&server);
    let mut t = crate::pty::Terminal::start(&pyra, &["chat"], &[]);
    t.expect("/help for commands");
    t.line(&format!("/skill new site-watch {DESCRIBE}"));
    t.expect("[s]ave, [e]dit in $EDITOR, [d]iscard");
    t.line("s");
    t.expect("saved ");
    t.line("/exit");
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(pyra.home_path().join("skills/site-watch.yaml").exists(), "{screen}");
}
