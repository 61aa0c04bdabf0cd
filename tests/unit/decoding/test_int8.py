"""``search.precision: int8``: a quantized copy decodes; the model itself is untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator
from torch import nn

from seq2seq.decoding import quantize
from seq2seq.decoding.quantize import (
    ONEDNN_FROM_ROWS,
    WIDE_FROM,
    Int8Linear,
    WideInt8Linear,
    int8_copy,
)
from seq2seq.device import resolve_precision
from seq2seq.errors import ConfigError


def test_the_copy_has_int8_linear_layers_and_the_model_keeps_fp32() -> None:
    translator = tiny_translator()
    model = translator.model
    before = {name: p.clone() for name, p in model.state_dict().items()}
    quantized = int8_copy(model)
    assert any(isinstance(m, Int8Linear) for m in quantized.modules())
    assert all(type(m) is not nn.Linear for m in quantized.modules())
    assert any(type(m) is nn.Linear for m in model.modules())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_int8_next_token_distributions_stay_close_to_fp32() -> None:
    translator = tiny_translator()
    model, quantized = translator.model, int8_copy(translator.model)
    src = torch.tensor([[3, 4, 5, 2], [6, 7, 2, 0]])
    lengths = torch.tensor([4, 3])
    prev = torch.tensor([1, 1])
    with torch.no_grad():
        enc = model.encode(src, lengths)
        want, _, _ = model.decode_step(prev, model.init_state(enc), enc)
        enc = quantized.encode(src, lengths)
        got, _, _ = quantized.decode_step(prev, quantized.init_state(enc), enc)
    assert (got.exp() - want.exp()).abs().max() < 0.02


def test_translate_in_int8_reuses_one_copy_and_keeps_the_order() -> None:
    translator = tiny_translator()
    first = translator.translate(SOURCES, precision="int8", beam_size=2)
    copy = translator._int8_model
    second = translator.translate(SOURCES, precision="int8", beam_size=2)
    assert copy is not None and translator._int8_model is copy
    assert [t.source for t in first] == SOURCES
    assert [t.text for t in first] == [t.text for t in second]


def test_int8_on_a_gpu_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"search.precision: 'int8' .* CPU only"):
        resolve_precision("int8", torch.device("cuda"), key="search.precision")


class Vocabulary(nn.Module):
    """A hidden layer and an output layer over a vocabulary wide enough for two kernels."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(16, 32)
        self.generator = nn.Linear(32, WIDE_FROM + 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(self.hidden(x))


@pytest.mark.skipif(
    "onednn" not in torch.backends.quantized.supported_engines, reason="no oneDNN int8 engine"
)
@pytest.mark.parametrize("rows", [1, ONEDNN_FROM_ROWS - 1, ONEDNN_FROM_ROWS, 64])
def test_a_wide_layer_gives_the_same_outputs_with_either_kernel(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where oneDNN's int8 kernel helps, a layer of at least WIDE_FROM outputs keeps both
    packings and picks by rows; either way its outputs are the default kernel's (up to float
    rounding) and close to fp32. Narrower layers stay plain int8 layers."""
    monkeypatch.setattr(quantize, "onednn_int8_helps", lambda: True)
    torch.manual_seed(0)
    model = Vocabulary().eval()
    engine = torch.backends.quantized.engine
    wide, plain = int8_copy(model), int8_copy_without_onednn(model, monkeypatch)
    assert torch.backends.quantized.engine == engine  # the global setting is restored
    assert isinstance(wide.generator, WideInt8Linear)
    assert not isinstance(wide.hidden, WideInt8Linear)
    x = torch.randn(rows, 16)
    with torch.no_grad():
        got, want, exact = wide(x), plain(x), model(x)
    assert torch.allclose(got, want, atol=1e-5)
    assert (got - exact).abs().max() < 0.05
    calls = []
    for name in ("few_rows", "many_rows"):
        getattr(wide.generator, name).register_forward_hook(lambda *_, n=name: calls.append(n))
    with torch.no_grad():
        wide(x)
    assert calls == ["many_rows" if rows >= ONEDNN_FROM_ROWS else "few_rows"]


def int8_copy_without_onednn(model: nn.Module, monkeypatch: pytest.MonkeyPatch) -> nn.Module:
    with monkeypatch.context() as patch:
        patch.setattr(quantize, "onednn_int8_helps", lambda: False)
        copy = int8_copy(model)
    assert not any(isinstance(m, WideInt8Linear) for m in copy.modules())
    return copy


def test_a_wide_output_layer_translates_like_the_default_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With oneDNN's kernel for the output layer (here every layer counts as wide), int8
    greedy and beam search (4 sources x 4 beams = 16 rows) find the translations fbgemm's
    kernel alone finds."""
    if "onednn" not in torch.backends.quantized.supported_engines:
        pytest.skip("no oneDNN int8 engine")
    monkeypatch.setattr(quantize, "WIDE_FROM", 1)
    found = {}
    for helps in (False, True):
        monkeypatch.setattr(quantize, "onednn_int8_helps", lambda helps=helps: helps)
        translator = tiny_translator(precision="int8")
        found[helps] = [
            [t.text for t in translator.translate(SOURCES, beam_size=beam, n_best=1)]
            for beam in (1, 4)
        ]
        wide = [m for m in translator._int8_model.modules() if isinstance(m, WideInt8Linear)]
        assert bool(wide) == helps
    assert found[True] == found[False]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:torch.quantize_per:UserWarning")
@pytest.mark.parametrize("shape", [(5, 16), (3, 4, 16)])
def test_an_int8_layer_computes_what_torchs_quantized_layer_computes(
    shape: tuple[int, ...],
) -> None:
    """Int8Linear runs the kernel on the weights torch.ao packed, without its module: the
    outputs are torch's dynamically quantized layer's exactly, and close to fp32."""
    torch.manual_seed(0)
    linear = nn.Linear(16, 24)
    theirs = torch.ao.quantization.quantize_dynamic(
        nn.Sequential(copy.deepcopy(linear)),
        {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
        dtype=torch.qint8,
    )[0]
    ours = quantize.quantize_linears(nn.Sequential(copy.deepcopy(linear)))[0]
    assert isinstance(ours, Int8Linear)
    assert (ours.in_features, ours.out_features) == (16, 24)
    x = torch.randn(*shape)
    with torch.no_grad():
        got = ours(x)
        assert got.shape == (*shape[:-1], 24)
        assert torch.equal(got, theirs(x))
        assert (got - linear(x)).abs().max() < 0.05
