//! Tests of the memory store: ranking, snippets, query syntax, writes, reconciliation, locking.

use super::*;

fn mem() -> (tempfile::TempDir, Memory) {
    let home = tempfile::tempdir().unwrap();
    let memory = Memory::open(home.path()).unwrap();
    (home, memory)
}

fn names(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.name.as_str()).collect()
}

fn search(m: &Memory, q: &str) -> Vec<Hit> {
    m.search(q, &SearchOptions::default()).unwrap()
}

const FILLER: &str = "The weather was mild and the afternoon went by with letters, tea, and a long walk \
    along the river where the boats were moored for the winter season.";

#[test]
fn fts5_is_compiled_in_and_files_are_private() {
    let (home, m) = mem();
    m.write("a", "hello", None, &[]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.path().join("memory")), 0o700);
        assert_eq!(mode(&home.path().join("memory/a.md")), 0o600);
        assert_eq!(mode(&home.path().join("memory/.index.db")), 0o600);
        assert_eq!(mode(&home.path().join("memory/MEMORY_INDEX.md")), 0o600);
        m.write("work/projects/x", "hello", None, &[]).unwrap();
        assert_eq!(mode(&home.path().join("memory/work/projects")), 0o700);
    }
}

#[test]
fn title_match_outranks_a_single_body_mention() {
    let (_home, m) = mem();
    m.write("body", &format!("# Diary\n{FILLER} I thought about gardening once. {FILLER}\n"), None, &[]).unwrap();
    m.write("title", "# Gardening\nSome notes about soil.\n", None, &[]).unwrap();
    let hits = search(&m, "gardening");
    assert_eq!(names(&hits), vec!["title", "body"]);
    assert!(hits[0].score > hits[1].score);
    assert_eq!(hits[0].title, "Gardening");
}

#[test]
fn snippets_highlight_matches() {
    let (_home, m) = mem();
    m.write("n", &format!("{FILLER}\nThe tomato seedlings need more light.\n{FILLER}"), None, &[]).unwrap();
    let hits = search(&m, "tomato");
    assert_eq!(hits.len(), 1);
    assert!(hits[0].snippet.contains(&format!("{MARK_START}tomato{MARK_END}")), "{}", hits[0].snippet);
}

#[test]
fn prefix_phrase_and_stemming() {
    let (_home, m) = mem();
    m.write("a", "The quick brown fox jumps.", None, &[]).unwrap();
    m.write("b", "A brown quick fox sleeps.", None, &[]).unwrap();
    assert_eq!(names(&search(&m, "\"quick brown\"")), vec!["a"]);
    let mut prefix = names(&search(&m, "jum*")).into_iter().map(String::from).collect::<Vec<_>>();
    prefix.sort();
    assert_eq!(prefix, vec!["a"]);
    assert_eq!(search(&m, "qui*").len(), 2);
    assert_eq!(names(&search(&m, "jumping")), vec!["a"], "porter stemming");
    assert_eq!(names(&search(&m, "fox -sleeps")), vec!["a"], "exclusion");
    // AND finds nothing, so any term may match.
    assert_eq!(search(&m, "jumps sleeps").len(), 2);
}

#[test]
fn summary_and_keywords_are_searchable_and_listed() {
    let (_home, m) = mem();
    m.write("people/alice", "Met at the conference.", Some("Alice, a colleague"), &["colleague".into()]).unwrap();
    assert_eq!(names(&search(&m, "alice")), vec!["people/alice"]);
    let list = m.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].category, "people");
    assert_eq!(list[0].keywords, vec!["colleague"]);
    let toc = std::fs::read_to_string(m.dir().join("MEMORY_INDEX.md")).unwrap();
    assert!(toc.contains("| people | [people/alice](people/alice.md) | Alice, a colleague |"), "{toc}");
    let note = m.read("people/alice").unwrap();
    assert_eq!(note.meta.summary.as_deref(), Some("Alice, a colleague"));
    assert_eq!(note.body, "Met at the conference.\n");
}

