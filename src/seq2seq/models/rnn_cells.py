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

The trained model never carries these layers: training and ``state_dict`` are untouched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


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
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
        return torch.sigmoid(o) * torch.tanh(c), c
    if mode == "GRU":
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(torch.addcmul(i_n, r, h_n))
        return torch.addcmul(n, z, h - n), None
    summed = gi.add_(gh)
    return (torch.tanh(summed) if mode == "RNN_TANH" else F.relu(summed)), None
