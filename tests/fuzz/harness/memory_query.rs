//! `memory_query`: user text → an FTS5 expression (`memory::query`), then that expression
//! run as a MATCH against an in-memory FTS5 table made as the memory index makes its own
//! (`porter unicode61`, prefix indexes 2–4). Property: hostile text searches, it never
//! makes FTS5 fail; a query keeps at most 32 terms and exclusions, each searchable.

use memory::query::{Join, Query};
use rusqlite::Connection;

thread_local! {
    static DB: Connection = {
        let db = Connection::open_in_memory().expect("an in-memory database");
        db.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(
                 title, summary, keywords, body, tokenize = 'porter unicode61', prefix = '2 3 4'
             );
             INSERT INTO t VALUES ('Garden', 'tomatoes', 'plants', 'water the tomatoes at seven; e-mail Ann');",
        )
        .expect("the FTS5 table");
        db
    };
}

pub fn memory_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let query = Query::parse(&text);
    assert!(query.terms.len() <= 32 && query.excluded.len() <= 32, "too many terms: {query:?}");
    for term in query.terms.iter().chain(&query.excluded) {
        assert!(term.text.chars().any(char::is_alphanumeric), "a term with nothing to search: {term:?}");
    }
    for join in [Join::All, Join::Any] {
        let Some(expr) = query.to_fts(join) else {
            assert!(query.is_empty(), "a query with terms gave no expression");
            continue;
        };
        DB.with(|db| {
            let mut stmt = db.prepare_cached("SELECT count(*) FROM t WHERE t MATCH ?1").expect("the statement");
            let found: Result<i64, _> = stmt.query_row([&expr], |row| row.get(0));
            if let Err(e) = found {
                panic!("FTS5 refused {expr:?} (from {text:?}): {e}");
            }
        });
    }
}
