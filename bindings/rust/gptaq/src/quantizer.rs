//! The quantizer (one library context): calibration, solving, callbacks and the exchange
//! of statistics.
use crate::config::{
    raw_default_config, Backend, Config, HalfType, LogLevel, Method, Phase, SolveInfo, StatsMode,
};
use crate::error::{
    c_path, error_with, invalid, last_error, owned_str, product, shape_error, to_i64,
    Error, Result, Status,
};
use gptaq_sys as sys;
use std::any::Any;
use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::os::raw::c_char;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};

// ------------------------------------------------------------------------------------
// Results
// ------------------------------------------------------------------------------------

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
    /// Loss, damping, timing, tokens, failsafe.
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
// Batches
// ------------------------------------------------------------------------------------

/// One calibration batch for [`Quantizer::add`]: `tokens x columns` row-major inputs in
/// fp32 or a 16-bit float format, the full-precision input for GPTAQ, and an optional
/// token mask. Built only from slices, so its lengths are always known:
///
/// ```
/// # use gptaq::{Batch, HalfType};
/// let xq = vec![0u16; 4 * 8];
/// let mask = [true, true, false, true];
/// let b = Batch::half(HalfType::Bf16, &xq, None).mask(&mask);
/// # let _ = b;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    dtype: i32,
    xq: *const c_void,
    xq_len: usize,
    xfp: *const c_void,
    xfp_len: Option<usize>,
    mask: Option<&'a [bool]>,
    _data: PhantomData<&'a [u8]>,
}

impl<'a> Batch<'a> {
    /// An fp32 batch; `xfp` is required for [`Method::Gptaq`] and must be `None` otherwise.
    pub fn f32(xq: &'a [f32], xfp: Option<&'a [f32]>) -> Batch<'a> {
        Batch {
            dtype: sys::gptaq_dtype::GPTAQ_DTYPE_F32.0 as i32,
            xq: xq.as_ptr().cast(),
            xq_len: xq.len(),
            xfp: xfp.map_or(ptr::null(), |x| x.as_ptr().cast()),
            xfp_len: xfp.map(|x| x.len()),
            mask: None,
            _data: PhantomData,
        }
    }

    /// A half-precision batch: fp16 or bf16 bit patterns as `u16`.
    pub fn half(dtype: HalfType, xq: &'a [u16], xfp: Option<&'a [u16]>) -> Batch<'a> {
        Batch {
            dtype: dtype.to_raw(),
            xq: xq.as_ptr().cast(),
            xq_len: xq.len(),
            xfp: xfp.map_or(ptr::null(), |x| x.as_ptr().cast()),
            xfp_len: xfp.map(|x| x.len()),
            mask: None,
            _data: PhantomData,
        }
    }

    /// Leave out the tokens whose mask entry is false (padding); one entry per token.
    pub fn mask(mut self, mask: &'a [bool]) -> Batch<'a> {
        self.mask = Some(mask);
        self
    }
}

// ------------------------------------------------------------------------------------
// Callbacks
// ------------------------------------------------------------------------------------

/// A callback's state on the heap or the stack: the closure and a panic it raised, which
/// is resumed on the caller's side once the C call has returned (a panic never unwinds
/// through the library).
struct CbState<F> {
    f: F,
    panic: Option<Box<dyn Any + Send>>,
}

unsafe extern "C" fn progress_trampoline<F>(
    ud: *mut c_void,
    phase: i32,
    done: i64,
    total: i64,
) -> i32
where
    F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
{
    // SAFETY: ud is the CbState<F> registered with this trampoline; it outlives the
    // registration and nothing else references it during the C call.
    let st = &mut *(ud as *mut CbState<F>);
    if st.panic.is_some() {
        return 1;
    }
    let phase = match Phase::from_raw(phase) {
        Some(p) => p,
        None => return 0, // a phase a newer library added: not reported
    };
    let f = &mut st.f;
    match catch_unwind(AssertUnwindSafe(|| f(phase, done.max(0) as u64, total.max(0) as u64))) {
        Ok(ControlFlow::Continue(())) => 0,
        Ok(ControlFlow::Break(())) => 1,
        Err(p) => {
            st.panic = Some(p);
            1 // cancel; the panic is resumed after the call
        }
    }
}

unsafe extern "C" fn log_trampoline<F>(ud: *mut c_void, level: i32, msg: *const c_char)
where
    F: FnMut(LogLevel, &str),
{
    // SAFETY: as for progress_trampoline.
    let st = &mut *(ud as *mut CbState<F>);
    if st.panic.is_some() || msg.is_null() {
        return;
    }
    let level = LogLevel::from_raw(level).unwrap_or(if level < 0 {
        LogLevel::Debug
    } else {
        LogLevel::Warn
    });
    let text = CStr::from_ptr(msg).to_string_lossy();
    let f = &mut st.f;
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(level, &text))) {
        st.panic = Some(p);
    }
}

