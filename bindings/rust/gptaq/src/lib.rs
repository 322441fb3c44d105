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
//! A failed call leaves the quantizer usable with its statistics unchanged.
//!
//! Linking: `gptaq-sys` finds the library through `GPTAQ_LIB_DIR` or `pkg-config gptaq` and
//! sets an rpath for the binaries it builds.

use gptaq_sys as sys;
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_char;
use std::ptr::{self, NonNull};

// ------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------

/// A library status other than success. The numeric values are those of `gptaq_status`
/// and never change; [`Status::Other`] keeps codes a newer library may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// NULL pointer, value out of range, bad enum value, wrong quantizer kind.
    InvalidArgument,
    /// A size does not match the context, or overflows.
    Shape,
    /// NaN or Inf in an input; nothing was changed.
    NonFinite,
    /// Solve before any calibration batch.
    NoData,
    /// The Hessian is still indefinite after the damping retries.
    NotPositiveDefinite,
    /// An allocation failed.
    OutOfMemory,
    /// The backend is not compiled in, or no device answers.
    BackendUnavailable,
    /// A CUDA / cuBLAS / cuSOLVER call failed.
    Device,
    /// A file could not be opened, read or written.
    Io,
    /// A file or buffer is malformed.
    Format,
    /// A valid request this build or method cannot do.
    Unsupported,
    /// The context is in use by another thread.
    Busy,
    /// A bug in the library.
    Internal,
    /// A status this binding does not know (from a newer library).
    Other(i32),
}

impl Status {
    /// Map a C status code (`< 0`) to a `Status`. `0` (success) maps to `Other(0)`.
    pub fn from_code(code: i32) -> Status {
        use sys::gptaq_status as S;
        match code {
            c if c == S::GPTAQ_ERR_INVALID_ARGUMENT.0 => Status::InvalidArgument,
            c if c == S::GPTAQ_ERR_SHAPE.0 => Status::Shape,
            c if c == S::GPTAQ_ERR_NON_FINITE.0 => Status::NonFinite,
            c if c == S::GPTAQ_ERR_NO_DATA.0 => Status::NoData,
            c if c == S::GPTAQ_ERR_NOT_POSITIVE_DEFINITE.0 => Status::NotPositiveDefinite,
            c if c == S::GPTAQ_ERR_OUT_OF_MEMORY.0 => Status::OutOfMemory,
            c if c == S::GPTAQ_ERR_BACKEND_UNAVAILABLE.0 => Status::BackendUnavailable,
            c if c == S::GPTAQ_ERR_DEVICE.0 => Status::Device,
            c if c == S::GPTAQ_ERR_IO.0 => Status::Io,
            c if c == S::GPTAQ_ERR_FORMAT.0 => Status::Format,
            c if c == S::GPTAQ_ERR_UNSUPPORTED.0 => Status::Unsupported,
            c if c == S::GPTAQ_ERR_BUSY.0 => Status::Busy,
            c if c == S::GPTAQ_ERR_INTERNAL.0 => Status::Internal,
            c => Status::Other(c),
        }
    }

    /// The C status code (`gptaq_status`).
    pub fn code(self) -> i32 {
        use sys::gptaq_status as S;
        match self {
            Status::InvalidArgument => S::GPTAQ_ERR_INVALID_ARGUMENT.0,
            Status::Shape => S::GPTAQ_ERR_SHAPE.0,
            Status::NonFinite => S::GPTAQ_ERR_NON_FINITE.0,
            Status::NoData => S::GPTAQ_ERR_NO_DATA.0,
            Status::NotPositiveDefinite => S::GPTAQ_ERR_NOT_POSITIVE_DEFINITE.0,
            Status::OutOfMemory => S::GPTAQ_ERR_OUT_OF_MEMORY.0,
            Status::BackendUnavailable => S::GPTAQ_ERR_BACKEND_UNAVAILABLE.0,
            Status::Device => S::GPTAQ_ERR_DEVICE.0,
            Status::Io => S::GPTAQ_ERR_IO.0,
            Status::Format => S::GPTAQ_ERR_FORMAT.0,
            Status::Unsupported => S::GPTAQ_ERR_UNSUPPORTED.0,
            Status::Busy => S::GPTAQ_ERR_BUSY.0,
            Status::Internal => S::GPTAQ_ERR_INTERNAL.0,
            Status::Other(c) => c,
        }
    }

