"""CPU torch tensors go straight into gptaq (skipped when torch is not installed)."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq

torch = pytest.importorskip("torch")


def test_tensors_same_as_numpy_arrays():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 16, 32, generator=g)
    w = torch.randn(8, 32, generator=g)
    with gptaq.Quantizer(32, group_size=8) as q:
        q.add_batch(x)  # float32 CPU tensor: a no-copy numpy view
        a = q.solve(w)
    with gptaq.Quantizer(32, group_size=8) as q:
        q.add_batch(x.numpy())
        b = q.solve(w.numpy())
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.dequant, b.dequant)


def test_bfloat16_tensor_matches_its_bits():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 32, generator=g).to(torch.bfloat16)
    w = torch.randn(8, 32, generator=g)
    with gptaq.Quantizer(32, group_size=8) as q:
        q.add_batch(x)
        a = q.solve(w.to(torch.bfloat16))
    bits = x.view(torch.int16).numpy().view(np.uint16)
    with gptaq.Quantizer(32, group_size=8) as q:
        q.add_batch(bits, dtype="bfloat16")
        b = q.solve(w.to(torch.bfloat16).float().numpy())
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.dequant, b.dequant)


def test_tensor_errors():
    with gptaq.Quantizer(32) as q:
        with pytest.raises(gptaq.DTypeError, match="cannot be viewed"):
            q.add_batch(torch.randn(4, 32, requires_grad=True))
        with pytest.raises(gptaq.InvalidArgumentError, match="C-contiguous"):
            q.add_batch(torch.randn(32, 4).t())
        with pytest.raises(gptaq.DTypeError, match="float64"):
            q.add_batch(torch.randn(4, 32, dtype=torch.float64))
