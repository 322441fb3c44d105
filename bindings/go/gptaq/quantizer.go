package gptaq

import (
	"bytes"
	"context"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Quantizer owns one library context: calibration statistics for one input width and a
// configuration.
//
// Concurrency: a Quantizer runs one call at a time. A call made while another goroutine
// is inside a call on the same Quantizer does not wait: it fails at once with ErrBusy,
// as the C library (and the Python, Java and Rust bindings) do; serialize calls on one
// Quantizer yourself, or give each goroutine its own. Different Quantizers run in
// parallel. Close is the exception: it waits for a call in progress to return.
//
// Close it when done (Close is idempotent); a finalizer frees a forgotten one, but only
// whenever the garbage collector gets to it. Every method of a nil or closed Quantizer
// returns ErrInvalidArgument.
type Quantizer struct {
	mu      sync.Mutex                   // held for the duration of each call
	ctx     lowlevel.Struct_SS_gptaq_ctx // nil once closed
	columns int
	cb      *callbacks // progress / log state, reached from C through handle
	handle  cgo.Handle
}

// SolveInfo is what a solve reports beside its outputs (gptaq_solve_info).
type SolveInfo struct {
	Loss         float64 // sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN)
	DampUsed     float32 // the relative damping finally used
	DampRetries  int     // how many x10 damping increases were needed
	FactorReused bool    // whether the cached factorization was reused
	LevelSet     int     // GPTQT: the chosen level set, else -1
	ScaleIndex   int     // GPTQT: the chosen scale candidate, else -1
	Seconds      float64 // wall time of the solve
	Tokens       float64 // calibration tokens the statistics held at the solve
	FailsafeUsed bool    // Config.FailsafeTokens made this a round-to-nearest solve
}

// Result is the output of Solve (uniform grid, GPTQ checkpoint conventions), row-major.
type Result struct {
	Rows, Columns, Groups int
	Bits, GroupSize       int       // the configuration the weight was solved with
	Codes                 []uint8   // Rows x Columns, each in [0, 2^Bits - 1]
	Scales                []float32 // Rows x Groups
	Zeros                 []float32 // Rows x Groups (integer-valued)
	GIdx                  []int32   // Columns: the group that quantized each column
	Dequant               []float32 // Rows x Columns: scale * (code - zero)
	Info                  SolveInfo
}

// BinaryResult is the output of SolveBinary (GPTQT binary coding): each weight is
// sum_i (+/-)alpha_i + bias over its row's (group's) Bits alphas.
type BinaryResult struct {
	Rows, Columns, Groups int
	Bits                  int       // k, the number of bit planes
	GroupSize             int       // the configuration's group size
	Codes                 []uint8   // Rows x Columns level indices; bit i (MSB first) set = +alpha_i
	Alpha                 []float32 // Rows x Groups x Bits
	Bias                  []float32 // Rows x Groups
	GIdx                  []int32   // Columns
	Dequant               []float32 // Rows x Columns
	Info                  SolveInfo
}

const msgCap = 2048

// NewQuantizer creates a quantizer for inputs of width columns (in_features). The
// configuration is validated and copied. Errors: ErrShape (columns <= 0, or so large
// that columns^2 overflows), ErrInvalidArgument (a bad config field, an int field
// outside the int32 range), ErrOutOfMemory, ErrBackendUnavailable, ErrDevice.
func NewQuantizer(columns int, cfg Config) (*Quantizer, error) {
	raw, err := cfg.toRaw()
	if err != nil {
		return nil, err
	}
	defer lowlevel.DeleteGptaq_config(raw)
	pp := lowlevel.New_gptaq_ctx_pp()
	defer lowlevel.Delete_gptaq_ctx_pp(pp)
	lowlevel.Gptaq_ctx_pp_assign(pp, lowlevel.SwigcptrStruct_SS_gptaq_ctx(0))
	msg := make([]byte, msgCap)
	// The thread-local message is copied inside the same C call (goroutines migrate).
	st := lowlevel.Gptaq_go_ctx_create(pp, int64(columns), raw, msg)
	if st != 0 {
		return nil, newError(st, cString(msg))
	}
	q := &Quantizer{ctx: lowlevel.Gptaq_ctx_pp_value(pp), columns: columns, cb: &callbacks{}}
	q.handle = cgo.NewHandle(q.cb)
	runtime.SetFinalizer(q, (*Quantizer).free)
	return q, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (q *Quantizer) free() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ctx != nil {
		lowlevel.Gptaq_ctx_free(q.ctx)
		q.ctx = nil
		q.handle.Delete()
	}
}

// Close frees the context, waiting for a call in progress on another goroutine to
// return first. Closing twice, or a nil Quantizer, is a no-op. It always returns nil
// (the error is there for io.Closer).
func (q *Quantizer) Close() error {
	if q == nil {
		return nil
	}
	q.free()
	runtime.SetFinalizer(q, nil)
	return nil
}

// acquire takes the quantizer for one call, or fails with ErrBusy (another goroutine
// is inside a call) or ErrInvalidArgument (nil, closed). The goroutine stays on its OS
// thread until release, so a message the library leaves in a thread-local slot is read
// on the thread that wrote it.
func (q *Quantizer) acquire() error {
	if q == nil {
		return errorf(StatusInvalidArgument, "the quantizer is nil")
	}
	if !q.mu.TryLock() {
		return errorf(StatusBusy, "the quantizer is in use by another goroutine (one call at a time per Quantizer)")
	}
	if q.ctx == nil {
		q.mu.Unlock()
		return errorf(StatusInvalidArgument, "the quantizer is closed")
	}
	runtime.LockOSThread()
	return nil
}

func (q *Quantizer) release() {
	runtime.UnlockOSThread()
	q.mu.Unlock()
}

// check turns a status of a call on q.ctx into an error; call it while acquired. A
// panic of the logger during the call is re-raised here.
func (q *Quantizer) check(st int) error {
	runtime.KeepAlive(q)
	q.cb.repanic()
	if st == 0 {
		return nil
	}
	return newError(st, lowlevel.Gptaq_swig_errmsg(q.ctx, st))
}

func cancelledBefore(err error) error {
	return &Error{Status: StatusCancelled, Message: "the call was not started: " + err.Error(), cause: err}
}

// run makes a call that reports progress (and can be cancelled) under ctx; acquired.
func (q *Quantizer) run(ctx context.Context, call func() int) error {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return cancelledBefore(err)
		}
		if ctx.Done() == nil { // never cancelled: no need to poll it
			ctx = nil
		}
	}
	// The progress trampoline is registered only while someone watches: a progress
	// function, or a context that can be cancelled.
	if want := q.cb.progress != nil || ctx != nil; want != q.cb.progressOn {
		h := cgo.Handle(0)
		if want {
			h = q.handle
		}
		if err := q.check(setProgress(q.ctx.Swigcptr(), h)); err != nil {
			return err
		}
		q.cb.progressOn = want
	}
	q.cb.begin(ctx)
	st := call()
	ctxErr := q.cb.end() // re-raises a callback's panic
	err := q.check(st)
	if e, ok := err.(*Error); ok && e.Status == StatusCancelled && ctxErr != nil {
		e.cause = ctxErr
		e.Message += " (" + ctxErr.Error() + ")"
	}
	return err
}

