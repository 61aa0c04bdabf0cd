"""``fast_math``: ``tanh`` is torch's tanh to float32 rounding when decoding and torch's own tanh
(and its gradient) when training; ``log_softmax`` overwrites only what it is allowed to."""

from __future__ import annotations

import pytest
import torch

from seq2seq.models.fast_math import log_softmax, tanh


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_log_softmax_overwrites_float32_scores_only_when_asked(dtype: torch.dtype) -> None:
    scores = (torch.randn(3, 50) * 4).to(dtype)
    kept = scores.clone()
    want = torch.log_softmax(scores.float(), -1)
    with torch.no_grad():
        fresh = log_softmax(scores)
        assert torch.equal(scores, kept)
        overwritten = log_softmax(scores, overwrite=True)
    assert fresh.dtype == overwritten.dtype == torch.float32
    torch.testing.assert_close(fresh, want, rtol=0, atol=0)
    torch.testing.assert_close(overwritten, want, rtol=0, atol=0)
    # float32 scores become the log-probs; bf16 ones are left alone (the float32 copy is new)
    assert (overwritten.data_ptr() == scores.data_ptr()) == (dtype == torch.float32)
    assert torch.equal(scores, kept) == (dtype == torch.bfloat16)


def test_log_softmax_with_gradients_leaves_the_scores_and_is_differentiable() -> None:
    scores = torch.randn(2, 7, requires_grad=True)
    out = log_softmax(scores, overwrite=True)
    assert out.data_ptr() != scores.data_ptr()
    out[:, 0].sum().backward()
    assert scores.grad is not None
