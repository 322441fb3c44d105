//! Integration tests of the safe crate: identical results to the raw C API, every error
//! path, batching invariance, the binary quantizer, Send, many cycles without leaks.
mod common;

use common::*;
use gptaq::{
    backend_available, f32_to_half, num_groups, Backend, BinarySolution, Config, Error, HalfType,
    Method, Objective, Quantizer, QuantizerKind, Solution, Status,
};

fn cpu(group_size: i32) -> Config {
    Config {
        backend: Backend::Cpu,
        group_size,
        ..Config::default()
    }
}

#[test]
fn version_and_statuses() {
    assert_eq!(gptaq::version_number(), gptaq::HEADER_VERSION_NUMBER);
    assert!(gptaq::build_info().contains(gptaq::version()));
    for code in -14..=-1 {
        let s = Status::from_code(code);
        assert!(!matches!(s, Status::Other(_)), "code {} unknown", code);
        assert_eq!(s.code(), code);
        assert!(!s.name().is_empty());
    }
    assert_eq!(Status::from_code(-99), Status::Other(-99));
    assert_eq!(
        Status::Shape.code(),
        gptaq_sys::gptaq_status::GPTAQ_ERR_SHAPE.0
    );
}

#[test]
fn default_config_round_trip() {
    let d = Config::default();
    assert_eq!(
        (d.bits, d.group_size, d.sym, d.method),
        (4, 128, true, Method::Gptq)
    );
    assert_eq!((d.block_size, d.damp_percent, d.alpha), (128, 0.01, 0.25));
    assert_eq!(d.quantizer, QuantizerKind::Uniform);
    let c = Config {
        bits: 3,
        group_size: 32,
        act_order: true,
        mse: true,
        ..cpu(32)
    };
    let q = Quantizer::new(64, c).unwrap();
    assert_eq!(q.config().unwrap(), c);
    assert_eq!(q.backend(), Backend::Cpu);
    assert_eq!(q.columns(), 64);
    assert_eq!(q.num_tokens(), 0);
}

struct Case {
    name: &'static str,
    cfg: Config,
    cols: usize,
    rows: usize,
    half: Option<HalfType>,
    batches: &'static [usize],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "gptq_g16",
            cfg: cpu(16),
            cols: 64,
            rows: 24,
            half: None,
            batches: &[32, 17, 40],
        },
        Case {
            name: "gptq_actorder_3bit_asym",
            cfg: Config {
                bits: 3,
                act_order: true,
                sym: false,
                ..cpu(16)
            },
            cols: 48,
            rows: 20,
            half: None,
            batches: &[50, 30],
        },
        Case {
            name: "gptq_static_mse",
            cfg: Config {
                static_groups: true,
                mse: true,
                act_order: true,
                ..cpu(16)
            },
            cols: 32,
            rows: 16,
            half: None,
            batches: &[64],
        },
        Case {
            name: "gptq_perchannel_blk8_2bit",
            cfg: Config {
                block_size: 8,
                bits: 2,
                ..cpu(-1)
            },
            cols: 40,
            rows: 12,
            half: None,
            batches: &[25, 25],
        },
        Case {
            name: "rtn",
            cfg: Config {
                method: Method::Rtn,
                ..cpu(16)
            },
            cols: 32,
            rows: 8,
            half: None,
            batches: &[10],
        },
        Case {
            name: "gptaq",
            cfg: Config {
                method: Method::Gptaq,
                ..cpu(16)
            },
            cols: 64,
            rows: 24,
            half: None,
            batches: &[30, 34],
        },
        Case {
            name: "gptaq_actorder_alpha",
            cfg: Config {
                method: Method::Gptaq,
                act_order: true,
                alpha: 0.5,
                ..cpu(16)
            },
            cols: 48,
            rows: 16,
            half: None,
            batches: &[60],
        },
        Case {
            name: "gptq_f16",
            cfg: cpu(16),
            cols: 32,
            rows: 16,
            half: Some(HalfType::F16),
            batches: &[20, 20],
        },
        Case {
            name: "gptaq_bf16",
            cfg: Config {
                method: Method::Gptaq,
                ..cpu(16)
            },
            cols: 32,
            rows: 16,
            half: Some(HalfType::Bf16),
            batches: &[40],
        },
    ]
}

fn check_solution(s: &Solution, cfg: &Config) {
    let maxq = (1u32 << cfg.bits) - 1;
    for (i, &c) in s.codes.iter().enumerate() {
        assert!(c as u32 <= maxq);
        let (r, col) = (i / s.columns, i % s.columns);
        let g = s.g_idx[col] as usize;
        let (sc, z) = (s.scales[r * s.n_groups + g], s.zeros[r * s.n_groups + g]);
        let d = sc * (c as f32 - z);
        assert!(
            (d - s.dequant[i]).abs() <= 1e-6 * d.abs() + 1e-12,
            "dequant {} vs {}",
            s.dequant[i],
            d
        );
    }
}

