"""gptaq - Hessian-based post-training weight quantization (RTN, GPTQ, GPTAQ, GPTQT).

A Pythonic layer over libgptaq's C API (the raw SWIG module is ``gptaq.lowlevel``).
Stream calibration inputs into a :class:`Quantizer`, then solve any number of weights
that read the same input::

    import gptaq
    with gptaq.Quantizer(4096, method="gptaq", bits=4, group_size=128, act_order=True) as q:
        for x_q, x_fp in batches:          # (tokens, 4096) or (batch, seq, 4096) arrays
            q.add_batch(x_q, x_fp)         # float32 (no copy), float16, or bfloat16
        r = q.solve(weight)                # weight: (rows, 4096) float32
        r.codes, r.scales, r.zeros, r.g_idx, r.dequant, r.loss

Inputs are NumPy arrays (or anything ``numpy.asarray`` turns into one without copying,
such as CPU torch tensors): C-contiguous, of dtype float32, float16, or bfloat16 (a
``ml_dtypes.bfloat16`` array, a CPU ``torch.bfloat16`` tensor, or a uint16 array of bit
patterns with ``dtype="bfloat16"``). Contiguous inputs are never copied; the GIL is released while
the library works. Every C status raises a :class:`GptaqError` subclass that carries
the library's message and is also the matching built-in exception (ValueError, ...).

A Quantizer is not thread-safe: use one per thread (a concurrent call raises
:class:`BusyError`, status BUSY, as the C library does). Different Quantizers may run
in different threads at once.

Beyond the quantize loop: progress callbacks and cancellation (``progress=``, Ctrl-C),
log messages to :mod:`logging`, statistics exchange for distributed calibration
(``merge``, ``serialize``/``deserialize``, ``save_stats``/``load_stats``,
``stats_buffers``/``stats_commit``), GPTQ checkpoints (``gptq_pack``/``gptq_unpack``,
``quantize_config``), safetensors, llama.cpp importance matrices (``IMatrix``), the
LUT-GEMM layout and .npy files. See bindings/python/README.md.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field, fields as _dc_fields
from enum import IntEnum
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from . import lowlevel as _ll
from ._errors import (
    BackendUnavailableError,
    BusyError,
    ClosedError,
    DeviceError,
    DTypeError,
    FileIOError,
    FormatError,
    GptaqError,
    InternalError,
    InvalidArgumentError,
    NoDataError,
    NonFiniteError,
    NotPositiveDefiniteError,
    OutOfMemoryError,
    ShapeError,
    Status,
    UnsupportedError,
    CancelledError,
    Cancelled,
    check as _check,
    pythonize,
    error_class,
)

__all__ = [
    "Quantizer", "QuantResult", "BinaryResult", "Method", "QuantizerKind", "Backend",
    "Objective", "DType", "Status", "CONFIG_FIELDS", "version", "version_number",
    "build_info", "backend_available", "available_backends", "num_groups",
    "f32_to_half", "half_to_f32", "GptaqError", "InvalidArgumentError", "DTypeError",
    "ClosedError", "ShapeError", "NonFiniteError", "NoDataError",
    "NotPositiveDefiniteError", "OutOfMemoryError", "BackendUnavailableError",
    "DeviceError", "FileIOError", "FormatError", "UnsupportedError", "BusyError",
    "InternalError", "CancelledError", "Cancelled", "error_class", "lowlevel",
    "Phase", "LogLevel", "StatsMode", "StatsBuffers", "stats_file_info", "StatsFileInfo",
    "GptqFormat", "gptq_shapes", "gptq_pack", "gptq_unpack", "GptqPacked", "GptqUnpacked",
    "quantize_config", "write_quantize_config", "read_quantize_config",
    "SafetensorsReader", "SafetensorsWriter", "load_safetensors", "save_safetensors",
    "IMatrix", "IMatrixFormat", "lutgemm_pack", "lutgemm_unpack", "LutGemmPacked",
    "LutGemmUnpacked", "NpyReader", "npy_load", "npy_save",
]

lowlevel = _ll


# ---- enumerations ------------------------------------------------------------------

class Method(IntEnum):
    """How quantization error propagates (gptaq_method)."""

    RTN = _ll.GPTAQ_METHOD_RTN
    GPTQ = _ll.GPTAQ_METHOD_GPTQ
    GPTAQ = _ll.GPTAQ_METHOD_GPTAQ


class QuantizerKind(IntEnum):
    """How one column is rounded (gptaq_quantizer_kind)."""

    UNIFORM = _ll.GPTAQ_QUANTIZER_UNIFORM
    BINARY = _ll.GPTAQ_QUANTIZER_BINARY


class Backend(IntEnum):
    """Where the work runs (gptaq_backend)."""

    AUTO = _ll.GPTAQ_BACKEND_AUTO
    CPU = _ll.GPTAQ_BACKEND_CPU
    CUDA = _ll.GPTAQ_BACKEND_CUDA


class Objective(IntEnum):
    """GPTQT's scale / level-set search objective (gptaq_objective)."""

    OUTPUT = _ll.GPTAQ_OBJECTIVE_OUTPUT
    HESSIAN = _ll.GPTAQ_OBJECTIVE_HESSIAN
    WEIGHT = _ll.GPTAQ_OBJECTIVE_WEIGHT


class DType(IntEnum):
    """Element types of calibration batches (gptaq_dtype)."""

    F32 = _ll.GPTAQ_DTYPE_F32
    F16 = _ll.GPTAQ_DTYPE_F16
    BF16 = _ll.GPTAQ_DTYPE_BF16


EnumLike = Union[str, int, IntEnum]

# Every gptaq_config field (except struct_size) in declaration order, with its kind:
# "int", "float", "bool" or the IntEnum class of the values.
CONFIG_FIELDS: Dict[str, Any] = {
    "method": Method,
    "bits": "int",
    "group_size": "int",
    "sym": "bool",
    "act_order": "bool",
    "static_groups": "bool",
    "mse": "bool",
    "block_size": "int",
    "backend": Backend,
    "device": "int",
    "num_threads": "int",
    "damp_percent": "float",
    "damp_retries": "int",
    "alpha": "float",
    "mse_norm": "float",
    "mse_grid": "int",
    "mse_max_shrink": "float",
    "quantizer": QuantizerKind,
    "hyper_bits": "int",
    "explore_bits": "int",
    "explore_split": "int",
    "objective": Objective,
    "act_group_aware": "bool",
    "failsafe_tokens": "int",
}


