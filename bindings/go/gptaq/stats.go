package gptaq

import (
	"fmt"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// The statistics of a quantizer are plain sums over tokens (xx = sum x x^T, for GPTAQ
// also dx = sum (x_fp - x) x^T, xsum = sum x, and the token count), so data-parallel
// calibration is a reduction: each worker streams its shard into its own Quantizer,
// the sums are added (Merge, Serialize + Deserialize(StatsAccumulate), or an in-place
// all-reduce through StatsBuffers), and any worker solves. Quantizers whose statistics
// are combined must have the same columns and method family (GPTAQ or not).

// StatsMode is how LoadStats / Deserialize combine a file with the quantizer's own
// statistics (gptaq_stats_mode).
type StatsMode int32

// Statistics modes.
const (
	StatsReplace    StatsMode = 0 // the quantizer's statistics become the file's
	StatsAccumulate StatsMode = 1 // the file's statistics are added (a merge)
)

// String names the mode: "replace", "accumulate".
func (m StatsMode) String() string {
	switch m {
	case StatsReplace:
		return "replace"
	case StatsAccumulate:
		return "accumulate"
	}
	return fmt.Sprintf("StatsMode(%d)", int32(m))
}

func checkMode(m StatsMode) error {
	if m != StatsReplace && m != StatsAccumulate {
		return errorf(StatusInvalidArgument, "statistics mode %v is not StatsReplace or StatsAccumulate", m)
	}
	return nil
}

// StatsFileFormatVersion is the version of the statistics file / byte format written
// by SaveStats and Serialize; StatsHeaderBytes the size of its header.
const (
	StatsFileFormatVersion = lowlevel.GPTAQ_STATS_FORMAT_VERSION
	StatsHeaderBytes       = lowlevel.GPTAQ_STATS_HEADER_BYTES
)

// Merge adds the statistics of src into q (q += src, token counts too); src is not
// changed. Both must have the same columns and method family. Errors:
// ErrInvalidArgument (nil or closed, src == q, another method family), ErrShape
// (another width), ErrNonFinite (a sum would overflow fp32; nothing changed), ErrBusy
// (either quantizer is in a call on another goroutine).
func (q *Quantizer) Merge(src *Quantizer) error {
	if q != nil && q == src {
		return errorf(StatusInvalidArgument, "cannot merge a quantizer into itself")
	}
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	if err := src.acquire(); err != nil {
		if e, ok := err.(*Error); ok {
			e.Message = "src: " + e.Message
		}
		return err
	}
	defer src.release()
	return q.check(lowlevel.Gptaq_stats_merge(q.ctx, src.ctx))
}

// SaveStats writes the statistics to path (through a temporary file renamed into
// place, so a failure leaves no partial file). Errors: ErrIO, ErrOutOfMemory, ...
func (q *Quantizer) SaveStats(path string) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.check(lowlevel.Gptaq_stats_save(q.ctx, path))
}

// LoadStats reads a statistics file written by SaveStats (any binding, the CLI) into
// q, replacing or adding to its own statistics. The file is verified whole (header,
// sizes, checksums, finiteness) before q is touched; on any error q is unchanged.
// Errors: ErrIO, ErrFormat (not a statistics file, truncated, checksum), ErrShape
// (another width), ErrInvalidArgument (another method family, bad mode), ErrNonFinite.
func (q *Quantizer) LoadStats(path string, mode StatsMode) error {
	if err := checkMode(mode); err != nil {
		return err
	}
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.run(nil, func() int { return lowlevel.Gptaq_stats_load(q.ctx, path, int(mode)) })
}

// StatsFileInfo is the header of a statistics file.
type StatsFileInfo struct {
	Columns  int64
	Method   Method // the method of the context that wrote it
	HasCross bool   // the GPTAQ cross term is present
	Tokens   float64
}

// ReadStatsFileInfo reads and verifies only the header of a statistics file (e.g. to
// create a matching Quantizer before LoadStats). Errors: ErrIO, ErrFormat.
func ReadStatsFileInfo(path string) (StatsFileInfo, error) {
	cols := make([]int64, 1)
	method := make([]int32, 2)
	tokens := make([]float64, 1)
	err := global(func() int {
		return lowlevel.Gptaq_stats_file_info(path, cols, method[:1], method[1:], tokens)
	})
	if err != nil {
		return StatsFileInfo{}, err
	}
	return StatsFileInfo{Columns: cols[0], Method: Method(method[0]), HasCross: method[1] != 0, Tokens: tokens[0]}, nil
}

// SerializedSize is the size in bytes of the statistics in the file format (header
// included): 64 + 4 n^2 (1 + has_cross) + 8 n.
func (q *Quantizer) SerializedSize() (int64, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	n := make([]int64, 1)
	if err := q.check(lowlevel.Gptaq_stats_serialized_size(q.ctx, n)); err != nil {
		return 0, err
	}
	return n[0], nil
}

// Serialize returns the statistics in the file format (the bytes SaveStats writes), for
// moving them between workers however the application likes.
func (q *Quantizer) Serialize() ([]byte, error) {
	n, err := q.SerializedSize()
	if err != nil {
		return nil, err
	}
	size, err := mul("serialized statistics", n)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	w, err := q.SerializeTo(buf)
	if err != nil {
		return nil, err
	}
	return buf[:w], nil
}

// SerializeTo writes the statistics in the file format into dst and returns the number
// of bytes written. ErrShape when dst is smaller than SerializedSize (nothing written).
func (q *Quantizer) SerializeTo(dst []byte) (int, error) {
	if len(dst) == 0 {
		return 0, errorf(StatusShape, "the destination buffer is empty (SerializedSize bytes are needed)")
	}
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	written := make([]int64, 1)
	if err := q.check(lowlevel.Gptaq_stats_serialize(q.ctx, dst, int64(len(dst)), written)); err != nil {
		return 0, err
	}
	return int(written[0]), nil
}

// Deserialize reads statistics in the file format from src (untrusted: fully verified
// first; on any error q is unchanged), replacing or adding to q's own. Errors as for
// LoadStats (ErrFormat for bytes that are not a statistics buffer).
func (q *Quantizer) Deserialize(src []byte, mode StatsMode) error {
	if err := checkMode(mode); err != nil {
		return err
	}
	if len(src) == 0 {
		return errorf(StatusFormat, "an empty buffer is not a statistics buffer")
	}
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.run(nil, func() int {
		return lowlevel.Gptaq_stats_deserialize(q.ctx, src, int64(len(src)), int(mode))
	})
}

// Imatrix returns llama.cpp's importance-matrix statistics of the streamed inputs: the
// per-column sum of x^2 over the tokens (columns floats, the diagonal of xx) and the
// token count.
func (q *Quantizer) Imatrix() (inSum2 []float32, tokens int64, err error) {
	if err := q.acquire(); err != nil {
		return nil, 0, err
	}
	defer q.release()
	inSum2 = make([]float32, q.columns)
	n := make([]int64, 1)
	if err := q.check(lowlevel.Gptaq_ctx_imatrix(q.ctx, inSum2, n)); err != nil {
		return nil, 0, err
	}
	return inSum2, n[0], nil
}