#[test]
fn hostile_queries_never_error() {
    let (_home, m) = mem();
    m.write("n", "Don't forget: e-mail Bob about the NEAR-term plan (and the AND gate).", None, &[]).unwrap();
    let hostile = [
        "\"",
        "\"\"",
        "\"unbalanced",
        "'",
        "don't",
        "-",
        "--",
        "-foo",
        "- foo",
        "*",
        "**",
        "foo*bar",
        "*foo",
        ":",
        "title:foo",
        "body:",
        ":foo",
        "NEAR",
        "NEAR(",
        "NEAR(a b, 3)",
        "a NEAR b",
        "AND",
        "OR",
        "NOT",
        "a AND",
        "OR b",
        "NOT c",
        "a AND OR NOT b",
        "(",
        ")",
        "((a)",
        "a)",
        "{title}: x",
        "^foo",
        "a + b",
        "e-mail",
        "\u{0}",
        "a\u{0}b",
        "; DROP TABLE notes; --",
        "\\",
        "\"a\" \"b",
        "x\"y\"z",
        "ü日本語",
        "🙂",
        "NEAR-term",
        "and",
        "-\"quoted\"",
        "\"phrase\"*",
        "* * *",
        "%_",
    ];
    for q in hostile {
        assert!(m.search(q, &SearchOptions::default()).is_ok(), "query {q:?} failed");
    }
    assert_eq!(names(&search(&m, "don't")), vec!["n"]);
    assert_eq!(names(&search(&m, "e-mail")), vec!["n"]);
    assert_eq!(names(&search(&m, "NEAR-term")), vec!["n"]);
    assert_eq!(names(&search(&m, "Bob AND plan")), vec!["n"]);
    assert!(search(&m, "").is_empty());
    assert!(search(&m, "   ").is_empty());
}

#[test]
fn category_and_since_filters() {
    let (_home, m) = mem();
    m.write("work/alpha", "budget review", None, &[]).unwrap();
    m.write("work/projects/beta", "budget plan", None, &[]).unwrap();
    m.write("home/gamma", "budget groceries", None, &[]).unwrap();
    m.write("workshop", "budget tools", None, &[]).unwrap();
    let opts = |c: &str| SearchOptions { category: Some(c.into()), ..Default::default() };
    let mut work = names(&m.search("budget", &opts("work")).unwrap()).into_iter().map(String::from).collect::<Vec<_>>();
    work.sort();
    assert_eq!(work, vec!["work/alpha", "work/projects/beta"]);
    assert_eq!(names(&m.search("budget", &opts("home/")).unwrap()), vec!["home/gamma"]);
    assert!(m.search("budget", &opts("%")).unwrap().is_empty());
    let future = SearchOptions { since: Some(Utc::now() + chrono::Duration::days(1)), ..Default::default() };
    assert!(m.search("budget", &future).unwrap().is_empty());
    let past = SearchOptions { since: Some(Utc::now() - chrono::Duration::days(1)), ..Default::default() };
    assert_eq!(m.search("budget", &past).unwrap().len(), 4);
}

#[test]
fn names_are_validated() {
    let (home, m) = mem();
    for bad in
        ["", "../x", "/etc/passwd", "a/../b", ".hidden", "a/.b", "a//b", "a b", "a\\b", "c:x", "MEMORY_INDEX", "a/"]
    {
        assert!(matches!(m.write(bad, "x", None, &[]), Err(MemoryError::InvalidName(..))), "{bad:?}");
        assert!(m.read(bad).is_err(), "{bad:?}");
    }
    assert!(!home.path().join("x.md").exists());
    m.write("ok/Name_1-2.md", "x", None, &[]).unwrap();
    assert!(m.dir().join("ok/Name_1-2.md").is_file());
    assert!(matches!(m.read("missing"), Err(MemoryError::NotFound(_))));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(home.path(), m.dir().join("escape")).unwrap();
        assert!(matches!(m.write("escape/x", "x", None, &[]), Err(MemoryError::InvalidName(..))));
    }
}

