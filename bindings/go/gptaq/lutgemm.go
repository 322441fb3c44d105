package gptaq

import (
	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// LUTGEMM is a binary-coded weight in the LUT-GEMM kernels' layout, for N = Rows,
// K = Columns, k = Bits bit planes and G = Groups groups of contiguous columns:
// QBits uint32 [ceil(K/32)][k][N] (bit j of word [w][i][r] is bit i, MSB first, of the
// level index of weight (r, 32w + j); set = +alpha_i), Alpha fp16 [G][k][N] and Bias fp16
// [G][N] as bit patterns.
type LUTGEMM struct {
	Bits, Rows, Columns, GroupSize, Groups int
	QBits                                  []uint32
	Alpha                                  []uint16
	Bias                                   []uint16
}

// LUTGEMMUnpacked is a LUT-GEMM weight back in the solver's layout.
type LUTGEMMUnpacked struct {
	Codes   []uint8   // rows x columns level indices
	Alpha   []float32 // rows x groups x bits
	Bias    []float32 // rows x groups
	Dequant []float32 // rows x columns
}

func lutgemmSizes(bits, rows, columns, groupSize int) (words, groups, n int, err error) {
	if bits < 1 || bits > 8 {
		return 0, 0, 0, errorf(StatusInvalidArgument, "bits = %d must be in 1..8", bits)
	}
	if err := int32Arg("groupSize", groupSize); err != nil {
		return 0, 0, 0, err
	}
	if rows <= 0 || columns <= 0 {
		return 0, 0, 0, errorf(StatusShape, "rows = %d and columns = %d must be > 0", rows, columns)
	}
	groups = NumGroups(columns, groupSize)
	if groups < 1 {
		return 0, 0, 0, errorf(StatusInvalidArgument, "group size %d must be -1 or >= 1", groupSize)
	}
	if n, err = mul("weight", int64(rows), int64(columns)); err != nil {
		return 0, 0, 0, err
	}
	if _, err = mul("qbits", int64((columns+31)/32), int64(bits), int64(rows)); err != nil {
		return 0, 0, 0, err
	}
	return (columns + 31) / 32, groups, n, nil
}

// PackLUTGEMM packs a binary solve result (SolveBinary's layout: codes rows x columns,
// alpha rows x G x bits, bias rows x G, gIdx columns or nil) into the LUT-GEMM layout,
// rounding alpha and bias to fp16. LUT-GEMM has no g_idx: a given gIdx must be
// c / groupSize for every column (ErrUnsupported otherwise: use static groups with
// act-order). Lengths are checked first (ErrShape).
func PackLUTGEMM(bits, rows, columns, groupSize int, codes []uint8, alpha, bias []float32, gIdx []int32) (*LUTGEMM, error) {
	words, g, n, err := lutgemmSizes(bits, rows, columns, groupSize)
	if err != nil {
		return nil, err
	}
	switch {
	case len(codes) != n:
		return nil, errorf(StatusShape, "codes has %d entries, expected rows x columns = %d", len(codes), n)
	case len(alpha) != rows*g*bits:
		return nil, errorf(StatusShape, "alpha has %d entries, expected rows x groups x bits = %d", len(alpha), rows*g*bits)
	case len(bias) != rows*g:
		return nil, errorf(StatusShape, "bias has %d entries, expected rows x groups = %d", len(bias), rows*g)
	case gIdx != nil && len(gIdx) != columns:
		return nil, errorf(StatusShape, "g_idx has %d entries, expected columns = %d", len(gIdx), columns)
	}
	l := &LUTGEMM{Bits: bits, Rows: rows, Columns: columns, GroupSize: groupSize, Groups: g,
		QBits: make([]uint32, words*bits*rows), Alpha: make([]uint16, g*bits*rows), Bias: make([]uint16, g*rows)}
	if err := global(func() int {
		return lowlevel.Gptaq_lutgemm_pack(bits, int64(rows), int64(columns), groupSize, codes, alpha, bias, gIdx,
			l.QBits, l.Alpha, l.Bias)
	}); err != nil {
		return nil, err
	}
	return l, nil
}

// PackLUTGEMM packs the binary result (see the function PackLUTGEMM).
func (r *BinaryResult) PackLUTGEMM() (*LUTGEMM, error) {
	if r == nil {
		return nil, errorf(StatusInvalidArgument, "the result is nil")
	}
	return PackLUTGEMM(r.Bits, r.Rows, r.Columns, r.GroupSize, r.Codes, r.Alpha, r.Bias, r.GIdx)
}

// UnpackLUTGEMM decodes a LUT-GEMM weight back into the solver's layout (the inverse of
// PackLUTGEMM up to the fp16 rounding of alpha and bias). Lengths are checked first.
func UnpackLUTGEMM(l *LUTGEMM) (*LUTGEMMUnpacked, error) {
	if l == nil {
		return nil, errorf(StatusInvalidArgument, "the LUT-GEMM weight is nil")
	}
	words, g, n, err := lutgemmSizes(l.Bits, l.Rows, l.Columns, l.GroupSize)
	if err != nil {
		return nil, err
	}
	switch {
	case len(l.QBits) != words*l.Bits*l.Rows:
		return nil, errorf(StatusShape, "qbits has %d words, expected %d", len(l.QBits), words*l.Bits*l.Rows)
	case len(l.Alpha) != g*l.Bits*l.Rows:
		return nil, errorf(StatusShape, "alpha has %d entries, expected %d", len(l.Alpha), g*l.Bits*l.Rows)
	case len(l.Bias) != g*l.Rows:
		return nil, errorf(StatusShape, "bias has %d entries, expected %d", len(l.Bias), g*l.Rows)
	}
	u := &LUTGEMMUnpacked{Codes: make([]uint8, n), Alpha: make([]float32, l.Rows*g*l.Bits),
		Bias: make([]float32, l.Rows*g), Dequant: make([]float32, n)}
	if err := global(func() int {
		return lowlevel.Gptaq_lutgemm_unpack(l.Bits, int64(l.Rows), int64(l.Columns), l.GroupSize, l.QBits, l.Alpha,
			l.Bias, u.Codes, u.Alpha, u.Bias, u.Dequant)
	}); err != nil {
		return nil, err
	}
	return u, nil
}
