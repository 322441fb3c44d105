package gptaq

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var timeZero = time.Unix(0, 0)

// ---- helpers ------------------------------------------------------------------------

func cpuConfig(groupSize int) Config {
	c := DefaultConfig()
	c.Backend, c.GroupSize, c.NumThreads = BackendCPU, groupSize, 1
	return c
}

func fed(t *testing.T, cols int, cfg Config, seed uint64, batches ...int) *Quantizer {
	t.Helper()
	q := mustQ(t, cols, cfg)
	r := &rng{s: seed}
	for _, n := range batches {
		x := activations(r, n, cols)
		var xfp []float32
		if cfg.Method == MethodGPTAQ {
			xfp = perturb(r, x, 0.05)
		}
		if err := q.AddBatch(x, xfp); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

func serialized(t *testing.T, q *Quantizer) []byte {
	t.Helper()
	b, err := q.Serialize()
	if err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	return b
}

// unchanged asserts a failed call left the statistics exactly as they were.
func unchanged(t *testing.T, q *Quantizer, before []byte, what string) {
	t.Helper()
	if after := serialized(t, q); !bytes.Equal(before, after) {
		t.Fatalf("%s changed the statistics", what)
	}
}

func solveCodes(t *testing.T, q *Quantizer, w []float32, rows int) *Result {
	t.Helper()
	res, err := q.Solve(w, rows)
	if err != nil {
		t.Fatalf("Solve: %v", err)
	}
	return res
}

func sameResult(t *testing.T, a, b *Result, what string) {
	t.Helper()
	if i := eqU8(a.Codes, b.Codes); i != -1 {
		t.Fatalf("%s: codes differ at %d", what, i)
	}
	if i := eqF32(a.Scales, b.Scales); i != -1 {
		t.Fatalf("%s: scales differ at %d", what, i)
	}
	if i := eqF32(a.Zeros, b.Zeros); i != -1 {
		t.Fatalf("%s: zeros differ at %d", what, i)
	}
}

// ---- inputs checked before C -------------------------------------------------------------

func TestRangeChecksBeforeC(t *testing.T) {
	cfg := cpuConfig(8)
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"Bits 1<<40", func(c *Config) { c.Bits = 1 << 40 }},
		{"GroupSize (1<<32)+128", func(c *Config) { c.GroupSize = (1 << 32) + 128 }},
		{"BlockSize -(1<<33)", func(c *Config) { c.BlockSize = -(1 << 33) }},
		{"FailsafeTokens 1<<31", func(c *Config) { c.FailsafeTokens = 1 << 31 }},
		{"FailsafeTokens -1", func(c *Config) { c.FailsafeTokens = -1 }},
		{"ActGroupAware with ActOrder", func(c *Config) { c.ActGroupAware, c.ActOrder = true, true }},
		{"ActGroupAware without groups", func(c *Config) { c.ActGroupAware, c.GroupSize = true, -1 }},
	} {
		bad := cfg
		c.mod(&bad)
		q, err := NewQuantizer(16, bad)
		if q != nil {
			t.Fatalf("%s: accepted", c.name)
		}
		expectErr(t, err, StatusInvalidArgument, c.name)
		// The same through SetConfig leaves the old configuration.
		good := mustQ(t, 16, cfg)
		expectErr(t, good.SetConfig(bad), StatusInvalidArgument, c.name+" (SetConfig)")
		if got, _ := good.Config(); got != cfg {
			t.Fatalf("%s: SetConfig changed the config to %+v", c.name, got)
		}
	}
	if NumGroups(64, 1<<40) != -1 {
		t.Fatal("NumGroups with a huge group size")
	}

	// A half batch with a bad type must never be read as fp32 (twice its length).
	q := fed(t, 16, cfg, 1, 32)
	before := serialized(t, q)
	h := make([]uint16, 4*16)
	for _, dt := range []HalfType{HalfType(0), HalfType(3), HalfType(-1), HalfType(1 << 20)} {
		expectErr(t, q.AddBatchHalf(dt, h, nil), StatusInvalidArgument, "AddBatchHalf bad type")
		expectErr(t, q.AddBatchHalfMasked(dt, h, nil, make([]bool, 4)), StatusInvalidArgument, "AddBatchHalfMasked bad type")
		if _, err := F32ToHalf(dt, []float32{1}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("F32ToHalf(%v): %v", dt, err)
		}
		if _, err := HalfToF32(dt, []uint16{1}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("HalfToF32(%v): %v", dt, err)
		}
	}
	expectErr(t, q.AddBatchHalfMasked(F16, h, nil, make([]bool, 3)), StatusShape, "half mask length")
	expectErr(t, q.AddBatchHalf(BF16, h[:17], nil), StatusShape, "ragged half batch")
	expectErr(t, q.AddBatchMasked(make([]float32, 32), nil, make([]bool, 3)), StatusShape, "mask length")
	expectErr(t, q.Deserialize(before, StatsMode(7)), StatusInvalidArgument, "bad stats mode")
	expectErr(t, q.LoadStats("x", StatsMode(-1)), StatusInvalidArgument, "bad stats mode (load)")
	unchanged(t, q, before, "refused inputs")

	// Masked half batches work and count only the kept tokens.
	x := activations(&rng{s: 5}, 6, 16)
	hx, err := F32ToHalf(F16, x)
	if err != nil {
		t.Fatal(err)
	}
	q2 := mustQ(t, 16, cfg)
	if err := q2.AddBatchHalfMasked(F16, hx, nil, []bool{true, false, true, true, false, true}); err != nil {
		t.Fatal(err)
	}
	if n := tokensOf(t, q2); n != 4 {
		t.Fatalf("masked half batch counted %d tokens", n)
	}
}

