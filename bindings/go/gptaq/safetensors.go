package gptaq

import (
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// SafetensorsMaxDims is the largest tensor rank the reader and writer accept.
const SafetensorsMaxDims = lowlevel.GPTAQ_SAFETENSORS_MAX_DIMS

// The byte size of each safetensors dtype name.
var safetensorsDTypeSize = map[string]int64{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name   string
	DType  string  // the format's name: "F32", "F16", "BF16", "I32", "U8", ...
	Shape  []int64 // empty for a scalar
	NBytes int64
}

// SafetensorsReader reads a safetensors file. Open validates the whole header (the file
// is untrusted); tensor data is read on request. Not safe for concurrent use: calls from
// two goroutines at once fail with ErrBusy. Close it when done.
type SafetensorsReader struct {
	mu sync.Mutex
	r  lowlevel.Struct_SS_gptaq_safetensors
}

// OpenSafetensors opens and validates path. Errors: ErrIO, ErrFormat (with a message
// naming the problem), ErrOutOfMemory.
func OpenSafetensors(path string) (*SafetensorsReader, error) {
	pp := lowlevel.New_gptaq_safetensors_pp()
	defer lowlevel.Delete_gptaq_safetensors_pp(pp)
	lowlevel.Gptaq_safetensors_pp_assign(pp, lowlevel.SwigcptrStruct_SS_gptaq_safetensors(0))
	if err := global(func() int { return lowlevel.Gptaq_safetensors_open(pp, path) }); err != nil {
		return nil, err
	}
	sr := &SafetensorsReader{r: lowlevel.Gptaq_safetensors_pp_value(pp)}
	runtime.SetFinalizer(sr, (*SafetensorsReader).Close)
	return sr, nil
}

// Close frees the reader; idempotent, nil-safe; always nil.
func (sr *SafetensorsReader) Close() error {
	if sr == nil {
		return nil
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.r != nil {
		lowlevel.Gptaq_safetensors_close(sr.r)
		sr.r = nil
	}
	runtime.SetFinalizer(sr, nil)
	return nil
}

func (sr *SafetensorsReader) acquire() error {
	if sr == nil {
		return errorf(StatusInvalidArgument, "the safetensors reader is nil")
	}
	if !sr.mu.TryLock() {
		return errorf(StatusBusy, "the safetensors reader is in use by another goroutine")
	}
	if sr.r == nil {
		sr.mu.Unlock()
		return errorf(StatusInvalidArgument, "the safetensors reader is closed")
	}
	return nil
}

// Len is the number of tensors (0 for a nil or closed reader).
func (sr *SafetensorsReader) Len() int {
	if sr.acquire() != nil {
		return 0
	}
	defer sr.mu.Unlock()
	return int(lowlevel.Gptaq_safetensors_count(sr.r))
}

// Find returns the index of the tensor called name; ErrInvalidArgument if there is none.
func (sr *SafetensorsReader) Find(name string) (int, error) {
	if err := sr.acquire(); err != nil {
		return -1, err
	}
	defer sr.mu.Unlock()
	i := lowlevel.Gptaq_safetensors_find(sr.r, name)
	if i < 0 {
		return -1, errorf(StatusInvalidArgument, "no tensor named %q", name)
	}
	return int(i), nil
}

func (sr *SafetensorsReader) info(i int) (TensorInfo, error) {
	n := lowlevel.Gptaq_safetensors_count(sr.r)
	if i < 0 || int64(i) >= n {
		return TensorInfo{}, errorf(StatusInvalidArgument, "tensor index %d is out of range (%d tensors)", i, n)
	}
	ndim := make([]int32, 1)
	shape := make([]int64, SafetensorsMaxDims)
	nbytes := make([]int64, 1)
	if err := global(func() int {
		return lowlevel.Gptaq_safetensors_tensor_info(sr.r, int64(i), 0, 0, ndim, shape, nbytes)
	}); err != nil {
		return TensorInfo{}, err
	}
	return TensorInfo{Name: lowlevel.Gptaq_go_safetensors_name(sr.r, int64(i)),
		DType: lowlevel.Gptaq_go_safetensors_dtype(sr.r, int64(i)),
		Shape: append([]int64{}, shape[:ndim[0]]...), NBytes: nbytes[0]}, nil
}

// Tensor describes tensor i (0..Len()-1, in the order of their data in the file).
func (sr *SafetensorsReader) Tensor(i int) (TensorInfo, error) {
	if err := sr.acquire(); err != nil {
		return TensorInfo{}, err
	}
	defer sr.mu.Unlock()
	return sr.info(i)
}

// Tensors describes every tensor, in file order.
func (sr *SafetensorsReader) Tensors() ([]TensorInfo, error) {
	if err := sr.acquire(); err != nil {
		return nil, err
	}
	defer sr.mu.Unlock()
	n := int(lowlevel.Gptaq_safetensors_count(sr.r))
	out := make([]TensorInfo, 0, n)
	for i := 0; i < n; i++ {
		t, err := sr.info(i)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ReadRaw returns the raw little-endian bytes of tensor i.
func (sr *SafetensorsReader) ReadRaw(i int) ([]byte, error) {
	if err := sr.acquire(); err != nil {
		return nil, err
	}
	defer sr.mu.Unlock()
	t, err := sr.info(i)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, t.NBytes)
	if t.NBytes == 0 {
		return buf, nil
	}
	if err := global(func() int { return lowlevel.Gptaq_safetensors_read(sr.r, int64(i), buf, t.NBytes) }); err != nil {
		return nil, err
	}
	return buf, nil
}

// ReadF32 returns floating-point tensor i (F32, F16, BF16 or F64) converted to float32.
// Other dtypes are ErrUnsupported.
func (sr *SafetensorsReader) ReadF32(i int) ([]float32, error) {
	if err := sr.acquire(); err != nil {
		return nil, err
	}
	defer sr.mu.Unlock()
	t, err := sr.info(i)
	if err != nil {
		return nil, err
	}
	size, ok := safetensorsDTypeSize[t.DType]
	if !ok || size == 0 {
		return nil, errorf(StatusFormat, "tensor %q has unknown dtype %s", t.Name, t.DType)
	}
	out := make([]float32, t.NBytes/size)
	if len(out) == 0 {
		return out, nil
	}
	if err := global(func() int {
		return lowlevel.Gptaq_safetensors_read_f32(sr.r, int64(i), out, int64(len(out)))
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// checked finds name and checks its dtype and (when shape is given) its shape.
func (sr *SafetensorsReader) checked(name string, dtypes []string, shape []int64) (int, error) {
	i, err := sr.Find(name)
	if err != nil {
		return -1, err
	}
	t, err := sr.Tensor(i)
	if err != nil {
		return -1, err
	}
	okType := false
	for _, d := range dtypes {
		okType = okType || t.DType == d
	}
	if !okType {
		return -1, errorf(StatusFormat, "tensor %q has dtype %s, expected %s", name, t.DType, strings.Join(dtypes, " or "))
	}
	if shape != nil {
		same := len(shape) == len(t.Shape)
		for k := 0; same && k < len(shape); k++ {
			same = shape[k] == t.Shape[k]
		}
		if !same {
			return -1, errorf(StatusFormat, "tensor %q has shape %v, expected %v", name, t.Shape, shape)
		}
	}
	return i, nil
}

// ReadInt32 reads the I32 tensor name; with shape given, the tensor must have exactly
// that shape (ErrFormat otherwise).
func (sr *SafetensorsReader) ReadInt32(name string, shape ...int64) ([]int32, error) {
	i, err := sr.checked(name, []string{"I32"}, nilIfEmpty(shape))
	if err != nil {
		return nil, err
	}
	b, err := sr.ReadRaw(i)
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(b)/4)
	copy(i32Bytes(out), b)
	return out, nil
}

// ReadUint16 reads the F16 or BF16 tensor name as bit patterns (shape as for ReadInt32).
func (sr *SafetensorsReader) ReadUint16(name string, shape ...int64) ([]uint16, error) {
	i, err := sr.checked(name, []string{"F16", "BF16"}, nilIfEmpty(shape))
	if err != nil {
		return nil, err
	}
	b, err := sr.ReadRaw(i)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, len(b)/2)
	copy(u16Bytes(out), b)
	return out, nil
}

// ReadFloat32 reads the floating-point tensor name converted to float32 (shape as for
// ReadInt32).
func (sr *SafetensorsReader) ReadFloat32(name string, shape ...int64) ([]float32, error) {
	i, err := sr.checked(name, []string{"F32", "F16", "BF16", "F64"}, nilIfEmpty(shape))
	if err != nil {
		return nil, err
	}
	return sr.ReadF32(i)
}

// ReadUint8 reads the U8 tensor name (shape as for ReadInt32).
func (sr *SafetensorsReader) ReadUint8(name string, shape ...int64) ([]uint8, error) {
	i, err := sr.checked(name, []string{"U8"}, nilIfEmpty(shape))
	if err != nil {
		return nil, err
	}
	return sr.ReadRaw(i)
}

func nilIfEmpty(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Metadata returns the __metadata__ entries.
func (sr *SafetensorsReader) Metadata() (map[string]string, error) {
	if err := sr.acquire(); err != nil {
		return nil, err
	}
	defer sr.mu.Unlock()
	n := lowlevel.Gptaq_safetensors_metadata_count(sr.r)
	m := make(map[string]string, n)
	for i := int64(0); i < n; i++ {
		m[lowlevel.Gptaq_go_safetensors_metadata_key(sr.r, i)] = lowlevel.Gptaq_go_safetensors_metadata_value(sr.r, i)
	}
	return m, nil
}

// SafetensorsWriter collects tensors (copying their bytes) and metadata, then writes the
// file in one go with Save. Not safe for concurrent use (ErrBusy). Close it when done.
type SafetensorsWriter struct {
	mu sync.Mutex
	w  lowlevel.Struct_SS_gptaq_safetensors_writer
}

// NewSafetensorsWriter creates an empty writer.
func NewSafetensorsWriter() (*SafetensorsWriter, error) {
	pp := lowlevel.New_gptaq_safetensors_writer_pp()
	defer lowlevel.Delete_gptaq_safetensors_writer_pp(pp)
	lowlevel.Gptaq_safetensors_writer_pp_assign(pp, lowlevel.SwigcptrStruct_SS_gptaq_safetensors_writer(0))
	if err := global(func() int { return lowlevel.Gptaq_safetensors_writer_create(pp) }); err != nil {
		return nil, err
	}
	sw := &SafetensorsWriter{w: lowlevel.Gptaq_safetensors_writer_pp_value(pp)}
	runtime.SetFinalizer(sw, (*SafetensorsWriter).Close)
	return sw, nil
}

// Close frees the writer; idempotent, nil-safe; always nil.
func (sw *SafetensorsWriter) Close() error {
	if sw == nil {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.w != nil {
		lowlevel.Gptaq_safetensors_writer_free(sw.w)
		sw.w = nil
	}
	runtime.SetFinalizer(sw, nil)
	return nil
}

func (sw *SafetensorsWriter) acquire() error {
	if sw == nil {
		return errorf(StatusInvalidArgument, "the safetensors writer is nil")
	}
	if !sw.mu.TryLock() {
		return errorf(StatusBusy, "the safetensors writer is in use by another goroutine")
	}
	if sw.w == nil {
		sw.mu.Unlock()
		return errorf(StatusInvalidArgument, "the safetensors writer is closed")
	}
	return nil
}

// Add adds a tensor from raw little-endian bytes: dtype a safetensors dtype name, shape
// its dimensions (none for a scalar), len(data) exactly the product of the shape times
// the dtype's size (checked here: ErrShape). Errors from the library:
// ErrInvalidArgument (empty or duplicate name, bad dtype or rank).
func (sw *SafetensorsWriter) Add(name, dtype string, shape []int64, data []byte) error {
	size, ok := safetensorsDTypeSize[dtype]
	if !ok {
		return errorf(StatusInvalidArgument, "unknown safetensors dtype %q", dtype)
	}
	if len(shape) > SafetensorsMaxDims {
		return errorf(StatusInvalidArgument, "tensor %q has %d dimensions, at most %d", name, len(shape), SafetensorsMaxDims)
	}
	n, err := mul("tensor "+name, append(append([]int64{}, shape...), size)...)
	if err != nil {
		return err
	}
	if len(data) != n {
		return errorf(StatusShape, "tensor %q: %d bytes of data, shape %v of %s needs %d", name, len(data), shape, dtype, n)
	}
	if err := sw.acquire(); err != nil {
		return err
	}
	defer sw.mu.Unlock()
	var dims []int64
	if len(shape) > 0 {
		dims = shape
	}
	data0 := data
	if len(data0) == 0 {
		data0 = []byte{0} // the library wants a non-NULL pointer; 0 bytes are read
	}
	return global(func() int {
		return lowlevel.Gptaq_safetensors_writer_add(sw.w, name, dtype, len(shape), dims, data0)
	})
}

// AddFloat32 adds an F32 tensor.
func (sw *SafetensorsWriter) AddFloat32(name string, shape []int64, data []float32) error {
	return sw.Add(name, "F32", shape, f32Bytes(data))
}

// AddInt32 adds an I32 tensor.
func (sw *SafetensorsWriter) AddInt32(name string, shape []int64, data []int32) error {
	return sw.Add(name, "I32", shape, i32Bytes(data))
}

// AddUint8 adds a U8 tensor.
func (sw *SafetensorsWriter) AddUint8(name string, shape []int64, data []uint8) error {
	return sw.Add(name, "U8", shape, data)
}

// AddHalf adds an F16 or BF16 tensor from bit patterns.
func (sw *SafetensorsWriter) AddHalf(name string, dtype HalfType, shape []int64, data []uint16) error {
	if err := checkHalf(dtype); err != nil {
		return err
	}
	d := "F16"
	if dtype == BF16 {
		d = "BF16"
	}
	return sw.Add(name, d, shape, u16Bytes(data))
}

// SetMetadata sets a __metadata__ entry (transformers expects {"format": "pt"}).
func (sw *SafetensorsWriter) SetMetadata(key, value string) error {
	if err := sw.acquire(); err != nil {
		return err
	}
	defer sw.mu.Unlock()
	return global(func() int { return lowlevel.Gptaq_safetensors_writer_set_metadata(sw.w, key, value) })
}

// SetMetadataMap sets several entries (in key order).
func (sw *SafetensorsWriter) SetMetadataMap(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := sw.SetMetadata(k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// Save writes everything added so far to path (through a temporary file renamed into
// place). The writer stays usable. Errors: ErrIO.
func (sw *SafetensorsWriter) Save(path string) error {
	if err := sw.acquire(); err != nil {
		return err
	}
	defer sw.mu.Unlock()
	return global(func() int { return lowlevel.Gptaq_safetensors_writer_save(sw.w, path) })
}