/// The safe layer gives exactly what the C API gives on the same inputs.
#[test]
fn identical_to_c_api() {
    for (ci, tc) in cases().into_iter().enumerate() {
        let mut r = Rng(1000 + ci as u64);
        let gptaq = tc.cfg.method == Method::Gptaq;
        let xq: Vec<Vec<f32>> = tc
            .batches
            .iter()
            .map(|&n| activations(&mut r, n, tc.cols))
            .collect();
        let xfp: Option<Vec<Vec<f32>>> = if gptaq {
            Some(xq.iter().map(|x| perturb(&mut r, x, 0.05)).collect())
        } else {
            None
        };
        let w = r.fill(tc.rows * tc.cols, 0.2);
        let mut q = Quantizer::new(tc.cols, tc.cfg).unwrap();
        let want = match tc.half {
            None => {
                for (i, x) in xq.iter().enumerate() {
                    q.add_batch(x, xfp.as_ref().map(|v| v[i].as_slice()))
                        .unwrap();
                }
                raw_run(
                    &tc.cfg,
                    tc.cols,
                    Batches::F32(&xq, xfp.as_deref()),
                    &w,
                    tc.rows,
                )
            }
            Some(dt) => {
                let hq: Vec<Vec<u16>> = xq.iter().map(|x| f32_to_half(dt, x)).collect();
                let hfp: Option<Vec<Vec<u16>>> = xfp
                    .as_ref()
                    .map(|v| v.iter().map(|x| f32_to_half(dt, x)).collect());
                for (i, x) in hq.iter().enumerate() {
                    q.add_batch_half(dt, x, hfp.as_ref().map(|v| v[i].as_slice()))
                        .unwrap();
                }
                raw_run(
                    &tc.cfg,
                    tc.cols,
                    Batches::Half(dt, &hq, hfp.as_deref()),
                    &w,
                    tc.rows,
                )
            }
        };
        let got = q.solve(&w, tc.rows).unwrap();
        assert_eq!(got.codes, want.codes, "{}: codes", tc.name);
        assert!(same_f32(&got.scales, &want.scales), "{}: scales", tc.name);
        assert!(same_f32(&got.zeros, &want.zeros), "{}: zeros", tc.name);
        assert!(
            same_f32(&got.dequant, &want.dequant),
            "{}: dequant",
            tc.name
        );
        assert_eq!(got.g_idx, want.g_idx, "{}: g_idx", tc.name);
        assert_eq!(got.info.loss, want.loss, "{}: loss", tc.name);
        assert_eq!(
            got.n_groups,
            num_groups(tc.cols, tc.cfg.group_size).unwrap()
        );
        check_solution(&got, &tc.cfg);
        if tc.cfg.method != Method::Rtn {
            assert!(got.info.loss > 0.0, "{}: loss {}", tc.name, got.info.loss);
        }
    }
}

/// Any split of the same tokens into batches gives the same result.
#[test]
fn batching_invariance() {
    const COLS: usize = 48;
    const ROWS: usize = 16;
    const TOKENS: usize = 96;
    for method in [Method::Gptq, Method::Gptaq] {
        let mut r = Rng(77);
        let x = activations(&mut r, TOKENS, COLS);
        let xfp = perturb(&mut r, &x, 0.05);
        let w = r.fill(ROWS * COLS, 0.3);
        let cfg = Config { method, ..cpu(16) };
        let mut reference: Option<Solution> = None;
        for split in [TOKENS, 32, 7, 1] {
            let mut q = Quantizer::new(COLS, cfg).unwrap();
            let mut t0 = 0;
            while t0 < TOKENS {
                let t1 = (t0 + split).min(TOKENS);
                let fp = if method == Method::Gptaq {
                    Some(&xfp[t0 * COLS..t1 * COLS])
                } else {
                    None
                };
                q.add_batch(&x[t0 * COLS..t1 * COLS], fp).unwrap();
                t0 = t1;
            }
            assert_eq!(q.num_tokens(), TOKENS as u64);
            let s = q.solve(&w, ROWS).unwrap();
            match &reference {
                None => reference = Some(s),
                Some(r0) => {
                    assert_eq!(s.codes, r0.codes, "{:?} split {}", method, split);
                    for (a, b) in s.scales.iter().zip(&r0.scales) {
                        assert!(
                            (a - b).abs() <= 1e-5 * b.abs(),
                            "{:?} split {}: scale {} vs {}",
                            method,
                            split,
                            a,
                            b
                        );
                    }
                    assert!((s.info.loss - r0.info.loss).abs() <= 1e-3 * r0.info.loss);
                }
            }
        }
    }
}

