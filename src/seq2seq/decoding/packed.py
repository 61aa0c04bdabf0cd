"""fp32 CPU decoding through oneDNN with pre-packed weights (the default CPU search path).

A search step's matrix products are small: ``[rows, d] x [d, d']`` with ``rows`` the batch
(times the beam). For such shapes ``F.linear`` (MKL) re-packs the weight matrix on every call,
which costs about as much as the product itself. oneDNN's inner product takes the weight
packed once, in its own layout (CTranslate2 uses the same oneDNN kernels on AMD CPUs): a
chain of one step's linear layers ran ~20% faster at batch 32 in a microbenchmark, and search
through :class:`Translator` gained +3-8% end to end (docs/benchmarks.md). The outputs equal
``F.linear``'s up to float rounding (~1e-6).

:func:`packed_copy` gives decoding a copy of the model whose ``nn.Linear`` layers are
:class:`PackedLinear` wrappers around the *same* parameters. A wrapper re-packs its weight
whenever the parameter changed (its in-place version counter or storage moved), so a model
still being trained is decoded with its current weights; training itself is untouched.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

PACKED_FOR_ROWS = 32  # oneDNN's row-count hint for the packed layout (batch 32, greedy)


def packing_available() -> bool:
    """Whether this torch has oneDNN and its packed-linear operators (private API, checked)."""
    ops = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


class PackedLinear(nn.Module):
    """An ``nn.Linear``'s forward on its weight packed once for oneDNN (fp32, CPU).

    Args:
        linear: The layer whose parameters (shared, not copied) this computes with.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        # (weight version, storage address) -> packed weight; one tuple, so a thread that
        # reads it never pairs a new key with an old packing.
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
        return torch.ops.mkldnn._linear_pointwise(
            x.contiguous(), self.packed_weight(), self.linear.bias, "none", [], ""
        )

    def packed_weight(self) -> Tensor:
        """The weight in oneDNN's layout, packed again if the parameter changed since."""
        weight = self.linear.weight
        key = (weight._version, weight.data_ptr())
        if self._packed is None or self._packed[0] != key:
            with torch.no_grad():
                packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_FOR_ROWS)
            self._packed = (key, packed)
        return self._packed[1]


def packed_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` sharing its parameters and buffers, with every ``nn.Linear``
    computed by a :class:`PackedLinear`; ``model`` itself is not changed.

    The copy's other attributes (training mode, flags) are those ``model`` had at the call.
    Weights on the CPU in fp32 are packed here, so forked decoding workers inherit them.
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
