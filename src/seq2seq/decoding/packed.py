"""CPU decoding through matrix products whose weights are prepared once: the default fp32
path, and bf16 weights on CPUs with bf16 instructions.

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

``packed_copy(model, torch.bfloat16)`` prepares every linear layer's weight in bf16 for oneDNN
instead (``search.precision: bf16`` on a CPU with AVX-512-BF16 or AMX). Only the matrix
products change precision: each layer casts its input ``[rows, in]`` to bf16 and returns fp32
with the bias added in fp32, so attention, norms, softmax and the search's scores stay fp32.
RNN layers run whole sequences (an RNN encoder) in bf16 too (``models/rnn_cells.py``).
That is faster than autocast, which would convert every weight again at every call, and halves
the bytes of weight a step streams; measured in docs/benchmarks.md.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from seq2seq.models.rnn_cells import attach_bf16_sequences, attach_cell_products

PACKED_FOR_ROWS = 32  # oneDNN's row-count hint for the packed layout (batch 32, greedy)
# Weights of at least this many elements (2 MiB in fp32) go through oneDNN, smaller ones
# through MKL. Measured at 32 and 128 rows on AVX2: a 256x8002 output layer 1.6x faster in
# oneDNN, 256x256 .. 1024x256 layers 1.1-1.5x faster in MKL, even from 512x1536 on.
ONEDNN_FROM = 1 << 19


def bf16_instructions() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512-BF16 or AMX), not by emulation."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def packing_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this torch has oneDNN and its packed-linear operators (private API, checked),
    and for bf16 whether oneDNN has bf16 kernels for this CPU."""
    ops = torch.ops.mkldnn
    available = (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )
    if dtype == torch.bfloat16:
        return available and bool(getattr(ops, "_is_mkldnn_bf16_supported", lambda: False)())
    return available


class PackedLinear(nn.Module):
    """An ``nn.Linear``'s forward on its weight prepared once (fp32, CPU): packed for oneDNN
    if it is large, transposed for MKL's ``addmm`` otherwise.

    Args:
        linear: The layer whose parameters (shared, not copied) this computes with.
        dtype: ``torch.float32``, or ``torch.bfloat16`` for a bf16 copy of the weight (always
            oneDNN; input cast to bf16, output fp32).
    """

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"PackedLinear computes in float32 or bfloat16, not {dtype}")
        self.linear = linear
        self.dtype = dtype
        self.onednn = dtype == torch.bfloat16 or linear.weight.numel() >= ONEDNN_FROM
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
        if self.dtype == torch.bfloat16:
            rows = x.to(torch.bfloat16).contiguous()
            out = torch.ops.mkldnn._linear_pointwise(rows, weight, None, "none", [], "")
            # fp32 bias + bf16 product: one op that both adds and widens to fp32
            return out.float() if bias is None else torch.add(bias, out)
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
                    packed = torch.ops.mkldnn._reorder_linear_weight(
                        weight.to(self.dtype), PACKED_FOR_ROWS
                    )
                else:
                    packed = weight.t().contiguous()
            self._packed = (key, packed)
        return self._packed[1]


def packed_copy(model: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of ``model`` sharing its parameters and buffers, with every ``nn.Linear``
    computed by a :class:`PackedLinear` in ``dtype``; ``model`` itself is not changed.

    The copy's other attributes (training mode, flags) are those ``model`` had at the call.
    Its RNNs step through linear layers on their shared weights (``models/rnn_cells.py``);
    in bf16 they also run whole sequences (an RNN encoder) on a bf16 copy of their weights.
    Weights on the CPU in fp32 are prepared here, so forked decoding workers inherit them.
    """
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    clone = copy.deepcopy(model, memo=shared)
    attach_cell_products(clone)  # RNN decoder steps through linear layers too (rnn_cells.py)
    if dtype == torch.bfloat16:
        attach_bf16_sequences(clone)  # and RNN sequences (the encoder) run in bf16
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                packed = PackedLinear(child, dtype)
                if child.weight.device.type == "cpu" and child.weight.dtype == torch.float32:
                    packed.packed_weight()
                setattr(parent, name, packed)
    return clone
