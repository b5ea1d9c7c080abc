//! The skills pages (the list, one skill with its DAG, its form and the run it starts,
//! its history grid), memory search, and the page for a visitor without the token.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use runtime::program::Program;
use runtime::record::RunPage;

use crate::app::{App, param};
use crate::http::{Body, respond, see_other};
use crate::svg::{self, DagNode};
use crate::view::clean;

/// The page a request without the token gets.
pub fn unauthenticated() -> Response<Body> {
    respond(
        StatusCode::UNAUTHORIZED,
        "text/html; charset=utf-8",
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pyra</title>\
         <link rel=\"stylesheet\" href=\"/assets/pyra.css\"></head><body><main><h1>Sign in</h1>\
         <p>Open the address <code>pyra web</code> prints: it carries this daemon's token once, and \
         your browser keeps it as a cookie.</p></main></body></html>",
    )
}

/// The DAG of a program; `state` gives a node's state (`None`: pending).
pub fn dag<'s>(program: &Program, state: &dyn Fn(&str) -> Option<&'s str>) -> String {
    let nodes: Vec<DagNode> = program
        .nodes
        .iter()
        .map(|n| DagNode {
            id: n.id.clone(),
            kind: program.skill.nodes.get(&n.id).map(|m| m.uses.clone()).unwrap_or_default(),
            deps: n.deps.iter().filter_map(|d| program.nodes.get(*d)).map(|d| d.id.clone()).collect(),
        })
        .collect();
    svg::dag(&nodes, state)
}

pub fn skills(app: &Arc<App>) -> Response<Body> {
    let status = app.daemon.status();
    let mut triggers: HashMap<String, Vec<Value>> = HashMap::new();
    for t in status["triggers"].as_array().into_iter().flatten() {
        triggers.entry(t["skill"].as_str().unwrap_or_default().to_string()).or_default().push(t.clone());
    }
    let store = &app.daemon.setup.sqlite;
    let skills: Vec<Value> = app
        .daemon
        .skill_names()
        .into_iter()
        .map(|name| {
            let description =
                app.daemon.armed(&name).and_then(|(p, _)| p.skill.description.clone()).unwrap_or_default();
            let page = RunPage { skill: Some(name.clone()), limit: 10, ..RunPage::default() };
            let runs: Vec<Value> = store
                .list_runs_page(&page)
                .map(|(runs, _)| runs)
                .unwrap_or_default()
                .iter()
                .map(|r| json!({ "id": r.id, "status": r.status.as_str() }))
                .collect();
            json!({
                "name": name, "description": description, "runs": runs,
                "triggers": triggers.remove(&name).unwrap_or_default(),
            })
        })
        .collect();
    let masker = app.masker();
    let broken: Vec<Value> = app
        .daemon
        .broken_skills()
        .into_iter()
        .map(|b| json!({ "name": b.name, "diagnostic": clean(&masker, &b.diagnostic), "kept_previous": b.kept_previous }))
        .collect();
    app.page("skills.html", "Skills", "skills", json!({ "skills": skills, "broken": broken }))
}

/// A skill's page; `given` refills the form and `errors` explain why it was refused.
pub fn skill(
    app: &Arc<App>,
    name: &str,
    given: &[(String, String)],
    errors: Vec<String>,
    status: StatusCode,
) -> Response<Body> {
    let Some((program, text)) = app.daemon.armed(name) else {
        return app.message(
            StatusCode::NOT_FOUND,
            "No such skill",
            &format!("No skill `{name}` is armed in this daemon."),
        );
    };
    let inputs: Vec<Value> = program
        .skill
        .inputs
        .iter()
        .map(|(key, input)| {
            let value = given.iter().find(|(k, _)| k == &format!("in.{key}")).map(|(_, v)| v.clone());
            let default = input.default.as_ref().map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let choices: Vec<String> = input
                .allowed
                .iter()
                .flatten()
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .collect();
            json!({
                "name": key, "type": input.ty.as_str(), "description": input.description,
                "required": input.required.unwrap_or(input.default.is_none()),
                "default": default, "value": value.or(default.clone()).unwrap_or_default(), "choices": choices,
            })
        })
        .collect();
    let context = json!({
        "name": name,
        "description": program.skill.description,
        "source_path": text.path.clone().unwrap_or_else(|| text.display.clone()),
        "dag": dag(&program, &|_| None),
        "inputs": inputs,
        "errors": errors,
        "triggers": app.daemon.triggers_of(name),
        "source": text.source,
    });
    app.page_with("skill.html", name, "skills", context, status)
}

