//! Tests of the durable store's event log (one row per change, in the change's own
//! transaction), the attempt spans folded from it, and the listings the web UI reads.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{SqliteStore, Store};
use crate::record::*;

fn run_at(id: &str, skill: &str, created_at: i64, started_by: Option<&str>) -> RunRecord {
    RunRecord {
        id: id.into(),
        skill: skill.into(),
        source_path: None,
        source: format!("name: {skill}"),
        inputs: Value::Null,
        untrusted_inputs: false,
        status: RunStatus::Running,
        error: None,
        outputs: None,
        parent_run: None,
        parent_node: None,
        created_at,
        finished_at: None,
        pid: Some(1),
        resumes: 0,
        started_by: started_by.map(str::to_string),
        scheduled_for: None,
    }
}

fn approval(run_id: &str, node: &str, deadline: i64) -> ApprovalRecord {
    ApprovalRecord {
        run_id: run_id.into(),
        node: node.into(),
        message: "Go?".into(),
        details: None,
        created_at: now_ms(),
        deadline,
        on_timeout: ApprovalState::Rejected,
        state: ApprovalState::Pending,
        answered_by: None,
        reason: None,
        answered_at: None,
    }
}

fn node(name: &str) -> Arc<str> {
    Arc::from(name)
}

fn started(name: &str) -> Change {
    Change::NodeStarted { node: node(name), attempt: 1, input: Value::Null }
}

fn finished(name: &str, status: NodeStatus, error: Option<&str>) -> Change {
    Change::NodeFinished { node: node(name), status, output: None, error: error.map(str::to_string), untrusted: false }
}

fn run_status(status: RunStatus) -> Change {
    Change::RunStatus { status, error: None, outputs: None }
}

fn all_events(store: &SqliteStore) -> Vec<RunEvent> {
    store.events_since(None, 0, usize::MAX).unwrap()
}

/// The events written since `before` (an id), as (kind, node, attempt, status, detail).
type Row = (EventKind, Option<String>, Option<u32>, Option<String>, Option<String>);

fn since(store: &SqliteStore, before: i64) -> Vec<Row> {
    let events = store.events_since(None, before, usize::MAX).unwrap();
    events.into_iter().map(|e| (e.kind, e.node, e.attempt, e.status, e.detail)).collect()
}

fn row(kind: EventKind, node: Option<&str>, attempt: Option<u32>, status: &str, detail: Option<&str>) -> Row {
    (kind, node.map(str::to_string), attempt, Some(status.to_string()), detail.map(str::to_string))
}

