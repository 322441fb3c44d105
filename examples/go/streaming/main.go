// Command streaming is a server-style use of libgptaq from Go.
//
// An inference server quantizing a model layer by layer receives calibration activations
// as a stream (here: the main goroutine standing in for the request path). Each layer
// gets a goroutine that owns a gptaq.Quantizer and folds the batches into its statistics
// as they arrive over a channel, never keeping the tokens. When the stream ends the
// worker quantizes the layer's weight and reports; main prints a summary.
//
//	streaming [-layers N] [-columns C] [-rows R] [-batches B] [-tokens T]
//	          [-bits K] [-method rtn|gptq|gptaq] [-binary]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/gptaq/gptaq/bindings/go/gptaq"
)

// rng is a small deterministic generator (the same LCG as the binding tests).
type rng struct{ s uint64 }

func (r *rng) next() float32 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float32(r.s>>40)/float32(1<<24) - 0.5
}

// batch is one calibration batch: the quantized model's input and the full-precision one.
type batch struct{ xq, xfp []float32 }

// makeBatch draws activations with a few dominant directions, as real layer inputs have.
func makeBatch(r *rng, basis []float32, tokens, cols int) batch {
	k := len(basis) / cols
	xfp := make([]float32, tokens*cols)
	c := make([]float32, k)
	for t := 0; t < tokens; t++ {
		for i := range c {
			c[i] = 3 * r.next()
		}
		for j := 0; j < cols; j++ {
			v := 0.2 * r.next()
			for i := 0; i < k; i++ {
				v += c[i] * basis[i*cols+j]
			}
			xfp[t*cols+j] = v
		}
	}
	// What the layer sees once earlier layers are quantized: the same input, perturbed.
	xq := make([]float32, len(xfp))
	for i, v := range xfp {
		xq[i] = v + 0.02*r.next()
	}
	return batch{xq, xfp}
}

type report struct {
	layer                int
	tokens               int64
	loss                 float64
	weightErr, outputErr float64
	seconds              float64
	err                  error
}

func relOutputError(w, q, x []float32, rows, cols int) float64 {
	var num, den float64
	for t := 0; t < len(x)/cols; t++ {
		xt := x[t*cols : (t+1)*cols]
		for r := 0; r < rows; r++ {
			var a, b float64
			for j := 0; j < cols; j++ {
				a += float64(w[r*cols+j]) * float64(xt[j])
				b += float64(q[r*cols+j]) * float64(xt[j])
			}
			num += (a - b) * (a - b)
			den += a * a
		}
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

// worker owns one layer's quantizer: it streams the batches in, then solves.
func worker(layer int, q *gptaq.Quantizer, cfg gptaq.Config, w []float32, rows int, in <-chan batch) report {
	defer q.Close()
	start := time.Now()
	rep := report{layer: layer}
	var holdout []float32
	for b := range in {
		var xfp []float32
		if cfg.Method == gptaq.MethodGPTAQ {
			xfp = b.xfp
		}
		if err := q.AddBatch(b.xq, xfp); err != nil {
			rep.err = err
			for range in { // drain so the producer is not blocked
			}
			return rep
		}
		holdout = b.xfp
	}
	var dequant []float32
	if cfg.Quantizer == gptaq.QuantizerBinary {
		res, err := q.SolveBinary(w, rows)
		if err != nil {
			rep.err = err
			return rep
		}
		dequant, rep.loss = res.Dequant, res.Info.Loss
	} else {
		res, err := q.Solve(w, rows)
		if err != nil {
			rep.err = err
			return rep
		}
		dequant, rep.loss = res.Dequant, res.Info.Loss
	}
	var dw, ww float64
	for i := range w {
		d := float64(w[i] - dequant[i])
		dw += d * d
		ww += float64(w[i]) * float64(w[i])
	}
	if rep.tokens, rep.err = q.NumTokens(); rep.err != nil {
		return rep
	}
	rep.weightErr = math.Sqrt(dw / ww)
	rep.outputErr = relOutputError(w, dequant, holdout, rows, q.Columns())
	rep.seconds = time.Since(start).Seconds()
	return rep
}

func run() error {
	layers := flag.Int("layers", 4, "number of layers")
	columns := flag.Int("columns", 256, "input width (in_features)")
	rows := flag.Int("rows", 256, "output width (out_features)")
	batches := flag.Int("batches", 8, "calibration batches per layer")
	tokens := flag.Int("tokens", 64, "tokens per batch")
	bits := flag.Int("bits", 4, "bits per weight")
	method := flag.String("method", "gptaq", "rtn, gptq or gptaq")
	binary := flag.Bool("binary", false, "GPTQT binary coding instead of the uniform grid")
	flag.Parse()

	fmt.Printf("libgptaq %s | %s\n", gptaq.Version(), gptaq.BuildInfo())
	cfg := gptaq.DefaultConfig()
	if *binary {
		// GPTQT binary coding runs on GPTQ's error feedback.
		k := *bits
		if k > 4 {
			k = 4
		}
		cfg = gptaq.BinaryConfig(k)
	} else {
		cfg.Bits = *bits
		switch *method {
		case "rtn":
			cfg.Method = gptaq.MethodRTN
		case "gptq":
			cfg.Method = gptaq.MethodGPTQ
		case "gptaq":
			cfg.Method = gptaq.MethodGPTAQ
		default:
			return fmt.Errorf("unknown method %q", *method)
		}
	}
	start := time.Now()

	// One worker goroutine per layer, fed through a channel with back-pressure.
	reports := make(chan report, *layers)
	feeds := make([]chan batch, *layers)
	var wg sync.WaitGroup
	for l := 0; l < *layers; l++ {
		q, err := gptaq.NewQuantizer(*columns, cfg)
		if err != nil {
			return err
		}
		wr := &rng{s: uint64(1000 + l)}
		w := make([]float32, *rows**columns)
		for i := range w {
			w[i] = 0.1 * wr.next()
		}
		feeds[l] = make(chan batch, 2)
		wg.Add(1)
		go func(l int, q *gptaq.Quantizer, w []float32, in <-chan batch) {
			defer wg.Done()
			reports <- worker(l, q, cfg, w, *rows, in)
		}(l, q, w, feeds[l])
	}

	// The "request path": stream batches to every layer's worker.
	r := &rng{s: 7}
	basis := make([]float32, 8**columns)
	for i := range basis {
		basis[i] = r.next()
	}
	for b := 0; b < *batches; b++ {
		for _, f := range feeds {
			f <- makeBatch(r, basis, *tokens, *columns)
		}
	}
	for _, f := range feeds {
		close(f) // end of stream
	}
	wg.Wait()
	close(reports)

	var all []report
	for rep := range reports {
		if rep.err != nil {
			return fmt.Errorf("layer %d: %w", rep.layer, rep.err)
		}
		all = append(all, rep)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].layer < all[j].layer })
	fmt.Println("layer  tokens        loss  weight_err  output_err  seconds")
	for _, rep := range all {
		fmt.Printf("%5d  %6d  %10.4f  %10.4f  %10.4f  %7.3f\n",
			rep.layer, rep.tokens, rep.loss, rep.weightErr, rep.outputErr, rep.seconds)
	}
	kind := "uniform"
	if cfg.Quantizer == gptaq.QuantizerBinary {
		kind = "GPTQT binary"
	}
	fmt.Printf("quantized %d layers (%d x %d, %s %d-bit, method %s) from %d streamed batches in %.3f s\n",
		len(all), *rows, *columns, kind, cfg.Bits, cfg.Method, *batches, time.Since(start).Seconds())
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
