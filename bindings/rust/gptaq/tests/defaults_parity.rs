//! One set of defaults everywhere (issue 15): the crate's `Config::default()` on the shared
//! consumer data gives the codes the installed CLI gives with no quantization option
//! (${GPTAQ_TEST_DATA}/cli-defaults/codes.npy, written by the install.prefix fixture).
//! ctest (rust.defaults_parity) sets GPTAQ_TEST_DATA; a bare `cargo test` without it says
//! so and passes.
use gptaq::{npy_read, Config, Quantizer};
use std::path::PathBuf;

#[test]
fn crate_defaults_equal_cli_defaults() {
    let data = match std::env::var_os("GPTAQ_TEST_DATA") {
        Some(d) => PathBuf::from(d),
        None => {
            eprintln!("GPTAQ_TEST_DATA not set: the defaults parity runs under ctest (rust.defaults_parity)");
            return;
        }
    };
    let (rows, cols, w) = npy_read::<f32>(data.join("W.npy")).unwrap();
    let (_, xcols, x) = npy_read::<f32>(data.join("X.npy")).unwrap();
    assert_eq!(cols, xcols);
    let (crows, ccols, want) = npy_read::<u8>(data.join("cli-defaults").join("codes.npy")).unwrap();
    assert_eq!((crows, ccols), (rows, cols));
    // The CLI streams 1024-token batches (its --batch-tokens default) on the CPU backend.
    let cfg = Config { backend: gptaq::Backend::Cpu, ..Config::default() };
    let mut q = Quantizer::new(cols, cfg).unwrap();
    for b in x.chunks(1024 * cols) {
        q.add_batch(b, None).unwrap();
    }
    let got = q.solve(&w, rows).unwrap();
    let same = got.codes.iter().zip(&want).filter(|(a, b)| a == b).count();
    assert!(
        got.codes == want,
        "Config::default() and the CLI's defaults agree on {} of {} codes (defaults differ: {:?})",
        same,
        want.len(),
        Config::default()
    );
}
