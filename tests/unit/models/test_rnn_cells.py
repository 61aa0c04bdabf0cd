"""RNN decoder steps through linear layers sharing the RNN's weights (``rnn_cells.py``): the
same outputs and states as the RNN itself, for every cell kind."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seq2seq.models.rnn import rnn_step
from seq2seq.models.rnn_cells import attach_cell_products

KINDS = {
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
}


def initial_state(rnn: nn.RNNBase, batch: int) -> torch.Tensor | tuple[torch.Tensor, ...]:
    hidden = torch.randn(rnn.num_layers, batch, rnn.hidden_size)
    return (hidden, torch.randn_like(hidden)) if isinstance(rnn, nn.LSTM) else hidden


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_a_step_through_cell_products_equals_the_rnn(kind: str, layers: int, bias: bool) -> None:
    torch.manual_seed(0)
    rnn = KINDS[kind](input_size=6, hidden_size=5, num_layers=layers, bias=bias, batch_first=True)
    stepping = copy.deepcopy(rnn)
    attach_cell_products(stepping)
    assert len(stepping.cell_products) == layers
    x, state = torch.randn(3, 1, 6), initial_state(rnn, 3)
    with torch.no_grad():
        want_out, want_state = rnn(x, state)
        out, new_state = rnn_step(stepping, x, state)
    torch.testing.assert_close(out, want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(
        new_state if isinstance(new_state, tuple) else (new_state,),
        want_state if isinstance(want_state, tuple) else (want_state,),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_the_products_share_the_rnn_parameters_and_follow_their_changes() -> None:
    torch.manual_seed(0)
    rnn = nn.LSTM(4, 3, batch_first=True)
    attach_cell_products(rnn)
    products = rnn.cell_products[0]
    assert products.input.weight is rnn.weight_ih_l0 and products.hidden.bias is rnn.bias_hh_l0
    x, state = torch.randn(2, 1, 4), initial_state(rnn, 2)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(-3.0)
        plain = copy.deepcopy(rnn)
        del plain.cell_products
        torch.testing.assert_close(rnn_step(rnn, x, state)[0], plain(x, state)[0])


def test_bidirectional_rnns_get_no_products() -> None:
    rnn = nn.GRU(4, 3, bidirectional=True, batch_first=True)
    attach_cell_products(rnn)
    assert not hasattr(rnn, "cell_products")
