"""Exceptions of the gptaq package: one class per C status, each also a built-in type."""
from __future__ import annotations

import re
from enum import IntEnum
from typing import Dict, Optional, Type

from . import lowlevel as _ll


class Status(IntEnum):
    """The C API's gptaq_status codes (stable values)."""

    OK = _ll.GPTAQ_OK
    INVALID_ARGUMENT = _ll.GPTAQ_ERR_INVALID_ARGUMENT
    SHAPE = _ll.GPTAQ_ERR_SHAPE
    NON_FINITE = _ll.GPTAQ_ERR_NON_FINITE
    NO_DATA = _ll.GPTAQ_ERR_NO_DATA
    NOT_POSITIVE_DEFINITE = _ll.GPTAQ_ERR_NOT_POSITIVE_DEFINITE
    OUT_OF_MEMORY = _ll.GPTAQ_ERR_OUT_OF_MEMORY
    BACKEND_UNAVAILABLE = _ll.GPTAQ_ERR_BACKEND_UNAVAILABLE
    DEVICE = _ll.GPTAQ_ERR_DEVICE
    IO = _ll.GPTAQ_ERR_IO
    FORMAT = _ll.GPTAQ_ERR_FORMAT
    UNSUPPORTED = _ll.GPTAQ_ERR_UNSUPPORTED
    BUSY = _ll.GPTAQ_ERR_BUSY
    INTERNAL = _ll.GPTAQ_ERR_INTERNAL
    CANCELLED = _ll.GPTAQ_ERR_CANCELLED


class GptaqError(Exception):
    """Base of every error raised by gptaq.

    ``status`` is the C status (a :class:`Status`; statuses this version does not know
    stay plain ints) and ``message`` the library's message, which is also ``str(e)``.
    """

    status: int
    message: str

    def __init__(self, message: str, status: int = Status.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        try:
            self.status = Status(status)
        except ValueError:
            self.status = int(status)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(GptaqError, ValueError):
    """GPTAQ_ERR_INVALID_ARGUMENT: a bad value, config field or call sequence."""


class DTypeError(InvalidArgumentError, TypeError):
    """An array has a dtype gptaq does not take (checked before calling the library)."""


class ClosedError(InvalidArgumentError):
    """The Quantizer was closed."""


class ShapeError(GptaqError, ValueError):
    """GPTAQ_ERR_SHAPE: a size does not match the context, or overflows."""


class NonFiniteError(GptaqError, ValueError):
    """GPTAQ_ERR_NON_FINITE: NaN or Inf in an input; nothing was changed."""


class NoDataError(GptaqError, RuntimeError):
    """GPTAQ_ERR_NO_DATA: solve before any calibration batch."""


class NotPositiveDefiniteError(GptaqError, ArithmeticError):
    """GPTAQ_ERR_NOT_POSITIVE_DEFINITE: the Hessian stayed indefinite after damping."""


class OutOfMemoryError(GptaqError, MemoryError):
    """GPTAQ_ERR_OUT_OF_MEMORY."""


class BackendUnavailableError(GptaqError, RuntimeError):
    """GPTAQ_ERR_BACKEND_UNAVAILABLE: backend not compiled in or no device answers."""


class DeviceError(GptaqError, RuntimeError):
    """GPTAQ_ERR_DEVICE: a CUDA / cuBLAS / cuSOLVER call failed."""


class FileIOError(GptaqError, OSError):
    """GPTAQ_ERR_IO: a file could not be opened, read or written."""


class FormatError(GptaqError, ValueError):
    """GPTAQ_ERR_FORMAT: a file or buffer is malformed."""


class UnsupportedError(GptaqError, NotImplementedError):
    """GPTAQ_ERR_UNSUPPORTED: a valid request this build or method cannot do."""


class BusyError(GptaqError, RuntimeError):
    """GPTAQ_ERR_BUSY: the context is in use by another thread."""


class InternalError(GptaqError, RuntimeError):
    """GPTAQ_ERR_INTERNAL: a bug in the library; please report it with the message."""


class CancelledError(GptaqError, RuntimeError):
    """GPTAQ_ERR_CANCELLED: the progress callback asked to stop. The Quantizer is exactly
    as it was before the call and may be used again at once."""


Cancelled = CancelledError


_BY_STATUS: Dict[int, Type[GptaqError]] = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.SHAPE: ShapeError,
    Status.NON_FINITE: NonFiniteError,
    Status.NO_DATA: NoDataError,
    Status.NOT_POSITIVE_DEFINITE: NotPositiveDefiniteError,
    Status.OUT_OF_MEMORY: OutOfMemoryError,
    Status.BACKEND_UNAVAILABLE: BackendUnavailableError,
    Status.DEVICE: DeviceError,
    Status.IO: FileIOError,
    Status.FORMAT: FormatError,
    Status.UNSUPPORTED: UnsupportedError,
    Status.BUSY: BusyError,
    Status.INTERNAL: InternalError,
    Status.CANCELLED: CancelledError,
}


def error_class(status: int) -> Type[GptaqError]:
    """The exception class raised for a C status."""
    return _BY_STATUS.get(int(status), GptaqError)


# The library's messages name C functions and pointers; the binding's users call methods.
_C_TO_PY = [
    (re.compile(r"\bgptaq_add_batch(_masked)?\b"), "add_batch()"),
    (re.compile(r"\bgptaq_solve(_binary)?\b"), "solve()"),
    (re.compile(r"\bgptaq_ctx_set_config\b"), "set_config()"),
    (re.compile(r"\bgptaq_ctx_reset\b"), "reset()"),
    (re.compile(r"\bgptaq_ctx_create\b"), "Quantizer()"),
    (re.compile(r"\bgptaq_stats_buffers_get\b"), "stats_buffers()"),
    (re.compile(r"\bgptaq_stats_commit\b"), "stats_commit()"),
    (re.compile(r"\bgptaq_stats_(save|load)\b"), r"\1_stats()"),
    (re.compile(r"\bgptaq_stats_(merge|serialize|deserialize)\b"), r"\1()"),
    (re.compile(r"\bgptaq_gptq_(pack|unpack)\b"), r"gptq_\1()"),
    (re.compile(r"\bgptaq_lutgemm_(pack|unpack)\b"), r"lutgemm_\1()"),
    (re.compile(r"\bgptaq_config_init\b"), "the defaults"),
    (re.compile(r"\bpass NULL\b"), "pass None"),
    (re.compile(r"\bis NULL\b"), "is None"),
    (re.compile(r"\bNULL\b"), "None"),
]


def pythonize(message: str) -> str:
    """The library's message in the binding's terms (method names, None)."""
    for pat, rep in _C_TO_PY:
        message = pat.sub(rep, message)
    return message


def check(status: int, ctx: Optional[object] = None) -> None:
    """Raise the exception for a non-zero C status with the library's message.

    ``ctx`` is the low-level context the call was made on (None for calls without one):
    the message is read from where the C API left it.
    """
    if status == 0:
        return
    message = pythonize(_ll.gptaq_swig_errmsg(ctx, status))
    raise error_class(status)(message, status)
