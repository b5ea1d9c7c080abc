//! The run benchmark (issue 3): W1 cold `pyra run` of a one-node skill (whole process);
//! W2 a 1,000-node chain; W3 a 1 → 1,000 → 1 fan-out and join; W4 100 layers × 100
//! nodes. W2–W4 run in-process once with the durable SQLite store and once with the
//! in-memory store, each workload in a fresh child process so its peak RSS is its own.
//! M1 masks run-store text (outputs, logs, errors; a few KB) with 50 secrets, with the
//! `Masker`'s one pass and with the replace-per-value loop it replaced (kept here only,
//! as the reference).
//!
//! Run: `cargo bench -p cli --bench run` (add `-- --quick` for fewer repetitions; name
//! cases to run only those, e.g. `-- M1` or `-- W2 W3`). `PYRA_BENCH_LOG=daemon` runs the
//! workloads under the daemon's logging (JSON lines at `info` into a file);
//! `PYRA_BENCH_LOG=otel` with the OpenTelemetry export (crate `telemetry`) sending to a
//! local collector that takes and discards every request, `PYRA_BENCH_LOG=otel-down` to a
//! port nobody listens on (what a collector that is down costs a run).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use runtime::secrets::Masker;
use runtime::{MemoryStore, RunStatus, Runtime, SkillText, SqliteStore, Store};

fn chain(n: usize) -> String {
    let mut s = String::from("name: w2\nnodes:\n  n0:\n    uses: template\n    with: { value: 0 }\n");
    for i in 1..n {
        s.push_str(&format!(
            "  n{i}:\n    uses: template\n    with: {{ value: \"{{{{ nodes.n{}.output + 1 }}}}\" }}\n",
            i - 1
        ));
    }
    s.push_str(&format!("outputs:\n  last: \"{{{{ nodes.n{}.output }}}}\"\n", n - 1));
    s
}

fn fan(n: usize) -> String {
    let mut s = String::from("name: w3\nnodes:\n  src:\n    uses: template\n    with: { value: 1 }\n");
    for i in 0..n {
        s.push_str(&format!(
            "  m{i}:\n    uses: template\n    with: {{ value: \"{{{{ nodes.src.output + {i} }}}}\" }}\n"
        ));
    }
    let refs: Vec<String> = (0..n).map(|i| format!("nodes.m{i}.output")).collect();
    s.push_str(&format!(
        "  join:\n    uses: template\n    with: {{ value: \"{{{{ [{}] | sum }}}}\" }}\n",
        refs.join(", ")
    ));
    s.push_str("outputs:\n  total: \"{{ nodes.join.output }}\"\n");
    s
}

fn layers(depth: usize, width: usize) -> String {
    let mut s = String::from("name: w4\nnodes:\n");
    for j in 0..width {
        s.push_str(&format!("  l0_{j}:\n    uses: template\n    with: {{ value: {j} }}\n"));
    }
    for l in 1..depth {
        for j in 0..width {
            let (a, b) = (j, (j + 1) % width);
            s.push_str(&format!(
                "  l{l}_{j}:\n    uses: template\n    with: {{ value: \"{{{{ [nodes.l{p}_{a}.output, nodes.l{p}_{b}.output] | max + 1 }}}}\" }}\n",
                p = l - 1
            ));
        }
    }
    s.push_str(&format!("outputs:\n  top: \"{{{{ nodes.l{}_0.output }}}}\"\n", depth - 1));
    s
}

fn workload(name: &str) -> (String, usize) {
    match name {
        "W2" => (chain(1000), 1000),
        "W3" => (fan(1000), 1002),
        "W4" => (layers(100, 100), 10_000),
        other => panic!("unknown workload {other}"),
    }
}

struct NoLoader;
impl runtime::SkillLoader for NoLoader {
    fn load(&self, name: &str, _near: Option<&Path>) -> Result<SkillText, String> {
        Err(format!("no skill {name}"))
    }
}