// Columns is the input width the quantizer was created for (0 for a nil Quantizer).
func (q *Quantizer) Columns() int {
	if q == nil {
		return 0
	}
	return q.columns
}

// NumTokens is the number of tokens accumulated so far (masked-out tokens not counted).
func (q *Quantizer) NumTokens() (int64, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	n := lowlevel.Gptaq_ctx_num_tokens(q.ctx)
	runtime.KeepAlive(q)
	return n, nil
}

// Backend is the backend the context actually runs on (BackendCPU or BackendCUDA).
func (q *Quantizer) Backend() (Backend, error) {
	if err := q.acquire(); err != nil {
		return BackendAuto, err
	}
	defer q.release()
	b := Backend(lowlevel.Gptaq_ctx_backend(q.ctx))
	runtime.KeepAlive(q)
	return b, nil
}

// SetProgress sets (fn non-nil) or clears (nil) the progress function of the long calls
// (see ProgressFunc). The ...Context methods add cancellation through a
// context.Context on top of it. While a progress function is set, or a ...Context call
// runs with a context that can be cancelled, the library keeps a copy of the statistics
// during a batch of several chunks (to undo a cancel exactly); calls nobody watches do
// not pay for it.
func (q *Quantizer) SetProgress(fn ProgressFunc) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	q.cb.progress = fn
	return nil
}

