// Command checkpoint writes a GPTQ checkpoint from Go and reads it back: it quantizes a
// layer (GPTQ with act-order, so g_idx is a real permutation of groups), packs it,
// writes P.qweight, P.qzeros, P.scales and P.g_idx into model.safetensors beside a
// quantize_config.json, then opens both files again, unpacks the layer and checks that
// the decoded weight is the solver's dequantized weight within the fp16 rounding of the
// scales (and the codes are identical).
//
//	checkpoint [-out DIR] [-columns C] [-rows R] [-bits B] [-group-size G]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gptaq/gptaq/bindings/go/gptaq"
)

type rng struct{ s uint64 }

func (r *rng) next() float32 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float32(r.s>>40)/float32(1<<24) - 0.5
}

const layer = "model.layers.0.mlp.down_proj"

func run() error {
	out := flag.String("out", "", "output folder (default: a temporary one, removed)")
	cols := flag.Int("columns", 256, "input width (in_features)")
	rows := flag.Int("rows", 64, "output width (out_features)")
	bits := flag.Int("bits", 4, "bits per weight (2, 3, 4 or 8)")
	group := flag.Int("group-size", 64, "columns per group")
	flag.Parse()
	dir := *out
	if dir == "" {
		d, err := os.MkdirTemp("", "gptaq-go-checkpoint")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	// Quantize one layer.
	cfg := gptaq.DefaultConfig()
	cfg.Backend, cfg.Bits, cfg.GroupSize, cfg.ActOrder = gptaq.BackendCPU, *bits, *group, true
	q, err := gptaq.NewQuantizer(*cols, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	r := &rng{s: 9}
	x := make([]float32, 512**cols)
	for t := 0; t < 512; t++ {
		common := 3 * r.next()
		for j := 0; j < *cols; j++ {
			x[t**cols+j] = common*float32(1+j%5) + r.next()*float32(1+j%7)
		}
	}
	if err := q.AddBatch(x, nil); err != nil {
		return err
	}
	w := make([]float32, *rows**cols)
	for i := range w {
		w[i] = 0.05 * r.next()
	}
	res, err := q.Solve(w, *rows)
	if err != nil {
		return err
	}

	// Pack and write.
	packed, err := res.PackGPTQ(gptaq.GPTQv1)
	if err != nil {
		return err
	}
	sw, err := gptaq.NewSafetensorsWriter()
	if err != nil {
		return err
	}
	defer sw.Close()
	if err := packed.WriteSafetensors(sw, layer); err != nil {
		return err
	}
	if err := sw.SetMetadata("format", "pt"); err != nil {
		return err
	}
	model := filepath.Join(dir, "model.safetensors")
	if err := sw.Save(model); err != nil {
		return err
	}
	if err := gptaq.WriteQuantizeConfig(filepath.Join(dir, "quantize_config.json"), cfg, gptaq.GPTQv1); err != nil {
		return err
	}
	fmt.Printf("wrote %s and quantize_config.json (%d-bit, group %d, desc_act)\n", model, *bits, *group)

	// Read back.
	rcfg, format, err := gptaq.ReadQuantizeConfig(filepath.Join(dir, "quantize_config.json"))
	if err != nil {
		return err
	}
	if rcfg.Bits != cfg.Bits || rcfg.GroupSize != cfg.GroupSize || rcfg.ActOrder != cfg.ActOrder || rcfg.Sym != cfg.Sym ||
		format != gptaq.GPTQv1 {
		return fmt.Errorf("quantize_config.json read back as %+v (format %v)", rcfg, format)
	}
	sr, err := gptaq.OpenSafetensors(model)
	if err != nil {
		return err
	}
	defer sr.Close()
	meta, err := sr.Metadata()
	if err != nil {
		return err
	}
	if meta["format"] != "pt" {
		return fmt.Errorf("metadata %v", meta)
	}
	tensors, err := gptaq.ReadGPTQSafetensors(sr, layer, format, rcfg, *rows, *cols)
	if err != nil {
		return err
	}
	dec, err := gptaq.UnpackGPTQ(tensors)
	if err != nil {
		return err
	}

	// Decoded == solver's dequantized weight, within the fp16 rounding of the scales.
	scales16, err := gptaq.F32ToHalf(gptaq.F16, res.Scales)
	if err != nil {
		return err
	}
	scalesR, err := gptaq.HalfToF32(gptaq.F16, scales16)
	if err != nil {
		return err
	}
	worst := 0.0
	for i := range res.Dequant {
		if dec.Codes[i] != res.Codes[i] {
			return fmt.Errorf("code %d: %d read back, %d solved", i, dec.Codes[i], res.Codes[i])
		}
		row, col := i / *cols, i%*cols
		g := row*res.Groups + int(res.GIdx[col])
		steps := math.Abs(float64(res.Codes[i]) - float64(res.Zeros[g]))
		// The decoded value is scale16 * (code - zero); it differs from the solver's
		// scale * (code - zero) by at most |code - zero| * |scale - scale16|.
		bound := steps*math.Abs(float64(res.Scales[g]-scalesR[g])) + 1e-6*math.Abs(float64(res.Dequant[i])) + 1e-12
		diff := math.Abs(float64(dec.Dequant[i] - res.Dequant[i]))
		if diff > bound {
			return fmt.Errorf("weight %d: decoded %v, solver %v (|diff| %g > bound %g)", i, dec.Dequant[i], res.Dequant[i], diff, bound)
		}
		if rel := diff / (steps*math.Abs(float64(res.Scales[g])) + 1e-30); rel > worst {
			worst = rel
		}
	}
	if worst > 1.0/2048 { // fp16 rounds a scale by at most 2^-11 relative
		return fmt.Errorf("relative scale error %g beyond fp16 rounding", worst)
	}
	fmt.Printf("read back %d tensors; %d weights decode to the solver's within fp16 rounding (worst %.3g of a scale step)\n",
		sr.Len(), len(res.Dequant), worst)
	fmt.Println("checkpoint: OK")
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "checkpoint: FAIL:", err)
		os.Exit(1)
	}
}