fn peak_rss_kib() -> u64 {
    rss_kib("VmHWM:")
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One measurement in this (child) process: prints `compile_ms run_ms rss_kib`.
fn child(name: &str, store_kind: &str) {
    // PYRA_BENCH_LOG=daemon: the daemon's logging installed (JSON lines at `info` into a
    // log file, through the masking writer), to time what tracing costs a run there.
    let log_dir = tempfile::tempdir().expect("tempdir");
    let log = std::env::var("PYRA_BENCH_LOG").unwrap_or_default();
    match log.as_str() {
        "daemon" => {
            daemon::log::init_daemon(log_dir.path(), false, None);
        }
        "otel" | "otel-down" => otel::install(&log),
        _ => {}
    }
    let (source, _) = workload(name);
    let text = SkillText { name: name.into(), path: None, display: format!("{name}.yaml"), source };
    let registry = Arc::new(plugins::builtin_registry());
    let t0 = Instant::now();
    if std::env::var_os("PYRA_BENCH_TRACE").is_some() {
        let v = lang::validate_source(syntax::SourceFile::new("x", text.source.clone()), &registry);
        eprintln!("after validate: rss {} KiB, peak {} KiB, {:?}", rss_kib("VmRSS:"), peak_rss_kib(), t0.elapsed());
        let checked = v.checked.unwrap();
        drop(v.diagnostics);
        let p = runtime::program::Program::new(Arc::new(checked.skill), &checked.graph, &registry).unwrap();
        eprintln!("after program: rss {} KiB, peak {} KiB, {:?}", rss_kib("VmRSS:"), peak_rss_kib(), t0.elapsed());
        drop(p);
    }
    let program = runtime::compile(&registry, &text).expect("valid workload");
    let compile = t0.elapsed();
    if std::env::var_os("PYRA_BENCH_TRACE").is_some() {
        eprintln!("after compile: rss {} KiB, peak {} KiB", rss_kib("VmRSS:"), peak_rss_kib());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = match store_kind {
        "sqlite" => Arc::new(SqliteStore::open(&dir.path().join("pyra.db")).expect("db")),
        _ => Arc::new(MemoryStore::new()),
    };
    let runtime = Runtime {
        registry,
        store,
        observer: Arc::new(runtime::Silent),
        interaction: None,
        loader: Arc::new(NoLoader),
        paths: Arc::new(paths::PathPolicy::new(dir.path())),
        locks: (store_kind == "sqlite").then(|| dir.path().join("runs")),
        cancel: Default::default(),
        secrets: None,
        masker: Arc::default(),
        security_log: None,
        home: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    if let Some(loops) = std::env::var("PYRA_BENCH_LOOPS").ok().and_then(|l| l.parse::<u32>().ok()) {
        // For profiling the run alone: the same run many times.
        for _ in 0..loops {
            rt.block_on(runtime.start(program.clone(), &text, Default::default())).expect("run");
        }
    }
    let t1 = Instant::now();
    let report = rt.block_on(runtime.start(program, &text, Default::default())).expect("run");
    let took = t1.elapsed();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    if log.starts_with("otel") {
        otel::report();
    }
    println!("{} {} {}", compile.as_secs_f64() * 1e3, took.as_secs_f64() * 1e3, peak_rss_kib());
}

/// PYRA_BENCH_LOG=otel|otel-down: the export layer installed as `pyra run` installs it.
#[cfg(feature = "telemetry")]
mod otel {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A collector that answers 200 to every request and keeps nothing; its base URL.
    fn sink() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err()
                            || writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    pub fn install(mode: &str) {
        let endpoint = if mode == "otel" {
            sink()
        } else {
            let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            format!("http://127.0.0.1:{closed}")
        };
        let export = telemetry::export(telemetry::Settings {
            endpoint,
            headers: Vec::new(),
            service_name: "pyra-bench".into(),
            export_content: false,
            secrets: None,
        });
        // As `pyra run` without -v (cli/src/otel.rs); PYRA_BENCH_OTEL_LAYER=1: as a layer
        // over the registry, as beside a log (the daemon, -v).
        let alone = std::env::var_os("PYRA_BENCH_OTEL_LAYER").is_none().then_some(export.subscriber);
        daemon::log::init_cli(0, Some(daemon::log::Extra { layer: export.layer, alone }));
    }

    /// After the timed run: what was exported and dropped (on stderr).
    pub fn report() {
        telemetry::shutdown();
        if let Some(stats) = telemetry::stats() {
            eprintln!("otel: {} spans exported, {} dropped", stats.exported, stats.dropped);
        }
    }
}

#[cfg(not(feature = "telemetry"))]
mod otel {
    pub fn install(_: &str) {
        panic!("PYRA_BENCH_LOG=otel needs the `telemetry` feature");
    }

    pub fn report() {}
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

fn measure_child(exe: &Path, name: &str, store: &str, reps: usize) -> (f64, f64, f64) {
    let (mut c, mut r, mut m) = (vec![], vec![], vec![]);
    for _ in 0..reps {
        let out = Command::new(exe).args(["--child", name, store]).output().expect("child");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        c.push(v[0]);
        r.push(v[1]);
        m.push(v[2]);
    }
    (median(c), median(r), median(m))
}

/// The masking before the one pass (issue #23), for comparison only: every needle,
/// longest first, replaced in the text the previous replacements produced.
#[derive(Default)]
struct ReplacePerValue {
    needles: Vec<(String, String)>,
}

impl ReplacePerValue {
    fn add(&mut self, name: &str, value: &str) {
        let mut variants = vec![value.to_string(), value.to_uppercase(), value.to_lowercase()];
        if let Ok(json) = serde_json::to_string(value) {
            variants.push(json.trim_matches('"').to_string());
        }
        for v in variants {
            if !v.is_empty() && !self.needles.iter().any(|(n, _)| *n == v) {
                self.needles.push((v, name.to_string()));
            }
        }
        self.needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    }

    fn mask<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for (needle, name) in &self.needles {
            if out.contains(needle.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(needle.as_str(), &format!("[secret:{name}]")));
            }
        }
        out
    }
}

/// 50 secrets as a vault holds them: provider keys, plugin tokens, passwords (16–51 chars).
fn bench_secrets() -> Vec<(String, String)> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut token = |len: usize| -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                CHARS[(seed % CHARS.len() as u64) as usize] as char
            })
            .collect()
    };
    (0..50)
        .map(|i| match i % 5 {
            0 => (format!("PROVIDER{i}_API_KEY"), format!("sk-proj-{}", token(40))),
            1 => (format!("plugin:svc{i}:token"), format!("{}:{}", 7_000_000_000u64 + i as u64 * 7919, token(35))),
            2 => (format!("plugin:git{i}:token"), format!("ghp_{}", token(36))),
            3 => (format!("plugin:mail{i}:password"), format!("{}-{}!", token(10), token(6))),
            _ => (format!("plugin:db{i}:url"), format!("postgres://app:{}@db.internal:5432/app", token(20))),
        })
        .collect()
}

