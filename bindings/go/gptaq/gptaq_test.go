package gptaq

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// ---- deterministic inputs ------------------------------------------------------------

// rng is a 64-bit LCG; values are exact multiples of 2^-24, so every language that
// implements it gets bit-identical inputs.
type rng struct{ s uint64 }

func (r *rng) next() float32 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float32(r.s>>40)/float32(1<<24) - 0.5
}

func (r *rng) fill(n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = scale * r.next()
	}
	return x
}

// correlated activations: a few shared directions plus noise, so H is far from diagonal.
func activations(r *rng, tokens, cols int) []float32 {
	const k = 4
	basis := r.fill(k*cols, 1)
	x := make([]float32, tokens*cols)
	for t := 0; t < tokens; t++ {
		c := r.fill(k, 2)
		for j := 0; j < cols; j++ {
			v := 0.3 * r.next()
			for i := 0; i < k; i++ {
				v += c[i] * basis[i*cols+j]
			}
			x[t*cols+j] = v
		}
	}
	return x
}

func perturb(r *rng, x []float32, eps float32) []float32 {
	y := make([]float32, len(x))
	for i := range x {
		y[i] = x[i] + eps*r.next()
	}
	return y
}

// ---- raw C API through the SWIG low layer ----------------------------------------------

type rawResult struct {
	st                     int
	codes                  []uint8
	scales, zeros, dequant []float32
	alpha, bias            []float32
	gidx                   []int32
	loss                   float64
}

// rawRun quantizes with the C API directly (no idiomatic layer): one context, the given
// batches (f32, or 16-bit when dtype != 0), one solve.
func rawRun(t *testing.T, cfg Config, cols int, xq, xfp [][]float32, half [][]uint16, halfFp [][]uint16,
	dtype int, w []float32, rows int) rawResult {
	t.Helper()
	rc, err := cfg.toRaw()
	if err != nil {
		t.Fatal(err)
	}
	defer lowlevel.DeleteGptaq_config(rc)
	pp := lowlevel.New_gptaq_ctx_pp()
	defer lowlevel.Delete_gptaq_ctx_pp(pp)
	if st := lowlevel.Gptaq_ctx_create(pp, int64(cols), rc); st != 0 {
		t.Fatalf("raw create: %d %s", st, lowlevel.Gptaq_last_errmsg())
	}
	ctx := lowlevel.Gptaq_ctx_pp_value(pp)
	defer lowlevel.Gptaq_ctx_free(ctx)
	if dtype == dtypeF32 {
		for i := range xq {
			var fp []byte
			if xfp != nil {
				fp = f32Bytes(xfp[i])
			}
			if st := lowlevel.Gptaq_add_batch(ctx, f32Bytes(xq[i]), fp, int64(len(xq[i])/cols), dtypeF32); st != 0 {
				t.Fatalf("raw add_batch: %s", lowlevel.Gptaq_ctx_errmsg(ctx))
			}
		}
	} else {
		for i := range half {
			var fp []byte
			if halfFp != nil {
				fp = u16Bytes(halfFp[i])
			}
			if st := lowlevel.Gptaq_add_batch(ctx, u16Bytes(half[i]), fp, int64(len(half[i])/cols), dtype); st != 0 {
				t.Fatalf("raw add_batch: %s", lowlevel.Gptaq_ctx_errmsg(ctx))
			}
		}
	}
	g := NumGroups(cols, cfg.GroupSize)
	info := lowlevel.NewGptaq_solve_info()
	defer lowlevel.DeleteGptaq_solve_info(info)
	res := rawResult{codes: make([]uint8, rows*cols), dequant: make([]float32, rows*cols), gidx: make([]int32, cols)}
	if cfg.Quantizer == QuantizerBinary {
		res.alpha = make([]float32, rows*g*cfg.Bits)
		res.bias = make([]float32, rows*g)
		res.st = lowlevel.Gptaq_solve_binary(ctx, w, int64(rows), int64(cols), res.codes, res.alpha, res.bias,
			res.gidx, res.dequant, info)
	} else {
		res.scales = make([]float32, rows*g)
		res.zeros = make([]float32, rows*g)
		res.st = lowlevel.Gptaq_solve(ctx, w, int64(rows), int64(cols), res.codes, res.scales, res.zeros,
			res.gidx, res.dequant, info)
	}
	if res.st != 0 {
		t.Fatalf("raw solve: %d %s", res.st, lowlevel.Gptaq_ctx_errmsg(ctx))
	}
	res.loss = info.GetLoss()
	return res
}