    /// The library's English name of the status, e.g. `"invalid argument"`.
    pub fn name(self) -> &'static str {
        // SAFETY: gptaq_status_string returns a static, NUL-terminated string, never NULL.
        unsafe { static_str(sys::gptaq_status_string(self.code())) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from the library (or from this binding's own argument checks): a [`Status`]
/// and the message the library left on the context, copied at the time of the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// Build an error from a status and a message.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    /// What kind of failure this is.
    pub fn status(&self) -> Status {
        self.status
    }
    /// The C status code (`gptaq_status`, negative).
    pub fn code(&self) -> i32 {
        self.status.code()
    }
    /// The library's message (never empty).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gptaq: {} ({}): {}",
            self.status.name(),
            self.status.code(),
            self.message
        )
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// SAFETY: `p` must be NULL or a NUL-terminated string that lives for 'static.
unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

/// SAFETY: `p` must be NULL or a NUL-terminated string valid for the call.
unsafe fn owned_str(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn error_with(code: i32, message: String) -> Error {
    let status = Status::from_code(code);
    let message = if message.is_empty() {
        status.name().to_string()
    } else {
        message
    };
    Error { status, message }
}

fn shape_error(message: String) -> Error {
    Error::new(Status::Shape, message)
}

fn to_i64(n: usize, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| shape_error(format!("{} = {} does not fit in int64", what, n)))
}

// ------------------------------------------------------------------------------------
// Enumerations and configuration
// ------------------------------------------------------------------------------------

macro_rules! c_enum {
    ($(#[$m:meta])* $name:ident : $cty:ident { $($(#[$vm:meta])* $var:ident = $cval:ident,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)+ }
        impl $name {
            /// The C value.
            pub fn to_raw(self) -> i32 {
                match self { $($name::$var => sys::$cty::$cval.0 as i32,)+ }
            }
            /// The variant of a C value, `None` for a value this binding does not know.
            pub fn from_raw(v: i32) -> Option<$name> {
                $(if v == sys::$cty::$cval.0 as i32 { return Some($name::$var); })+
                None
            }
        }
    };
}

c_enum! {
    /// How quantization error is fed back (`gptaq_method`).
    Method: gptaq_method {
        /// Round to nearest: no error feedback.
        Rtn = GPTAQ_METHOD_RTN,
        /// GPTQ: error feedback through the inverse Hessian.
        Gptq = GPTAQ_METHOD_GPTQ,
        /// GPTAQ: GPTQ plus the asymmetric-calibration term; batches need `xfp`.
        Gptaq = GPTAQ_METHOD_GPTAQ,
    }
}

c_enum! {
    /// Which grid rounds a column (`gptaq_quantizer_kind`).
    QuantizerKind: gptaq_quantizer_kind {
        /// The GPTQ uniform grid: codes, scales, zeros ([`Quantizer::solve`]).
        Uniform = GPTAQ_QUANTIZER_UNIFORM,
        /// GPTQT binary coding: level indices, alphas, bias ([`Quantizer::solve_binary`]).
        Binary = GPTAQ_QUANTIZER_BINARY,
    }
}

c_enum! {
    /// Where the work runs (`gptaq_backend`).
    Backend: gptaq_backend {
        /// CUDA when compiled in and a device answers, else CPU.
        Auto = GPTAQ_BACKEND_AUTO,
        /// OpenBLAS on the CPU.
        Cpu = GPTAQ_BACKEND_CPU,
        /// CUDA (cuBLAS / cuSOLVER).
        Cuda = GPTAQ_BACKEND_CUDA,
    }
}

c_enum! {
    /// What the GPTQT level-set / scale search minimizes (`gptaq_objective`).
    Objective: gptaq_objective {
        /// mean over rows of (sum_j dW_rj * xbar_j)^2, xbar the mean calibration input.
        Output = GPTAQ_OBJECTIVE_OUTPUT,
        /// trace(dW H dW^T).
        Hessian = GPTAQ_OBJECTIVE_HESSIAN,
        /// sum dW^2 (also the fallback without activations).
        Weight = GPTAQ_OBJECTIVE_WEIGHT,
    }
}

c_enum! {
    /// The 16-bit float formats a batch may come in (`gptaq_dtype`), as raw `u16` bits.
    HalfType: gptaq_dtype {
        /// IEEE binary16.
        F16 = GPTAQ_DTYPE_F16,
        /// bfloat16.
        Bf16 = GPTAQ_DTYPE_BF16,
    }
}

/// The configuration of a [`Quantizer`] (`gptaq_config`). Start from
/// [`Config::default()`] (the library's defaults) and change what you need:
/// `Config { bits: 3, ..Config::default() }`. The library validates it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Error-feedback method; default GPTQ.
    pub method: Method,
    /// Bits per weight: 2..8 (uniform), 2..4 (binary); default 4.
    pub bits: i32,
    /// Columns per group, or -1 for one group per row; default 128.
    pub group_size: i32,
    /// Symmetric grid; default true.
    pub sym: bool,
    /// Quantize columns by decreasing diag(H); default false.
    pub act_order: bool,
    /// Group parameters from the original weight; default false.
    pub static_groups: bool,
    /// MSE clip search for scale/zero; default false.
    pub mse: bool,
    /// Lazy block width, 1..4096; default 128.
    pub block_size: i32,
    /// Backend; default Auto.
    pub backend: Backend,
    /// CUDA device ordinal; default 0.
    pub device: i32,
    /// CPU threads, 0 = all; default 0.
    pub num_threads: i32,
    /// Relative damping, > 0; default 0.01.
    pub damp_percent: f32,
    /// x10 damping retries when a factorization fails, 0..8; default 4.
    pub damp_retries: i32,
    /// GPTAQ's weight of the asymmetry term; default 0.25.
    pub alpha: f32,
    /// Exponent of the MSE clip error; default 2.4.
    pub mse_norm: f32,
    /// MSE grid points per unit shrink; default 100.
    pub mse_grid: i32,
    /// Largest shrink tried, (0, 1); default 0.8.
    pub mse_max_shrink: f32,
    /// Uniform grid or GPTQT binary coding; default Uniform.
    pub quantizer: QuantizerKind,
    /// GPTQT: bits n of the first linear step, bits < n <= 8; 0 = bits + 2.
    pub hyper_bits: i32,
    /// GPTQT: scale search span e in bits; default 1.
    pub explore_bits: i32,
    /// GPTQT: number of scale candidates S; default 20.
    pub explore_split: i32,
    /// GPTQT: objective of the level-set / scale search; default Output.
    pub objective: Objective,
}

fn raw_default_config() -> sys::gptaq_config {
    // SAFETY: gptaq_config is plain old data; config_init fills all of it.
    let mut raw: sys::gptaq_config = unsafe { std::mem::zeroed() };
    let st = unsafe { sys::gptaq_config_init(&mut raw, std::mem::size_of::<sys::gptaq_config>()) };
    debug_assert_eq!(st, 0);
    raw
}

impl Default for Config {
    /// The library's defaults (`gptaq_config_init`).
    fn default() -> Config {
        Config::from_raw(&raw_default_config()).expect("library defaults are known values")
    }
}

impl Config {
    /// A configuration for the binary quantizer (GPTQT) with `bits` = k, per channel,
    /// everything else at the defaults.
    pub fn binary(bits: i32) -> Config {
        Config {
            quantizer: QuantizerKind::Binary,
            bits,
            group_size: -1,
            ..Config::default()
        }
    }

    /// The C struct, with struct_size set.
    pub fn to_raw(&self) -> sys::gptaq_config {
        let mut r = raw_default_config();
        r.method = self.method.to_raw();
        r.bits = self.bits;
        r.group_size = self.group_size;
        r.sym = self.sym as i32;
        r.act_order = self.act_order as i32;
        r.static_groups = self.static_groups as i32;
        r.mse = self.mse as i32;
        r.block_size = self.block_size;
        r.backend = self.backend.to_raw();
        r.device = self.device;
        r.num_threads = self.num_threads;
        r.damp_percent = self.damp_percent;
        r.damp_retries = self.damp_retries;
        r.alpha = self.alpha;
        r.mse_norm = self.mse_norm;
        r.mse_grid = self.mse_grid;
        r.mse_max_shrink = self.mse_max_shrink;
        r.quantizer = self.quantizer.to_raw();
        r.hyper_bits = self.hyper_bits;
        r.explore_bits = self.explore_bits;
        r.explore_split = self.explore_split;
        r.objective = self.objective.to_raw();
        r
    }

    /// From the C struct; an error if an enum field has a value this binding does not know.
    pub fn from_raw(r: &sys::gptaq_config) -> Result<Config> {
        fn bad(field: &str, v: i32) -> Error {
            Error::new(
                Status::InvalidArgument,
                format!("unknown {} value {}", field, v),
            )
        }
        Ok(Config {
            method: Method::from_raw(r.method).ok_or_else(|| bad("method", r.method))?,
            bits: r.bits,
            group_size: r.group_size,
            sym: r.sym != 0,
            act_order: r.act_order != 0,
            static_groups: r.static_groups != 0,
            mse: r.mse != 0,
            block_size: r.block_size,
            backend: Backend::from_raw(r.backend).ok_or_else(|| bad("backend", r.backend))?,
            device: r.device,
            num_threads: r.num_threads,
            damp_percent: r.damp_percent,
            damp_retries: r.damp_retries,
            alpha: r.alpha,
            mse_norm: r.mse_norm,
            mse_grid: r.mse_grid,
            mse_max_shrink: r.mse_max_shrink,
            quantizer: QuantizerKind::from_raw(r.quantizer)
                .ok_or_else(|| bad("quantizer", r.quantizer))?,
            hyper_bits: r.hyper_bits,
            explore_bits: r.explore_bits,
            explore_split: r.explore_split,
            objective: Objective::from_raw(r.objective)
                .ok_or_else(|| bad("objective", r.objective))?,
        })
    }
}

// ------------------------------------------------------------------------------------
// Results
// ------------------------------------------------------------------------------------

/// What a solve reports beside its outputs (`gptaq_solve_info`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveInfo {
    /// Groups per row.
    pub n_groups: usize,
    /// Sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN).
    pub loss: f64,
    /// The relative damping finally used.
    pub damp_used: f32,
    /// How many x10 damping increases were needed.
    pub damp_retries: i32,
    /// Whether the cached factorization was reused.
    pub factor_reused: bool,
    /// GPTQT: the chosen level set.
    pub level_set: Option<i32>,
    /// GPTQT: the chosen scale candidate.
    pub scale_index: Option<i32>,
    /// Wall time of the solve in seconds.
    pub seconds: f64,
}

impl SolveInfo {
    fn from_raw(r: &sys::gptaq_solve_info) -> SolveInfo {
        SolveInfo {
            n_groups: r.n_groups.max(0) as usize,
            loss: r.loss,
            damp_used: r.damp_used,
            damp_retries: r.damp_retries,
            factor_reused: r.factor_reused != 0,
            level_set: if r.level_set >= 0 {
                Some(r.level_set)
            } else {
                None
            },
            scale_index: if r.scale_index >= 0 {
                Some(r.scale_index)
            } else {
                None
            },
            seconds: r.seconds,
        }
    }
}

/// The result of [`Quantizer::solve`] (uniform grid, GPTQ checkpoint conventions).
/// Row-major, `n_groups` parameters per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Weight rows (out_features).
    pub rows: usize,
    /// Weight columns (in_features).
    pub columns: usize,
    /// Groups per row.
    pub n_groups: usize,
    /// rows x columns codes in [0, 2^bits - 1].
    pub codes: Vec<u8>,
    /// rows x n_groups scales.
    pub scales: Vec<f32>,
    /// rows x n_groups zero points (integer-valued).
    pub zeros: Vec<f32>,
    /// Per column, the group that quantized it.
    pub g_idx: Vec<i32>,
    /// rows x columns dequantized weight: scale * (code - zero).
    pub dequant: Vec<f32>,
    /// Loss, damping, timing.
    pub info: SolveInfo,
}