/// What a run writes: an HTTP response kept as an output, a program's log, a model's
/// reply and a node error — 12 KB in all; two hold a secret (as echoed and upper-cased).
fn bench_texts(secrets: &[(String, String)]) -> Vec<String> {
    let mut response = String::from("{\"items\":[");
    for i in 0..24 {
        response.push_str(&format!(
            "{{\"id\":{},\"name\":\"Item number {i}\",\"url\":\"https://api.example.com/v2/items/{}\",\"updated\":\"2026-12-06T10:{:02}:00Z\",\"tags\":[\"sync\",\"batch-{}\"],\"size\":{}}},",
            1000 + i,
            1000 + i,
            i % 60,
            i % 4,
            i * 317
        ));
    }
    response.push_str("{}],\"next\":\"https://api.example.com/v2/items?page=4\"}");
    let mut log = String::new();
    for i in 0..40 {
        log.push_str(&format!(
            "2026-12-06T10:00:{:02}Z INFO sync: fetched {} items from https://api.example.com/v2/items?page={} in {}ms\n",
            i % 60,
            i * 3 + 7,
            i,
            90 + i * 7
        ));
        if i == 20 {
            log.push_str(&format!("2026-12-06T10:00:20Z DEBUG request: Authorization: Bearer {}\n", secrets[7].1));
        }
    }
    let mut reply = String::new();
    for i in 0..12 {
        reply.push_str(&format!(
            "Paragraph {i}. The sync ran for the whole catalogue; nothing failed, and the slowest page took a little longer than usual because the upstream service was rate limiting. "
        ));
        if i == 6 {
            reply.push_str(&format!("(The config mentions {}.) ", secrets[31].1.to_uppercase()));
        }
        reply.push('\n');
    }
    let error = "`curl` exited with code 22: curl: (22) The requested URL returned error: 503 Service Unavailable; \
                 retry in 2s (attempt 2 of 3) while fetching https://api.example.com/v2/items?page=3"
        .to_string();
    vec![response, log, reply, error]
}