#[test]
fn write_keeps_created_and_remove_cleans_up() {
    let (_home, m) = mem();
    m.write("cat/n", "---\nsummary: from content\ncreated: 2020-01-01\n---\nfirst", None, &[]).unwrap();
    let first = m.read("cat/n").unwrap();
    assert_eq!(first.meta.summary.as_deref(), Some("from content"));
    assert_eq!(first.meta.created.as_deref(), Some("2020-01-01"));
    m.write("cat/n", "second", Some("new summary"), &[]).unwrap();
    let second = m.read("cat/n").unwrap();
    assert_eq!(second.meta.created.as_deref(), Some("2020-01-01"));
    assert_eq!(second.meta.summary.as_deref(), Some("new summary"));
    assert!(search(&m, "first").is_empty());
    assert_eq!(names(&search(&m, "second")), vec!["cat/n"]);
    m.remove("cat/n").unwrap();
    assert!(search(&m, "second").is_empty());
    assert!(!m.dir().join("cat").exists());
    assert!(matches!(m.remove("cat/n"), Err(MemoryError::NotFound(_))));
}

#[test]
fn append_creates_then_extends() {
    let (_home, m) = mem();
    m.append("log", "one").unwrap();
    m.append("log", "two\n").unwrap();
    let note = m.read("log").unwrap();
    assert_eq!(note.body, "one\ntwo\n");
    assert!(note.meta.updated.is_some());
    assert_eq!(names(&search(&m, "two")), vec!["log"]);
}

#[test]
fn reconcile_picks_up_outside_edits_and_deletions() {
    let (home, m) = mem();
    m.write("edited", "original words", None, &[]).unwrap();
    m.write("deleted", "doomed words", None, &[]).unwrap();
    let dir = home.path().join("memory");
    std::fs::write(dir.join("edited.md"), "# Edited\nreplacement text from an editor, longer than before").unwrap();
    std::fs::remove_file(dir.join("deleted.md")).unwrap();
    std::fs::create_dir_all(dir.join("ideas")).unwrap();
    std::fs::write(dir.join("ideas/new.md"), "a brand new idea").unwrap();
    std::fs::write(dir.join(".hidden.md"), "hidden words").unwrap();
    std::fs::write(dir.join("notes.txt"), "not markdown").unwrap();

    let report = m.reconcile().unwrap();
    assert_eq!((report.added, report.updated, report.removed, report.skipped), (1, 1, 1, 0), "{report:?}");
    assert_eq!(report.scanned, 2);
    assert!(search(&m, "original").is_empty());
    assert!(search(&m, "doomed").is_empty());
    assert!(search(&m, "hidden").is_empty());
    assert_eq!(names(&search(&m, "replacement")), vec!["edited"]);
    assert_eq!(names(&search(&m, "idea")), vec!["ideas/new"]);

    // Unchanged files are not re-read.
    let again = m.reconcile().unwrap();
    assert_eq!((again.added, again.updated, again.removed), (0, 0, 0));

    // A fresh handle (a new process) sees the same index; reindex rebuilds it.
    let other = Memory::open(home.path()).unwrap();
    assert_eq!(names(&search(&other, "replacement")), vec!["edited"]);
    let full = other.reindex().unwrap();
    assert_eq!((full.added, full.scanned), (2, 2));
    assert_eq!(other.list().unwrap().len(), 2);
}

