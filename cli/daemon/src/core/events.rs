//! Events: `pyra emit` and the webhook store an event once (its id), and delivering it
//! starts every armed skill whose `event:` trigger names it and whose `if:` holds, with the
//! trigger's `with:` rendered over `event.{name,data,id,at}` as the run's inputs. A
//! delivery is taken once, even by two daemons sharing one database.

use std::sync::Arc;

use chrono::DateTime;
use indexmap::IndexMap;
use lang::model::EventTrigger;
use runtime::Origin;
use serde_json::{Map, Value, json};

use super::{Daemon, now_ms};
use crate::history::{EventRow, Planned};

impl Daemon {
    /// Stores an event and starts every skill whose event trigger matches it. An id seen
    /// before starts nothing (and the reply names the runs it started then).
    pub fn emit(self: &Arc<Self>, event: EventRow) -> Result<Value, String> {
        let history = &self.setup.history;
        if !history.add_event(&event)? {
            let runs = history.event_runs(&event.id)?.unwrap_or_default();
            return Ok(json!({ "id": event.id, "duplicate": true, "runs": runs }));
        }
        let runs = self.deliver(&event)?;
        Ok(json!({ "id": event.id, "duplicate": false, "runs": runs }))
    }

    /// Delivers a stored event (once, even with two daemons): the runs it started. The
    /// runs are planned first — each trigger's `if:` and `with:`, an id chosen — and the
    /// plan is committed with the event's taking, so a crash before they start is
    /// recovered by starting exactly those runs ([`Daemon::start_planned`]).
    pub fn deliver(self: &Arc<Self>, event: &EventRow) -> Result<Vec<String>, String> {
        let history = &self.setup.history;
        let targets: Vec<(String, EventTrigger)> =
            self.state().events.iter().filter(|(_, t)| t.event == event.name).cloned().collect();
        let at = DateTime::from_timestamp_millis(event.at).map(|t| t.to_rfc3339());
        let context = json!({
            "event": { "name": event.name, "data": event.data, "id": event.id, "at": at },
        });
        let started_by = match event.source.as_str() {
            "webhook" => "webhook",
            super::CHANNEL => super::CHANNEL,
            _ => "event",
        };
        let mut plan = Vec::new();
        for (skill, trigger) in targets {
            match event_inputs(&trigger, &context) {
                Ok(None) => {}
                Ok(Some(inputs)) => {
                    plan.push(Planned { run: runtime::new_run_id(), skill, inputs, started_by: started_by.to_string() })
                }
                Err(e) => self.log().warn(&format!("event {}: trigger of {skill} not evaluated: {e}", event.name)),
            }
        }
        if !history.take_event(&event.id, now_ms(), &plan)? {
            return Ok(history.event_runs(&event.id)?.unwrap_or_default());
        }
        let mut runs = Vec::new();
        for planned in plan {
            self.log()
                .info(&format!("event {} ({}) starts {}: run {}", event.name, event.id, planned.skill, planned.run));
            runs.push(planned.run.clone());
            self.start_planned(planned);
        }
        Ok(runs)
    }

    /// Starts a planned run of an event under its chosen id.
    pub(super) fn start_planned(self: &Arc<Self>, planned: Planned) {
        let origin =
            Origin { id: Some(planned.run.clone()), started_by: Some(planned.started_by), scheduled_for: None };
        if let Err(e) = self.launch(&planned.skill, planned.inputs, origin, None) {
            self.log().error(&format!("cannot start {} (run {}): {e}", planned.skill, planned.run));
        }
    }

    /// Delivers the events stored while the daemon was down.
    pub fn deliver_pending(self: &Arc<Self>) {
        match self.setup.history.pending_events() {
            Ok(events) => {
                for event in events {
                    if let Err(e) = self.deliver(&event) {
                        self.log().error(&format!("cannot deliver event {}: {e}", event.id));
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read stored events: {e}")),
        }
    }

    /// Runs an armed skill for a message from outside (a channel): its inputs count as
    /// untrusted (what reads them is tainted), inputs it does not declare are left out, it
    /// takes a place among `max_runs`, and the report comes back when it ends. The caller
    /// chooses the run's id (and records it first), so that after a crash it finds the run
    /// the daemon resumes instead of starting another.
    pub async fn run_untrusted(
        self: &Arc<Self>,
        skill: &str,
        inputs: Map<String, Value>,
        started_by: &str,
        run_id: String,
    ) -> Result<runtime::RunReport, String> {
        let (program, text) = {
            let st = self.state();
            let armed = st.skills.get(skill).ok_or_else(|| format!("no skill `{skill}` is armed"))?;
            (armed.program.clone(), armed.text.clone())
        };
        // A user's own skill of that name may take fewer inputs than are offered.
        let mut inputs = inputs;
        inputs.retain(|name, _| program.skill.inputs.contains_key(name));
        let permit = self.runs.acquire().await;
        let origin = Origin { id: Some(run_id), started_by: Some(started_by.to_string()), scheduled_for: None };
        let report = self.runtime().start_untrusted(program, &text, inputs, origin).await.map_err(|e| e.to_string());
        drop(permit);
        if let Ok(r) = &report
            && r.status == runtime::RunStatus::Waiting
        {
            self.wake_deadlines.notify_one();
        }
        report
    }

    /// `pyra schedule run SKILL`: a run marked manual; the schedule is untouched.
    pub fn run_manual(self: &Arc<Self>, skill: &str, inputs: Map<String, Value>) -> Result<String, String> {
        let origin = Origin { id: None, started_by: Some("manual".into()), scheduled_for: None };
        self.launch(skill, inputs, origin, None)
    }
}

/// Whether an event trigger's `if:` holds, and its `with:` rendered: the run's inputs.
pub fn event_inputs(trigger: &EventTrigger, context: &Value) -> Result<Option<Map<String, Value>>, String> {
    trigger_inputs(trigger.condition.as_deref(), &trigger.with, context)
}

/// Whether a trigger's `if:` holds over `context`, and its `with:` rendered over it.
pub fn trigger_inputs(
    condition: Option<&str>,
    with: &IndexMap<String, Value>,
    context: &Value,
) -> Result<Option<Map<String, Value>>, String> {
    let env = runtime::program::environment();
    let ctx = runtime::program::jvalue(context);
    if let Some(condition) = condition {
        let expr = runtime::program::single_expression(condition).unwrap_or(condition);
        let holds = env.compile_expression(expr).and_then(|e| e.eval(&ctx)).map_err(|e| format!("`if`: {e}"))?;
        if !holds.is_true() {
            return Ok(None);
        }
    }
    let mut inputs = Map::new();
    for (name, value) in with {
        inputs.insert(name.clone(), render(env, value, &ctx).map_err(|e| format!("`with.{name}`: {e}"))?);
    }
    Ok(Some(inputs))
}

fn render(env: &minijinja::Environment<'_>, value: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if lang::template::has_template_syntax(text) => {
            if let Some(expr) = runtime::program::single_expression(text) {
                let out = env.compile_expression(expr).and_then(|e| e.eval(ctx)).map_err(|e| e.to_string())?;
                serde_json::to_value(&out).map_err(|e| e.to_string())?
            } else {
                Value::String(env.render_str(text, ctx).map_err(|e| e.to_string())?)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render(env, v, ctx)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render(env, v, ctx)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
