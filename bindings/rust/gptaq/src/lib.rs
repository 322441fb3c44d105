//! Safe Rust API of libgptaq: Hessian-based post-training quantization of linear-layer
//! weights (RTN, GPTQ, GPTAQ and the GPTQT binary coding) from streamed calibration
//! activations.
//!
//! A [`Quantizer`] owns one library context for one input width (`columns`, the layer's
//! `in_features`). Stream calibration batches into it with [`Quantizer::add_batch`] (only
//! `columns x columns` statistics are kept, whatever the number of tokens), then quantize
//! any number of weights that read that input with [`Quantizer::solve`] (uniform GPTQ grid)
//! or [`Quantizer::solve_binary`] (GPTQT binary coding). Matrices are row-major: a batch is
//! `tokens x columns`, a weight `rows x columns` (out_features x in_features).
//!
//! ```
//! use gptaq::{Config, Method, Quantizer};
//!
//! # fn main() -> Result<(), gptaq::Error> {
//! let columns = 16;
//! let cfg = Config { method: Method::Gptq, bits: 4, group_size: 8, ..Config::default() };
//! let mut q = Quantizer::new(columns, cfg)?;
//!
//! // Two calibration batches of 32 tokens each (tokens x columns, row-major).
//! for b in 0..2 {
//!     let batch: Vec<f32> = (0..32 * columns).map(|i| ((i * 7 + b * 3) % 13) as f32 - 6.0).collect();
//!     q.add_batch(&batch, None)?;
//! }
//! assert_eq!(q.num_tokens(), 64);
//!
//! // One 8 x 16 weight.
//! let w: Vec<f32> = (0..8 * columns).map(|i| ((i * 5) % 11) as f32 / 10.0 - 0.5).collect();
//! let sol = q.solve(&w, 8)?;
//! assert_eq!(sol.codes.len(), 8 * columns);
//! assert!(sol.codes.iter().all(|&c| c < 16));
//! assert_eq!(sol.scales.len(), 8 * sol.n_groups);
//! println!("loss {}", sol.info.loss);
//! # Ok(())
//! # }
//! ```
//!
//! Errors carry the library's status and message ([`Error::status`], [`Error::message`]).
//! A failed call leaves the quantizer usable with its statistics unchanged. Nothing in the
//! safe API can corrupt memory: every length, enum and size is checked before it reaches
//! the library; [`Quantizer::as_raw`] and `gptaq-sys` stay available for experts.
//!
//! The API by family (the crate README has an example of each):
//! - calibration and solving: [`Quantizer`], [`Config`], [`Batch`] (fp32, fp16/bf16,
//!   masked), [`Quantizer::solve`], [`Quantizer::solve_binary`], [`SolveInfo`];
//! - progress, cancellation and logs: [`Quantizer::set_progress`],
//!   [`Quantizer::solve_with_progress`], [`Quantizer::add_with_progress`],
//!   [`Quantizer::set_log`];
//! - statistics exchange (distributed calibration): [`Quantizer::merge_stats`],
//!   [`Quantizer::serialize_stats`] / [`Quantizer::deserialize_stats`],
//!   [`Quantizer::save_stats`] / [`Quantizer::load_stats`], [`stats_file_info`],
//!   [`Quantizer::stats_buffers`] (+ [`StatsBuffers::commit`]);
//! - GPTQ checkpoints: [`gptq_shapes`], [`gptq_pack`] / [`Solution::pack_gptq`],
//!   [`gptq_unpack`], [`gptq_quantize_config`], [`write_gptq_quantize_config`],
//!   [`read_gptq_quantize_config`];
//! - files: [`SafetensorsReader`], [`SafetensorsWriter`], [`Imatrix`] (+
//!   [`Quantizer::imatrix`]), [`NpyReader`], [`npy_read`], [`npy_write`];
//! - LUT-GEMM: [`lutgemm_pack`] / [`BinarySolution::pack_lutgemm`], [`lutgemm_unpack`];
//! - the library: [`version`], [`version_number`], [`build_info`], [`backend_available`],
//!   [`num_groups`], [`f32_to_half`], [`half_to_f32`].
//!
//! Linking: `gptaq-sys` finds the library through `GPTAQ_LIB_DIR` or `pkg-config gptaq`;
//! programs depending on this crate run without `LD_LIBRARY_PATH` (see gptaq-sys).
#![warn(missing_docs)]

