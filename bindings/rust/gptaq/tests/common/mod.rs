//! Shared helpers of the integration tests: deterministic inputs and the raw C API.
#![allow(dead_code)]

use gptaq::{Config, HalfType, QuantizerKind};
use gptaq_sys as sys;

/// 64-bit LCG; values are exact multiples of 2^-24 (the Go tests use the same one).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    pub fn fill(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| scale * self.next()).collect()
    }
}

/// Correlated activations: a few shared directions plus noise.
pub fn activations(r: &mut Rng, tokens: usize, cols: usize) -> Vec<f32> {
    const K: usize = 4;
    let basis = r.fill(K * cols, 1.0);
    let mut x = vec![0f32; tokens * cols];
    for t in 0..tokens {
        let c = r.fill(K, 2.0);
        for j in 0..cols {
            let mut v = 0.3 * r.next();
            for i in 0..K {
                v += c[i] * basis[i * cols + j];
            }
            x[t * cols + j] = v;
        }
    }
    x
}

pub fn perturb(r: &mut Rng, x: &[f32], eps: f32) -> Vec<f32> {
    x.iter().map(|v| v + eps * r.next()).collect()
}

/// Output of a raw C API run.
#[derive(Debug, Default)]
pub struct Raw {
    pub codes: Vec<u8>,
    pub scales: Vec<f32>,
    pub zeros: Vec<f32>,
    pub alpha: Vec<f32>,
    pub bias: Vec<f32>,
    pub g_idx: Vec<i32>,
    pub dequant: Vec<f32>,
    pub loss: f64,
}

/// Batches for a raw run: fp32 or 16-bit.
pub enum Batches<'a> {
    F32(&'a [Vec<f32>], Option<&'a [Vec<f32>]>),
    Half(HalfType, &'a [Vec<u16>], Option<&'a [Vec<u16>]>),
}

/// The same quantization through gptaq-sys only: one context, the batches, one solve.
pub fn raw_run(cfg: &Config, cols: usize, batches: Batches, w: &[f32], rows: usize) -> Raw {
    unsafe {
        let rc = cfg.to_raw();
        let mut ctx: *mut sys::gptaq_ctx = std::ptr::null_mut();
        assert_eq!(sys::gptaq_ctx_create(&mut ctx, cols as i64, &rc), 0);
        match batches {
            Batches::F32(xq, xfp) => {
                for (i, x) in xq.iter().enumerate() {
                    let fp = xfp.map_or(std::ptr::null(), |v| v[i].as_ptr().cast());
                    let st = sys::gptaq_add_batch(
                        ctx,
                        x.as_ptr().cast(),
                        fp,
                        (x.len() / cols) as i64,
                        sys::gptaq_dtype::GPTAQ_DTYPE_F32.0 as i32,
                    );
                    assert_eq!(st, 0);
                }
            }
            Batches::Half(dt, xq, xfp) => {
                for (i, x) in xq.iter().enumerate() {
                    let fp = xfp.map_or(std::ptr::null(), |v| v[i].as_ptr().cast());
                    let st = sys::gptaq_add_batch(
                        ctx,
                        x.as_ptr().cast(),
                        fp,
                        (x.len() / cols) as i64,
                        dt.to_raw(),
                    );
                    assert_eq!(st, 0);
                }
            }
        }
        let g = sys::gptaq_num_groups(cols as i64, cfg.group_size) as usize;
        let mut info: sys::gptaq_solve_info = std::mem::zeroed();
        info.struct_size = std::mem::size_of::<sys::gptaq_solve_info>() as i32;
        let mut out = Raw {
            codes: vec![0; rows * cols],
            g_idx: vec![0; cols],
            dequant: vec![0.0; rows * cols],
            ..Raw::default()
        };
        let st = if cfg.quantizer == QuantizerKind::Binary {
            let k = cfg.bits as usize;
            out.alpha = vec![0.0; rows * g * k];
            out.bias = vec![0.0; rows * g];
            sys::gptaq_solve_binary(
                ctx,
                w.as_ptr(),
                rows as i64,
                cols as i64,
                out.codes.as_mut_ptr(),
                out.alpha.as_mut_ptr(),
                out.bias.as_mut_ptr(),
                out.g_idx.as_mut_ptr(),
                out.dequant.as_mut_ptr(),
                &mut info,
            )
        } else {
            out.scales = vec![0.0; rows * g];
            out.zeros = vec![0.0; rows * g];
            sys::gptaq_solve(
                ctx,
                w.as_ptr(),
                rows as i64,
                cols as i64,
                out.codes.as_mut_ptr(),
                out.scales.as_mut_ptr(),
                out.zeros.as_mut_ptr(),
                out.g_idx.as_mut_ptr(),
                out.dequant.as_mut_ptr(),
                &mut info,
            )
        };
        if st != 0 {
            let msg = std::ffi::CStr::from_ptr(sys::gptaq_ctx_errmsg(ctx))
                .to_string_lossy()
                .into_owned();
            sys::gptaq_ctx_free(ctx);
            panic!("raw solve failed: {} {}", st, msg);
        }
        out.loss = info.loss;
        sys::gptaq_ctx_free(ctx);
        out
    }
}

/// Bitwise equality of float slices (NaN-safe, -0 != +0).
pub fn same_f32(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Resident set size of this process in KiB (Linux), or None.
pub fn rss_kib() -> Option<i64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}
