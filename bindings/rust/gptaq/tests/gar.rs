//! Group-aware reordering and the failsafe (issue 18) through the safe crate.
mod common;

use common::*;
use gptaq::*;

const COLS: usize = 200; // a partial last group of 8 with group_size 64
const ROWS: usize = 24;

fn cpu() -> Config {
    Config { backend: Backend::Cpu, group_size: 64, ..Config::default() }
}

#[test]
fn options_round_trip_and_validation() {
    let c = Config { act_group_aware: true, failsafe_tokens: 100, ..cpu() };
    let q = Quantizer::new(COLS, c).unwrap();
    assert_eq!(q.config().unwrap(), c);
    let d = Config::default();
    assert!(!d.act_group_aware);
    assert_eq!(d.failsafe_tokens, 0);
    for (bad, what) in [
        (Config { act_group_aware: true, act_order: true, ..cpu() }, "GAR with act-order"),
        (Config { act_group_aware: true, group_size: -1, ..cpu() }, "GAR without groups"),
        (Config { failsafe_tokens: -1, ..cpu() }, "negative failsafe"),
    ] {
        let e = Quantizer::new(COLS, bad).expect_err(what);
        assert_eq!(e.status(), Status::InvalidArgument, "{}: {}", what, e);
        assert!(!e.message().is_empty());
    }
}

#[test]
fn gar_keeps_groups_contiguous() {
    let mut r = Rng(21);
    let x = activations(&mut r, 512, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    for (method, sym) in [(Method::Gptq, true), (Method::Gptaq, false)] {
        let xfp = if method == Method::Gptaq { Some(perturb(&mut r, &x, 0.01)) } else { None };
        let cfg = Config { method, sym, act_group_aware: true, ..cpu() };
        let mut q = Quantizer::new(COLS, cfg).unwrap();
        q.add_batch(&x, xfp.as_deref()).unwrap();
        let sol = q.solve(&w, ROWS).unwrap();
        let want: Vec<i32> = (0..COLS as i32).map(|c| c / 64).collect();
        assert!(sol.g_idx == want, "{:?}: g_idx is not c / group_size: {:?}", method, sol.g_idx);
        // GAR changes the order (so the result) relative to the plain solve
        let mut plain = Quantizer::new(COLS, Config { act_group_aware: false, ..cfg }).unwrap();
        plain.add_batch(&x, xfp.as_deref()).unwrap();
        assert!(plain.solve(&w, ROWS).unwrap().codes != sol.codes, "{:?}: GAR had no effect", method);
        // and it packs without a g_idx permutation
        let p = sol.pack_gptq(4, 64, GptqPackOptions { format: GptqFormat::V2, ..Default::default() });
        assert!(p.unwrap().g_idx == want);
    }
}

#[test]
fn failsafe_is_rtn_below_the_threshold() {
    let mut r = Rng(22);
    let x = activations(&mut r, 40, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    let rtn = {
        let mut q = Quantizer::new(COLS, Config { method: Method::Rtn, ..cpu() }).unwrap();
        q.solve(&w, ROWS).unwrap()
    };
    // below the threshold: RTN's codes exactly, and the info says so
    let mut q = Quantizer::new(COLS, Config { failsafe_tokens: 41, ..cpu() }).unwrap();
    q.add_batch(&x, None).unwrap();
    let s = q.solve(&w, ROWS).unwrap();
    assert!(s.info.failsafe_used);
    assert_eq!(s.info.tokens, 40.0);
    assert!(s.codes == rtn.codes, "failsafe codes differ from RTN");
    // at the threshold: the normal solve
    let mut q2 = Quantizer::new(COLS, Config { failsafe_tokens: 40, ..cpu() }).unwrap();
    q2.add_batch(&x, None).unwrap();
    let s2 = q2.solve(&w, ROWS).unwrap();
    assert!(!s2.info.failsafe_used);
    let mut plain = Quantizer::new(COLS, cpu()).unwrap();
    plain.add_batch(&x, None).unwrap();
    assert!(s2.codes == plain.solve(&w, ROWS).unwrap().codes, "the failsafe changed a solve at its threshold");
    // zero tokens with the failsafe on: RTN, not NoData
    let mut empty = Quantizer::new(COLS, Config { failsafe_tokens: 1, ..cpu() }).unwrap();
    let s0 = empty.solve(&w, ROWS).unwrap();
    assert!(s0.info.failsafe_used);
    assert_eq!(s0.info.tokens, 0.0);
    assert!(s0.codes == rtn.codes, "zero-token failsafe codes differ from RTN");
}