use gptaq_sys as sys;

mod config;
mod error;
mod files;
mod formats;
mod quantizer;

pub use config::{
    Backend, Config, GptqFormat, HalfType, ImatrixFormat, LogLevel, Method, Objective, Phase,
    QuantizerKind, SolveInfo, StatsMode,
};
pub use error::{Error, Result, Status};
pub use files::{
    npy_read, npy_write, Element, Imatrix, NpyDtype, NpyElement, NpyReader, SafetensorsReader,
    SafetensorsWriter, StDtype, TensorInfo,
};
pub use formats::{
    gptq_pack, gptq_quantize_config, gptq_shapes, gptq_unpack, lutgemm_pack, lutgemm_unpack,
    read_gptq_quantize_config, read_gptq_quantize_config_over, write_gptq_quantize_config,
    GptqPackOptions, GptqPacked, GptqShapes, GptqTensors, GptqUnpacked, LutGemmPacked,
    LutGemmUnpacked, Scales, ScalesData, ScalesDtype,
};
pub use quantizer::{
    stats_file_info, Batch, BinarySolution, DeviceStats, HostStats, Quantizer, Solution,
    StatsBuffers, StatsFileInfo,
};

use error::static_str;

/// The library's English name of a status code, e.g. "invalid argument".
pub fn status_string(code: i32) -> &'static str {
    // SAFETY: static string, never NULL.
    unsafe { static_str(sys::gptaq_status_string(code)) }
}

// ------------------------------------------------------------------------------------
// Free functions
// ------------------------------------------------------------------------------------

/// The number of quantization groups for `columns` inputs and `group_size` (-1 = one
/// per row); `None` for invalid input.
pub fn num_groups(columns: usize, group_size: i32) -> Option<usize> {
    let c = i64::try_from(columns).ok()?;
    let g = unsafe { sys::gptaq_num_groups(c, group_size) };
    if g < 0 {
        None
    } else {
        Some(g as usize)
    }
}

/// The loaded library's version string, e.g. "0.1.0".
pub fn version() -> &'static str {
    unsafe { static_str(sys::gptaq_version_string()) }
}

/// The loaded library's version number (major * 10000 + minor * 100 + patch).
pub fn version_number() -> i32 {
    unsafe { sys::gptaq_version_number() }
}

/// The version number of the header these bindings were generated from.
pub const HEADER_VERSION_NUMBER: i32 = sys::GPTAQ_VERSION_NUMBER as i32;

/// A one-line description of the library build (backends, BLAS).
pub fn build_info() -> &'static str {
    unsafe { static_str(sys::gptaq_build_info()) }
}

/// Whether a backend is compiled in and (for CUDA) a device answers.
pub fn backend_available(backend: Backend) -> bool {
    unsafe { sys::gptaq_backend_available(backend.to_raw()) != 0 }
}

/// Convert fp32 values to fp16 / bf16 bit patterns (round to nearest even).
pub fn f32_to_half(dtype: HalfType, src: &[f32]) -> Vec<u16> {
    let mut dst = vec![0u16; src.len()];
    // SAFETY: dst has src.len() elements; dtype is F16 or BF16.
    let st = unsafe {
        sys::gptaq_f32_to_half(
            dtype.to_raw(),
            src.as_ptr(),
            dst.as_mut_ptr(),
            src.len() as i64,
        )
    };
    debug_assert_eq!(st, 0);
    dst
}

/// Convert fp16 / bf16 bit patterns to fp32.
pub fn half_to_f32(dtype: HalfType, src: &[u16]) -> Vec<f32> {
    let mut dst = vec![0f32; src.len()];
    // SAFETY: dst has src.len() elements; dtype is F16 or BF16.
    let st = unsafe {
        sys::gptaq_half_to_f32(
            dtype.to_raw(),
            src.as_ptr(),
            dst.as_mut_ptr(),
            src.len() as i64,
        )
    };
    debug_assert_eq!(st, 0);
    dst
}
