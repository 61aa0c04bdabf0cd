"""fp32 CPU decoding through matrix products whose weights are prepared once (the default
CPU search path).

A search step's matrix products are small: ``[rows, d] x [d, d']`` with ``rows`` the batch
(times the beam). ``F.linear`` (MKL) copies the weight into its own blocked layout on every
call. For a weight of a few MiB, such as the output layer's ``[vocab, d]``, that copy streams
the whole matrix through memory each step: oneDNN's inner product on a weight packed once in
its layout is ~1.6x faster there (CTranslate2 uses the same oneDNN kernels on AMD CPUs). For
the small weights of the hidden layers the copy stays in cache, and oneDNN's ~30 us of setup
per call costs more than it saves: MKL's ``addmm`` on a weight transposed once is faster.
:class:`PackedLinear` picks per layer by weight size (``ONEDNN_FROM``, measured: see
docs/benchmarks.md). Outputs equal ``F.linear``'s up to float rounding (~1e-6).

:func:`packed_copy` gives decoding a copy of the model whose ``nn.Linear`` layers are
:class:`PackedLinear` wrappers around the *same* parameters. A wrapper prepares its weight
again whenever the parameter changed (its in-place version counter or storage moved), so a
model still being trained is decoded with its current weights; training itself is untouched.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

PACKED_FOR_ROWS = 32  # oneDNN's row-count hint for the packed layout (batch 32, greedy)
# Weights of at least this many elements (2 MiB in fp32) go through oneDNN, smaller ones
# through MKL. Measured at 32 and 128 rows on AVX2: a 256x8002 output layer 1.6x faster in
# oneDNN, 256x256 .. 1024x256 layers 1.1-1.5x faster in MKL, even from 512x1536 on.
ONEDNN_FROM = 1 << 19


def packing_available() -> bool:
    """Whether this torch has oneDNN and its packed-linear operators (private API, checked)."""
    ops = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


class PackedLinear(nn.Module):
    """An ``nn.Linear``'s forward on its weight prepared once (fp32, CPU): packed for oneDNN
    if it is large, transposed for MKL's ``addmm`` otherwise.

    Args:
        linear: The layer whose parameters (shared, not copied) this computes with.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        self.onednn = linear.weight.numel() >= ONEDNN_FROM
        # (weight version, storage address) -> prepared weight; one tuple, so a thread that
        # reads it never pairs a new key with an old preparation.
        self._packed: tuple[tuple[int, int], Tensor] | None = None

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    @property
    def weight(self) -> Tensor:
        return self.linear.weight

    @property
    def bias(self) -> Tensor | None:
        return self.linear.bias

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in_features] -> [..., out_features]``, as ``self.linear(x)``."""
        if x.dtype != torch.float32 or x.device.type != "cpu" or torch.is_grad_enabled():
            return self.linear(x)
        weight, bias = self.packed_weight(), self.linear.bias
        if self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, "none", [], "")
        rows = x.reshape(-1, x.size(-1))  # [N, in]
        out = torch.mm(rows, weight) if bias is None else torch.addmm(bias, rows, weight)
        return out.view(*x.shape[:-1], out.size(-1))

    def packed_weight(self) -> Tensor:
        """The weight in oneDNN's layout or transposed (``[in, out]``, contiguous), prepared
        again if the parameter changed since."""
        weight = self.linear.weight
        key = (weight._version, weight.data_ptr())
        if self._packed is None or self._packed[0] != key:
            with torch.no_grad():
                if self.onednn:
                    packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_FOR_ROWS)
                else:
                    packed = weight.t().contiguous()
            self._packed = (key, packed)
        return self._packed[1]


def packed_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` sharing its parameters and buffers, with every ``nn.Linear``
    computed by a :class:`PackedLinear`; ``model`` itself is not changed.

    The copy's other attributes (training mode, flags) are those ``model`` had at the call.
    Weights on the CPU in fp32 are prepared here, so forked decoding workers inherit them.
    """
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    clone = copy.deepcopy(model, memo=shared)
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                packed = PackedLinear(child)
                if child.weight.device.type == "cpu" and child.weight.dtype == torch.float32:
                    packed.packed_weight()
                setattr(parent, name, packed)
    return clone
