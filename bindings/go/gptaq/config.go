package gptaq

import (
	"fmt"
	"math"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Method is how quantization error is fed back (gptaq_method).
type Method int32

// Methods.
const (
	MethodRTN   Method = 0 // round to nearest, no error feedback
	MethodGPTQ  Method = 1 // GPTQ: error feedback through the inverse Hessian
	MethodGPTAQ Method = 2 // GPTAQ: GPTQ plus the asymmetric term; batches need xfp
)

// QuantizerKind is the grid that rounds a column (gptaq_quantizer_kind).
type QuantizerKind int32

// Quantizer kinds.
const (
	QuantizerUniform QuantizerKind = 0 // GPTQ uniform grid: codes, scales, zeros (Solve)
	QuantizerBinary  QuantizerKind = 1 // GPTQT binary coding: alphas, bias (SolveBinary)
)

// Backend is where the work runs (gptaq_backend).
type Backend int32

// Backends.
const (
	BackendAuto Backend = 0 // CUDA when compiled in and a device answers, else CPU
	BackendCPU  Backend = 1
	BackendCUDA Backend = 2
)

// Objective is what the GPTQT level-set / scale search minimizes (gptaq_objective).
type Objective int32

// Objectives.
const (
	ObjectiveOutput  Objective = 0 // mean over rows of (sum_j dW_rj xbar_j)^2
	ObjectiveHessian Objective = 1 // trace(dW H dW^T)
	ObjectiveWeight  Objective = 2 // sum dW^2 (also the fallback without activations)
)

// DType is an element type of batches and files (gptaq_dtype).
type DType int32

// Element types.
const (
	DTypeF32  DType = 0 // float32
	DTypeF16  DType = 1 // IEEE binary16, as uint16 bit patterns
	DTypeBF16 DType = 2 // bfloat16, as uint16 bit patterns
	DTypeU8   DType = 3 // uint8 (files: codes)
	DTypeI32  DType = 4 // int32 (files: g_idx, packed words)
)

// HalfType is the 16-bit float format of data passed as []uint16 bit patterns: F16 or
// BF16. Any other value is refused with ErrInvalidArgument before it reaches C.
type HalfType = DType

// Half-precision formats.
const (
	F16  HalfType = DTypeF16  // IEEE binary16
	BF16 HalfType = DTypeBF16 // bfloat16
)

const dtypeF32 = int(DTypeF32)

func checkHalf(dtype HalfType) error {
	if dtype != F16 && dtype != BF16 {
		return errorf(StatusInvalidArgument, "half type %v is not F16 or BF16", dtype)
	}
	return nil
}

// String names the type: "f32", "f16", "bf16", "u8", "i32".
func (d DType) String() string {
	switch d {
	case DTypeF32:
		return "f32"
	case DTypeF16:
		return "f16"
	case DTypeBF16:
		return "bf16"
	case DTypeU8:
		return "u8"
	case DTypeI32:
		return "i32"
	}
	return fmt.Sprintf("DType(%d)", int32(d))
}

// Config is the configuration of a Quantizer (gptaq_config). Start from DefaultConfig()
// (the library's defaults) and change what you need; the zero Config is not valid.
type Config struct {
	Method       Method        // default MethodGPTQ
	Bits         int           // 2..8 (uniform), 2..4 (binary); default 4
	GroupSize    int           // columns per group, or -1 for one group per row; default 128
	Sym          bool          // symmetric grid; default true
	ActOrder     bool          // quantize columns by decreasing diag(H); default false
	StaticGroups bool          // group params from the original weight; default false
	MSE          bool          // MSE clip search for scale/zero; default false
	BlockSize    int           // lazy block width, 1..4096; default 128
	Backend      Backend       // default BackendAuto
	Device       int           // CUDA device ordinal; default 0
	NumThreads   int           // CPU threads, 0 = all; default 0
	DampPercent  float32       // relative damping, > 0; default 0.01
	DampRetries  int           // x10 damping retries, 0..8; default 4
	Alpha        float32       // GPTAQ's weight of the asymmetry term; default 0.25
	MSENorm      float32       // exponent of the MSE clip error; default 2.4
	MSEGrid      int           // MSE grid points per unit shrink; default 100
	MSEMaxShrink float32       // largest shrink tried, (0, 1); default 0.8
	Quantizer    QuantizerKind // default QuantizerUniform
	HyperBits    int           // GPTQT n, bits < n <= 8; 0 = Bits + 2
	ExploreBits  int           // GPTQT scale search span e; default 1
	ExploreSplit int           // GPTQT number of scale candidates S; default 20
	Objective    Objective     // GPTQT search objective; default ObjectiveOutput
	// ActGroupAware is group-aware reordering (GAR): columns by decreasing diag(H)
	// inside each group, groups by their largest entry, so groups stay contiguous and
	// GIdx is c / GroupSize. Needs GroupSize >= 1, excludes ActOrder; default false.
	ActGroupAware bool
	// FailsafeTokens: quantize by round-to-nearest when the statistics hold fewer than
	// this many tokens (zero tokens included); 0 = off (the default), >= 0.
	FailsafeTokens int
}

// DefaultConfig returns the library's defaults (gptaq_config_init).
func DefaultConfig() Config {
	raw := lowlevel.NewGptaq_config()
	defer lowlevel.DeleteGptaq_config(raw)
	return configFromRaw(raw)
}

// BinaryConfig returns the defaults with the GPTQT binary quantizer at `bits` (k) bits,
// per channel (GroupSize -1).
func BinaryConfig(bits int) Config {
	c := DefaultConfig()
	c.Quantizer = QuantizerBinary
	c.Bits = bits
	c.GroupSize = -1
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// int32Field checks that an int field of a Config fits the C struct's int32 (the
// library validates the range itself; a value that does not fit must not wrap).
func int32Field(name string, v int) (int, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, errorf(StatusInvalidArgument, "Config.%s = %d is outside the int32 range", name, v)
	}
	return v, nil
}

// toRaw returns a newly allocated C config; free it with lowlevel.DeleteGptaq_config.
// Every int field is range-checked first (ErrInvalidArgument, nothing allocated).
func (c Config) toRaw() (lowlevel.Gptaq_config, error) {
	ints := []struct {
		name string
		v    int
	}{
		{"Bits", c.Bits}, {"GroupSize", c.GroupSize}, {"BlockSize", c.BlockSize},
		{"Device", c.Device}, {"NumThreads", c.NumThreads}, {"DampRetries", c.DampRetries},
		{"MSEGrid", c.MSEGrid}, {"HyperBits", c.HyperBits}, {"ExploreBits", c.ExploreBits},
		{"ExploreSplit", c.ExploreSplit}, {"FailsafeTokens", c.FailsafeTokens},
	}
	for _, f := range ints {
		if _, err := int32Field(f.name, f.v); err != nil {
			return nil, err
		}
	}
	r := lowlevel.NewGptaq_config() // struct_size and defaults already set
	r.SetMethod(int(c.Method))
	r.SetBits(c.Bits)
	r.SetGroup_size(c.GroupSize)
	r.SetSym(b2i(c.Sym))
	r.SetAct_order(b2i(c.ActOrder))
	r.SetStatic_groups(b2i(c.StaticGroups))
	r.SetMse(b2i(c.MSE))
	r.SetBlock_size(c.BlockSize)
	r.SetBackend(int(c.Backend))
	r.SetDevice(c.Device)
	r.SetNum_threads(c.NumThreads)
	r.SetDamp_percent(c.DampPercent)
	r.SetDamp_retries(c.DampRetries)
	r.SetAlpha(c.Alpha)
	r.SetMse_norm(c.MSENorm)
	r.SetMse_grid(c.MSEGrid)
	r.SetMse_max_shrink(c.MSEMaxShrink)
	r.SetQuantizer(int(c.Quantizer))
	r.SetHyper_bits(c.HyperBits)
	r.SetExplore_bits(c.ExploreBits)
	r.SetExplore_split(c.ExploreSplit)
	r.SetObjective(int(c.Objective))
	r.SetAct_group_aware(b2i(c.ActGroupAware))
	r.SetFailsafe_tokens(c.FailsafeTokens)
	return r, nil
}

func configFromRaw(r lowlevel.Gptaq_config) Config {
	return Config{
		Method:         Method(r.GetMethod()),
		Bits:           r.GetBits(),
		GroupSize:      r.GetGroup_size(),
		Sym:            r.GetSym() != 0,
		ActOrder:       r.GetAct_order() != 0,
		StaticGroups:   r.GetStatic_groups() != 0,
		MSE:            r.GetMse() != 0,
		BlockSize:      r.GetBlock_size(),
		Backend:        Backend(r.GetBackend()),
		Device:         r.GetDevice(),
		NumThreads:     r.GetNum_threads(),
		DampPercent:    r.GetDamp_percent(),
		DampRetries:    r.GetDamp_retries(),
		Alpha:          r.GetAlpha(),
		MSENorm:        r.GetMse_norm(),
		MSEGrid:        r.GetMse_grid(),
		MSEMaxShrink:   r.GetMse_max_shrink(),
		Quantizer:      QuantizerKind(r.GetQuantizer()),
		HyperBits:      r.GetHyper_bits(),
		ExploreBits:    r.GetExplore_bits(),
		ExploreSplit:   r.GetExplore_split(),
		Objective:      Objective(r.GetObjective()),
		ActGroupAware:  r.GetAct_group_aware() != 0,
		FailsafeTokens: r.GetFailsafe_tokens(),
	}
}

// String names the method: "rtn", "gptq", "gptaq".
func (m Method) String() string {
	switch m {
	case MethodRTN:
		return "rtn"
	case MethodGPTQ:
		return "gptq"
	case MethodGPTAQ:
		return "gptaq"
	}
	return fmt.Sprintf("Method(%d)", int32(m))
}

// String names the quantizer kind: "uniform", "binary".
func (k QuantizerKind) String() string {
	switch k {
	case QuantizerUniform:
		return "uniform"
	case QuantizerBinary:
		return "binary"
	}
	return fmt.Sprintf("QuantizerKind(%d)", int32(k))
}

// String names the backend: "auto", "cpu", "cuda".
func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendCPU:
		return "cpu"
	case BackendCUDA:
		return "cuda"
	}
	return fmt.Sprintf("Backend(%d)", int32(b))
}