// SetLogger sets (fn non-nil) or clears (nil) the receiver of the library's log
// messages for this quantizer's calls.
func (q *Quantizer) SetLogger(fn LogFunc) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	h := cgo.Handle(0)
	if fn != nil {
		h = q.handle
	}
	if err := q.check(setLog(q.ctx.Swigcptr(), h)); err != nil {
		return err
	}
	q.cb.logger = fn
	return nil
}

// SetCUDAStream makes a CUDA-backend quantizer enqueue its work on stream (a
// cudaStream_t as an address; 0 = the context's own stream). The caller keeps the
// stream alive while the quantizer uses it. Errors: ErrUnsupported on the CPU backend
// unless stream is 0, ErrInvalidArgument (a stream of another device), ErrDevice.
func (q *Quantizer) SetCUDAStream(stream uintptr) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.check(lowlevel.Gptaq_ctx_set_stream(q.ctx, stream))
}

// Config returns the current configuration.
func (q *Quantizer) Config() (Config, error) {
	if err := q.acquire(); err != nil {
		return Config{}, err
	}
	defer q.release()
	raw := lowlevel.NewGptaq_config()
	defer lowlevel.DeleteGptaq_config(raw)
	if err := q.check(lowlevel.Gptaq_ctx_get_config(q.ctx, raw)); err != nil {
		return Config{}, err
	}
	return configFromRaw(raw), nil
}

// SetConfig replaces the configuration, keeping the statistics (e.g. solve the same
// layer again at other bits). Backend, device and method family cannot change
// (ErrInvalidArgument); on an error the old configuration stays.
func (q *Quantizer) SetConfig(cfg Config) error {
	raw, err := cfg.toRaw()
	if err != nil {
		return err
	}
	defer lowlevel.DeleteGptaq_config(raw)
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.check(lowlevel.Gptaq_ctx_set_config(q.ctx, raw))
}

// Reset forgets all statistics.
func (q *Quantizer) Reset() error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.check(lowlevel.Gptaq_ctx_reset(q.ctx))
}

func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

func f64Bytes(x []float64) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 8*len(x))
}

func u16Bytes(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 2*len(x))
}

func i32Bytes(x []int32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

func boolBytes(x []bool) []uint8 {
	if len(x) == 0 {
		return nil
	}
	// A Go bool is one byte holding 0 or 1: the C mask layout.
	return unsafe.Slice((*uint8)(unsafe.Pointer(&x[0])), len(x))
}

// tokens checks a batch's lengths against the quantizer (nothing reaches C otherwise).
func (q *Quantizer) tokens(nq int, xfp bool, nfp int, mask []bool, masked bool) (int64, error) {
	if q == nil {
		return 0, errorf(StatusInvalidArgument, "the quantizer is nil")
	}
	if nq%q.columns != 0 {
		return 0, errorf(StatusShape, "batch length %d is not a multiple of columns = %d", nq, q.columns)
	}
	if xfp && nfp != nq {
		return 0, errorf(StatusShape, "xfp has %d values but xq has %d: they must be the same shape", nfp, nq)
	}
	n := int64(nq / q.columns)
	if masked && int64(len(mask)) != n {
		return 0, errorf(StatusShape, "mask has %d entries but the batch has %d tokens", len(mask), n)
	}
	return n, nil
}

func (q *Quantizer) add(ctx context.Context, xq, xfp []byte, tokens int64, dtype int, mask []uint8) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.run(ctx, func() int {
		return lowlevel.Gptaq_add_batch_masked(q.ctx, xq, xfp, tokens, dtype, mask)
	})
}

// AddBatch accumulates one fp32 calibration batch, tokens x columns row-major (the token
// count is len(xq) / columns). xfp, the full-precision model's input at the same
// positions, is required for MethodGPTAQ and must be nil otherwise. Nothing of the
// batch is kept after the call. Errors: ErrShape (length not a multiple of columns,
// xfp of another length), ErrInvalidArgument (xfp missing or superfluous), ErrNonFinite
// (the batch is rejected whole), ErrOutOfMemory, ErrDevice, ErrBusy.
func (q *Quantizer) AddBatch(xq, xfp []float32) error {
	return q.AddBatchContext(context.Background(), xq, xfp)
}

