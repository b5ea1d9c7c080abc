//! The listings a runs view reads: the run list in keyset pages, the approvals waiting
//! for an answer across runs, and a skill's recent runs with their nodes (a runs × nodes
//! grid). Each is a fixed number of queries, served by the `runs` indexes of schema step 9.

use std::collections::HashMap;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter};

use super::{SqliteStore, StoreResult, approval_from_row, run_from_row};
use crate::record::*;

/// The runs a skill's history shows, newest first (the runs query, and the nodes query's
/// subquery).
const SKILL_RUNS: &str = "FROM runs WHERE skill = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2";

impl SqliteStore {
    /// One page of the run list, newest first (by creation time, then id), and the cursor
    /// of the next page (`None` on the last). Paging is by key, not offset: a page costs
    /// the same deep in the list, and runs created meanwhile shift nothing.
    pub fn list_runs_page(&self, page: &RunPage) -> StoreResult<(Vec<RunRecord>, Option<Cursor>)> {
        // Only the filters given are in the SQL (no `?1 IS NULL OR …`), so the planner
        // can pick the index of the column that is filtered on.
        let mut sql = String::from("SELECT * FROM runs WHERE 1");
        let mut args: Vec<Sql> = Vec::new();
        let mut and = |clause: &str, value: Option<Sql>| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.extend(value);
        };
        if let Some(status) = page.status {
            and("status = ?", Some(Sql::Text(status.as_str().into())));
        }
        if let Some(skill) = &page.skill {
            and("skill = ?", Some(Sql::Text(skill.clone())));
        }
        match &page.trigger {
            Some(TriggerFilter::Command) => and("started_by IS NULL", None),
            Some(TriggerFilter::By(name)) => and("started_by = ?", Some(Sql::Text(name.clone()))),
            None => {}
        }
        if let Some(since) = page.since {
            and("created_at >= ?", Some(Sql::Integer(since)));
        }
        if let Some(until) = page.until {
            and("created_at < ?", Some(Sql::Integer(until)));
        }
        if let Some(after) = &page.after {
            and("(created_at, id) < (?, ?)", Some(Sql::Integer(after.created_at)));
            args.push(Sql::Text(after.id.clone()));
        }
        let size = page.page_size();
        // One more than a page: whether it exists says whether there is a next page.
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        args.push(Sql::Integer(size as i64 + 1));
        let mut runs: Vec<RunRecord> = self.with(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), run_from_row)?;
            rows.collect()
        })?;
        let next = (runs.len() > size).then(|| {
            runs.truncate(size);
            runs.last().map(Cursor::after)
        });
        Ok((runs, next.flatten()))
    }

    /// The approvals still waiting for an answer, in every run that can still take one
    /// (running or waiting), earliest deadline first.
    pub fn pending_approvals(&self) -> StoreResult<Vec<ApprovalRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.* FROM approvals a JOIN runs r ON r.id = a.run_id
                 WHERE a.state = 'pending' AND r.status IN ('running', 'waiting')
                 ORDER BY a.deadline, a.created_at, a.run_id, a.node",
            )?;
            let rows = stmt.query_map([], approval_from_row)?;
            rows.collect()
        })
    }

    /// The last `limit` runs of `skill`, newest first, each with its nodes (in the order
    /// they started): two queries in one read transaction, so the runs and the nodes are
    /// the same snapshot. For a grid, the node records leave out what a cell does not
    /// show — `input`, `output` and executor `state` are `None` (read them with
    /// [`super::Store::nodes`]) — and for-each items (`id[i]`): the node's own record
    /// stands for them.
    pub fn node_history(&self, skill: &str, limit: usize) -> StoreResult<Vec<(RunRecord, Vec<NodeRecord>)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            // A read transaction (nothing to commit; dropping it ends it): one snapshot.
            let tx = c.transaction()?;
            let runs: Vec<RunRecord> = tx
                .prepare_cached(&format!("SELECT * {SKILL_RUNS}"))?
                .query_map(params![skill, limit], run_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut nodes: HashMap<String, Vec<NodeRecord>> = HashMap::new();
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT run_id, node, status, attempts, started_at, finished_at, error, untrusted, findings, usage
                 FROM node_runs WHERE run_id IN (SELECT id {SKILL_RUNS}) AND instr(node, '[') = 0
                 ORDER BY run_id, started_at IS NULL, started_at, node"
            ))?;
            let mut rows = stmt.query(params![skill, limit])?;
            while let Some(r) = rows.next()? {
                let status: String = r.get("status")?;
                let record = NodeRecord {
                    node: r.get::<_, String>("node")?.into(),
                    status: NodeStatus::parse(&status).unwrap_or(NodeStatus::Failed),
                    attempts: r.get("attempts")?,
                    started_at: r.get("started_at")?,
                    finished_at: r.get("finished_at")?,
                    input: None,
                    output: None,
                    error: r.get("error")?,
                    untrusted: r.get("untrusted")?,
                    state: None,
                    findings: super::parse_json(r.get("findings")?),
                    usage: super::parse_json(r.get("usage")?),
                };
                nodes.entry(r.get("run_id")?).or_default().push(record);
            }
            Ok(runs
                .into_iter()
                .map(|run| {
                    let list = nodes.remove(&run.id).unwrap_or_default();
                    (run, list)
                })
                .collect())
        })
    }
}