/// A second connection to the store's file, for what the store's API cannot do (make an
/// old run, provoke a failure).
fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn every_change_writes_one_event_with_its_own_time() {
    let store = SqliteStore::open_in_memory().unwrap();
    let created = now_ms() - 5_000;
    store.create_run(&run_at("r1", "s", created, None)).unwrap();
    let first = all_events(&store);
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].kind, first[0].status.as_deref(), first[0].at), (EventKind::Run, Some("running"), created));

    use EventKind as K;
    let changes: Vec<(Change, Row)> = vec![
        (started("a"), row(K::NodeStarted, Some("a"), Some(1), "running", None)),
        (
            Change::NodeRetrying { node: node("a"), attempt: 2, error: "e1".into() },
            row(K::NodeRetrying, Some("a"), Some(2), "running", Some("e1")),
        ),
        (
            Change::NodeWaiting { node: node("a"), reason: "approval".into() },
            row(K::NodeWaiting, Some("a"), None, "waiting", Some("approval")),
        ),
        (
            finished("a", NodeStatus::Failed, Some("boom")),
            row(K::NodeFinished, Some("a"), None, "failed", Some("boom")),
        ),
        (
            Change::NodeSkipped { node: node("b"), reason: "if: false".into() },
            row(K::NodeSkipped, Some("b"), None, "skipped", Some("if: false")),
        ),
        (Change::NodeReset { node: node("a"), forget: false }, row(K::NodeReset, Some("a"), None, "pending", None)),
        (
            Change::NodeReset { node: node("b"), forget: true },
            row(K::NodeReset, Some("b"), None, "pending", Some("forget")),
        ),
        (
            Change::RunStatus { status: RunStatus::Failed, error: Some("node `a` failed".into()), outputs: None },
            row(K::Run, None, None, "failed", Some("node `a` failed")),
        ),
    ];
    for (change, expected) in changes {
        let before = store.last_event_id().unwrap();
        store.apply("r1", vec![change.clone()]).unwrap();
        assert_eq!(since(&store, before), vec![expected], "{change:?}");
    }
    // The event's time is the one the change recorded.
    let before = store.last_event_id().unwrap();
    store.apply("r1", vec![started("c")]).unwrap();
    let event = store.events_since(Some("r1"), before, 10).unwrap().remove(0);
    let node_c = store.nodes("r1").unwrap().into_iter().find(|n| &*n.node == "c").unwrap();
    assert_eq!(Some(event.at), node_c.started_at);
    // A batch writes one event per change, in order, in its one transaction.
    let before = store.last_event_id().unwrap();
    store.apply("r1", vec![finished("c", NodeStatus::Succeeded, None), started("d"), started("e")]).unwrap();
    let kinds: Vec<(EventKind, Option<String>)> = since(&store, before).into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(
        kinds,
        [(K::NodeFinished, Some("c".into())), (K::NodeStarted, Some("d".into())), (K::NodeStarted, Some("e".into()))]
    );
    // An empty batch writes nothing.
    let before = store.last_event_id().unwrap();
    store.apply("r1", Vec::new()).unwrap();
    assert!(since(&store, before).is_empty());
}

#[test]
fn approvals_logs_cancels_resumes_and_forced_ends_write_their_events() {
    use EventKind as K;
    let store = SqliteStore::open_in_memory().unwrap();
    store.create_run(&run_at("r1", "s", now_ms(), None)).unwrap();

    let before = store.last_event_id().unwrap();
    store.log("r1", Some("a"), LogLevel::Warn, "careful").unwrap();
    assert_eq!(since(&store, before), [row(K::Log, Some("a"), None, "warn", Some("careful"))]);

    let before = store.last_event_id().unwrap();
    let asked = approval("r1", "ok", now_ms() + 60_000);
    store.insert_approval(&asked).unwrap();
    store.insert_approval(&asked).unwrap();
    assert_eq!(since(&store, before), [row(K::Approval, Some("ok"), None, "pending", None)], "asked once");
    assert_eq!(store.events_since(None, before, 1).unwrap()[0].at, asked.created_at);
    let before = store.last_event_id().unwrap();
    assert!(store.answer_approval("r1", "ok", ApprovalState::Approved, "cli", None).unwrap());
    assert!(!store.answer_approval("r1", "ok", ApprovalState::Rejected, "terminal", None).unwrap());
    assert_eq!(since(&store, before), [row(K::Approval, Some("ok"), None, "approved", Some("cli"))], "answered once");

    let before = store.last_event_id().unwrap();
    store.request_cancel("r1").unwrap();
    store.request_cancel("r1").unwrap();
    store.request_cancel("no-such-run").unwrap();
    assert_eq!(since(&store, before), [row(K::Run, None, None, "cancelling", None)], "one request, one event");

    let before = store.last_event_id().unwrap();
    store.resume_run("r1", 7).unwrap();
    assert_eq!(since(&store, before), [row(K::Run, None, None, "running", Some("resumed"))]);

    // A forced cancel ends each unfinished node, then the run, in one commit.
    store.apply("r1", vec![started("a"), started("b"), finished("b", NodeStatus::Succeeded, None)]).unwrap();
    let before = store.last_event_id().unwrap();
    store.force_cancel("r1").unwrap();
    let why = Some("cancelled (forced)");
    assert_eq!(
        since(&store, before),
        [row(K::NodeFinished, Some("a"), None, "cancelled", why), row(K::Run, None, None, "cancelled", why)]
    );
    let ends: Vec<i64> = store.events_since(None, before, 10).unwrap().iter().map(|e| e.at).collect();
    assert_eq!(Some(ends[0]), store.run("r1").unwrap().unwrap().finished_at);
    assert_eq!(ends[0], ends[1]);
    // An ended run is neither interrupted nor cancelling.
    let before = store.last_event_id().unwrap();
    store.mark_interrupted("r1").unwrap();
    store.request_cancel("r1").unwrap();
    assert!(since(&store, before).is_empty());
}