#[test]
fn non_utf8_files_are_skipped_with_a_warning() {
    let (home, m) = mem();
    let dir = home.path().join("memory");
    std::fs::write(dir.join("good.md"), "fine text").unwrap();
    std::fs::write(dir.join("bad.md"), b"\xff\xfe broken \x80").unwrap();
    std::fs::write(dir.join("yaml.md"), "---\nsummary: [unclosed\n---\nbody words").unwrap();
    let report = m.reconcile().unwrap();
    assert_eq!((report.added, report.skipped), (2, 1), "{report:?}");
    assert!(report.warnings.iter().any(|w| w.contains("bad.md") && w.contains("UTF-8")), "{report:?}");
    assert!(report.warnings.iter().any(|w| w.contains("yaml")), "{report:?}");
    assert_eq!(names(&search(&m, "fine")), vec!["good"]);
    assert_eq!(names(&search(&m, "body")), vec!["yaml"]);
    let err = m.read("bad").unwrap_err();
    assert!(matches!(err, MemoryError::NotUtf8(..)));
    let message = err.to_string();
    assert!(message.contains(&dir.join("bad.md").display().to_string()), "{message}");
    assert!(message.contains("help: convert it to UTF-8") && message.contains("iconv"), "{message}");
    assert!(matches!(m.append("bad", "x"), Err(MemoryError::NotUtf8(..))));

    // A note that becomes unreadable is dropped from the index.
    std::fs::write(dir.join("good.md"), b"\xff now broken, and longer").unwrap();
    let report = m.reconcile().unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    assert!(search(&m, "fine").is_empty());
}

#[test]
fn concurrent_appends_lose_nothing() {
    let home = tempfile::tempdir().unwrap();
    Memory::open(home.path()).unwrap();
    const THREADS: usize = 8;
    const LINES: usize = 20;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let home = home.path();
            s.spawn(move || {
                let m = Memory::open(home).unwrap();
                for i in 0..LINES {
                    m.append("shared/log", &format!("line t{t} i{i}")).unwrap();
                }
            });
        }
    });
    let m = Memory::open(home.path()).unwrap();
    let body = m.read("shared/log").unwrap().body;
    for t in 0..THREADS {
        for i in 0..LINES {
            assert!(body.lines().any(|l| l == format!("line t{t} i{i}")), "missing t{t} i{i}");
        }
    }
    assert_eq!(body.lines().count(), THREADS * LINES);
    assert_eq!(m.reconcile().unwrap().updated, 0, "the index matches the file");
}

#[test]
fn concurrent_first_open_creates_one_index() {
    let home = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for t in 0..16 {
            let home = home.path();
            s.spawn(move || {
                let m = Memory::open(home).unwrap();
                m.write(&format!("n{t}"), "shared word", None, &[]).unwrap();
            });
        }
    });
    let m = Memory::open(home.path()).unwrap();
    assert_eq!(search(&m, "shared").len(), 10, "default limit");
    assert_eq!(m.search("shared", &SearchOptions { limit: 100, ..Default::default() }).unwrap().len(), 16);
    assert_eq!(m.list().unwrap().len(), 16);
    let toc = std::fs::read_to_string(m.dir().join("MEMORY_INDEX.md")).unwrap();
    assert_eq!(toc.matches("| - | [n").count(), 16, "{toc}");
}

#[test]
fn ranking_in_two_halves_gives_the_same_hits_as_one_pass() {
    let (_home, mut m) = mem();
    for i in 0..60 {
        let body = format!("{} {FILLER} {}", "garden ".repeat(i % 7 + 1), if i % 3 == 0 { "bicycle tyre" } else { "" });
        m.write(&format!("n{i:02}"), &body, None, &[]).unwrap();
    }
    let queries = ["garden", "bicycle tyre", "\"bicycle tyre\"", "gard*", "garden -bicycle"];
    let whole: Vec<Vec<(String, String)>> = queries
        .iter()
        .map(|q| search(&m, q).into_iter().map(|h| (h.name, format!("{:.6}", h.score))).collect())
        .collect();
    m.index.split_from = 1;
    for (q, expected) in queries.iter().zip(&whole) {
        let halves: Vec<(String, String)> =
            search(&m, q).into_iter().map(|h| (h.name, format!("{:.6}", h.score))).collect();
        assert!(!halves.is_empty(), "{q}");
        assert_eq!(&halves, expected, "{q}");
    }
}

