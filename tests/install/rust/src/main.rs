//! The Rust consumer of an installed libgptaq (issue 14): a crate outside the source tree
//! whose only dependency is `gptaq` (by path), built with PKG_CONFIG_PATH pointing at the
//! install prefix and run without LD_LIBRARY_PATH. It quantizes the shared consumer data
//! (GPTQ, 4 bits, group size 128, symmetric, CPU) and asserts its codes equal the
//! installed CLI's on the same data.
//!
//!   rust-consumer DATA_DIR
use gptaq::{npy_read, Backend, Config, Method, Quantizer};
use std::path::PathBuf;

fn main() -> Result<(), gptaq::Error> {
    let data = PathBuf::from(std::env::args().nth(1).expect("usage: rust-consumer DATA_DIR"));
    println!("libgptaq {} ({})", gptaq::version(), gptaq::build_info());
    let (rows, cols, w) = npy_read::<f32>(data.join("W.npy"))?;
    let (tokens, _, x) = npy_read::<f32>(data.join("X.npy"))?;
    let (_, _, want) = npy_read::<u8>(data.join("cli").join("codes.npy"))?;
    let cfg = Config {
        method: Method::Gptq,
        bits: 4,
        group_size: 128,
        sym: true,
        backend: Backend::Cpu,
        ..Config::default()
    };
    let mut q = Quantizer::new(cols, cfg)?;
    for b in x.chunks(1024 * cols) {
        q.add_batch(b, None)?; // the CLI's batch size
    }
    let sol = q.solve(&w, rows)?;
    let same = sol.codes.iter().zip(&want).filter(|(a, b)| a == b).count();
    println!("{} x {} weight, {} tokens: {} of {} codes equal the CLI's", rows, cols, tokens, same, want.len());
    if sol.codes != want {
        eprintln!("rust consumer: FAILED (codes differ from cli/codes.npy)");
        std::process::exit(1);
    }
    println!("rust consumer: OK");
    Ok(())
}
