//! Approvals in the browser: the pending ones with their message, details and deadline,
//! and the answer — single-use (the store answers a pending approval once), recorded as
//! answered from the web with the reason, then the run resumed by the daemon: the same
//! records the terminal, `pyra approve` and the channels answer.

use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use runtime::Store;
use runtime::record::ApprovalState;

use crate::app::{App, param};
use crate::http::Body;
use crate::view::{clean, clean_json, time};

pub fn list(app: &Arc<App>, notice: Option<String>) -> Response<Body> {
    let masker = app.masker();
    let approvals: Vec<Value> = app
        .daemon
        .setup
        .sqlite
        .pending_approvals()
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            json!({
                "run_id": a.run_id, "node": a.node, "message": clean(&masker, &a.message),
                "details": a.details.as_ref().map(|d| clean_json(&masker, d)),
                "deadline": a.deadline, "deadline_text": time(a.deadline), "on_timeout": a.on_timeout.as_str(),
            })
        })
        .collect();
    app.page("approvals.html", "Approvals", "approvals", json!({ "approvals": approvals, "notice": notice }))
}

pub fn answer(app: &Arc<App>, run: &str, node: &str, form: &[(String, String)]) -> Response<Body> {
    let state = match param(form, "decision") {
        Some("approve") => ApprovalState::Approved,
        Some("reject") => ApprovalState::Rejected,
        _ => {
            return app.message(
                StatusCode::BAD_REQUEST,
                "Not answered",
                "The form sent no decision (approve or reject).",
            );
        }
    };
    let reason = param(form, "reason");
    let store = &app.daemon.setup.sqlite;
    match store.approval(run, node) {
        Ok(Some(a)) if a.state == ApprovalState::Pending => {}
        Ok(Some(a)) => {
            let by = a.answered_by.unwrap_or_default();
            return app.message(
                StatusCode::CONFLICT,
                "Already answered",
                &format!("This approval was already {} ({by}).", a.state.as_str()),
            );
        }
        _ => {
            return app.message(
                StatusCode::NOT_FOUND,
                "No such approval",
                &format!("Run `{run}` waits for nothing at `{node}`."),
            );
        }
    }
    match store.answer_approval(run, node, state, "web", reason) {
        Ok(true) => {}
        Ok(false) => return app.message(StatusCode::CONFLICT, "Already answered", "Someone answered it first."),
        Err(e) => return app.message(StatusCode::INTERNAL_SERVER_ERROR, "Not answered", &e.to_string()),
    }
    // A child run's approval resumes from the top-level run, which resumes its children.
    let mut root = run.to_string();
    while let Ok(Some(r)) = store.run(&root) {
        match r.parent_run {
            Some(parent) => root = parent,
            None => break,
        }
    }
    let how = if state == ApprovalState::Approved { "approved" } else { "rejected" };
    if let Err(e) = app.daemon.resume(&root, &format!("{how} in the web UI")) {
        return app.message(StatusCode::INTERNAL_SERVER_ERROR, "Answered, not resumed", &e);
    }
    list(app, Some(format!("{how}: run {run} at {node}; it goes on")))
}
