"""A recurrent decoder step with its matrix products as linear layers, for decoding copies.

``torch.lstm_cell`` (and the GRU/RNN cells) take the weights as plain tensors and multiply by
them through MKL, which copies each weight into its own layout at every call: at batch 32 an
LSTM decoder's two cell products were ~40% of an int8 decoding step (the output layer and
attention were already int8 or packed). :func:`attach_cell_products` gives each layer of a
unidirectional RNN two ``nn.Linear`` layers, input-to-hidden and hidden-to-hidden, that *share*
the RNN's parameters. The decoding copies (``decoding/packed.py``, ``decoding/quantize.py``)
then turn them into packed fp32, bf16 or int8 layers like every other linear layer, and
:func:`cell_step` finishes the cell on their outputs with PyTorch's gate arithmetic:

- LSTM: ``i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)``,
  ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``;
- GRU: ``r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)``, ``n = tanh(gi_n + r gh_n)``,
  ``h' = n + z (h - n)``;
- RNN: ``h' = tanh(gi + gh)`` (or relu).

Whole sequences (an RNN encoder, or a decoder fed several tokens at once) still run through
the ``nn.LSTM/GRU/RNN`` module and its oneDNN sequence kernel. On a CPU with bf16 instructions
that kernel is 1.4-1.9x faster in bf16 (docs/benchmarks.md), and neither int8 nor packing has
a sequence kernel of its own: :func:`attach_bf16_sequences` gives a decoding copy's RNNs a
bf16 copy of their weights (:class:`Bf16Sequence`) that :func:`seq2seq.models.rnn.call_rnn`
runs sequences with, fp32 in and fp32 out.

The trained model never carries these layers: training and ``state_dict`` are untouched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seq2seq.models.fast_math import tanh


class CellProducts(nn.Module):
    """One RNN layer's input-to-hidden and hidden-to-hidden products as linear layers.

    Args:
        rnn: A unidirectional RNN without projections; its parameters are shared, not copied.
        layer: Which of its layers.
    """

    def __init__(self, rnn: nn.RNNBase, layer: int) -> None:
        super().__init__()
        self.input = _linear_sharing(rnn, "ih", layer)
        self.hidden = _linear_sharing(rnn, "hh", layer)


def _linear_sharing(rnn: nn.RNNBase, kind: str, layer: int) -> nn.Linear:
    weight = getattr(rnn, f"weight_{kind}_l{layer}")  # [gates * H, in]
    linear = nn.Linear(weight.size(1), weight.size(0), bias=rnn.bias, device="meta")
    linear.weight = weight
    linear.bias = getattr(rnn, f"bias_{kind}_l{layer}") if rnn.bias else None
    return linear


def attach_cell_products(model: nn.Module) -> None:
    """Gives every unidirectional, projection-free RNN in ``model`` a ``cell_products`` list
    (one :class:`CellProducts` per layer) that :func:`seq2seq.models.rnn.rnn_step` then
    computes its one-step products with. Meant for a decoding copy of a model."""
    for module in list(model.modules()):
        if isinstance(module, nn.RNNBase) and not module.bidirectional and not module.proj_size:
            layers = range(module.num_layers)
            module.cell_products = nn.ModuleList(CellProducts(module, i) for i in layers)


def cell_step(
    mode: str, products: CellProducts, x: Tensor, h: Tensor, c: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """One layer's step: ``x [B, in]``, ``h`` and (LSTM) ``c`` ``[B, H]`` -> new ``h``, ``c``."""
    gi, gh = products.input(x), products.hidden(h)  # [B, gates * H] each
    if mode == "LSTM":
        assert c is not None, "an LSTM layer steps with its cell state"
        gates = gi.add_(gh)
        i, f, g, o = gates.chunk(4, 1)
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), tanh(g, overwrite=True))
        return torch.sigmoid(o) * tanh(c), c
    if mode == "GRU":
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = tanh(torch.addcmul(i_n, r, h_n), overwrite=True)
        return torch.addcmul(n, z, h - n), None
    summed = gi.add_(gh)
    return (tanh(summed, overwrite=True) if mode == "RNN_TANH" else F.relu(summed)), None


RnnState = Tensor | tuple[Tensor, Tensor]


class Bf16Sequence:
    """A bf16 copy of one RNN's weights, for whole-sequence calls in a decoding copy.

    Kept as a plain attribute (``rnn.bf16_sequence``), not a submodule, so that the copy's
    parameters and ``state_dict`` are the RNN's own. The bf16 weights are made again whenever
    a parameter of the RNN changed (in-place version or storage), as
    :class:`seq2seq.decoding.packed.PackedLinear` does, so a model still being trained is
    decoded with its current weights.
    """

    def __init__(self, rnn: nn.RNNBase) -> None:
        # (weight versions and addresses, bf16 module): one tuple, swapped whole, so a thread
        # that reads it never pairs new weights with an old copy.
        self._prepared: tuple[tuple[tuple[int, int], ...], nn.RNNBase] | None = None
        self.module(rnn)

    def module(self, rnn: nn.RNNBase) -> nn.RNNBase:
        """The bf16 RNN holding ``rnn``'s current weights (made again if they changed)."""
        weights = [w for layer in rnn.all_weights for w in layer]
        key = tuple((w._version, w.data_ptr()) for w in weights)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = (key, _bf16_clone(rnn))
        return self._prepared[1]

    def __call__(
        self, rnn: nn.RNNBase, x: Tensor, state: RnnState | None
    ) -> tuple[Tensor, RnnState]:
        """``rnn(x, state)`` in bf16: ``x [B, T, in]`` and ``state`` fp32, results fp32."""
        out, final = self.module(rnn)(x.to(torch.bfloat16), cast_state(state, torch.bfloat16))
        return out.float(), cast_state(final, torch.float32)


def _bf16_clone(rnn: nn.RNNBase) -> nn.RNNBase:
    """A new RNN of ``rnn``'s kind and sizes (in eval mode) with its weights in bf16."""
    options: dict[str, object] = {
        "bias": rnn.bias,
        "batch_first": rnn.batch_first,
        "bidirectional": rnn.bidirectional,
        "device": rnn.all_weights[0][0].device,
        "dtype": torch.bfloat16,
    }
    if isinstance(rnn, nn.RNN):
        options["nonlinearity"] = rnn.nonlinearity
    clone = type(rnn)(rnn.input_size, rnn.hidden_size, rnn.num_layers, **options).eval()
    with torch.no_grad():
        for copies, originals in zip(clone.all_weights, rnn.all_weights, strict=True):
            for copied, original in zip(copies, originals, strict=True):
                copied.copy_(original)
    return clone


def cast_state(state: RnnState | None, dtype: torch.dtype) -> RnnState | None:
    """An RNN state (a tensor, an LSTM's ``(hidden, cell)``, or None) in ``dtype``."""
    if isinstance(state, tuple):
        return state[0].to(dtype), state[1].to(dtype)
    return None if state is None else state.to(dtype)


def attach_bf16_sequences(model: nn.Module) -> None:
    """Gives every projection-free RNN in ``model`` a :class:`Bf16Sequence` (``bf16_sequence``)
    that :func:`seq2seq.models.rnn.call_rnn` runs whole sequences with. Meant for a decoding
    copy of a model, on a CPU whose oneDNN has bf16 kernels."""
    for module in list(model.modules()):
        if isinstance(module, nn.RNNBase) and not module.proj_size:
            module.bf16_sequence = Bf16Sequence(module)
