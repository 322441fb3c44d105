package gptaq

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// These tests follow the header's contract for gptaq_ctx_set_progress / set_log: the
// library calls the progress function from AddBatch* and Solve*, per block of columns
// and per statistics chunk, and a non-zero return cancels the call, leaving the context
// exactly as before it.

// stopsAt picks the report to cancel at: the sweep in its middle (it reports per block
// of columns), other phases at their first report (the factorization reports its start
// and end only; a batch of one statistics chunk likewise).
func stopsAt(stopAt, phase Phase, done, total int64) bool {
	if phase != stopAt || done >= total {
		return false
	}
	return done > 0 || stopAt != PhaseSweep
}

type progressLog struct {
	calls  int
	phases map[Phase]int
	bad    string
}

func (p *progressLog) fn(stopAt Phase, stop func()) ProgressFunc {
	p.phases = map[Phase]int{}
	return func(phase Phase, done, total int64) bool {
		p.calls++
		p.phases[phase]++
		if done < 0 || total < 0 || done > total {
			p.bad = "done/total out of range"
		}
		if phase < PhaseStatistics || phase > PhasePacking {
			p.bad = "unknown phase"
		}
		if stop != nil && stopsAt(stopAt, phase, done, total) {
			stop()
		}
		return true
	}
}

func TestProgressReports(t *testing.T) {
	const cols, rows = 256, 32
	q := mustQ(t, cols, cpuConfig(32))
	var pl progressLog
	if err := q.SetProgress(pl.fn(0, nil)); err != nil {
		t.Fatal(err)
	}
	if err := q.AddBatch(activations(&rng{s: 20}, 512, cols), nil); err != nil {
		t.Fatal(err)
	}
	if pl.phases[PhaseStatistics] == 0 {
		t.Fatalf("AddBatch reported no statistics progress (%v)", pl.phases)
	}
	if _, err := q.Solve((&rng{s: 21}).fill(rows*cols, 0.2), rows); err != nil {
		t.Fatal(err)
	}
	if pl.phases[PhaseFactorization] == 0 || pl.phases[PhaseSweep] == 0 {
		t.Fatalf("Solve reported %v", pl.phases)
	}
	if pl.bad != "" || pl.calls > 2000 {
		t.Fatalf("%s; %d calls", pl.bad, pl.calls)
	}
	// Cleared: no more calls.
	n := pl.calls
	if err := q.SetProgress(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Solve((&rng{s: 21}).fill(rows*cols, 0.2), rows); err != nil {
		t.Fatal(err)
	}
	if pl.calls != n {
		t.Fatal("a cleared progress function was called")
	}
}

// Cancel mid-solve (through the context and through the progress function), then solve
// again on the same quantizer: the answer is the uncancelled one.
func TestCancelMidSolveThenSolveAgain(t *testing.T) {
	const cols, rows = 256, 48
	for _, method := range []Method{MethodGPTQ, MethodGPTAQ} {
		cfg := cpuConfig(32)
		cfg.Method, cfg.ActOrder = method, true
		w := (&rng{s: 30}).fill(rows*cols, 0.2)
		ref := solveCodes(t, fed(t, cols, cfg, 31, 300, 200), w, rows)

		for _, phase := range []Phase{PhaseFactorization, PhaseSweep} {
			q := fed(t, cols, cfg, 31, 300, 200)
			before := serialized(t, q)
			ctx, cancel := context.WithCancel(context.Background())
			var pl progressLog
			if err := q.SetProgress(pl.fn(phase, cancel)); err != nil {
				t.Fatal(err)
			}
			_, err := q.SolveContext(ctx, w, rows)
			cancel()
			if err == nil {
				t.Fatalf("%v: the solve was not cancelled at %v (progress %v)", method, phase, pl.phases)
			}
			expectErr(t, err, StatusCancelled, "cancelled solve")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%v is not context.Canceled", err)
			}
			unchanged(t, q, before, "a cancelled solve")
			if err := q.SetProgress(nil); err != nil {
				t.Fatal(err)
			}
			sameResult(t, ref, solveCodes(t, q, w, rows), method.String()+" solve after a cancelled one")

			// The progress function alone (no context) cancels too: ErrCancelled only.
			stop := func(p Phase, done, total int64) bool { return !stopsAt(phase, p, done, total) }
			if err := q.SetProgress(stop); err != nil {
				t.Fatal(err)
			}
			if err := q.SetConfig(func() Config { c := cfg; c.DampPercent = 0.02; return c }()); err != nil {
				t.Fatal(err) // a new damping: the factorization is computed again
			}
			_, err = q.Solve(w, rows)
			if !errors.Is(err, ErrCancelled) || errors.Is(err, context.Canceled) {
				t.Fatalf("progress-function cancel: %v", err)
			}
			_ = q.SetProgress(nil)
			if err := q.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			sameResult(t, ref, solveCodes(t, q, w, rows), "solve after a progress-function cancel")
		}
	}
}