#[test]
fn a_change_that_fails_writes_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_run(&run_at("r1", "s", now_ms(), None)).unwrap();
    let before = store.last_event_id().unwrap();
    // A unique violation: the same run id twice.
    assert!(store.create_run(&run_at("r1", "s", now_ms(), None)).is_err());
    assert_eq!(store.last_event_id().unwrap(), before);
    assert_eq!(store.list_runs(&RunFilter::default()).unwrap().len(), 1);

    // The second change of a batch fails: the first one and both events roll back.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER provoke BEFORE UPDATE ON node_runs WHEN NEW.error = 'provoke'
             BEGIN SELECT RAISE(ABORT, 'provoked'); END;",
        )
        .unwrap();
    store.apply("r1", vec![started("a")]).unwrap();
    let before = store.last_event_id().unwrap();
    let err = store.apply("r1", vec![started("b"), finished("a", NodeStatus::Failed, Some("provoke"))]).unwrap_err();
    assert!(err.to_string().contains("provoked"), "{err}");
    assert_eq!(store.last_event_id().unwrap(), before);
    let nodes = store.nodes("r1").unwrap();
    assert_eq!(nodes.iter().map(|n| (&*n.node, n.status)).collect::<Vec<_>>(), [("a", NodeStatus::Running)]);
}

#[test]
fn events_since_resumes_after_an_id_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.last_event_id().unwrap(), 0);
    assert!(store.events_since(None, 0, 10).unwrap().is_empty());
    store.create_run(&run_at("r1", "s", now_ms(), None)).unwrap();
    store.create_run(&run_at("r2", "s", now_ms(), None)).unwrap();
    for name in ["a", "b", "c"] {
        store.apply("r1", vec![started(name)]).unwrap();
        store.apply("r2", vec![started(name)]).unwrap();
    }
    let all = all_events(&store);
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
    assert_eq!(store.last_event_id().unwrap(), all[7].id);

    // A reader that got three resumes after the third and gets the rest, once.
    let head = store.events_since(None, 0, 3).unwrap();
    let rest = store.events_since(None, head[2].id, 100).unwrap();
    assert_eq!([head, rest].concat(), all);
    // One run's events only.
    let r2 = store.events_since(Some("r2"), 0, 100).unwrap();
    assert_eq!(r2.len(), 4);
    assert!(r2.iter().all(|e| e.run_id == "r2"));
    let after = store.events_since(Some("r2"), r2[1].id, 100).unwrap();
    assert_eq!(after, r2[2..]);
    assert!(store.events_since(Some("r2"), r2[3].id, 100).unwrap().is_empty());

    // The newest events deleted (a prune), a new one still gets a new id: a client's
    // last id stays a bookmark.
    let newest = store.last_event_id().unwrap();
    raw(&path).execute("DELETE FROM run_events WHERE id > ?1", [newest - 3]).unwrap();
    store.apply("r1", vec![started("d")]).unwrap();
    assert_eq!(store.last_event_id().unwrap(), newest + 1);
}

fn span(node: &str, attempt: u32, state: &str, open: bool) -> (String, u32, String, bool) {
    (node.to_string(), attempt, state.to_string(), open)
}

fn spans(store: &SqliteStore, run_id: &str) -> Vec<(String, u32, String, bool)> {
    let list = store.attempts(run_id).unwrap();
    for s in &list {
        assert!(s.ended_at.is_none_or(|end| end >= s.started_at), "{s:?}");
    }
    list.into_iter().map(|s| (s.node, s.attempt, s.state, s.ended_at.is_none())).collect()
}

