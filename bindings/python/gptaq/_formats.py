"""Checkpoint and file formats: GPTQ packing and quantize_config.json, safetensors,
llama.cpp importance matrices, the LUT-GEMM layout, and .npy files.

Every function checks shapes, dtypes and lengths before the library sees a pointer, and
allocates its outputs itself, so no call can read or write past an array.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import lowlevel as _ll
from . import (
    BinaryResult, ClosedError, DType, DTypeError, InvalidArgumentError, QuantResult,
    Quantizer, ShapeError, Status, UnsupportedError, _apply_method, _check, _config_dict,
    _enum, _path, _set_field, num_groups,
)


class GptqFormat(IntEnum):
    """GPTQ checkpoint zero convention (gptaq_gptq_format): V1 = "gptq" (qzeros store
    zero - 1, what vLLM and transformers load by default), V2 = "gptq_v2"."""

    V1 = _ll.GPTAQ_GPTQ_V1
    V2 = _ll.GPTAQ_GPTQ_V2


def _gptq_format(fmt: Any) -> GptqFormat:
    if isinstance(fmt, str):
        key = fmt.strip().lower()
        if key in ("gptq", "v1"):
            return GptqFormat.V1
        if key in ("gptq_v2", "v2"):
            return GptqFormat.V2
        raise InvalidArgumentError(f"format={fmt!r} is not one of: gptq, gptq_v2",
                                   Status.INVALID_ARGUMENT)
    return GptqFormat(int(_enum(GptqFormat, fmt, "format")))


def _int(v: Any, name: str, lo: int = -2**31, hi: int = 2**31 - 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise DTypeError(f"{name} must be an int, not {type(v).__name__}",
                         Status.INVALID_ARGUMENT)
    v = int(v)
    if not lo <= v <= hi:
        raise InvalidArgumentError(f"{name}={v} is out of range [{lo}, {hi}]",
                                   Status.INVALID_ARGUMENT)
    return v


def _arr(x: Any, name: str, dtype: Any, shape: Optional[Tuple[int, ...]] = None,
         ndim: Optional[int] = None) -> np.ndarray:
    """x as a C-contiguous array of exactly `dtype` (no conversion) and shape."""
    if x is None:
        raise DTypeError(f"{name} is None; expected an array", Status.INVALID_ARGUMENT)
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    dts = dtype if isinstance(dtype, tuple) else (dtype,)
    if not any(a.dtype == np.dtype(d) for d in dts):
        want = " or ".join(np.dtype(d).name for d in dts)
        raise DTypeError(f"{name} has dtype {a.dtype}; expected {want}",
                         Status.INVALID_ARGUMENT)
    if not a.dtype.isnative:
        raise DTypeError(f"{name} has non-native byte order", Status.INVALID_ARGUMENT)
    if ndim is not None and a.ndim != ndim:
        raise ShapeError(f"{name} has shape {a.shape}; expected {ndim} dimensions",
                         Status.SHAPE)
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{name} has shape {a.shape}; expected {tuple(shape)}", Status.SHAPE)
    if not a.flags.c_contiguous:
        raise InvalidArgumentError(f"{name} is not C-contiguous: pass "
                                   f"np.ascontiguousarray({name})", Status.INVALID_ARGUMENT)
    return a


# ---- GPTQ checkpoints ----------------------------------------------------------------

def gptq_shapes(rows: int, columns: int, group_size: int, bits: int) -> Tuple[int, int, int]:
    """(qweight_rows, qzeros_cols, n_groups) of a rows x columns weight: qweight is
    (qweight_rows, rows) int32, qzeros (n_groups, qzeros_cols) int32."""
    st, qr, qc, g = _ll.gptaq_gptq_shapes(_int(rows, "rows", 1, 2**62),
                                          _int(columns, "columns", 1, 2**62),
                                          _int(group_size, "group_size"), _int(bits, "bits"))
    _check(st)
    return int(qr), int(qc), int(g)


_SCALE_DTYPES = {"float16": DType.F16, "f16": DType.F16, "half": DType.F16,
                 "bfloat16": DType.BF16, "bf16": DType.BF16,
                 "float32": DType.F32, "f32": DType.F32}


def _scales_dtype(d: Any) -> DType:
    if isinstance(d, DType) and d in (DType.F16, DType.BF16, DType.F32):
        return d
    if isinstance(d, str) and d.lower() in _SCALE_DTYPES:
        return _SCALE_DTYPES[d.lower()]
    try:
        nd = np.dtype(d)
    except TypeError:
        nd = None
    if nd == np.float16:
        return DType.F16
    if nd == np.float32:
        return DType.F32
    raise DTypeError(f"scales_dtype={d!r} is not float16, bfloat16 or float32",
                     Status.INVALID_ARGUMENT)


@dataclass(frozen=True)
class GptqPacked:
    """GPTQ checkpoint tensors of one layer: qweight (columns*bits/32, rows) int32,
    qzeros (n_groups, rows*bits/32) int32, scales (n_groups, rows) float16 (float32 for
    scales_dtype float32; uint16 bfloat16 bits for bfloat16), g_idx (columns,) int32,
    zeros_clamped: v1 zeros of 0 stored as 0 (see gptq_pack)."""

    qweight: np.ndarray
    qzeros: np.ndarray
    scales: np.ndarray
    g_idx: np.ndarray
    zeros_clamped: int

    def tensors(self, prefix: str) -> Dict[str, np.ndarray]:
        """{prefix.qweight, prefix.qzeros, prefix.scales, prefix.g_idx}, for
        :func:`save_safetensors` (bfloat16 scales are stored as BF16)."""
        return {f"{prefix}.qweight": self.qweight, f"{prefix}.qzeros": self.qzeros,
                f"{prefix}.scales": self.scales, f"{prefix}.g_idx": self.g_idx}


def gptq_pack(codes: Any, scales: Any = None, zeros: Any = None, g_idx: Any = None, *,
              bits: int, group_size: int, format: Any = "gptq",
              scales_dtype: Any = "float16", allow_zero_clamp: bool = False) -> GptqPacked:
    """Pack a uniform solve result into GPTQ checkpoint tensors.

    ``gptq_pack(result, bits=4, group_size=128)`` takes a :class:`QuantResult`, or pass
    codes (rows, columns) uint8, scales and zeros (rows, n_groups) float32 and g_idx
    (columns,) int32 (None = c // group_size). ``format`` "gptq" (v1) or "gptq_v2".
    A v1 file cannot hold a zero of 0 (asymmetric grids): by default that raises
    :class:`UnsupportedError`; ``allow_zero_clamp=True`` stores 0 and reports the count
    in ``zeros_clamped`` (those groups then decode one step lower).
    """
    if isinstance(codes, QuantResult):
        r = codes
        if scales is not None or zeros is not None:
            raise InvalidArgumentError("pass either a QuantResult or codes, scales, zeros",
                                       Status.INVALID_ARGUMENT)
        codes, scales, zeros = r.codes, r.scales, r.zeros
        g_idx = r.g_idx if g_idx is None else g_idx
    elif isinstance(codes, BinaryResult):
        raise InvalidArgumentError("a GPTQT (binary) result packs with lutgemm_pack, not "
                                   "gptq_pack", Status.INVALID_ARGUMENT)
    fmt = _gptq_format(format)
    b = _int(bits, "bits")
    gs = _int(group_size, "group_size")
    c = _arr(codes, "codes", np.uint8, ndim=2)
    rows, cols = c.shape
    qr, qc, G = gptq_shapes(rows, cols, gs, b)
    s = _arr(scales, "scales", np.float32, shape=(rows, G))
    z = _arr(zeros, "zeros", np.float32, shape=(rows, G))
    gi = None if g_idx is None else _arr(g_idx, "g_idx", np.int32, shape=(cols,))
    sd = _scales_dtype(scales_dtype)
    qweight = np.empty((qr, rows), dtype=np.int32)
    qzeros = np.empty((G, qc), dtype=np.int32)
    out_scales = np.empty((G, rows), dtype={DType.F16: np.float16, DType.BF16: np.uint16,
                                            DType.F32: np.float32}[sd])
    g_out = np.empty((cols,), dtype=np.int32)
    st, clamped = _ll.gptaq_gptq_pack(int(fmt), b, rows, cols, gs, c, s, z, gi, qweight,
                                      qzeros, int(sd), out_scales, g_out)
    _check(st)
    if clamped and not allow_zero_clamp:
        raise UnsupportedError(
            f"{clamped} (row, group) zeros are 0, which the 'gptq' (v1) format cannot "
            "store; use format='gptq_v2', a symmetric grid, or allow_zero_clamp=True",
            Status.UNSUPPORTED)
    return GptqPacked(qweight, qzeros, out_scales, g_out, int(clamped))


@dataclass(frozen=True)
class GptqUnpacked:
    """The solver's layout back from GPTQ tensors: codes (rows, columns) uint8, scales
    and zeros (rows, n_groups) float32, dequant (rows, columns) float32 or None."""

    codes: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray
    dequant: Optional[np.ndarray]


def gptq_unpack(qweight: Any, qzeros: Any, scales: Any, g_idx: Any = None, *, bits: int,
                format: Any = "gptq", scales_dtype: Any = None,
                dequant: bool = True) -> GptqUnpacked:
    """Unpack GPTQ checkpoint tensors (as read from a file: untrusted, validated).

    qweight (columns*bits/32, rows) int32, qzeros (n_groups, rows*bits/32) int32, scales
    (n_groups, rows) float16 / float32 (or uint16 bfloat16 bits with
    scales_dtype="bfloat16"), g_idx (columns,) int32 (needed for dequant when
    n_groups > 1).
    """
    fmt = _gptq_format(format)
    b = _int(bits, "bits")
    if b not in (2, 3, 4, 8):
        raise InvalidArgumentError(f"bits={b} is not one of 2, 3, 4, 8",
                                   Status.INVALID_ARGUMENT)
    qw = _arr(qweight, "qweight", np.int32, ndim=2)
    rows = qw.shape[1]
    cols = qw.shape[0] * 32 // b
    if qw.shape[0] * 32 % b:
        raise ShapeError(f"qweight has {qw.shape[0]} rows, not a whole number of "
                         f"{b}-bit columns", Status.SHAPE)
    sa = scales if isinstance(scales, np.ndarray) else np.asarray(scales)
    if scales_dtype is None:
        if sa.dtype == np.uint16:
            raise DTypeError("scales is uint16: say scales_dtype='bfloat16'",
                             Status.INVALID_ARGUMENT)
        sd = _scales_dtype(sa.dtype)
    else:
        sd = _scales_dtype(scales_dtype)
    want = {DType.F16: (np.float16, np.uint16), DType.BF16: (np.uint16,),
            DType.F32: (np.float32,)}[sd]
    sa = _arr(sa, "scales", want, ndim=2)
    G = sa.shape[0]
    if G < 1 or sa.shape[1] != rows:
        raise ShapeError(f"scales has shape {sa.shape}; expected (n_groups, {rows})",
                         Status.SHAPE)
    _, qc, _ = gptq_shapes(rows, cols, -1, b)
    qz = _arr(qzeros, "qzeros", np.int32, shape=(G, qc))
    gi = None if g_idx is None else _arr(g_idx, "g_idx", np.int32, shape=(cols,))
    if dequant and gi is None and G > 1:
        raise InvalidArgumentError("g_idx is needed to dequantize with more than one group",
                                   Status.INVALID_ARGUMENT)
    codes = np.empty((rows, cols), dtype=np.uint8)
    s_out = np.empty((rows, G), dtype=np.float32)
    z_out = np.empty((rows, G), dtype=np.float32)
    dq = np.empty((rows, cols), dtype=np.float32) if dequant else None
    _check(_ll.gptaq_gptq_unpack(int(fmt), b, rows, cols, G, qw, qz, int(sd), sa, gi, codes,
                                 s_out, z_out, dq))
    return GptqUnpacked(codes, s_out, z_out, dq)


def _config_struct(config: Any) -> Any:
    cfg = _ll.gptaq_config()
    if config is None:
        return cfg
    if isinstance(config, Quantizer):
        config = config.config
    if not isinstance(config, Mapping):
        raise DTypeError(f"config must be a dict of Quantizer fields, a Quantizer or None, "
                         f"not {type(config).__name__}", Status.INVALID_ARGUMENT)
    for name, value in _apply_method(dict(config)).items():
        _set_field(cfg, name, value)
    return cfg


def quantize_config(config: Any = None, format: Any = "gptq") -> str:
    """The quantize_config.json text for a configuration (a dict of Quantizer keyword
    fields, a Quantizer, or None for the defaults), as GPTQModel, transformers and vLLM
    read it."""
    cfg = _config_struct(config)
    fmt = _gptq_format(format)
    st, n = _ll.gptaq_gptq_quantize_config(cfg, int(fmt), None, 0)
    _check(st)
    buf = bytearray(n + 1)
    st, n2 = _ll.gptaq_gptq_quantize_config(cfg, int(fmt), buf, len(buf))
    _check(st)
    return bytes(buf[:n2]).decode("utf-8")


def write_quantize_config(path: Any, config: Any = None, format: Any = "gptq") -> None:
    """Write :func:`quantize_config`'s text to ``path``."""
    p = _path(path)
    cfg = _config_struct(config)
    _check(_ll.gptaq_gptq_write_quantize_config(p, cfg, int(_gptq_format(format))))


def read_quantize_config(path: Any) -> Tuple[Dict[str, Any], GptqFormat]:
    """Read a quantize_config.json (or a model's config.json with
    "quantization_config"): (the configuration as a dict of Quantizer fields, format)."""
    p = _path(path)
    cfg = _ll.gptaq_config()
    st, fmt = _ll.gptaq_gptq_read_quantize_config(p, cfg)
    _check(st)
    return _config_dict(cfg), GptqFormat(fmt)


# ---- safetensors -----------------------------------------------------------------------

_ST_NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
             "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
             "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
             "BOOL": np.bool_, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8}
