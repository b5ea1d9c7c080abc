//! The hybrid memory benchmark (issue 17), with the local WordLlama embedder (256 dims):
//! indexing 10,000 notes (chunking, embedding, storing; the bm25-only reindex beside it),
//! then 25,000 notes of four paragraphs — 100,000 chunks — searched 200 times each: hybrid
//! (query embedded locally, both arms, RRF), the vector arm alone and bm25 alone, p50 and
//! p95; the first (cold) search that loads the vectors; the vectors' bytes in memory and the
//! process's RSS before and after loading them; int8 and f32.
//!
//! Run: `PYRA_EMBED_MODEL="$(tests/fixtures/embed-model/fetch.sh)" cargo bench -p cli --bench
//! memory_vectors` (add `-- --quick` for the 10,000-note part only).

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memory::{Memory, Quantize, SearchOptions, VectorSettings};

/// Everyday words, so the tokenizer sees text like a person's notes.
const WORDS: &[&str] = &[
    "meeting",
    "project",
    "garden",
    "invoice",
    "travel",
    "train",
    "ticket",
    "doctor",
    "appointment",
    "birthday",
    "present",
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
    "passport",
    "museum",
    "concert",
    "dentist",
    "vitamin",
    "kitchen",
    "window",
    "morning",
    "evening",
    "friend",
    "family",
    "school",
    "teacher",
    "market",
    "bread",
    "cheese",
    "apple",
    "lemon",
    "dinner",
    "lunch",
    "server",
    "backup",
    "deploy",
    "error",
    "ticket",
    "customer",
    "design",
    "report",
    "quarter",
    "planning",
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "for",
    "with",
    "on",
    "after",
    "before",
    "about",
    "because",
    "until",
    "we",
    "I",
    "they",
    "should",
    "could",
    "need",
    "want",
    "check",
    "call",
    "write",
    "read",
    "bring",
    "remember",
    "tomorrow",
    "yesterday",
    "week",
    "month",
    "year",
    "early",
    "late",
    "again",
    "quickly",
    "carefully",
    "new",
    "old",
    "small",
    "large",
    "blue",
    "green",
    "warm",
    "cold",
    "quiet",
    "busy",
    "open",
    "closed",
    "ready",
];

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A pronounceable made-up word for a vocabulary rank (the long tail of a person's words:
/// names, places, jargon).
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

/// `count` notes of four paragraphs of 700–1,100 characters (four chunks each), from
/// `first`: one word in four from the everyday list, the rest from a long-tailed
/// vocabulary (log-uniform ranks over 20,000 words), as `--bench memory` writes them.
fn generate(dir: &Path, first: usize, count: usize) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ first as u64;
    for i in first..first + count {
        let folder = dir.join(["work", "home", "travel", "health", "reading"][i % 5]);
        std::fs::create_dir_all(&folder).unwrap();
        let mut text = format!("# Note {i}\n");
        for _ in 0..4 {
            text.push('\n');
            let size = 700 + (rng(&mut seed) % 400) as usize;
            let start = text.len();
            while text.len() - start < size {
                if rng(&mut seed).is_multiple_of(4) {
                    text.push_str(WORDS[(rng(&mut seed) % WORDS.len() as u64) as usize]);
                } else {
                    let u = (rng(&mut seed) % 1_000_000) as f64 / 1_000_000.0;
                    text.push_str(&synthetic((20_000f64).powf(u) as u64));
                }
                text.push(if rng(&mut seed).is_multiple_of(11) { '.' } else { ' ' });
                if text.ends_with('.') {
                    text.push(' ');
                }
            }
            text.push('\n');
        }
        std::fs::write(folder.join(format!("note-{i:06}.md")), text).unwrap();
    }
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The process's resident set (Linux), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("PYRA_EMBED_MODEL").map(PathBuf::from);
    dir.filter(|d| d.is_dir()).unwrap_or_else(|| {
        panic!("set PYRA_EMBED_MODEL to the local model's folder: export PYRA_EMBED_MODEL=\"$(tests/fixtures/embed-model/fetch.sh)\"")
    })
}

