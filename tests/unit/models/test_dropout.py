"""The CPU dropout: drops the asked share, keeps the expectation, is seeded by torch, and its
gradient flows through exactly the kept elements."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.models.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_drops_share_p_and_scales_kept_elements_to_keep_the_mean(p: float) -> None:
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    out = dropout(x, p, training=True)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.003
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)), atol=1e-4, rtol=1e-4)
    assert abs(out.mean().item() - 1.0) < 0.01


def test_eval_mode_and_p_zero_return_the_input_and_p_one_zeroes_it() -> None:
    x = torch.randn(3, 4)
    module = Dropout(0.3).eval()
    assert torch.equal(module(x), x)
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))


def test_masks_follow_torch_seed_and_differ_between_calls() -> None:
    x = torch.ones(64, 64)
    torch.manual_seed(3)
    first, second = dropout(x, 0.3, True), dropout(x, 0.3, True)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.3, True), first)
    assert not torch.equal(first, second)
    state = torch.get_rng_state()
    again = dropout(x, 0.3, True)
    torch.set_rng_state(state)
    assert torch.equal(dropout(x, 0.3, True), again)  # restoring the RNG state restores masks


def test_gradient_is_the_scaled_mask_and_the_module_is_an_nn_dropout() -> None:
    torch.manual_seed(1)
    x = torch.randn(50, 40, requires_grad=True)
    out = Dropout(0.25).train()(x)
    weights = torch.randn(50, 40)
    (out * weights).sum().backward()
    mask = (out != 0).float() / 0.75
    assert x.grad is not None
    torch.testing.assert_close(x.grad, weights * mask)
    torch.testing.assert_close(out, x.detach() * mask)
    assert isinstance(Dropout(0.1), nn.Dropout) and Dropout(0.1).state_dict() == {}
