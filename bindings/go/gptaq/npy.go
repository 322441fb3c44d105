package gptaq

import (
	"runtime"
	"sync"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// NumPy .npy files: 2-D (or 1-D, seen as 1 x n) C-order arrays of float32 (<f4),
// float16 (<f2), uint8 (|u1) or int32 (<i4).

func dtypeSize(d DType) (int64, error) {
	switch d {
	case DTypeF32, DTypeI32:
		return 4, nil
	case DTypeF16, DTypeBF16:
		return 2, nil
	case DTypeU8:
		return 1, nil
	}
	return 0, errorf(StatusInvalidArgument, "unknown dtype %v", d)
}

// NpyReader streams the rows of a .npy file. Not safe for concurrent use (ErrBusy).
type NpyReader struct {
	mu    sync.Mutex
	r     lowlevel.Struct_SS_gptaq_npy_reader
	dtype DType
	rows  int64
	cols  int64
}

// OpenNpy opens path and validates its header against the file size. Errors: ErrIO,
// ErrFormat (not an npy file, Fortran order, unsupported dtype or rank, size mismatch).
func OpenNpy(path string) (*NpyReader, error) {
	pp := lowlevel.New_gptaq_npy_reader_pp()
	defer lowlevel.Delete_gptaq_npy_reader_pp(pp)
	lowlevel.Gptaq_npy_reader_pp_assign(pp, lowlevel.SwigcptrStruct_SS_gptaq_npy_reader(0))
	if err := global(func() int { return lowlevel.Gptaq_npy_open(pp, path) }); err != nil {
		return nil, err
	}
	nr := &NpyReader{r: lowlevel.Gptaq_npy_reader_pp_value(pp)}
	dt := make([]int32, 1)
	rc := make([]int64, 2)
	if err := global(func() int { return lowlevel.Gptaq_npy_info(nr.r, dt, rc[:1], rc[1:]) }); err != nil {
		lowlevel.Gptaq_npy_close(nr.r)
		return nil, err
	}
	nr.dtype, nr.rows, nr.cols = DType(dt[0]), rc[0], rc[1]
	runtime.SetFinalizer(nr, (*NpyReader).Close)
	return nr, nil
}

// Info is the array's dtype and shape (rows x cols; a 1-D array is 1 x n).
func (nr *NpyReader) Info() (dtype DType, rows, cols int64) {
	if nr == nil {
		return 0, 0, 0
	}
	return nr.dtype, nr.rows, nr.cols
}

// ReadRows reads the next rows into dst (raw little-endian bytes of the file's dtype;
// room for len(dst) / (cols * size) whole rows) and returns how many rows were read, 0
// at the end.
func (nr *NpyReader) ReadRows(dst []byte) (int, error) {
	if nr == nil {
		return 0, errorf(StatusInvalidArgument, "the npy reader is nil")
	}
	if !nr.mu.TryLock() {
		return 0, errorf(StatusBusy, "the npy reader is in use by another goroutine")
	}
	defer nr.mu.Unlock()
	if nr.r == nil {
		return 0, errorf(StatusInvalidArgument, "the npy reader is closed")
	}
	size, err := dtypeSize(nr.dtype)
	if err != nil {
		return 0, err
	}
	rowBytes := nr.cols * size
	if rowBytes == 0 {
		return 0, nil
	}
	maxRows := int64(len(dst)) / rowBytes
	if maxRows < 1 {
		return 0, errorf(StatusShape, "dst holds %d bytes, less than one row (%d bytes)", len(dst), rowBytes)
	}
	got := make([]int64, 1)
	if err := global(func() int { return lowlevel.Gptaq_npy_read_rows(nr.r, dst, maxRows, got) }); err != nil {
		return 0, err
	}
	return int(got[0]), nil
}

// Close closes the reader; idempotent, nil-safe; always nil.
func (nr *NpyReader) Close() error {
	if nr == nil {
		return nil
	}
	nr.mu.Lock()
	defer nr.mu.Unlock()
	if nr.r != nil {
		lowlevel.Gptaq_npy_close(nr.r)
		nr.r = nil
	}
	runtime.SetFinalizer(nr, nil)
	return nil
}

// NpyArray is a whole .npy file in memory.
type NpyArray struct {
	DType      DType
	Rows, Cols int64
	Data       []byte // Rows x Cols elements of DType, little-endian
}

// ReadNpy reads a whole .npy file.
func ReadNpy(path string) (*NpyArray, error) {
	nr, err := OpenNpy(path)
	if err != nil {
		return nil, err
	}
	defer nr.Close()
	size, err := dtypeSize(nr.dtype)
	if err != nil {
		return nil, err
	}
	n, err := mul(path, nr.rows, nr.cols, size)
	if err != nil {
		return nil, err
	}
	a := &NpyArray{DType: nr.dtype, Rows: nr.rows, Cols: nr.cols, Data: make([]byte, n)}
	for off, rowBytes := 0, int(nr.cols*size); off < n; {
		got, err := nr.ReadRows(a.Data[off:])
		if err != nil {
			return nil, err
		}
		if got == 0 {
			return nil, errorf(StatusIO, "%s ended after %d of %d rows", path, off/rowBytes, nr.rows)
		}
		off += got * rowBytes
	}
	return a, nil
}

func (a *NpyArray) want(d DType) error {
	if a.DType != d {
		return errorf(StatusFormat, "the array holds %v, not %v", a.DType, d)
	}
	return nil
}

// Float32 returns the data of a float32 array (ErrFormat for another dtype).
func (a *NpyArray) Float32() ([]float32, error) {
	if err := a.want(DTypeF32); err != nil {
		return nil, err
	}
	out := make([]float32, len(a.Data)/4)
	copy(f32Bytes(out), a.Data)
	return out, nil
}

// Uint8 returns the data of a uint8 array.
func (a *NpyArray) Uint8() ([]uint8, error) {
	if err := a.want(DTypeU8); err != nil {
		return nil, err
	}
	return append([]uint8{}, a.Data...), nil
}

// Int32 returns the data of an int32 array.
func (a *NpyArray) Int32() ([]int32, error) {
	if err := a.want(DTypeI32); err != nil {
		return nil, err
	}
	out := make([]int32, len(a.Data)/4)
	copy(i32Bytes(out), a.Data)
	return out, nil
}

// Uint16 returns the bit patterns of a float16 array.
func (a *NpyArray) Uint16() ([]uint16, error) {
	if err := a.want(DTypeF16); err != nil {
		return nil, err
	}
	out := make([]uint16, len(a.Data)/2)
	copy(u16Bytes(out), a.Data)
	return out, nil
}

// WriteNpyND writes an N-D C-order .npy file (1..8 dimensions) of dtype DTypeF32,
// DTypeF16, DTypeU8 or DTypeI32 from raw little-endian bytes; len(data) must be the
// shape's element count times the dtype's size (ErrShape).
func WriteNpyND(path string, dtype DType, shape []int64, data []byte) error {
	if len(shape) < 1 || len(shape) > 8 {
		return errorf(StatusInvalidArgument, "%d dimensions: .npy files here have 1..8", len(shape))
	}
	if dtype == DTypeBF16 {
		return errorf(StatusInvalidArgument, ".npy has no bfloat16 dtype")
	}
	size, err := dtypeSize(dtype)
	if err != nil {
		return err
	}
	n, err := mul(path, append(append([]int64{}, shape...), size)...)
	if err != nil {
		return err
	}
	if len(data) != n {
		return errorf(StatusShape, "%d bytes of data, shape %v of %v needs %d", len(data), shape, dtype, n)
	}
	data0 := data
	if len(data0) == 0 {
		data0 = []byte{0} // a non-NULL pointer; nothing is read
	}
	return global(func() int { return lowlevel.Gptaq_npy_write_nd(path, int(dtype), len(shape), shape, data0) })
}

// WriteNpyFloat32 writes a rows x cols float32 array.
func WriteNpyFloat32(path string, rows, cols int64, data []float32) error {
	return WriteNpyND(path, DTypeF32, []int64{rows, cols}, f32Bytes(data))
}

// WriteNpyUint8 writes a rows x cols uint8 array.
func WriteNpyUint8(path string, rows, cols int64, data []uint8) error {
	return WriteNpyND(path, DTypeU8, []int64{rows, cols}, data)
}

// WriteNpyInt32 writes a rows x cols int32 array.
func WriteNpyInt32(path string, rows, cols int64, data []int32) error {
	return WriteNpyND(path, DTypeI32, []int64{rows, cols}, i32Bytes(data))
}

// ReadNpyFloat32 reads a float32 .npy file: its data, rows and cols.
func ReadNpyFloat32(path string) ([]float32, int, int, error) {
	a, err := ReadNpy(path)
	if err != nil {
		return nil, 0, 0, err
	}
	x, err := a.Float32()
	if err != nil {
		return nil, 0, 0, err
	}
	return x, int(a.Rows), int(a.Cols), nil
}
