//! Identical results to a C program: bindings/swig/tests/capi_ref.c runs the same
//! quantization through the raw C API (inputs and outputs as .npy files). ctest passes its
//! path as GPTAQ_CAPI_REF; without it (a bare `cargo test`) this test says so and passes.
mod common;

use common::*;
use gptaq::{f32_to_half, Backend, Config, HalfType, Method, Objective, Quantizer};
use gptaq_sys as sys;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn npy_write<T>(path: &Path, dtype: sys::gptaq_dtype, rows: usize, cols: usize, data: &[T]) {
    assert_eq!(data.len(), rows * cols);
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let st = unsafe {
        sys::gptaq_npy_write(
            p.as_ptr(),
            dtype.0 as i32,
            rows as i64,
            cols as i64,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(st, 0, "npy_write {}", path.display());
}

/// Read a whole .npy file written by the C program, as elements of T.
fn npy_read<T: Copy + Default>(path: &Path) -> Vec<T> {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    unsafe {
        let mut r: *mut sys::gptaq_npy_reader = std::ptr::null_mut();
        assert_eq!(
            sys::gptaq_npy_open(&mut r, p.as_ptr()),
            0,
            "open {}",
            path.display()
        );
        let (mut dt, mut rows, mut cols) = (0i32, 0i64, 0i64);
        assert_eq!(sys::gptaq_npy_info(r, &mut dt, &mut rows, &mut cols), 0);
        let mut out = vec![T::default(); (rows * cols) as usize];
        let mut got = 0i64;
        assert_eq!(
            sys::gptaq_npy_read_rows(r, out.as_mut_ptr().cast(), rows, &mut got),
            0
        );
        assert_eq!(got, rows);
        sys::gptaq_npy_close(r);
        out
    }
}

fn loss_of(dir: &Path) -> f64 {
    let s = std::fs::read_to_string(dir.join("info.txt")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("loss "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Case {
    name: &'static str,
    cfg: Config,
    fields: &'static [&'static str], // the same config as FIELD=VALUE for the C program
    cols: usize,
    rows: usize,
    tokens: usize,
    batch: usize,
    half: Option<HalfType>,
    mask: bool,
}

#[test]
fn identical_to_c_program() {
    let exe = match std::env::var_os("GPTAQ_CAPI_REF") {
        Some(p) => PathBuf::from(p),
        None => {
            eprintln!("GPTAQ_CAPI_REF not set: the comparison with the C program runs under ctest");
            return;
        }
    };
    let cpu = |g| Config {
        backend: Backend::Cpu,
        group_size: g,
        ..Config::default()
    };
    let cases = [
        Case {
            name: "gptq",
            cfg: cpu(16),
            fields: &["backend=1", "group_size=16"],
            cols: 64,
            rows: 24,
            tokens: 100,
            batch: 32,
            half: None,
            mask: false,
        },
        Case {
            name: "gptq_actorder_mask",
            cfg: Config {
                act_order: true,
                bits: 3,
                sym: false,
                ..cpu(16)
            },
            fields: &[
                "backend=1",
                "group_size=16",
                "act_order=1",
                "bits=3",
                "sym=0",
            ],
            cols: 48,
            rows: 16,
            tokens: 80,
            batch: 30,
            half: None,
            mask: true,
        },
        Case {
            name: "gptaq",
            cfg: Config {
                method: Method::Gptaq,
                ..cpu(32)
            },
            fields: &["backend=1", "group_size=32", "method=2"],
            cols: 64,
            rows: 20,
            tokens: 90,
            batch: 45,
            half: None,
            mask: false,
        },
        Case {
            name: "gptq_f16",
            cfg: cpu(-1),
            fields: &["backend=1", "group_size=-1"],
            cols: 32,
            rows: 8,
            tokens: 50,
            batch: 50,
            half: Some(HalfType::F16),
            mask: false,
        },
        Case {
            name: "gptaq_bf16",
            cfg: Config {
                method: Method::Gptaq,
                ..cpu(16)
            },
            fields: &["backend=1", "group_size=16", "method=2"],
            cols: 32,
            rows: 8,
            tokens: 40,
            batch: 13,
            half: Some(HalfType::Bf16),
            mask: false,
        },
        Case {
            name: "gptqt_k3",
            cfg: Config {
                backend: Backend::Cpu,
                objective: Objective::Hessian,
                ..Config::binary(3)
            },
            fields: &[
                "backend=1",
                "quantizer=1",
                "bits=3",
                "group_size=-1",
                "objective=1",
            ],
            cols: 64,
            rows: 12,
            tokens: 64,
            batch: 64,
            half: None,
            mask: false,
        },
    ];
    let tmp = std::env::temp_dir().join(format!("gptaq-rust-capi-{}", std::process::id()));
    for (ci, tc) in cases.iter().enumerate() {
        let dir = tmp.join(tc.name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rng(500 + ci as u64);
        let xq = activations(&mut r, tc.tokens, tc.cols);
        let xfp = perturb(&mut r, &xq, 0.05);
        let gptaq = tc.cfg.method == Method::Gptaq;
        let w = r.fill(tc.rows * tc.cols, 0.2);
        let mask: Vec<bool> = (0..tc.tokens).map(|t| !tc.mask || t % 4 != 1).collect();

        // The C program.
        let f32t = sys::gptaq_dtype::GPTAQ_DTYPE_F32;
        npy_write(&dir.join("w.npy"), f32t, tc.rows, tc.cols, &w);
        let (hq, hfp) = match tc.half {
            Some(dt) => (f32_to_half(dt, &xq), f32_to_half(dt, &xfp)),
            None => (vec![], vec![]),
        };
        if tc.half.is_some() {
            let f16 = sys::gptaq_dtype::GPTAQ_DTYPE_F16; // 16-bit payloads; --dtype says which
            npy_write(&dir.join("xq.npy"), f16, tc.tokens, tc.cols, &hq);
            npy_write(&dir.join("xfp.npy"), f16, tc.tokens, tc.cols, &hfp);
        } else {
            npy_write(&dir.join("xq.npy"), f32t, tc.tokens, tc.cols, &xq);
            npy_write(&dir.join("xfp.npy"), f32t, tc.tokens, tc.cols, &xfp);
        }
        let mask_u8: Vec<u8> = mask.iter().map(|&m| m as u8).collect();
        npy_write(
            &dir.join("mask.npy"),
            sys::gptaq_dtype::GPTAQ_DTYPE_U8,
            tc.tokens,
            1,
            &mask_u8,
        );
        let mut cmd = Command::new(&exe);
        cmd.arg(&dir).arg(dir.join("w.npy")).arg(dir.join("xq.npy"));
        cmd.args(["--batch", &tc.batch.to_string()]);
        if gptaq {
            cmd.arg("--xfp").arg(dir.join("xfp.npy"));
        }
        if tc.mask {
            cmd.arg("--mask").arg(dir.join("mask.npy"));
        }
        match tc.half {
            Some(HalfType::F16) => {
                cmd.args(["--dtype", "f16"]);
            }
            Some(HalfType::Bf16) => {
                cmd.args(["--dtype", "bf16"]);
            }
            None => {}
        }
        cmd.args(tc.fields);
        let out = cmd.output().expect("run gptaq_capi_ref");
        assert!(
            out.status.success(),
            "{}: capi_ref failed: {}",
            tc.name,
            String::from_utf8_lossy(&out.stderr)
        );

        // The safe crate, same inputs, same batching.
        let mut q = Quantizer::new(tc.cols, tc.cfg).unwrap();
        let mut t0 = 0;
        while t0 < tc.tokens {
            let t1 = (t0 + tc.batch).min(tc.tokens);
            let s = t0 * tc.cols..t1 * tc.cols;
            match tc.half {
                Some(dt) => q
                    .add_batch_half(dt, &hq[s.clone()], if gptaq { Some(&hfp[s]) } else { None })
                    .unwrap(),
                None => {
                    let fp = if gptaq { Some(&xfp[s.clone()]) } else { None };
                    if tc.mask {
                        q.add_batch_masked(&xq[s], fp, &mask[t0..t1]).unwrap()
                    } else {
                        q.add_batch(&xq[s], fp).unwrap()
                    }
                }
            }
            t0 = t1;
        }
        let codes: Vec<u8> = npy_read(&dir.join("codes.npy"));
        let dequant: Vec<f32> = npy_read(&dir.join("dequant.npy"));
        let g_idx: Vec<i32> = npy_read(&dir.join("g_idx.npy"));
        if tc.cfg.quantizer == gptaq::QuantizerKind::Binary {
            let s = q.solve_binary(&w, tc.rows).unwrap();
            assert_eq!(s.codes, codes, "{}: codes", tc.name);
            assert!(
                same_f32(&s.alpha, &npy_read::<f32>(&dir.join("alpha.npy"))),
                "{}: alpha",
                tc.name
            );
            assert!(
                same_f32(&s.bias, &npy_read::<f32>(&dir.join("bias.npy"))),
                "{}: bias",
                tc.name
            );
            assert!(same_f32(&s.dequant, &dequant), "{}: dequant", tc.name);
            assert_eq!(s.g_idx, g_idx);
            assert_eq!(s.info.loss, loss_of(&dir), "{}: loss", tc.name);
        } else {
            let s = q.solve(&w, tc.rows).unwrap();
            assert_eq!(s.codes, codes, "{}: codes", tc.name);
            assert!(
                same_f32(&s.scales, &npy_read::<f32>(&dir.join("scales.npy"))),
                "{}: scales",
                tc.name
            );
            assert!(
                same_f32(&s.zeros, &npy_read::<f32>(&dir.join("zeros.npy"))),
                "{}: zeros",
                tc.name
            );
            assert!(same_f32(&s.dequant, &dequant), "{}: dequant", tc.name);
            assert_eq!(s.g_idx, g_idx);
            assert_eq!(s.info.loss, loss_of(&dir), "{}: loss", tc.name);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
