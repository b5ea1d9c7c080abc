//! A server asking for input during a call (MCP elicitation, form mode): with nobody at a
//! terminal the question is recorded like an approval and the run waits; `pyra approve
//! RUN NODE --with VALUE` answers it and the call is made again with the answer; a
//! rejection declines; a question for a secret is declined at once.

use super::{add_fixture, manifest_append};
use crate::harness::Pyra;

fn asking(pyra: &Pyra, field: &str) -> String {
    pyra.skill(
        "asking",
        &format!("name: asking\nnodes:\n  a:\n    uses: fx.ask\n    with: {{ field: {field} }}\noutputs:\n  got: \"{{{{ nodes.a.output.text }}}}\"\n"),
    )
}

fn pending(pyra: &Pyra, id: &str) -> String {
    let show = pyra.show(id);
    let waiting = show["approvals"].as_array().unwrap().iter().find(|a| a["state"] == "pending").cloned();
    waiting.unwrap_or_else(|| panic!("a waiting question: {show}"))["node"].as_str().unwrap().to_string()
}

#[test]
fn an_elicitation_waits_durably_and_the_answer_is_given_on_the_next_call() {
    let pyra = Pyra::new();
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = asking(&pyra, "city");
    pyra.run(["run", &skill]).code(3).stderr_has("asks for input: Which city?");
    let id = pyra.last_run();
    let node = pending(&pyra, &id);
    assert!(node.starts_with("a#ask:"), "{node}");
    let out = pyra.run(["approve", &id, &node, "--with", "\"Paris\""]);
    out.success();
    assert_eq!(pyra.show(&id)["outputs"]["got"], "city: Paris");
}

#[test]
fn a_rejected_elicitation_is_declined_and_a_secret_is_never_asked() {
    let pyra = Pyra::new();
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = asking(&pyra, "city");
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    let node = pending(&pyra, &id);
    pyra.run(["reject", &id, &node]).code(1).stderr_has("no answer (decline)");

    let secret = asking(&pyra, "api_token");
    let out = pyra.run(["run", &secret]);
    out.code(1).stderr_has("secrets never go through a form");
}

#[test]
fn an_answer_that_does_not_fit_is_declined() {
    let pyra = Pyra::new();
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = asking(&pyra, "city");
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    let node = pending(&pyra, &id);
    pyra.run(["approve", &id, &node, "--with", "{\"town\": \"Paris\"}"])
        .code(1)
        .stderr_has("does not fit what `fx.ask` asked");
}

#[test]
fn on_a_terminal_the_question_is_answered_at_the_prompt() {
    let pyra = Pyra::new();
    add_fixture(&pyra, "fx", &[]).success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = asking(&pyra, "city");
    let mut t = crate::pty::Terminal::start(&pyra, &["run", &skill], &[]);
    t.expect("asks: Which city?");
    t.expect("[a]pprove");
    t.line("a: Lisbon");
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("city: Lisbon"), "{screen}");
}
