"""Decoding-time math that spends less than PyTorch's defaults: ``tanh`` through ``sigmoid`` on
a CPU, and a log-softmax written over the scores it normalises.

PyTorch's CPU ``tanh`` kernel costs ~3 ns an element, five times its ``sigmoid`` (torch 2.13,
AVX2 and AVX-512 builds alike: 85-110 us for a ``[128, 256]`` tensor against ~20 us). An RNN
decoder step calls it several times (the LSTM cell, the attentional vector, additive attention
over every source position), so in int8 beam search it was ~6% of a step. Without gradients
:func:`tanh` computes ``2 sigmoid(2x) - 1`` instead: the same function, within 2e-7 of
``torch.tanh`` in float32. Training (gradients on) and other devices keep ``torch.tanh``.

A search step normalises ``[rows, vocab]`` scores (1 MB at 32 rows and 8k words) that nothing
reads afterwards; :func:`log_softmax` writes the log-probs over them instead of into a fresh
buffer: the same arithmetic, with one vocabulary-wide buffer fewer per step for the two
decoding workers' shared caches (+1% to +6% int8 Transformer greedy speed in three
alternating-run comparisons, docs/benchmarks.md).
"""

from __future__ import annotations

import torch
from torch import Tensor


def tanh(x: Tensor, *, overwrite: bool = False) -> Tensor:
    """``tanh(x)``; with ``overwrite`` the result may be written into ``x`` (pass it only for
    a tensor nothing else reads, such as the fresh output of a layer)."""
    if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
        return torch.tanh(x)
    doubled = x.mul_(2) if overwrite else x * 2
    return doubled.sigmoid_().mul_(2).sub_(1)


def log_softmax(scores: Tensor, *, overwrite: bool = False) -> Tensor:
    """``log_softmax`` over the last axis, in float32; with ``overwrite`` (and no gradients) the
    result is written into ``scores`` when they are float32 (pass it only for a tensor nothing
    else reads, such as the fresh output of a layer)."""
    scores32 = scores.float()
    if overwrite and not torch.is_grad_enabled():
        return torch.log_softmax(scores32, -1, out=scores32)
    return torch.log_softmax(scores32, -1)