#[test]
fn attempts_fold_retries_waits_and_cancels_into_spans() {
    let store = SqliteStore::open_in_memory().unwrap();
    // A retry: two spans for one node, the first failed with its error.
    store.create_run(&run_at("retry", "s", now_ms(), None)).unwrap();
    store.apply("retry", vec![started("a")]).unwrap();
    store.apply("retry", vec![Change::NodeRetrying { node: node("a"), attempt: 2, error: "flaky".into() }]).unwrap();
    store.apply("retry", vec![finished("a", NodeStatus::Succeeded, None), run_status(RunStatus::Succeeded)]).unwrap();
    assert_eq!(spans(&store, "retry"), [span("a", 1, "retrying", false), span("a", 2, "succeeded", false)]);
    assert_eq!(store.attempts("retry").unwrap()[0].detail.as_deref(), Some("flaky"));

    // A node waiting for an approval: its span stays open, also once the run waits.
    store.create_run(&run_at("wait", "s", now_ms(), None)).unwrap();
    store.apply("wait", vec![started("a"), finished("a", NodeStatus::Succeeded, None), started("ok")]).unwrap();
    store.insert_approval(&approval("wait", "ok", now_ms() + 60_000)).unwrap();
    store
        .apply(
            "wait",
            vec![Change::NodeWaiting { node: node("ok"), reason: "approval".into() }, run_status(RunStatus::Waiting)],
        )
        .unwrap();
    assert_eq!(spans(&store, "wait"), [span("a", 1, "succeeded", false), span("ok", 1, "waiting", true)]);
    // Answered and resumed: the wait ends at the reset, the node runs again.
    store.answer_approval("wait", "ok", ApprovalState::Approved, "cli", None).unwrap();
    store.apply("wait", vec![Change::NodeReset { node: node("ok"), forget: false }]).unwrap();
    store.resume_run("wait", 2).unwrap();
    store.apply("wait", vec![started("ok"), finished("ok", NodeStatus::Succeeded, None)]).unwrap();
    assert_eq!(
        spans(&store, "wait"),
        [span("a", 1, "succeeded", false), span("ok", 1, "waiting", false), span("ok", 1, "succeeded", false)]
    );

    // Cancelled mid-node (the second Ctrl-C): the node's span is closed, cancelled.
    store.create_run(&run_at("cancel", "s", now_ms(), None)).unwrap();
    store.apply("cancel", vec![started("slow")]).unwrap();
    assert_eq!(spans(&store, "cancel"), [span("slow", 1, "running", true)]);
    store.force_cancel("cancel").unwrap();
    assert_eq!(spans(&store, "cancel"), [span("slow", 1, "cancelled", false)]);
    let end = store.run("cancel").unwrap().unwrap().finished_at;
    assert_eq!(store.attempts("cancel").unwrap()[0].ended_at, end);

    // A run that ends with spans still open closes them with its status.
    store.create_run(&run_at("ended", "s", now_ms(), None)).unwrap();
    store.apply("ended", vec![started("a"), started("b"), finished("b", NodeStatus::Succeeded, None)]).unwrap();
    store.apply("ended", vec![run_status(RunStatus::Interrupted)]).unwrap();
    assert_eq!(spans(&store, "ended"), [span("a", 1, "interrupted", false), span("b", 1, "succeeded", false)]);
    assert!(store.attempts("no-such-run").unwrap().is_empty());
}

