//! Enumerations, the configuration and what a solve reports.
use crate::error::{Error, Result, Status};
use gptaq_sys as sys;

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
        /// The GPTQ uniform grid: codes, scales, zeros ([`Quantizer::solve`](crate::Quantizer::solve)).
        Uniform = GPTAQ_QUANTIZER_UNIFORM,
        /// GPTQT binary coding: level indices, alphas, bias ([`Quantizer::solve_binary`](crate::Quantizer::solve_binary)).
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
    /// The phase a progress report is about (`gptaq_phase`).
    Phase: gptaq_phase {
        /// Accumulating a batch (tokens).
        Statistics = GPTAQ_PHASE_STATISTICS,
        /// Damping, Cholesky, inverse, GPTAQ's P (columns).
        Factorization = GPTAQ_PHASE_FACTORIZATION,
        /// The column sweep; GPTQT also the scale search (columns).
        Sweep = GPTAQ_PHASE_SWEEP,
        /// Writing the outputs (rows).
        Packing = GPTAQ_PHASE_PACKING,
    }
}

c_enum! {
    /// Severity of a log message (`gptaq_log_level`).
    LogLevel: gptaq_log_level {
        /// Sizes, timings of phases.
        Debug = GPTAQ_LOG_DEBUG,
        /// What a call decided: factor reused, backend chosen.
        Info = GPTAQ_LOG_INFO,
        /// Damping retries, the failsafe used, CUDA fallback to CPU.
        Warn = GPTAQ_LOG_WARN,
    }
}

c_enum! {
    /// How [`Quantizer::load_stats`](crate::Quantizer::load_stats) and
    /// [`Quantizer::deserialize_stats`](crate::Quantizer::deserialize_stats) combine
    /// statistics with the quantizer's own (`gptaq_stats_mode`).
    StatsMode: gptaq_stats_mode {
        /// The quantizer's statistics become the file's.
        Replace = GPTAQ_STATS_REPLACE,
        /// The file's statistics are added (a merge).
        Accumulate = GPTAQ_STATS_ACCUMULATE,
    }
}

c_enum! {
    /// GPTQ checkpoint zero convention (`gptaq_gptq_format`).
    GptqFormat: gptaq_gptq_format {
        /// checkpoint_format "gptq": qzeros store zero - 1 (what vLLM/transformers load).
        V1 = GPTAQ_GPTQ_V1,
        /// checkpoint_format "gptq_v2": qzeros store the zero.
        V2 = GPTAQ_GPTQ_V2,
    }
}

c_enum! {
    /// llama.cpp importance-matrix file format (`gptaq_imatrix_format`).
    ImatrixFormat: gptaq_imatrix_format {
        /// Current llama.cpp: GGUF with general.type = "imatrix".
        Gguf = GPTAQ_IMATRIX_GGUF,
        /// Legacy imatrix.dat.
        Dat = GPTAQ_IMATRIX_DAT,
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

/// The configuration of a [`Quantizer`](crate::Quantizer) (`gptaq_config`). Start from
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
    /// Group-aware reordering (GAR): columns by decreasing diag(H) inside each group,
    /// groups by their largest entry, so groups stay contiguous and `g_idx[c]` is
    /// `c / group_size`. Needs `group_size >= 1` and excludes `act_order`; default false.
    pub act_group_aware: bool,
    /// Quantize by round-to-nearest when the statistics hold fewer than this many tokens
    /// (zero tokens included; [`SolveInfo::failsafe_used`] says so); 0 = off, >= 0.
    pub failsafe_tokens: i32,
}

pub(crate) fn raw_default_config() -> sys::gptaq_config {
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
        r.act_group_aware = self.act_group_aware as i32;
        r.failsafe_tokens = self.failsafe_tokens;
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
            act_group_aware: r.act_group_aware != 0,
            failsafe_tokens: r.failsafe_tokens,
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
    /// Calibration tokens the statistics held at the solve.
    pub tokens: f64,
    /// Whether `Config::failsafe_tokens` made this a round-to-nearest solve.
    pub failsafe_used: bool,
}

impl SolveInfo {
    pub(crate) fn from_raw(r: &sys::gptaq_solve_info) -> SolveInfo {
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
            tokens: r.tokens,
            failsafe_used: r.failsafe_used != 0,
        }
    }
}
