//! Times the web UI's SVG drawings: `dag()` for a 1,000-node skill and a 10-node chain,
//! `timeline()` for 1,000 bars (median, min and max of 15 runs, and the output size).
//! Run with `cargo bench -p web --bench svg` (a release build). The target: a
//! 1,000-node DAG in at most 100 ms.

#![allow(clippy::print_stdout, reason = "a benchmark binary prints its figures")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use web::svg::{Bar, DagNode, dag, timeline};

const RUNS: usize = 15;

fn main() {
    let big = random_dag(1_000, 0x5eed);
    let chain: Vec<DagNode> = (0..10)
        .map(|i| DagNode {
            id: format!("step_{i}"),
            kind: "template".to_owned(),
            deps: if i == 0 { Vec::new() } else { vec![format!("step_{}", i - 1)] },
        })
        .collect();
    let states = |id: &str| -> Option<&'static str> {
        match id.len() % 4 {
            0 => Some("succeeded"),
            1 => Some("running"),
            2 => Some("failed"),
            _ => None,
        }
    };
    report("svg dag 1000 nodes", || dag(black_box(&big), &states));
    report("svg dag 10-node chain", || dag(black_box(&chain), &states));
    let bars = bars(1_000);
    let now = bars.iter().map(|b| b.end.unwrap_or(b.start)).max().unwrap_or(0) + 5_000;
    report("svg timeline 1000 bars", || timeline(black_box(&bars), now));
}

/// Runs `draw` [`RUNS`] times after one warm-up and prints median, min, max and size.
fn report(name: &str, draw: impl Fn() -> String) {
    let size = black_box(draw()).len();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(draw());
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "{name}: median {:.2} ms (min {:.2}, max {:.2}), {} KiB",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1]),
        size.div_ceil(1024),
    );
}

/// A fixed linear congruential generator: random-looking but the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % below.max(1)
    }
}

/// `count` nodes; each after the first depends on 1–3 earlier nodes, mostly among the 60
/// before it (a deep graph with wide layers), sometimes anywhere before it (long edges).
fn random_dag(count: usize, seed: u64) -> Vec<DagNode> {
    let mut rng = Lcg(seed);
    let kinds = ["http", "template", "exec", "llm", "file.read", "approval"];
    (0..count)
        .map(|i| {
            let mut deps = Vec::new();
            if i > 0 {
                for _ in 0..1 + rng.next(3) {
                    let back = if rng.next(10) == 0 { 1 + rng.next(i) } else { 1 + rng.next(i.min(60)) };
                    deps.push(format!("node_{:04}", i - back));
                }
            }
            DagNode { id: format!("node_{i:04}"), kind: kinds[rng.next(kinds.len())].to_owned(), deps }
        })
        .collect()
}

/// 1,000 bars over 950 nodes: every fourth of the first 200 nodes failed once and was
/// retried, the last five still open.
fn bars(count: usize) -> Vec<Bar> {
    let mut rng = Lcg(7);
    let mut out = Vec::with_capacity(count);
    let t0 = 1_765_000_000_000_i64;
    let mut node = 0;
    while out.len() < count {
        let start = t0 + node as i64 * 150 + rng.next(500) as i64;
        let took = 100 + rng.next(20_000) as i64;
        let open = out.len() + 5 >= count;
        let retried = node < 200 && node % 4 == 0 && !open;
        out.push(Bar {
            node: format!("node_{node:04}"),
            attempt: 1,
            start,
            end: if open { None } else { Some(start + took) },
            state: if retried {
                "failed"
            } else if open {
                "running"
            } else {
                "succeeded"
            }
            .to_owned(),
        });
        if retried && out.len() < count {
            out.push(Bar {
                node: format!("node_{node:04}"),
                attempt: 2,
                start: start + took + 1_000,
                end: Some(start + 2 * took + 1_000),
                state: "succeeded".to_owned(),
            });
        }
        node += 1;
    }
    out
}
