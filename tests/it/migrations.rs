//! Schema migrations: a `pyra.db` and a memory index of every earlier schema version (the
//! fixtures in `tests/fixtures/db/`, made with each version's own schema SQL) are opened
//! by today's binary, which migrates them and shows the same data; the migrated schema is
//! the one a new database gets; a database written by a newer Pyra is refused untouched.

use std::path::Path;

use crate::harness::{Pyra, node, repo_root};

const PYRA_FIXTURES: [&str; 8] = [
    "pyra-v1-seq",
    "pyra-v1-rowid",
    "pyra-v1",
    "pyra-v2",
    "pyra-v3",
    "pyra-v4",
    "pyra-v4-chat",
    "pyra-v4-chat-pending",
];

/// Builds a database file from a fixture's SQL dump.
fn load(fixture: &str, into: &Path) {
    let sql = std::fs::read_to_string(repo_root().join(format!("tests/fixtures/db/{fixture}.sql"))).unwrap();
    let conn = rusqlite::Connection::open(into).unwrap();
    conn.execute_batch(&sql).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    drop(conn);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(into, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Every table's and index's name, and every table's columns with their types, as
/// SQLite describes them. Columns are compared as a set without their defaults: a column
/// added by a migration comes last and needs a default where a new table's has none.
fn schema(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    let mut objects =
        conn.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").unwrap();
    let objects: Vec<(String, String)> =
        objects.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    for (kind, name) in objects {
        out.push(format!("{kind} {name}"));
        if kind == "table" {
            let mut cols = conn
                .prepare(&format!("SELECT name, type, \"notnull\", pk FROM pragma_table_info('{name}') ORDER BY name"))
                .unwrap();
            let cols = cols.query_map([], |r| {
                Ok(format!(
                    "  {} {} notnull={} pk={}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?
                ))
            });
            out.extend(cols.unwrap().map(Result::unwrap));
            let without_rowid: bool = conn
                .query_row("SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .unwrap();
            out.push(format!("  without rowid: {without_rowid}"));
        }
    }
    out
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn every_earlier_pyra_db_migrates_and_keeps_its_runs_and_conversations() {
    // What a new home gets, for comparison.
    let fresh = Pyra::new();
    fresh.run(["runs", "list"]).success();
    let fresh_schema = schema(&fresh.home_path().join("pyra.db"));
    let fresh_version = user_version(&fresh.home_path().join("pyra.db"));

    for fixture in PYRA_FIXTURES {
        let pyra = Pyra::new();
        let db = pyra.home_path().join("pyra.db");
        load(fixture, &db);

        let list = pyra.run(["runs", "list", "--json"]);
        list.success();
        let ids: Vec<String> =
            list.json().as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        assert!(ids.iter().any(|id| id == "0fixture0run"), "{fixture}: {ids:?}");
        assert_eq!(user_version(&db), fresh_version, "{fixture}");
        assert_eq!(schema(&db), fresh_schema, "{fixture}: the migrated schema is a new database's");

        let run = pyra.show("0fixture0run");
        assert_eq!(run["status"], "succeeded", "{fixture}");
        assert_eq!(run["skill"], "fixture", "{fixture}");
        assert_eq!(run["inputs"]["city"], "Berlin", "{fixture}");
        assert_eq!(run["outputs"]["v"], 1, "{fixture}");
        let a = node(&run, "a");
        assert_eq!((a["status"].as_str(), a["attempts"].as_i64()), (Some("succeeded"), Some(2)), "{fixture}: {a:#}");
        assert_eq!(a["output"], 1, "{fixture}");
        let logs = pyra.run(["runs", "logs", "0fixture0run"]);
        logs.success().stdout_has("a warning");

        // The migrated database takes new runs, and the old ones are still there.
        let skill = pyra.skill(
            "new",
            "name: new\nnodes:\n  a: { uses: template, with: { value: 2 } }\noutputs:\n  v: \"{{ nodes.a.output }}\"\n",
        );
        pyra.run(["run", &skill]).success().stdout_has("v: 2");
        let list = pyra.run(["runs", "list", "--json"]);
        assert_eq!(list.json().as_array().unwrap().len(), ids.len() + 1, "{fixture}");

        if fixture.contains("chat") {
            let chats = pyra.run(["chat", "--list", "--json"]);
            chats.success().stdout_has("\"trip\"");
            let listed = chats.json();
            let trip = listed.as_array().unwrap().iter().find(|c| c["name"] == "trip").unwrap().clone();
            assert_eq!(trip["messages"], 2, "{fixture}: {trip:#}");
        }

        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600, "{fixture}");
    }
}

#[test]
fn a_pyra_db_from_a_newer_pyra_is_refused_and_left_untouched() {
    let pyra = Pyra::new();
    let db = pyra.home_path().join("pyra.db");
    load("pyra-v4-chat-pending", &db);
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let before = std::fs::read(&db).unwrap();

    let out = pyra.run(["runs", "list"]);
    assert_ne!(out.code, 0, "{out:?}");
    out.stderr_has("was written by a newer Pyra (schema version 99").stderr_has("upgrade Pyra");
    let skill = pyra.skill("new", "name: new\nnodes:\n  a: { uses: template, with: { value: 2 } }\n");
    let run = pyra.run(["run", &skill]);
    assert_ne!(run.code, 0, "{run:?}");
    run.stderr_has("newer Pyra");
    pyra.run(["chat", "--list"]).stderr_has("newer Pyra");

    assert_eq!(user_version(&db), 99);
    assert!(std::fs::read(&db).unwrap() == before, "nothing was written");
}

#[test]
fn every_earlier_memory_index_migrates_and_search_finds_the_notes() {
    let fresh = Pyra::new();
    std::fs::create_dir_all(fresh.home_path().join("memory")).unwrap();
    fresh.run(["memory", "list"]).success();
    let fresh_index = fresh.home_path().join("memory/.index.db");
    let fresh_schema = schema(&fresh_index);

    for fixture in ["memory-v1", "memory-v2", "memory-v3"] {
        let pyra = Pyra::new();
        let memory = pyra.home_path().join("memory");
        std::fs::create_dir_all(memory.join("travel")).unwrap();
        std::fs::write(memory.join("travel/berlin.md"), "# Berlin\n\nThe museum island opens at ten.\n").unwrap();
        let index = memory.join(".index.db");
        load(fixture, &index);

        let hits = pyra.run(["memory", "search", "museum", "--json"]);
        hits.success();
        assert_eq!(hits.json()[0]["name"], "travel/berlin", "{fixture}: {}", hits.stdout);
        pyra.run(["memory", "search", "stale", "--json"]).success().stdout_has("[]");
        assert_eq!(schema(&index), fresh_schema, "{fixture}: the migrated schema is a new index's");
    }
}

#[test]
fn a_memory_index_from_a_newer_pyra_is_refused() {
    let pyra = Pyra::new();
    let memory = pyra.home_path().join("memory");
    std::fs::create_dir_all(&memory).unwrap();
    let index = memory.join(".index.db");
    load("memory-v3", &index);
    rusqlite::Connection::open(&index).unwrap().pragma_update(None, "user_version", 42).unwrap();
    let out = pyra.run(["memory", "search", "museum"]);
    assert_ne!(out.code, 0, "{out:?}");
    out.stderr_has("written by a newer Pyra (schema version 42");
    assert_eq!(user_version(&index), 42);
}

#[test]
fn runs_and_conversations_share_pyra_db_and_its_one_schema_version() {
    use conversations::{ChatStore, Role};
    use runtime::{RunFilter, SqliteStore, Store};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    // The chat store first creates the file, then the run store opens it, then both work
    // side by side.
    let chat = ChatStore::open(&path).unwrap();
    let session = chat.create(Some("notes"), Some("local")).unwrap();
    chat.append(&session.id, Role::User, "remember this", &[]).unwrap();
    let runs = SqliteStore::open(&path).unwrap();
    assert!(runs.list_runs(&RunFilter::default()).unwrap().is_empty());
    let chat_again = ChatStore::open(&path).unwrap();
    chat_again.append(&session.id, Role::Assistant, "remembered", &[]).unwrap();
    chat.pin(&session.id, 1, true).unwrap();
    assert!(runs.find_runs("x").unwrap().is_empty());
    drop((chat, chat_again, runs));

    // Reopened in the other order: the run store already there, then the chat store.
    let runs = SqliteStore::open(&path).unwrap();
    let chat = ChatStore::open(&path).unwrap();
    let found = chat.by_name("notes").unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.messages, found.title.as_str()), (session.id.as_str(), 2, "remember this"));
    assert!(runs.list_runs(&RunFilter::default()).unwrap().is_empty());
    // Whichever store creates the file, it gets the whole schema and its one version.
    let chat_only = dir.path().join("chat-only.db");
    drop(ChatStore::open(&chat_only).unwrap());
    let runs_only = dir.path().join("runs-only.db");
    drop(SqliteStore::open(&runs_only).unwrap());
    assert_eq!(schema(&chat_only), schema(&runs_only));
    assert_eq!(user_version(&chat_only), db::pyra::STEPS.len() as i64);
    assert_eq!(user_version(&path), user_version(&runs_only));

    for file in ["pyra.db", "pyra.db-wal", "pyra.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}