/// The result of [`Quantizer::solve_binary`] (GPTQT binary coding): each weight is
/// `sum_i (+/-) alpha_i + bias` over its row's (group's) `bits` alphas.
#[derive(Debug, Clone, PartialEq)]
pub struct BinarySolution {
    /// Weight rows (out_features).
    pub rows: usize,
    /// Weight columns (in_features).
    pub columns: usize,
    /// Groups per row.
    pub n_groups: usize,
    /// k, the number of bit planes.
    pub bits: usize,
    /// rows x columns level indices in [0, 2^k); bit i (most significant first) set
    /// means +alpha_i.
    pub codes: Vec<u8>,
    /// rows x n_groups x k alphas.
    pub alpha: Vec<f32>,
    /// rows x n_groups biases.
    pub bias: Vec<f32>,
    /// Per column, the group that quantized it.
    pub g_idx: Vec<i32>,
    /// rows x columns dequantized weight.
    pub dequant: Vec<f32>,
    /// Loss, chosen level set and scale, timing.
    pub info: SolveInfo,
}

// ------------------------------------------------------------------------------------
// The quantizer
// ------------------------------------------------------------------------------------

/// One library context: calibration statistics for one input width and a configuration.
///
/// Not `Sync` (the context is not thread-safe) but `Send`: move it to another thread, or
/// wrap it in a `Mutex`. Dropping it frees the context.
///
/// ```
/// use gptaq::{Config, Method, Quantizer, Status};
///
/// let mut q = Quantizer::new(4, Config { method: Method::Gptaq, ..Config::default() }).unwrap();
/// // GPTAQ needs the full-precision input next to the quantized one.
/// let err = q.add_batch(&[0.5; 8], None).unwrap_err();
/// assert_eq!(err.status(), Status::InvalidArgument);
/// assert!(!err.message().is_empty());
/// q.add_batch(&[0.5, -1.0, 0.25, 2.0, 1.0, 0.0, -0.5, 0.75], Some(&[0.6, -1.0, 0.2, 2.1, 1.0, 0.1, -0.5, 0.7])).unwrap();
/// assert_eq!(q.num_tokens(), 2);
/// ```
#[derive(Debug)]
pub struct Quantizer {
    ctx: NonNull<sys::gptaq_ctx>,
    columns: usize,
}