#[test]
fn a_filtered_search_ranks_only_the_notes_that_pass_the_filter() {
    // pyra_bm25 skips rows that cannot reach the best `limit` it has seen; rows that a filter
    // drops must never count among those, or the filtered notes would be cut short.
    let (_home, mut m) = mem();
    for i in 0..40 {
        let (category, times) = if i % 2 == 0 { ("strong", 12) } else { ("weak", i % 5 + 1) };
        let body = format!("{} {FILLER}", "garden ".repeat(times));
        m.write(&format!("{category}/n{i:02}"), &body, None, &[]).unwrap();
    }
    for split_from in [i64::MAX, 1] {
        m.index.split_from = split_from;
        let all = m
            .search("garden", &SearchOptions { limit: 1000, category: Some("weak".into()), ..Default::default() })
            .unwrap();
        assert_eq!(all.len(), 20);
        let best = m
            .search("garden", &SearchOptions { limit: 3, category: Some("weak".into()), ..Default::default() })
            .unwrap();
        let scores = |hits: &[Hit]| hits.iter().map(|h| format!("{:.9}", h.score)).collect::<Vec<_>>();
        assert_eq!(scores(&best), scores(&all[..3]), "split from {split_from}");
        assert!(best.iter().all(|h| h.name.starts_with("weak/")));
    }
}

#[test]
fn a_query_of_only_operator_words_finds_them() {
    let (_home, m) = mem();
    m.write("n", "Stand NEAR the door, AND knock, OR NOT.", None, &[]).unwrap();
    m.write("other", "nothing to see", None, &[]).unwrap();
    assert_eq!(names(&search(&m, "NEAR")), vec!["n"]);
    assert_eq!(names(&search(&m, "AND OR NOT")), vec!["n"]);
    assert_eq!(names(&search(&m, "AND")), vec!["n"]);
}

