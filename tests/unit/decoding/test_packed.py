"""Linear layers with weights prepared once for fp32 CPU decoding (oneDNN-packed or
transposed for MKL): same outputs, current weights, no change to the model that was copied."""

from __future__ import annotations

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator
from torch import nn

import seq2seq.decoding.packed as packed_module
import seq2seq.decoding.translator as translator_module
from seq2seq.decoding.packed import PackedLinear, packed_copy, packing_available

pytestmark = pytest.mark.skipif(not packing_available(), reason="torch without oneDNN")


@pytest.fixture(autouse=True, params=["onednn", "mkl"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs once with each weight preparation, whatever the layer sizes."""
    monkeypatch.setattr(packed_module, "ONEDNN_FROM", 0 if request.param == "onednn" else 1 << 62)
    return str(request.param)


def test_the_route_follows_the_weight_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packed_module, "ONEDNN_FROM", 1 << 19)
    assert PackedLinear(nn.Linear(256, 8002)).onednn  # an output layer: oneDNN
    assert not PackedLinear(nn.Linear(256, 1024)).onednn  # a hidden layer: MKL


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(24,), (5, 24), (3, 1, 24), (2, 7, 24), (0, 24)])
def test_packed_linear_equals_the_linear_layer(
    shape: tuple[int, ...], bias: bool, route: str
) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    with torch.no_grad():
        out = PackedLinear(linear)(x)
        assert PackedLinear(linear).onednn == (route == "onednn")
        assert out.shape == (*shape[:-1], 40)
        torch.testing.assert_close(out, linear(x), rtol=1e-5, atol=1e-5)


def test_a_strided_input_gives_the_same_output() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(24, 16)
    x = torch.randn(24, 6).t()  # [6, 24], not contiguous
    with torch.no_grad():
        torch.testing.assert_close(PackedLinear(linear)(x), linear(x), rtol=1e-5, atol=1e-5)


def test_weights_changed_in_place_or_loaded_are_packed_again() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(8, 8)
    packed = PackedLinear(linear)
    x = torch.randn(4, 8)
    with torch.no_grad():
        before = packed(x)
        linear.weight.mul_(-2.0)  # what an optimizer step does: in place
        torch.testing.assert_close(packed(x), linear(x), rtol=1e-5, atol=1e-5)
        linear.load_state_dict(nn.Linear(8, 8).state_dict())
        torch.testing.assert_close(packed(x), linear(x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(before, packed(x).detach())


def test_with_gradients_on_it_is_the_plain_layer_and_gradients_flow() -> None:
    linear = nn.Linear(8, 3)
    PackedLinear(linear)(torch.randn(2, 8)).sum().backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0


def test_the_copy_shares_the_weights_and_leaves_the_model_alone() -> None:
    model = tiny_translator().model
    copy = packed_copy(model)
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    rnn_layers = sum(m.num_layers for m in model.modules() if isinstance(m, nn.RNNBase))
    wrappers = [m for m in copy.modules() if isinstance(m, PackedLinear)]
    # every linear layer, and each RNN layer's two cell products (rnn_cells.py)
    assert linears and rnn_layers and len(wrappers) == len(linears) + 2 * rnn_layers
    assert not any(isinstance(m, PackedLinear) for m in model.modules())
    assert {id(p) for p in copy.parameters()} == {id(p) for p in model.parameters()}


def test_packed_translations_equal_plain_ones_and_follow_weight_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    translator = tiny_translator()

    def translate(packed: bool) -> list[tuple[str, float]]:
        monkeypatch.setattr(translator_module, "packing_available", lambda: packed)
        return [(t.text, t.score) for t in translator.translate(SOURCES, beam_size=3)]

    def same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
        assert [text for text, _ in a] == [text for text, _ in b]
        assert [score for _, score in a] == pytest.approx([score for _, score in b], abs=1e-4)

    same(translate(True), translate(False))
    assert isinstance(translator._packed_model, nn.Module)
    with torch.no_grad():  # as validation sees a model between training steps
        for parameter in translator.model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    same(translate(True), translate(False))


def test_the_model_copy_decodes_like_the_model() -> None:
    torch.manual_seed(0)
    model = tiny_translator().model.eval()
    copy = packed_copy(model)
    src, lengths = torch.randint(4, 10, (3, 5)), torch.tensor([5, 4, 2])
    with torch.no_grad():
        enc, enc_copy = model.encode(src, lengths), copy.encode(src, lengths)
        torch.testing.assert_close(enc_copy.states, enc.states, rtol=1e-5, atol=1e-5)
        prev = torch.full((3,), 2)
        log_probs, _, _ = model.decode_step(prev, model.init_state(enc), enc)
        log_probs_copy, _, _ = copy.decode_step(prev, copy.init_state(enc_copy), enc_copy)
    torch.testing.assert_close(log_probs_copy, log_probs, rtol=1e-4, atol=1e-4)