/// M1: per-call time of masking run-store text with 50 secrets, both ways.
fn masking_case(reps: usize) {
    let secrets = bench_secrets();
    let texts = bench_texts(&secrets);
    let masker = Masker::default();
    let mut old = ReplacePerValue::default();
    for (name, value) in &secrets {
        masker.add(name, value);
        old.add(name, value);
    }
    for text in &texts {
        assert_eq!(masker.mask(text), old.mask(text), "both hide the same here");
    }
    let masked = texts.iter().filter(|t| masker.mask(t) != t.as_str()).count();
    assert_eq!(masked, 2);
    let per_call = |f: &dyn Fn(&str) -> usize| -> f64 {
        let rounds = 400;
        let t = Instant::now();
        let mut sink = 0;
        for _ in 0..rounds {
            for text in &texts {
                sink += f(std::hint::black_box(text));
            }
        }
        std::hint::black_box(sink);
        t.elapsed().as_secs_f64() * 1e6 / (rounds * texts.len()) as f64
    };
    let (mut before, mut now, mut first, mut idle) = (vec![], vec![], vec![], vec![]);
    for _ in 0..reps {
        before.push(per_call(&|t| old.mask(t).len()));
        now.push(per_call(&|t| masker.mask(t).len()));
        // A fresh masker: the first mask after the adds builds the automaton.
        let fresh = Masker::default();
        for (name, value) in &secrets {
            fresh.add(name, value);
        }
        let t = Instant::now();
        std::hint::black_box(fresh.mask(&texts[0]));
        first.push(t.elapsed().as_secs_f64() * 1e6);
        let inactive = Masker::default();
        idle.push(per_call(&|t| inactive.mask(t).len()));
    }
    let (before, now) = (median(before), median(now));
    let bytes: usize = texts.iter().map(String::len).sum();
    println!(
        "M1  masking run-store text, 50 secrets ({} texts, {:.1} KB, {masked} holding a secret), µs per call:",
        texts.len(),
        bytes as f64 / 1024.0
    );
    println!("    replace per value (before): {before:.2}   one pass: {now:.2}   ratio {:.1}×", before / now);
    println!(
        "    first mask after adding the 50 (builds the automaton): {:.0} µs; no secret read yet: {:.3} µs",
        median(first),
        median(idle)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    // Case names given (`-- M1`, `-- W2 W3`): only those run.
    let cases: Vec<String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).map(|a| a.to_uppercase()).collect();
    let wanted = |case: &str| cases.is_empty() || cases.iter().any(|c| c == case);
    let exe = std::env::current_exe().expect("exe");
    let pyra = Path::new(env!("CARGO_BIN_EXE_pyra"));

    println!("Pyra run benchmark (median of {reps} fresh processes per row; release build)");

    // W1: the whole `pyra run` process, home already initialised (and the first run).
    let home = tempfile::tempdir().expect("tempdir");
    if wanted("W1") {
        let skill = home.path().join("one.yaml");
        std::fs::write(&skill, "name: one\nnodes:\n  a:\n    uses: template\n    with: { value: 1 }\noutputs:\n  a: \"{{ nodes.a.output }}\"\n").unwrap();
        let run_once = || {
            let t = Instant::now();
            let out = Command::new(pyra)
                .arg("run")
                .arg(&skill)
                .env("PYRA_HOME", home.path().join("h"))
                .output()
                .expect("pyra");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            t.elapsed().as_secs_f64() * 1e3
        };
        let first = run_once();
        let w1: Vec<f64> = (0..if quick { 10 } else { 30 }).map(|_| run_once()).collect();
        let w1 = median(w1);
        println!();
        println!(
            "W1  cold `pyra run`, one template node, whole process: {w1:.2} ms (first run, creating the home: {first:.2} ms)"
        );
    }
    let workloads = [("W2", "W2 chain"), ("W3", "W3 fan-out 1→1000→1"), ("W4", "W4 100 layers × 100")];
    if workloads.iter().any(|(name, _)| wanted(name)) {
        println!();
        println!(
            "{:<26} {:>7} {:>10} {:>11} {:>12} {:>10}",
            "workload", "nodes", "store", "run ms", "µs / node", "peak RSS"
        );
    }
    for (name, label) in workloads.into_iter().filter(|(name, _)| wanted(name)) {
        let nodes = workload(name).1;
        for store in ["sqlite", "memory"] {
            let (compile, run_ms, rss) = measure_child(&exe, name, store, reps);
            println!(
                "{:<26} {:>7} {:>10} {:>11.2} {:>12.2} {:>8.1} MB   (compile {:.1} ms)",
                label,
                nodes,
                if store == "sqlite" { "durable" } else { "memory" },
                run_ms,
                run_ms * 1000.0 / nodes as f64,
                rss / 1024.0,
                compile
            );
        }
    }
    if wanted("W4") {
        // The same W4 through the binary: parse + validate + compile + run + store.
        let w4 = home.path().join("w4.yaml");
        std::fs::write(&w4, layers(100, 100)).unwrap();
        let whole: Vec<f64> = (0..reps.min(5))
            .map(|_| {
                let t = Instant::now();
                let out = Command::new(pyra)
                    .arg("run")
                    .arg(&w4)
                    .env("PYRA_HOME", home.path().join("h"))
                    .output()
                    .expect("pyra");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!();
        println!(
            "W4 through `pyra run` (whole process: parse, validate, compile, run, durable store): {:.1} ms",
            median(whole)
        );
    }
    if wanted("M1") {
        println!();
        masking_case(reps);
    }
}