# ---- library information -----------------------------------------------------------

def version() -> str:
    """The version of the loaded libgptaq, e.g. ``"0.1.0"``."""
    return _ll.gptaq_version_string()


def version_number() -> int:
    """The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH."""
    return int(_ll.gptaq_version_number())


def build_info() -> str:
    """One line describing the library build: version, backends compiled in, BLAS."""
    return _ll.gptaq_build_info()


def _enum(cls: Any, value: EnumLike, name: str) -> IntEnum:
    if value is None:
        raise DTypeError(f"{name} is None; expected a str or int", Status.INVALID_ARGUMENT)
    if isinstance(value, str):
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = [m.name.lower() for m in cls]
            if cls is Method:
                names.append("gptqt")
            choices = ", ".join(names)
            raise InvalidArgumentError(
                f"{name}={value!r} is not one of: {choices}", Status.INVALID_ARGUMENT) from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DTypeError(f"{name} must be a str or int, not {type(value).__name__}",
                         Status.INVALID_ARGUMENT)
    try:
        return cls(int(value))
    except ValueError:
        raise InvalidArgumentError(f"{name}={value!r} is not a valid {cls.__name__}",
                                   Status.INVALID_ARGUMENT) from None


def backend_available(backend: EnumLike) -> bool:
    """Whether `backend` ("cpu", "cuda", "auto" or a :class:`Backend`) can be used now:
    compiled in and, for CUDA, a device answers."""
    return bool(_ll.gptaq_backend_available(int(_enum(Backend, backend, "backend"))))


def available_backends() -> List[str]:
    """The concrete backends usable in this process, e.g. ``["cpu"]`` or ``["cpu", "cuda"]``."""
    return [b.name.lower() for b in (Backend.CPU, Backend.CUDA) if backend_available(b)]


def num_groups(columns: int, group_size: int) -> int:
    """Quantization groups per row: ceil(columns / group_size), or 1 for group_size -1."""
    n = int(_ll.gptaq_num_groups(int(columns), int(group_size)))
    if n < 0:
        raise InvalidArgumentError(
            f"no group count for columns={columns}, group_size={group_size}",
            Status.INVALID_ARGUMENT)
    return n


__version__ = version()
if version_number() != _ll.GPTAQ_VERSION_NUMBER:
    warnings.warn(f"gptaq: the loaded libgptaq is {version()} but the binding was built "
                  f"for {_ll.GPTAQ_VERSION_NUMBER}", RuntimeWarning)


# ---- array handling ----------------------------------------------------------------

def _half_dtype(dtype: Any) -> Optional[DType]:
    """Map a user dtype spec ("float16", "bfloat16", np.float32, DType...) to DType."""
    if dtype is None:
        return None
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str) and dtype.lower() in ("bfloat16", "bf16"):
        return DType.BF16
    if isinstance(dtype, str) and dtype.lower() in ("f16", "half"):
        return DType.F16
    if isinstance(dtype, str) and dtype.lower() in ("f32",):
        return DType.F32
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"dtype={dtype!r} is not float32, float16 or bfloat16",
                         Status.INVALID_ARGUMENT) from None
    if d == np.float32:
        return DType.F32
    if d == np.float16:
        return DType.F16
    if d.name == "bfloat16":
        return DType.BF16
    raise DTypeError(f"dtype={dtype!r} is not float32, float16 or bfloat16",
                     Status.INVALID_ARGUMENT)


def _torch_bf16_bits(x: Any) -> Optional[np.ndarray]:
    """A CPU torch.bfloat16 tensor as a uint16 view of its bits (numpy has no bfloat16)."""
    if type(x).__module__.split(".")[0] != "torch":
        return None
    import torch  # only reached when a torch tensor was passed
    if not isinstance(x, torch.Tensor) or x.dtype != torch.bfloat16 or x.device.type != "cpu":
        return None
    return x.detach().view(torch.int16).numpy().view(np.uint16)


def _as_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if x is None:
        raise DTypeError(f"{name} is None; expected an array", Status.INVALID_ARGUMENT)
    try:
        return np.asarray(x)
    except Exception as e:  # e.g. a torch tensor that requires grad or lives on a GPU
        raise DTypeError(f"{name}: cannot be viewed as a numpy array ({e}); pass a CPU "
                         "array of float32, float16 or bfloat16", Status.INVALID_ARGUMENT) from e


def _resolve_dtype(a: np.ndarray, name: str, dtype: Optional[DType]) -> DType:
    d = a.dtype
    if not d.isnative:
        raise DTypeError(f"{name} has non-native byte order ({d.str}); convert with "
                         f"{name}.astype({d.newbyteorder('=').name})", Status.INVALID_ARGUMENT)
    inferred: Optional[DType] = None
    if d == np.float32:
        inferred = DType.F32
    elif d == np.float16:
        inferred = DType.F16
    elif d.name == "bfloat16" and d.itemsize == 2:
        inferred = DType.BF16
    if dtype is None:
        if inferred is not None:
            return inferred
        if d == np.uint16:
            raise DTypeError(f"{name} is uint16: say what its bits are with dtype='bfloat16' "
                             "or dtype='float16'", Status.INVALID_ARGUMENT)
        raise DTypeError(f"{name} has dtype {d}; expected float32, float16 or bfloat16 "
                         "(bfloat16 also as uint16 bits with dtype='bfloat16')",
                         Status.INVALID_ARGUMENT)
    if dtype == DType.F32 and inferred == DType.F32:
        return dtype
    if dtype in (DType.F16, DType.BF16) and (inferred == dtype or d == np.uint16):
        return dtype
    raise DTypeError(f"{name} has dtype {d}, which does not hold {dtype.name.lower()} "
                     "values", Status.INVALID_ARGUMENT)


def _require_contiguous(a: np.ndarray, name: str) -> None:
    if not a.flags.c_contiguous:
        raise InvalidArgumentError(
            f"{name} is not C-contiguous (shape {a.shape}, strides {a.strides}); gptaq "
            f"reads inputs in place: pass np.ascontiguousarray({name})",
            Status.INVALID_ARGUMENT)


