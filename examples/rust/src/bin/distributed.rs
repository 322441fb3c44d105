//! Distributed calibration with libgptaq from Rust.
//!
//! Two workers (threads here; processes or machines in practice) each stream their half
//! of the calibration tokens into their own `Quantizer`, serialize the statistics to bytes
//! (`Vec<u8>`: send them over any transport) and hand them to a coordinator, which merges
//! them and solves. The codes are identical to one worker streaming all of the data.
//!
//!   distributed [--columns C] [--rows R] [--tokens T] [--batch B]
use gptaq::{Backend, Config, Method, Quantizer, StatsMode};
use std::sync::mpsc;
use std::thread;

/// A 64-bit LCG: the same data on every run and every worker.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Correlated calibration activations (tokens x columns) and a weight (rows x columns).
fn make_data(columns: usize, rows: usize, tokens: usize) -> (Vec<f32>, Vec<f32>) {
    let mut r = Rng(2026);
    let basis: Vec<f32> = (0..8 * columns).map(|_| r.next()).collect();
    let mut x = vec![0f32; tokens * columns];
    for t in 0..tokens {
        let c: Vec<f32> = (0..8).map(|_| 2.0 * r.next()).collect();
        for j in 0..columns {
            let mut v = 0.3 * r.next();
            for (i, ci) in c.iter().enumerate() {
                v += ci * basis[i * columns + j];
            }
            x[t * columns + j] = v;
        }
    }
    let w = (0..rows * columns).map(|_| 0.2 * r.next()).collect();
    (x, w)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{} {}: {}", name, v, e)))
        .unwrap_or(default)
}

fn main() -> Result<(), gptaq::Error> {
    let columns = arg("--columns", 256);
    let rows = arg("--rows", 128);
    let tokens = arg("--tokens", 2048);
    // Tokens per batch. fp32 sums depend on the order of additions: a worker's batches are
    // summed into its statistics and the workers' sums are added at the merge, so one
    // worker reproduces the merged sums bit for bit when it streams the same shards as
    // its batches (the default: one batch per half). Smaller batches agree to fp32
    // rounding, which can flip a code sitting on a rounding boundary.
    let batch = arg("--batch", tokens / 2);
    assert!(tokens % 2 == 0 && batch > 0);
    let cfg = Config { method: Method::Gptq, bits: 4, group_size: 64, act_order: true, backend: Backend::Cpu, ..Config::default() };
    let (x, w) = make_data(columns, rows, tokens);
    let half = tokens / 2 * columns;

    // Two workers, each on its half; the statistics travel as bytes.
    let (tx, rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let mut workers = Vec::new();
    for (id, shard) in [x[..half].to_vec(), x[half..].to_vec()].into_iter().enumerate() {
        let tx = tx.clone();
        workers.push(thread::spawn(move || -> Result<(), gptaq::Error> {
            let mut q = Quantizer::new(columns, cfg)?;
            for b in shard.chunks(batch * columns) {
                q.add_batch(b, None)?;
            }
            let bytes = q.serialize_stats()?;
            println!("worker {}: {} tokens, {} bytes of statistics", id, q.num_tokens(), bytes.len());
            tx.send((id, bytes)).expect("coordinator gone");
            Ok(())
        }));
    }
    drop(tx);
    let mut shards: Vec<(usize, Vec<u8>)> = rx.iter().collect();
    for h in workers {
        h.join().expect("worker panicked")?;
    }
    shards.sort_by_key(|s| s.0); // merge in a fixed order

    // The coordinator: merge (the first replaces, the next accumulate), then solve.
    let mut merged = Quantizer::new(columns, cfg)?;
    for (i, (_, bytes)) in shards.iter().enumerate() {
        let mode = if i == 0 { StatsMode::Replace } else { StatsMode::Accumulate };
        merged.deserialize_stats(bytes, mode)?;
    }
    let got = merged.solve(&w, rows)?;

    // One worker on all of the data, for comparison.
    let mut single = Quantizer::new(columns, cfg)?;
    for b in x.chunks(batch * columns) {
        single.add_batch(b, None)?;
    }
    let want = single.solve(&w, rows)?;

    assert_eq!(merged.num_tokens(), tokens as u64);
    let same = got.codes.iter().zip(&want.codes).filter(|(a, b)| a == b).count();
    println!("merged {} tokens: {} of {} codes equal one worker's; loss {:.6} vs {:.6}",
             merged.num_tokens(), same, want.codes.len(), got.info.loss, want.info.loss);
    assert!(got.codes == want.codes, "merged codes differ from one worker's in {} places", want.codes.len() - same);
    assert_eq!(got.g_idx, want.g_idx);
    println!("distributed: OK");
    Ok(())
}
