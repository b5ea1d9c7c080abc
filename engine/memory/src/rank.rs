//! `pyra_bm25(notes_fts, limit, weights…)`: FTS5's own bm25, the same formula with the same
//! result for every row that can reach the best `limit`, that skips the costly part for the
//! rows that cannot.
//!
//! FTS5's `bm25()` looks up each matching row's length in tokens with a statement on the
//! `_docsize` table: on a query matching most of 100,000 notes that is about half the time.
//! The score only falls as the length grows, so the score at the smallest length a row can
//! have bounds it from above: each column is at least as long as its last matched token's
//! offset + 1, which for a common term is close to the real length. Once `limit` rows are scored, a row whose bound is below the `limit`-th best
//! score cannot be among the best: it gets `+∞` (sorted last) without the lookup. Every
//! other row gets exactly FTS5's value, so `ORDER BY rank LIMIT limit` returns what
//! `bm25()` would. A unit test compares the two on the same index.
//!
//! This is the crate's one FFI module: FTS5's extension API has no safe binding in rusqlite.

#![allow(unsafe_code)]

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::ffi::{c_int, c_void};
use std::ptr;

use rusqlite::Connection;
use rusqlite::ffi::{self, Fts5Context, Fts5ExtensionApi, Fts5PhraseIter, sqlite3_context, sqlite3_value};

/// bm25's constants, as FTS5 has them.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The value given to a row that cannot reach the best `limit` (sorted after every score).
const OUT_OF_REACH: f64 = f64::INFINITY;

/// Registers `pyra_bm25` on `conn` (each connection that ranks needs it).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    // SAFETY: `handle` is the live connection owned by `conn`. The statement is prepared,
    // stepped and finalized here; the bound pointer is `api`, which outlives the statement
    // and is filled by FTS5 with a pointer to its global API object (valid as long as the
    // connection is open; FTS5 copies the function registration into the connection).
    unsafe {
        let db = conn.handle();
        let mut stmt = ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(db, c"SELECT fts5(?1)".as_ptr(), -1, &mut stmt, ptr::null_mut());
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc, "cannot reach FTS5's extension API"));
        }
        let mut api: *mut ffi::fts5_api = ptr::null_mut();
        ffi::sqlite3_bind_pointer(stmt, 1, (&raw mut api).cast::<c_void>(), c"fts5_api_ptr".as_ptr(), None);
        ffi::sqlite3_step(stmt);
        ffi::sqlite3_finalize(stmt);
        let Some(create) = api.as_ref().and_then(|a| a.xCreateFunction) else {
            return Err(failure(ffi::SQLITE_ERROR, "this SQLite has no FTS5"));
        };
        let rc = create(api, c"pyra_bm25".as_ptr(), ptr::null_mut(), Some(pyra_bm25), None);
        if rc != ffi::SQLITE_OK {
            return Err(failure(rc, "cannot register pyra_bm25"));
        }
    }
    Ok(())
}

fn failure(rc: c_int, what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(what.to_string()))
}

/// A score ordered by `total_cmp` (scores are finite).
#[derive(Clone, Copy, PartialEq)]
struct Score(f64);
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// What one query computes once: per-phrase IDF, the average row length, the column
/// weights, and the best `limit` scores so far.
struct Query {
    idf: Vec<f64>,
    avgdl: f64,
    weights: Vec<f64>,
    limit: usize,
    best: BinaryHeap<Reverse<Score>>,
    freq: Vec<f64>,
    /// Per column, one past the last matched token's offset in the current row.
    reach: Vec<i32>,
}

impl Query {
    /// bm25 of the current frequencies at row length `d`, summed as FTS5 sums it.
    fn score(&self, d: f64) -> f64 {
        let mut score = 0.0;
        for (idf, f) in self.idf.iter().zip(&self.freq) {
            score += idf * ((f * (K1 + 1.0)) / (f + K1 * (1.0 - B + B * d / self.avgdl)));
        }
        score
    }

    /// Whether a row whose score is at most `bound` cannot enter the best `limit`.
    fn out_of_reach(&self, bound: f64) -> bool {
        self.best.len() >= self.limit && self.best.peek().is_some_and(|Reverse(worst)| bound < worst.0)
    }