#[test]
fn masked_batch_equals_kept_tokens() {
    const COLS: usize = 32;
    let mut r = Rng(5);
    let x = activations(&mut r, 40, COLS);
    let w = r.fill(8 * COLS, 0.3);
    let mask: Vec<bool> = (0..40).map(|i| i % 3 != 0).collect();
    let kept: Vec<f32> = (0..40)
        .filter(|&i| mask[i])
        .flat_map(|i| x[i * COLS..(i + 1) * COLS].to_vec())
        .collect();
    let mut a = Quantizer::new(COLS, cpu(8)).unwrap();
    a.add_batch_masked(&x, None, &mask).unwrap();
    let mut b = Quantizer::new(COLS, cpu(8)).unwrap();
    b.add_batch(&kept, None).unwrap();
    assert_eq!(a.num_tokens(), (kept.len() / COLS) as u64);
    assert_eq!(a.solve(&w, 8).unwrap().codes, b.solve(&w, 8).unwrap().codes);
}

#[test]
fn factor_reuse_set_config_reset() {
    const COLS: usize = 32;
    let mut r = Rng(9);
    let mut q = Quantizer::new(COLS, cpu(8)).unwrap();
    q.add_batch(&activations(&mut r, 64, COLS), None).unwrap();
    let w = r.fill(8 * COLS, 0.3);
    let s1 = q.solve(&w, 8).unwrap();
    let s2 = q.solve(&w, 8).unwrap();
    assert!(s2.info.factor_reused);
    assert_eq!(s1.codes, s2.codes);
    q.set_config(Config { bits: 3, ..cpu(8) }).unwrap();
    assert!(q.solve(&w, 8).unwrap().codes.iter().all(|&c| c <= 7));
    q.reset().unwrap();
    assert_eq!(q.num_tokens(), 0);
}

fn expect(err: Error, status: Status, what: &str) {
    assert_eq!(err.status(), status, "{}: {}", what, err);
    assert_eq!(err.code(), status.code());
    assert!(!err.message().is_empty(), "{}: empty message", what);
    let shown = err.to_string();
    assert!(
        shown.contains(err.message()) && shown.contains(status.name()),
        "{}: {}",
        what,
        shown
    );
    // It is a std error, usable with `?` into Box<dyn Error>.
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(!boxed.to_string().is_empty());
}

