package gptaq

/*
#cgo pkg-config: gptaq
#include <stdint.h>
#include <gptaq/gptaq.h>
int32_t gptaq_go_stats_buffers(uintptr_t ctx, gptaq_stats_buffers *out);
*/
import "C"

import (
	"runtime"
	"unsafe"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// StatsBuffers are the quantizer's statistics in place, for an in-place sum all-reduce
// across workers (MPI, NCCL, a custom transport) without a copy. On the CPU backend the
// slices alias the library's memory; on the CUDA backend they are nil and the Device*
// fields hold the device addresses (for a CUDA-aware collective through cgo).
//
// The views are valid until the quantizer is closed, and only between calls: a call on
// the quantizer may read them, and the Go slices must not be used after Close (the
// memory is freed). After writing through them call CommitStats before the next call.
// WithStatsBuffers does all of this in one scoped call and is the safer form.
type StatsBuffers struct {
	Backend  Backend   // where the memory is: BackendCPU (host) or BackendCUDA (device)
	HasCross bool      // DX is kept (MethodGPTAQ)
	XX       []float32 // columns x columns, row-major, full symmetric (host)
	DX       []float32 // columns x columns, row-major, or nil (host)
	XSum     []float64 // columns (host)
	Tokens   *float64  // the token count: ONE float64 in host memory on every backend

	DeviceXX, DeviceDX, DeviceXSum uintptr // CUDA backend: device addresses, else 0
}

// buffers fetches the views; acquired.
func (q *Quantizer) buffers() (*StatsBuffers, error) {
	var b C.gptaq_stats_buffers
	st := int(C.gptaq_go_stats_buffers(C.uintptr_t(q.ctx.Swigcptr()), &b))
	if err := q.check(st); err != nil {
		return nil, err
	}
	n := q.columns * q.columns
	sb := &StatsBuffers{Backend: Backend(b.backend), HasCross: b.has_cross != 0,
		Tokens: (*float64)(unsafe.Pointer(b.tokens))}
	if sb.Backend == BackendCPU {
		sb.XX = unsafe.Slice((*float32)(unsafe.Pointer(b.xx)), n)
		if b.dx != nil {
			sb.DX = unsafe.Slice((*float32)(unsafe.Pointer(b.dx)), n)
		}
		sb.XSum = unsafe.Slice((*float64)(unsafe.Pointer(b.xsum)), q.columns)
	} else {
		sb.DeviceXX = uintptr(unsafe.Pointer(b.xx))
		sb.DeviceDX = uintptr(unsafe.Pointer(b.dx))
		sb.DeviceXSum = uintptr(unsafe.Pointer(b.xsum))
	}
	runtime.KeepAlive(q)
	return sb, nil
}

// StatsBuffers exposes the statistics in place (see StatsBuffers for the rules). It
// drops the cached factorization, since the caller may write the buffers.
func (q *Quantizer) StatsBuffers() (*StatsBuffers, error) {
	if err := q.acquire(); err != nil {
		return nil, err
	}
	defer q.release()
	return q.buffers()
}

// CommitStats declares that the statistics were modified in place: xx is made exactly
// symmetric again (lower triangle copied up) and everything is checked. Errors:
// ErrInvalidArgument (bad token count), ErrNonFinite, ErrFormat (negative diagonal);
// the statistics then stay as written: Reset, or load good ones.
func (q *Quantizer) CommitStats() error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.check(lowlevel.Gptaq_stats_commit(q.ctx))
}

// WithStatsBuffers calls fn with the statistics in place, holding the quantizer for the
// whole time (other calls on it fail with ErrBusy meanwhile), then commits them. fn must
// not keep the slices. It returns fn's error if any, else the commit's.
func (q *Quantizer) WithStatsBuffers(fn func(b *StatsBuffers) error) error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	b, err := q.buffers()
	if err != nil {
		return err
	}
	ferr := fn(b)
	cerr := q.check(lowlevel.Gptaq_stats_commit(q.ctx))
	if ferr != nil {
		return ferr
	}
	return cerr
}