#[test]
fn a_run_recorded_before_the_event_log_gets_one_span_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_run(&run_at("old", "s", 1_000, None)).unwrap();
    // As an earlier Pyra left it: node rows, no events.
    let conn = raw(&path);
    conn.execute_batch(
        "DELETE FROM run_events;
         INSERT INTO node_runs (run_id, node, status, attempts, started_at, finished_at, error) VALUES
           ('old', 'a', 'succeeded', 2, 1000, 1500, NULL),
           ('old', 'b', 'failed', 1, 1600, 1700, 'boom'),
           ('old', 'c', 'skipped', 0, 1600, 1600, 'if: false'),
           ('old', 'd', 'waiting', 1, 1800, NULL, 'approval'),
           ('old', 'e', 'pending', 0, NULL, NULL, NULL);",
    )
    .unwrap();
    let list = store.attempts("old").unwrap();
    let got: Vec<(&str, u32, i64, Option<i64>, &str)> =
        list.iter().map(|s| (s.node.as_str(), s.attempt, s.started_at, s.ended_at, s.state.as_str())).collect();
    assert_eq!(
        got,
        [
            ("a", 2, 1000, Some(1500), "succeeded"),
            ("b", 1, 1600, Some(1700), "failed"),
            ("d", 1, 1800, None, "waiting")
        ]
    );
    // Resumed after the upgrade: the nodes it runs now have events, the others keep
    // their recorded span.
    store.apply("old", vec![Change::NodeReset { node: node("b"), forget: false }, started("b")]).unwrap();
    let nodes: Vec<(String, String)> = store.attempts("old").unwrap().into_iter().map(|s| (s.node, s.state)).collect();
    let expected = [("a", "succeeded"), ("d", "waiting"), ("b", "running")];
    assert_eq!(nodes, expected.map(|(n, s)| (n.to_string(), s.to_string())));
}

#[test]
fn a_database_of_schema_version_4_migrates_and_its_run_has_spans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/db/pyra-v4.sql");
    raw(&path).execute_batch(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let list = store.attempts("0fixture0run").unwrap();
    assert!(list.iter().any(|s| s.node == "a" && s.attempt == 2 && s.state == "succeeded"), "{list:?}");
    assert!(store.events_since(None, 0, 10).unwrap().is_empty());
    let (runs, next) = store.list_runs_page(&RunPage::default()).unwrap();
    assert!(runs.iter().any(|r| r.id == "0fixture0run") && next.is_none());
}

/// 250 runs, three created in each millisecond (so the id breaks ties), some by cron.
fn many_runs(store: &SqliteStore, count: usize) -> Vec<RunRecord> {
    let mut runs = Vec::new();
    for i in 0..count {
        let trigger = [None, Some("cron"), Some("watch")][i % 3];
        let record = run_at(&format!("run{i:04}"), ["s", "t"][i % 2], 1_000_000 + (i / 3) as i64, trigger);
        store.create_run(&record).unwrap();
        runs.push(record);
    }
    runs.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    runs
}

fn all_pages(store: &SqliteStore, page: RunPage) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut page = page;
    loop {
        let (runs, next) = store.list_runs_page(&page).unwrap();
        pages.push(runs.into_iter().map(|r| r.id).collect());
        match next {
            // Through its text, as a URL carries it.
            Some(cursor) => page.after = Some(cursor.to_string().parse().unwrap()),
            None => return pages,
        }
    }
}

#[test]
fn run_pages_return_every_run_once_in_order_and_garbage_cursors_are_errors() {
    let store = SqliteStore::open_in_memory().unwrap();
    let runs = many_runs(&store, 250);
    let pages = all_pages(&store, RunPage { limit: 100, ..Default::default() });
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    let expected: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(pages.concat(), expected);
    // A page that ends exactly at the last run has no next one.
    let pages = all_pages(&store, RunPage { limit: 125, ..Default::default() });
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [125, 125]);
    // Default size.
    assert_eq!(store.list_runs_page(&RunPage::default()).unwrap().0.len(), RunPage::DEFAULT_LIMIT);

    for garbage in ["", "x", "123", "-run1", "12-", "1a-run1", "+12-run1", "12-run 1", "99999999999999999999-run1"] {
        assert!(garbage.parse::<Cursor>().is_err(), "{garbage:?}");
    }
    let err = "nonsense".parse::<Cursor>().unwrap_err();
    assert_eq!(err.to_string(), "`nonsense` is not a page cursor (expected one a previous page returned)");
    let cursor: Cursor = "1000083-run0249".parse().unwrap();
    assert_eq!(cursor.to_string(), "1000083-run0249");
}