func TestNilAndClosed(t *testing.T) {
	var q *Quantizer
	w := make([]float32, 16)
	checks := map[string]error{
		"AddBatch":     q.AddBatch(w, nil),
		"AddBatchHalf": q.AddBatchHalf(F16, make([]uint16, 16), nil),
		"Reset":        q.Reset(),
		"SetConfig":    q.SetConfig(DefaultConfig()),
		"SaveStats":    q.SaveStats("x"),
		"LoadStats":    q.LoadStats("x", StatsReplace),
		"Deserialize":  q.Deserialize([]byte{1}, StatsReplace),
		"CommitStats":  q.CommitStats(),
		"SetProgress":  q.SetProgress(nil),
		"SetLogger":    q.SetLogger(nil),
		"Merge":        q.Merge(nil),
		"SetStream":    q.SetCUDAStream(0),
	}
	_, checks["Solve"] = q.Solve(w, 1)
	_, checks["SolveBinary"] = q.SolveBinary(w, 1)
	_, checks["Config"] = q.Config()
	_, checks["NumTokens"] = q.NumTokens()
	_, checks["Backend"] = q.Backend()
	_, checks["Serialize"] = q.Serialize()
	_, _, checks["Imatrix"] = q.Imatrix()
	_, checks["StatsBuffers"] = q.StatsBuffers()
	for name, err := range checks {
		expectErr(t, err, StatusInvalidArgument, "nil "+name)
	}
	if q.Close() != nil || q.Columns() != 0 {
		t.Fatal("nil Close / Columns")
	}
	live := mustQ(t, 16, cpuConfig(8))
	expectErr(t, live.Merge(nil), StatusInvalidArgument, "Merge(nil)")
	expectErr(t, live.Merge(live), StatusInvalidArgument, "Merge(self)")

	var sr *SafetensorsReader
	var sw *SafetensorsWriter
	var im *Imatrix
	var nr *NpyReader
	if sr.Close() != nil || sw.Close() != nil || im.Close() != nil || nr.Close() != nil || sr.Len() != 0 {
		t.Fatal("nil Close")
	}
	_, err := sr.Find("a")
	expectErr(t, err, StatusInvalidArgument, "nil reader")
	expectErr(t, sw.Save("x"), StatusInvalidArgument, "nil writer")
	expectErr(t, im.AddDataset("x"), StatusInvalidArgument, "nil imatrix")
	_, err = nr.ReadRows(make([]byte, 8))
	expectErr(t, err, StatusInvalidArgument, "nil npy reader")
	_, err = UnpackGPTQ(nil)
	expectErr(t, err, StatusInvalidArgument, "UnpackGPTQ(nil)")
	_, err = UnpackLUTGEMM(nil)
	expectErr(t, err, StatusInvalidArgument, "UnpackLUTGEMM(nil)")
	var res *Result
	_, err = res.PackGPTQ(GPTQv1)
	expectErr(t, err, StatusInvalidArgument, "nil Result.PackGPTQ")
}

func TestVersionAndCapabilities(t *testing.T) {
	if VersionNumber() != HeaderVersionNumber {
		t.Fatalf("library %d, header %d", VersionNumber(), HeaderVersionNumber)
	}
	if !BackendAvailable(BackendCPU) || !BackendAvailable(BackendAuto) || BackendAvailable(Backend(99)) {
		t.Fatal("backend availability")
	}
	if !strings.Contains(BuildInfo(), Version()) {
		t.Fatalf("build info %q", BuildInfo())
	}
	if ErrCancelled != StatusCancelled || StatusCancelled.String() == StatusInternal.String() {
		t.Fatal("cancelled status")
	}
	q := mustQ(t, 16, cpuConfig(8))
	expectErr(t, q.SetCUDAStream(0x1234), StatusUnsupported, "a stream on the CPU backend")
	if err := q.SetCUDAStream(0); err != nil {
		t.Fatalf("clearing the stream: %v", err)
	}
}

// ---- statistics exchange -------------------------------------------------------------------