    fn keep(&mut self, score: f64) {
        if self.best.len() < self.limit {
            self.best.push(Reverse(Score(score)));
        } else if self.best.peek().is_some_and(|Reverse(worst)| score > worst.0) {
            self.best.pop();
            self.best.push(Reverse(Score(score)));
        }
    }
}

unsafe extern "C" fn drop_query(p: *mut c_void) {
    // SAFETY: `p` is the `Box<Query>` leaked in `query`, handed back once by FTS5.
    drop(unsafe { Box::from_raw(p.cast::<Query>()) });
}

unsafe extern "C" fn count_row(_: *const Fts5ExtensionApi, _: *mut Fts5Context, n: *mut c_void) -> c_int {
    // SAFETY: `n` is the `i64` passed to `xQueryPhrase` in `query`, alive for the call.
    unsafe { *n.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

/// The FTS5 extension function.
unsafe extern "C" fn pyra_bm25(
    api: *const Fts5ExtensionApi,
    fts: *mut Fts5Context,
    ctx: *mut sqlite3_context,
    n: c_int,
    args: *mut *mut sqlite3_value,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: FTS5 calls this with its API, the current row's context and `n` arguments.
        unsafe { rank_row(&*api, fts, n, args) }
    }));
    // SAFETY: `ctx` is the function context of this call.
    unsafe {
        match result {
            Ok(Ok(value)) => ffi::sqlite3_result_double(ctx, value),
            Ok(Err(rc)) => ffi::sqlite3_result_error_code(ctx, rc),
            Err(_) => ffi::sqlite3_result_error(ctx, c"pyra_bm25 failed".as_ptr(), -1),
        }
    }
}

/// Calls an FTS5 API function pointer, which FTS5 always fills in.
macro_rules! call {
    ($api:expr, $f:ident, $($arg:expr),*) => {
        match $api.$f {
            Some(f) => f($($arg),*),
            None => return Err(ffi::SQLITE_MISUSE),
        }
    };
}

