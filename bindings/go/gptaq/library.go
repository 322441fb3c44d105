package gptaq

import (
	"math"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// HeaderVersionNumber is the version of the C header this package was generated from
// (GPTAQ_VERSION_NUMBER); compare with VersionNumber() to detect a header/library
// mismatch.
var HeaderVersionNumber = lowlevel.GPTAQ_VERSION_NUMBER

// Version is the loaded library's version string, e.g. "0.1.0".
func Version() string { return lowlevel.Gptaq_version_string() }

// VersionNumber is the loaded library's version (major*10000 + minor*100 + patch).
func VersionNumber() int { return lowlevel.Gptaq_version_number() }

// BuildInfo is a one-line description of the library build (backends, BLAS).
func BuildInfo() string { return lowlevel.Gptaq_build_info() }

// BackendAvailable reports whether a backend is compiled in and (CUDA) a device answers.
// Unknown values answer false.
func BackendAvailable(b Backend) bool { return lowlevel.Gptaq_backend_available(int(b)) != 0 }

// NumGroups is the number of quantization groups for columns inputs and groupSize
// (ceil(columns / groupSize), or 1 for groupSize -1), or -1 for invalid input.
func NumGroups(columns, groupSize int) int {
	if groupSize < math.MinInt32 || groupSize > math.MaxInt32 {
		return -1
	}
	return int(lowlevel.Gptaq_num_groups(int64(columns), groupSize))
}

// F32ToHalf converts fp32 values to fp16 or bf16 bit patterns (round to nearest even).
// dtype other than F16 / BF16 is ErrInvalidArgument.
func F32ToHalf(dtype HalfType, src []float32) ([]uint16, error) {
	if err := checkHalf(dtype); err != nil {
		return nil, err
	}
	dst := make([]uint16, len(src))
	if len(src) == 0 {
		return dst, nil
	}
	if err := global(func() int {
		return lowlevel.Gptaq_f32_to_half(int(dtype), src, dst, int64(len(src)))
	}); err != nil {
		return nil, err
	}
	return dst, nil
}

// HalfToF32 converts fp16 or bf16 bit patterns to fp32 (exact).
func HalfToF32(dtype HalfType, src []uint16) ([]float32, error) {
	if err := checkHalf(dtype); err != nil {
		return nil, err
	}
	dst := make([]float32, len(src))
	if len(src) == 0 {
		return dst, nil
	}
	if err := global(func() int {
		return lowlevel.Gptaq_half_to_f32(int(dtype), src, dst, int64(len(src)))
	}); err != nil {
		return nil, err
	}
	return dst, nil
}

// int32Arg range-checks an int argument bound for an int32_t parameter.
func int32Arg(name string, v int) error {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return errorf(StatusInvalidArgument, "%s = %d is outside the int32 range", name, v)
	}
	return nil
}

// mul multiplies non-negative sizes, failing with ErrShape on overflow of int.
func mul(what string, dims ...int64) (int, error) {
	p := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, errorf(StatusShape, "%s: negative dimension %d", what, d)
		}
		if d != 0 && p > math.MaxInt64/d {
			return 0, errorf(StatusShape, "%s: size overflows", what)
		}
		p *= d
	}
	if p > int64(math.MaxInt) {
		return 0, errorf(StatusShape, "%s: size overflows", what)
	}
	return int(p), nil
}