func TestStatisticsExchange(t *testing.T) {
	const cols, rows = 48, 16
	for _, method := range []Method{MethodGPTQ, MethodGPTAQ} {
		cfg := cpuConfig(16)
		cfg.Method = method
		w := (&rng{s: 77}).fill(rows*cols, 0.2)
		a := fed(t, cols, cfg, 10, 40, 30)
		b := fed(t, cols, cfg, 11, 50)

		// Serialize / Deserialize: the same statistics, the same solve.
		blob := serialized(t, a)
		if n, _ := a.SerializedSize(); int64(len(blob)) != n || len(blob) < StatsHeaderBytes {
			t.Fatalf("serialized size %d vs %d", len(blob), n)
		}
		c := mustQ(t, cols, cfg)
		if err := c.Deserialize(blob, StatsReplace); err != nil {
			t.Fatal(err)
		}
		sameResult(t, solveCodes(t, a, w, rows), solveCodes(t, c, w, rows), "deserialize")
		small := make([]byte, len(blob)-1)
		if _, err := a.SerializeTo(small); !errors.Is(err, ErrShape) {
			t.Fatalf("SerializeTo a short buffer: %v", err)
		}

		// Merge == deserialize with accumulate == in-place all-reduce through the buffers.
		m1 := mustQ(t, cols, cfg)
		if err := m1.Deserialize(blob, StatsReplace); err != nil {
			t.Fatal(err)
		}
		if err := m1.Merge(b); err != nil {
			t.Fatal(err)
		}
		m2 := mustQ(t, cols, cfg)
		if err := m2.Deserialize(blob, StatsReplace); err != nil {
			t.Fatal(err)
		}
		if err := m2.Deserialize(serialized(t, b), StatsAccumulate); err != nil {
			t.Fatal(err)
		}
		m3 := mustQ(t, cols, cfg)
		if err := m3.Deserialize(blob, StatsReplace); err != nil {
			t.Fatal(err)
		}
		bb, err := b.StatsBuffers()
		if err != nil {
			t.Fatal(err)
		}
		if bb.Backend != BackendCPU || bb.HasCross != (method == MethodGPTAQ) || len(bb.XX) != cols*cols ||
			len(bb.XSum) != cols || (bb.DX != nil) != bb.HasCross || *bb.Tokens != 50 {
			t.Fatalf("buffers: backend %v cross %v, %d/%d/%d values, %v tokens", bb.Backend, bb.HasCross,
				len(bb.XX), len(bb.DX), len(bb.XSum), *bb.Tokens)
		}
		err = m3.WithStatsBuffers(func(sb *StatsBuffers) error {
			for i := range sb.XX {
				sb.XX[i] += bb.XX[i]
			}
			for i := range sb.DX {
				sb.DX[i] += bb.DX[i]
			}
			for i := range sb.XSum {
				sb.XSum[i] += bb.XSum[i]
			}
			*sb.Tokens += *bb.Tokens
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.CommitStats(); err != nil {
			t.Fatal(err)
		}
		s1, s2, s3 := serialized(t, m1), serialized(t, m2), serialized(t, m3)
		if !bytes.Equal(s1, s2) || !bytes.Equal(s1, s3) {
			t.Fatalf("%v: merge, accumulate and the buffer all-reduce disagree", method)
		}
		if n := tokensOf(t, m1); n != 120 {
			t.Fatalf("merged tokens %d", n)
		}

		// A commit that finds a NaN fails; reset makes the quantizer usable again.
		err = m3.WithStatsBuffers(func(sb *StatsBuffers) error { sb.XX[cols] = float32(math.NaN()); return nil })
		expectErr(t, err, StatusNonFinite, "NaN written through the buffers")
		if err := m3.Reset(); err != nil {
			t.Fatal(err)
		}
		sentinel := errors.New("fn failed")
		if err := m3.WithStatsBuffers(func(*StatsBuffers) error { return sentinel }); err != sentinel {
			t.Fatalf("WithStatsBuffers returned %v, not fn's error", err)
		}

		// Files.
		dir := t.TempDir()
		path := filepath.Join(dir, "a.stats")
		if err := a.SaveStats(path); err != nil {
			t.Fatal(err)
		}
		info, err := ReadStatsFileInfo(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Columns != cols || info.Method != method || info.HasCross != (method == MethodGPTAQ) || info.Tokens != 70 {
			t.Fatalf("file info %+v", info)
		}
		f := mustQ(t, cols, cfg)
		if err := f.LoadStats(path, StatsReplace); err != nil {
			t.Fatal(err)
		}
		if err := f.LoadStats(path, StatsAccumulate); err != nil {
			t.Fatal(err)
		}
		if n := tokensOf(t, f); n != 140 {
			t.Fatalf("loaded twice: %d tokens", n)
		}

		// Bad inputs: clear errors, statistics unchanged.
		before := serialized(t, f)
		bad := append([]byte(nil), blob...)
		bad[len(bad)-3] ^= 0xff
		expectErr(t, f.Deserialize(bad, StatsReplace), StatusFormat, "corrupted bytes")
		expectErr(t, f.Deserialize(blob[:len(blob)/2], StatsAccumulate), StatusFormat, "truncated bytes")
		expectErr(t, f.Deserialize([]byte("not statistics"), StatsReplace), StatusFormat, "garbage bytes")
		expectErr(t, f.Deserialize(nil, StatsReplace), StatusFormat, "empty bytes")
		expectErr(t, f.LoadStats(filepath.Join(dir, "missing"), StatsReplace), StatusIO, "missing file")
		other := fed(t, cols+16, cfg, 3, 20)
		expectErr(t, f.Deserialize(serialized(t, other), StatsReplace), StatusShape, "another width")
		expectErr(t, f.Merge(other), StatusShape, "merge another width")
		ocfg := cfg
		ocfg.Method = MethodGPTQ + MethodGPTAQ - method // the other family
		fam := fed(t, cols, ocfg, 4, 20)
		expectErr(t, f.Merge(fam), StatusInvalidArgument, "merge another method family")
		expectErr(t, f.Deserialize(serialized(t, fam), StatsAccumulate), StatusInvalidArgument, "another method family")
		unchanged(t, f, before, "refused statistics")
		if _, err := ReadStatsFileInfo(filepath.Join(dir, "missing")); !errors.Is(err, ErrIO) {
			t.Fatalf("file info of a missing file: %v", err)
		}
		_ = os.WriteFile(filepath.Join(dir, "junk"), []byte("junk junk junk"), 0o644)
		if _, err := ReadStatsFileInfo(filepath.Join(dir, "junk")); !errors.Is(err, ErrFormat) {
			t.Fatalf("file info of junk: %v", err)
		}

		// imatrix statistics: the diagonal of xx.
		in, n, err := a.Imatrix()
		if err != nil || n != 70 || len(in) != cols {
			t.Fatalf("imatrix: %v %d %d", err, n, len(in))
		}
		ab, _ := a.StatsBuffers()
		for j := 0; j < cols; j++ {
			if in[j] != ab.XX[j*cols+j] {
				t.Fatalf("imatrix[%d] %v != xx diagonal %v", j, in[j], ab.XX[j*cols+j])
			}
		}
		_ = a.CommitStats()
	}
}

// ---- checkpoint formats ---------------------------------------------------------------------

func TestGPTQPackUnpackAndConfig(t *testing.T) {
	const cols, rows = 64, 32
	w := (&rng{s: 5}).fill(rows*cols, 0.2)
	for _, tc := range []struct {
		bits     int
		sym, act bool
		format   GPTQFormat
	}{{4, true, false, GPTQv1}, {3, true, true, GPTQv1}, {2, false, false, GPTQv2}, {8, false, true, GPTQv2}} {
		cfg := cpuConfig(16)
		cfg.Bits, cfg.Sym, cfg.ActOrder = tc.bits, tc.sym, tc.act
		q := fed(t, cols, cfg, 6, 100)
		res := solveCodes(t, q, w, rows)
		if res.Bits != tc.bits || res.GroupSize != 16 {
			t.Fatalf("result carries bits %d group %d", res.Bits, res.GroupSize)
		}
		p, err := res.PackGPTQ(tc.format)
		if err != nil {
			t.Fatalf("%d bits: %v", tc.bits, err)
		}
		sh, err := GPTQShapesFor(rows, cols, 16, tc.bits)
		if err != nil || sh != p.Shapes || sh.QWeightRows != cols*tc.bits/32 || sh.QZerosCols != rows*tc.bits/32 || sh.Groups != 4 {
			t.Fatalf("shapes %+v %+v %v", sh, p.Shapes, err)
		}
		u, err := UnpackGPTQ(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := eqU8(u.Codes, res.Codes); i != -1 {
			t.Fatalf("%d bits: codes differ at %d", tc.bits, i)
		}
		for i := range res.Zeros {
			if u.Zeros[i] != res.Zeros[i] {
				t.Fatalf("zero %d: %v != %v", i, u.Zeros[i], res.Zeros[i])
			}
			if d := math.Abs(float64(u.Scales[i]-res.Scales[i])) / float64(res.Scales[i]); d > 1.0/2048 {
				t.Fatalf("scale %d: %v vs %v", i, u.Scales[i], res.Scales[i])
			}
		}
		// f32 scales round-trip exactly.
		p32, err := PackGPTQ(tc.format, tc.bits, rows, cols, 16, res.Codes, res.Scales, res.Zeros, res.GIdx, DTypeF32, false)
		if err != nil {
			t.Fatal(err)
		}
		u32, err := UnpackGPTQ(p32)
		if err != nil {
			t.Fatal(err)
		}
		if i := eqF32(u32.Dequant, res.Dequant); i != -1 {
			t.Fatalf("f32 scales: dequant differs at %d: %v vs %v", i, u32.Dequant[i], res.Dequant[i])
		}
	}

	// Bad inputs.
	codes := make([]uint8, 32*64)
	sc := make([]float32, 32*4)
	for i := range sc {
		sc[i] = 0.1
	}
	zs := make([]float32, 32*4)
	_, err := PackGPTQ(GPTQv1, 4, 32, 64, 16, codes[:10], sc, zs, nil, DTypeF16, false)
	expectErr(t, err, StatusShape, "short codes")
	_, err = PackGPTQ(GPTQv1, 4, 32, 64, 16, codes, sc[:3], zs, nil, DTypeF16, false)
	expectErr(t, err, StatusShape, "short scales")
	_, err = PackGPTQ(GPTQv1, 4, 32, 64, 16, codes, sc, zs, make([]int32, 3), DTypeF16, false)
	expectErr(t, err, StatusShape, "short g_idx")
	_, err = PackGPTQ(GPTQv1, 4, 32, 64, 16, codes, sc, zs, nil, DTypeU8, false)
	expectErr(t, err, StatusInvalidArgument, "bad scales type")
	_, err = PackGPTQ(GPTQv1, 1<<40, 32, 64, 16, codes, sc, zs, nil, DTypeF16, false)
	expectErr(t, err, StatusInvalidArgument, "huge bits")
	_, err = PackGPTQ(GPTQv1, 5, 32, 64, 16, codes, sc, zs, nil, DTypeF16, false)
	expectErr(t, err, StatusInvalidArgument, "5 bits")
	_, err = GPTQShapesFor(32, 60, 16, 4)
	expectErr(t, err, StatusShape, "columns not a multiple of 8")
	// A v1 zero of 0 (all zeros here) is refused unless clamping is allowed.
	_, err = PackGPTQ(GPTQv1, 4, 32, 64, 16, codes, sc, zs, nil, DTypeF16, false)
	expectErr(t, err, StatusUnsupported, "v1 zero of 0")
	p, err := PackGPTQ(GPTQv1, 4, 32, 64, 16, codes, sc, zs, nil, DTypeF16, true)
	if err != nil || p.ZerosClamped != 32*4 {
		t.Fatalf("clamped pack: %v, %d clamped", err, p.ZerosClamped)
	}
	if p, err = PackGPTQ(GPTQv2, 4, 32, 64, 16, codes, sc, zs, nil, DTypeF16, false); err != nil || p.ZerosClamped != 0 {
		t.Fatalf("v2 pack: %v", err)
	}
	p.GIdx[5] = 99
	_, err = UnpackGPTQ(p)
	expectErr(t, err, StatusFormat, "g_idx out of range")
	p.GIdx = p.GIdx[:7]
	_, err = UnpackGPTQ(p)
	expectErr(t, err, StatusShape, "short g_idx (unpack)")
	p.GIdx = nil
	_, err = UnpackGPTQ(p)
	expectErr(t, err, StatusInvalidArgument, "no g_idx for 4 groups")

	// quantize_config.json.
	cfg := cpuConfig(64)
	cfg.Bits, cfg.ActOrder, cfg.Sym = 3, true, false
	js, err := QuantizeConfigJSON(cfg, GPTQv2)
	if err != nil || !strings.Contains(js, `"bits": 3`) || !strings.Contains(js, `"gptq_v2"`) {
		t.Fatalf("quantize_config: %v\n%s", err, js)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "quantize_config.json")
	if err := WriteQuantizeConfig(path, cfg, GPTQv2); err != nil {
		t.Fatal(err)
	}
	back, format, err := ReadQuantizeConfig(path)
	if err != nil || format != GPTQv2 || back.Bits != 3 || back.GroupSize != 64 || !back.ActOrder || back.Sym {
		t.Fatalf("read back %+v %v %v", back, format, err)
	}
	_, err = QuantizeConfigJSON(BinaryConfig(2), GPTQv1)
	expectErr(t, err, StatusInvalidArgument, "quantize_config of a binary config")
	_, _, err = ReadQuantizeConfig(filepath.Join(dir, "missing.json"))
	expectErr(t, err, StatusIO, "missing quantize_config")
	_ = os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o644)
	_, _, err = ReadQuantizeConfig(filepath.Join(dir, "bad.json"))
	expectErr(t, err, StatusFormat, "bad quantize_config")
	bad := cfg
	bad.Bits = 1 << 40
	expectErr(t, WriteQuantizeConfig(path, bad, GPTQv1), StatusInvalidArgument, "huge bits in quantize_config")
}

func TestSafetensors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	sw, err := NewSafetensorsWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	f := []float32{1, 2, 3, 4, 5, 6}
	i := []int32{-1, 7, 1 << 30}
	h, _ := F32ToHalf(F16, []float32{0.5, -2})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sw.AddFloat32("a.f", []int64{2, 3}, f))
	must(sw.AddInt32("a.i", []int64{3}, i))
	must(sw.AddHalf("a.h", F16, []int64{2}, h))
	must(sw.AddUint8("a.u", []int64{1, 2}, []uint8{9, 250}))
	must(sw.Add("scalar", "F64", nil, make([]byte, 8)))
	must(sw.SetMetadataMap(map[string]string{"format": "pt", "who": "go"}))
	expectErr(t, sw.AddFloat32("short", []int64{2, 3}, f[:5]), StatusShape, "data shorter than the shape")
	expectErr(t, sw.Add("x", "F13", []int64{1}, make([]byte, 4)), StatusInvalidArgument, "unknown dtype")
	expectErr(t, sw.AddInt32("a.i", []int64{3}, i), StatusInvalidArgument, "duplicate name")
	expectErr(t, sw.AddInt32("", []int64{3}, i), StatusInvalidArgument, "empty name")
	expectErr(t, sw.Add("big", "U8", []int64{1 << 40, 1 << 40}, nil), StatusShape, "size overflow")
	expectErr(t, sw.AddHalf("bad", HalfType(0), []int64{2}, h), StatusInvalidArgument, "bad half type")
	must(sw.Save(path))
	expectErr(t, sw.Save(filepath.Join(dir, "no", "such", "dir", "x")), StatusIO, "save into a missing folder")

	sr, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	ts, err := sr.Tensors()
	if err != nil || len(ts) != 5 || sr.Len() != 5 {
		t.Fatalf("tensors %v %v", ts, err)
	}
	if ts[0].Name != "a.f" || ts[0].DType != "F32" || len(ts[0].Shape) != 2 || ts[0].Shape[1] != 3 || ts[0].NBytes != 24 ||
		ts[4].Name != "scalar" || len(ts[4].Shape) != 0 {
		t.Fatalf("tensor info %+v", ts)
	}
	gf, err := sr.ReadFloat32("a.f", 2, 3)
	if err != nil || eqF32(gf, f) != -1 {
		t.Fatalf("a.f %v %v", gf, err)
	}
	gi, err := sr.ReadInt32("a.i")
	if err != nil || eqI32(gi, i) != -1 {
		t.Fatalf("a.i %v %v", gi, err)
	}
	gh, err := sr.ReadUint16("a.h", 2)
	if err != nil || gh[0] != h[0] || gh[1] != h[1] {
		t.Fatalf("a.h %v %v", gh, err)
	}
	hf, err := sr.ReadFloat32("a.h")
	if err != nil || hf[0] != 0.5 || hf[1] != -2 {
		t.Fatalf("a.h as f32 %v %v", hf, err)
	}
	gu, err := sr.ReadUint8("a.u", 1, 2)
	if err != nil || gu[1] != 250 {
		t.Fatalf("a.u %v %v", gu, err)
	}
	meta, err := sr.Metadata()
	if err != nil || meta["format"] != "pt" || meta["who"] != "go" || len(meta) != 2 {
		t.Fatalf("metadata %v %v", meta, err)
	}
	_, err = sr.ReadInt32("a.f")
	expectErr(t, err, StatusFormat, "wrong dtype")
	_, err = sr.ReadFloat32("a.f", 3, 2)
	expectErr(t, err, StatusFormat, "wrong shape")
	_, err = sr.Find("nope")
	expectErr(t, err, StatusInvalidArgument, "missing tensor")
	_, err = sr.Tensor(5)
	expectErr(t, err, StatusInvalidArgument, "index out of range")
	_, err = sr.ReadF32(1)
	expectErr(t, err, StatusUnsupported, "ReadF32 of an I32 tensor")

	// Untrusted files.
	_, err = OpenSafetensors(filepath.Join(dir, "missing"))
	expectErr(t, err, StatusIO, "missing file")
	raw, _ := os.ReadFile(path)
	for name, data := range map[string][]byte{"short": raw[:5], "truncated": raw[:len(raw)-3], "junk": []byte("0123456789abcdef")} {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, data, 0o644)
		_, err = OpenSafetensors(p)
		expectErr(t, err, StatusFormat, "malformed file "+name)
	}
	if err := sr.Close(); err != nil || sr.Close() != nil {
		t.Fatal("Close twice")
	}
	_, err = sr.ReadRaw(0)
	expectErr(t, err, StatusInvalidArgument, "closed reader")
}