unsafe fn take_panic_of<F>(ud: *mut c_void) -> Option<Box<dyn Any + Send>> {
    (*(ud as *mut CbState<F>)).panic.take()
}

unsafe fn free_state<F>(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut CbState<F>));
}

/// A closure registered on the context for the quantizer's lifetime (type-erased box).
struct Slot {
    data: *mut c_void,
    take_panic: unsafe fn(*mut c_void) -> Option<Box<dyn Any + Send>>,
    free: unsafe fn(*mut c_void),
}

impl Slot {
    fn new<F>(f: F) -> Slot {
        let data = Box::into_raw(Box::new(CbState { f, panic: None })) as *mut c_void;
        Slot {
            data,
            take_panic: take_panic_of::<F>,
            free: free_state::<F>,
        }
    }
    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: data is the live CbState of this slot's type.
        unsafe { (self.take_panic)(self.data) }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: created by Slot::new, freed once, after the context stopped using it.
        unsafe { (self.free)(self.data) }
    }
}

type ProgressFnPtr = unsafe extern "C" fn(*mut c_void, i32, i64, i64) -> i32;

// ------------------------------------------------------------------------------------
// The quantizer
// ------------------------------------------------------------------------------------

/// One library context: calibration statistics for one input width and a configuration.
///
/// **Threads.** `Quantizer` is `Send` but not `Sync`, and every call that changes or reads
/// the context's state takes `&mut self`. The C library answers a concurrent call on one
/// context with `GPTAQ_ERR_BUSY` (as the Python, Java and Go bindings do, which report
/// [`Status::Busy`]); in Rust such a call does not compile. Share a quantizer between
/// threads behind a `Mutex` (calls then wait) or use `Mutex::try_lock` to get the
/// BUSY behaviour of the other bindings; use one quantizer per thread for parallel
/// calibration and combine them with [`merge_stats`](Self::merge_stats) or
/// [`serialize_stats`](Self::serialize_stats). Dropping it frees the context.
///
/// Sharing one quantizer between threads without a lock does not compile:
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<gptaq::Quantizer>();
/// ```
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
pub struct Quantizer {
    ctx: NonNull<sys::gptaq_ctx>,
    columns: usize,
    progress: Option<(Slot, ProgressFnPtr)>,
    log: Option<Slot>,
}

impl std::fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantizer")
            .field("columns", &self.columns)
            .field("progress", &self.progress.is_some())
            .field("log", &self.log.is_some())
            .finish()
    }
}

// SAFETY: a context may be used from any thread as long as calls are not concurrent;
// `&mut self` on every call and the absence of `Sync` guarantee that. The registered
// closures are `Send`.
unsafe impl Send for Quantizer {}

