package gptaq

import (
	"bytes"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Quantizer owns one library context: calibration statistics for one input width and a
// configuration. Its methods are safe for concurrent use (calls on one Quantizer are
// serialized by a mutex; different Quantizers run in parallel). Close it when done; a
// finalizer frees a forgotten one, but only whenever the garbage collector gets to it.
type Quantizer struct {
	mu      sync.Mutex
	ctx     lowlevel.Struct_SS_gptaq_ctx // nil once closed
	columns int
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
}

// Result is the output of Solve (uniform grid, GPTQ checkpoint conventions), row-major.
type Result struct {
	Rows, Columns, Groups int
	Codes                 []uint8   // Rows x Columns, each in [0, 2^bits - 1]
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
	Codes                 []uint8   // Rows x Columns level indices; bit i (MSB first) set = +alpha_i
	Alpha                 []float32 // Rows x Groups x Bits
	Bias                  []float32 // Rows x Groups
	GIdx                  []int32   // Columns
	Dequant               []float32 // Rows x Columns
	Info                  SolveInfo
}

const msgCap = 2048

// NewQuantizer creates a quantizer for inputs of width columns (in_features). The
// configuration is validated and copied. Errors carry StatusShape (columns <= 0),
// StatusInvalidArgument (a bad config field), StatusBackendUnavailable, ...
func NewQuantizer(columns int, cfg Config) (*Quantizer, error) {
	raw := cfg.toRaw()
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
	q := &Quantizer{ctx: lowlevel.Gptaq_ctx_pp_value(pp), columns: columns}
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
	}
}

// Close frees the context. Further calls fail with StatusInvalidArgument; closing twice
// is a no-op. It always returns nil (the error is there for io.Closer).
func (q *Quantizer) Close() error {
	q.free()
	runtime.SetFinalizer(q, nil)
	return nil
}

// lock takes the mutex and checks the quantizer is open; the caller unlocks.
func (q *Quantizer) lock() error {
	q.mu.Lock()
	if q.ctx == nil {
		q.mu.Unlock()
		return errorf(StatusInvalidArgument, "the quantizer is closed")
	}
	return nil
}

// check turns a status of a call on q.ctx into an error; call it with the lock held.
func (q *Quantizer) check(st int) error {
	if st == 0 {
		return nil
	}
	return newError(st, lowlevel.Gptaq_swig_errmsg(q.ctx, st))
}

// Columns is the input width the quantizer was created for.
func (q *Quantizer) Columns() int { return q.columns }

// NumTokens is the number of tokens accumulated so far (masked-out tokens not counted);
// 0 once closed.
func (q *Quantizer) NumTokens() int64 {
	if q.lock() != nil {
		return 0
	}
	defer q.mu.Unlock()
	n := lowlevel.Gptaq_ctx_num_tokens(q.ctx)
	runtime.KeepAlive(q)
	return n
}

// Backend is the backend the context actually runs on (BackendCPU or BackendCUDA).
func (q *Quantizer) Backend() Backend {
	if q.lock() != nil {
		return BackendAuto
	}
	defer q.mu.Unlock()
	return Backend(lowlevel.Gptaq_ctx_backend(q.ctx))
}

// Config returns the current configuration.
func (q *Quantizer) Config() (Config, error) {
	if err := q.lock(); err != nil {
		return Config{}, err
	}
	defer q.mu.Unlock()
	raw := lowlevel.NewGptaq_config()
	defer lowlevel.DeleteGptaq_config(raw)
	if err := q.check(lowlevel.Gptaq_ctx_get_config(q.ctx, raw)); err != nil {
		return Config{}, err
	}
	return configFromRaw(raw), nil
}

// SetConfig replaces the configuration, keeping the statistics (e.g. solve the same
// layer again at other bits). Backend, device and method family cannot change
// (StatusInvalidArgument); on an error the old configuration stays.
func (q *Quantizer) SetConfig(cfg Config) error {
	if err := q.lock(); err != nil {
		return err
	}
	defer q.mu.Unlock()
	raw := cfg.toRaw()
	defer lowlevel.DeleteGptaq_config(raw)
	return q.check(lowlevel.Gptaq_ctx_set_config(q.ctx, raw))
}

