package gptaq_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/gptaq/gptaq/bindings/go/gptaq"
)

// Stream two calibration batches into a quantizer and quantize one 8 x 16 weight to
// 4 bits in groups of 8 columns.
func Example() {
	const columns, rows = 16, 8
	cfg := gptaq.DefaultConfig()
	cfg.Bits, cfg.GroupSize = 4, 8
	q, err := gptaq.NewQuantizer(columns, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	for b := 0; b < 2; b++ {
		batch := make([]float32, 32*columns) // 32 tokens x 16 columns, row-major
		for i := range batch {
			batch[i] = float32((i*7+b*3)%13) - 6
		}
		if err := q.AddBatch(batch, nil); err != nil {
			log.Fatal(err)
		}
	}

	w := make([]float32, rows*columns)
	for i := range w {
		w[i] = float32((i*5)%11)/10 - 0.5
	}
	res, err := q.Solve(w, rows)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := q.NumTokens()
	fmt.Println("tokens:", n)
	fmt.Println("codes:", len(res.Codes), "groups per row:", res.Groups)

	// Errors carry the library's status and message.
	_, err = q.Solve(w[:5], rows)
	fmt.Println(err != nil, errors.Is(err, gptaq.StatusShape))
	// Output:
	// tokens: 64
	// codes: 128 groups per row: 2
	// true true
}
