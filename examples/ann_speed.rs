//! HNSW build and single-thread search speed on low-rank + noise vectors,
//! for profiling without Python (`perf record -g`). Fixed seed; prints one
//! JSON object per run.
//!
//!     cargo run --release -p sightline --example ann_speed -- [n] [threads]
//!
//! Data: `Z W + 0.3 E` (`Z` n × 8, `W` 8 × 64, `E` noise, all standard
//! normal), rows normalised (cosine = inner product). Queries are 1,000
//! indexed items; each one's own row is left out of truth and results.
//! Recall@10 is against an exact scan. Query speed is per second of this
//! thread's CPU time (Linux `schedstat`; wall time elsewhere), best of three,
//! so that other processes on a shared machine distort it less.

use std::time::Instant;

use sightline::content::hnsw::{Hnsw, HnswConfig};
use sightline::linalg::dot;
use sightline::rng::splitmix64;

const DIM: usize = 64;
const RANK: usize = 8;
const K: usize = 10;
const QUERIES: usize = 1000;

/// Standard normal draws from a SplitMix64 stream (Box–Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = splitmix64(self.0);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn lowrank(n: usize, seed: u64) -> Vec<f32> {
    let mut g = Normal(seed);
    let w: Vec<f32> = (0..RANK * DIM).map(|_| g.next()).collect();
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let z: Vec<f32> = (0..RANK).map(|_| g.next()).collect();
        let row: Vec<f32> = (0..DIM)
            .map(|j| (0..RANK).map(|r| z[r] * w[r * DIM + j]).sum::<f32>() + 0.3 * g.next())
            .collect();
        let norm = dot(&row, &row).sqrt();
        out.extend(row.iter().map(|x| x / norm));
    }
    out
}

/// Exact top-`K` of `q` among all rows except `skip`.
fn truth(data: &[f32], q: &[f32], skip: usize) -> Vec<u32> {
    let mut all: Vec<(u32, f32)> = data
        .chunks_exact(DIM)
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(i, r)| (i as u32, dot(r, q)))
        .collect();
    all.select_nth_unstable_by(K, |a, b| b.1.total_cmp(&a.1));
    all.truncate(K);
    all.into_iter().map(|x| x.0).collect()
}

/// Nanoseconds this thread has run on a CPU, or wall-clock nanoseconds
/// where `/proc/thread-self/schedstat` is missing.
fn cpu_ns(wall: Instant) -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| wall.elapsed().as_nanos() as u64)
}

/// CPU seconds of the whole process so far (all threads; Linux, else 0).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

fn main() {
    let clock = Instant::now();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments: n threads"))
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let threads = args.get(1).copied().unwrap_or(2);
    let data = lowrank(n, 20241128);
    let step = n / QUERIES;
    let items: Vec<usize> = (0..QUERIES).map(|i| i * step).collect();
    let truths: Vec<Vec<u32>> = items
        .iter()
        .map(|&i| truth(&data, &data[i * DIM..(i + 1) * DIM], i))
        .collect();
    let config = HnswConfig::default();
    let (t0, c0) = (Instant::now(), process_cpu_s());
    let index = Hnsw::build(data.clone(), DIM, &config, threads).expect("valid data");
    let build_s = t0.elapsed().as_secs_f64();
    let build_cpu_s = process_cpu_s() - c0;
    let mut sweep = Vec::new();
    for ef in [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128] {
        // One pass over the queries: (CPU seconds, hits).
        let pass = || {
            let t0 = cpu_ns(clock);
            let mut hits = 0usize;
            for (&i, t) in items.iter().zip(&truths) {
                let q = &data[i * DIM..(i + 1) * DIM];
                let got = index.search(q, K + 1, ef, None);
                hits += got
                    .iter()
                    .filter(|g| g.0 as usize != i)
                    .take(K)
                    .filter(|g| t.contains(&g.0))
                    .count();
            }
            ((cpu_ns(clock) - t0) as f64 * 1e-9, hits)
        };
        // Passes until 0.3 s of CPU (the CPU clock may tick in ms), best of
        // three such runs: the machine is shared, the fastest is the least
        // disturbed.
        let run = || {
            let (mut dt, mut passes, mut hits) = (0.0, 0usize, 0);
            while dt < 0.3 {
                let (d, h) = pass();
                (dt, passes, hits) = (dt + d, passes + 1, h);
            }
            (dt / passes as f64, hits)
        };
        let (dt, hits) = (0..3)
            .map(|_| run())
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("three runs");
        sweep.push(format!(
            "{{\"ef\":{ef},\"recall\":{:.4},\"qps\":{:.0}}}",
            hits as f64 / (K * QUERIES) as f64,
            QUERIES as f64 / dt
        ));
    }
    println!(
        "{{\"n\":{n},\"dim\":{DIM},\"threads\":{threads},\"build_s\":{build_s:.3},\"build_cpu_s\":{build_cpu_s:.2},\"sweep\":[{}]}}",
        sweep.join(",")
    );
}