def _batch(x: Any, name: str, columns: int, dtype: Optional[DType]) -> Tuple[np.ndarray, DType, int]:
    """Validate a calibration batch; returns a 2-D no-copy view, its DType and tokens."""
    bits = _torch_bf16_bits(x)
    if bits is not None:
        if dtype not in (None, DType.BF16):
            raise DTypeError(f"{name} is a bfloat16 tensor but dtype={dtype.name.lower()}",
                             Status.INVALID_ARGUMENT)
        x, dtype = bits, DType.BF16
    a = _as_array(x, name)
    dt = _resolve_dtype(a, name, dtype)
    if a.ndim == 0 or a.shape[-1] != columns:
        raise ShapeError(f"{name} has shape {a.shape}: its last dimension must be "
                         f"columns = {columns}", Status.SHAPE)
    _require_contiguous(a, name)
    tokens = a.size // columns
    view = a.reshape(tokens, columns)
    if dt != DType.F32:
        view = view.view(np.uint16)
    return view, dt, tokens


def _weight(w: Any, dtype: Optional[DType]) -> np.ndarray:
    """A float32 C-contiguous 2-D weight; fp16/bf16 are widened (exactly)."""
    bits = _torch_bf16_bits(w)
    if bits is not None:
        w, dtype = bits, DType.BF16
    a = _as_array(w, "weight")
    dt = _resolve_dtype(a, "weight", dtype)
    if a.ndim != 2:
        raise ShapeError(f"weight has shape {a.shape}: expected (rows, columns)", Status.SHAPE)
    _require_contiguous(a, "weight")
    if dt == DType.F32:
        return a
    return half_to_f32(a, dt)


def f32_to_half(x: Any, dtype: Union[str, DType] = "bfloat16") -> np.ndarray:
    """Round float32 values to float16/bfloat16 (nearest even) with the library's
    converter; returns the uint16 bit patterns, same shape."""
    dt = _half_dtype(dtype)
    if dt not in (DType.F16, DType.BF16):
        raise DTypeError("dtype must be float16 or bfloat16", Status.INVALID_ARGUMENT)
    src = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(src.shape, dtype=np.uint16)
    _check(_ll.gptaq_f32_to_half(int(dt), src, out, src.size))
    return out


def half_to_f32(bits: Any, dtype: Union[str, DType] = "bfloat16") -> np.ndarray:
    """Widen float16/bfloat16 values (arrays of those dtypes, or uint16 bit patterns)
    to float32 (exact); same shape."""
    dt = _half_dtype(dtype)
    if dt not in (DType.F16, DType.BF16):
        raise DTypeError("dtype must be float16 or bfloat16", Status.INVALID_ARGUMENT)
    a = _as_array(bits, "bits")
    if a.dtype.itemsize != 2:
        raise DTypeError(f"expected 16-bit values, got dtype {a.dtype}", Status.INVALID_ARGUMENT)
    src = np.ascontiguousarray(a).view(np.uint16)
    out = np.empty(src.shape, dtype=np.float32)
    _check(_ll.gptaq_half_to_f32(int(dt), src, out, src.size))
    return out


# ---- results -----------------------------------------------------------------------

@dataclass(frozen=True)
class _SolveInfo:
    loss: float
    """sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN)."""
    n_groups: int
    damp_used: float
    damp_retries: int
    factor_reused: bool
    seconds: float
    tokens: float
    """calibration tokens the statistics held at the solve."""
    failsafe_used: bool
    """True when failsafe_tokens made this a round-to-nearest solve."""

    def arrays(self) -> Dict[str, np.ndarray]:
        """The array fields as a dict (omits None)."""
        out = {}
        for f in _dc_fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                out[f.name] = v
        return out

    def save(self, path: str) -> None:
        """Save the arrays and scalars to an .npz file (np.savez)."""
        scalars = {f.name: np.asarray(getattr(self, f.name)) for f in _dc_fields(self)
                   if not isinstance(getattr(self, f.name), np.ndarray)
                   and getattr(self, f.name) is not None}
        np.savez(path, **self.arrays(), **scalars)


@dataclass(frozen=True)
class QuantResult(_SolveInfo):
    """The uniform-grid (GPTQ) quantization of one weight.

    codes (rows, columns) uint8 in [0, 2^bits-1]; scales and zeros (rows, n_groups)
    float32; g_idx (columns,) int32, the group that quantized each column; dequant
    (rows, columns) float32 = scale * (code - zero), or None when not asked for.
    """

    codes: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    scales: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    zeros: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    g_idx: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    dequant: Optional[np.ndarray] = field(default=None, repr=False)


@dataclass(frozen=True)
class BinaryResult(_SolveInfo):
    """The GPTQT binary-coding quantization of one weight (k = bits).

    codes (rows, columns) uint8 level indices in [0, 2^k): bit i (most significant
    first) is the sign of alpha_i; alpha (rows, n_groups, k) and bias (rows, n_groups)
    float32; g_idx (columns,) int32; dequant (rows, columns) = sum_i +-alpha_i + bias,
    or None; level_set / scale_index: the chosen candidate level set and scale.
    """

    level_set: int = -1
    scale_index: int = -1
    codes: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    alpha: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    bias: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    g_idx: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    dequant: Optional[np.ndarray] = field(default=None, repr=False)


# ---- the quantizer -----------------------------------------------------------------

def _set_field(cfg: Any, name: str, value: Any) -> None:
    kind = CONFIG_FIELDS.get(name)
    if kind is None:
        raise TypeError(f"unknown gptaq config field {name!r}; known: "
                        + ", ".join(CONFIG_FIELDS))
    if kind == "bool":
        if not isinstance(value, (bool, int, np.integer)):
            raise DTypeError(f"{name} must be a bool, not {type(value).__name__}",
                             Status.INVALID_ARGUMENT)
        v: Any = int(value)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DTypeError(f"{name} must be an int, not {type(value).__name__}",
                             Status.INVALID_ARGUMENT)
        v = int(value)
        if not -2**31 <= v < 2**31:
            raise InvalidArgumentError(f"{name}={v} does not fit in int32", Status.INVALID_ARGUMENT)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise DTypeError(f"{name} must be a float, not {type(value).__name__}",
                             Status.INVALID_ARGUMENT)
        v = float(value)
    else:
        v = int(_enum(kind, value, name))
    setattr(cfg, name, v)


