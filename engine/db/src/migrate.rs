//! Ordered schema migrations, the same idea as rusqlite_migration in a few lines: a
//! database's `user_version` is the number of steps applied; opening applies the rest in
//! order inside one `BEGIN IMMEDIATE` transaction that also sets the new version, so a
//! crash or a failing step leaves the database exactly as it was (all or nothing), a new
//! database costs one commit, and two processes opening it at once apply each step once.

use std::time::Duration;

use rusqlite::Connection;

/// One schema change. Its version is its position in the list, counted from 1.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// What the step does, for errors ("node_runs.findings").
    pub summary: &'static str,
    /// The SQL, run as one batch inside the step's transaction.
    pub sql: &'static str,
}

/// What opening did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "{db} was written by a newer Pyra (schema version {found}; this Pyra knows versions up to {known})\n  \
         help: upgrade Pyra, or move {db} away to start with a new one"
    )]
    Newer { db: String, found: i64, known: i64 },
    #[error("{db}: updating the schema to version {to} ({summary}) failed: {source}")]
    Step { db: String, to: i64, summary: &'static str, source: rusqlite::Error },
    #[error("{db}: {source}")]
    Sqlite { db: String, source: rusqlite::Error },
}

/// The schema version recorded in the database (0 for a new file).
pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Refuses a database whose schema is newer than `steps` know, without writing to it.
pub fn refuse_newer(conn: &Connection, db: &str, steps: &[Step]) -> Result<(), MigrateError> {
    let found = user_version(conn).map_err(|source| MigrateError::Sqlite { db: db.to_string(), source })?;
    let known = steps.len() as i64;
    if found > known {
        return Err(MigrateError::Newer { db: db.to_string(), found, known });
    }
    Ok(())
}

/// Brings the database to the last of `steps`. `db` names it in errors (a path or
/// `pyra.db`). A database already at the last version is only read. `patience` bounds
/// the wait for another process that holds the write lock.
pub fn migrate(conn: &Connection, db: &str, steps: &[Step], patience: Duration) -> Result<Migrated, MigrateError> {
    let sqlite = |source| MigrateError::Sqlite { db: db.to_string(), source };
    let known = steps.len() as i64;
    let from = user_version(conn).map_err(sqlite)?;
    let newer = |found| MigrateError::Newer { db: db.to_string(), found, known };
    if from > known {
        return Err(newer(from));
    }
    if from == known {
        return Ok(Migrated { from, to: from });
    }
    // All the missing steps in one transaction: a new database costs one commit, and an
    // upgrade is all or nothing — a failing step leaves the version the file had.
    crate::when_not_busy(patience, || conn.execute_batch("BEGIN IMMEDIATE")).map_err(sqlite)?;
    let applied = (|| {
        // Another process may have moved on while this one waited for the lock.
        let current = user_version(conn).map_err(sqlite)?;
        if current > known {
            return Err(newer(current));
        }
        for (index, step) in steps.iter().enumerate().skip(current.max(0) as usize) {
            let to = index as i64 + 1;
            conn.execute_batch(step.sql).map_err(|source| MigrateError::Step {
                db: db.to_string(),
                to,
                summary: step.summary,
                source,
            })?;
        }
        conn.pragma_update(None, "user_version", known).map_err(sqlite)
    })();
    match applied {
        Ok(()) => conn.execute_batch("COMMIT").map_err(sqlite)?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(Migrated { from, to: known })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Step; 2] = [
        Step { summary: "t", sql: "CREATE TABLE t(a INTEGER)" },
        Step { summary: "t.b", sql: "ALTER TABLE t ADD COLUMN b TEXT" },
    ];
    const PATIENCE: Duration = Duration::from_secs(1);

    #[test]
    fn applies_the_missing_steps_in_order_and_then_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&conn, "x", &STEPS[..1], PATIENCE).unwrap(), Migrated { from: 0, to: 1 });
        conn.execute("INSERT INTO t(a) VALUES (7)", []).unwrap();
        assert_eq!(migrate(&conn, "x", &STEPS, PATIENCE).unwrap(), Migrated { from: 1, to: 2 });
        assert_eq!(migrate(&conn, "x", &STEPS, PATIENCE).unwrap(), Migrated { from: 2, to: 2 });
        let (a, b): (i64, Option<String>) =
            conn.query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((a, b), (7, None));
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 9).unwrap();
        let err = migrate(&conn, "pyra.db", &STEPS, PATIENCE).unwrap_err();
        assert!(matches!(err, MigrateError::Newer { found: 9, known: 2, .. }), "{err}");
        assert!(err.to_string().contains("written by a newer Pyra"), "{err}");
        assert_eq!(user_version(&conn).unwrap(), 9);
    }

    #[test]
    fn a_failing_step_leaves_the_database_as_it_was() {
        let conn = Connection::open_in_memory().unwrap();
        let steps = [STEPS[0], Step { summary: "broken", sql: "CREATE TABLE u(x); NOT SQL" }];
        let err = migrate(&conn, "x", &steps, PATIENCE).unwrap_err();
        assert!(matches!(err, MigrateError::Step { to: 2, .. }), "{err}");
        assert_eq!(user_version(&conn).unwrap(), 0);
        let t: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 't'", [], |r| r.get(0)).unwrap();
        assert_eq!(t, 0, "the first step was rolled back with the second");
        let u: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'u'", [], |r| r.get(0)).unwrap();
        assert_eq!(u, 0, "the failed step's first statement was rolled back");
    }
}
