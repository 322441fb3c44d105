package gptaq

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// ImatrixFormat is the file format of an importance matrix (gptaq_imatrix_format).
type ImatrixFormat int32

// Imatrix formats.
const (
	ImatrixGGUF ImatrixFormat = 0 // current llama.cpp: GGUF with general.type = "imatrix"
	ImatrixDAT  ImatrixFormat = 1 // legacy imatrix.dat
)

// String names the format: "gguf", "dat".
func (f ImatrixFormat) String() string {
	switch f {
	case ImatrixGGUF:
		return "gguf"
	case ImatrixDAT:
		return "dat"
	}
	return fmt.Sprintf("ImatrixFormat(%d)", int32(f))
}

// Imatrix collects llama.cpp importance-matrix entries by weight name (GGUF tensor names
// such as "blk.0.attn_q.weight") and writes them as a llama.cpp imatrix file. Not safe
// for concurrent use (ErrBusy). Close it when done.
type Imatrix struct {
	mu sync.Mutex
	im lowlevel.Struct_SS_gptaq_imatrix
}

// NewImatrix creates an empty collection (chunk size 512, no datasets).
func NewImatrix() (*Imatrix, error) {
	pp := lowlevel.New_gptaq_imatrix_pp()
	defer lowlevel.Delete_gptaq_imatrix_pp(pp)
	lowlevel.Gptaq_imatrix_pp_assign(pp, lowlevel.SwigcptrStruct_SS_gptaq_imatrix(0))
	if err := global(func() int { return lowlevel.Gptaq_imatrix_create(pp) }); err != nil {
		return nil, err
	}
	m := &Imatrix{im: lowlevel.Gptaq_imatrix_pp_value(pp)}
	runtime.SetFinalizer(m, (*Imatrix).Close)
	return m, nil
}

// Close frees the collection; idempotent, nil-safe; always nil.
func (m *Imatrix) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.im != nil {
		lowlevel.Gptaq_imatrix_free(m.im)
		m.im = nil
	}
	runtime.SetFinalizer(m, nil)
	return nil
}

func (m *Imatrix) acquire() error {
	if m == nil {
		return errorf(StatusInvalidArgument, "the imatrix is nil")
	}
	if !m.mu.TryLock() {
		return errorf(StatusBusy, "the imatrix is in use by another goroutine")
	}
	if m.im == nil {
		m.mu.Unlock()
		return errorf(StatusInvalidArgument, "the imatrix is closed")
	}
	return nil
}

// Add adds the statistics of one weight: inSum2 is nMat x nPerRow (nMat > 1 for
// stacked expert weights), counts nMat token counts. Adding a name again sums into the
// entry (same shape). Errors: ErrShape (lengths), ErrInvalidArgument (empty name, a
// negative or non-finite value), ErrShape (another shape than the name's entry).
func (m *Imatrix) Add(name string, nPerRow, nMat int, inSum2, counts []float32) error {
	if nPerRow < 1 || nMat < 1 || nMat > math.MaxInt32 {
		return errorf(StatusInvalidArgument, "nPerRow = %d and nMat = %d must be >= 1 (nMat an int32)", nPerRow, nMat)
	}
	n, err := mul("imatrix entry", int64(nPerRow), int64(nMat))
	if err != nil {
		return err
	}
	if len(inSum2) != n || len(counts) != nMat {
		return errorf(StatusShape, "inSum2 has %d values and counts %d, expected nMat x nPerRow = %d and nMat = %d",
			len(inSum2), len(counts), n, nMat)
	}
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return global(func() int {
		return lowlevel.Gptaq_imatrix_add(m.im, name, int64(nPerRow), nMat, inSum2, counts)
	})
}

// AddQuantizer adds the statistics a Quantizer streamed under name (q/k/v may share one
// quantizer under three names).
func (m *Imatrix) AddQuantizer(name string, q *Quantizer) error {
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	st := lowlevel.Gptaq_imatrix_add_ctx(m.im, name, q.ctx)
	runtime.KeepAlive(q)
	if st == 0 {
		return nil
	}
	return newError(st, lowlevel.Gptaq_swig_errmsg(nil, st)) // the message is thread-local
}

// AddDataset appends a dataset name to imatrix.datasets (e.g. the calibration file).
func (m *Imatrix) AddDataset(dataset string) error {
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return global(func() int { return lowlevel.Gptaq_imatrix_add_dataset(m.im, dataset) })
}

// SetChunkSize sets the tokens per chunk (llama-imatrix's n_ctx, default 512), >= 1.
func (m *Imatrix) SetChunkSize(chunkSize int) error {
	if chunkSize < 1 || chunkSize > math.MaxInt32 {
		return errorf(StatusInvalidArgument, "chunk size %d must be in 1..2^31-1", chunkSize)
	}
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return global(func() int { return lowlevel.Gptaq_imatrix_set_chunk_size(m.im, chunkSize) })
}

// Save writes the collection to path. Errors: ErrInvalidArgument (bad format, an empty
// collection), ErrIO.
func (m *Imatrix) Save(path string, format ImatrixFormat) error {
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return global(func() int { return lowlevel.Gptaq_imatrix_save(m.im, path, int(format)) })
}