fn queries(seed: &mut u64) -> Vec<String> {
    (0..200)
        .map(|_| {
            let n = 2 + (rng(seed) % 4) as usize;
            (0..n).map(|_| WORDS[(rng(seed) % 60) as usize]).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let load = Instant::now();
    let embedder = Arc::new(memory::local::StaticEmbedder::load(&model_dir(), None).unwrap());
    println!(
        "Pyra hybrid memory benchmark (release build; local WordLlama l2_supercat_256, model loaded in {:.0} ms)",
        ms(load.elapsed())
    );

    // Indexing 10,000 notes.
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("memory");
    generate(&dir, 0, 10_000);
    let plain = Memory::open(home.path()).unwrap();
    let t = Instant::now();
    plain.reindex().unwrap();
    let bm25_only = t.elapsed();
    drop(plain);
    let memory = Memory::open(home.path()).unwrap().with_vectors(Some(VectorSettings::new(embedder.clone())));
    let t = Instant::now();
    let report = memory.reindex().unwrap();
    let with_vectors = t.elapsed();
    let (chunks, embedded) = memory.vector_counts().unwrap();
    println!(
        "index 10,000 notes ({chunks} chunks): {:.2} s with embeddings ({} texts embedded, {embedded} chunks with \
         vectors); bm25 only {:.2} s   [target ≤ 10 s]",
        with_vectors.as_secs_f64(),
        report.embedded,
        bm25_only.as_secs_f64()
    );
    let t = Instant::now();
    let again = memory.reindex().unwrap();
    println!(
        "reindex again (every vector from the cache): {:.2} s, {} texts embedded",
        t.elapsed().as_secs_f64(),
        again.embedded
    );
    if quick {
        return;
    }

    // 100,000 chunks: 15,000 more notes.
    generate(&dir, 10_000, 15_000);
    let t = Instant::now();
    let report = memory.reconcile().unwrap();
    let (chunks, _) = memory.vector_counts().unwrap();
    println!(
        "reconcile 15,000 new notes: {:.2} s ({} texts embedded); {chunks} chunks in all",
        t.elapsed().as_secs_f64(),
        report.embedded
    );
    drop(memory);
    for quantize in [Quantize::F32, Quantize::Int8] {
        let mut settings = VectorSettings::new(embedder.clone());
        settings.quantize = quantize;
        let before = rss_mib();
        let memory = Memory::open(home.path()).unwrap().with_vectors(Some(settings));
        let options = SearchOptions { limit: 10, ..Default::default() };
        let t = Instant::now();
        memory.search("coffee with a friend", &options).unwrap();
        let cold = t.elapsed();
        let (n, bytes) = memory.loaded_vectors().unwrap_or((0, 0));
        println!(
            "{quantize:?}: first search (loads {n} vectors) {:.0} ms; vectors {:.1} MiB in memory; RSS {:.0} → {:.0} MiB",
            ms(cold),
            bytes as f64 / (1024.0 * 1024.0),
            before,
            rss_mib()
        );
        let mut seed = 11u64;
        let qs = queries(&mut seed);
        let time = |f: &dyn Fn(&str) -> usize| {
            let times: Vec<Duration> = qs
                .iter()
                .map(|q| {
                    let t = Instant::now();
                    std::hint::black_box(f(q));
                    t.elapsed()
                })
                .collect();
            (percentile(times.clone(), 0.5), percentile(times, 0.95))
        };
        let (h50, h95) = time(&|q| memory.search(q, &options).unwrap().len());
        let (v50, v95) = time(&|q| memory.search_vectors(q, &options).unwrap().len());
        let (e50, e95) = time(&|q| embedder.vector(q).len());
        println!(
            "  search at {chunks} chunks, p50 / p95: hybrid {:.2} / {:.2} ms [target p95 ≤ 15 ms]; vector arm {:.2} / \
             {:.2} ms; query embedding alone {:.3} / {:.3} ms",
            ms(h50),
            ms(h95),
            ms(v50),
            ms(v95),
            ms(e50),
            ms(e95)
        );
    }
    let plain = Memory::open(home.path()).unwrap();
    let options = SearchOptions { limit: 10, ..Default::default() };
    let mut seed = 11u64;
    let times: Vec<Duration> = queries(&mut seed)
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(plain.search(q, &options).unwrap());
            t.elapsed()
        })
        .collect();
    println!(
        "  bm25 alone (provider: none), p50 / p95: {:.2} / {:.2} ms",
        ms(percentile(times.clone(), 0.5)),
        ms(percentile(times, 0.95))
    );
}