def _config_dict(cfg: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, kind in CONFIG_FIELDS.items():
        v = getattr(cfg, name)
        if kind == "bool":
            out[name] = bool(v)
        elif kind in ("int", "float"):
            out[name] = v
        else:
            out[name] = kind(v)
    return out


def _apply_method(fields: Dict[str, Any]) -> Dict[str, Any]:
    """method="gptqt" is GPTQ's sweep with the binary quantizer."""
    m = fields.get("method")
    if isinstance(m, str) and m.strip().lower() == "gptqt":
        q = fields.get("quantizer")
        if q is not None and _enum(QuantizerKind, q, "quantizer") != QuantizerKind.BINARY:
            raise InvalidArgumentError("method='gptqt' is the binary quantizer; it cannot be "
                                       "combined with quantizer='uniform'",
                                       Status.INVALID_ARGUMENT)
        fields = dict(fields, method=Method.GPTQ, quantizer=QuantizerKind.BINARY)
    return fields


# ---- progress, cancellation and log messages -----------------------------------------

class Phase(IntEnum):
    """What a progress report is about (gptaq_phase)."""

    STATISTICS = _ll.GPTAQ_PHASE_STATISTICS
    FACTORIZATION = _ll.GPTAQ_PHASE_FACTORIZATION
    SWEEP = _ll.GPTAQ_PHASE_SWEEP
    PACKING = _ll.GPTAQ_PHASE_PACKING


class LogLevel(IntEnum):
    """Severity of a library log message (gptaq_log_level)."""

    DEBUG = _ll.GPTAQ_LOG_DEBUG
    INFO = _ll.GPTAQ_LOG_INFO
    WARN = _ll.GPTAQ_LOG_WARN


_LOGGING_LEVEL = {LogLevel.DEBUG: logging.DEBUG, LogLevel.INFO: logging.INFO,
                  LogLevel.WARN: logging.WARNING}

#: The logger that receives the library's messages by default ("gptaq").
logger = logging.getLogger("gptaq")


class _TqdmProgress:
    """Drives a tqdm-like bar (``update``, ``total``, ``n``, optional ``set_description``
    and ``refresh``/``reset``): one bar, restarted at each phase."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.phase: Optional[int] = None

    def __call__(self, phase: "Phase", done: int, total: int) -> bool:
        bar = self.bar
        if phase != self.phase:
            self.phase = phase
            if hasattr(bar, "reset"):
                bar.reset(total=total)
            else:
                bar.total, bar.n = total, 0
            if hasattr(bar, "set_description"):
                bar.set_description(phase.name.lower())
        elif getattr(bar, "total", None) != total:
            bar.total = total
        step = done - int(getattr(bar, "n", 0))
        if step > 0:
            bar.update(step)
        return False


def _progress_callable(progress: Any) -> Optional[Callable[["Phase", int, int], Any]]:
    if progress is None:
        return None
    if callable(progress):
        return progress
    if hasattr(progress, "update") and hasattr(progress, "total"):
        return _TqdmProgress(progress)
    raise DTypeError(f"progress must be a callable (phase, done, total) or a tqdm bar, not "
                     f"{type(progress).__name__}", Status.INVALID_ARGUMENT)


def _log_callable(log: Any) -> Optional[Callable[["LogLevel", str], Any]]:
    if log is None or log is True:
        log = logger
    if log is False:
        return None
    if isinstance(log, logging.Logger):
        lg = log
        return lambda level, message: lg.log(_LOGGING_LEVEL.get(level, logging.INFO), message)
    if callable(log):
        return log
    raise DTypeError(f"log must be a callable (level, message), a logging.Logger, None "
                     f"(the 'gptaq' logger) or False (drop), not {type(log).__name__}",
                     Status.INVALID_ARGUMENT)


class _Callbacks:
    """The object the C trampolines call (see gptaq_python.i): forwards to the user's
    progress callable and log sink, and keeps the first exception that escaped them."""

    def __init__(self) -> None:
        self.progress_fn: Optional[Callable[..., Any]] = None
        self.log_fn: Optional[Callable[..., Any]] = None
        self.error: Optional[BaseException] = None

    def progress(self, phase: int, done: int, total: int) -> bool:
        if self.error is not None:
            return True
        fn = self.progress_fn
        if fn is None:
            return False
        try:
            p = Phase(phase)
        except ValueError:
            return False  # a phase this version does not know: not reported
        try:
            return bool(fn(p, done, total))
        except BaseException as e:  # noqa: B902 - re-raised by the caller after the call
            self.error = e
            return True

    def log(self, level: int, message: str) -> None:
        fn = self.log_fn
        if fn is None:
            return
        try:
            lv: Any = LogLevel(level)
        except ValueError:
            lv = level
        try:
            fn(lv, message)
        except BaseException as e:  # noqa: B902
            if self.error is None:
                self.error = e


class _Handle:
    """Owns one gptaq_ctx; frees it when the last reference goes (the Quantizer, or array
    views of its statistics buffers that outlive it)."""

    def __init__(self, ctx: Any, callbacks: _Callbacks) -> None:
        self.ctx = ctx
        self.callbacks = callbacks
        self.progress_armed = False

    def __del__(self) -> None:
        ctx, self.ctx = getattr(self, "ctx", None), None
        if ctx is not None and _ll is not None:
            _ll.gptaq_ctx_free(ctx)


# ---- statistics exchange -----------------------------------------------------------

class StatsMode(IntEnum):
    """How loaded / deserialized statistics combine with a Quantizer's (gptaq_stats_mode)."""

    REPLACE = _ll.GPTAQ_STATS_REPLACE
    ACCUMULATE = _ll.GPTAQ_STATS_ACCUMULATE


@dataclass(frozen=True)
class StatsBuffers:
    """NumPy views of a Quantizer's statistics (host memory, CPU backend), for an
    in-place all-reduce: ``xx`` (columns, columns) float32, ``dx`` (columns, columns)
    float32 or None (GPTAQ only), ``xsum`` (columns,) float64, ``tokens`` (1,) float64.
    After writing them call :meth:`Quantizer.stats_commit`. The views keep the native
    memory alive even after the Quantizer is closed."""

    xx: np.ndarray
    dx: Optional[np.ndarray]
    xsum: np.ndarray
    tokens: np.ndarray

    def arrays(self) -> List[np.ndarray]:
        """The views present, in the order xx, dx (GPTAQ), xsum, tokens."""
        return [a for a in (self.xx, self.dx, self.xsum, self.tokens) if a is not None]


def _view(addr: int, ctype: Any, shape: Tuple[int, ...], keep: Any) -> np.ndarray:
    n = int(np.prod(shape))
    arr = (ctype * n).from_address(addr)
    arr._gptaq_keep = keep  # the ctypes array (the numpy base) keeps the context alive
    return np.ctypeslib.as_array(arr).reshape(shape)


@dataclass(frozen=True)
class StatsFileInfo:
    """The header of a statistics file (:func:`stats_file_info`)."""

    columns: int
    method: Method
    has_cross: bool
    tokens: float


def _path(path: Any, name: str = "path") -> str:
    if path is None:
        raise DTypeError(f"{name} is None; expected a str or os.PathLike",
                         Status.INVALID_ARGUMENT)
    try:
        p = os.fspath(path)
    except TypeError:
        raise DTypeError(f"{name} must be a str or os.PathLike, not {type(path).__name__}",
                         Status.INVALID_ARGUMENT) from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p:
        raise InvalidArgumentError(f"{name} is empty", Status.INVALID_ARGUMENT)
    if "\0" in p:
        raise InvalidArgumentError(f"{name} contains a NUL character", Status.INVALID_ARGUMENT)
    return p


def stats_file_info(path: Any) -> StatsFileInfo:
    """Read and verify the header of a statistics file written by
    :meth:`Quantizer.save_stats` (e.g. to create a matching Quantizer first)."""
    st, columns, method, has_cross, tokens = _ll.gptaq_stats_file_info(_path(path))
    _check(st)
    return StatsFileInfo(int(columns), Method(method), bool(has_cross), float(tokens))


def _mode(mode: Any) -> int:
    return int(_enum(StatsMode, mode, "mode"))


# ---- the quantizer -----------------------------------------------------------------

class Quantizer:
    """Calibration statistics of one layer input plus the solver (a gptaq_ctx).

    ``Quantizer(columns, method=..., **config)``: ``columns`` is the input width
    (in_features). Every gptaq_config field is a keyword argument; fields left as None
    keep the library's defaults:

    method          "rtn" | "gptq" (default) | "gptaq" | "gptqt" (GPTQ + binary quantizer)
    bits            2..8 uniform, 2..4 binary (default 4)
    group_size      columns per group, -1 = one group per row (default 128)
    sym             symmetric grid (default True)
    act_order       quantize columns by decreasing diag(H) (default False)
    act_group_aware group-aware reordering (GAR): act-order inside each group, groups
                    kept contiguous, g_idx trivial; needs group_size >= 1, excludes
                    act_order (default False)
    failsafe_tokens quantize by round-to-nearest when the statistics hold fewer tokens
                    than this (0 = off, the default); ``result.failsafe_used`` says so
    static_groups   group params from the original weight (default False)
    mse             MSE clip search (default False); mse_norm 2.4, mse_grid 100,
                    mse_max_shrink 0.8
    block_size      lazy block width 1..4096 (default 128)
    backend         "auto" (default) | "cpu" | "cuda"; device: CUDA ordinal (0)
    num_threads     CPU threads, 0 = all (default 0)
    damp_percent    relative damping (0.01); damp_retries x10 retries (4)
    alpha           GPTAQ's asymmetry weight (0.25)
    quantizer       "uniform" (default) | "binary" (GPTQT)
    hyper_bits, explore_bits, explore_split, objective ("output" | "hessian" |
                    "weight"): the GPTQT search (see gptaq.h)

    progress        callable ``fn(phase: Phase, done, total)`` called during long calls
                    (add_batch, solve) from the calling thread; a truthy return cancels
                    the call (:class:`CancelledError`, nothing changed). A tqdm bar is
                    accepted too. Each call may override it with its own ``progress=``.
    log             where the library's messages go: None (default) = the ``gptaq``
                    logger of :mod:`logging`, a ``logging.Logger``, a callable
                    ``fn(level: LogLevel, message)``, or False to drop them.

    Ctrl-C during a solve cancels it (the Quantizer is unchanged) and raises
    KeyboardInterrupt; during add_batch too when a progress callable is set (without
    one a batch, short by nature, finishes first: cancelling a batch needs a copy of the
    statistics, which the library makes only when progress is reported). Use as a context manager or call :meth:`close`; the context is
    also freed when the object is garbage-collected.

    Thread safety: a Quantizer used from two threads at the same time raises
    :class:`BusyError` (status BUSY) in the second thread, as the C library does; use
    one Quantizer per thread or your own lock. Different Quantizers run in parallel
    (the GIL is released during the library's work).
    """

    def __init__(self, columns: int, method: Optional[EnumLike] = None, *,
                 bits: Optional[int] = None, group_size: Optional[int] = None,
                 sym: Optional[bool] = None, act_order: Optional[bool] = None,
                 static_groups: Optional[bool] = None, mse: Optional[bool] = None,
                 block_size: Optional[int] = None, backend: Optional[EnumLike] = None,
                 device: Optional[int] = None, num_threads: Optional[int] = None,
                 damp_percent: Optional[float] = None, damp_retries: Optional[int] = None,
                 alpha: Optional[float] = None, mse_norm: Optional[float] = None,
                 mse_grid: Optional[int] = None, mse_max_shrink: Optional[float] = None,
                 quantizer: Optional[EnumLike] = None, hyper_bits: Optional[int] = None,
                 explore_bits: Optional[int] = None, explore_split: Optional[int] = None,
                 objective: Optional[EnumLike] = None,
                 act_group_aware: Optional[bool] = None,
                 failsafe_tokens: Optional[int] = None,
                 progress: Any = None, log: Any = None) -> None:
        self._h: Optional[_Handle] = None
        self._lock = threading.Lock()
        given = {k: v for k, v in locals().items()
                 if k in CONFIG_FIELDS and v is not None}
        if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)):
            raise DTypeError(f"columns must be an int, not {type(columns).__name__}",
                             Status.INVALID_ARGUMENT)
        if not -2**63 <= int(columns) < 2**63:
            raise ShapeError(f"columns={int(columns)} does not fit in int64", Status.SHAPE)
        cb = _Callbacks()
        cb.progress_fn = _progress_callable(progress)
        cb.log_fn = _log_callable(log)
        cfg = _ll.gptaq_config()
        for name, value in _apply_method(given).items():
            _set_field(cfg, name, value)
        status, ctx = _ll.gptaq_ctx_create(int(columns), cfg)
        _check(status)
        h = _Handle(ctx, cb)
        _check(_ll.gptaq_py_set_callbacks(ctx, cb, 0), ctx)
        self._h = h
        self._progress = cb.progress_fn
        self._columns = int(columns)
        self._has_cross = cfg.method == Method.GPTAQ

    # -- lifetime --
    def close(self) -> None:
        """Free the native context. Idempotent; later calls raise :class:`ClosedError`.
        (Arrays from :meth:`stats_buffers` keep the native memory alive until they go.)"""
        if self._h is None:
            return
        if not self._lock.acquire(blocking=False):
            raise BusyError("cannot close the Quantizer while another thread uses it",
                            Status.BUSY)
        try:
            self._h = None
        finally:
            self._lock.release()

    def __enter__(self) -> "Quantizer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._h is None

    def _acquire(self) -> _Handle:
        if self._h is None:
            raise ClosedError("the Quantizer is closed", Status.INVALID_ARGUMENT)
        if not self._lock.acquire(blocking=False):
            raise BusyError("the Quantizer is being used by another thread at the same time",
                            Status.BUSY)
        h = self._h
        if h is None:
            self._lock.release()
            raise ClosedError("the Quantizer is closed", Status.INVALID_ARGUMENT)
        return h

    def _run(self, h: _Handle, fn: Callable[..., Any], *args: Any,
             progress: Any = None, always: bool = False) -> Any:
        """A long call on the context with the callbacks armed; raises what a callback
        raised (KeyboardInterrupt included) or the status's exception. The progress
        trampoline is armed when a progress callable is set, and for `always` calls
        (solves: Ctrl-C cancels them). Batches without a progress callable run unarmed:
        with a progress callback the library copies the statistics before each batch."""
        cb = h.callbacks
        saved = cb.progress_fn
        if progress is not None:
            cb.progress_fn = _progress_callable(progress)
        arm = always or cb.progress_fn is not None
        if arm != h.progress_armed:
            st = _ll.gptaq_py_set_callbacks(h.ctx, cb, int(arm))
            if st != Status.OK:
                cb.progress_fn = saved
                _check(st, h.ctx)
            h.progress_armed = arm
        cb.error = None
        try:
            r = fn(h.ctx, *args)
        finally:
            cb.progress_fn = saved
        err, cb.error = cb.error, None
        st = r[0] if isinstance(r, (list, tuple)) else r
        if err is not None:
            # What a callback raised (the progress callable's exception, or
            # KeyboardInterrupt from Ctrl-C) is what the caller sees; the call was
            # cancelled by it and changed nothing.
            if st != Status.OK or not isinstance(err, Exception):
                if st == Status.CANCELLED:
                    raise err from CancelledError(pythonize(_ll.gptaq_swig_errmsg(h.ctx, st)),
                                                  st)
                raise err
            warnings.warn(f"gptaq: the log callback raised {err!r}", RuntimeWarning)
        _check(st, h.ctx)
        return r

    # -- information --
    @property
    def columns(self) -> int:
        """The input width (in_features) the context was created for."""
        return self._columns

    @property
    def num_tokens(self) -> int:
        """Tokens accumulated so far (masked-out tokens not counted)."""
        h = self._acquire()
        try:
            return int(_ll.gptaq_ctx_num_tokens(h.ctx))
        finally:
            self._lock.release()

    @property
    def backend(self) -> Backend:
        """The backend the context actually runs on (CPU or CUDA)."""
        h = self._acquire()
        try:
            return Backend(_ll.gptaq_ctx_backend(h.ctx))
        finally:
            self._lock.release()

    @property
    def config(self) -> Dict[str, Any]:
        """The context's configuration, every field (a fresh dict)."""
        h = self._acquire()
        try:
            cfg = _ll.gptaq_config()
            _check(_ll.gptaq_ctx_get_config(h.ctx, cfg))
            return _config_dict(cfg)
        finally:
            self._lock.release()

    @property
    def num_groups(self) -> int:
        """Groups per row in the outputs for the current configuration."""
        return num_groups(self._columns, self.config["group_size"])

    def __repr__(self) -> str:
        if self._h is None:
            return "<gptaq.Quantizer closed>"
        c = self.config
        kind = "gptqt" if c["quantizer"] == QuantizerKind.BINARY else c["method"].name.lower()
        return (f"<gptaq.Quantizer columns={self._columns} method={kind} bits={c['bits']} "
                f"group_size={c['group_size']} tokens={self.num_tokens}>")

    # -- configuration and callbacks --
    def set_config(self, **changes: Any) -> None:
        """Change configuration fields, keeping the statistics (e.g. solve the same layer
        at other bits). The backend, device and GPTAQ-vs-others cannot change. On any
        error the old configuration stays."""
        h = self._acquire()
        try:
            cfg = _ll.gptaq_config()
            _check(_ll.gptaq_ctx_get_config(h.ctx, cfg))
            for name, value in _apply_method(changes).items():
                _set_field(cfg, name, value)
            _check(_ll.gptaq_ctx_set_config(h.ctx, cfg), h.ctx)
        finally:
            self._lock.release()

    def set_progress(self, progress: Any) -> None:
        """Set (a callable or tqdm bar) or clear (None) the default progress callback."""
        fn = _progress_callable(progress)
        h = self._acquire()
        try:
            h.callbacks.progress_fn = self._progress = fn
        finally:
            self._lock.release()

    def set_log(self, log: Any) -> None:
        """Where library messages go: None = the ``gptaq`` logger, a Logger, a callable
        ``fn(level, message)``, or False to drop them."""
        fn = _log_callable(log)
        h = self._acquire()
        try:
            h.callbacks.log_fn = fn
        finally:
            self._lock.release()

    def reset(self) -> None:
        """Forget all statistics (as if freshly created)."""
        h = self._acquire()
        try:
            _check(_ll.gptaq_ctx_reset(h.ctx), h.ctx)
        finally:
            self._lock.release()

    def set_stream(self, stream: Any) -> None:
        """CUDA only: enqueue work on `stream` (an int address, an object with a
        ``cuda_stream`` attribute such as a torch stream, or None for the own stream).
        On the CPU backend only None is accepted (UnsupportedError otherwise)."""
        if stream is not None and not isinstance(stream, int):
            if not hasattr(stream, "cuda_stream"):
                raise DTypeError("stream must be None, an int address or an object with a "
                                 f"cuda_stream attribute, not {type(stream).__name__}",
                                 Status.INVALID_ARGUMENT)
            stream = int(getattr(stream, "cuda_stream"))
        if isinstance(stream, int) and not 0 <= stream < 2**64:
            raise InvalidArgumentError(f"stream={stream} is not an address",
                                       Status.INVALID_ARGUMENT)
        h = self._acquire()
        try:
            _check(_ll.gptaq_ctx_set_stream(h.ctx, stream or None), h.ctx)
        finally:
            self._lock.release()

    # -- calibration --
    def add_batch(self, x_q: Any, x_fp: Any = None, *, mask: Any = None,
                  dtype: Optional[Union[str, DType, np.dtype]] = None,
                  progress: Any = None) -> None:
        """Accumulate one calibration batch.

        x_q   (..., columns): the input the layer sees (earlier layers quantized).
        x_fp  (..., columns): the full-precision model's input at the same positions;
              required for method "gptaq", must be None otherwise.
        mask  (...) bool/uint8 per token (leading dims of x_q): 0 = padding, left out.
        dtype how to read the arrays when their dtype does not say: "bfloat16" or
              "float16" for uint16 bit patterns. Default: from the arrays (float32,
              float16, ml_dtypes.bfloat16).
        progress  a progress callable for this call only.

        No copy is made. NaN/Inf rejects the whole batch (NonFiniteError) and leaves the
        statistics unchanged.
        """
        dt_hint = _half_dtype(dtype)
        xq, dt, tokens = _batch(x_q, "x_q", self._columns, dt_hint)
        if self._has_cross and x_fp is None and tokens > 0:
            raise InvalidArgumentError(
                "method 'gptaq' needs x_fp, the full-precision model's input at the same "
                "positions: add_batch(x_q, x_fp)", Status.INVALID_ARGUMENT)
        if not self._has_cross and x_fp is not None:
            raise InvalidArgumentError(
                "x_fp is only used by method 'gptaq'; call add_batch(x_q) or create the "
                "Quantizer with method='gptaq'", Status.INVALID_ARGUMENT)
        xfp = None
        if x_fp is not None:
            xfp, dt2, tokens2 = _batch(x_fp, "x_fp", self._columns, dt_hint)
            if dt2 != dt:
                raise DTypeError(f"x_q is {dt.name.lower()} but x_fp is {dt2.name.lower()}; "
                                 "both must have the same dtype", Status.INVALID_ARGUMENT)
            if np.shape(xfp) != np.shape(xq) or tokens2 != tokens:
                raise ShapeError(f"x_fp has shape {_shape_of(x_fp)} but x_q has "
                                 f"{_shape_of(x_q)}", Status.SHAPE)
        m = None
        if mask is not None:
            ma = _as_array(mask, "mask")
            if ma.dtype not in (np.bool_, np.uint8, np.int8):
                raise DTypeError(f"mask has dtype {ma.dtype}; expected bool or uint8",
                                 Status.INVALID_ARGUMENT)
            lead = _shape_of(x_q)[:-1]
            if ma.size != tokens or ma.shape != lead:
                raise ShapeError(f"mask has shape {ma.shape}; expected {lead} "
                                 "(one entry per token)", Status.SHAPE)
            _require_contiguous(ma, "mask")
            m = ma.reshape(-1).view(np.uint8)
        h = self._acquire()
        try:
            self._run(h, _ll.gptaq_add_batch_masked, xq, xfp, tokens, int(dt), m,
                      progress=progress)
        finally:
            self._lock.release()

    # -- solving --
    def solve(self, weight: Any, *, dequant: bool = True,
              dtype: Optional[Union[str, DType, np.dtype]] = None,
              progress: Any = None) -> Union[QuantResult, BinaryResult]:
        """Quantize one weight (rows, columns) against the statistics.

        float32 C-contiguous weights are read in place; float16/bfloat16 weights are
        widened to float32 first (exactly). Returns a :class:`QuantResult` for the
        uniform quantizer or a :class:`BinaryResult` for the binary one (GPTQT; the C
        function gptaq_solve_binary). The factorization is cached and reused by later
        solves until a batch is added or the configuration changes. ``dequant=False``
        skips the dequantized weight. ``progress``: a callable for this call only.
        """
        w = _weight(weight, _half_dtype(dtype))
        rows, cols = w.shape
        if rows < 1 or cols != self._columns:  # checked here too: outputs are sized by it
            raise ShapeError(
                f"weight has shape {w.shape}: expected (rows >= 1, {self._columns})"
                if cols == self._columns else
                f"weight has {cols} columns but the context was created for {self._columns}",
                Status.SHAPE)
        h = self._acquire()
        try:
            cfg = _ll.gptaq_config()
            _check(_ll.gptaq_ctx_get_config(h.ctx, cfg))
            binary = cfg.quantizer == QuantizerKind.BINARY
            G = _ll.gptaq_num_groups(self._columns, cfg.group_size)
            k = cfg.bits
            codes = np.empty((rows, cols), dtype=np.uint8)
            g_idx = np.empty((cols,), dtype=np.int32)
            dq = np.empty((rows, cols), dtype=np.float32) if dequant else None
            info = _ll.gptaq_solve_info()
            if binary:
                alpha = np.empty((rows, G, k), dtype=np.float32)
                bias = np.empty((rows, G), dtype=np.float32)
                self._run(h, _ll.gptaq_solve_binary, w, rows, cols, codes, alpha, bias,
                          g_idx, dq, info, progress=progress, always=True)
            else:
                scales = np.empty((rows, G), dtype=np.float32)
                zeros = np.empty((rows, G), dtype=np.float32)
                self._run(h, _ll.gptaq_solve, w, rows, cols, codes, scales, zeros, g_idx,
                          dq, info, progress=progress, always=True)
        finally:
            self._lock.release()
        common = dict(loss=float(info.loss), n_groups=int(info.n_groups),
                      damp_used=float(info.damp_used), damp_retries=int(info.damp_retries),
                      factor_reused=bool(info.factor_reused), seconds=float(info.seconds),
                      tokens=float(info.tokens), failsafe_used=bool(info.failsafe_used),
                      codes=codes, g_idx=g_idx, dequant=dq)
        if binary:
            return BinaryResult(level_set=int(info.level_set),
                                scale_index=int(info.scale_index), alpha=alpha, bias=bias,
                                **common)
        return QuantResult(scales=scales, zeros=zeros, **common)

    # -- statistics exchange (distributed calibration) --
    def merge(self, other: "Quantizer") -> None:
        """Add ``other``'s statistics into this Quantizer's (same columns and method
        family); ``other`` is unchanged."""
        if not isinstance(other, Quantizer):
            raise DTypeError(f"merge() takes a Quantizer, not {type(other).__name__}",
                             Status.INVALID_ARGUMENT)
        if other is self:
            raise InvalidArgumentError("cannot merge a Quantizer into itself",
                                       Status.INVALID_ARGUMENT)
        h = self._acquire()
        try:
            ho = other._acquire()
            try:
                _check(_ll.gptaq_stats_merge(h.ctx, ho.ctx), h.ctx)
            finally:
                other._lock.release()
        finally:
            self._lock.release()

    def save_stats(self, path: Any) -> None:
        """Write the statistics to a file (versioned, checksummed; written to a
        temporary name and renamed)."""
        p = _path(path)
        h = self._acquire()
        try:
            _check(_ll.gptaq_stats_save(h.ctx, p), h.ctx)
        finally:
            self._lock.release()

    def load_stats(self, path: Any, mode: EnumLike = "replace") -> None:
        """Read statistics written by :meth:`save_stats`, replacing ("replace") or adding
        to ("accumulate") this Quantizer's. A bad or mismatched file changes nothing."""
        p = _path(path)
        md = _mode(mode)
        h = self._acquire()
        try:
            _check(_ll.gptaq_stats_load(h.ctx, p, md), h.ctx)
        finally:
            self._lock.release()

    @property
    def serialized_size(self) -> int:
        """The size in bytes of :meth:`serialize`'s output."""
        h = self._acquire()
        try:
            st, n = _ll.gptaq_stats_serialized_size(h.ctx)
            _check(st, h.ctx)
            return int(n)
        finally:
            self._lock.release()

    def serialize(self, out: Any = None) -> Union[bytes, int]:
        """The statistics in the file format, as bytes; or, with ``out`` a writable
        buffer (bytearray, numpy uint8 array...) of at least :attr:`serialized_size`
        bytes, written there and the number of bytes returned."""
        h = self._acquire()
        try:
            st, n = _ll.gptaq_stats_serialized_size(h.ctx)
            _check(st, h.ctx)
            if out is None:
                buf = bytearray(n)
                st, written = _ll.gptaq_stats_serialize(h.ctx, buf, n)
                _check(st, h.ctx)
                return bytes(buf[:written])
            mv = memoryview(out)
            if mv.readonly:
                raise DTypeError("out is read-only", Status.INVALID_ARGUMENT)
            if not mv.c_contiguous:
                raise InvalidArgumentError("out is not C-contiguous", Status.INVALID_ARGUMENT)
            if mv.nbytes < n:
                raise ShapeError(f"out holds {mv.nbytes} bytes; the statistics need {n}",
                                 Status.SHAPE)
            st, written = _ll.gptaq_stats_serialize(h.ctx, out, mv.nbytes)
            _check(st, h.ctx)
            return int(written)
        finally:
            self._lock.release()

    def deserialize(self, data: Any, mode: EnumLike = "replace") -> None:
        """Load statistics from bytes made by :meth:`serialize` (any buffer: bytes,
        bytearray, numpy array), replacing or accumulating. Untrusted input is fully
        verified first; on any error nothing changes."""
        if data is None:
            raise DTypeError("data is None; expected bytes", Status.INVALID_ARGUMENT)
        try:
            mv = memoryview(data)
        except TypeError:
            raise DTypeError(f"data must be bytes-like, not {type(data).__name__}",
                             Status.INVALID_ARGUMENT) from None
        if not mv.c_contiguous:
            raise InvalidArgumentError("data is not C-contiguous", Status.INVALID_ARGUMENT)
        md = _mode(mode)
        h = self._acquire()
        try:
            _check(_ll.gptaq_stats_deserialize(h.ctx, mv.cast("B") if mv.ndim else mv,
                                               mv.nbytes, md), h.ctx)
        finally:
            self._lock.release()

    def stats_buffers(self) -> StatsBuffers:
        """NumPy views of the statistics for an in-place all-reduce (CPU backend; see
        :class:`StatsBuffers`). Call :meth:`stats_commit` after writing them. For the
        CUDA backend use :meth:`serialize` / :meth:`deserialize` or :meth:`merge`."""
        h = self._acquire()
        try:
            st, backend, has_cross, xx, dx, xsum, tokens = _ll.gptaq_py_stats_buffers(h.ctx)
            _check(st, h.ctx)
        finally:
            self._lock.release()
        if backend != Backend.CPU:
            raise UnsupportedError("stats_buffers() gives host arrays; this Quantizer's "
                                   "statistics are in CUDA device memory: use serialize()/"
                                   "deserialize() or merge()", Status.UNSUPPORTED)
        n = self._columns
        return StatsBuffers(
            xx=_view(xx, ctypes.c_float, (n, n), h),
            dx=_view(dx, ctypes.c_float, (n, n), h) if has_cross and dx else None,
            xsum=_view(xsum, ctypes.c_double, (n,), h),
            tokens=_view(tokens, ctypes.c_double, (1,), h))

    def stats_commit(self) -> None:
        """Declare the statistics buffers modified in place (after
        :meth:`stats_buffers`): checks them and drops the cached factorization."""
        h = self._acquire()
        try:
            _check(_ll.gptaq_stats_commit(h.ctx), h.ctx)
        finally:
            self._lock.release()

    def imatrix(self) -> Tuple[np.ndarray, int]:
        """llama.cpp's importance statistics of this input: (in_sum2 (columns,) float32
        = sum over tokens of x^2, tokens)."""
        out = np.empty(self._columns, dtype=np.float32)
        h = self._acquire()
        try:
            st, tokens = _ll.gptaq_ctx_imatrix(h.ctx, out)
            _check(st, h.ctx)
        finally:
            self._lock.release()
        return out, int(tokens)

    def _ctx_for(self) -> _Handle:  # for IMatrix.add_quantizer
        return self._acquire()


def _shape_of(x: Any) -> Tuple[int, ...]:
    return tuple(getattr(x, "shape", np.shape(x)))


from ._formats import (  # noqa: E402  (they use the names above)
    GptqFormat, GptqPacked, GptqUnpacked, IMatrix, IMatrixFormat, LutGemmPacked,
    LutGemmUnpacked, NpyReader, SafetensorsReader, SafetensorsWriter, gptq_pack,
    gptq_shapes, gptq_unpack, load_safetensors, lutgemm_pack, lutgemm_unpack, npy_load,
    npy_save, quantize_config, read_quantize_config, save_safetensors,
    write_quantize_config,
)