// SAFETY: a context may be used from any thread as long as calls are not concurrent;
// `&mut self` on every mutating call and the absence of `Sync` guarantee that.
unsafe impl Send for Quantizer {}

impl Drop for Quantizer {
    fn drop(&mut self) {
        // SAFETY: the context was created by gptaq_ctx_create and is freed once.
        unsafe { sys::gptaq_ctx_free(self.ctx.as_ptr()) }
    }
}

impl Quantizer {
    /// Create a quantizer for inputs of width `columns` (in_features). The configuration
    /// is validated and copied.
    ///
    /// Errors: `Shape` (columns 0 or too large), `InvalidArgument` (a bad config field),
    /// `BackendUnavailable`, `OutOfMemory`, `Device`.
    pub fn new(columns: usize, config: Config) -> Result<Quantizer> {
        let cols = to_i64(columns, "columns")?;
        let raw = config.to_raw();
        let mut ctx: *mut sys::gptaq_ctx = ptr::null_mut();
        // SAFETY: valid out pointer and config; the thread-local message is read on the
        // same thread right after the call.
        let st = unsafe { sys::gptaq_ctx_create(&mut ctx, cols, &raw) };
        if st != 0 {
            let msg = unsafe { owned_str(sys::gptaq_last_errmsg()) };
            return Err(error_with(st, msg));
        }
        let ctx = NonNull::new(ctx)
            .ok_or_else(|| Error::new(Status::Internal, "gptaq_ctx_create returned NULL"))?;
        Ok(Quantizer { ctx, columns })
    }