impl Drop for Quantizer {
    fn drop(&mut self) {
        // SAFETY: the context was created by gptaq_ctx_create and is freed once; the
        // callback slots are dropped after it (fields drop after this body).
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
            return Err(last_error(st));
        }
        let ctx = NonNull::new(ctx)
            .ok_or_else(|| Error::new(Status::Internal, "gptaq_ctx_create returned NULL"))?;
        Ok(Quantizer {
            ctx,
            columns,
            progress: None,
            log: None,
        })
    }

    /// Create a quantizer with the statistics of a file written by
    /// [`save_stats`](Self::save_stats): its width comes from the file; `config`'s method
    /// must be of the file's family (GPTAQ or not).
    pub fn from_stats_file(path: impl AsRef<Path>, config: Config) -> Result<Quantizer> {
        let info = stats_file_info(path.as_ref())?;
        let mut q = Quantizer::new(info.columns, config)?;
        q.load_stats(path, StatsMode::Replace)?;
        Ok(q)
    }

    fn raw(&self) -> *mut sys::gptaq_ctx {
        self.ctx.as_ptr()
    }

    /// Resume a panic one of the registered closures raised during the last call.
    pub(crate) fn resume_panics(&self) {
        let p = self
            .progress
            .as_ref()
            .and_then(|(s, _)| s.take_panic())
            .or_else(|| self.log.as_ref().and_then(|s| s.take_panic()));
        if let Some(p) = p {
            resume_unwind(p);
        }
    }

    /// The error for status `st` of a call on this context.
    fn error(&self, st: i32) -> Error {
        if st == sys::gptaq_status::GPTAQ_ERR_BUSY.0 {
            // The context's own message belongs to the other call.
            return last_error(st);
        }
        // SAFETY: the context is alive; the message is copied before any other call.
        let msg = unsafe { owned_str(sys::gptaq_ctx_errmsg(self.raw())) };
        error_with(st, msg)
    }

    /// After a C call on the context: resume a closure's panic, then map the status.
    fn check(&self, st: i32) -> Result<()> {
        self.resume_panics();
        if st == 0 {
            Ok(())
        } else {
            Err(self.error(st))
        }
    }

    /// The input width.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The backend the context actually runs on (Cpu or Cuda).
    pub fn backend(&self) -> Backend {
        // SAFETY: live context.
        let b = unsafe { sys::gptaq_ctx_backend(self.raw()) };
        Backend::from_raw(b).unwrap_or(Backend::Cpu)
    }

    /// Tokens accumulated so far (masked-out tokens not counted).
    pub fn num_tokens(&self) -> u64 {
        // SAFETY: live context.
        let n = unsafe { sys::gptaq_ctx_num_tokens(self.raw()) };
        self.resume_panics();
        n.max(0) as u64
    }

    /// The current configuration.
    pub fn config(&self) -> Result<Config> {
        let mut raw = raw_default_config();
        // SAFETY: raw is a full gptaq_config with struct_size set.
        let st = unsafe { sys::gptaq_ctx_get_config(self.raw(), &mut raw) };
        self.resume_panics();
        if st != 0 {
            // get_config leaves its message in the thread-local slot.
            return Err(last_error(st));
        }
        Config::from_raw(&raw)
    }

    /// Replace the configuration, keeping the statistics (e.g. solve again at other bits).
    /// Backend, device and method family cannot change (`InvalidArgument`); on an error
    /// the old configuration stays.
    pub fn set_config(&mut self, config: Config) -> Result<()> {
        let raw = config.to_raw();
        // SAFETY: live context, valid config.
        let st = unsafe { sys::gptaq_ctx_set_config(self.raw(), &raw) };
        self.check(st)
    }

    /// Forget all statistics.
    pub fn reset(&mut self) -> Result<()> {
        // SAFETY: live context.
        let st = unsafe { sys::gptaq_ctx_reset(self.raw()) };
        self.check(st)
    }

    /// CUDA only: enqueue the context's work on `stream` (a `cudaStream_t`); see
    /// [`clear_stream`](Self::clear_stream) to go back to the context's own stream.
    /// `Unsupported` on the CPU backend.
    ///
    /// # Safety
    /// `stream` must be a valid CUDA stream of the context's device that stays alive
    /// while the quantizer uses it.
    pub unsafe fn set_stream(&mut self, stream: *mut c_void) -> Result<()> {
        let st = sys::gptaq_ctx_set_stream(self.raw(), stream);
        self.check(st)
    }

    /// Go back to the context's own CUDA stream (a no-op on the CPU backend).
    pub fn clear_stream(&mut self) -> Result<()> {
        // SAFETY: NULL is always valid.
        let st = unsafe { sys::gptaq_ctx_set_stream(self.raw(), ptr::null_mut()) };
        self.check(st)
    }

    // ---- callbacks ----

    /// Register (or with `None` remove) a progress callback for every later
    /// [`add`](Self::add) / `add_batch*` / [`solve`](Self::solve) /
    /// [`solve_binary`](Self::solve_binary): it gets the phase, the work done and the work
    /// total (tokens for statistics, columns for factorization and sweep, rows for
    /// packing) at a bounded rate, and returns `ControlFlow::Break(())` to cancel: the call
    /// then fails with [`Status::Cancelled`] and leaves the quantizer exactly as before.
    /// A panic in the closure cancels the call and is resumed after it returns (it never
    /// unwinds through the library). For a closure that borrows local state use
    /// [`solve_with_progress`](Self::solve_with_progress) /
    /// [`add_with_progress`](Self::add_with_progress).
    pub fn set_progress<F>(&mut self, callback: Option<F>) -> Result<()>
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()> + Send + 'static,
    {
        match callback {
            Some(f) => {
                let slot = Slot::new(f);
                let tramp: ProgressFnPtr = progress_trampoline::<F>;
                // SAFETY: slot.data is a CbState<F> that lives until replaced or dropped,
                // both of which unregister it first.
                let st = unsafe { sys::gptaq_ctx_set_progress(self.raw(), Some(tramp), slot.data) };
                self.check(st)?;
                self.progress = Some((slot, tramp));
            }
            None => {
                // SAFETY: clearing is always valid.
                let st = unsafe { sys::gptaq_ctx_set_progress(self.raw(), None, ptr::null_mut()) };
                self.check(st)?;
                self.progress = None;
            }
        }
        Ok(())
    }

    /// Register (or with `None` remove) a log callback: the level and one complete
    /// message, called on the calling thread from the quantizer's calls. The library
    /// never prints; without a callback its messages are dropped. A panic in the closure
    /// is resumed after the call returns.
    pub fn set_log<F>(&mut self, callback: Option<F>) -> Result<()>
    where
        F: FnMut(LogLevel, &str) + Send + 'static,
    {
        match callback {
            Some(f) => {
                let slot = Slot::new(f);
                // SAFETY: as for set_progress.
                let st = unsafe {
                    sys::gptaq_ctx_set_log(self.raw(), Some(log_trampoline::<F>), slot.data)
                };
                self.check(st)?;
                self.log = Some(slot);
            }
            None => {
                // SAFETY: clearing is always valid.
                let st = unsafe { sys::gptaq_ctx_set_log(self.raw(), None, ptr::null_mut()) };
                self.check(st)?;
                self.log = None;
            }
        }
        Ok(())
    }

    /// Run `call` (one C call on the context) with `progress` registered for its
    /// duration, then restore the persistent callback.
    fn with_progress<F, T>(&mut self, progress: F, call: impl FnOnce(&mut Self) -> Result<T>) -> Result<T>
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
    {
        let mut state = CbState {
            f: progress,
            panic: None,
        };
        let ud = &mut state as *mut CbState<F> as *mut c_void;
        // SAFETY: state outlives the registration: it is replaced below before returning,
        // and `call` is this crate's own code (a single FFI call that does not unwind).
        let st = unsafe {
            sys::gptaq_ctx_set_progress(self.raw(), Some(progress_trampoline::<F>), ud)
        };
        self.check(st)?;
        let result = call(self);
        let (data, tramp) = match &self.progress {
            Some((s, t)) => (s.data, Some(*t)),
            None => (ptr::null_mut(), None),
        };
        // SAFETY: re-registers the persistent slot (or none). The library cannot refuse
        // this on a context no other thread uses.
        let restored = unsafe { sys::gptaq_ctx_set_progress(self.raw(), tramp, data) };
        if let Some(p) = state.panic.take() {
            resume_unwind(p);
        }
        if restored != 0 {
            return Err(self.error(restored));
        }
        result
    }

    // ---- calibration ----

    fn tokens_of(&self, b: &Batch<'_>) -> Result<i64> {
        if b.xq_len.checked_rem(self.columns) != Some(0) {
            return Err(shape_error(format!(
                "batch length {} is not a multiple of columns = {}",
                b.xq_len, self.columns
            )));
        }
        if let Some(m) = b.xfp_len {
            if m != b.xq_len {
                return Err(shape_error(format!(
                    "xfp has {} values but xq has {}: they must be the same shape",
                    m, b.xq_len
                )));
            }
        }
        let tokens = b.xq_len / self.columns;
        if let Some(mask) = b.mask {
            if mask.len() != tokens {
                return Err(shape_error(format!(
                    "mask has {} entries but the batch has {} tokens",
                    mask.len(),
                    tokens
                )));
            }
        }
        to_i64(tokens, "tokens")
    }

    /// Accumulate one calibration [`Batch`] (fp32 or 16-bit, optionally masked).
    ///
    /// Errors: `Shape` (length not a multiple of columns, xfp of another length, a mask
    /// of another token count), `InvalidArgument` (xfp missing for GPTAQ or given for
    /// another method), `NonFinite` (the batch is rejected whole), `OutOfMemory`,
    /// `Device`, `Cancelled` (by the progress callback).
    pub fn add(&mut self, batch: Batch<'_>) -> Result<()> {
        let tokens = self.tokens_of(&batch)?;
        let mask = batch.mask.map_or(ptr::null(), |m| m.as_ptr().cast::<u8>());
        // SAFETY: xq (and xfp when non-NULL) hold tokens x columns elements of the
        // batch's dtype (checked above), mask (when non-NULL) tokens bytes; bool is one
        // byte, 0 or 1, exactly the C mask layout.
        let st = unsafe {
            sys::gptaq_add_batch_masked(self.raw(), batch.xq, batch.xfp, tokens, batch.dtype, mask)
        };
        self.check(st)
    }

    /// [`add`](Self::add) with a progress closure for this call only (it may borrow).
    pub fn add_with_progress<F>(&mut self, batch: Batch<'_>, progress: F) -> Result<()>
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
    {
        self.tokens_of(&batch)?;
        self.with_progress(progress, |q| q.add(batch))
    }

    /// Accumulate one fp32 calibration batch, `tokens x columns` row-major (the token
    /// count is `xq.len() / columns`). `xfp`, the full-precision model's input at the same
    /// positions, is required for [`Method::Gptaq`] and must be `None` otherwise.
    /// Errors as for [`add`](Self::add).
    pub fn add_batch(&mut self, xq: &[f32], xfp: Option<&[f32]>) -> Result<()> {
        self.add(Batch::f32(xq, xfp))
    }

    /// As [`add_batch`](Self::add_batch) with a token mask: tokens whose `mask` entry is
    /// false (padding) are left out. `mask.len()` must equal the token count.
    pub fn add_batch_masked(&mut self, xq: &[f32], xfp: Option<&[f32]>, mask: &[bool]) -> Result<()> {
        self.add(Batch::f32(xq, xfp).mask(mask))
    }

    /// Accumulate one half-precision batch (fp16 or bf16 bit patterns as `u16`),
    /// `tokens x columns` row-major; otherwise as [`add_batch`](Self::add_batch).
    pub fn add_batch_half(&mut self, dtype: HalfType, xq: &[u16], xfp: Option<&[u16]>) -> Result<()> {
        self.add(Batch::half(dtype, xq, xfp))
    }

    /// A masked half-precision batch.
    pub fn add_batch_half_masked(
        &mut self,
        dtype: HalfType,
        xq: &[u16],
        xfp: Option<&[u16]>,
        mask: &[bool],
    ) -> Result<()> {
        self.add(Batch::half(dtype, xq, xfp).mask(mask))
    }

    // ---- solving ----

    fn check_weight(&self, w: &[f32], rows: usize) -> Result<(i64, i64)> {
        let n = product("weight", &[rows, self.columns])?;
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
        let g = crate::num_groups(self.columns, cfg.group_size)
            .ok_or_else(|| Error::new(Status::Internal, "cannot compute the number of groups"))?;
        Ok((cfg, g))
    }

    /// Quantize one weight (`rows x columns`, fp32, row-major) with the uniform grid
    /// against the statistics streamed so far. The factorization is cached and reused by
    /// the next solve until a batch is added or the configuration changes.
    ///
    /// Errors: `Shape` (w.len() != rows x columns, rows 0), `InvalidArgument` (the
    /// quantizer is configured for binary coding), `NonFinite`, `NoData` (no batch yet,
    /// except RTN and the failsafe), `NotPositiveDefinite`, `OutOfMemory`, `Device`,
    /// `Cancelled`.
    pub fn solve(&mut self, w: &[f32], rows: usize) -> Result<Solution> {
        let (r, c) = self.check_weight(w, rows)?;
        let (_, g) = self.n_groups()?;
        let pg = product("scales", &[rows, g])?;
        let mut codes = vec![0u8; w.len()];
        let mut scales = vec![0f32; pg];
        let mut zeros = vec![0f32; pg];
        let mut g_idx = vec![0i32; self.columns];
        let mut dequant = vec![0f32; w.len()];
        let mut info = new_info();
        // SAFETY: every buffer has the size the C API documents for (rows, columns, g).
        let st = unsafe {
            sys::gptaq_solve(
                self.raw(),
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

    /// [`solve`](Self::solve) with a progress closure for this call only (it may borrow):
    ///
    /// ```
    /// use gptaq::{Config, Phase, Quantizer};
    /// use std::ops::ControlFlow;
    /// let mut q = Quantizer::new(8, Config { group_size: -1, ..Config::default() })?;
    /// q.add_batch(&(0..64).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(), None)?;
    /// let mut calls = 0;
    /// let sol = q.solve_with_progress(&[0.25; 16], 2, |_phase: Phase, _done, _total| {
    ///     calls += 1;
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(sol.codes.len(), 16);
    /// # Ok::<(), gptaq::Error>(())
    /// ```
    pub fn solve_with_progress<F>(&mut self, w: &[f32], rows: usize, progress: F) -> Result<Solution>
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
    {
        self.check_weight(w, rows)?;
        self.with_progress(progress, |q| q.solve(w, rows))
    }

    /// Quantize one weight with the GPTQT binary-coding quantizer (the configuration's
    /// `quantizer` must be [`QuantizerKind::Binary`](crate::QuantizerKind::Binary), `bits`
    /// = k). Errors as for [`solve`](Self::solve); `InvalidArgument` when configured for
    /// the uniform grid.
    pub fn solve_binary(&mut self, w: &[f32], rows: usize) -> Result<BinarySolution> {
        let (r, c) = self.check_weight(w, rows)?;
        let (cfg, g) = self.n_groups()?;
        if !(1..=8).contains(&cfg.bits) {
            return Err(invalid(format!("bits = {} is outside 1..8", cfg.bits)));
        }
        let k = cfg.bits as usize;
        let mut codes = vec![0u8; w.len()];
        let mut alpha = vec![0f32; product("alpha", &[rows, g, k])?];
        let mut bias = vec![0f32; product("bias", &[rows, g])?];
        let mut g_idx = vec![0i32; self.columns];
        let mut dequant = vec![0f32; w.len()];
        let mut info = new_info();
        // SAFETY: every buffer has the size the C API documents for (rows, columns, g, k).
        let st = unsafe {
            sys::gptaq_solve_binary(
                self.raw(),
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

    /// [`solve_binary`](Self::solve_binary) with a progress closure for this call only.
    pub fn solve_binary_with_progress<F>(
        &mut self,
        w: &[f32],
        rows: usize,
        progress: F,
    ) -> Result<BinarySolution>
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
    {
        self.check_weight(w, rows)?;
        self.with_progress(progress, |q| q.solve_binary(w, rows))
    }

    // ---- statistics exchange ----

    /// Add the statistics of `src` into this quantizer (`self += src`, token counts too).
    /// Both must have the same columns (`Shape`) and method family (`InvalidArgument`);
    /// on an error this quantizer is unchanged.
    pub fn merge_stats(&mut self, src: &Quantizer) -> Result<()> {
        // SAFETY: two distinct live contexts (the borrows guarantee src != self).
        let st = unsafe { sys::gptaq_stats_merge(self.raw(), src.raw()) };
        src.resume_panics();
        self.check(st)
    }

    /// Write the statistics to a file (atomically: a temporary file renamed into place).
    pub fn save_stats(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        // SAFETY: live context, NUL-terminated path.
        let st = unsafe { sys::gptaq_stats_save(self.raw(), p.as_ptr()) };
        self.check(st)
    }

    /// Read a statistics file, replacing or adding to the quantizer's own. The file is
    /// verified whole first; on any error the quantizer is unchanged.
    pub fn load_stats(&mut self, path: impl AsRef<Path>, mode: StatsMode) -> Result<()> {
        let p = c_path(path.as_ref())?;
        // SAFETY: live context, NUL-terminated path.
        let st = unsafe { sys::gptaq_stats_load(self.raw(), p.as_ptr(), mode.to_raw()) };
        self.check(st)
    }

    /// The size in bytes of [`serialize_stats`](Self::serialize_stats)'s output.
    pub fn stats_serialized_size(&self) -> Result<usize> {
        let mut n = 0i64;
        // SAFETY: live context, valid out pointer.
        let st = unsafe { sys::gptaq_stats_serialized_size(self.raw(), &mut n) };
        self.resume_panics();
        if st != 0 {
            return Err(self.error(st));
        }
        usize::try_from(n).map_err(|_| Error::new(Status::Internal, format!("size {}", n)))
    }

    /// The statistics in the versioned, checksummed file format, as bytes to move to
    /// another worker (then [`deserialize_stats`](Self::deserialize_stats) there).
    pub fn serialize_stats(&mut self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.stats_serialized_size()?];
        let n = self.serialize_stats_into(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Serialize into `dst` (at least [`stats_serialized_size`](Self::stats_serialized_size)
    /// bytes, else `Shape`); returns the bytes written.
    pub fn serialize_stats_into(&mut self, dst: &mut [u8]) -> Result<usize> {
        let cap = to_i64(dst.len(), "capacity")?;
        let mut written = 0i64;
        // SAFETY: dst holds cap bytes.
        let st = unsafe {
            sys::gptaq_stats_serialize(self.raw(), dst.as_mut_ptr().cast(), cap, &mut written)
        };
        self.check(st)?;
        Ok(written.max(0) as usize)
    }

    /// Load statistics from bytes of [`serialize_stats`](Self::serialize_stats)
    /// (untrusted: verified whole first; on any error the quantizer is unchanged).
    pub fn deserialize_stats(&mut self, bytes: &[u8], mode: StatsMode) -> Result<()> {
        let n = to_i64(bytes.len(), "size")?;
        // SAFETY: bytes holds n bytes.
        let st = unsafe {
            sys::gptaq_stats_deserialize(self.raw(), bytes.as_ptr().cast(), n, mode.to_raw())
        };
        self.check(st)
    }

    /// Direct access to the statistics for an in-place reduction (e.g. an MPI or
    /// collective all-reduce): see [`StatsBuffers`]. Drops the cached factorization.
    pub fn stats_buffers(&mut self) -> Result<StatsBuffers<'_>> {
        // SAFETY: plain old data.
        let mut raw: sys::gptaq_stats_buffers = unsafe { std::mem::zeroed() };
        raw.struct_size = std::mem::size_of::<sys::gptaq_stats_buffers>() as i32;
        // SAFETY: live context, struct_size set.
        let st = unsafe { sys::gptaq_stats_buffers_get(self.raw(), &mut raw) };
        self.check(st)?;
        Ok(StatsBuffers {
            q: self,
            raw,
            committed: false,
        })
    }

    /// The importance-matrix vector of the statistics: `in_sum2[j]` = sum over tokens of
    /// x_j^2 (columns floats), and the token count.
    pub fn imatrix(&mut self) -> Result<(Vec<f32>, u64)> {
        let mut v = vec![0f32; self.columns];
        let mut tokens = 0i64;
        // SAFETY: v holds columns floats.
        let st = unsafe { sys::gptaq_ctx_imatrix(self.raw(), v.as_mut_ptr(), &mut tokens) };
        self.check(st)?;
        Ok((v, tokens.max(0) as u64))
    }

    /// The raw context, for experts calling `gptaq-sys` directly. It stays owned by the
    /// quantizer; do not free it, and do not register callbacks on it (the quantizer's
    /// own would be left dangling).
    pub fn as_raw(&self) -> *mut sys::gptaq_ctx {
        self.raw()
    }
}

fn new_info() -> sys::gptaq_solve_info {
    // SAFETY: plain old data.
    let mut info: sys::gptaq_solve_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<sys::gptaq_solve_info>() as i32;
    info
}

// ------------------------------------------------------------------------------------
// Direct access to the statistics
// ------------------------------------------------------------------------------------

/// The statistics of a quantizer, borrowed for an in-place reduction across workers:
/// `xx` = sum x x^T (columns x columns fp32), `dx` = sum (x_fp - x) x^T (GPTAQ only),
/// `xsum` = sum x (columns fp64) and the token count. Sum each of them across workers
/// (an all-reduce), then [`commit`](Self::commit). Dropping it without `commit` commits
/// and ignores a failure (call `commit` to see it).
///
/// ```
/// use gptaq::{Config, Quantizer};
/// let mut q = Quantizer::new(2, Config::default())?;
/// q.add_batch(&[1.0, 2.0], None)?;
/// let mut b = q.stats_buffers()?;
/// let h = b.host()?;
/// assert_eq!(h.xx, &[1.0, 2.0, 2.0, 4.0]);
/// for v in h.xx.iter_mut() { *v *= 2.0; }   // as if a second worker had the same token
/// for v in h.xsum.iter_mut() { *v *= 2.0; }
/// *h.tokens *= 2.0;
/// b.commit()?;
/// assert_eq!(q.num_tokens(), 2);
/// # Ok::<(), gptaq::Error>(())
/// ```
pub struct StatsBuffers<'q> {
    q: &'q mut Quantizer,
    raw: sys::gptaq_stats_buffers,
    committed: bool,
}

/// Host views of the statistics (CPU backend).
pub struct HostStats<'b> {
    /// columns x columns, row-major, symmetric.
    pub xx: &'b mut [f32],
    /// columns x columns, row-major (GPTAQ only).
    pub dx: Option<&'b mut [f32]>,
    /// columns.
    pub xsum: &'b mut [f64],
    /// The token count.
    pub tokens: &'b mut f64,
}

/// Device pointers of the statistics (CUDA backend), for a collective library such as
/// NCCL; `tokens` is host memory.
#[derive(Debug, Clone, Copy)]
pub struct DeviceStats {
    /// columns x columns fp32 in device memory.
    pub xx: *mut f32,
    /// columns x columns fp32 in device memory, or NULL.
    pub dx: *mut f32,
    /// columns fp64 in device memory.
    pub xsum: *mut f64,
    /// One fp64 in host memory.
    pub tokens: *mut f64,
}

impl<'q> StatsBuffers<'q> {
    /// Where the buffers live (Cpu: host memory; Cuda: device memory).
    pub fn backend(&self) -> Backend {
        Backend::from_raw(self.raw.backend).unwrap_or(Backend::Cpu)
    }

    /// Whether `dx` is kept (GPTAQ).
    pub fn has_cross(&self) -> bool {
        self.raw.has_cross != 0
    }

    /// Mutable host slices of the four sums; `Unsupported` when they are in device
    /// memory (use [`device`](Self::device)).
    pub fn host(&mut self) -> Result<HostStats<'_>> {
        if self.backend() != Backend::Cpu {
            return Err(Error::new(
                Status::Unsupported,
                "the statistics are in device memory: use StatsBuffers::device",
            ));
        }
        let n = self.q.columns;
        let nn = n * n; // fits: the context holds n x n floats
        // SAFETY: the library documents these host buffers of n*n / n elements, valid
        // until the context is freed; the &mut borrow of the quantizer excludes any other
        // call while the slices live.
        unsafe {
            Ok(HostStats {
                xx: std::slice::from_raw_parts_mut(self.raw.xx, nn),
                dx: if self.raw.dx.is_null() {
                    None
                } else {
                    Some(std::slice::from_raw_parts_mut(self.raw.dx, nn))
                },
                xsum: std::slice::from_raw_parts_mut(self.raw.xsum, n),
                tokens: &mut *self.raw.tokens,
            })
        }
    }

    /// The raw pointers (any backend); using them is up to the caller (`unsafe`).
    pub fn device(&self) -> DeviceStats {
        DeviceStats {
            xx: self.raw.xx,
            dx: self.raw.dx,
            xsum: self.raw.xsum,
            tokens: self.raw.tokens,
        }
    }

    /// Declare the buffers modified: the library re-symmetrizes xx and validates every
    /// value (`NonFinite`, `Format` for a negative diagonal, `InvalidArgument` for a bad
    /// token count; then reset or load good statistics).
    pub fn commit(mut self) -> Result<()> {
        self.committed = true;
        // SAFETY: live context.
        let st = unsafe { sys::gptaq_stats_commit(self.q.raw()) };
        self.q.check(st)
    }
}

impl Drop for StatsBuffers<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // SAFETY: live context. A failure stays in the context's message.
            unsafe { sys::gptaq_stats_commit(self.q.raw()) };
        }
    }
}

// ------------------------------------------------------------------------------------
// Statistics files without a quantizer
// ------------------------------------------------------------------------------------

/// The header of a statistics file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsFileInfo {
    /// The input width.
    pub columns: usize,
    /// The method of the context that wrote it.
    pub method: Option<Method>,
    /// Whether GPTAQ's cross term is present.
    pub has_cross: bool,
    /// The token count.
    pub tokens: f64,
}