_NUMPY_ST = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32",
             np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
             np.dtype(np.int32): "I32", np.dtype(np.int16): "I16", np.dtype(np.int8): "I8",
             np.dtype(np.uint64): "U64", np.dtype(np.uint32): "U32",
             np.dtype(np.uint16): "U16", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors file: name, dtype (the format's name, "F16"...),
    shape, nbytes."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    nbytes: int


class _Closable:
    _what = "object"

    def __init__(self) -> None:
        self._p: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._p is None:
            raise ClosedError(f"the {self._what} is closed", Status.INVALID_ARGUMENT)
        return self._p

    def _free(self, p: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Free the native object. Idempotent."""
        with self._lock:
            p, self._p = self._p, None
        if p is not None:
            self._free(p)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        p = getattr(self, "_p", None)
        if p is not None:
            self._p = None
            self._free(p)

    @property
    def closed(self) -> bool:
        return self._p is None


class SafetensorsReader(_Closable):
    """A validated safetensors file: ``names``, ``info(name)``, ``read(name)`` (numpy,
    the file's dtype; BF16 as uint16 bits), ``read_f32(name)``, ``metadata``. Mapping-like:
    ``len(r)``, ``name in r``, ``r[name]``, iteration over names."""

    _what = "safetensors reader"

    def __init__(self, path: Any) -> None:
        super().__init__()
        st, r = _ll.gptaq_safetensors_open(_path(path))
        _check(st)
        self._p = r

    def _free(self, p: Any) -> None:
        _ll.gptaq_safetensors_close(p)

    def __len__(self) -> int:
        return int(_ll.gptaq_safetensors_count(self._get()))

    def _info_at(self, i: int) -> TensorInfo:
        st, name, dtype, ndim, shape, nbytes = _ll.gptaq_safetensors_tensor_info(self._get(), i)
        _check(st)
        return TensorInfo(name, dtype, tuple(int(d) for d in shape[:ndim]), int(nbytes))

    @property
    def names(self) -> List[str]:
        """Tensor names, in the order of their data in the file."""
        return [self._info_at(i).name for i in range(len(self))]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def _index(self, name: Any) -> int:
        if not isinstance(name, str):
            raise DTypeError(f"tensor name must be a str, not {type(name).__name__}",
                             Status.INVALID_ARGUMENT)
        i = int(_ll.gptaq_safetensors_find(self._get(), name))
        if i < 0:
            raise KeyError(name)
        return i

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _ll.gptaq_safetensors_find(self._get(), name) >= 0

    def info(self, name: str) -> TensorInfo:
        """Name, dtype, shape and size of a tensor (KeyError if absent)."""
        return self._info_at(self._index(name))

    def read(self, name: str) -> np.ndarray:
        """The tensor as a numpy array of its dtype (BF16 as uint16 bit patterns, F8 as
        uint8)."""
        i = self._index(name)
        t = self._info_at(i)
        out = np.empty(t.shape, dtype=_ST_NUMPY[t.dtype])
        if out.nbytes != t.nbytes:
            raise ShapeError(f"{name}: {t.nbytes} bytes do not make shape {t.shape} of "
                             f"{t.dtype}", Status.FORMAT)
        _check(_ll.gptaq_safetensors_read(self._get(), i, out, out.nbytes))
        return out

    __getitem__ = read

    def read_f32(self, name: str) -> np.ndarray:
        """A floating-point tensor (F32, F16, BF16, F64) converted to float32."""
        i = self._index(name)
        t = self._info_at(i)
        out = np.empty(t.shape, dtype=np.float32)
        _check(_ll.gptaq_safetensors_read_f32(self._get(), i, out, out.size))
        return out

    @property
    def metadata(self) -> Dict[str, str]:
        """The __metadata__ entries."""
        r = self._get()
        out = {}
        for i in range(int(_ll.gptaq_safetensors_metadata_count(r))):
            st, k, v = _ll.gptaq_safetensors_metadata_at(r, i)
            _check(st)
            out[k] = v
        return out


class SafetensorsWriter(_Closable):
    """Collects tensors (copied) and metadata, then ``save(path)`` writes the file
    (through a temporary file renamed into place)."""

    _what = "safetensors writer"

    def __init__(self) -> None:
        super().__init__()
        st, w = _ll.gptaq_safetensors_writer_create()
        _check(st)
        self._p = w

    def _free(self, p: Any) -> None:
        _ll.gptaq_safetensors_writer_free(p)

    def add(self, name: str, array: Any, dtype: Optional[str] = None) -> None:
        """Add a tensor. ``dtype`` is the format's name; default from the array's dtype
        (float32 -> F32, float16 -> F16, int32 -> I32, ...). uint16 bit patterns of
        bfloat16 need ``dtype="BF16"``."""
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a non-empty str", Status.INVALID_ARGUMENT)
        if array is None:
            raise DTypeError(f"{name}: array is None", Status.INVALID_ARGUMENT)
        a = array if isinstance(array, np.ndarray) else np.asarray(array)
        if not a.dtype.isnative and a.dtype.itemsize > 1:
            raise DTypeError(f"{name}: non-native byte order", Status.INVALID_ARGUMENT)
        if dtype is None:
            if a.dtype not in _NUMPY_ST:
                raise DTypeError(f"{name}: dtype {a.dtype} has no safetensors name",
                                 Status.INVALID_ARGUMENT)
            dtype = _NUMPY_ST[a.dtype]
        if not isinstance(dtype, str) or dtype.upper() not in _ST_NUMPY:
            raise InvalidArgumentError(f"{name}: dtype={dtype!r} is not one of "
                                       + ", ".join(_ST_NUMPY), Status.INVALID_ARGUMENT)
        dtype = dtype.upper()
        if np.dtype(_ST_NUMPY[dtype]).itemsize != a.dtype.itemsize:
            raise DTypeError(f"{name}: a {a.dtype} array cannot be stored as {dtype}",
                             Status.INVALID_ARGUMENT)
        if a.ndim > _ll.GPTAQ_SAFETENSORS_MAX_DIMS:
            raise ShapeError(f"{name}: {a.ndim} dimensions (at most "
                             f"{_ll.GPTAQ_SAFETENSORS_MAX_DIMS})", Status.SHAPE)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")  # (np.ascontiguousarray would make a scalar 1-D)
        shape = np.asarray(a.shape, dtype=np.int64)
        data = a.reshape(-1).view(np.uint8) if a.size else np.zeros(1, np.uint8)
        with self._lock:
            _check(_ll.gptaq_safetensors_writer_add(self._get(), name, dtype, a.ndim,
                                                    shape if a.ndim else None, data))

    def set_metadata(self, key: str, value: str) -> None:
        """Set a __metadata__ entry (transformers expects {"format": "pt"})."""
        if not isinstance(key, str) or not isinstance(value, str):
            raise DTypeError("metadata keys and values must be str", Status.INVALID_ARGUMENT)
        with self._lock:
            _check(_ll.gptaq_safetensors_writer_set_metadata(self._get(), key, value))

    def save(self, path: Any) -> None:
        """Write the file; the writer stays usable."""
        p = _path(path)
        with self._lock:
            _check(_ll.gptaq_safetensors_writer_save(self._get(), p))


def save_safetensors(path: Any, tensors: Mapping[str, Any],
                     metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write ``{name: array}`` (and metadata) to a safetensors file."""
    with SafetensorsWriter() as w:
        for k, v in tensors.items():
            w.add(k, v)
        for k, v in (metadata or {}).items():
            w.set_metadata(k, v)
        w.save(path)


def load_safetensors(path: Any) -> Dict[str, np.ndarray]:
    """Every tensor of a safetensors file as ``{name: array}`` (BF16 as uint16 bits)."""
    with SafetensorsReader(path) as r:
        return {n: r.read(n) for n in r.names}


# ---- llama.cpp importance matrix -------------------------------------------------------

class IMatrixFormat(IntEnum):
    """Output format of :meth:`IMatrix.save`."""

    GGUF = _ll.GPTAQ_IMATRIX_GGUF
    DAT = _ll.GPTAQ_IMATRIX_DAT


class IMatrix(_Closable):
    """An importance-matrix collection written as a llama.cpp imatrix file. Names are
    GGUF tensor names ("blk.0.attn_q.weight")."""

    _what = "imatrix"

    def __init__(self, chunk_size: Optional[int] = None) -> None:
        super().__init__()
        st, im = _ll.gptaq_imatrix_create()
        _check(st)
        self._p = im
        if chunk_size is not None:
            self.set_chunk_size(chunk_size)

    def _free(self, p: Any) -> None:
        _ll.gptaq_imatrix_free(p)

    @staticmethod
    def _name(name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a non-empty str", Status.INVALID_ARGUMENT)
        return name

    def add(self, name: str, in_sum2: Any, counts: Any) -> None:
        """Add one weight's statistics: in_sum2 (n_per_row,) or (n_mat, n_per_row)
        float32, counts (n_mat,) float32 tokens per matrix."""
        s = _arr(in_sum2, "in_sum2", np.float32)
        if s.ndim == 1:
            s = s.reshape(1, -1)
        if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
            raise ShapeError(f"in_sum2 has shape {np.shape(in_sum2)}; expected (n_per_row,) "
                             "or (n_mat, n_per_row)", Status.SHAPE)
        if not isinstance(counts, np.ndarray):  # a number or list: Python values
            counts = np.atleast_1d(np.asarray(counts, dtype=np.float32))
        c = _arr(counts, "counts", np.float32, shape=(s.shape[0],))
        with self._lock:
            _check(_ll.gptaq_imatrix_add(self._get(), self._name(name), s.shape[1],
                                         s.shape[0], s, c))

    def add_quantizer(self, name: str, q: Quantizer) -> None:
        """Add the statistics a Quantizer streamed under ``name`` (several names may
        share one Quantizer: q/k/v read the same input)."""
        if not isinstance(q, Quantizer):
            raise DTypeError(f"q must be a Quantizer, not {type(q).__name__}",
                             Status.INVALID_ARGUMENT)
        nm = self._name(name)
        h = q._ctx_for()
        try:
            with self._lock:
                _check(_ll.gptaq_imatrix_add_ctx(self._get(), nm, h.ctx))
        finally:
            q._lock.release()

    def add_dataset(self, dataset: str) -> None:
        """Record a calibration dataset name (imatrix.datasets)."""
        with self._lock:
            _check(_ll.gptaq_imatrix_add_dataset(self._get(), self._name(dataset)))

    def set_chunk_size(self, chunk_size: int) -> None:
        """Tokens per chunk (llama-imatrix's n_ctx, default 512)."""
        with self._lock:
            _check(_ll.gptaq_imatrix_set_chunk_size(self._get(),
                                                    _int(chunk_size, "chunk_size")))

    def save(self, path: Any, format: Any = "gguf") -> None:
        """Write the collection ("gguf" or the legacy "dat")."""
        fmt = _enum(IMatrixFormat, format, "format")
        p = _path(path)
        with self._lock:
            _check(_ll.gptaq_imatrix_save(self._get(), p, int(fmt)))


# ---- LUT-GEMM layout -------------------------------------------------------------------

@dataclass(frozen=True)
class LutGemmPacked:
    """LUT-GEMM arrays: qbits (ceil(columns/32), bits, rows) uint32, alpha (n_groups,
    bits, rows) float16, bias (n_groups, rows) float16."""

    qbits: np.ndarray
    alpha: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class LutGemmUnpacked:
    """codes (rows, columns) uint8, alpha (rows, n_groups, bits) and bias (rows,
    n_groups) float32, dequant (rows, columns) float32."""

    codes: np.ndarray
    alpha: np.ndarray
    bias: np.ndarray
    dequant: np.ndarray


def lutgemm_pack(codes: Any, alpha: Any = None, bias: Any = None, g_idx: Any = None, *,
                 bits: Optional[int] = None, group_size: int) -> LutGemmPacked:
    """Pack a GPTQT (binary) solve result into the LUT-GEMM layout:
    ``lutgemm_pack(binary_result, group_size=128)`` or codes (rows, columns) uint8,
    alpha (rows, n_groups, bits) float32, bias (rows, n_groups) float32, g_idx."""
    if isinstance(codes, BinaryResult):
        r = codes
        codes, alpha, bias = r.codes, r.alpha, r.bias
        g_idx = r.g_idx if g_idx is None else g_idx
    if alpha is None:
        raise DTypeError("alpha is None; expected an array", Status.INVALID_ARGUMENT)
    gs = _int(group_size, "group_size")
    c = _arr(codes, "codes", np.uint8, ndim=2)
    rows, cols = c.shape
    G = num_groups(cols, gs)
    a0 = np.asarray(alpha)
    k = _int(bits if bits is not None else (a0.shape[-1] if a0.ndim == 3 else -1), "bits",
             1, 8)
    a = _arr(alpha, "alpha", np.float32, shape=(rows, G, k))
    b = _arr(bias, "bias", np.float32, shape=(rows, G))
    gi = None if g_idx is None else _arr(g_idx, "g_idx", np.int32, shape=(cols,))
    W = (cols + 31) // 32
    qbits = np.empty((W, k, rows), dtype=np.uint32)
    af = np.empty((G, k, rows), dtype=np.float16)
    bf = np.empty((G, rows), dtype=np.float16)
    _check(_ll.gptaq_lutgemm_pack(k, rows, cols, gs, c, a, b, gi, qbits, af, bf))
    return LutGemmPacked(qbits, af, bf)


def lutgemm_unpack(qbits: Any, alpha: Any, bias: Any, *, columns: int,
                   group_size: int) -> LutGemmUnpacked:
    """Unpack LUT-GEMM arrays (qbits (ceil(columns/32), bits, rows) uint32, alpha
    (n_groups, bits, rows) and bias (n_groups, rows) float16 or uint16 bits)."""
    q = _arr(qbits, "qbits", np.uint32, ndim=3)
    W, k, rows = q.shape
    cols = _int(columns, "columns", 1, 2**62)
    gs = _int(group_size, "group_size")
    if W != (cols + 31) // 32:
        raise ShapeError(f"qbits has {W} words per row; columns={cols} needs "
                         f"{(cols + 31) // 32}", Status.SHAPE)
    G = num_groups(cols, gs)
    a = _arr(alpha, "alpha", (np.float16, np.uint16), shape=(G, k, rows))
    b = _arr(bias, "bias", (np.float16, np.uint16), shape=(G, rows))
    codes = np.empty((rows, cols), dtype=np.uint8)
    ao = np.empty((rows, G, k), dtype=np.float32)
    bo = np.empty((rows, G), dtype=np.float32)
    dq = np.empty((rows, cols), dtype=np.float32)
    _check(_ll.gptaq_lutgemm_unpack(k, rows, cols, gs, q, a.view(np.uint16),
                                    b.view(np.uint16), codes, ao, bo, dq))
    return LutGemmUnpacked(codes, ao, bo, dq)


# ---- .npy files ----------------------------------------------------------------------

_NPY_DTYPE = {DType.F32: np.float32, DType.F16: np.float16,
              _ll.GPTAQ_DTYPE_U8: np.uint8, _ll.GPTAQ_DTYPE_I32: np.int32}


class NpyReader(_Closable):
    """A streaming reader of a 2-D (or 1-D, seen as 1 x n) .npy file of float32,
    float16, uint8 or int32: ``dtype``, ``shape``, ``read(max_rows)``, and iteration in
    batches with ``batches(rows)`` (e.g. calibration inputs too large for memory)."""

    _what = "npy reader"

    def __init__(self, path: Any) -> None:
        super().__init__()
        st, r = _ll.gptaq_npy_open(_path(path))
        _check(st)
        self._p = r
        st, dt, rows, cols = _ll.gptaq_npy_info(r)
        _check(st)
        self.dtype = np.dtype(_NPY_DTYPE[dt])
        self.shape = (int(rows), int(cols))

    def _free(self, p: Any) -> None:
        _ll.gptaq_npy_close(p)

    def read(self, max_rows: int) -> np.ndarray:
        """The next up to ``max_rows`` rows ((0, cols) at the end)."""
        n = _int(max_rows, "max_rows", 0, 2**62)
        out = np.empty((n, self.shape[1]), dtype=self.dtype)
        with self._lock:
            st, got = _ll.gptaq_npy_read_rows(self._get(), out, n)
        _check(st)
        return out[:got]

    def batches(self, rows: int) -> Iterator[np.ndarray]:
        """Iterate over the remaining rows, ``rows`` at a time."""
        if _int(rows, "rows", 1, 2**62) < 1:
            raise InvalidArgumentError("rows must be >= 1", Status.INVALID_ARGUMENT)
        while True:
            b = self.read(rows)
            if len(b) == 0:
                return
            yield b


def npy_load(path: Any) -> np.ndarray:
    """Read a whole 2-D .npy file with the library's reader."""
    with NpyReader(path) as r:
        return r.read(r.shape[0])


def npy_save(path: Any, array: Any) -> None:
    """Write a C-order .npy file (1 to 8 dimensions of float32, float16, uint8, int32)."""
    a = array if isinstance(array, np.ndarray) else np.asarray(array)
    rev = {np.dtype(v): k for k, v in _NPY_DTYPE.items()}
    if a.dtype not in rev or not a.dtype.isnative:
        raise DTypeError(f"npy_save takes float32, float16, uint8 or int32, not {a.dtype}",
                         Status.INVALID_ARGUMENT)
    if not 1 <= a.ndim <= 8:
        raise ShapeError(f"npy_save takes 1 to 8 dimensions, not {a.ndim}", Status.SHAPE)
    a = np.ascontiguousarray(a)
    shape = np.asarray(a.shape, dtype=np.int64)
    data = a.reshape(-1).view(np.uint8) if a.size else np.zeros(1, np.uint8)
    _check(_ll.gptaq_npy_write_nd(_path(path), int(rev[a.dtype]), a.ndim, shape, data))


__all__ = ["GptqFormat", "GptqPacked", "GptqUnpacked", "TensorInfo", "IMatrix",
           "IMatrixFormat", "LutGemmPacked", "LutGemmUnpacked", "NpyReader",
           "SafetensorsReader", "SafetensorsWriter", "gptq_pack", "gptq_shapes",
           "gptq_unpack", "load_safetensors", "lutgemm_pack", "lutgemm_unpack", "npy_load",
           "npy_save", "quantize_config", "read_quantize_config", "save_safetensors",
           "write_quantize_config"]
