"""``fast_math.tanh``: torch's tanh to float32 rounding when decoding, torch's own tanh (and
its gradient) when training."""

from __future__ import annotations

import torch

from seq2seq.models.fast_math import tanh


def test_without_gradients_it_is_tanh_to_within_float32_rounding() -> None:
    x = torch.cat([torch.linspace(-30, 30, 20001), torch.tensor([0.0, 1e-8, -1e-8])])
    with torch.no_grad():
        got = tanh(x)
    assert got.dtype == torch.float32
    assert (got.double() - torch.tanh(x.double())).abs().max() < 3e-7
    assert got.min() >= -1 and got.max() <= 1


def test_overwrite_writes_into_the_input_and_the_default_leaves_it_alone() -> None:
    x = torch.randn(4, 5)
    kept = x.clone()
    with torch.no_grad():
        out = tanh(x)
        assert torch.equal(x, kept)
        overwritten = tanh(x, overwrite=True)
    assert overwritten.data_ptr() == x.data_ptr()
    torch.testing.assert_close(overwritten, out, rtol=0, atol=0)


def test_with_gradients_it_is_torch_tanh_and_differentiable() -> None:
    x = torch.randn(6, requires_grad=True)
    y = tanh(x, overwrite=True)
    torch.testing.assert_close(y, torch.tanh(x), rtol=0, atol=0)
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, 1 - torch.tanh(x.detach()) ** 2)