#[test]
fn run_pages_filter_by_trigger_skill_status_and_time() {
    let store = SqliteStore::open_in_memory().unwrap();
    let runs = many_runs(&store, 250);
    store.apply("run0007", vec![run_status(RunStatus::Succeeded)]).unwrap();
    store.apply("run0100", vec![run_status(RunStatus::Succeeded)]).unwrap();
    let ids = |keep: &dyn Fn(&RunRecord) -> bool| -> Vec<String> {
        runs.iter().filter(|r| keep(r)).map(|r| r.id.clone()).collect()
    };
    let page = |p: RunPage| all_pages(&store, RunPage { limit: 40, ..p }).concat();

    let by_command = page(RunPage { trigger: Some(TriggerFilter::parse("none")), ..Default::default() });
    assert_eq!(by_command, ids(&|r| r.started_by.is_none()));
    let by_cron = page(RunPage { trigger: Some(TriggerFilter::parse("cron")), ..Default::default() });
    assert_eq!(by_cron, ids(&|r| r.started_by.as_deref() == Some("cron")));
    assert!(page(RunPage { trigger: Some(TriggerFilter::parse("webhook")), ..Default::default() }).is_empty());

    let cron_t = page(RunPage {
        skill: Some("t".into()),
        trigger: Some(TriggerFilter::By("cron".into())),
        ..Default::default()
    });
    assert_eq!(cron_t, ids(&|r| r.skill == "t" && r.started_by.as_deref() == Some("cron")));
    let done = page(RunPage { status: Some(RunStatus::Succeeded), ..Default::default() });
    assert_eq!(done, ["run0100", "run0007"]);
    let window = page(RunPage { since: Some(1_000_010), until: Some(1_000_020), ..Default::default() });
    assert_eq!(window, ids(&|r| (1_000_010..1_000_020).contains(&r.created_at)));
    assert_eq!(window.len(), 30);
}

#[test]
fn pending_approvals_across_runs_come_earliest_deadline_first() {
    let store = SqliteStore::open_in_memory().unwrap();
    for id in ["r1", "r2", "ended"] {
        store.create_run(&run_at(id, "s", now_ms(), None)).unwrap();
    }
    store.insert_approval(&approval("r1", "late", 30_000)).unwrap();
    store.insert_approval(&approval("r2", "soon", 10_000)).unwrap();
    store.insert_approval(&approval("r1", "middle", 20_000)).unwrap();
    store.insert_approval(&approval("r2", "answered", 5_000)).unwrap();
    store.answer_approval("r2", "answered", ApprovalState::Approved, "cli", None).unwrap();
    // A run that ended can no longer take an answer (`pyra approve` refuses it).
    store.insert_approval(&approval("ended", "orphan", 1_000)).unwrap();
    store.force_cancel("ended").unwrap();
    let pending: Vec<(String, String)> =
        store.pending_approvals().unwrap().into_iter().map(|a| (a.run_id, a.node)).collect();
    let expected = [("r2", "soon"), ("r1", "middle"), ("r1", "late")];
    assert_eq!(pending, expected.map(|(r, n)| (r.to_string(), n.to_string())));
}

