package gptaq

import (
	"fmt"

	"github.com/gptaq/gptaq/bindings/go/internal/lowlevel"
)

// Status is a library status code (gptaq_status). The values never change. A Status is
// also an error, so errors.Is(err, gptaq.StatusShape) tells what kind of failure err is.
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
	StatusBusy                Status = -12 // the context is in use by another thread
	StatusInternal            Status = -13 // a bug in the library
)

// String is the library's English name of the status, e.g. "invalid argument".
func (s Status) String() string {
	return lowlevel.Gptaq_status_string(int(s))
}

// Error makes a Status usable as an error target: errors.Is(err, gptaq.StatusNoData).
func (s Status) Error() string {
	return "gptaq: " + s.String()
}

// Error is a failed call: the library's status and the message it left, copied while the
// call's context was still locked (never read later from a thread-local slot, so it is
// right whichever OS thread the goroutine runs on).
type Error struct {
	Status  Status // what kind of failure
	Message string // the library's message, never empty
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
