//! The memory benchmark (issue 5): generates 10,000 and 100,000 notes of realistic sizes
//! (0.5–5 KB of words, front matter on a third of them) and reports the full reindex
//! time, search latency p50 / p95 for single words, phrases and prefix queries, the
//! start-up reconcile of an unchanged memory, the index size and the time of one write.
//!
//! Run: `cargo bench -p cli --bench memory` (add `-- --quick` for 10,000 notes only, `-- --count N` for N notes).

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use memory::{Memory, SearchOptions};

const WORDS: &[&str] = &[
    "meeting",
    "project",
    "garden",
    "invoice",
    "travel",
    "berlin",
    "hamburg",
    "recipe",
    "bread",
    "flour",
    "train",
    "ticket",
    "doctor",
    "appointment",
    "birthday",
    "present",
    "kepler",
    "release",
    "checklist",
    "review",
    "budget",
    "holiday",
    "weather",
    "umbrella",
    "coffee",
    "library",
    "novel",
    "chapter",
    "guitar",
    "lesson",
    "running",
    "marathon",
    "insurance",
    "contract",
    "landlord",
    "repair",
    "bicycle",
    "tyre",
    "passport",
    "visa",
    "museum",
    "concert",
    "ticket",
    "dentist",
    "vitamin",
    "tomato",
    "basil",
    "compost",
    "server",
    "backup",
    "password",
    "router",
    "printer",
    "ink",
];

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A pronounceable made-up word for a vocabulary rank.
fn synthetic(mut rank: u64) -> String {
    const SYLLABLES: &[&str] =
        &["ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "de", "po", "len", "tar", "bel", "gis"];
    let mut word = String::new();
    loop {
        word.push_str(SYLLABLES[(rank % SYLLABLES.len() as u64) as usize]);
        rank /= SYLLABLES.len() as u64;
        if rank == 0 {
            break;
        }
    }
    word
}

fn generate(dir: &Path, count: usize) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let categories = ["work", "home", "travel", "health", "projects/pyra", "reading", ""];
    for i in 0..count {
        let category = categories[i % categories.len()];
        let folder = if category.is_empty() { dir.to_path_buf() } else { dir.join(category) };
        std::fs::create_dir_all(&folder).unwrap();
        let size = 500 + (rng(&mut seed) % 4500) as usize;
        let mut text = String::with_capacity(size + 200);
        if i % 3 == 0 {
            text.push_str(&format!(
                "---\nsummary: note {i} about {}\nkeywords: [{}]\n---\n",
                WORDS[i % WORDS.len()],
                WORDS[(i * 7) % WORDS.len()]
            ));
        }
        text.push_str(&format!("# Note {i}\n\n"));
        while text.len() < size {
            // Realistic text: mostly a long-tailed vocabulary (about Zipf: log-uniform
            // ranks over 20,000 words), with the named words one token in twenty.
            if rng(&mut seed).is_multiple_of(20) {
                text.push_str(WORDS[(rng(&mut seed) % WORDS.len() as u64) as usize]);
            } else {
                let u = (rng(&mut seed) % 1_000_000) as f64 / 1_000_000.0;
                let rank = (20_000f64).powf(u) as u64;
                text.push_str(&synthetic(rank));
            }
            text.push(if rng(&mut seed).is_multiple_of(12) { '\n' } else { ' ' });
        }
        std::fs::write(folder.join(format!("note-{i:06}.md")), text).unwrap();
    }
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(count: usize) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("memory");
    let t = Instant::now();
    generate(&dir, count);
    let generated = t.elapsed();
    let memory = Memory::open(home.path()).unwrap();
    let t = Instant::now();
    let report = memory.reindex().unwrap();
    let reindex = t.elapsed();
    assert_eq!(report.scanned, count);
    // A fresh process at start-up: open and reconcile an unchanged memory.
    drop(memory);
    let t = Instant::now();
    let memory = Memory::open(home.path()).unwrap();
    let unchanged = memory.reconcile().unwrap();
    let reconcile = t.elapsed();
    assert_eq!(unchanged.updated + unchanged.added + unchanged.removed, 0);
    let index_bytes = std::fs::metadata(dir.join(".index.db")).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join(".index.db-wal")).map(|m| m.len()).unwrap_or(0);
    let options = SearchOptions { limit: 10, category: None, since: None };
    let mut seed = 7u64;
    // `PYRA_BENCH_SLOWEST=1` also prints each kind's five slowest queries (where a tail
    // comes from: always the same queries, or noise).
    let show_slowest = std::env::var_os("PYRA_BENCH_SLOWEST").is_some();
    let mut run = |make: &dyn Fn(&mut u64) -> String| {
        let mut times = Vec::new();
        let mut slowest = Vec::new();
        for _ in 0..200 {
            let query = make(&mut seed);
            let t = Instant::now();
            let hits = memory.search(&query, &options).unwrap();
            let took = t.elapsed();
            times.push(took);
            slowest.push((took, query, hits.len()));
            std::hint::black_box(hits);
        }
        if show_slowest {
            slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            for (took, query, n) in slowest.iter().take(5) {
                println!("            slow: {query:<24} {:.2} ms ({n} hits)", took.as_secs_f64() * 1e3);
            }
        }
        (percentile(times.clone(), 0.5), percentile(times, 0.95))
    };
    let word = |s: &mut u64| WORDS[(rng(s) % WORDS.len() as u64) as usize].to_string();
    let phrase = |s: &mut u64| {
        format!(
            "\"{} {}\"",
            WORDS[(rng(s) % WORDS.len() as u64) as usize],
            WORDS[(rng(s) % WORDS.len() as u64) as usize]
        )
    };
    let prefix = |s: &mut u64| format!("{}*", &WORDS[(rng(s) % WORDS.len() as u64) as usize][..3]);
    let (w50, w95) = run(&word);
    let (p50, p95) = run(&phrase);
    let (x50, x95) = run(&prefix);
    // Five letters: past the prefix indexes (2–4 characters), FTS5 merges every term.
    let long_prefix = |s: &mut u64| {
        let w = WORDS[(rng(s) % WORDS.len() as u64) as usize];
        format!("{}*", &w[..w.len().min(5)])
    };
    let (l50, l95) = run(&long_prefix);
    // A write (file, index and MEMORY_INDEX.md in one step) into the full memory.
    let mut writes = Vec::new();
    for i in 0..21 {
        let t = Instant::now();
        memory.write(&format!("bench/new-{i}"), "A new note about the garden and the bicycle.", None, &[]).unwrap();
        writes.push(t.elapsed());
    }
    let write = percentile(writes, 0.5);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{count:>7} notes | generate {:>7.0} ms | reindex {:>8.0} ms | reconcile (unchanged) {:>6.1} ms | index {:>5} MB",
        ms(generated),
        ms(reindex),
        ms(reconcile),
        index_bytes / 1_000_000
    );
    println!(
        "          search p50/p95: word {:.2}/{:.2} ms, phrase {:.2}/{:.2} ms, prefix {:.2}/{:.2} ms, 5-letter prefix {:.2}/{:.2} ms",
        ms(w50),
        ms(w95),
        ms(p50),
        ms(p95),
        ms(x50),
        ms(x95),
        ms(l50),
        ms(l95)
    );
    println!("          write one note (median of 21): {:.1} ms", ms(write));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let counts: Vec<usize> = if let Some(i) = args.iter().position(|a| a == "--count") {
        vec![args.get(i + 1).and_then(|n| n.parse().ok()).expect("--count N")]
    } else if args.iter().any(|a| a == "--quick") {
        vec![10_000]
    } else {
        vec![10_000, 100_000]
    };
    println!("Pyra memory benchmark (release build; 200 queries of each kind, limit 10)");
    for count in counts {
        measure(count);
    }
}