#[test]
fn node_history_gives_a_skills_last_runs_with_their_nodes() {
    let store = SqliteStore::open_in_memory().unwrap();
    for (i, skill) in ["h", "other", "h", "h"].into_iter().enumerate() {
        let id = format!("r{i}");
        store.create_run(&run_at(&id, skill, 1_000 + i as i64, None)).unwrap();
        let input = Value::from("big input");
        store.apply(&id, vec![Change::NodeStarted { node: node("fetch"), attempt: 1, input }]).unwrap();
        store
            .apply(&id, vec![started("each"), started("each[0]"), finished("each[0]", NodeStatus::Succeeded, None)])
            .unwrap();
        if i == 3 {
            store.apply(&id, vec![finished("fetch", NodeStatus::Failed, Some("boom"))]).unwrap();
        }
    }
    store.create_run(&run_at("r4", "h", 2_000, None)).unwrap();
    let history = store.node_history("h", 3).unwrap();
    // (Nodes come in the order they started; two in the same millisecond by name.)
    let shape: Vec<(&str, Vec<(&str, NodeStatus)>)> = history
        .iter()
        .map(|(run, nodes)| {
            let mut cells: Vec<(&str, NodeStatus)> = nodes.iter().map(|n| (&*n.node, n.status)).collect();
            cells.sort_by_key(|c| c.0);
            (run.id.as_str(), cells)
        })
        .collect();
    use NodeStatus::{Failed, Running};
    assert_eq!(
        shape,
        [
            ("r4", vec![]),
            ("r3", vec![("each", Running), ("fetch", Failed)]),
            ("r2", vec![("each", Running), ("fetch", Running)])
        ]
    );
    let fetch = history[1].1.iter().find(|n| &*n.node == "fetch").unwrap();
    assert_eq!((fetch.error.as_deref(), fetch.input.as_ref()), (Some("boom"), None));
    assert!(store.node_history("nothing", 10).unwrap().is_empty());
}

/// Not a test: the time of a page of the run list among 10,000 runs, printed (run with
/// `cargo test -p runtime --release -- --ignored --nocapture list_runs_page_time`).
#[test]
#[ignore = "a measurement, not a test"]
#[allow(clippy::print_stdout)]
fn list_runs_page_time() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("pyra.db")).unwrap();
    // A skill text of a realistic size (~1.5 KB), kept with every run.
    let source = format!("name: bench\n{}", "nodes:\n  a: { uses: template, with: { value: 1 } }\n".repeat(30));
    let skills = ["daily-news", "inbox", "backup", "weather", "notes"];
    let triggers = [None, Some("cron"), Some("watch"), Some("event")];
    let statuses = [RunStatus::Succeeded, RunStatus::Succeeded, RunStatus::Succeeded, RunStatus::Failed];
    for i in 0..10_000usize {
        let mut r = run_at(&format!("{:08}x{i}", 1_000_000 + i), skills[i % 5], 1_000_000 + i as i64 * 60_000, None);
        (r.source, r.started_by) = (source.clone(), triggers[i % 4].map(str::to_string));
        r.inputs = serde_json::json!({ "city": "Berlin", "n": i });
        store.create_run(&r).unwrap();
        store.apply(&r.id, vec![run_status(statuses[(i / 3) % 4])]).unwrap();
    }
    let median = |page: &RunPage| {
        let mut times: Vec<f64> = (0..51)
            .map(|_| {
                let t = Instant::now();
                let (runs, _) = store.list_runs_page(page).unwrap();
                assert!(!runs.is_empty());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let deep = {
        let mut page = RunPage { limit: 100, ..Default::default() };
        for _ in 0..80 {
            page.after = store.list_runs_page(&page).unwrap().1;
        }
        page
    };
    let cases = [
        ("first page of 50", RunPage::default()),
        ("first page of 100", RunPage { limit: 100, ..Default::default() }),
        ("page 81 of 100 (after 8,000 runs)", deep),
        ("skill", RunPage { skill: Some("inbox".into()), ..Default::default() }),
        ("status failed", RunPage { status: Some(RunStatus::Failed), ..Default::default() }),
        ("trigger watch", RunPage { trigger: Some(TriggerFilter::parse("watch")), ..Default::default() }),
        ("trigger none", RunPage { trigger: Some(TriggerFilter::Command), ..Default::default() }),
        (
            "skill + status + time range",
            RunPage {
                skill: Some("backup".into()),
                status: Some(RunStatus::Succeeded),
                since: Some(1_000_000 + 2_000 * 60_000),
                until: Some(1_000_000 + 9_000 * 60_000),
                ..Default::default()
            },
        ),
    ];
    for (name, page) in cases {
        println!("list_runs_page, 10,000 runs, {name}: median {:.3} ms", median(&page));
    }
}