#[test]
fn every_error_path() {
    const COLS: usize = 16;
    let base = cpu(8);

    // Construction.
    expect(
        Quantizer::new(0, base).unwrap_err(),
        Status::Shape,
        "columns 0",
    );
    expect(
        Quantizer::new(usize::MAX, base).unwrap_err(),
        Status::Shape,
        "columns usize::MAX",
    );
    expect(
        Quantizer::new(1 << 40, base).unwrap_err(),
        Status::Shape,
        "columns^2 overflow",
    );
    // 2^24 columns need 2^50 bytes of statistics: more than any address space.
    expect(
        Quantizer::new(1 << 24, base).unwrap_err(),
        Status::OutOfMemory,
        "statistics allocation",
    );
    let bad: Vec<(&str, Config)> = vec![
        ("bits 1", Config { bits: 1, ..base }),
        ("bits 9", Config { bits: 9, ..base }),
        (
            "damp 0",
            Config {
                damp_percent: 0.0,
                ..base
            },
        ),
        (
            "damp NaN",
            Config {
                damp_percent: f32::NAN,
                ..base
            },
        ),
        (
            "block 0",
            Config {
                block_size: 0,
                ..base
            },
        ),
        (
            "group 0",
            Config {
                group_size: 0,
                ..base
            },
        ),
        (
            "retries 99",
            Config {
                damp_retries: 99,
                ..base
            },
        ),
        (
            "binary bits 7",
            Config {
                bits: 7,
                ..Config::binary(3)
            },
        ),
    ];
    for (name, c) in bad {
        expect(
            Quantizer::new(COLS, c).unwrap_err(),
            Status::InvalidArgument,
            name,
        );
    }
    if !backend_available(Backend::Cuda) {
        let e = Quantizer::new(
            COLS,
            Config {
                backend: Backend::Cuda,
                ..base
            },
        )
        .unwrap_err();
        expect(e, Status::BackendUnavailable, "cuda without a device");
    }

    // Calibration.
    let mut q = Quantizer::new(COLS, base).unwrap();
    let x = Rng(1).fill(4 * COLS, 1.0);
    expect(
        q.add_batch(&[0.0; COLS + 1], None).unwrap_err(),
        Status::Shape,
        "ragged batch",
    );
    expect(
        q.add_batch(&x, Some(&x[..COLS])).unwrap_err(),
        Status::Shape,
        "xfp shorter",
    );
    expect(
        q.add_batch(&x, Some(&x)).unwrap_err(),
        Status::InvalidArgument,
        "xfp given to GPTQ",
    );
    expect(
        q.add_batch_masked(&x, None, &[true]).unwrap_err(),
        Status::Shape,
        "mask length",
    );
    let mut nan = x.clone();
    nan[5] = f32::NAN;
    expect(
        q.add_batch(&nan, None).unwrap_err(),
        Status::NonFinite,
        "NaN batch",
    );
    let mut inf = x.clone();
    inf[7] = f32::INFINITY;
    expect(
        q.add_batch(&inf, None).unwrap_err(),
        Status::NonFinite,
        "Inf batch",
    );
    let half_nan = f32_to_half(HalfType::F16, &nan);
    expect(
        q.add_batch_half(HalfType::F16, &half_nan, None)
            .unwrap_err(),
        Status::NonFinite,
        "f16 NaN",
    );
    assert_eq!(q.num_tokens(), 0, "rejected batches changed the statistics");
    let w = Rng(2).fill(4 * COLS, 0.1);
    expect(
        q.solve(&w, 4).unwrap_err(),
        Status::NoData,
        "solve without data",
    );

    q.add_batch(&x, None).unwrap();
    expect(
        q.solve(&w[1..], 4).unwrap_err(),
        Status::Shape,
        "weight length",
    );
    expect(q.solve(&[], 0).unwrap_err(), Status::Shape, "rows 0");
    let mut wn = w.clone();
    wn[3] = f32::NAN;
    expect(
        q.solve(&wn, 4).unwrap_err(),
        Status::NonFinite,
        "NaN weight",
    );
    expect(
        q.solve_binary(&w, 4).unwrap_err(),
        Status::InvalidArgument,
        "binary solve, uniform ctx",
    );

    // Config changes that are not allowed keep the old one.
    expect(
        q.set_config(Config {
            method: Method::Gptaq,
            ..base
        })
        .unwrap_err(),
        Status::InvalidArgument,
        "family",
    );
    expect(
        q.set_config(Config { bits: 42, ..base }).unwrap_err(),
        Status::InvalidArgument,
        "bits 42",
    );
    assert_eq!(q.config().unwrap(), base);
    q.solve(&w, 4).expect("usable after errors");

    // GPTAQ needs xfp.
    let mut qa = Quantizer::new(
        COLS,
        Config {
            method: Method::Gptaq,
            ..base
        },
    )
    .unwrap();
    expect(
        qa.add_batch(&x, None).unwrap_err(),
        Status::InvalidArgument,
        "GPTAQ without xfp",
    );

    // Binary refuses the uniform solve.
    let mut qb = Quantizer::new(
        COLS,
        Config {
            backend: Backend::Cpu,
            ..Config::binary(3)
        },
    )
    .unwrap();
    qb.add_batch(&x, None).unwrap();
    expect(
        qb.solve(&w, 4).unwrap_err(),
        Status::InvalidArgument,
        "uniform solve, binary ctx",
    );

    // An indefinite Hessian that damping cannot fix.
    let mut qn = Quantizer::new(
        COLS,
        Config {
            damp_percent: 1e-30,
            damp_retries: 0,
            ..base
        },
    )
    .unwrap();
    let one: Vec<f32> = (0..COLS).map(|j| 1.0 + (j % 3) as f32).collect();
    qn.add_batch(&one, None).unwrap();
    expect(
        qn.solve(&w, 4).unwrap_err(),
        Status::NotPositiveDefinite,
        "indefinite Hessian",
    );
}

