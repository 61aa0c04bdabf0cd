"""Dropout with a mask that is cheap to draw on the CPU.

``nn.Dropout`` on the CPU draws its mask with ``bernoulli_``, one Mersenne-Twister number per
element: on a Transformer training step that was 14% of the time (profiled), and
``[7000, 1024]`` takes ~75 ms where multiplying it by the mask takes ~3 ms. Here one 64-bit
seed is drawn from torch's generator, and numpy's PCG64 turns it into 16 random bits per
element (four per 64-bit draw, ~5 ms for the same tensor). An element is kept with probability
``1 - round(p * 65536) / 65536`` (``p`` to within 1e-5) and scaled by the inverse of that, so
the expected output is the input, as with ``nn.Dropout``.

Because the seed comes from torch's default generator, ``torch.manual_seed`` makes the masks
reproducible and restoring torch's RNG state (exact resume) restores them. On CUDA, and for
``p >= 1``, the stock kernel is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 16  # distinct 16-bit values an element's random draw can take


class _KeepAndScale(torch.autograd.Function):
    """``where(keep, x, 0) * scale``, saving only the boolean mask for the backward pass (a
    ``where`` on the bool mask needs no float copy of it, as ``x * keep`` would)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None, None


def keep_mask(shape: torch.Size, dropped_levels: int) -> Tensor:
    """A CPU bool mask of ``shape``, each element False with probability
    ``dropped_levels / 65536``, drawn from one seed of torch's default generator."""
    count = shape.numel()
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
    draws = np.random.PCG64(seed).random_raw((count + 3) // 4)  # uint64: four 16-bit values each
    values = torch.from_numpy(draws.view(np.int16)[:count]).view(shape)  # uniform -2^15..2^15-1
    return values >= dropped_levels - _LEVELS // 2


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest (see the module docstring)."""
    if not training or p == 0.0:
        return x
    dropped_levels = round(p * _LEVELS)
    if x.device.type != "cpu" or dropped_levels >= _LEVELS:
        return F.dropout(x, p, training)
    scale = _LEVELS / (_LEVELS - dropped_levels)
    return _KeepAndScale.apply(x, keep_mask(x.shape, dropped_levels), scale)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same argument, same state) with :func:`dropout`'s faster CPU mask."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
