package gptaq

/*
#cgo pkg-config: gptaq
#include <stdint.h>
#include <gptaq/gptaq.h>
int32_t gptaq_go_set_progress(uintptr_t ctx, uintptr_t handle);
int32_t gptaq_go_set_log(uintptr_t ctx, uintptr_t handle);
int32_t gptaq_go_stats_buffers(uintptr_t ctx, gptaq_stats_buffers *out);
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
)

// Phase is what a progress report is about (gptaq_phase).
type Phase int32

// Phases of a long call.
const (
	PhaseStatistics    Phase = 0 // accumulating a batch (units: tokens)
	PhaseFactorization Phase = 1 // damping, Cholesky, inverse, GPTAQ's P (units: columns)
	PhaseSweep         Phase = 2 // the column sweep, GPTQT's scale search (units: columns)
	PhasePacking       Phase = 3 // writing the outputs (units: rows)
)

// String names the phase: "statistics", "factorization", "sweep", "packing".
func (p Phase) String() string {
	switch p {
	case PhaseStatistics:
		return "statistics"
	case PhaseFactorization:
		return "factorization"
	case PhaseSweep:
		return "sweep"
	case PhasePacking:
		return "packing"
	}
	return fmt.Sprintf("Phase(%d)", int32(p))
}

// LogLevel is the severity of a library log message (gptaq_log_level).
type LogLevel int32

// Log levels.
const (
	LogDebug LogLevel = 0 // sizes, timings of phases
	LogInfo  LogLevel = 1 // what a call decided: factor reused, backend chosen
	LogWarn  LogLevel = 2 // damping retries, the failsafe used, CUDA fallback to CPU
)

// String names the level: "debug", "info", "warn".
func (l LogLevel) String() string {
	switch l {
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	}
	return fmt.Sprintf("LogLevel(%d)", int32(l))
}

// ProgressFunc receives progress reports of the long calls (the AddBatch family, Solve,
// SolveBinary): done of total units of phase are finished. It is called on the calling
// goroutine, at a bounded rate (per block of columns, per statistics chunk, at the start
// and end of each phase). Return true to go on, false to cancel: the call then fails
// with ErrCancelled and leaves the quantizer exactly as before it. It must not call
// methods of the same Quantizer (they would fail with ErrBusy). A panic inside it
// cancels the call and is re-raised once the library has returned.
type ProgressFunc func(phase Phase, done, total int64) bool

// LogFunc receives the library's log messages (one complete message, no newline) on the
// calling goroutine. The library never prints; without a LogFunc messages are dropped.
type LogFunc func(level LogLevel, message string)

// callbacks is what the library's progress and log calls reach through a cgo.Handle.
// It does not refer to the Quantizer, so the handle does not keep the Quantizer alive
// (its finalizer can still run). Its per-call fields are written only while the
// quantizer's lock is held.
type callbacks struct {
	progress ProgressFunc
	logger   LogFunc
	ctx      context.Context // the running call's, or nil
	ctxErr   error           // ctx.Err() when ctx made the call stop
	panicked bool
	panicVal interface{}

	progressOn bool // the progress trampoline is registered on the context
}

func (cb *callbacks) begin(ctx context.Context) {
	cb.ctx, cb.ctxErr, cb.panicked, cb.panicVal = ctx, nil, false, nil
}

// end clears the per-call state; a panic of a callback is re-raised here, once the
// library has returned (a Go panic must not unwind through C frames).
func (cb *callbacks) end() (ctxErr error) {
	ctxErr = cb.ctxErr
	cb.ctx, cb.ctxErr = nil, nil
	cb.repanic()
	return ctxErr
}

// repanic re-raises (once) a panic a callback raised during the last call.
func (cb *callbacks) repanic() {
	if cb.panicked {
		v := cb.panicVal
		cb.panicked, cb.panicVal = false, nil
		panic(v)
	}
}

//export gptaqGoProgress
func gptaqGoProgress(h C.uintptr_t, phase C.int32_t, done, total C.int64_t) (ret C.int32_t) {
	cb, ok := cgo.Handle(h).Value().(*callbacks)
	if !ok {
		return 0
	}
	defer func() {
		if r := recover(); r != nil {
			cb.panicked, cb.panicVal = true, r
			ret = 1
		}
	}()
	if cb.ctx != nil {
		if err := cb.ctx.Err(); err != nil {
			cb.ctxErr = err
			return 1
		}
	}
	if cb.progress != nil && !cb.progress(Phase(phase), int64(done), int64(total)) {
		return 1
	}
	return 0
}

//export gptaqGoLog
func gptaqGoLog(h C.uintptr_t, level C.int32_t, message *C.char) {
	cb, ok := cgo.Handle(h).Value().(*callbacks)
	if !ok || cb.logger == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil && !cb.panicked {
			cb.panicked, cb.panicVal = true, r
		}
	}()
	cb.logger(LogLevel(level), C.GoString(message))
}

// setProgress registers (handle != 0) or clears the progress trampoline on a context.
func setProgress(ctx uintptr, handle cgo.Handle) int {
	return int(C.gptaq_go_set_progress(C.uintptr_t(ctx), C.uintptr_t(handle)))
}

// setLog registers (handle != 0) or clears the log trampoline on a context.
func setLog(ctx uintptr, handle cgo.Handle) int {
	return int(C.gptaq_go_set_log(C.uintptr_t(ctx), C.uintptr_t(handle)))
}