// AddBatchContext is AddBatch, cancelled when ctx is done: the call then fails with an
// error that is both ErrCancelled and ctx.Err(), and the statistics are unchanged.
func (q *Quantizer) AddBatchContext(ctx context.Context, xq, xfp []float32) error {
	n, err := q.tokens(len(xq), xfp != nil, len(xfp), nil, false)
	if err != nil {
		return err
	}
	return q.add(ctx, f32Bytes(xq), f32Bytes(xfp), n, dtypeF32, nil)
}

// AddBatchMasked is AddBatch with a token mask: tokens whose mask entry is false
// (padding) are left out of the statistics. len(mask) must be the token count.
func (q *Quantizer) AddBatchMasked(xq, xfp []float32, mask []bool) error {
	return q.AddBatchMaskedContext(context.Background(), xq, xfp, mask)
}

// AddBatchMaskedContext is AddBatchMasked, cancelled when ctx is done.
func (q *Quantizer) AddBatchMaskedContext(ctx context.Context, xq, xfp []float32, mask []bool) error {
	n, err := q.tokens(len(xq), xfp != nil, len(xfp), mask, true)
	if err != nil {
		return err
	}
	return q.add(ctx, f32Bytes(xq), f32Bytes(xfp), n, dtypeF32, boolBytes(mask))
}

// AddBatchHalf accumulates one half-precision batch given as fp16 or bf16 bit patterns
// (dtype F16 or BF16; anything else is ErrInvalidArgument), tokens x columns row-major;
// otherwise as AddBatch.
func (q *Quantizer) AddBatchHalf(dtype HalfType, xq, xfp []uint16) error {
	return q.AddBatchHalfContext(context.Background(), dtype, xq, xfp)
}

// AddBatchHalfContext is AddBatchHalf, cancelled when ctx is done.
func (q *Quantizer) AddBatchHalfContext(ctx context.Context, dtype HalfType, xq, xfp []uint16) error {
	if err := checkHalf(dtype); err != nil {
		return err
	}
	n, err := q.tokens(len(xq), xfp != nil, len(xfp), nil, false)
	if err != nil {
		return err
	}
	return q.add(ctx, u16Bytes(xq), u16Bytes(xfp), n, int(dtype), nil)
}

// AddBatchHalfMasked is AddBatchHalf with a token mask (see AddBatchMasked).
func (q *Quantizer) AddBatchHalfMasked(dtype HalfType, xq, xfp []uint16, mask []bool) error {
	return q.AddBatchHalfMaskedContext(context.Background(), dtype, xq, xfp, mask)
}

// AddBatchHalfMaskedContext is AddBatchHalfMasked, cancelled when ctx is done.
func (q *Quantizer) AddBatchHalfMaskedContext(ctx context.Context, dtype HalfType, xq, xfp []uint16, mask []bool) error {
	if err := checkHalf(dtype); err != nil {
		return err
	}
	n, err := q.tokens(len(xq), xfp != nil, len(xfp), mask, true)
	if err != nil {
		return err
	}
	return q.add(ctx, u16Bytes(xq), u16Bytes(xfp), n, int(dtype), boolBytes(mask))
}

func (q *Quantizer) checkWeight(w []float32, rows int) error {
	if q == nil {
		return errorf(StatusInvalidArgument, "the quantizer is nil")
	}
	if rows <= 0 {
		return errorf(StatusShape, "rows = %d must be > 0", rows)
	}
	if len(w)%rows != 0 || len(w)/rows != q.columns {
		return errorf(StatusShape, "weight has %d values, expected rows x columns = %d x %d",
			len(w), rows, q.columns)
	}
	return nil
}

// groups returns the context's configuration and groups per row; acquired.
func (q *Quantizer) groups() (Config, int, error) {
	raw := lowlevel.NewGptaq_config()
	defer lowlevel.DeleteGptaq_config(raw)
	if err := q.check(lowlevel.Gptaq_ctx_get_config(q.ctx, raw)); err != nil {
		return Config{}, 0, err
	}
	cfg := configFromRaw(raw)
	g := lowlevel.Gptaq_num_groups(int64(q.columns), cfg.GroupSize)
	if g < 0 {
		return cfg, 0, errorf(StatusInternal, "cannot compute the number of groups")
	}
	return cfg, int(g), nil
}

