package gptaq

import (
	"testing"
)

// Group-aware reordering and the failsafe (issue 18): the options reach the library and
// the solve info reports the failsafe.

func TestGARConfigAndGIdx(t *testing.T) {
	const cols, rows, g = 128, 16, 32
	cfg := cpuConfig(g)
	cfg.ActGroupAware = true
	q := fed(t, cols, cfg, 70, 300)
	got, err := q.Config()
	if err != nil || !got.ActGroupAware {
		t.Fatalf("config round trip: %+v %v", got, err)
	}
	res := solveCodes(t, q, (&rng{s: 71}).fill(rows*cols, 0.2), rows)
	for c, gi := range res.GIdx {
		if int(gi) != c/g {
			t.Fatalf("GAR: g_idx[%d] = %d, want %d", c, gi, c/g)
		}
	}
	// GAR reorders columns inside groups: the result differs from the plain order on
	// correlated data, and is no worse than act-order's g_idx cost (trivial g_idx).
	plain := solveCodes(t, fed(t, cols, cpuConfig(g), 70, 300), (&rng{s: 71}).fill(rows*cols, 0.2), rows)
	if eqU8(plain.Codes, res.Codes) == -1 {
		t.Fatal("GAR gave exactly the codes of the natural order")
	}
}

func TestFailsafe(t *testing.T) {
	const cols, rows = 64, 16
	w := (&rng{s: 80}).fill(rows*cols, 0.2)
	rtnCfg := cpuConfig(16)
	rtnCfg.Method = MethodRTN
	rtn := solveCodes(t, mustQ(t, cols, rtnCfg), w, rows)

	cfg := cpuConfig(16)
	cfg.FailsafeTokens = 100
	// Below the threshold: round-to-nearest, and the info says so.
	q := fed(t, cols, cfg, 81, 20)
	res := solveCodes(t, q, w, rows)
	if !res.Info.FailsafeUsed || res.Info.Tokens != 20 {
		t.Fatalf("20 tokens under a threshold of 100: info %+v", res.Info)
	}
	sameResult(t, rtn, res, "failsafe vs RTN")
	// Zero tokens with the failsafe on is RTN, not ErrNoData.
	res0 := solveCodes(t, mustQ(t, cols, cfg), w, rows)
	if !res0.Info.FailsafeUsed || res0.Info.Tokens != 0 {
		t.Fatalf("zero tokens: info %+v", res0.Info)
	}
	sameResult(t, rtn, res0, "failsafe with zero tokens vs RTN")
	// At or above the threshold the solve is unchanged.
	q2 := fed(t, cols, cfg, 82, 60, 40)
	plain := fed(t, cols, cpuConfig(16), 82, 60, 40)
	a, b := solveCodes(t, q2, w, rows), solveCodes(t, plain, w, rows)
	if a.Info.FailsafeUsed || a.Info.Tokens != 100 {
		t.Fatalf("100 tokens at a threshold of 100: info %+v", a.Info)
	}
	sameResult(t, b, a, "at the threshold vs no failsafe")
}