    fn check(&self, st: i32) -> Result<()> {
        if st == 0 {
            Ok(())
        } else {
            // SAFETY: the context is alive; the message is copied before any other call.
            let msg = unsafe { owned_str(sys::gptaq_ctx_errmsg(self.ctx.as_ptr())) };
            Err(error_with(st, msg))
        }
    }

    /// The input width.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The backend the context actually runs on (Cpu or Cuda).
    pub fn backend(&self) -> Backend {
        let b = unsafe { sys::gptaq_ctx_backend(self.ctx.as_ptr()) };
        Backend::from_raw(b).unwrap_or(Backend::Cpu)
    }

    /// Tokens accumulated so far (masked-out tokens not counted).
    pub fn num_tokens(&self) -> u64 {
        let n = unsafe { sys::gptaq_ctx_num_tokens(self.ctx.as_ptr()) };
        n.max(0) as u64
    }

    /// The current configuration.
    pub fn config(&self) -> Result<Config> {
        let mut raw = raw_default_config();
        let st = unsafe { sys::gptaq_ctx_get_config(self.ctx.as_ptr(), &mut raw) };
        self.check(st)?;
        Config::from_raw(&raw)
    }

    /// Replace the configuration, keeping the statistics (e.g. solve again at other bits).
    /// Backend, device and method family cannot change (`InvalidArgument`); on an error
    /// the old configuration stays.
    pub fn set_config(&mut self, config: Config) -> Result<()> {
        let raw = config.to_raw();
        let st = unsafe { sys::gptaq_ctx_set_config(self.ctx.as_ptr(), &raw) };
        self.check(st)
    }

