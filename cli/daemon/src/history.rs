//! What the daemon records in `pyra.db` (schema steps 6 and 7 of `db::pyra`): the cron and
//! watch triggers it armed, one row per slot or watch batch (its claim and its outcome),
//! the events it delivers, and each watch trigger's index of the files it has seen.
//!
//! A slot's row is its claim: `INSERT … ON CONFLICT DO NOTHING RETURNING` succeeds for one
//! writer only, so a slot runs at most once across restarts, crashes and even two daemons
//! sharing one home. The run's id is chosen before the claim and stored in it, so a crash
//! between the claim and the run's first commit is recovered by starting that very run,
//! and a crash during the run by resuming it — never by a second run. The CLI writes
//! events here too when no daemon runs (`pyra emit`), and the daemon delivers them at
//! start.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// The outcome words a slot's row carries.
pub mod outcome {
    /// Started at its time.
    pub const RAN: &str = "ran";
    /// Started late: missed while the daemon was down.
    pub const CAUGHT_UP: &str = "caught-up";
    /// Not run; `reason` says why (`downtime`, `window`, `cap`, `overlap`).
    pub const SKIPPED: &str = "skipped";
    /// Claimed but could not start; `reason` says why.
    pub const FAILED: &str = "failed-to-start";
}

/// One slot's row, with its run's status when it has a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotRow {
    pub skill: String,
    pub trigger: String,
    /// Milliseconds since the epoch.
    pub slot: i64,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The run's status (`None`: no run, or not yet recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_status: Option<String>,
    pub decided_at: i64,
}

/// An event to deliver (or delivered).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub id: String,
    pub name: String,
    pub data: Value,
    /// When it was emitted, milliseconds since the epoch.
    pub at: i64,
    /// `cli`, `webhook`, `channel`.
    pub source: String,
}

/// A run an event's delivery starts: chosen, with its inputs, before it is committed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Planned {
    pub run: String,
    pub skill: String,
    pub inputs: serde_json::Map<String, Value>,
    /// `event`, `webhook` or `channel` (untrusted inputs).
    pub started_by: String,
}

/// One file of a watch trigger's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub path: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// SHA-256 of the content, hex.
    pub hash: String,
}

/// The daemon's tables, over its own connection to `pyra.db`.
pub struct History {
    conn: Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> String {
    format!("pyra.db: {e}")
}

impl History {
    /// Opens `pyra.db` (creating it, migrated) at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = db::pyra::open(path).map_err(|e| e.to_string())?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, String> {
        let conn = db::pyra::open_in_memory().map_err(|e| e.to_string())?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(err)
    }

