package gptaq

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Identical results to a C program: bindings/swig/tests/capi_ref.c runs the same
// quantization through the raw C API (inputs and outputs as .npy files). ctest passes its
// path as GPTAQ_CAPI_REF; a bare `go test` skips this test.

func npyWrite(t *testing.T, path string, dtype int, rows, cols int, data []byte) {
	t.Helper()
	if st := lowlevel.Gptaq_npy_write(path, dtype, int64(rows), int64(cols), data); st != 0 {
		t.Fatalf("npy_write %s: %d", path, st)
	}
}

func npyRead(t *testing.T, path string, elem int) []byte {
	t.Helper()
	pp := lowlevel.New_gptaq_npy_reader_pp()
	defer lowlevel.Delete_gptaq_npy_reader_pp(pp)
	if st := lowlevel.Gptaq_npy_open(pp, path); st != 0 {
		t.Fatalf("npy_open %s: %d %s", path, st, lowlevel.Gptaq_last_errmsg())
	}
	r := lowlevel.Gptaq_npy_reader_pp_value(pp)
	defer lowlevel.Gptaq_npy_close(r)
	dt, rows, cols := make([]int32, 1), make([]int64, 1), make([]int64, 1)
	if st := lowlevel.Gptaq_npy_info(r, dt, rows, cols); st != 0 {
		t.Fatalf("npy_info %s: %d", path, st)
	}
	buf := make([]byte, int(rows[0]*cols[0])*elem)
	got := make([]int64, 1)
	if st := lowlevel.Gptaq_npy_read_rows(r, buf, rows[0], got); st != 0 || got[0] != rows[0] {
		t.Fatalf("npy_read_rows %s: %d, %d rows", path, st, got[0])
	}
	return buf
}

func bytesF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)...)
}

func bytesI32(b []byte) []int32 {
	if len(b) == 0 {
		return nil
	}
	return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)...)
}

func infoLoss(t *testing.T, dir string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, "info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "loss ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(l[5:]), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no loss in info.txt")
	return 0
}