// Cancelling a batch leaves the statistics unchanged; the batch can be added again.
func TestCancelAddBatch(t *testing.T) {
	const cols = 256
	q := fed(t, cols, cpuConfig(32), 40, 64)
	before := serialized(t, q)
	x := activations(&rng{s: 41}, 4096, cols)
	ctx, cancel := context.WithCancel(context.Background())
	var pl progressLog
	_ = q.SetProgress(pl.fn(PhaseStatistics, cancel))
	err := q.AddBatchContext(ctx, x, nil)
	cancel()
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled batch: %v (progress %v)", err, pl.phases)
	}
	unchanged(t, q, before, "a cancelled batch")
	_ = q.SetProgress(nil)
	if err := q.AddBatch(x, nil); err != nil {
		t.Fatal(err)
	}
	ref := fed(t, cols, cpuConfig(32), 40, 64)
	if err := ref.AddBatch(x, nil); err != nil {
		t.Fatal(err)
	}
	if string(serialized(t, q)) != string(serialized(t, ref)) {
		t.Fatal("the batch added after a cancel differs from an uncancelled one")
	}
}

// A panic inside the progress function cancels the call, is re-raised in the caller once
// the library has returned, and leaves the quantizer usable.
func TestProgressPanic(t *testing.T) {
	const cols, rows = 128, 16
	q := fed(t, cols, cpuConfig(32), 50, 200)
	w := (&rng{s: 51}).fill(rows*cols, 0.2)
	_ = q.SetProgress(func(Phase, int64, int64) bool { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		_, _ = q.Solve(w, rows)
		t.Fatal("no panic")
	}()
	_ = q.SetProgress(nil)
	if _, err := q.Solve(w, rows); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

func TestLogMessages(t *testing.T) {
	const cols, rows = 128, 16
	q := mustQ(t, cols, cpuConfig(32))
	var msgs []string
	if err := q.SetLogger(func(level LogLevel, m string) {
		if level < LogDebug || level > LogWarn || m == "" || strings.HasSuffix(m, "\n") {
			t.Errorf("bad log message %v %q", level, m)
		}
		msgs = append(msgs, level.String()+": "+m)
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.AddBatch(activations(&rng{s: 60}, 64, cols), nil); err != nil {
		t.Fatal(err)
	}
	w := (&rng{s: 61}).fill(rows*cols, 0.2)
	for i := 0; i < 2; i++ { // the second solve reuses the factorization
		if _, err := q.Solve(w, rows); err != nil {
			t.Fatal(err)
		}
	}
	if len(msgs) == 0 {
		t.Fatal("no log message from two solves")
	}
	t.Logf("%d messages, e.g. %q", len(msgs), msgs[0])
	n := len(msgs)
	_ = q.SetLogger(nil)
	if _, err := q.Solve(w, rows); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatal("a cleared logger was called")
	}
}