func eqU8(a, b []uint8) int {
	if len(a) != len(b) {
		return -2
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func eqF32(a, b []float32) int {
	if len(a) != len(b) {
		return -2
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func eqI32(a, b []int32) int {
	if len(a) != len(b) {
		return -2
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func mustQ(t *testing.T, cols int, cfg Config) *Quantizer {
	t.Helper()
	q, err := NewQuantizer(cols, cfg)
	if err != nil {
		t.Fatalf("NewQuantizer: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// ---- tests ---------------------------------------------------------------------------

func TestVersionAndConstants(t *testing.T) {
	if VersionNumber() != lowlevel.GPTAQ_VERSION_NUMBER {
		t.Fatalf("library %d != header %d", VersionNumber(), lowlevel.GPTAQ_VERSION_NUMBER)
	}
	if !strings.Contains(BuildInfo(), Version()) {
		t.Errorf("build info %q does not name version %q", BuildInfo(), Version())
	}
	pairs := []struct {
		got  int
		want int
		name string
	}{
		{int(StatusInvalidArgument), int(lowlevel.GPTAQ_ERR_INVALID_ARGUMENT), "invalid argument"},
		{int(StatusShape), int(lowlevel.GPTAQ_ERR_SHAPE), "shape"},
		{int(StatusNonFinite), int(lowlevel.GPTAQ_ERR_NON_FINITE), "non finite"},
		{int(StatusNoData), int(lowlevel.GPTAQ_ERR_NO_DATA), "no data"},
		{int(StatusNotPositiveDefinite), int(lowlevel.GPTAQ_ERR_NOT_POSITIVE_DEFINITE), "npd"},
		{int(StatusOutOfMemory), int(lowlevel.GPTAQ_ERR_OUT_OF_MEMORY), "oom"},
		{int(StatusBackendUnavailable), int(lowlevel.GPTAQ_ERR_BACKEND_UNAVAILABLE), "backend"},
		{int(StatusDevice), int(lowlevel.GPTAQ_ERR_DEVICE), "device"},
		{int(StatusIO), int(lowlevel.GPTAQ_ERR_IO), "io"},
		{int(StatusFormat), int(lowlevel.GPTAQ_ERR_FORMAT), "format"},
		{int(StatusUnsupported), int(lowlevel.GPTAQ_ERR_UNSUPPORTED), "unsupported"},
		{int(StatusBusy), int(lowlevel.GPTAQ_ERR_BUSY), "busy"},
		{int(StatusInternal), int(lowlevel.GPTAQ_ERR_INTERNAL), "internal"},
		{int(MethodRTN), int(lowlevel.GPTAQ_METHOD_RTN), "rtn"},
		{int(MethodGPTQ), int(lowlevel.GPTAQ_METHOD_GPTQ), "gptq"},
		{int(MethodGPTAQ), int(lowlevel.GPTAQ_METHOD_GPTAQ), "gptaq"},
		{int(QuantizerUniform), int(lowlevel.GPTAQ_QUANTIZER_UNIFORM), "uniform"},
		{int(QuantizerBinary), int(lowlevel.GPTAQ_QUANTIZER_BINARY), "binary"},
		{int(BackendAuto), int(lowlevel.GPTAQ_BACKEND_AUTO), "auto"},
		{int(BackendCPU), int(lowlevel.GPTAQ_BACKEND_CPU), "cpu"},
		{int(BackendCUDA), int(lowlevel.GPTAQ_BACKEND_CUDA), "cuda"},
		{int(ObjectiveOutput), int(lowlevel.GPTAQ_OBJECTIVE_OUTPUT), "output"},
		{int(ObjectiveHessian), int(lowlevel.GPTAQ_OBJECTIVE_HESSIAN), "hessian"},
		{int(ObjectiveWeight), int(lowlevel.GPTAQ_OBJECTIVE_WEIGHT), "weight"},
		{int(F16), int(lowlevel.GPTAQ_DTYPE_F16), "f16"},
		{int(BF16), int(lowlevel.GPTAQ_DTYPE_BF16), "bf16"},
		{dtypeF32, int(lowlevel.GPTAQ_DTYPE_F32), "f32"},
	}
	for _, p := range pairs {
		if p.got != p.want {
			t.Errorf("%s: Go constant %d != C %d", p.name, p.got, p.want)
		}
	}
	if StatusShape.String() == "" || StatusShape.String() == StatusNoData.String() {
		t.Errorf("status names: %q %q", StatusShape.String(), StatusNoData.String())
	}
}

func TestDefaultConfigRoundTrip(t *testing.T) {
	d := DefaultConfig()
	if d.Bits != 4 || d.GroupSize != 128 || !d.Sym || d.Method != MethodGPTQ || d.BlockSize != 128 ||
		d.DampPercent != 0.01 || d.Alpha != 0.25 || d.Quantizer != QuantizerUniform {
		t.Fatalf("unexpected defaults %+v", d)
	}
	c := d
	c.Bits, c.GroupSize, c.ActOrder, c.MSE, c.Backend = 3, 32, true, true, BackendCPU
	q := mustQ(t, 64, c)
	got, err := q.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("config round trip:\n got %+v\nwant %+v", got, c)
	}
	if backendOf(t, q) != BackendCPU || q.Columns() != 64 || tokensOf(t, q) != 0 {
		t.Fatalf("backend %d columns %d tokens %d", backendOf(t, q), q.Columns(), tokensOf(t, q))
	}
}

type apiCase struct {
	name  string
	cfg   func() Config
	cols  int
	rows  int
	half  HalfType // 0 = fp32 batches
	batch []int    // tokens per batch
}

func apiCases() []apiCase {
	gptq := func(mod func(*Config)) func() Config {
		return func() Config {
			c := DefaultConfig()
			c.Backend = BackendCPU
			c.GroupSize = 16
			mod(&c)
			return c
		}
	}
	return []apiCase{
		{"gptq_g16_4bit", gptq(func(c *Config) {}), 64, 24, 0, []int{32, 17, 40}},
		{"gptq_actorder_3bit_asym", gptq(func(c *Config) { c.Bits, c.ActOrder, c.Sym = 3, true, false }), 48, 20, 0, []int{50, 30}},
		{"gptq_static_mse", gptq(func(c *Config) { c.StaticGroups, c.MSE, c.ActOrder = true, true, true }), 32, 16, 0, []int{64}},
		{"gptq_perchannel_blk8", gptq(func(c *Config) { c.GroupSize, c.BlockSize, c.Bits = -1, 8, 2 }), 40, 12, 0, []int{25, 25}},
		{"rtn", gptq(func(c *Config) { c.Method = MethodRTN }), 32, 8, 0, []int{10}},
		{"gptaq", gptq(func(c *Config) { c.Method = MethodGPTAQ }), 64, 24, 0, []int{30, 34}},
		{"gptaq_actorder_alpha", gptq(func(c *Config) { c.Method, c.ActOrder, c.Alpha = MethodGPTAQ, true, 0.5 }), 48, 16, 0, []int{60}},
		{"gptq_f16", gptq(func(c *Config) {}), 32, 16, F16, []int{20, 20}},
		{"gptaq_bf16", gptq(func(c *Config) { c.Method = MethodGPTAQ }), 32, 16, BF16, []int{40}},
	}
}

// The idiomatic layer must give exactly what the C API gives on the same inputs.
func TestIdenticalToCAPI(t *testing.T) {
	for ci, tc := range apiCases() {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			r := &rng{s: uint64(1000 + ci)}
			var xq, xfp [][]float32
			var hq, hfp [][]uint16
			for _, n := range tc.batch {
				a := activations(r, n, tc.cols)
				xq = append(xq, a)
				if cfg.Method == MethodGPTAQ {
					xfp = append(xfp, perturb(r, a, 0.05))
				}
			}
			if tc.half != 0 {
				for i := range xq {
					h, err := F32ToHalf(tc.half, xq[i])
					if err != nil {
						t.Fatal(err)
					}
					hq = append(hq, h)
					if xfp != nil {
						h2, _ := F32ToHalf(tc.half, xfp[i])
						hfp = append(hfp, h2)
					}
				}
			}
			w := r.fill(tc.rows*tc.cols, 0.2)

			q := mustQ(t, tc.cols, cfg)
			for i := range xq {
				var err error
				switch {
				case tc.half != 0 && hfp != nil:
					err = q.AddBatchHalf(tc.half, hq[i], hfp[i])
				case tc.half != 0:
					err = q.AddBatchHalf(tc.half, hq[i], nil)
				case xfp != nil:
					err = q.AddBatch(xq[i], xfp[i])
				default:
					err = q.AddBatch(xq[i], nil)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := q.Solve(w, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			dt := dtypeF32
			if tc.half != 0 {
				dt = int(tc.half)
			}
			want := rawRun(t, cfg, tc.cols, xq, xfp, hq, hfp, dt, w, tc.rows)
			if i := eqU8(got.Codes, want.codes); i != -1 {
				t.Fatalf("codes differ at %d", i)
			}
			if i := eqF32(got.Scales, want.scales); i != -1 {
				t.Fatalf("scales differ at %d", i)
			}
			if i := eqF32(got.Zeros, want.zeros); i != -1 {
				t.Fatalf("zeros differ at %d", i)
			}
			if i := eqF32(got.Dequant, want.dequant); i != -1 {
				t.Fatalf("dequant differ at %d", i)
			}
			if i := eqI32(got.GIdx, want.gidx); i != -1 {
				t.Fatalf("g_idx differ at %d", i)
			}
			if got.Info.Loss != want.loss {
				t.Fatalf("loss %v != %v", got.Info.Loss, want.loss)
			}
			// Sanity of the outputs themselves.
			maxq := uint8(1<<cfg.Bits - 1)
			for i, c := range got.Codes {
				if c > maxq {
					t.Fatalf("code %d = %d > %d", i, c, maxq)
				}
				r, col := i/tc.cols, i%tc.cols
				g := int(got.GIdx[col])
				s, z := got.Scales[r*got.Groups+g], got.Zeros[r*got.Groups+g]
				if d := s * (float32(c) - z); math.Abs(float64(d-got.Dequant[i])) > 1e-6*math.Abs(float64(d))+1e-12 {
					t.Fatalf("dequant[%d] = %v, scale*(code-zero) = %v", i, got.Dequant[i], d)
				}
			}
			if cfg.Method != MethodRTN && !(got.Info.Loss > 0) {
				t.Fatalf("loss %v", got.Info.Loss)
			}
		})
	}
}

// Any split of the same tokens into batches gives the same result.
func TestBatchingInvariance(t *testing.T) {
	const cols, rows, tokens = 48, 16, 96
	for _, method := range []Method{MethodGPTQ, MethodGPTAQ} {
		r := &rng{s: 77}
		x := activations(r, tokens, cols)
		xfp := perturb(r, x, 0.05)
		w := r.fill(rows*cols, 0.3)
		cfg := DefaultConfig()
		cfg.Method, cfg.GroupSize, cfg.Backend = method, 16, BackendCPU
		var ref *Result
		for _, split := range []int{tokens, 32, 7, 1} {
			q := mustQ(t, cols, cfg)
			for t0 := 0; t0 < tokens; t0 += split {
				t1 := t0 + split
				if t1 > tokens {
					t1 = tokens
				}
				var fp []float32
				if method == MethodGPTAQ {
					fp = xfp[t0*cols : t1*cols]
				}
				if err := q.AddBatch(x[t0*cols:t1*cols], fp); err != nil {
					t.Fatal(err)
				}
			}
			if tokensOf(t, q) != tokens {
				t.Fatalf("tokens %d", tokensOf(t, q))
			}
			res, err := q.Solve(w, rows)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = res
				continue
			}
			// Statistics agree to fp32 rounding; codes may flip only at exact rounding
			// ties, which these inputs do not hit.
			if i := eqU8(res.Codes, ref.Codes); i != -1 {
				t.Fatalf("method %d split %d: codes differ at %d", method, split, i)
			}
			for i := range res.Scales {
				if math.Abs(float64(res.Scales[i]-ref.Scales[i])) > 1e-5*math.Abs(float64(ref.Scales[i])) {
					t.Fatalf("method %d split %d: scale %d %v vs %v", method, split, i, res.Scales[i], ref.Scales[i])
				}
			}
			if math.Abs(res.Info.Loss-ref.Info.Loss) > 1e-3*ref.Info.Loss {
				t.Fatalf("method %d split %d: loss %v vs %v", method, split, res.Info.Loss, ref.Info.Loss)
			}
		}
	}
}

// A masked-out token counts as if it had never been streamed.
func TestMaskedBatch(t *testing.T) {
	const cols, rows = 32, 8
	r := &rng{s: 5}
	x := activations(r, 40, cols)
	w := r.fill(rows*cols, 0.3)
	mask := make([]bool, 40)
	var kept []float32
	for i := range mask {
		mask[i] = i%3 != 0
		if mask[i] {
			kept = append(kept, x[i*cols:(i+1)*cols]...)
		}
	}
	cfg := DefaultConfig()
	cfg.GroupSize, cfg.Backend = 8, BackendCPU
	a := mustQ(t, cols, cfg)
	if err := a.AddBatchMasked(x, nil, mask); err != nil {
		t.Fatal(err)
	}
	b := mustQ(t, cols, cfg)
	if err := b.AddBatch(kept, nil); err != nil {
		t.Fatal(err)
	}
	if tokensOf(t, a) != tokensOf(t, b) || tokensOf(t, a) != int64(len(kept)/cols) {
		t.Fatalf("tokens %d vs %d", tokensOf(t, a), tokensOf(t, b))
	}
	ra, err := a.Solve(w, rows)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Solve(w, rows)
	if err != nil {
		t.Fatal(err)
	}
	if i := eqU8(ra.Codes, rb.Codes); i != -1 {
		t.Fatalf("codes differ at %d", i)
	}
}

func TestFactorReuseAndSetConfig(t *testing.T) {
	const cols = 32
	r := &rng{s: 9}
	cfg := DefaultConfig()
	cfg.GroupSize, cfg.Backend = 8, BackendCPU
	q := mustQ(t, cols, cfg)
	if err := q.AddBatch(activations(r, 64, cols), nil); err != nil {
		t.Fatal(err)
	}
	w := r.fill(8*cols, 0.3)
	r1, err := q.Solve(w, 8)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := q.Solve(w, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Info.FactorReused || eqU8(r1.Codes, r2.Codes) != -1 {
		t.Fatalf("second solve: reused %v", r2.Info.FactorReused)
	}
	c3 := cfg
	c3.Bits = 3
	if err := q.SetConfig(c3); err != nil {
		t.Fatal(err)
	}
	r3, err := q.Solve(w, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r3.Codes {
		if c > 7 {
			t.Fatalf("3-bit code %d", c)
		}
	}
	if err := q.Reset(); err != nil || tokensOf(t, q) != 0 {
		t.Fatalf("reset: %v, tokens %d", err, tokensOf(t, q))
	}
}

func expectErr(t *testing.T, err error, want Status, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, want)
	}
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("%s: %T is not *gptaq.Error", what, err)
	}
	if ge.Status != want || !errors.Is(err, want) {
		t.Fatalf("%s: status %v (%d), want %v (%d): %v", what, ge.Status, ge.Status, want, want, err)
	}
	if ge.Message == "" || !strings.Contains(err.Error(), ge.Message) {
		t.Fatalf("%s: empty message or not in Error(): %q", what, err.Error())
	}
}

func TestErrorPaths(t *testing.T) {
	const cols = 16
	cpu := DefaultConfig()
	cpu.Backend, cpu.GroupSize = BackendCPU, 8

	// Construction.
	_, err := NewQuantizer(0, cpu)
	expectErr(t, err, StatusShape, "columns 0")
	_, err = NewQuantizer(-3, cpu)
	expectErr(t, err, StatusShape, "columns -3")
	_, err = NewQuantizer(1<<30, cpu)
	expectErr(t, err, StatusShape, "columns^2 overflow")
	// 2^24 columns need 2^50 bytes of statistics: more than any address space.
	_, err = NewQuantizer(1<<24, cpu)
	expectErr(t, err, StatusOutOfMemory, "statistics allocation")
	bad := []struct {
		name string
		mod  func(*Config)
	}{
		{"bits 1", func(c *Config) { c.Bits = 1 }},
		{"bits 9", func(c *Config) { c.Bits = 9 }},
		{"method 9", func(c *Config) { c.Method = 9 }},
		{"damp 0", func(c *Config) { c.DampPercent = 0 }},
		{"damp NaN", func(c *Config) { c.DampPercent = float32(math.NaN()) }},
		{"block 0", func(c *Config) { c.BlockSize = 0 }},
		{"group 0", func(c *Config) { c.GroupSize = 0 }},
		{"backend 7", func(c *Config) { c.Backend = 7 }},
		{"quantizer 5", func(c *Config) { c.Quantizer = 5 }},
		{"zero config", func(c *Config) { *c = Config{} }},
	}
	for _, b := range bad {
		c := cpu
		b.mod(&c)
		q, err := NewQuantizer(cols, c)
		if q != nil {
			t.Errorf("%s: got a quantizer", b.name)
		}
		expectErr(t, err, StatusInvalidArgument, b.name)
	}
	if !BackendAvailable(BackendCUDA) {
		c := cpu
		c.Backend = BackendCUDA
		_, err := NewQuantizer(cols, c)
		expectErr(t, err, StatusBackendUnavailable, "cuda without device")
	}

	// Calibration.
	q := mustQ(t, cols, cpu)
	expectErr(t, q.AddBatch(make([]float32, cols+1), nil), StatusShape, "ragged batch")
	x := (&rng{s: 1}).fill(4*cols, 1)
	expectErr(t, q.AddBatch(x, x[:cols]), StatusShape, "xfp shorter")
	expectErr(t, q.AddBatch(x, x), StatusInvalidArgument, "xfp given to GPTQ")
	expectErr(t, q.AddBatchMasked(x, nil, []bool{true}), StatusShape, "mask length")
	expectErr(t, q.AddBatchHalf(HalfType(9), make([]uint16, cols), nil), StatusInvalidArgument, "bad dtype")
	nan := append([]float32(nil), x...)
	nan[5] = float32(math.NaN())
	expectErr(t, q.AddBatch(nan, nil), StatusNonFinite, "NaN batch")
	inf := append([]float32(nil), x...)
	inf[7] = float32(math.Inf(1))
	expectErr(t, q.AddBatch(inf, nil), StatusNonFinite, "Inf batch")
	if tokensOf(t, q) != 0 {
		t.Fatalf("rejected batches changed the token count: %d", tokensOf(t, q))
	}
	w := (&rng{s: 2}).fill(4*cols, 0.1)
	_, err = q.Solve(w, 4)
	expectErr(t, err, StatusNoData, "solve without data")

	if err := q.AddBatch(x, nil); err != nil {
		t.Fatal(err)
	}
	_, err = q.Solve(w[:len(w)-1], 4)
	expectErr(t, err, StatusShape, "weight length")
	_, err = q.Solve(nil, 0)
	expectErr(t, err, StatusShape, "rows 0")
	wn := append([]float32(nil), w...)
	wn[3] = float32(math.NaN())
	_, err = q.Solve(wn, 4)
	expectErr(t, err, StatusNonFinite, "NaN weight")
	_, err = q.SolveBinary(w, 4)
	expectErr(t, err, StatusInvalidArgument, "binary solve on a uniform quantizer")

	// Configuration changes that are not allowed leave the old one.
	c := cpu
	c.Method = MethodGPTAQ
	expectErr(t, q.SetConfig(c), StatusInvalidArgument, "method family change")
	c = cpu
	c.Bits = 42
	expectErr(t, q.SetConfig(c), StatusInvalidArgument, "bad bits in SetConfig")
	if got, _ := q.Config(); got != cpu {
		t.Fatalf("failed SetConfig changed the config: %+v", got)
	}
	if _, err := q.Solve(w, 4); err != nil {
		t.Fatalf("quantizer unusable after errors: %v", err)
	}

	// GPTAQ needs xfp.
	ca := cpu
	ca.Method = MethodGPTAQ
	qa := mustQ(t, cols, ca)
	expectErr(t, qa.AddBatch(x, nil), StatusInvalidArgument, "GPTAQ without xfp")

	// Binary quantizer refuses the uniform solve.
	qb := mustQ(t, cols, BinaryConfig(3))
	if err := qb.AddBatch(x, nil); err != nil {
		t.Fatal(err)
	}
	_, err = qb.Solve(w, 4)
	expectErr(t, err, StatusInvalidArgument, "uniform solve on a binary quantizer")

	// An indefinite Hessian that damping cannot fix: rank-1 statistics, tiny damping,
	// no retries.
	cn := cpu
	cn.DampPercent, cn.DampRetries = 1e-30, 0
	qn := mustQ(t, cols, cn)
	one := make([]float32, cols)
	for j := range one {
		one[j] = 1 + float32(j%3)
	}
	if err := qn.AddBatch(one, nil); err != nil {
		t.Fatal(err)
	}
	_, err = qn.Solve(w, 4)
	expectErr(t, err, StatusNotPositiveDefinite, "indefinite Hessian")

	// A closed quantizer.
	qc, err := NewQuantizer(cols, cpu)
	if err != nil {
		t.Fatal(err)
	}
	if err := qc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := qc.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	expectErr(t, qc.AddBatch(x, nil), StatusInvalidArgument, "closed AddBatch")
	_, err = qc.Solve(w, 4)
	expectErr(t, err, StatusInvalidArgument, "closed Solve")
	_, err = qc.Config()
	expectErr(t, err, StatusInvalidArgument, "closed Config")

	// Conversions.
	if _, err := F32ToHalf(HalfType(4), []float32{1}); err == nil {
		t.Fatal("F32ToHalf with a bad dtype")
	}
}

// Error messages are read inside the failing C call (create) or under the context's lock,
// so they belong to the call whatever OS thread the goroutine ran on.
func TestErrorsUnderGoroutineMigration(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				cols := -(g*1000 + i + 1)
				_, err := NewQuantizer(cols, DefaultConfig())
				var ge *Error
				if !errors.As(err, &ge) || ge.Status != StatusShape {
					errs <- fmt.Errorf("goroutine %d: %v", g, err)
					return
				}
				if !strings.Contains(ge.Message, strconv.Itoa(cols)) {
					errs <- fmt.Errorf("goroutine %d: message %q is not about columns %d", g, ge.Message, cols)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// One Quantizer used by two goroutines at once: the second call does not wait, it
// fails with ErrBusy (as the C library and the other bindings do) and changes nothing.
func TestConcurrentUseIsBusy(t *testing.T) {
	const cols = 32
	cfg := DefaultConfig()
	cfg.GroupSize, cfg.Backend, cfg.NumThreads = 8, BackendCPU, 1
	shared := mustQ(t, cols, cfg)
	x := activations(&rng{s: 4}, 8, cols)

	// Deterministic: while WithStatsBuffers holds the quantizer, any other call (this
	// goroutine's or another's) is ErrBusy; Close waits instead.
	err := shared.WithStatsBuffers(func(b *StatsBuffers) error {
		expectErr(t, shared.AddBatch(x, nil), StatusBusy, "same goroutine, inside WithStatsBuffers")
		done := make(chan error)
		go func() {
			_, err := shared.Solve(make([]float32, 4*cols), 4)
			done <- err
		}()
		expectErr(t, <-done, StatusBusy, "other goroutine, inside WithStatsBuffers")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tokensOf(t, shared) != 0 {
		t.Fatal("a busy call changed the statistics")
	}

	// Racing goroutines: each call either succeeds or is ErrBusy; the token count is
	// exactly the successful batches'.
	var wg sync.WaitGroup
	var mu sync.Mutex
	added, busy := 0, 0
	errs := make(chan error, 32)
	for g := 0; g < 8; g++ {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &rng{s: uint64(g)}
			for i := 0; i < 20; i++ {
				err := shared.AddBatch(activations(r, 8, cols), nil)
				if err == nil {
					mu.Lock()
					added++
					mu.Unlock()
				} else if errors.Is(err, ErrBusy) {
					mu.Lock()
					busy++
					mu.Unlock()
				} else {
					errs <- err
					return
				}
				if _, err := shared.Solve(r.fill(4*cols, 0.2), 4); err != nil && !errors.Is(err, ErrBusy) {
					errs <- err
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d batches added, %d refused as busy", added, busy)
	if tokensOf(t, shared) != int64(8*added) {
		t.Fatalf("tokens %d, want %d", tokensOf(t, shared), 8*added)
	}
}

func TestSolveBinary(t *testing.T) {
	const cols, rows = 64, 12
	r := &rng{s: 31}
	var xs [][]float32
	for i := 0; i < 3; i++ {
		xs = append(xs, activations(r, 40, cols))
	}
	w := r.fill(rows*cols, 0.2)
	for _, k := range []int{2, 3} {
		for _, obj := range []Objective{ObjectiveOutput, ObjectiveHessian, ObjectiveWeight} {
			cfg := BinaryConfig(k)
			cfg.Backend, cfg.Objective = BackendCPU, obj
			q := mustQ(t, cols, cfg)
			for _, x := range xs {
				if err := q.AddBatch(x, nil); err != nil {
					t.Fatal(err)
				}
			}
			res, err := q.SolveBinary(w, rows)
			if err != nil {
				t.Fatalf("k=%d obj=%d: %v", k, obj, err)
			}
			want := rawRun(t, cfg, cols, xs, nil, nil, nil, dtypeF32, w, rows)
			if eqU8(res.Codes, want.codes) != -1 || eqF32(res.Alpha, want.alpha) != -1 ||
				eqF32(res.Bias, want.bias) != -1 || eqF32(res.Dequant, want.dequant) != -1 ||
				eqI32(res.GIdx, want.gidx) != -1 {
				t.Fatalf("k=%d obj=%d: binary result differs from the C API", k, obj)
			}
			if res.Bits != k || res.Groups != 1 || res.Info.LevelSet < 0 || res.Info.ScaleIndex < 0 {
				t.Fatalf("k=%d: bits %d groups %d info %+v", k, res.Bits, res.Groups, res.Info)
			}
			// The dequantized weight is the binary code: sum_i (+/-)alpha_i + bias.
			var errQ, errW float64
			for i, c := range res.Codes {
				if int(c) >= 1<<k {
					t.Fatalf("level %d >= 2^%d", c, k)
				}
				row := i / cols
				v := res.Bias[row]
				for b := 0; b < k; b++ {
					a := res.Alpha[row*k+b]
					if c&(1<<(k-1-b)) != 0 {
						v += a
					} else {
						v -= a
					}
				}
				if math.Abs(float64(v-res.Dequant[i])) > 1e-5*(1+math.Abs(float64(v))) {
					t.Fatalf("k=%d: dequant[%d] %v != binary code %v", k, i, res.Dequant[i], v)
				}
				errQ += float64((res.Dequant[i] - w[i]) * (res.Dequant[i] - w[i]))
				errW += float64(w[i] * w[i])
			}
			if !(errQ < 0.5*errW) {
				t.Fatalf("k=%d: relative weight error %v", k, errQ/errW)
			}
		}
	}
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()) / 1024
}

// Many create / add / solve / free cycles do not grow the process: every context and
// every SWIG-allocated config / info block is freed.
func TestManyCyclesNoLeak(t *testing.T) {
	const cols, rows = 128, 32 // each context holds 64 KiB of statistics and more in the factor
	r := &rng{s: 3}
	x := activations(r, 64, cols)
	w := r.fill(rows*cols, 0.2)
	cfg := DefaultConfig()
	cfg.GroupSize, cfg.Backend, cfg.NumThreads = 32, BackendCPU, 1
	cycle := func(n int) {
		for i := 0; i < n; i++ {
			q, err := NewQuantizer(cols, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.AddBatch(x, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Solve(w, rows); err != nil {
				t.Fatal(err)
			}
			if _, err := NewQuantizer(0, cfg); err == nil { // failing create frees too
				t.Fatal("columns 0 accepted")
			}
			q.Close()
		}
		runtime.GC()
	}
	cycle(200) // warm up allocator and Go heap
	before := rssKiB()
	cycle(2000)
	after := rssKiB()
	t.Logf("RSS %d KiB -> %d KiB over 2000 cycles", before, after)
	// A leaked context alone would be >= 128*128*4*2 bytes = 128 KiB per cycle (~190 MiB).
	if before > 0 && after-before > 16*1024 {
		t.Fatalf("RSS grew by %d KiB over 2000 cycles", after-before)
	}

	// The finalizer frees quantizers that were never closed.
	for i := 0; i < 300; i++ {
		q, err := NewQuantizer(cols, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = q.AddBatch(x, nil)
	}
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	before = rssKiB()
	for i := 0; i < 1500; i++ {
		q, _ := NewQuantizer(cols, cfg)
		_ = q.AddBatch(x, nil)
		if i%100 == 0 {
			runtime.GC()
		}
	}
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	after = rssKiB()
	t.Logf("finalizer path: RSS %d KiB -> %d KiB over 1500 unclosed quantizers", before, after)
	if before > 0 && after-before > 32*1024 {
		t.Fatalf("unclosed quantizers were not finalized: RSS grew by %d KiB", after-before)
	}
}

func tokensOf(t *testing.T, q *Quantizer) int64 {
	t.Helper()
	n, err := q.NumTokens()
	if err != nil {
		t.Fatalf("NumTokens: %v", err)
	}
	return n
}

func backendOf(t *testing.T, q *Quantizer) Backend {
	t.Helper()
	b, err := q.Backend()
	if err != nil {
		t.Fatalf("Backend: %v", err)
	}
	return b
}