func infoFromRaw(r lowlevel.Gptaq_solve_info) SolveInfo {
	return SolveInfo{
		Loss:         r.GetLoss(),
		DampUsed:     r.GetDamp_used(),
		DampRetries:  r.GetDamp_retries(),
		FactorReused: r.GetFactor_reused() != 0,
		LevelSet:     r.GetLevel_set(),
		ScaleIndex:   r.GetScale_index(),
		Seconds:      r.GetSeconds(),
		Tokens:       r.GetTokens(),
		FailsafeUsed: r.GetFailsafe_used() != 0,
	}
}

// Solve quantizes one weight (rows x columns, fp32, row-major) with the uniform grid
// against the statistics streamed so far. The factorization is cached and reused by the
// next solve until a batch is added or the configuration changes. Errors: ErrShape,
// ErrInvalidArgument (configured for the binary quantizer), ErrNonFinite, ErrNoData (no
// batch yet, except RTN and the failsafe), ErrNotPositiveDefinite, ErrBusy, ...
func (q *Quantizer) Solve(w []float32, rows int) (*Result, error) {
	return q.SolveContext(context.Background(), w, rows)
}

// SolveContext is Solve, cancelled when ctx is done: the call then fails with an error
// that is both ErrCancelled and ctx.Err(), and the quantizer (statistics, cached
// factorization) is exactly as before; a later solve gives the uncancelled answer.
func (q *Quantizer) SolveContext(ctx context.Context, w []float32, rows int) (*Result, error) {
	if err := q.checkWeight(w, rows); err != nil {
		return nil, err
	}
	if err := q.acquire(); err != nil {
		return nil, err
	}
	defer q.release()
	cfg, g, err := q.groups()
	if err != nil {
		return nil, err
	}
	r := &Result{Rows: rows, Columns: q.columns, Groups: g, Bits: cfg.Bits, GroupSize: cfg.GroupSize,
		Codes:   make([]uint8, len(w)),
		Scales:  make([]float32, rows*g),
		Zeros:   make([]float32, rows*g),
		GIdx:    make([]int32, q.columns),
		Dequant: make([]float32, len(w)),
	}
	info := lowlevel.NewGptaq_solve_info()
	defer lowlevel.DeleteGptaq_solve_info(info)
	err = q.run(ctx, func() int {
		return lowlevel.Gptaq_solve(q.ctx, w, int64(rows), int64(q.columns), r.Codes, r.Scales, r.Zeros,
			r.GIdx, r.Dequant, info)
	})
	if err != nil {
		return nil, err
	}
	r.Info = infoFromRaw(info)
	return r, nil
}

// SolveBinary quantizes one weight with the GPTQT binary-coding quantizer
// (Config.Quantizer must be QuantizerBinary, Bits = k). Errors as for Solve;
// ErrInvalidArgument when the quantizer is configured for the uniform grid.
func (q *Quantizer) SolveBinary(w []float32, rows int) (*BinaryResult, error) {
	return q.SolveBinaryContext(context.Background(), w, rows)
}

// SolveBinaryContext is SolveBinary, cancelled when ctx is done (see SolveContext).
func (q *Quantizer) SolveBinaryContext(ctx context.Context, w []float32, rows int) (*BinaryResult, error) {
	if err := q.checkWeight(w, rows); err != nil {
		return nil, err
	}
	if err := q.acquire(); err != nil {
		return nil, err
	}
	defer q.release()
	cfg, g, err := q.groups()
	if err != nil {
		return nil, err
	}
	if cfg.Quantizer != QuantizerBinary {
		return nil, errorf(StatusInvalidArgument, "SolveBinary needs Config.Quantizer = QuantizerBinary (this quantizer is %v: use Solve)", cfg.Quantizer)
	}
	k := cfg.Bits
	r := &BinaryResult{Rows: rows, Columns: q.columns, Groups: g, Bits: k, GroupSize: cfg.GroupSize,
		Codes:   make([]uint8, len(w)),
		Alpha:   make([]float32, rows*g*k),
		Bias:    make([]float32, rows*g),
		GIdx:    make([]int32, q.columns),
		Dequant: make([]float32, len(w)),
	}
	info := lowlevel.NewGptaq_solve_info()
	defer lowlevel.DeleteGptaq_solve_info(info)
	err = q.run(ctx, func() int {
		return lowlevel.Gptaq_solve_binary(q.ctx, w, int64(rows), int64(q.columns), r.Codes, r.Alpha,
			r.Bias, r.GIdx, r.Dequant, info)
	})
	if err != nil {
		return nil, err
	}
	r.Info = infoFromRaw(info)
	return r, nil
}
