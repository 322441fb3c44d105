package gptaq

import (
	"fmt"
	"runtime"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Status is a library status code (gptaq_status). The values never change. A Status is
// also an error, so errors.Is(err, gptaq.StatusShape) (or the equal sentinel
// gptaq.ErrShape) tells what kind of failure err is.
type Status int32

// The statuses of the C API (include/gptaq/gptaq.h).
const (
	StatusOK                  Status = 0
	StatusInvalidArgument     Status = -1  // NULL pointer, value out of range, bad enum value
	StatusShape               Status = -2  // a size does not match the context or overflows
	StatusNonFinite           Status = -3  // NaN or Inf in an input; nothing was changed
	StatusNoData              Status = -4  // solve before any calibration batch
	StatusNotPositiveDefinite Status = -5  // Hessian still indefinite after damping retries
	StatusOutOfMemory         Status = -6  // an allocation failed
	StatusBackendUnavailable  Status = -7  // backend not compiled in or no device answers
	StatusDevice              Status = -8  // a CUDA / cuBLAS / cuSOLVER call failed
	StatusIO                  Status = -9  // a file could not be opened, read or written
	StatusFormat              Status = -10 // a file or buffer is malformed
	StatusUnsupported         Status = -11 // a valid request this build or method cannot do
	StatusBusy                Status = -12 // the context is in use by another goroutine
	StatusInternal            Status = -13 // a bug in the library
	StatusCancelled           Status = -14 // a progress callback or a context.Context stopped the call
)

// Sentinel errors, one per status, for errors.Is: errors.Is(err, gptaq.ErrBusy). They
// are the Status values themselves, so errors.Is(err, gptaq.StatusBusy) is the same test.
const (
	ErrInvalidArgument     = StatusInvalidArgument
	ErrShape               = StatusShape
	ErrNonFinite           = StatusNonFinite
	ErrNoData              = StatusNoData
	ErrNotPositiveDefinite = StatusNotPositiveDefinite
	ErrOutOfMemory         = StatusOutOfMemory
	ErrBackendUnavailable  = StatusBackendUnavailable
	ErrDevice              = StatusDevice
	ErrIO                  = StatusIO
	ErrFormat              = StatusFormat
	ErrUnsupported         = StatusUnsupported
	ErrBusy                = StatusBusy
	ErrInternal            = StatusInternal
	ErrCancelled           = StatusCancelled
)

// String is the library's English name of the status, e.g. "invalid argument".
func (s Status) String() string {
	return lowlevel.Gptaq_status_string(int(s))
}

// Error makes a Status usable as an error target: errors.Is(err, gptaq.ErrNoData).
func (s Status) Error() string {
	return "gptaq: " + s.String()
}

// Error is a failed call: the library's status and the message it left. Every error the
// package returns is an *Error (errors.As(err, &e) gives Status and Message). A call
// stopped through a context.Context also wraps the context's error, so both
// errors.Is(err, gptaq.ErrCancelled) and errors.Is(err, context.Canceled) hold.
type Error struct {
	Status  Status // what kind of failure
	Message string // the library's (or the binding's) message, never empty
	cause   error  // ctx.Err() for a call a context.Context cancelled, else nil
}

// Error formats the status and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("gptaq: %s (%d): %s", e.Status.String(), int32(e.Status), e.Message)
}

// Is reports whether target is the error's Status (or an *Error with the same Status).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Status:
		return e.Status == t
	case *Error:
		return t != nil && e.Status == t.Status
	}
	return false
}

// Unwrap returns the context's error (context.Canceled, context.DeadlineExceeded) when
// a context.Context cancelled the call, else nil.
func (e *Error) Unwrap() error { return e.cause }

func newError(status int, message string) *Error {
	s := Status(status)
	if message == "" {
		message = s.String()
	}
	return &Error{Status: s, Message: message}
}

func errorf(status Status, format string, args ...interface{}) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// global runs a C call that has no context: its message lives in a thread-local slot,
// so the goroutine stays on its OS thread until the message is read.
func global(call func() int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := call()
	if st == 0 {
		return nil
	}
	return newError(st, lowlevel.Gptaq_swig_errmsg(nil, st))
}