#[test]
fn binary_quantizer() {
    const COLS: usize = 64;
    const ROWS: usize = 12;
    let mut r = Rng(31);
    let xs: Vec<Vec<f32>> = (0..3).map(|_| activations(&mut r, 40, COLS)).collect();
    let w = r.fill(ROWS * COLS, 0.2);
    for k in [2usize, 3] {
        for objective in [Objective::Output, Objective::Hessian, Objective::Weight] {
            let cfg = Config {
                backend: Backend::Cpu,
                objective,
                ..Config::binary(k as i32)
            };
            let mut q = Quantizer::new(COLS, cfg).unwrap();
            for x in &xs {
                q.add_batch(x, None).unwrap();
            }
            let s: BinarySolution = q.solve_binary(&w, ROWS).unwrap();
            let want = raw_run(&cfg, COLS, Batches::F32(&xs, None), &w, ROWS);
            assert_eq!(s.codes, want.codes);
            assert!(same_f32(&s.alpha, &want.alpha) && same_f32(&s.bias, &want.bias));
            assert!(same_f32(&s.dequant, &want.dequant));
            assert_eq!(s.g_idx, want.g_idx);
            assert_eq!((s.bits, s.n_groups), (k, 1));
            assert!(s.info.level_set.is_some() && s.info.scale_index.is_some());
            let (mut err_q, mut err_w) = (0f64, 0f64);
            for (i, &c) in s.codes.iter().enumerate() {
                assert!((c as usize) < (1 << k));
                let row = i / COLS;
                let mut v = s.bias[row];
                for b in 0..k {
                    let a = s.alpha[row * k + b];
                    v += if c & (1 << (k - 1 - b)) != 0 { a } else { -a };
                }
                assert!(
                    (v - s.dequant[i]).abs() <= 1e-5 * (1.0 + v.abs()),
                    "dequant {} vs code {}",
                    s.dequant[i],
                    v
                );
                err_q += ((s.dequant[i] - w[i]) as f64).powi(2);
                err_w += (w[i] as f64).powi(2);
            }
            assert!(
                err_q < 0.5 * err_w,
                "k={} relative error {}",
                k,
                err_q / err_w
            );
        }
    }
}

#[test]
fn quantizer_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Quantizer>();
    assert_send::<Error>();
    const COLS: usize = 32;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let mut q = Quantizer::new(
                COLS,
                Config {
                    num_threads: 1,
                    ..cpu(8)
                },
            )
            .unwrap();
            std::thread::spawn(move || {
                let mut r = Rng(t);
                for _ in 0..5 {
                    q.add_batch(&activations(&mut r, 16, COLS), None).unwrap();
                }
                let s = q.solve(&r.fill(4 * COLS, 0.2), 4).unwrap();
                (q.num_tokens(), s.codes.len())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), (80, 4 * COLS));
    }
    // Errors from create carry their own message on every thread.
    let handles: Vec<_> = (1..=8)
        .map(|t| {
            std::thread::spawn(move || {
                let e = Quantizer::new(1usize << (40 + t), cpu(8)).unwrap_err();
                assert_eq!(e.status(), Status::Shape);
                assert!(
                    e.message().contains(&(1u64 << (40 + t)).to_string()),
                    "{}",
                    e
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Many create / add / solve / drop cycles do not grow the process.
#[test]
fn many_cycles_no_leak() {
    const COLS: usize = 128;
    const ROWS: usize = 32;
    let mut r = Rng(3);
    let x = activations(&mut r, 64, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    let cfg = Config {
        num_threads: 1,
        ..cpu(32)
    };
    let cycle = |n: usize| {
        for i in 0..n {
            let mut q = Quantizer::new(COLS, cfg).unwrap();
            // closures registered and replaced: their boxes must be freed too
            let mut seen = vec![0u8; 4096];
            q.set_log(Some(move |_l: gptaq::LogLevel, m: &str| seen[m.len() % 4096] = 1)).unwrap();
            q.set_progress(Some(|_p: gptaq::Phase, _d: u64, _t: u64| std::ops::ControlFlow::Continue(())))
                .unwrap();
            q.add_batch(&x, None).unwrap();
            if i % 2 == 0 {
                q.set_progress(None::<fn(gptaq::Phase, u64, u64) -> std::ops::ControlFlow<()>>).unwrap();
            }
            q.solve_with_progress(&w, ROWS, |_, _, _| std::ops::ControlFlow::Continue(())).unwrap();
            let bytes = q.serialize_stats().unwrap();
            q.deserialize_stats(&bytes, gptaq::StatsMode::Accumulate).unwrap();
            assert!(Quantizer::new(0, cfg).is_err());
            assert!(q.solve(&w[1..], ROWS).is_err());
            assert!(q.deserialize_stats(&bytes[..8], gptaq::StatsMode::Replace).is_err());
        }
    };
    cycle(200);
    let before = rss_kib();
    cycle(2000);
    let after = rss_kib();
    if let (Some(b), Some(a)) = (before, after) {
        eprintln!("RSS {} KiB -> {} KiB over 2000 cycles", b, a);
        // One leaked context alone is >= 128 KiB of statistics per cycle (~190 MiB).
        assert!(a - b < 16 * 1024, "RSS grew by {} KiB", a - b);
    }
}
