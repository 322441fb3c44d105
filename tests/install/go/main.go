// A Go program outside the source tree that uses libgptaq as a user would: the Go module
// source as `cmake --install` laid it out (copied alone into a scratch folder and named
// by a `replace` directive), the library found by cgo through pkg-config, no
// LD_LIBRARY_PATH. run.sh builds and runs it.
//
//	consumer DATA_DIR cli           library defaults spelled out (GPTQ, 4 bits, group
//	                                128, sym): codes must equal DATA_DIR/cli/codes.npy
//	consumer DATA_DIR cli-defaults  gptaq.DefaultConfig() as it is: codes must equal
//	                                DATA_DIR/cli-defaults/codes.npy (the CLI with no
//	                                quantization option)
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gptaq/gptaq/bindings/go/gptaq"
)

func run(data, mode string) error {
	w, rows, cols, err := gptaq.ReadNpyFloat32(filepath.Join(data, "W.npy"))
	if err != nil {
		return err
	}
	x, tokens, xcols, err := gptaq.ReadNpyFloat32(filepath.Join(data, "X.npy"))
	if err != nil {
		return err
	}
	if xcols != cols {
		return fmt.Errorf("X.npy has %d columns, W.npy %d", xcols, cols)
	}
	cfg := gptaq.DefaultConfig()
	switch mode {
	case "cli":
		cfg.Method, cfg.Bits, cfg.GroupSize, cfg.Sym, cfg.ActOrder = gptaq.MethodGPTQ, 4, 128, true, false
	case "cli-defaults":
	default:
		return fmt.Errorf("unknown mode %q (cli or cli-defaults)", mode)
	}
	cfg.Backend = gptaq.BackendCPU // what the CLI ran with
	q, err := gptaq.NewQuantizer(cols, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	// One batch of every token, as the CLI streams X.npy (1024 tokens per batch).
	for off := 0; off < tokens; off += 1024 {
		end := off + 1024
		if end > tokens {
			end = tokens
		}
		if err := q.AddBatch(x[off*cols:end*cols], nil); err != nil {
			return err
		}
	}
	res, err := q.Solve(w, rows)
	if err != nil {
		return err
	}
	ref, err := gptaq.ReadNpy(filepath.Join(data, mode, "codes.npy"))
	if err != nil {
		return err
	}
	codes, err := ref.Uint8()
	if err != nil {
		return err
	}
	if len(codes) != len(res.Codes) {
		return fmt.Errorf("%s/codes.npy has %d codes, the binding made %d", mode, len(codes), len(res.Codes))
	}
	diff := 0
	for i := range codes {
		if codes[i] != res.Codes[i] {
			diff++
		}
	}
	if diff != 0 {
		return fmt.Errorf("%d of %d codes differ from %s/codes.npy (config %+v)", diff, len(codes), mode, cfg)
	}
	fmt.Printf("libgptaq %s through Go: %d x %d, %d tokens, codes == %s/codes.npy\n",
		gptaq.Version(), rows, cols, tokens, mode)
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: consumer DATA_DIR cli|cli-defaults")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "go consumer: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("go consumer: OK")
}