func TestImatrix(t *testing.T) {
	const cols = 32
	q := fed(t, cols, cpuConfig(8), 8, 100, 30)
	im, err := NewImatrix()
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	dir := t.TempDir()
	expectErr(t, im.Save(filepath.Join(dir, "empty.gguf"), ImatrixGGUF), StatusInvalidArgument, "empty collection")
	for _, n := range []string{"blk.0.attn_q.weight", "blk.0.attn_k.weight"} {
		if err := im.AddQuantizer(n, q); err != nil {
			t.Fatal(err)
		}
	}
	in := make([]float32, 2*cols)
	for i := range in {
		in[i] = float32(i)
	}
	if err := im.Add("blk.0.ffn_down_exps.weight", cols, 2, in, []float32{10, 20}); err != nil {
		t.Fatal(err)
	}
	expectErr(t, im.Add("x", cols, 2, in[:5], []float32{1, 1}), StatusShape, "short in_sum2")
	expectErr(t, im.Add("x", cols, 2, in, []float32{1}), StatusShape, "short counts")
	expectErr(t, im.Add("x", 0, 1, nil, []float32{1}), StatusInvalidArgument, "n_per_row 0")
	expectErr(t, im.Add("blk.0.ffn_down_exps.weight", cols, 1, in[:cols], []float32{1}), StatusShape, "another shape for a name")
	neg := append([]float32(nil), in[:cols]...)
	neg[3] = -1
	expectErr(t, im.Add("neg", cols, 1, neg, []float32{1}), StatusInvalidArgument, "negative in_sum2")
	expectErr(t, im.SetChunkSize(0), StatusInvalidArgument, "chunk size 0")
	expectErr(t, im.SetChunkSize(1<<40), StatusInvalidArgument, "huge chunk size")
	if err := im.SetChunkSize(64); err != nil {
		t.Fatal(err)
	}
	if err := im.AddDataset("calib.npy"); err != nil {
		t.Fatal(err)
	}
	gg, dat := filepath.Join(dir, "imatrix.gguf"), filepath.Join(dir, "imatrix.dat")
	if err := im.Save(gg, ImatrixGGUF); err != nil {
		t.Fatal(err)
	}
	if err := im.Save(dat, ImatrixDAT); err != nil {
		t.Fatal(err)
	}
	expectErr(t, im.Save(filepath.Join(dir, "x"), ImatrixFormat(9)), StatusInvalidArgument, "bad format")
	b, _ := os.ReadFile(gg)
	if len(b) < 4 || string(b[:4]) != "GGUF" || !bytes.Contains(b, []byte("blk.0.attn_k.weight.in_sum2")) {
		t.Fatalf("not a GGUF imatrix (%d bytes)", len(b))
	}
	d, _ := os.ReadFile(dat)
	if len(d) < 4 || d[0] != 3 || !bytes.Contains(d, []byte("calib.npy")) { // 3 entries
		t.Fatalf("imatrix.dat (%d bytes)", len(d))
	}
}