// Reset forgets all statistics.
func (q *Quantizer) Reset() error {
	if err := q.lock(); err != nil {
		return err
	}
	defer q.mu.Unlock()
	return q.check(lowlevel.Gptaq_ctx_reset(q.ctx))
}

func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

func u16Bytes(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 2*len(x))
}

func boolBytes(x []bool) []uint8 {
	if len(x) == 0 {
		return nil
	}
	// A Go bool is one byte holding 0 or 1: the C mask layout.
	return unsafe.Slice((*uint8)(unsafe.Pointer(&x[0])), len(x))
}

func (q *Quantizer) tokens(nq int, xfp bool, nfp int) (int64, error) {
	if nq%q.columns != 0 {
		return 0, errorf(StatusShape, "batch length %d is not a multiple of columns = %d", nq, q.columns)
	}
	if xfp && nfp != nq {
		return 0, errorf(StatusShape, "xfp has %d values but xq has %d: they must be the same shape", nfp, nq)
	}
	return int64(nq / q.columns), nil
}

func (q *Quantizer) add(xq, xfp []byte, tokens int64, dtype int, mask []uint8) error {
	if err := q.lock(); err != nil {
		return err
	}
	defer q.mu.Unlock()
	st := lowlevel.Gptaq_add_batch_masked(q.ctx, xq, xfp, tokens, dtype, mask)
	runtime.KeepAlive(q)
	return q.check(st)
}

// AddBatch accumulates one fp32 calibration batch, tokens x columns row-major (the token
// count is len(xq) / columns). xfp, the full-precision model's input at the same
// positions, is required for MethodGPTAQ and must be nil otherwise. Nothing of the
// batch is kept after the call. Errors: StatusShape (length not a multiple of columns,
// xfp of another length), StatusInvalidArgument (xfp missing or superfluous),
// StatusNonFinite (the batch is rejected whole), StatusOutOfMemory, StatusDevice.
func (q *Quantizer) AddBatch(xq, xfp []float32) error {
	n, err := q.tokens(len(xq), xfp != nil, len(xfp))
	if err != nil {
		return err
	}
	return q.add(f32Bytes(xq), f32Bytes(xfp), n, dtypeF32, nil)
}

// AddBatchMasked is AddBatch with a token mask: tokens whose mask entry is false
// (padding) are left out of the statistics. len(mask) must be the token count.
func (q *Quantizer) AddBatchMasked(xq, xfp []float32, mask []bool) error {
	n, err := q.tokens(len(xq), xfp != nil, len(xfp))
	if err != nil {
		return err
	}
	if int64(len(mask)) != n {
		return errorf(StatusShape, "mask has %d entries but the batch has %d tokens", len(mask), n)
	}
	return q.add(f32Bytes(xq), f32Bytes(xfp), n, dtypeF32, boolBytes(mask))
}

// AddBatchHalf accumulates one half-precision batch given as fp16 or bf16 bit patterns,
// tokens x columns row-major; otherwise as AddBatch.
func (q *Quantizer) AddBatchHalf(dtype HalfType, xq, xfp []uint16) error {
	n, err := q.tokens(len(xq), xfp != nil, len(xfp))
	if err != nil {
		return err
	}
	return q.add(u16Bytes(xq), u16Bytes(xfp), n, int(dtype), nil)
}

func (q *Quantizer) checkWeight(w []float32, rows int) error {
	if rows <= 0 {
		return errorf(StatusShape, "rows = %d must be > 0", rows)
	}
	if len(w)/rows != q.columns || len(w) != rows*q.columns {
		return errorf(StatusShape, "weight has %d values, expected rows x columns = %d x %d",
			len(w), rows, q.columns)
	}
	return nil
}

// groups returns the context's configuration and groups per row; lock held.
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
	}
}

