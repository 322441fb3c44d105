"""Library information, backends, and completeness of the low-level module."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import gptaq

HEADER = Path(__file__).resolve().parents[3] / "include" / "gptaq" / "gptaq.h"


def test_version_matches_header_and_library():
    ll = gptaq.lowlevel
    assert gptaq.__version__ == gptaq.version() == (
        f"{ll.GPTAQ_VERSION_MAJOR}.{ll.GPTAQ_VERSION_MINOR}.{ll.GPTAQ_VERSION_PATCH}")
    assert gptaq.version_number() == ll.GPTAQ_VERSION_NUMBER
    assert isinstance(gptaq.version(), str)
    assert gptaq.version() in gptaq.build_info()


def test_backends_reported():
    backends = gptaq.available_backends()
    assert "cpu" in backends
    assert set(backends) <= {"cpu", "cuda"}
    assert gptaq.backend_available("cpu") and gptaq.backend_available(gptaq.Backend.AUTO)
    assert gptaq.backend_available("cuda") == ("cuda" in backends)
    # the build info names the backends compiled in
    assert "cpu" in gptaq.build_info()
    with gptaq.Quantizer(8, backend="cpu") as q:
        assert q.backend == gptaq.Backend.CPU
    if "cuda" not in backends:
        with np.testing.assert_raises(gptaq.BackendUnavailableError):
            gptaq.Quantizer(8, backend="cuda")


def test_every_header_function_is_in_lowlevel():
    """%include of the header: every GPTAQ_API function, including ones added later."""
    text = HEADER.read_text()
    names = set(re.findall(r"GPTAQ_API\s+[^;(]*?\b(gptaq_\w+)\s*\(", text))
    assert len(names) > 25
    missing = sorted(n for n in names if not hasattr(gptaq.lowlevel, n))
    assert not missing, missing


def test_status_names_and_helpers():
    ll = gptaq.lowlevel
    for s in gptaq.Status:
        assert ll.gptaq_status_string(int(s))
        if s != gptaq.Status.OK:
            assert issubclass(gptaq.error_class(s), gptaq.GptaqError)
    assert gptaq.num_groups(300, 128) == 3
    assert gptaq.num_groups(300, -1) == 1
    x = np.array([1.0, -2.5, 3.140625, 65504.0], np.float32)
    assert np.array_equal(gptaq.half_to_f32(gptaq.f32_to_half(x, "float16"), "float16"), x)
    bf = gptaq.f32_to_half(np.array([1.0, 1.00390625], np.float32), "bfloat16")
    assert bf.dtype == np.uint16 and bf[0] == 0x3F80 and bf[1] == 0x3F80  # ties to even


def test_config_struct_sizes_match_the_library():
    ll = gptaq.lowlevel
    cfg = ll.gptaq_config()
    assert cfg.struct_size == ll.gptaq_swig_config_size()
    assert cfg.bits == 4 and cfg.group_size == 128  # constructed with library defaults


# C functions the idiomatic layer reaches through another entry point (with the reason).
VIA_OTHER = {
    "gptaq_config_init": "gptaq.lowlevel.gptaq_config() is constructed with it (gptaq.i)",
    "gptaq_ctx_free": "the context handle's finalizer (_Handle), run by close()",
    "gptaq_ctx_errmsg": "gptaq_swig_errmsg picks the context's or the thread's message",
    "gptaq_last_errmsg": "gptaq_swig_errmsg",
    "gptaq_status_string": "gptaq_swig_errmsg (fallback) and Status names",
    "gptaq_ctx_columns": "Quantizer.columns, kept from the constructor",
    "gptaq_add_batch": "add_batch() always calls gptaq_add_batch_masked (mask=None)",
    "gptaq_ctx_set_progress": "gptaq_py_set_callbacks (the C trampolines)",
    "gptaq_ctx_set_log": "gptaq_py_set_callbacks (the C trampolines)",
    "gptaq_stats_buffers_get": "gptaq_py_stats_buffers (addresses for the numpy views)",
    "gptaq_npy_write": "npy_save() writes every rank with gptaq_npy_write_nd",
    "gptaq_safetensors_metadata": "SafetensorsReader.metadata reads all entries (metadata_at)",
}


def test_every_header_function_has_an_idiomatic_entry_point():
    text = HEADER.read_text()
    names = set(re.findall(r"GPTAQ_API\s+[^;(]*?\b(gptaq_\w+)\s*\(", text))
    pkg = Path(gptaq.__file__).resolve().parent
    src = "".join((pkg / f).read_text() for f in ("__init__.py", "_formats.py", "_errors.py"))
    used = set(re.findall(r"_ll\.(gptaq_\w+)\b", src))
    missing = sorted(n for n in names if n not in used and n not in VIA_OTHER)
    assert not missing, f"C functions without a Python entry point: {missing}"
    assert not set(VIA_OTHER) - names, "stale VIA_OTHER entries"