    /// Forget all statistics.
    pub fn reset(&mut self) -> Result<()> {
        let st = unsafe { sys::gptaq_ctx_reset(self.ctx.as_ptr()) };
        self.check(st)
    }

    fn tokens_of(&self, n: usize, xfp_len: Option<usize>) -> Result<i64> {
        if n % self.columns != 0 {
            return Err(shape_error(format!(
                "batch length {} is not a multiple of columns = {}",
                n, self.columns
            )));
        }
        if let Some(m) = xfp_len {
            if m != n {
                return Err(shape_error(format!(
                    "xfp has {} values but xq has {}: they must be the same shape",
                    m, n
                )));
            }
        }
        to_i64(n / self.columns, "tokens")
    }

    fn add_raw(
        &mut self,
        xq: *const std::ffi::c_void,
        xfp: *const std::ffi::c_void,
        tokens: i64,
        dtype: i32,
        mask: *const u8,
    ) -> Result<()> {
        // SAFETY: the caller checked that xq (and xfp when non-NULL) hold tokens x columns
        // elements of dtype and mask (when non-NULL) holds tokens bytes.
        let st =
            unsafe { sys::gptaq_add_batch_masked(self.ctx.as_ptr(), xq, xfp, tokens, dtype, mask) };
        self.check(st)
    }

    /// Accumulate one fp32 calibration batch, `tokens x columns` row-major (the token
    /// count is `xq.len() / columns`). `xfp`, the full-precision model's input at the same
    /// positions, is required for [`Method::Gptaq`] and must be `None` otherwise.
    ///
    /// Errors: `Shape` (length not a multiple of columns, xfp of another length),
    /// `InvalidArgument` (xfp missing or superfluous), `NonFinite` (the batch is rejected
    /// whole), `OutOfMemory`, `Device`, `Busy`.
    pub fn add_batch(&mut self, xq: &[f32], xfp: Option<&[f32]>) -> Result<()> {
        let tokens = self.tokens_of(xq.len(), xfp.map(|x| x.len()))?;
        let xfp_ptr = xfp.map_or(ptr::null(), |x| x.as_ptr().cast());
        let dtype = sys::gptaq_dtype::GPTAQ_DTYPE_F32.0 as i32;
        self.add_raw(xq.as_ptr().cast(), xfp_ptr, tokens, dtype, ptr::null())
    }

    /// As [`add_batch`](Self::add_batch) with a token mask: tokens whose `mask` entry is
    /// false (padding) are left out. `mask.len()` must equal the token count.
    pub fn add_batch_masked(
        &mut self,
        xq: &[f32],
        xfp: Option<&[f32]>,
        mask: &[bool],
    ) -> Result<()> {
        let tokens = self.tokens_of(xq.len(), xfp.map(|x| x.len()))?;
        if mask.len() as i64 != tokens {
            return Err(shape_error(format!(
                "mask has {} entries but the batch has {} tokens",
                mask.len(),
                tokens
            )));
        }
        let xfp_ptr = xfp.map_or(ptr::null(), |x| x.as_ptr().cast());
        let dtype = sys::gptaq_dtype::GPTAQ_DTYPE_F32.0 as i32;
        // bool is one byte, 0 or 1: exactly the C mask layout.
        self.add_raw(
            xq.as_ptr().cast(),
            xfp_ptr,
            tokens,
            dtype,
            mask.as_ptr().cast(),
        )
    }

    /// Accumulate one half-precision batch (fp16 or bf16 bit patterns as `u16`),
    /// `tokens x columns` row-major; otherwise as [`add_batch`](Self::add_batch).
    pub fn add_batch_half(
        &mut self,
        dtype: HalfType,
        xq: &[u16],
        xfp: Option<&[u16]>,
    ) -> Result<()> {
        let tokens = self.tokens_of(xq.len(), xfp.map(|x| x.len()))?;
        let xfp_ptr = xfp.map_or(ptr::null(), |x| x.as_ptr().cast());
        self.add_raw(
            xq.as_ptr().cast(),
            xfp_ptr,
            tokens,
            dtype.to_raw(),
            ptr::null(),
        )
    }

