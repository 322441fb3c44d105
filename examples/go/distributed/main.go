// Command distributed is data-parallel calibration from Go: two workers (goroutines
// standing in for processes or machines) each stream half of the calibration tokens
// into their own gptaq.Quantizer and serialize their statistics; a coordinator merges
// the bytes and solves. The merged statistics are the same sums as one worker streaming
// every token, so the codes are identical; the program checks that against a single
// quantizer fed all the data, through both ways of merging (Deserialize with
// StatsAccumulate, and Quantizer.Merge).
//
// The activations here lie on a 1/8 grid with |x| <= 4, so every fp32 partial sum of
// x x^T is exact and the order in which the shards are added cannot change a bit. With
// real activations a merge equals the single-worker statistics up to fp32 rounding of
// the additions (which can flip a code that sits on a rounding boundary).
//
//	distributed [-columns C] [-rows R] [-tokens T] [-method gptq|gptaq]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sync"

	"github.com/gptaq/gptaq/bindings/go/gptaq"
)

type rng struct{ s uint64 }

func (r *rng) next() float32 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float32(r.s>>40)/float32(1<<24) - 0.5
}

// gridActivations draws tokens x cols correlated activations rounded to multiples of
// 1/8 in [-4, 4]; xfp is the full-precision input, xq the quantized model's (xfp moved
// by one grid step here and there).
func gridActivations(r *rng, tokens, cols int) (xq, xfp []float32) {
	const k = 4
	basis := make([]float32, k*cols)
	for i := range basis {
		basis[i] = r.next()
	}
	round := func(v float32) float32 {
		v = float32(math.Round(float64(v)*8) / 8)
		return float32(math.Max(-4, math.Min(4, float64(v))))
	}
	xq, xfp = make([]float32, tokens*cols), make([]float32, tokens*cols)
	c := make([]float32, k)
	for t := 0; t < tokens; t++ {
		for i := range c {
			c[i] = 4 * r.next()
		}
		for j := 0; j < cols; j++ {
			v := 0.5 * r.next()
			for i := 0; i < k; i++ {
				v += c[i] * basis[i*cols+j]
			}
			xfp[t*cols+j] = round(v)
			d := float32(0)
			if r.next() > 0.3 {
				d = 0.125
			}
			xq[t*cols+j] = round(v + d)
		}
	}
	return xq, xfp
}

// worker streams its shard in batches and returns its serialized statistics.
func worker(cfg gptaq.Config, cols int, xq, xfp []float32, batch int) ([]byte, error) {
	q, err := gptaq.NewQuantizer(cols, cfg)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	for off := 0; off < len(xq); off += batch * cols {
		end := off + batch*cols
		if end > len(xq) {
			end = len(xq)
		}
		var fp []float32
		if cfg.Method == gptaq.MethodGPTAQ {
			fp = xfp[off:end]
		}
		if err := q.AddBatch(xq[off:end], fp); err != nil {
			return nil, err
		}
	}
	return q.Serialize()
}

func run() error {
	cols := flag.Int("columns", 128, "input width (in_features)")
	rows := flag.Int("rows", 64, "output width (out_features)")
	tokens := flag.Int("tokens", 2048, "calibration tokens in all")
	method := flag.String("method", "gptaq", "gptq or gptaq")
	flag.Parse()

	cfg := gptaq.DefaultConfig()
	cfg.Backend = gptaq.BackendCPU
	switch *method {
	case "gptq":
		cfg.Method = gptaq.MethodGPTQ
	case "gptaq":
		cfg.Method = gptaq.MethodGPTAQ
	default:
		return fmt.Errorf("unknown method %q", *method)
	}
	r := &rng{s: 42}
	xq, xfp := gridActivations(r, *tokens, *cols)
	w := make([]float32, *rows**cols)
	for i := range w {
		w[i] = 0.1 * r.next()
	}

	// Two workers on halves of the tokens, in parallel; "the network" is a channel of
	// byte slices.
	half := (*tokens / 2) * *cols
	shards := [][2][]float32{{xq[:half], xfp[:half]}, {xq[half:], xfp[half:]}}
	blobs := make([][]byte, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Add(1)
		go func(i int, xq, xfp []float32) {
			defer wg.Done()
			blobs[i], errs[i] = worker(cfg, *cols, xq, xfp, 100)
		}(i, s[0], s[1])
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	fmt.Printf("worker statistics: %d + %d bytes\n", len(blobs[0]), len(blobs[1]))

	// Coordinator, way 1: deserialize the first worker's bytes, accumulate the second's.
	merged, err := gptaq.NewQuantizer(*cols, cfg)
	if err != nil {
		return err
	}
	defer merged.Close()
	if err := merged.Deserialize(blobs[0], gptaq.StatsReplace); err != nil {
		return err
	}
	if err := merged.Deserialize(blobs[1], gptaq.StatsAccumulate); err != nil {
		return err
	}
	// Way 2: each worker's bytes into its own quantizer, then Merge.
	second, err := gptaq.NewQuantizer(*cols, cfg)
	if err != nil {
		return err
	}
	defer second.Close()
	viaMerge, err := gptaq.NewQuantizer(*cols, cfg)
	if err != nil {
		return err
	}
	defer viaMerge.Close()
	if err := viaMerge.Deserialize(blobs[0], gptaq.StatsReplace); err != nil {
		return err
	}
	if err := second.Deserialize(blobs[1], gptaq.StatsReplace); err != nil {
		return err
	}
	if err := viaMerge.Merge(second); err != nil {
		return err
	}

	// One worker on all the data.
	one, err := gptaq.NewQuantizer(*cols, cfg)
	if err != nil {
		return err
	}
	defer one.Close()
	blob, err := worker(cfg, *cols, xq, xfp, 100)
	if err != nil {
		return err
	}
	if err := one.Deserialize(blob, gptaq.StatsReplace); err != nil {
		return err
	}

	ref, err := one.Solve(w, *rows)
	if err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		q    *gptaq.Quantizer
	}{{"deserialize+accumulate", merged}, {"merge", viaMerge}} {
		name, q := m.name, m.q
		n, err := q.NumTokens()
		if err != nil {
			return err
		}
		if n != int64(*tokens) {
			return fmt.Errorf("%s: %d tokens, want %d", name, n, *tokens)
		}
		res, err := q.Solve(w, *rows)
		if err != nil {
			return err
		}
		for i := range ref.Codes {
			if res.Codes[i] != ref.Codes[i] {
				return fmt.Errorf("%s: code %d is %d, one worker on all data gives %d", name, i, res.Codes[i], ref.Codes[i])
			}
		}
		for i := range ref.Scales {
			if math.Float32bits(res.Scales[i]) != math.Float32bits(ref.Scales[i]) {
				return fmt.Errorf("%s: scale %d differs", name, i)
			}
		}
		fmt.Printf("%s: %d codes identical to one worker (loss %.6g)\n", name, len(res.Codes), res.Info.Loss)
	}
	fmt.Printf("distributed: OK (%s, %d x %d, %d tokens on 2 workers)\n", cfg.Method, *rows, *cols, *tokens)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "distributed: FAIL:", err)
		os.Exit(1)
	}
}