func TestLUTGEMM(t *testing.T) {
	const cols, rows = 96, 8
	cfg := BinaryConfig(3)
	cfg.Backend, cfg.GroupSize = BackendCPU, 32
	q := fed(t, cols, cfg, 9, 64)
	w := (&rng{s: 10}).fill(rows*cols, 0.2)
	res, err := q.SolveBinary(w, rows)
	if err != nil {
		t.Fatal(err)
	}
	l, err := res.PackLUTGEMM()
	if err != nil {
		t.Fatal(err)
	}
	if l.Groups != 3 || len(l.QBits) != 3*3*rows || len(l.Alpha) != 3*3*rows || len(l.Bias) != 3*rows {
		t.Fatalf("layout %+v", l)
	}
	u, err := UnpackLUTGEMM(l)
	if err != nil {
		t.Fatal(err)
	}
	if i := eqU8(u.Codes, res.Codes); i != -1 {
		t.Fatalf("codes differ at %d", i)
	}
	for i := range u.Dequant {
		if d := math.Abs(float64(u.Dequant[i] - res.Dequant[i])); d > 2e-3*(1+math.Abs(float64(res.Dequant[i]))) {
			t.Fatalf("dequant %d: %v vs %v", i, u.Dequant[i], res.Dequant[i])
		}
	}
	_, err = PackLUTGEMM(3, rows, cols, 32, res.Codes[:5], res.Alpha, res.Bias, nil)
	expectErr(t, err, StatusShape, "short codes")
	_, err = PackLUTGEMM(9, rows, cols, 32, res.Codes, res.Alpha, res.Bias, nil)
	expectErr(t, err, StatusInvalidArgument, "9 bits")
	perm := append([]int32(nil), res.GIdx...)
	perm[0], perm[40] = perm[40], perm[0]
	_, err = PackLUTGEMM(3, rows, cols, 32, res.Codes, res.Alpha, res.Bias, perm)
	expectErr(t, err, StatusUnsupported, "non-contiguous g_idx")
	l.QBits = l.QBits[:4]
	_, err = UnpackLUTGEMM(l)
	expectErr(t, err, StatusShape, "short qbits")
}