    fn check_weight(&self, w: &[f32], rows: usize) -> Result<(i64, i64)> {
        let n = rows.checked_mul(self.columns).ok_or_else(|| {
            shape_error(format!(
                "rows = {} x columns = {} overflows",
                rows, self.columns
            ))
        })?;
        if w.len() != n {
            return Err(shape_error(format!(
                "weight has {} values, expected rows x columns = {} x {} = {}",
                w.len(),
                rows,
                self.columns,
                n
            )));
        }
        Ok((to_i64(rows, "rows")?, to_i64(self.columns, "columns")?))
    }

    fn n_groups(&self) -> Result<(Config, usize)> {
        let cfg = self.config()?;
        let g = num_groups(self.columns, cfg.group_size)
            .ok_or_else(|| Error::new(Status::Internal, "cannot compute the number of groups"))?;
        Ok((cfg, g))
    }

    /// Quantize one weight (`rows x columns`, fp32, row-major) with the uniform grid
    /// against the statistics streamed so far. The factorization is cached and reused by
    /// the next solve until a batch is added or the configuration changes.
    ///
    /// Errors: `Shape` (w.len() != rows x columns, rows 0), `InvalidArgument` (the
    /// quantizer is configured for binary coding), `NonFinite`, `NoData` (no batch yet,
    /// except RTN), `NotPositiveDefinite`, `OutOfMemory`, `Device`, `Busy`.
    pub fn solve(&mut self, w: &[f32], rows: usize) -> Result<Solution> {
        let (r, c) = self.check_weight(w, rows)?;
        let (_, g) = self.n_groups()?;
        let mut codes = vec![0u8; w.len()];
        let mut scales = vec![0f32; rows * g];
        let mut zeros = vec![0f32; rows * g];
        let mut g_idx = vec![0i32; self.columns];
        let mut dequant = vec![0f32; w.len()];
        let mut info = new_info();
        // SAFETY: every buffer has the size the C API documents for (rows, columns, g).
        let st = unsafe {
            sys::gptaq_solve(
                self.ctx.as_ptr(),
                w.as_ptr(),
                r,
                c,
                codes.as_mut_ptr(),
                scales.as_mut_ptr(),
                zeros.as_mut_ptr(),
                g_idx.as_mut_ptr(),
                dequant.as_mut_ptr(),
                &mut info,
            )
        };
        self.check(st)?;
        Ok(Solution {
            rows,
            columns: self.columns,
            n_groups: g,
            codes,
            scales,
            zeros,
            g_idx,
            dequant,
            info: SolveInfo::from_raw(&info),
        })
    }

    /// Quantize one weight with the GPTQT binary-coding quantizer (the configuration's
    /// `quantizer` must be [`QuantizerKind::Binary`], `bits` = k). Errors as for
    /// [`solve`](Self::solve); `InvalidArgument` when configured for the uniform grid.
    pub fn solve_binary(&mut self, w: &[f32], rows: usize) -> Result<BinarySolution> {
        let (r, c) = self.check_weight(w, rows)?;
        let (cfg, g) = self.n_groups()?;
        let k = cfg.bits.max(1) as usize;
        let mut codes = vec![0u8; w.len()];
        let mut alpha = vec![0f32; rows * g * k];
        let mut bias = vec![0f32; rows * g];
        let mut g_idx = vec![0i32; self.columns];
        let mut dequant = vec![0f32; w.len()];
        let mut info = new_info();
        // SAFETY: every buffer has the size the C API documents for (rows, columns, g, k).
        let st = unsafe {
            sys::gptaq_solve_binary(
                self.ctx.as_ptr(),
                w.as_ptr(),
                r,
                c,
                codes.as_mut_ptr(),
                alpha.as_mut_ptr(),
                bias.as_mut_ptr(),
                g_idx.as_mut_ptr(),
                dequant.as_mut_ptr(),
                &mut info,
            )
        };
        self.check(st)?;
        Ok(BinarySolution {
            rows,
            columns: self.columns,
            n_groups: g,
            bits: k,
            codes,
            alpha,
            bias,
            g_idx,
            dequant,
            info: SolveInfo::from_raw(&info),
        })
    }

    /// The raw context, for calls this crate does not wrap (via `gptaq-sys`). It stays
    /// owned by the quantizer.
    pub fn as_raw(&self) -> *mut sys::gptaq_ctx {
        self.ctx.as_ptr()
    }
}

fn new_info() -> sys::gptaq_solve_info {
    // SAFETY: plain old data.
    let mut info: sys::gptaq_solve_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<sys::gptaq_solve_info>() as i32;
    info
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