    /// Records that a trigger's schedule is armed (once; the first time counts) and
    /// returns when it was first armed.
    pub fn arm(&self, skill: &str, key: &str, now: i64) -> Result<i64, String> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO schedule_triggers (skill, trigger_key, armed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![skill, key, now])?;
            c.prepare_cached("SELECT armed_at FROM schedule_triggers WHERE skill = ?1 AND trigger_key = ?2")?
                .query_row(params![skill, key], |r| r.get(0))
        })
    }

    /// The newest slot decided for a trigger.
    pub fn last_slot(&self, skill: &str, key: &str) -> Result<Option<i64>, String> {
        self.with(|c| {
            c.prepare_cached("SELECT MAX(slot) FROM schedule_slots WHERE skill = ?1 AND trigger_key = ?2")?
                .query_row(params![skill, key], |r| r.get(0))
        })
    }

    /// Claims a slot for a run: true for the one writer that got it.
    pub fn claim(
        &self,
        skill: &str,
        key: &str,
        slot: i64,
        outcome: &str,
        run_id: &str,
        now: i64,
    ) -> Result<bool, String> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO schedule_slots (skill, trigger_key, slot, outcome, run_id, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING RETURNING slot",
            )?
            .query_row(params![skill, key, slot, outcome, run_id, now], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
        })
    }

    /// Records a slot that does not run (unless it was already decided).
    pub fn skip(&self, skill: &str, key: &str, slot: i64, reason: &str, now: i64) -> Result<bool, String> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO schedule_slots (skill, trigger_key, slot, outcome, reason, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?
            .execute(params![skill, key, slot, outcome::SKIPPED, reason, now])
            .map(|n| n == 1)
        })
    }

    /// Changes a claimed slot's outcome (a queued slot that starts; one that failed to).
    pub fn set_outcome(
        &self,
        skill: &str,
        key: &str,
        slot: i64,
        outcome: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE schedule_slots SET outcome = ?4, reason = ?5 WHERE skill = ?1 AND trigger_key = ?2 AND slot = ?3",
            )?
            .execute(params![skill, key, slot, outcome, reason])
            .map(drop)
        })
    }

    /// Whether a trigger was armed before (a row in `schedule_triggers`).
    pub fn was_armed(&self, skill: &str, key: &str) -> Result<bool, String> {
        self.with(|c| {
            c.prepare_cached("SELECT 1 FROM schedule_triggers WHERE skill = ?1 AND trigger_key = ?2")?
                .query_row(params![skill, key], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    /// One file of a watch trigger's index.
    pub fn watch_file(&self, skill: &str, key: &str, path: &str) -> Result<Option<IndexRow>, String> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT path, size, mtime_ns, hash FROM watch_files WHERE skill = ?1 AND trigger_key = ?2 AND path = ?3",
            )?
            .query_row(params![skill, key, path], index_row)
            .optional()
        })
    }

    /// The paths of a watch trigger's index that start with `prefix` (`""`: all), one at
    /// a time, in order; `each` returns false to stop.
    pub fn watch_paths(
        &self,
        skill: &str,
        key: &str,
        prefix: &str,
        mut each: impl FnMut(&str) -> bool,
    ) -> Result<(), String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT path FROM watch_files WHERE skill = ?1 AND trigger_key = ?2 AND path >= ?3 ORDER BY path",
            )?;
            let mut rows = stmt.query(params![skill, key, prefix])?;
            while let Some(r) = rows.next()? {
                let path: String = r.get(0)?;
                if !path.starts_with(prefix) || !each(&path) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Commits a watch trigger's batch: its index changes (`None`: the file is gone) and,
    /// when it starts a run, the batch's slot row with the run's id and inputs — in one
    /// transaction, so a batch is never lost nor run twice. False when the slot was
    /// already claimed (nothing is written then).
    pub fn commit_batch(
        &self,
        skill: &str,
        key: &str,
        changes: &[(String, Option<IndexRow>)],
        run: Option<(i64, &str, &serde_json::Map<String, Value>)>,
        now: i64,
    ) -> Result<bool, String> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(err)?;
        if let Some((slot, run_id, inputs)) = run {
            let inputs = serde_json::to_string(inputs).unwrap_or_default();
            let claimed = tx
                .prepare_cached(
                    "INSERT INTO schedule_slots (skill, trigger_key, slot, outcome, run_id, decided_at, inputs)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING RETURNING slot",
                )
                .and_then(|mut s| {
                    s.query_row(params![skill, key, slot, outcome::RAN, run_id, now, inputs], |_| Ok(())).optional()
                })
                .map_err(err)?;
            if claimed.is_none() {
                return Ok(false);
            }
        }
        for (path, row) in changes {
            match row {
                Some(row) => tx
                    .prepare_cached(
                        "INSERT INTO watch_files (skill, trigger_key, path, size, mtime_ns, hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT DO UPDATE SET size = ?4, mtime_ns = ?5, hash = ?6",
                    )
                    .and_then(|mut s| s.execute(params![skill, key, path, row.size as i64, row.mtime_ns, row.hash])),
                None => tx
                    .prepare_cached("DELETE FROM watch_files WHERE skill = ?1 AND trigger_key = ?2 AND path = ?3")
                    .and_then(|mut s| s.execute(params![skill, key, path])),
            }
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// The inputs stored with a watch batch's slot (to start its run after a crash).
    pub fn slot_inputs(
        &self,
        skill: &str,
        key: &str,
        slot: i64,
    ) -> Result<Option<serde_json::Map<String, Value>>, String> {
        self.with(|c| {
            c.prepare_cached("SELECT inputs FROM schedule_slots WHERE skill = ?1 AND trigger_key = ?2 AND slot = ?3")?
                .query_row(params![skill, key, slot], |r| r.get::<_, Option<String>>(0))
                .optional()
        })
        .map(|text| text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// A skill's slots, newest first (every trigger; at most `limit`).
    pub fn slots(&self, skill: Option<&str>, limit: usize) -> Result<Vec<SlotRow>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.skill, s.trigger_key, s.slot, s.outcome, s.reason, s.run_id, r.status, s.decided_at
                 FROM schedule_slots s LEFT JOIN runs r ON r.id = s.run_id
                 WHERE ?1 IS NULL OR s.skill = ?1 ORDER BY s.slot DESC, s.trigger_key LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![skill, limit as i64], slot_row)?;
            rows.collect()
        })
    }

    /// Each trigger's newest slot row.
    pub fn last_outcomes(&self) -> Result<Vec<SlotRow>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.skill, s.trigger_key, s.slot, s.outcome, s.reason, s.run_id, r.status, s.decided_at
                 FROM schedule_slots s LEFT JOIN runs r ON r.id = s.run_id
                 WHERE s.slot = (SELECT MAX(slot) FROM schedule_slots m
                                 WHERE m.skill = s.skill AND m.trigger_key = s.trigger_key)",
            )?;
            let rows = stmt.query_map([], slot_row)?;
            rows.collect()
        })
    }

    /// Claimed slots whose run never started (a crash between the claim and the run's
    /// first commit, or a queue the daemon did not get to), oldest first.
    pub fn unstarted(&self) -> Result<Vec<SlotRow>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.skill, s.trigger_key, s.slot, s.outcome, s.reason, s.run_id, NULL, s.decided_at
                 FROM schedule_slots s
                 WHERE s.run_id IS NOT NULL AND s.outcome != 'failed-to-start'
                   AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = s.run_id)
                 ORDER BY s.slot",
            )?;
            let rows = stmt.query_map([], slot_row)?;
            rows.collect()
        })
    }

    /// The trigger key of the slot a run was started for.
    pub fn trigger_of_run(&self, run_id: &str) -> Result<Option<String>, String> {
        self.with(|c| {
            c.prepare_cached("SELECT trigger_key FROM schedule_slots WHERE run_id = ?1")?
                .query_row([run_id], |r| r.get(0))
                .optional()
        })
    }

    /// Runs the daemon started that did not end: running (their process died) or
    /// interrupted, oldest first. Waiting runs are not among them (they wait on purpose).
    pub fn unfinished_runs(&self) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM runs WHERE started_by IS NOT NULL AND parent_run IS NULL
                   AND status IN ('running', 'interrupted') ORDER BY created_at",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Waiting runs and the earliest deadline among their pending approvals.
    pub fn waiting_deadlines(&self) -> Result<Vec<(String, i64)>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id, MIN(a.deadline) FROM runs r JOIN approvals a ON a.run_id = r.id
                 WHERE r.status = 'waiting' AND r.parent_run IS NULL AND a.state = 'pending'
                 GROUP BY r.id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Stores an event; false when its id was stored before (nothing changes then).
    pub fn add_event(&self, event: &EventRow) -> Result<bool, String> {
        let data = serde_json::to_string(&event.data).map_err(|e| e.to_string())?;
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO events (id, name, data, at, source) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![event.id, event.name, data, event.at, event.source])
            .map(|n| n == 1)
        })
    }

    /// Events not yet delivered, oldest first.
    pub fn pending_events(&self) -> Result<Vec<EventRow>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, data, at, source FROM events WHERE delivered_at IS NULL ORDER BY at, id",
            )?;
            let rows = stmt.query_map([], |r| {
                let data: String = r.get(2)?;
                Ok(EventRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    at: r.get(3)?,
                    source: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Takes an event for delivery with the runs planned for it, in one commit: false
    /// when it was taken before (by this daemon or another sharing the file).
    pub fn take_event(&self, id: &str, now: i64, plan: &[Planned]) -> Result<bool, String> {
        let runs = serde_json::to_string(plan).map_err(|e| e.to_string())?;
        self.with(|c| {
            c.prepare_cached("UPDATE events SET delivered_at = ?2, runs = ?3 WHERE id = ?1 AND delivered_at IS NULL")?
                .execute(params![id, now, runs])
                .map(|n| n == 1)
        })
    }

    /// Runs planned for events delivered since `since` that never started (a crash
    /// between the delivery's commit and the runs' first), oldest first.
    pub fn unstarted_event_runs(&self, since: i64) -> Result<Vec<Planned>, String> {
        let lists: Vec<String> = self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT runs FROM events WHERE delivered_at >= ?1 AND runs IS NOT NULL AND runs != '[]' ORDER BY at, id",
            )?;
            let rows = stmt.query_map([since], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut missing = Vec::new();
        for list in lists {
            let plan: Vec<Planned> = serde_json::from_str(&list).unwrap_or_default();
            for planned in plan {
                let exists = self.with(|c| {
                    c.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
                        .query_row([&planned.run], |_| Ok(()))
                        .optional()
                })?;
                if exists.is_none() {
                    missing.push(planned);
                }
            }
        }
        Ok(missing)
    }

    /// The runs an event started (`None`: no such event, or not delivered yet).
    pub fn event_runs(&self, id: &str) -> Result<Option<Vec<String>>, String> {
        let text: Option<Option<String>> = self.with(|c| {
            c.prepare_cached("SELECT runs FROM events WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()
        })?;
        Ok(text
            .flatten()
            .and_then(|t| serde_json::from_str::<Vec<Planned>>(&t).ok())
            .map(|plan| plan.into_iter().map(|p| p.run).collect()))
    }
}

fn index_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IndexRow> {
    Ok(IndexRow { path: r.get(0)?, size: r.get::<_, i64>(1)? as u64, mtime_ns: r.get(2)?, hash: r.get(3)? })
}

fn slot_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SlotRow> {
    Ok(SlotRow {
        skill: r.get(0)?,
        trigger: r.get(1)?,
        slot: r.get(2)?,
        outcome: r.get(3)?,
        reason: r.get(4)?,
        run_id: r.get(5)?,
        run_status: r.get(6)?,
        decided_at: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_claimed_once_and_a_decided_slot_never_changes_by_a_skip() {
        let h = History::open_in_memory().unwrap();
        assert_eq!(h.arm("s", "k", 10).unwrap(), 10);
        assert_eq!(h.arm("s", "k", 20).unwrap(), 10, "the first arming counts");
        assert!(h.claim("s", "k", 100, outcome::RAN, "r1", 1).unwrap());
        assert!(!h.claim("s", "k", 100, outcome::RAN, "r2", 2).unwrap(), "a second claim loses");
        assert!(!h.skip("s", "k", 100, "overlap", 3).unwrap());
        assert!(h.skip("s", "k", 200, "downtime", 3).unwrap());
        assert_eq!(h.last_slot("s", "k").unwrap(), Some(200));
        let rows = h.slots(Some("s"), 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].run_id.as_deref(), rows[1].outcome.as_str()), (Some("r1"), outcome::RAN));
        assert_eq!(h.unstarted().unwrap().len(), 1, "r1 has no run row");
        assert_eq!(h.last_outcomes().unwrap()[0].slot, 200);
    }

    #[test]
    fn a_watch_batch_commits_its_claim_and_its_index_changes_together_once() {
        let h = History::open_in_memory().unwrap();
        assert!(!h.was_armed("s", "watch k").unwrap());
        h.arm("s", "watch k", 1).unwrap();
        assert!(h.was_armed("s", "watch k").unwrap());
        let row = |path: &str, size: u64| IndexRow { path: path.into(), size, mtime_ns: 5, hash: "ab".repeat(32) };
        let mut inputs = serde_json::Map::new();
        inputs.insert("paths".into(), serde_json::json!(["/w/a", "/w/b"]));
        let changes = vec![("/w/a".to_string(), Some(row("/w/a", 1))), ("/w/b".to_string(), Some(row("/w/b", 2)))];
        assert!(h.commit_batch("s", "watch k", &changes, Some((100, "r1", &inputs)), 100).unwrap());
        assert_eq!(h.watch_file("s", "watch k", "/w/a").unwrap(), Some(row("/w/a", 1)));
        assert_eq!(h.slot_inputs("s", "watch k", 100).unwrap(), Some(inputs.clone()));
        assert_eq!(h.unstarted().unwrap()[0].run_id.as_deref(), Some("r1"), "its run is started after a crash");

        // The same slot again: nothing is written, not even the index changes.
        let again = vec![("/w/a".to_string(), None), ("/w/c".to_string(), Some(row("/w/c", 3)))];
        assert!(!h.commit_batch("s", "watch k", &again, Some((100, "r2", &inputs)), 101).unwrap());
        assert_eq!(h.watch_file("s", "watch k", "/w/a").unwrap(), Some(row("/w/a", 1)));
        assert_eq!(h.watch_file("s", "watch k", "/w/c").unwrap(), None);

        // Index changes alone (a batch that starts no run), and the paths by prefix.
        assert!(h.commit_batch("s", "watch k", &again, None, 0).unwrap());
        let mut under = Vec::new();
        h.watch_paths("s", "watch k", "/w/", |p| {
            under.push(p.to_string());
            true
        })
        .unwrap();
        assert_eq!(under, vec!["/w/b", "/w/c"]);
        let mut none = Vec::new();
        h.watch_paths("s", "watch k", "/x/", |p| {
            none.push(p.to_string());
            true
        })
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn an_event_id_is_stored_once_and_delivered_once() {
        let h = History::open_in_memory().unwrap();
        let e = EventRow { id: "e1".into(), name: "n".into(), data: Value::Null, at: 1, source: "cli".into() };
        assert!(h.add_event(&e).unwrap());
        assert!(!h.add_event(&e).unwrap());
        assert_eq!(h.pending_events().unwrap(), vec![e]);
        let plan = vec![Planned {
            run: "r".into(),
            skill: "s".into(),
            inputs: Default::default(),
            started_by: "event".into(),
        }];
        assert!(h.take_event("e1", 5, &plan).unwrap());
        assert!(!h.take_event("e1", 6, &[]).unwrap());
        assert_eq!(h.event_runs("e1").unwrap(), Some(vec!["r".to_string()]));
        assert_eq!(h.unstarted_event_runs(0).unwrap(), plan, "r has no run row yet");
        assert!(h.pending_events().unwrap().is_empty());
    }
}