/// The form's POST: the inputs typed and checked as `pyra run` checks them; a refusal
/// shows the form again with why, a start goes to the run's page.
pub fn start(app: &Arc<App>, name: &str, form: Vec<(String, String)>) -> Response<Body> {
    let Some((program, _)) = app.daemon.armed(name) else {
        return app.message(
            StatusCode::NOT_FOUND,
            "No such skill",
            &format!("No skill `{name}` is armed in this daemon."),
        );
    };
    let mut given = Map::new();
    let mut errors = Vec::new();
    for (key, raw) in &form {
        let Some(input) = key.strip_prefix("in.") else { continue };
        if raw.trim().is_empty() {
            continue;
        }
        if !program.skill.inputs.contains_key(input) {
            errors.push(format!("`{input}` is not an input of `{name}`"));
            continue;
        }
        match runtime::inputs::coerce(&program.skill, input, raw) {
            Ok(v) => {
                given.insert(input.to_string(), v);
            }
            Err(e) => errors.push(e),
        }
    }
    let resolved = match runtime::inputs::resolve(&program.skill, given) {
        Ok(r) if errors.is_empty() => r,
        Ok(_) => return skill(app, name, &form, errors, StatusCode::BAD_REQUEST),
        Err(more) => {
            errors.extend(more);
            return skill(app, name, &form, errors, StatusCode::BAD_REQUEST);
        }
    };
    match app.daemon.run_manual(name, resolved) {
        Ok(run) => see_other(&format!("/runs/{run}")),
        Err(e) => skill(app, name, &form, vec![e], StatusCode::CONFLICT),
    }
}

/// The last runs of a skill × its nodes, each cell a node's state in that run.
pub fn history(app: &Arc<App>, name: &str, query: &[(String, String)]) -> Response<Body> {
    let Some((program, _)) = app.daemon.armed(name) else {
        return app.message(
            StatusCode::NOT_FOUND,
            "No such skill",
            &format!("No skill `{name}` is armed in this daemon."),
        );
    };
    let limit = param(query, "last").and_then(|n| n.parse().ok()).unwrap_or(30usize).clamp(1, 200);
    let history = app.daemon.setup.sqlite.node_history(name, limit).unwrap_or_default();
    let runs: Vec<Value> = history.iter().map(|(r, _)| json!({ "id": r.id, "status": r.status.as_str() })).collect();
    let rows: Vec<Value> = program
        .nodes
        .iter()
        .map(|n| {
            let cells: Vec<&str> = history
                .iter()
                .map(|(_, nodes)| nodes.iter().find(|x| *x.node == n.id).map_or("none", |x| x.status.as_str()))
                .collect();
            json!({ "node": n.id, "cells": cells })
        })
        .collect();
    let states = ["succeeded", "failed", "running", "waiting", "skipped", "cancelled", "rejected", "pending", "none"];
    app.page("history.html", name, "skills", json!({ "name": name, "runs": runs, "rows": rows, "states": states }))
}

/// Memory search, bm25 and (with embeddings) vectors, which arm matched shown.
pub fn memory(app: &Arc<App>, query: &[(String, String)]) -> Response<Body> {
    let q = param(query, "q").unwrap_or_default().to_string();
    let masker = app.masker();
    let (hits, error) = if q.is_empty() {
        (Vec::new(), None)
    } else {
        match (app.memory)().and_then(|m| {
            m.search(&q, &memory::SearchOptions { limit: 20, category: None, since: None }).map_err(|e| e.to_string())
        }) {
            Ok(hits) => (
                hits.iter()
                    .map(|h| {
                        let arm = match h.matched {
                            memory::Matched::Bm25 => "words",
                            memory::Matched::Vector => "meaning",
                            memory::Matched::Both => "words and meaning",
                        };
                        json!({
                            "title": clean(&masker, &h.title), "path": format!("{}/{}", h.category, h.name).trim_start_matches('/'),
                            "snippet": clean(&masker, &h.snippet.replace(memory::MARK_START, "")), "arm": arm,
                        })
                    })
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e)),
        }
    };
    app.page("memory.html", "Memory", "memory", json!({ "query": q, "hits": hits, "error": error }))
}

/// One note, as text.
pub fn note(app: &Arc<App>, query: &[(String, String)]) -> Response<Body> {
    let path = param(query, "path").unwrap_or_default().to_string();
    let masker = app.masker();
    match (app.memory)().and_then(|m| m.read(&path).map_err(|e| e.to_string())) {
        Ok(note) => app.page(
            "memory.html",
            &path,
            "memory",
            json!({ "note": { "path": path, "text": clean(&masker, &note.text) } }),
        ),
        Err(e) => app.message(StatusCode::NOT_FOUND, "No such note", &e),
    }
}
