//! What `pyra daemon status` shows: the daemon's process, its skills (and those that do
//! not load, with their diagnostics), every trigger with its next fire (a watch: its state,
//! `events` or `polling (why)`) and its last slot's or batch's outcome, the runs in flight, the supervised tasks, the vault agent, memory.

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};

use super::{Daemon, rfc};

impl Daemon {
    /// Everything `pyra daemon status` shows.
    pub fn status(&self) -> Value {
        let last: HashMap<(String, String), crate::history::SlotRow> = self
            .setup
            .history
            .last_outcomes()
            .unwrap_or_default()
            .into_iter()
            .map(|r| ((r.skill.clone(), r.trigger.clone()), r))
            .collect();
        let st = self.state();
        let mut triggers = Vec::new();
        for arm in &st.crons {
            let last = last.get(&(arm.skill.clone(), arm.key.clone()));
            triggers.push(json!({
                "skill": arm.skill,
                "kind": "cron",
                "spec": arm.cron,
                "timezone": arm.zone.name(),
                "next": arm.next.map(|t| t.to_rfc3339()),
                "last": last.map(|r| json!({
                    "slot": rfc(r.slot), "outcome": r.outcome, "reason": r.reason, "run": r.run_id, "run_status": r.run_status,
                })),
            }));
        }
        for def in &st.watches {
            let last = last.get(&(def.skill.clone(), def.key.clone()));
            let state = st.watch_modes.get(&(def.skill.clone(), def.key.clone())).cloned();
            triggers.push(json!({
                "skill": def.skill,
                "kind": "watch",
                "spec": def.key,
                "paths": def.shown,
                "refused": def.refused,
                "state": state.unwrap_or_else(|| "arming".into()),
                "last": last.map(|r| json!({
                    "slot": rfc(r.slot), "outcome": r.outcome, "reason": r.reason, "run": r.run_id, "run_status": r.run_status,
                })),
            }));
        }
        for (skill, t) in &st.events {
            triggers.push(json!({ "skill": skill, "kind": "event", "spec": t.event, "if": t.condition }));
        }
        let flights: Vec<Value> = st
            .flights
            .iter()
            .map(|(id, f)| json!({ "run": id, "skill": f.skill, "trigger": f.started_by, "since": rfc(f.since) }))
            .collect();
        let tasks: Vec<Value> = self
            .supervisor
            .status()
            .into_iter()
            .map(|t| {
                json!({
                    "name": t.name, "running": t.running, "restarts": t.restarts, "last_error": t.last_error,
                    "next_restart_in_ms": t.next_restart_in.map(|d| d.as_millis() as u64),
                })
            })
            .collect();
        json!({
            "pid": std::process::id(),
            "version": self.setup.version,
            "home": self.setup.home,
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "now": self.setup.clock.now().to_rfc3339(),
            "clock_set": self.setup.clock.is_set(),
            "skills": st.skills.keys().collect::<Vec<_>>(),
            "broken": st.broken.values().collect::<Vec<_>>(),
            "triggers": triggers,
            "runs": flights,
            "queued": st.queues.values().map(VecDeque::len).sum::<usize>(),
            "tasks": tasks,
            "vault": self.setup.agent.state(),
            "rss_bytes": rss_bytes(),
            "max_runs": self.setup.max_runs,
            "reloads": st.reloads,
            "log": self.setup.log.path(),
            "telemetry": self.setup.telemetry.map_or(Value::Null, |counts| counts()),
            "plugins": self.setup.plugins.as_ref().map_or(Value::Null, |p| p.status()),
            "mcp": self.supervisor.status().iter().any(|t| t.name == "mcp" && t.running)
                .then(|| crate::mcp::url(&self.setup.home)).flatten(),
        })
    }
}

/// The process's resident set size.
pub fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}
