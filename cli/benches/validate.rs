//! Benchmark: `pyra skill validate` as a whole process (release build) on generated skills
//! of 1,000, 5,000 and 10,000 nodes, as chains and as layered DAGs whose nodes refer to the
//! previous layer through templates. Prints median / min / max wall time and peak RSS.
//!
//! Run: `cargo bench -p cli --bench validate` (add `-- --quick` for fewer repetitions).

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn chain(n: usize) -> String {
    let mut s = String::from("name: chain\ninputs:\n  x: { type: string, default: a }\nnodes:\n");
    s.push_str("  n0:\n    uses: template\n    with: { value: \"{{ inputs.x }}\" }\n");
    for i in 1..n {
        s.push_str(&format!(
            "  n{i}:\n    uses: template\n    with:\n      value: \"{{{{ nodes.n{}.output }}}}-{{{{ inputs.x }}}}\"\n",
            i - 1
        ));
    }
    s.push_str(&format!("outputs:\n  last: \"{{{{ nodes.n{}.output }}}}\"\n", n - 1));
    s
}

fn layered(n: usize, width: usize) -> String {
    let mut s = String::from("name: layered\ninputs:\n  x: { type: integer, default: 1 }\nnodes:\n");
    for i in 0..n {
        let layer = i / width;
        if layer == 0 {
            s.push_str(&format!("  n{i}:\n    uses: template\n    with: {{ value: \"{{{{ inputs.x + {i} }}}}\" }}\n"));
            continue;
        }
        let prev = (layer - 1) * width;
        let a = prev + (i * 7) % width;
        let b = prev + (i * 13 + 3) % width;
        let c = prev + (i * 5 + 1) % width;
        s.push_str(&format!(
            "  n{i}:\n    uses: template\n    needs: [n{c}]\n    if: nodes.n{a}.output > 0\n    with:\n      value: |\n        {{% for v in [nodes.n{a}.output, nodes.n{b}.output] %}}{{{{ v }}}}{{% endfor %}}\n    retry: {{ attempts: 3, backoff: 1s }}\n    timeout: 30s\n"
        ));
    }
    s
}

/// Runs `pyra skill validate FILE` `reps` times in a child process of our own and returns
/// (wall times, peak RSS in KiB of those runs).
fn measure(pyra: &Path, file: &Path, reps: usize) -> (Vec<Duration>, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--measure")
        .arg(pyra)
        .arg(file)
        .arg(reps.to_string())
        .output()
        .expect("measure child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut times = Vec::new();
    let mut rss = 0;
    for line in text.lines() {
        if let Some(ns) = line.strip_prefix("time ") {
            times.push(Duration::from_nanos(ns.parse().unwrap()));
        } else if let Some(kib) = line.strip_prefix("maxrss ") {
            rss = kib.parse().unwrap();
        }
    }
    assert!(!times.is_empty(), "measurement failed: {}", String::from_utf8_lossy(&out.stderr));
    (times, rss)
}

/// The child side: run the validations and report rusage of the grandchildren.
fn measure_child(pyra: &str, file: &str, reps: usize) {
    for _ in 0..reps {
        let start = Instant::now();
        let status = Command::new(pyra)
            .args(["skill", "validate", file])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run pyra");
        let elapsed = start.elapsed();
        assert!(status.success(), "validation of {file} failed");
        println!("time {}", elapsed.as_nanos());
    }
    // SAFETY-free: libc::getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe_free_zeroed();
    let rc = unsafe_free_getrusage(&mut usage);
    assert_eq!(rc, 0);
    println!("maxrss {}", usage.ru_maxrss);
}

#[allow(unsafe_code)]
fn unsafe_free_zeroed() -> libc::rusage {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

#[allow(unsafe_code)]
fn unsafe_free_getrusage(usage: &mut libc::rusage) -> i32 {
    // SAFETY: `usage` is a valid, exclusively borrowed rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage) }
}

fn fmt(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3], args[4].parse().unwrap());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let pyra = PathBuf::from(env!("CARGO_BIN_EXE_pyra"));
    let dir = tempfile::tempdir().unwrap();
    println!("pyra skill validate, whole process, release build ({})", pyra.display());
    println!(
        "{:<10} {:>7} {:>9}  {:>10} {:>10} {:>10}  {:>10}",
        "shape", "nodes", "size", "median", "min", "max", "peak RSS"
    );
    let baseline = {
        let f = dir.path().join("tiny.yaml");
        std::fs::write(&f, chain(2)).unwrap();
        measure(&pyra, &f, if quick { 5 } else { 21 })
    };
    let mut times = baseline.0.clone();
    times.sort();
    println!(
        "{:<10} {:>7} {:>9}  {:>10} {:>10} {:>10}  {:>7} MiB",
        "chain",
        2,
        "—",
        fmt(times[times.len() / 2]),
        fmt(times[0]),
        fmt(*times.last().unwrap()),
        baseline.1 / 1024
    );
    for n in [1_000, 5_000, 10_000] {
        for (shape, text) in [("chain", chain(n)), ("layered", layered(n, 25))] {
            let f = dir.path().join(format!("{shape}-{n}.yaml"));
            std::fs::write(&f, &text).unwrap();
            let reps = match (quick, n) {
                (true, _) => 3,
                (false, 1_000) => 21,
                (false, 5_000) => 11,
                _ => 7,
            };
            let (mut times, rss) = measure(&pyra, &f, reps);
            times.sort();
            println!(
                "{:<10} {:>7} {:>6} KB  {:>10} {:>10} {:>10}  {:>7.1} MiB",
                shape,
                n,
                text.len() / 1000,
                fmt(times[times.len() / 2]),
                fmt(times[0]),
                fmt(*times.last().unwrap()),
                rss as f64 / 1024.0
            );
        }
    }
    println!("targets: 1,000 nodes <= 50 ms, 10,000 nodes <= 500 ms (median)");
}