func TestNpy(t *testing.T) {
	dir := t.TempDir()
	f := []float32{1.5, -2, 3, 4, 5, 6}
	if err := WriteNpyFloat32(filepath.Join(dir, "f.npy"), 2, 3, f); err != nil {
		t.Fatal(err)
	}
	if err := WriteNpyUint8(filepath.Join(dir, "u.npy"), 3, 1, []uint8{1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNpyInt32(filepath.Join(dir, "i.npy"), 1, 2, []int32{-5, 1 << 30}); err != nil {
		t.Fatal(err)
	}
	h, _ := F32ToHalf(F16, []float32{1, 2, 3, 4})
	if err := WriteNpyND(filepath.Join(dir, "h.npy"), DTypeF16, []int64{4}, u16Bytes(h)); err != nil {
		t.Fatal(err)
	}
	got, rows, cols, err := ReadNpyFloat32(filepath.Join(dir, "f.npy"))
	if err != nil || rows != 2 || cols != 3 || eqF32(got, f) != -1 {
		t.Fatalf("f.npy %v %d %d %v", got, rows, cols, err)
	}
	a, err := ReadNpy(filepath.Join(dir, "u.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if u, err := a.Uint8(); err != nil || u[2] != 255 || a.Rows != 3 || a.Cols != 1 {
		t.Fatalf("u.npy %v %v", u, err)
	}
	if _, err := a.Float32(); !errors.Is(err, ErrFormat) {
		t.Fatalf("Float32 of a u8 array: %v", err)
	}
	a, _ = ReadNpy(filepath.Join(dir, "i.npy"))
	if i, err := a.Int32(); err != nil || i[1] != 1<<30 {
		t.Fatalf("i.npy %v %v", i, err)
	}
	a, _ = ReadNpy(filepath.Join(dir, "h.npy"))
	if hh, err := a.Uint16(); err != nil || a.Rows != 1 || a.Cols != 4 || hh[3] != h[3] {
		t.Fatalf("h.npy %v %v", hh, err)
	}
	// Streaming rows.
	nr, err := OpenNpy(filepath.Join(dir, "f.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer nr.Close()
	if dt, r, c := nr.Info(); dt != DTypeF32 || r != 2 || c != 3 {
		t.Fatalf("info %v %d %d", dt, r, c)
	}
	buf := make([]byte, 12)
	if n, err := nr.ReadRows(buf[:5]); !errors.Is(err, ErrShape) || n != 0 {
		t.Fatalf("a buffer shorter than a row: %d %v", n, err)
	}
	for want := 1; want >= 0; want-- {
		n, err := nr.ReadRows(buf)
		if err != nil || n != 1 {
			t.Fatalf("row: %d %v", n, err)
		}
	}
	if n, err := nr.ReadRows(buf); err != nil || n != 0 {
		t.Fatalf("end: %d %v", n, err)
	}
	// Bad inputs.
	expectErr(t, WriteNpyFloat32(filepath.Join(dir, "x.npy"), 2, 3, f[:4]), StatusShape, "short data")
	expectErr(t, WriteNpyND(filepath.Join(dir, "x.npy"), DTypeBF16, []int64{1}, make([]byte, 2)), StatusInvalidArgument, "bf16 npy")
	expectErr(t, WriteNpyND(filepath.Join(dir, "x.npy"), DTypeF32, nil, nil), StatusInvalidArgument, "no dimensions")
	expectErr(t, WriteNpyFloat32(filepath.Join(dir, "no", "dir", "x.npy"), 1, 1, f[:1]), StatusIO, "missing folder")
	_, err = ReadNpy(filepath.Join(dir, "missing.npy"))
	expectErr(t, err, StatusIO, "missing npy")
	_ = os.WriteFile(filepath.Join(dir, "junk.npy"), []byte("\x93NUMPY junk"), 0o644)
	_, err = ReadNpy(filepath.Join(dir, "junk.npy"))
	expectErr(t, err, StatusFormat, "junk npy")
}

// ---- progress, cancellation, logs ---------------------------------------------------------

// A context that is already done stops the call before it starts.
func TestCancelBeforeStart(t *testing.T) {
	q := fed(t, 32, cpuConfig(8), 12, 40)
	before := serialized(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := q.AddBatchContext(ctx, activations(&rng{s: 1}, 8, 32), nil)
	expectErr(t, err, StatusCancelled, "cancelled context")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("%v is not both context.Canceled and ErrCancelled", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), timeZero)
	defer dcancel()
	_, err = q.SolveContext(dctx, make([]float32, 4*32), 4)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("deadline: %v", err)
	}
	unchanged(t, q, before, "cancelled calls")
	// A nil context is treated as one that is never cancelled.
	if err := q.AddBatchContext(nil, activations(&rng{s: 1}, 8, 32), nil); err != nil {
		t.Fatal(err)
	}
}
