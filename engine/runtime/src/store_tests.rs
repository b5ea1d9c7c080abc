//! Tests shared by both run stores: the durable one and the in-memory one must keep the
//! same records (transitions, resets, single-use approvals, filters).

use std::sync::Arc;

use serde_json::Value;

use super::memory_store::MemoryStore;
use super::record::*;
use super::store::{SqliteStore, Store};

fn run(id: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        skill: "s".into(),
        source_path: None,
        source: "name: s".into(),
        inputs: Value::Null,
        untrusted_inputs: false,
        status: RunStatus::Running,
        error: None,
        outputs: None,
        parent_run: None,
        parent_node: None,
        created_at: now_ms(),
        finished_at: None,
        pid: Some(1),
        resumes: 0,
        started_by: None,
        scheduled_for: None,
    }
}

fn exercise(store: &dyn Store) {
    store.create_run(&run("r1")).unwrap();
    let a: Arc<str> = Arc::from("a");
    store.apply("r1", vec![Change::NodeStarted { node: a.clone(), attempt: 1, input: Value::from(1) }]).unwrap();
    store.set_node_state("r1", "a", &Value::from("kept")).unwrap();
    store
        .apply(
            "r1",
            vec![Change::NodeFinished {
                node: a.clone(),
                status: NodeStatus::Failed,
                output: None,
                error: Some("boom".into()),
                untrusted: false,
            }],
        )
        .unwrap();
    let nodes = store.nodes("r1").unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!((nodes[0].status, nodes[0].error.as_deref()), (NodeStatus::Failed, Some("boom")));
    // A soft reset keeps executor state; forgetting drops it.
    store.apply("r1", vec![Change::NodeReset { node: a.clone(), forget: false }]).unwrap();
    assert_eq!(store.nodes("r1").unwrap()[0].status, NodeStatus::Pending);
    assert_eq!(store.node_state("r1", "a").unwrap(), Some(Value::from("kept")));
    store.apply("r1", vec![Change::NodeReset { node: a, forget: true }]).unwrap();
    assert!(store.nodes("r1").unwrap().is_empty());

    // Approvals are answered once.
    let approval = ApprovalRecord {
        run_id: "r1".into(),
        node: "ok".into(),
        message: "Go?".into(),
        details: None,
        created_at: now_ms(),
        deadline: now_ms() + 60_000,
        on_timeout: ApprovalState::Rejected,
        state: ApprovalState::Pending,
        answered_by: None,
        reason: None,
        answered_at: None,
    };
    store.insert_approval(&approval).unwrap();
    store.insert_approval(&approval).unwrap();
    assert_eq!(store.approvals("r1").unwrap().len(), 1);
    assert!(store.answer_approval("r1", "ok", ApprovalState::Approved, "cli", None).unwrap());
    assert!(!store.answer_approval("r1", "ok", ApprovalState::Rejected, "cli", None).unwrap());
    assert_eq!(store.approval("r1", "ok").unwrap().unwrap().state, ApprovalState::Approved);

    store.create_run(&run("r2")).unwrap();
    store.apply("r2", vec![Change::RunStatus { status: RunStatus::Succeeded, error: None, outputs: None }]).unwrap();
    let listed = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(listed.len(), 2);
    let done = store.list_runs(&RunFilter { status: Some(RunStatus::Succeeded), ..Default::default() }).unwrap();
    assert_eq!(done.len(), 1);
    assert!(done[0].finished_at.is_some());
    assert_eq!(store.find_runs("r").unwrap().len(), 2);
    store.request_cancel("r1").unwrap();
    assert!(store.cancel_requested("r1").unwrap());
    assert!(!store.cancel_requested("r2").unwrap());
}

#[test]
fn both_stores_keep_the_same_records() {
    exercise(&MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("pyra.db")).unwrap();
    exercise(&sqlite);
    drop(sqlite);
    // Reopening finds the records (and does not recreate the schema).
    let again = SqliteStore::open(&dir.path().join("pyra.db")).unwrap();
    assert_eq!(again.list_runs(&RunFilter::default()).unwrap().len(), 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("pyra.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
