//! A server-style use of libgptaq from Rust.
//!
//! An inference server quantizing a model layer by layer receives calibration activations
//! as a stream (here: a producer thread standing in for the request path). Each layer gets
//! a worker thread that owns a `gptaq::Quantizer` (it is `Send`) and folds the batches into
//! its statistics as they arrive, never keeping the tokens. When the stream ends the
//! worker quantizes the layer's weight and reports; the main thread prints a summary.
//!
//!   gptaq-server-example [--layers N] [--columns C] [--rows R] [--batches B]
//!                        [--tokens T] [--bits K] [--method rtn|gptq|gptaq] [--binary]
use gptaq::{Backend, Config, Method, Quantizer};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

struct Args {
    layers: usize,
    columns: usize,
    rows: usize,
    batches: usize,
    tokens: usize,
    bits: i32,
    method: Method,
    binary: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        layers: 4,
        columns: 256,
        rows: 256,
        batches: 8,
        tokens: 64,
        bits: 4,
        method: Method::Gptaq,
        binary: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--binary" {
            a.binary = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{} needs a value", flag))?;
        let num = || {
            v.parse::<usize>()
                .map_err(|e| format!("{} {}: {}", flag, v, e))
        };
        match flag.as_str() {
            "--layers" => a.layers = num()?,
            "--columns" => a.columns = num()?,
            "--rows" => a.rows = num()?,
            "--batches" => a.batches = num()?,
            "--tokens" => a.tokens = num()?,
            "--bits" => a.bits = num()? as i32,
            "--method" => {
                a.method = match v.as_str() {
                    "rtn" => Method::Rtn,
                    "gptq" => Method::Gptq,
                    "gptaq" => Method::Gptaq,
                    _ => return Err(format!("unknown method {}", v)),
                }
            }
            _ => return Err(format!("unknown flag {}", flag)),
        }
    }
    Ok(a)
}

/// A small deterministic generator (no crates here).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// One calibration batch: the quantized model's input and the full-precision one.
struct Batch {
    xq: Vec<f32>,
    xfp: Vec<f32>,
}

/// Activations with a few dominant directions (as real layer inputs have).
fn make_batch(r: &mut Rng, basis: &[f32], tokens: usize, cols: usize) -> Batch {
    let k = basis.len() / cols;
    let mut xfp = vec![0f32; tokens * cols];
    for t in 0..tokens {
        let c: Vec<f32> = (0..k).map(|_| 3.0 * r.next()).collect();
        for j in 0..cols {
            let mut v = 0.2 * r.next();
            for i in 0..k {
                v += c[i] * basis[i * cols + j];
            }
            xfp[t * cols + j] = v;
        }
    }
    // What the layer sees once earlier layers are quantized: the same input, perturbed.
    let xq = xfp.iter().map(|v| v + 0.02 * r.next()).collect();
    Batch { xq, xfp }
}

struct Report {
    layer: usize,
    tokens: u64,
    loss: f64,
    weight_err: f64,
    output_err: f64,
    seconds: f64,
}

fn rel_output_error(w: &[f32], q: &[f32], x: &[f32], rows: usize, cols: usize) -> f64 {
    let tokens = x.len() / cols;
    let (mut num, mut den) = (0f64, 0f64);
    for t in 0..tokens {
        let xt = &x[t * cols..(t + 1) * cols];
        for r in 0..rows {
            let (mut a, mut b) = (0f64, 0f64);
            for j in 0..cols {
                a += w[r * cols + j] as f64 * xt[j] as f64;
                b += q[r * cols + j] as f64 * xt[j] as f64;
            }
            num += (a - b) * (a - b);
            den += a * a;
        }
    }
    (num / den.max(1e-30)).sqrt()
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    println!("libgptaq {} | {}", gptaq::version(), gptaq::build_info());
    // GPTQT binary coding runs on GPTQ's error feedback; the uniform grid takes any method.
    let cfg = if a.binary {
        Config {
            backend: Backend::Auto,
            ..Config::binary(a.bits.min(4))
        }
    } else {
        Config {
            bits: a.bits,
            method: a.method,
            group_size: 128,
            backend: Backend::Auto,
            ..Config::default()
        }
    };
    let gptaq_pairs = cfg.method == Method::Gptaq;
    let start = Instant::now();

    // One worker per layer, fed through a channel.
    let (report_tx, report_rx) = mpsc::channel::<Result<Report, gptaq::Error>>();
    let mut feeds = Vec::new();
    let mut handles = Vec::new();
    for layer in 0..a.layers {
        let (tx, rx) = mpsc::sync_channel::<Batch>(2); // back-pressure: at most 2 in flight
        let mut q = Quantizer::new(a.columns, cfg)?;
        let report_tx = report_tx.clone();
        let (rows, cols) = (a.rows, a.columns);
        let mut wr = Rng(1000 + layer as u64);
        let w: Vec<f32> = (0..rows * cols).map(|_| 0.1 * wr.next()).collect();
        handles.push(thread::spawn(move || {
            let t0 = Instant::now();
            let result = (|| {
                let mut holdout: Option<Vec<f32>> = None;
                for b in rx {
                    q.add_batch(&b.xq, if gptaq_pairs { Some(&b.xfp) } else { None })?;
                    holdout = Some(b.xfp);
                }
                let (dequant, loss) = if cfg.quantizer == gptaq::QuantizerKind::Binary {
                    let s = q.solve_binary(&w, rows)?;
                    (s.dequant, s.info.loss)
                } else {
                    let s = q.solve(&w, rows)?;
                    (s.dequant, s.info.loss)
                };
                let (mut dw, mut ww) = (0f64, 0f64);
                for (x, y) in w.iter().zip(&dequant) {
                    dw += ((x - y) as f64).powi(2);
                    ww += (*x as f64).powi(2);
                }
                let x = holdout.unwrap_or_default();
                Ok(Report {
                    layer,
                    tokens: q.num_tokens(),
                    loss,
                    weight_err: (dw / ww).sqrt(),
                    output_err: rel_output_error(&w, &dequant, &x, rows, cols),
                    seconds: t0.elapsed().as_secs_f64(),
                })
            })();
            let _ = report_tx.send(result);
        }));
        feeds.push(tx);
    }
    drop(report_tx);

    // The "request path": stream batches to every layer's worker.
    let mut r = Rng(7);
    let basis: Vec<f32> = (0..8 * a.columns).map(|_| r.next()).collect();
    for _ in 0..a.batches {
        for tx in &feeds {
            let b = make_batch(&mut r, &basis, a.tokens, a.columns);
            tx.send(b).map_err(|_| "a layer worker stopped early")?;
        }
    }
    drop(feeds); // end of stream

    let mut reports = Vec::new();
    for rep in report_rx {
        reports.push(rep?);
    }
    for h in handles {
        h.join().map_err(|_| "a layer worker panicked")?;
    }
    reports.sort_by_key(|r| r.layer);
    println!("layer  tokens        loss  weight_err  output_err  seconds");
    for r in &reports {
        println!(
            "{:>5}  {:>6}  {:>10.4}  {:>10.4}  {:>10.4}  {:>7.3}",
            r.layer, r.tokens, r.loss, r.weight_err, r.output_err, r.seconds
        );
    }
    let kind = if a.binary { "GPTQT binary" } else { "uniform" };
    println!(
        "quantized {} layers ({} x {}, {} {}-bit, {:?}) from {} streamed batches in {:.3} s",
        reports.len(),
        a.rows,
        a.columns,
        kind,
        cfg.bits,
        cfg.method,
        a.batches,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}", e);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("error: {}", e);
        std::process::exit(1);
    }
}
