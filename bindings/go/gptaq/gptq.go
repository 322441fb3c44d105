package gptaq

import (
	"fmt"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// GPTQ checkpoints (AutoGPTQ / GPTQModel / vLLM / transformers layout): a linear layer
// at path P with K = columns (in_features), N = rows (out_features), b bits and G groups
// is stored as P.qweight int32 [K*b/32, N], P.qzeros int32 [G, N*b/32], P.scales fp16
// [G, N] and P.g_idx int32 [K]. See include/gptaq/gptaq.h for the bit layout.

// GPTQFormat is the zero convention of a GPTQ checkpoint (gptaq_gptq_format).
type GPTQFormat int32

// Checkpoint formats.
const (
	GPTQv1 GPTQFormat = 0 // checkpoint_format "gptq": qzeros store zero - 1 (what loaders default to)
	GPTQv2 GPTQFormat = 1 // checkpoint_format "gptq_v2": qzeros store the zero
)

// String names the format: "gptq", "gptq_v2".
func (f GPTQFormat) String() string {
	switch f {
	case GPTQv1:
		return "gptq"
	case GPTQv2:
		return "gptq_v2"
	}
	return fmt.Sprintf("GPTQFormat(%d)", int32(f))
}

// GPTQShapes are the packed shapes of a rows x columns weight.
type GPTQShapes struct {
	QWeightRows int // qweight is QWeightRows x rows (columns*bits/32)
	QZerosCols  int // qzeros is Groups x QZerosCols (rows*bits/32)
	Groups      int
}

// GPTQShapesFor computes the packed shapes. Errors: ErrInvalidArgument (bits not
// 2/3/4/8, bad group size), ErrShape (rows or columns <= 0, not multiples the packing
// needs).
func GPTQShapesFor(rows, columns, groupSize, bits int) (GPTQShapes, error) {
	if err := int32Arg("groupSize", groupSize); err != nil {
		return GPTQShapes{}, err
	}
	if err := int32Arg("bits", bits); err != nil {
		return GPTQShapes{}, err
	}
	qw, qz, g := make([]int64, 1), make([]int64, 1), make([]int64, 1)
	if err := global(func() int {
		return lowlevel.Gptaq_gptq_shapes(int64(rows), int64(columns), groupSize, bits, qw, qz, g)
	}); err != nil {
		return GPTQShapes{}, err
	}
	return GPTQShapes{QWeightRows: int(qw[0]), QZerosCols: int(qz[0]), Groups: int(g[0])}, nil
}

// GPTQTensors are a layer's GPTQ checkpoint tensors (row-major). Scales hold fp16 or
// bf16 bit patterns (ScalesType F16 / BF16, what checkpoints store) or, for
// ScalesType DTypeF32, ScalesF32 is used instead.
type GPTQTensors struct {
	Format              GPTQFormat
	Bits, Rows, Columns int
	GroupSize           int
	Shapes              GPTQShapes
	QWeight             []int32 // Shapes.QWeightRows x Rows
	QZeros              []int32 // Shapes.Groups x Shapes.QZerosCols
	ScalesType          DType   // DTypeF16, DTypeBF16 or DTypeF32
	Scales              []uint16
	ScalesF32           []float32
	GIdx                []int32 // Columns
	ZerosClamped        int64   // v1 only: (row, group) zeros of 0 stored as 1 (see PackGPTQ)
}

// PackGPTQ packs a uniform solve result into GPTQ checkpoint tensors. codes are rows x
// columns in [0, 2^bits), scales and zeros rows x G (G = NumGroups(columns,
// groupSize)), gIdx columns entries or nil (column c -> c / groupSize). scalesType is
// DTypeF16 (checkpoints), DTypeBF16 or DTypeF32.
//
// A v1 checkpoint cannot hold a zero of 0 (asymmetric grids make it): with
// allowClamp false that is ErrUnsupported and nothing is packed; with allowClamp true
// such zeros are stored as 0 (read back as 1) and counted in ZerosClamped. Use GPTQv2
// or a symmetric grid to avoid it. Every length is checked against the shapes first
// (ErrShape).
func PackGPTQ(format GPTQFormat, bits, rows, columns, groupSize int, codes []uint8, scales, zeros []float32,
	gIdx []int32, scalesType DType, allowClamp bool) (*GPTQTensors, error) {
	sh, err := GPTQShapesFor(rows, columns, groupSize, bits)
	if err != nil {
		return nil, err
	}
	n, err := mul("codes", int64(rows), int64(columns))
	if err != nil {
		return nil, err
	}
	ng := rows * sh.Groups
	switch {
	case len(codes) != n:
		return nil, errorf(StatusShape, "codes has %d entries, expected rows x columns = %d", len(codes), n)
	case len(scales) != ng || len(zeros) != ng:
		return nil, errorf(StatusShape, "scales/zeros have %d/%d entries, expected rows x groups = %d", len(scales), len(zeros), ng)
	case gIdx != nil && len(gIdx) != columns:
		return nil, errorf(StatusShape, "g_idx has %d entries, expected columns = %d", len(gIdx), columns)
	}
	t := &GPTQTensors{Format: format, Bits: bits, Rows: rows, Columns: columns, GroupSize: groupSize, Shapes: sh,
		QWeight: make([]int32, sh.QWeightRows*rows), QZeros: make([]int32, sh.Groups*sh.QZerosCols),
		ScalesType: scalesType, GIdx: make([]int32, columns)}
	var scalesOut []byte
	switch scalesType {
	case DTypeF16, DTypeBF16:
		t.Scales = make([]uint16, ng)
		scalesOut = u16Bytes(t.Scales)
	case DTypeF32:
		t.ScalesF32 = make([]float32, ng)
		scalesOut = f32Bytes(t.ScalesF32)
	default:
		return nil, errorf(StatusInvalidArgument, "scales type %v is not DTypeF16, DTypeBF16 or DTypeF32", scalesType)
	}
	var clamped []int64
	if allowClamp {
		clamped = make([]int64, 1)
	}
	if err := global(func() int {
		return lowlevel.Gptaq_gptq_pack(int(format), bits, int64(rows), int64(columns), groupSize, codes, scales,
			zeros, gIdx, t.QWeight, t.QZeros, int(scalesType), scalesOut, t.GIdx, clamped)
	}); err != nil {
		return nil, err
	}
	if allowClamp {
		t.ZerosClamped = clamped[0]
	}
	return t, nil
}

// PackGPTQ packs the result into GPTQ checkpoint tensors with fp16 scales (see the
// function PackGPTQ; v1 clamping refused).
func (r *Result) PackGPTQ(format GPTQFormat) (*GPTQTensors, error) {
	if r == nil {
		return nil, errorf(StatusInvalidArgument, "the result is nil")
	}
	return PackGPTQ(format, r.Bits, r.Rows, r.Columns, r.GroupSize, r.Codes, r.Scales, r.Zeros, r.GIdx, DTypeF16, false)
}

// GPTQUnpacked is a GPTQ checkpoint decoded back into the solver's layout.
type GPTQUnpacked struct {
	Codes   []uint8   // rows x columns
	Scales  []float32 // rows x groups (the stored scales, widened)
	Zeros   []float32 // rows x groups: the stored zero (v2) or stored + 1 (v1)
	Dequant []float32 // rows x columns: scale * (code - zero) of each column's group
}

// UnpackGPTQ decodes checkpoint tensors (e.g. read from a safetensors file: Format,
// Bits, Rows, Columns, GroupSize, QWeight, QZeros, Scales or ScalesF32 per ScalesType,
// GIdx; Shapes is recomputed). GIdx may be nil only when there is one group. The input
// is untrusted: lengths are checked here, g_idx entries by the library (ErrFormat).
func UnpackGPTQ(t *GPTQTensors) (*GPTQUnpacked, error) {
	if t == nil {
		return nil, errorf(StatusInvalidArgument, "the tensors are nil")
	}
	sh, err := GPTQShapesFor(t.Rows, t.Columns, t.GroupSize, t.Bits)
	if err != nil {
		return nil, err
	}
	n, err := mul("codes", int64(t.Rows), int64(t.Columns))
	if err != nil {
		return nil, err
	}
	ng := t.Rows * sh.Groups
	var scales []byte
	switch t.ScalesType {
	case DTypeF16, DTypeBF16:
		if len(t.Scales) != ng {
			return nil, errorf(StatusShape, "scales has %d entries, expected groups x rows = %d", len(t.Scales), ng)
		}
		scales = u16Bytes(t.Scales)
	case DTypeF32:
		if len(t.ScalesF32) != ng {
			return nil, errorf(StatusShape, "scales has %d entries, expected groups x rows = %d", len(t.ScalesF32), ng)
		}
		scales = f32Bytes(t.ScalesF32)
	default:
		return nil, errorf(StatusInvalidArgument, "scales type %v is not DTypeF16, DTypeBF16 or DTypeF32", t.ScalesType)
	}
	switch {
	case len(t.QWeight) != sh.QWeightRows*t.Rows:
		return nil, errorf(StatusShape, "qweight has %d entries, expected %d x %d", len(t.QWeight), sh.QWeightRows, t.Rows)
	case len(t.QZeros) != sh.Groups*sh.QZerosCols:
		return nil, errorf(StatusShape, "qzeros has %d entries, expected %d x %d", len(t.QZeros), sh.Groups, sh.QZerosCols)
	case t.GIdx != nil && len(t.GIdx) != t.Columns:
		return nil, errorf(StatusShape, "g_idx has %d entries, expected columns = %d", len(t.GIdx), t.Columns)
	case t.GIdx == nil && sh.Groups > 1:
		return nil, errorf(StatusInvalidArgument, "g_idx is needed to decode %d groups", sh.Groups)
	}
	u := &GPTQUnpacked{Codes: make([]uint8, n), Scales: make([]float32, ng), Zeros: make([]float32, ng),
		Dequant: make([]float32, n)}
	if err := global(func() int {
		return lowlevel.Gptaq_gptq_unpack(int(t.Format), t.Bits, int64(t.Rows), int64(t.Columns), int64(sh.Groups),
			t.QWeight, t.QZeros, int(t.ScalesType), scales, t.GIdx, u.Codes, u.Scales, u.Zeros, u.Dequant)
	}); err != nil {
		return nil, err
	}
	return u, nil
}

// WriteSafetensors adds the tensors to w under prefix P: P.qweight, P.qzeros, P.scales
// and P.g_idx with the checkpoint shapes and dtypes.
func (t *GPTQTensors) WriteSafetensors(w *SafetensorsWriter, prefix string) error {
	if t == nil {
		return errorf(StatusInvalidArgument, "the tensors are nil")
	}
	g, rows := int64(t.Shapes.Groups), int64(t.Rows)
	if err := w.AddInt32(prefix+".qweight", []int64{int64(t.Shapes.QWeightRows), rows}, t.QWeight); err != nil {
		return err
	}
	if err := w.AddInt32(prefix+".qzeros", []int64{g, int64(t.Shapes.QZerosCols)}, t.QZeros); err != nil {
		return err
	}
	var err error
	switch t.ScalesType {
	case DTypeF16, DTypeBF16:
		err = w.AddHalf(prefix+".scales", t.ScalesType, []int64{g, rows}, t.Scales)
	default:
		err = w.AddFloat32(prefix+".scales", []int64{g, rows}, t.ScalesF32)
	}
	if err != nil {
		return err
	}
	return w.AddInt32(prefix+".g_idx", []int64{int64(t.Columns)}, t.GIdx)
}

// ReadGPTQSafetensors reads P.qweight, P.qzeros, P.scales and P.g_idx of a layer from
// r, for a rows x columns weight quantized with cfg's Bits and GroupSize in format.
// The tensors' dtypes and shapes are checked against what the configuration implies.
func ReadGPTQSafetensors(r *SafetensorsReader, prefix string, format GPTQFormat, cfg Config, rows, columns int) (*GPTQTensors, error) {
	sh, err := GPTQShapesFor(rows, columns, cfg.GroupSize, cfg.Bits)
	if err != nil {
		return nil, err
	}
	t := &GPTQTensors{Format: format, Bits: cfg.Bits, Rows: rows, Columns: columns, GroupSize: cfg.GroupSize, Shapes: sh}
	if t.QWeight, err = r.ReadInt32(prefix+".qweight", int64(sh.QWeightRows), int64(rows)); err != nil {
		return nil, err
	}
	if t.QZeros, err = r.ReadInt32(prefix+".qzeros", int64(sh.Groups), int64(sh.QZerosCols)); err != nil {
		return nil, err
	}
	if t.GIdx, err = r.ReadInt32(prefix+".g_idx", int64(columns)); err != nil {
		return nil, err
	}
	i, err := r.Find(prefix + ".scales")
	if err != nil {
		return nil, err
	}
	info, err := r.Tensor(i)
	if err != nil {
		return nil, err
	}
	switch info.DType {
	case "F16", "BF16":
		t.ScalesType = DTypeF16
		if info.DType == "BF16" {
			t.ScalesType = DTypeBF16
		}
		t.Scales, err = r.ReadUint16(prefix+".scales", int64(sh.Groups), int64(rows))
	case "F32":
		t.ScalesType = DTypeF32
		t.ScalesF32, err = r.ReadFloat32(prefix+".scales", int64(sh.Groups), int64(rows))
	default:
		err = errorf(StatusFormat, "%s.scales has dtype %s, expected F16, BF16 or F32", prefix, info.DType)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// QuantizeConfigJSON is the quantize_config.json text for a uniform configuration (as
// AutoGPTQ, GPTQModel, transformers and vLLM read it). Errors: ErrInvalidArgument (the
// binary quantizer, bits not 2/3/4/8, bad format).
func QuantizeConfigJSON(cfg Config, format GPTQFormat) (string, error) {
	raw, err := cfg.toRaw()
	if err != nil {
		return "", err
	}
	defer lowlevel.DeleteGptaq_config(raw)
	length := make([]int64, 1)
	if err := global(func() int { return lowlevel.Gptaq_gptq_quantize_config(raw, int(format), nil, length) }); err != nil {
		return "", err
	}
	buf := make([]byte, length[0]+1)
	if err := global(func() int { return lowlevel.Gptaq_gptq_quantize_config(raw, int(format), buf, length) }); err != nil {
		return "", err
	}
	return string(buf[:length[0]]), nil
}

// WriteQuantizeConfig writes that text to path (e.g. "<dir>/quantize_config.json").
func WriteQuantizeConfig(path string, cfg Config, format GPTQFormat) error {
	raw, err := cfg.toRaw()
	if err != nil {
		return err
	}
	defer lowlevel.DeleteGptaq_config(raw)
	return global(func() int { return lowlevel.Gptaq_gptq_write_quantize_config(path, raw, int(format)) })
}

// ReadQuantizeConfig reads a quantize_config.json (or a model's config.json holding
// "quantization_config") over the defaults: bits, group_size, sym, desc_act,
// static_groups, damp_percent and, for files this library wrote, the method. Errors:
// ErrIO, ErrFormat.
func ReadQuantizeConfig(path string) (Config, GPTQFormat, error) {
	raw := lowlevel.NewGptaq_config()
	defer lowlevel.DeleteGptaq_config(raw)
	format := make([]int32, 1)
	if err := global(func() int { return lowlevel.Gptaq_gptq_read_quantize_config(path, raw, format) }); err != nil {
		return Config{}, 0, err
	}
	return configFromRaw(raw), GPTQFormat(format[0]), nil
}