/// Read and verify the header of a statistics file (the payload checksum is verified by
/// [`Quantizer::load_stats`]).
pub fn stats_file_info(path: impl AsRef<Path>) -> Result<StatsFileInfo> {
    let p = c_path(path.as_ref())?;
    let (mut cols, mut method, mut cross, mut tokens) = (0i64, 0i32, 0i32, 0f64);
    // SAFETY: valid outputs and path.
    let st = unsafe {
        sys::gptaq_stats_file_info(p.as_ptr(), &mut cols, &mut method, &mut cross, &mut tokens)
    };
    crate::error::check_free(st)?;
    Ok(StatsFileInfo {
        columns: usize::try_from(cols).map_err(|_| Error::new(Status::Format, "bad columns"))?,
        method: Method::from_raw(method),
        has_cross: cross != 0,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    //! The FFI side of the callbacks, called as the library calls them.
    use super::*;

    fn call_progress<F>(st: &mut CbState<F>, phase: i32, done: i64, total: i64) -> i32
    where
        F: FnMut(Phase, u64, u64) -> ControlFlow<()>,
    {
        // SAFETY: st is a live CbState<F>, as the library would pass it back.
        unsafe { progress_trampoline::<F>(st as *mut CbState<F> as *mut c_void, phase, done, total) }
    }

    #[test]
    fn progress_trampoline_maps_results_and_catches_panics() {
        let mut seen = Vec::new();
        let mut st = CbState {
            f: |p: Phase, d: u64, t: u64| {
                seen.push((p, d, t));
                if d >= 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            panic: None,
        };
        assert_eq!(call_progress(&mut st, 2, 1, 10), 0);
        assert_eq!(call_progress(&mut st, 1, 3, 10), 1);
        assert_eq!(call_progress(&mut st, 99, 1, 10), 0); // an unknown phase is not reported
        assert_eq!(call_progress(&mut st, 0, -5, -1), 0); // negative counts read as 0
        drop(st);
        assert_eq!(
            seen,
            [(Phase::Sweep, 1, 10), (Phase::Factorization, 3, 10), (Phase::Statistics, 0, 0)]
        );

        let mut calls = 0;
        let mut st = CbState {
            f: |_: Phase, _: u64, _: u64| -> ControlFlow<()> {
                calls += 1;
                panic!("boom")
            },
            panic: None,
        };
        assert_eq!(call_progress(&mut st, 2, 1, 10), 1, "a panic cancels");
        assert_eq!(call_progress(&mut st, 2, 2, 10), 1, "and keeps cancelling");
        let p = st.panic.take().expect("the panic is kept for the caller");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"boom"));
        drop(st);
        assert_eq!(calls, 1, "the closure is not called again after it panicked");
    }

    #[test]
    fn log_trampoline_passes_level_and_text() {
        let mut got = Vec::new();
        let mut st = CbState {
            f: |l: LogLevel, m: &str| got.push((l, m.to_string())),
            panic: None,
        };
        let msg = std::ffi::CString::new("factor reused").unwrap();
        // SAFETY: as the library calls it.
        unsafe {
            call_log(&mut st, 1, msg.as_ptr());
            call_log(&mut st, 7, msg.as_ptr()); // a newer, higher level reads as Warn
            call_log(&mut st, 0, ptr::null()); // never a NULL message
        }
        drop(st);
        assert_eq!(
            got,
            [(LogLevel::Info, "factor reused".to_string()), (LogLevel::Warn, "factor reused".to_string())]
        );

        let mut st = CbState {
            f: |_: LogLevel, _: &str| panic!("log boom"),
            panic: None,
        };
        // SAFETY: as the library calls it.
        unsafe { call_log(&mut st, 2, msg.as_ptr()) };
        assert!(st.panic.is_some());
    }

    unsafe fn call_log<F: FnMut(LogLevel, &str)>(st: &mut CbState<F>, level: i32, msg: *const c_char) {
        log_trampoline::<F>(st as *mut CbState<F> as *mut c_void, level, msg)
    }

    #[test]
    fn slots_free_their_closure() {
        let token = std::sync::Arc::new(());
        let t2 = token.clone();
        let slot = Slot::new(move |_: Phase, _: u64, _: u64| -> ControlFlow<()> {
            let _ = &t2;
            ControlFlow::Continue(())
        });
        assert_eq!(std::sync::Arc::strong_count(&token), 2);
        assert!(slot.take_panic().is_none());
        drop(slot);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
    }
}