/// The rank of the current row (lower is better, like `bm25()`).
///
/// # Safety
/// `api`, `fts` and `args` (`n` values) are what FTS5 passed to the extension function.
unsafe fn rank_row(
    api: &Fts5ExtensionApi,
    fts: *mut Fts5Context,
    n: c_int,
    args: *mut *mut sqlite3_value,
) -> Result<f64, c_int> {
    // SAFETY: as for this function.
    let query = unsafe { query(api, fts, n, args)? };
    query.freq.fill(0.0);
    query.reach.fill(0);
    for phrase in 0..query.idf.len() {
        let mut iter = Fts5PhraseIter { a: ptr::null(), b: ptr::null() };
        let (mut col, mut off) = (0, 0);
        // SAFETY: the iterator and outputs are locals; `phrase` < xPhraseCount.
        let rc = unsafe { call!(api, xPhraseFirst, fts, phrase as c_int, &mut iter, &mut col, &mut off) };
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        while col >= 0 {
            query.freq[phrase] += query.weights.get(col as usize).copied().unwrap_or(1.0);
            if let Some(reach) = query.reach.get_mut(col as usize) {
                *reach = (*reach).max(off + 1);
            }
            // SAFETY: continues the iteration `xPhraseFirst` started on this row.
            unsafe { call!(api, xPhraseNext, fts, &mut iter, &mut col, &mut off) };
        }
    }
    let shortest: i32 = query.reach.iter().sum();
    if query.out_of_reach(query.score(f64::from(shortest))) {
        return Ok(OUT_OF_REACH);
    }
    let mut tokens: c_int = 0;
    // SAFETY: -1 asks for the whole row's length into a local.
    let rc = unsafe { call!(api, xColumnSize, fts, -1, &mut tokens) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let score = query.score(f64::from(tokens));
    query.keep(score);
    Ok(-score)
}

/// This query's state: made on its first row (as bm25 makes its IDF), then reused.
///
/// # Safety
/// As [`rank_row`]; the returned reference lives while FTS5 keeps the auxdata (the query).
unsafe fn query<'a>(
    api: &Fts5ExtensionApi,
    fts: *mut Fts5Context,
    n: c_int,
    args: *mut *mut sqlite3_value,
) -> Result<&'a mut Query, c_int> {
    // SAFETY: FTS5 returns what `xSetAuxdata` stored for this query, or null.
    let existing = unsafe { call!(api, xGetAuxdata, fts, 0) }.cast::<Query>();
    if !existing.is_null() {
        // SAFETY: the `Box<Query>` leaked below; FTS5 calls one row at a time per query.
        return Ok(unsafe { &mut *existing });
    }
    // SAFETY: `args` holds `n` values.
    let values: Vec<f64> = (0..n.max(0) as usize).map(|i| unsafe { ffi::sqlite3_value_double(*args.add(i)) }).collect();
    let limit = values.first().map_or(1, |l| l.max(1.0) as usize);
    let weights = values.get(1..).unwrap_or_default().to_vec();
    // SAFETY: plain calls on this query's context with local outputs.
    let phrases = unsafe { call!(api, xPhraseCount, fts) }.max(0) as usize;
    let columns = unsafe { call!(api, xColumnCount, fts) }.max(0) as usize;
    let (mut rows, mut tokens) = (0i64, 0i64);
    let rc = unsafe { call!(api, xRowCount, fts, &mut rows) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let rc = unsafe { call!(api, xColumnTotalSize, fts, -1, &mut tokens) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let mut idf = Vec::with_capacity(phrases);
    for phrase in 0..phrases {
        let mut hits = 0i64;
        // SAFETY: `count_row` only increments `hits`, which outlives the call.
        let rc = unsafe { call!(api, xQueryPhrase, fts, phrase as c_int, (&raw mut hits).cast(), Some(count_row)) };
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        let value = ((rows - hits) as f64 + 0.5) / (hits as f64 + 0.5);
        let value = value.ln();
        idf.push(if value <= 0.0 { 1e-6 } else { value });
    }
    let query = Box::new(Query {
        idf,
        avgdl: tokens as f64 / rows.max(1) as f64,
        weights,
        limit,
        best: BinaryHeap::with_capacity(limit.min(1024) + 1),
        freq: vec![0.0; phrases],
        reach: vec![0; columns],
    });
    let raw = Box::into_raw(query);
    // SAFETY: FTS5 owns `raw` from here and frees it with `drop_query` (also on failure).
    let rc = unsafe { call!(api, xSetAuxdata, fts, raw.cast(), Some(drop_query)) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    // SAFETY: stored above; FTS5 frees it only when the query ends.
    Ok(unsafe { &mut *raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same index ranked by FTS5's bm25 and by pyra_bm25 gives the same best rows and
    /// scores, for limits that prune most rows and for ones that prune none.
    #[test]
    fn the_best_rows_and_scores_are_those_of_fts5s_bm25() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize = 'porter unicode61', prefix = '2 3')",
        )
        .unwrap();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let words = ["garden", "gardening", "bicycle", "tyre", "visa", "visit", "vision", "ticket", "train", "rain"];
        for _ in 0..800 {
            let len = 3 + next() % 60;
            let body: Vec<&str> = (0..len).map(|_| words[(next() % words.len() as u64) as usize]).collect();
            let title = words[(next() % words.len() as u64) as usize];
            conn.execute("INSERT INTO t(title, body) VALUES (?1, ?2)", (title, body.join(" "))).unwrap();
        }
        let ranked = |function: &str, query: &str, limit: i64| -> Vec<(i64, String)> {
            let sql = format!("SELECT rowid, {function} AS r FROM t WHERE t MATCH ?1 ORDER BY r, rowid LIMIT ?2");
            let mut stmt = conn.prepare(&sql).unwrap();
            stmt.query_map((query, limit), |r| Ok((r.get(0)?, format!("{:.12}", r.get::<_, f64>(1)?))))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        for query in ["vis*", "garden", "\"bicycle tyre\"", "gard* OR rain", "ticket NOT train", "title:visa", "t*"] {
            for limit in [1, 10, 1000] {
                let theirs = ranked("bm25(t, 10.0, 1.0)", query, limit);
                let ours = ranked(&format!("pyra_bm25(t, {limit}, 10.0, 1.0)"), query, limit);
                assert!(!theirs.is_empty(), "{query}");
                assert_eq!(ours, theirs, "{query} limit {limit}");
            }
        }
    }
}