func TestIdenticalToCProgram(t *testing.T) {
	exe := os.Getenv("GPTAQ_CAPI_REF")
	if exe == "" {
		t.Skip("GPTAQ_CAPI_REF not set: the comparison with the C program runs under ctest")
	}
	cpu := func(g int, mod func(*Config)) Config {
		c := DefaultConfig()
		c.Backend, c.GroupSize = BackendCPU, g
		mod(&c)
		return c
	}
	cases := []struct {
		name                      string
		cfg                       Config
		fields                    []string
		cols, rows, tokens, batch int
		half                      HalfType
		mask                      bool
	}{
		{"gptq", cpu(16, func(*Config) {}), []string{"backend=1", "group_size=16"}, 64, 24, 100, 32, 0, false},
		{"gptq_actorder_mask", cpu(16, func(c *Config) { c.ActOrder, c.Bits, c.Sym = true, 3, false }),
			[]string{"backend=1", "group_size=16", "act_order=1", "bits=3", "sym=0"}, 48, 16, 80, 30, 0, true},
		{"gptaq", cpu(32, func(c *Config) { c.Method = MethodGPTAQ }),
			[]string{"backend=1", "group_size=32", "method=2"}, 64, 20, 90, 45, 0, false},
		{"gptq_f16", cpu(-1, func(*Config) {}), []string{"backend=1", "group_size=-1"}, 32, 8, 50, 50, F16, false},
		{"gptaq_bf16", cpu(16, func(c *Config) { c.Method = MethodGPTAQ }),
			[]string{"backend=1", "group_size=16", "method=2"}, 32, 8, 40, 13, BF16, false},
		{"gptqt_k3", func() Config { c := BinaryConfig(3); c.Backend, c.Objective = BackendCPU, ObjectiveHessian; return c }(),
			[]string{"backend=1", "quantizer=1", "bits=3", "group_size=-1", "objective=1"}, 64, 12, 64, 64, 0, false},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := &rng{s: uint64(500 + ci)}
			xq := activations(r, tc.tokens, tc.cols)
			xfp := perturb(r, xq, 0.05)
			gptaq := tc.cfg.Method == MethodGPTAQ
			w := r.fill(tc.rows*tc.cols, 0.2)
			mask := make([]bool, tc.tokens)
			maskU8 := make([]byte, tc.tokens)
			for i := range mask {
				mask[i] = !tc.mask || i%4 != 1
				if mask[i] {
					maskU8[i] = 1
				}
			}
			path := func(n string) string { return filepath.Join(dir, n) }
			npyWrite(t, path("w.npy"), int(lowlevel.GPTAQ_DTYPE_F32), tc.rows, tc.cols, f32Bytes(w))
			var hq, hfp []uint16
			if tc.half != 0 {
				hq, _ = F32ToHalf(tc.half, xq)
				hfp, _ = F32ToHalf(tc.half, xfp)
				// 16-bit payloads; --dtype tells the program which format they are.
				npyWrite(t, path("xq.npy"), int(lowlevel.GPTAQ_DTYPE_F16), tc.tokens, tc.cols, u16Bytes(hq))
				npyWrite(t, path("xfp.npy"), int(lowlevel.GPTAQ_DTYPE_F16), tc.tokens, tc.cols, u16Bytes(hfp))
			} else {
				npyWrite(t, path("xq.npy"), int(lowlevel.GPTAQ_DTYPE_F32), tc.tokens, tc.cols, f32Bytes(xq))
				npyWrite(t, path("xfp.npy"), int(lowlevel.GPTAQ_DTYPE_F32), tc.tokens, tc.cols, f32Bytes(xfp))
			}
			npyWrite(t, path("mask.npy"), int(lowlevel.GPTAQ_DTYPE_U8), tc.tokens, 1, maskU8)
			args := []string{dir, path("w.npy"), path("xq.npy"), "--batch", strconv.Itoa(tc.batch)}
			if gptaq {
				args = append(args, "--xfp", path("xfp.npy"))
			}
			if tc.mask {
				args = append(args, "--mask", path("mask.npy"))
			}
			switch tc.half {
			case F16:
				args = append(args, "--dtype", "f16")
			case BF16:
				args = append(args, "--dtype", "bf16")
			}
			args = append(args, tc.fields...)
			var stderr bytes.Buffer
			cmd := exec.Command(exe, args...)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("capi_ref: %v: %s", err, stderr.String())
			}

			// The Go package, same inputs, same batching.
			q := mustQ(t, tc.cols, tc.cfg)
			for t0 := 0; t0 < tc.tokens; t0 += tc.batch {
				t1 := t0 + tc.batch
				if t1 > tc.tokens {
					t1 = tc.tokens
				}
				s0, s1 := t0*tc.cols, t1*tc.cols
				var err error
				switch {
				case tc.half != 0 && gptaq:
					err = q.AddBatchHalf(tc.half, hq[s0:s1], hfp[s0:s1])
				case tc.half != 0:
					err = q.AddBatchHalf(tc.half, hq[s0:s1], nil)
				case tc.mask:
					var fp []float32
					if gptaq {
						fp = xfp[s0:s1]
					}
					err = q.AddBatchMasked(xq[s0:s1], fp, mask[t0:t1])
				case gptaq:
					err = q.AddBatch(xq[s0:s1], xfp[s0:s1])
				default:
					err = q.AddBatch(xq[s0:s1], nil)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			codes := npyRead(t, path("codes.npy"), 1)
			dequant := bytesF32(npyRead(t, path("dequant.npy"), 4))
			gidx := bytesI32(npyRead(t, path("g_idx.npy"), 4))
			loss := infoLoss(t, dir)
			if tc.cfg.Quantizer == QuantizerBinary {
				res, err := q.SolveBinary(w, tc.rows)
				if err != nil {
					t.Fatal(err)
				}
				if eqU8(res.Codes, codes) != -1 || eqF32(res.Dequant, dequant) != -1 || eqI32(res.GIdx, gidx) != -1 ||
					eqF32(res.Alpha, bytesF32(npyRead(t, path("alpha.npy"), 4))) != -1 ||
					eqF32(res.Bias, bytesF32(npyRead(t, path("bias.npy"), 4))) != -1 {
					t.Fatal("binary outputs differ from the C program")
				}
				if res.Info.Loss != loss {
					t.Fatalf("loss %v != %v", res.Info.Loss, loss)
				}
				return
			}
			res, err := q.Solve(w, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			if i := eqU8(res.Codes, codes); i != -1 {
				t.Fatalf("codes differ at %d", i)
			}
			if eqF32(res.Scales, bytesF32(npyRead(t, path("scales.npy"), 4))) != -1 ||
				eqF32(res.Zeros, bytesF32(npyRead(t, path("zeros.npy"), 4))) != -1 ||
				eqF32(res.Dequant, dequant) != -1 || eqI32(res.GIdx, gidx) != -1 {
				t.Fatal("scales/zeros/dequant/g_idx differ from the C program")
			}
			if res.Info.Loss != loss && !(math.IsNaN(loss) && math.IsNaN(res.Info.Loss)) {
				t.Fatalf("loss %v != %v", res.Info.Loss, loss)
			}
		})
	}
}
