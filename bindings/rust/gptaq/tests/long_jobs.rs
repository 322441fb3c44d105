//! Progress, cancellation and log callbacks (issue 17): closures see the phases with
//! done <= total, a cancelled call fails with Cancelled and changes nothing, the same
//! quantizer then solves to the answer of an uncancelled run, and a panic in a closure
//! cancels the call and is resumed after it (never unwinding through the library).
mod common;

use common::*;
use gptaq::*;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const COLS: usize = 512;
const ROWS: usize = 64;

fn setup(method: Method) -> (Quantizer, Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let mut r = Rng(11);
    let x = activations(&mut r, 1024, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    let xfp = if method == Method::Gptaq { Some(perturb(&mut r, &x, 0.01)) } else { None };
    let cfg = Config { method, backend: Backend::Cpu, block_size: 32, ..Config::default() };
    (Quantizer::new(COLS, cfg).unwrap(), x, w, xfp)
}

#[test]
fn progress_reports_every_phase() {
    for method in [Method::Gptq, Method::Gptaq] {
        let (mut q, x, w, xfp) = setup(method);
        let mut stat_calls = Vec::new();
        q.add_with_progress(Batch::f32(&x, xfp.as_deref()), |p, d, t| {
            stat_calls.push((p, d, t));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(!stat_calls.is_empty(), "no progress report during a batch");
        assert!(stat_calls.iter().all(|&(p, d, t)| p == Phase::Statistics && d <= t));
        let mut calls = Vec::new();
        let sol = q
            .solve_with_progress(&w, ROWS, |p, d, t| {
                calls.push((p, d, t));
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(calls.len() >= 3 && calls.len() < 5000, "{} calls", calls.len());
        assert!(calls.iter().all(|&(_, d, t)| d <= t));
        for ph in [Phase::Factorization, Phase::Sweep] {
            let last = calls.iter().rfind(|c| c.0 == ph);
            let (_, d, t) = *last.unwrap_or_else(|| panic!("{:?}: no {:?} report", method, ph));
            assert_eq!((d, t), (COLS as u64, COLS as u64), "{:?} {:?} does not end at its total", method, ph);
        }
        // a plain solve afterwards (the factor is cached) gives the same answer
        assert_eq!(q.solve(&w, ROWS).unwrap().codes, sol.codes);
    }
}

#[test]
fn cancel_mid_solve_then_solve_again() {
    for method in [Method::Gptq, Method::Gptaq] {
        let (mut reference, x, w, xfp) = setup(method);
        reference.add_batch(&x, xfp.as_deref()).unwrap();
        let want = reference.solve(&w, ROWS).unwrap();

        let (mut q, _, _, _) = setup(method);
        q.add_batch(&x, xfp.as_deref()).unwrap();
        let stats = q.serialize_stats().unwrap();
        for stop in [Phase::Factorization, Phase::Sweep, Phase::Packing] {
            let mut seen = 0u64;
            let err = q
                .solve_with_progress(&w, ROWS, |p, d, t| {
                    if p == stop && (d > 0 || t == 0 || p == Phase::Packing) {
                        seen = d;
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap_err();
            assert_eq!(err.status(), Status::Cancelled, "{:?} at {:?}: {}", method, stop, err);
            assert!(seen <= COLS as u64);
            assert_eq!(q.serialize_stats().unwrap(), stats, "cancel at {:?} changed the statistics", stop);
        }
        let got = q.solve(&w, ROWS).unwrap();
        assert_eq!(got.codes, want.codes, "{:?}: the solve after a cancel differs", method);
        assert_eq!(got.scales, want.scales);
    }
}

#[test]
fn cancel_batch_changes_nothing() {
    let (mut q, x, w, _) = setup(Method::Gptq);
    q.add_batch(&x[..COLS * 100], None).unwrap();
    let before = q.serialize_stats().unwrap();
    let err = q
        .add_with_progress(Batch::f32(&x, None), |_, _, _| ControlFlow::Break(()))
        .unwrap_err();
    assert_eq!(err.status(), Status::Cancelled);
    assert_eq!(q.num_tokens(), 100);
    assert_eq!(q.serialize_stats().unwrap(), before);
    q.add_batch(&x[COLS * 100..], None).unwrap();
    assert_eq!(q.num_tokens(), 1024);
    q.solve(&w, ROWS).unwrap();
}

#[test]
fn persistent_progress_and_log() {
    let (mut q, x, w, _) = setup(Method::Gptq);
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    q.set_progress(Some(move |_p: Phase, d: u64, t: u64| {
        assert!(d <= t);
        c2.fetch_add(1, Ordering::Relaxed);
        ControlFlow::Continue(())
    }))
    .unwrap();
    let logs: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
    let l2 = logs.clone();
    q.set_log(Some(move |lvl: LogLevel, m: &str| l2.lock().unwrap().push((lvl, m.to_string()))))
        .unwrap();
    q.add_batch(&x, None).unwrap();
    q.solve(&w, ROWS).unwrap();
    q.solve(&w, ROWS).unwrap(); // the factor is reused: an INFO message
    let n = count.load(Ordering::Relaxed);
    assert!(n > 0, "the registered progress closure was not called");
    // a per-call closure takes precedence, and the persistent one is restored after it
    let mut local = 0;
    q.solve_with_progress(&w, ROWS, |_, _, _| {
        local += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(local > 0);
    assert_eq!(count.load(Ordering::Relaxed), n);
    q.solve(&w, ROWS).unwrap();
    assert!(count.load(Ordering::Relaxed) > n);
    let logs = logs.lock().unwrap();
    assert!(!logs.is_empty(), "no log message");
    assert!(logs.iter().all(|(_, m)| !m.is_empty()));
    drop(logs);
    // removing them
    q.set_progress(None::<fn(Phase, u64, u64) -> ControlFlow<()>>).unwrap();
    q.set_log(None::<fn(LogLevel, &str)>).unwrap();
    let n = count.load(Ordering::Relaxed);
    q.solve(&w, ROWS).unwrap();
    assert_eq!(count.load(Ordering::Relaxed), n);
}

#[test]
fn panic_in_a_closure_is_resumed_after_the_call() {
    let (mut q, x, w, _) = setup(Method::Gptq);
    q.add_batch(&x, None).unwrap();
    let want = q.solve(&w, ROWS).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        q.solve_with_progress(&w, ROWS, |_, _, _| panic!("boom in progress"))
    }));
    let payload = r.expect_err("the panic was swallowed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in progress"));
    // persistent closure panicking
    q.set_progress(Some(|p: Phase, _: u64, _: u64| {
        if p == Phase::Sweep {
            panic!("boom in sweep")
        }
        ControlFlow::Continue(())
    }))
    .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| q.solve(&w, ROWS)));
    assert!(r.is_err());
    q.set_progress(None::<fn(Phase, u64, u64) -> ControlFlow<()>>).unwrap();
    assert_eq!(q.num_tokens(), 1024);
    assert_eq!(q.solve(&w, ROWS).unwrap().codes, want.codes);
}