// Solve quantizes one weight (rows x columns, fp32, row-major) with the uniform grid
// against the statistics streamed so far. The factorization is cached and reused by the
// next solve until a batch is added or the configuration changes. Errors: StatusShape,
// StatusInvalidArgument (configured for the binary quantizer), StatusNonFinite,
// StatusNoData (no batch yet, except RTN), StatusNotPositiveDefinite, ...
func (q *Quantizer) Solve(w []float32, rows int) (*Result, error) {
	if err := q.checkWeight(w, rows); err != nil {
		return nil, err
	}
	if err := q.lock(); err != nil {
		return nil, err
	}
	defer q.mu.Unlock()
	_, g, err := q.groups()
	if err != nil {
		return nil, err
	}
	r := &Result{Rows: rows, Columns: q.columns, Groups: g,
		Codes:   make([]uint8, len(w)),
		Scales:  make([]float32, rows*g),
		Zeros:   make([]float32, rows*g),
		GIdx:    make([]int32, q.columns),
		Dequant: make([]float32, len(w)),
	}
	info := lowlevel.NewGptaq_solve_info()
	defer lowlevel.DeleteGptaq_solve_info(info)
	st := lowlevel.Gptaq_solve(q.ctx, w, int64(rows), int64(q.columns), r.Codes, r.Scales, r.Zeros,
		r.GIdx, r.Dequant, info)
	runtime.KeepAlive(q)
	if err := q.check(st); err != nil {
		return nil, err
	}
	r.Info = infoFromRaw(info)
	return r, nil
}

// SolveBinary quantizes one weight with the GPTQT binary-coding quantizer (Config.Quantizer
// must be QuantizerBinary, Bits = k). Errors as for Solve; StatusInvalidArgument when the
// quantizer is configured for the uniform grid.
func (q *Quantizer) SolveBinary(w []float32, rows int) (*BinaryResult, error) {
	if err := q.checkWeight(w, rows); err != nil {
		return nil, err
	}
	if err := q.lock(); err != nil {
		return nil, err
	}
	defer q.mu.Unlock()
	cfg, g, err := q.groups()
	if err != nil {
		return nil, err
	}
	k := cfg.Bits
	if k < 1 {
		k = 1
	}
	r := &BinaryResult{Rows: rows, Columns: q.columns, Groups: g, Bits: k,
		Codes:   make([]uint8, len(w)),
		Alpha:   make([]float32, rows*g*k),
		Bias:    make([]float32, rows*g),
		GIdx:    make([]int32, q.columns),
		Dequant: make([]float32, len(w)),
	}
	info := lowlevel.NewGptaq_solve_info()
	defer lowlevel.DeleteGptaq_solve_info(info)
	st := lowlevel.Gptaq_solve_binary(q.ctx, w, int64(rows), int64(q.columns), r.Codes, r.Alpha,
		r.Bias, r.GIdx, r.Dequant, info)
	runtime.KeepAlive(q)
	if err := q.check(st); err != nil {
		return nil, err
	}
	r.Info = infoFromRaw(info)
	return r, nil
}

// NumGroups is the number of quantization groups for columns inputs and groupSize
// (-1 = one per row), or -1 for invalid input.
func NumGroups(columns, groupSize int) int {
	return int(lowlevel.Gptaq_num_groups(int64(columns), groupSize))
}

// Version is the loaded library's version string, e.g. "0.1.0".
func Version() string { return lowlevel.Gptaq_version_string() }

// VersionNumber is the loaded library's version (major*10000 + minor*100 + patch).
func VersionNumber() int { return lowlevel.Gptaq_version_number() }

// BuildInfo is a one-line description of the library build (backends, BLAS).
func BuildInfo() string { return lowlevel.Gptaq_build_info() }

// BackendAvailable reports whether a backend is compiled in and (CUDA) a device answers.
func BackendAvailable(b Backend) bool { return lowlevel.Gptaq_backend_available(int(b)) != 0 }

// F32ToHalf converts fp32 values to fp16 or bf16 bit patterns (round to nearest even).
func F32ToHalf(dtype HalfType, src []float32) ([]uint16, error) {
	dst := make([]uint16, len(src))
	if st := lowlevel.Gptaq_f32_to_half(int(dtype), src, dst, int64(len(src))); st != 0 && len(src) > 0 {
		return nil, newError(st, "")
	}
	return dst, nil
}

// HalfToF32 converts fp16 or bf16 bit patterns to fp32.
func HalfToF32(dtype HalfType, src []uint16) ([]float32, error) {
	dst := make([]float32, len(src))
	if st := lowlevel.Gptaq_half_to_f32(int(dtype), src, dst, int64(len(src))); st != 0 && len(src) > 0 {
		return nil, newError(st, "")
	}
	return dst, nil
}