#[test]
fn an_unchanged_memory_is_reconciled_and_searched_while_a_writer_holds_the_lock() {
    let (home, m) = mem();
    m.write("n", "lock free words", None, &[]).unwrap();
    let held = store::lock(m.dir()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let path = home.path().to_path_buf();
    let reader = std::thread::spawn(move || {
        let other = Memory::open(&path).unwrap();
        let report = other.reconcile().map(|r| (r.added, r.updated, r.removed));
        let hits = other.search("lock", &SearchOptions::default()).map(|h| h.len());
        tx.send((report, hits)).unwrap();
    });
    // Not a timing assertion: the patience only keeps a regression from hanging the suite.
    let got = rx.recv_timeout(std::time::Duration::from_secs(60));
    drop(held);
    reader.join().unwrap();
    let (report, hits) = got.expect("the reconcile waited for the writers' lock although nothing changed");
    assert_eq!(report.unwrap(), (0, 0, 0));
    assert_eq!(hits.unwrap(), 1);
}

#[test]
fn a_change_seen_without_the_lock_is_applied_under_it() {
    let (home, m) = mem();
    m.write("n", "before", None, &[]).unwrap();
    let dir = home.path().join("memory");
    std::fs::write(dir.join("n.md"), "after the outside edit").unwrap();
    std::fs::write(dir.join("new.md"), "a new note").unwrap();
    let report = m.reconcile().unwrap();
    assert_eq!((report.added, report.updated, report.removed), (1, 1, 0), "{report:?}");
    assert_eq!(names(&search(&m, "outside")), vec!["n"]);
    let again = m.reconcile().unwrap();
    assert_eq!((again.added, again.updated, again.removed), (0, 0, 0));
}

#[cfg(unix)]
#[test]
fn folders_that_others_may_use_are_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("memory");
    std::fs::create_dir_all(dir.join("work/projects")).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    for d in ["", "work", "work/projects", "home"] {
        std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(dir.join("work/projects/x.md"), "x").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let m = Memory::open(home.path()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    let report = m.reconcile().unwrap();
    for d in ["work", "work/projects", "home"] {
        assert_eq!(mode(&dir.join(d)), 0o700, "{d}");
    }
    let fixed: Vec<&String> = report.warnings.iter().filter(|w| w.starts_with("fixed permissions of")).collect();
    assert_eq!(fixed.len(), 4, "{report:?}");
    assert!(fixed.iter().any(|w| w.contains(&format!("{} (755 → 700)", dir.display()))), "{report:?}");
    // A write into a category folder fixes it too, and says so.
    std::fs::set_permissions(dir.join("home"), std::fs::Permissions::from_mode(0o775)).unwrap();
    m.write("home/y", "y", None, &[]).unwrap();
    assert_eq!(mode(&dir.join("home")), 0o700);
    assert_eq!(m.take_warnings().len(), 1);
}

#[test]
fn write_refuses_to_replace_a_file_that_is_not_utf8_or_to_drop_broken_front_matter() {
    let (home, m) = mem();
    let dir = home.path().join("memory");
    std::fs::write(dir.join("dropped.md"), b"\xff\xfe user bytes").unwrap();
    assert!(matches!(m.write("dropped", "new text", None, &[]), Err(MemoryError::NotUtf8(..))));
    assert_eq!(std::fs::read(dir.join("dropped.md")).unwrap(), b"\xff\xfe user bytes");

    let err = m.write("n", "---\nsummary: [unclosed\n---\nbody\n", None, &[]).unwrap_err();
    assert!(matches!(err, MemoryError::FrontMatter(..)), "{err}");
    assert!(err.to_string().contains("help: fix the YAML"), "{err}");
    assert!(!dir.join("n.md").exists());
}

#[test]
fn a_missing_note_says_how_to_find_the_notes() {
    let (_home, m) = mem();
    let err = m.read("nope").unwrap_err().to_string();
    assert_eq!(err, "no note named \"nope\"\n  help: `pyra memory list` shows the notes");
}

#[test]
fn reindex_counts_every_file_and_warns_each_time() {
    let (home, m) = mem();
    let dir = home.path().join("memory");
    m.write("good", "fine", None, &[]).unwrap();
    std::fs::write(dir.join("yaml.md"), "---\nsummary: [unclosed\n---\nbody words").unwrap();
    std::fs::write(dir.join("bytes.md"), b"\xff broken").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.md")), "latin-1 name").unwrap();
    }
    let skipped = if cfg!(unix) { 2 } else { 1 };
    for _ in 0..2 {
        let report = m.reindex().unwrap();
        assert_eq!((report.added, report.skipped, report.scanned), (2, skipped, 2 + skipped), "{report:?}");
        assert!(report.warnings.iter().any(|w| w.contains("yaml.md") && w.contains("front matter")), "{report:?}");
        assert!(report.warnings.iter().any(|w| w.contains("bytes.md") && w.contains("not UTF-8")), "{report:?}");
        #[cfg(unix)]
        assert!(report.warnings.iter().any(|w| w.contains("name is not UTF-8")), "{report:?}");
    }
}

#[test]
fn since_takes_dates_times_and_ages() {
    let now = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z").unwrap().with_timezone(&Utc);
    let at = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339());
    assert_eq!(at("2026-03-01T08:00:00+01:00").unwrap(), "2026-03-01T07:00:00+00:00");
    assert_eq!(at("7d").unwrap(), "2026-03-03T12:00:00+00:00");
    assert_eq!(at("1h30m").unwrap(), "2026-03-10T10:30:00+00:00");
    let midnight = chrono::Local.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).earliest().unwrap().with_timezone(&Utc);
    assert_eq!(parse_since("2026-03-01", now).unwrap(), midnight);
    for bad in ["", "yesterday", "2026-13-01", "7", "-7d"] {
        let err = parse_since(bad, now).unwrap_err();
        assert!(err.contains("use a date (2026-01-31)"), "{bad}: {err}");
    }
}
