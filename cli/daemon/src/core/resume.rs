//! Runs continued by the daemon: after a crash or a stop (at start, before the claimed
//! slots that never started are queued behind them), when an approval's deadline passes
//! (so its `on_timeout` applies then, not when someone next looks), and when `pyra
//! approve`/`reject` hands the answer over. Completed nodes are never run again.

use std::sync::Arc;
use std::time::Duration;

use runtime::Store;

use super::{Daemon, Flight, Queued, TICK, now_ms};
use crate::history::outcome;

impl Daemon {
    /// Continues a run inside the daemon (a crash, an approval answered, a deadline).
    pub fn resume(self: &Arc<Self>, run_id: &str, why: &str) -> Result<(), String> {
        self.resume_from(run_id, None, why)
    }

    /// [`Daemon::resume`], running again from node `from` (and what depends on it) when
    /// given, as `pyra runs retry --from` does; otherwise the failed nodes.
    pub fn resume_from(self: &Arc<Self>, run_id: &str, from: Option<&str>, why: &str) -> Result<(), String> {
        let from = from.map(str::to_string);
        let record =
            self.setup.sqlite.run(run_id).map_err(|e| e.to_string())?.ok_or_else(|| format!("no run `{run_id}`"))?;
        let key = self.setup.history.trigger_of_run(run_id)?;
        {
            let mut st = self.state();
            if st.flights.contains_key(run_id) {
                return Ok(());
            }
            st.flights.insert(
                run_id.to_string(),
                Flight {
                    skill: record.skill.clone(),
                    key,
                    started_by: record.started_by.clone().unwrap_or_else(|| "cli".into()),
                    since: now_ms(),
                    abort: None,
                },
            );
        }
        self.log().info(&format!("resuming run {run_id} of {} ({why})", record.skill));
        let daemon = self.clone();
        let id = run_id.to_string();
        let handle = tokio::spawn(async move {
            let permit = daemon.runs.acquire().await;
            let result = daemon.runtime().resume(&id, from.as_deref()).await;
            drop(permit);
            let key = daemon.state().flights.get(&id).and_then(|f| f.key.clone());
            daemon.finished(&id, &record.skill, key, result.map_err(|e| e.to_string()));
        });
        if let Some(flight) = self.state().flights.get_mut(run_id) {
            flight.abort = Some(handle.abort_handle());
        }
        Ok(())
    }

    /// At start: runs the daemon owned that a crash interrupted are resumed (completed
    /// nodes are not run again), then slots claimed whose run never began are started —
    /// in that order, so a claimed slot waits behind its trigger's resumed run as it
    /// waited before the crash, and never runs beside it.
    pub fn recover(self: &Arc<Self>) {
        match self.setup.history.unfinished_runs() {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = self.resume(&id, "interrupted by a stop or a crash") {
                        self.log().warn(&format!("cannot resume run {id}: {e}"));
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read unfinished runs: {e}")),
        }
        match self.setup.history.unstarted() {
            Ok(rows) => {
                for row in rows {
                    let Some(run_id) = row.run_id.clone() else { continue };
                    if row.trigger.starts_with("watch ") {
                        // A watch batch committed before a crash: its run, with its inputs.
                        let inputs = self.setup.history.slot_inputs(&row.skill, &row.trigger, row.slot);
                        let origin = runtime::Origin {
                            id: Some(run_id.clone()),
                            started_by: Some("watch".into()),
                            scheduled_for: None,
                        };
                        self.log().info(&format!(
                            "starting run {run_id} of {} (its batch was recorded before a crash)",
                            row.skill
                        ));
                        let started = inputs.and_then(|i| {
                            self.launch(&row.skill, i.unwrap_or_default(), origin, Some(row.trigger.clone()))
                        });
                        if let Err(e) = started {
                            let _ = self.setup.history.set_outcome(
                                &row.skill,
                                &row.trigger,
                                row.slot,
                                outcome::FAILED,
                                Some(&e),
                            );
                        }
                        continue;
                    }
                    let with = self
                        .state()
                        .crons
                        .iter()
                        .find(|a| a.skill == row.skill && a.key == row.trigger)
                        .map(|a| a.with.clone())
                        .unwrap_or_default();
                    let word = if row.outcome == outcome::CAUGHT_UP { outcome::CAUGHT_UP } else { outcome::RAN };
                    self.state()
                        .queues
                        .entry((row.skill.clone(), row.trigger.clone()))
                        .or_default()
                        .push_back(Queued { slot: row.slot, run_id, outcome: word });
                    let (running, _) = self.load_of(&row.skill, &row.trigger);
                    if running == 0 {
                        self.start_queued(&row.skill, &row.trigger, &with);
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read claimed slots: {e}")),
        }
        // Runs planned for events delivered in the last week that never started.
        let week_ago = now_ms() - 7 * 24 * 3600 * 1000;
        match self.setup.history.unstarted_event_runs(week_ago) {
            Ok(plan) => {
                for planned in plan {
                    self.log().info(&format!(
                        "starting run {} of {} (its event was delivered before a crash)",
                        planned.run, planned.skill
                    ));
                    self.start_planned(planned);
                }
            }
            Err(e) => self.log().error(&format!("cannot read delivered events: {e}")),
        }
    }

    /// The deadline task: a waiting run is resumed when its earliest approval deadline
    /// passes, so `on_timeout` applies then.
    pub async fn deadline_task(self: Arc<Self>) -> Result<(), String> {
        loop {
            let rows = self.setup.history.waiting_deadlines()?;
            let now = now_ms();
            let mut next: Option<i64> = None;
            for (run_id, deadline) in rows {
                if deadline <= now {
                    if !self.state().flights.contains_key(&run_id)
                        && let Err(e) = self.resume(&run_id, "an approval's deadline passed")
                    {
                        self.log().warn(&format!("cannot resume run {run_id}: {e}"));
                    }
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            let wait = next.map_or(TICK, |n| Duration::from_millis((n - now).max(0) as u64).min(TICK));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake_deadlines.notified() => {}
                () = self.stop.cancelled() => return Ok(()),
            }
        }
    }
}
