"""One decoder time step through the cell kernels equals the ``nn.LSTM/GRU/RNN`` call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.models.rnn import call_rnn, rnn_step

KINDS = {
    "lstm": lambda layers: nn.LSTM(6, 5, layers, batch_first=True),
    "gru": lambda layers: nn.GRU(6, 5, layers, batch_first=True),
    "rnn-tanh": lambda layers: nn.RNN(6, 5, layers, batch_first=True),
    "rnn-relu-no-bias": lambda layers: nn.RNN(
        6, 5, layers, batch_first=True, nonlinearity="relu", bias=False
    ),
}


def initial_state(rnn: nn.RNNBase, batch: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(rnn.num_layers, batch, 5, generator=gen, requires_grad=True)
    if isinstance(rnn, nn.LSTM):
        return hidden, torch.randn(rnn.num_layers, batch, 5, generator=gen, requires_grad=True)
    return hidden


def flat(state: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_outputs_states_and_gradients_equal_the_module_call(
    kind: str, layers: int
) -> None:
    torch.manual_seed(0)
    rnn = KINDS[kind](layers)
    x = torch.randn(4, 1, 6, requires_grad=True)
    state = initial_state(rnn, 4)
    expected_out, expected_final = rnn(x, state)
    out, final = rnn_step(rnn, x, state)
    torch.testing.assert_close(out, expected_out)
    for got, want in zip(flat(final), flat(expected_final), strict=True):
        torch.testing.assert_close(got, want)

    def gradients(output: torch.Tensor, final_state: object) -> list[torch.Tensor]:
        total = output.square().sum() + sum(t.sum() for t in flat(final_state))  # type: ignore[arg-type]
        inputs = [x, *flat(state), *rnn.parameters()]
        return list(torch.autograd.grad(total, inputs))

    for got, want in zip(
        gradients(out, final), gradients(expected_out, expected_final), strict=True
    ):
        torch.testing.assert_close(got, want)


def test_call_rnn_steps_single_positions_and_runs_sequences_whole() -> None:
    rnn = KINDS["lstm"](2).eval()
    state = initial_state(rnn, 3)
    sequence = torch.randn(3, 4, 6)
    out, (hidden, cell) = call_rnn(rnn, sequence, state)
    step_by_step, step_state = [], state
    for t in range(4):
        step_out, step_state = call_rnn(rnn, sequence[:, t : t + 1], step_state)
        step_by_step.append(step_out)
    torch.testing.assert_close(torch.cat(step_by_step, 1), out)
    torch.testing.assert_close(step_state[0], hidden)
    torch.testing.assert_close(step_state[1], cell)


def test_training_dropout_between_layers_applies_to_the_step_as_to_the_module() -> None:
    rnn = nn.LSTM(6, 5, 2, batch_first=True, dropout=0.5).train()
    state = initial_state(rnn, 64)
    x = torch.randn(64, 1, 6)
    with torch.no_grad():
        out, _ = rnn_step(rnn, x, state)
        rnn.eval()
        clean, _ = rnn_step(rnn, x, state)
    assert not torch.allclose(out, clean)  # the lower layer's output was dropped in training


def test_hooks_on_the_rnn_still_run_for_single_steps() -> None:
    rnn = KINDS["gru"](1).eval()
    seen: list[list[int]] = []
    rnn.register_forward_hook(lambda _m, _i, output: seen.append(list(output[0].shape)))
    call_rnn(rnn, torch.randn(2, 1, 6), initial_state(rnn, 2))
    assert seen == [[2, 1, 5]]
