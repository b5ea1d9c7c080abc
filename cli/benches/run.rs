//! The run benchmark (issue 3): W1 cold `pyra run` of a one-node skill (whole process);
//! W2 a 1,000-node chain; W3 a 1 → 1,000 → 1 fan-out and join; W4 100 layers × 100
//! nodes. W2–W4 run in-process once with the durable SQLite store and once with the
//! in-memory store, each workload in a fresh child process so its peak RSS is its own.
//!
//! Run: `cargo bench -p cli --bench run` (add `-- --quick` for fewer repetitions).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use engine::run::{self, MemoryStore, RunStatus, Runtime, SkillText, SqliteStore, Store};

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
impl run::SkillLoader for NoLoader {
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
    let (source, _) = workload(name);
    let text = SkillText { name: name.into(), path: None, display: format!("{name}.yaml"), source };
    let registry = Arc::new(plugins::builtin_registry());
    let t0 = Instant::now();
    if std::env::var_os("PYRA_BENCH_TRACE").is_some() {
        let v = engine::validate_source(engine::SourceFile::new("x", text.source.clone()), &registry);
        eprintln!("after validate: rss {} KiB, peak {} KiB, {:?}", rss_kib("VmRSS:"), peak_rss_kib(), t0.elapsed());
        let checked = v.checked.unwrap();
        drop(v.diagnostics);
        let p = run::program::Program::new(Arc::new(checked.skill), &checked.graph, &registry).unwrap();
        eprintln!("after program: rss {} KiB, peak {} KiB, {:?}", rss_kib("VmRSS:"), peak_rss_kib(), t0.elapsed());
        drop(p);
    }
    let program = run::compile(&registry, &text).expect("valid workload");
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
        observer: Arc::new(run::Silent),
        interaction: None,
        loader: Arc::new(NoLoader),
        paths: Arc::new(engine::paths::PathPolicy::new(dir.path())),
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
    println!("{} {} {}", compile.as_secs_f64() * 1e3, took.as_secs_f64() * 1e3, peak_rss_kib());
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    let exe = std::env::current_exe().expect("exe");
    let pyra = Path::new(env!("CARGO_BIN_EXE_pyra"));

    // W1: the whole `pyra run` process, home already initialised (and the first run).
    let home = tempfile::tempdir().expect("tempdir");
    let skill = home.path().join("one.yaml");
    std::fs::write(&skill, "name: one\nnodes:\n  a:\n    uses: template\n    with: { value: 1 }\noutputs:\n  a: \"{{ nodes.a.output }}\"\n").unwrap();
    let run_once = || {
        let t = Instant::now();
        let out =
            Command::new(pyra).arg("run").arg(&skill).env("PYRA_HOME", home.path().join("h")).output().expect("pyra");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed().as_secs_f64() * 1e3
    };
    let first = run_once();
    let w1: Vec<f64> = (0..if quick { 10 } else { 30 }).map(|_| run_once()).collect();
    let w1 = median(w1);

    println!("Pyra run benchmark (median of {reps} fresh processes per row; release build)");
    println!();
    println!(
        "W1  cold `pyra run`, one template node, whole process: {w1:.2} ms (first run, creating the home: {first:.2} ms)"
    );
    println!();
    println!(
        "{:<26} {:>7} {:>10} {:>11} {:>12} {:>10}",
        "workload", "nodes", "store", "run ms", "µs / node", "peak RSS"
    );
    for (name, label) in [("W2", "W2 chain"), ("W3", "W3 fan-out 1→1000→1"), ("W4", "W4 100 layers × 100")] {
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
    // The same W4 through the binary: parse + validate + compile + run + store.
    let w4 = home.path().join("w4.yaml");
    std::fs::write(&w4, layers(100, 100)).unwrap();
    let whole: Vec<f64> = (0..reps.min(5))
        .map(|_| {
            let t = Instant::now();
            let out =
                Command::new(pyra).arg("run").arg(&w4).env("PYRA_HOME", home.path().join("h")).output().expect("pyra");
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
