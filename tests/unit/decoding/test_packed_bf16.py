"""``search.precision: bf16`` on a CPU with oneDNN bf16 kernels: linear layers on bf16 weights
prepared once, everything around them in fp32, the model itself untouched."""

from __future__ import annotations

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator
from torch import nn

import seq2seq.decoding.translator as translator_module
from seq2seq.decoding.packed import PackedLinear, packed_copy, packing_available

needs_bf16_kernels = pytest.mark.skipif(
    not packing_available(torch.bfloat16), reason="oneDNN has no bf16 kernels for this CPU"
)


def bf16_reference(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """What a bf16 product should give: input and weight rounded to bf16, exact fp32 sums."""
    weight = linear.weight.bfloat16().double()
    out = x.bfloat16().double() @ weight.t()
    return (out if linear.bias is None else out + linear.bias.double()).float()


@needs_bf16_kernels
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(24,), (5, 24), (3, 1, 24), (2, 7, 24), (0, 24)])
def test_a_bf16_layer_is_the_product_of_bf16_rounded_operands_in_fp32(
    shape: tuple[int, ...], bias: bool
) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    with torch.no_grad():
        out = PackedLinear(linear, torch.bfloat16)(x)
        want = bf16_reference(linear, x)
    assert out.dtype == torch.float32 and out.shape == (*shape[:-1], 40)
    # oneDNN may round partial sums to bf16 at most once more: about 3 significant digits
    torch.testing.assert_close(out, want, rtol=1e-2, atol=1e-2)
    if out.numel():  # and it is really bf16: fp32 weights would differ from the rounded ones
        assert not torch.allclose(out, linear(x), rtol=1e-6, atol=1e-6)


@needs_bf16_kernels
def test_a_bf16_layer_follows_weight_changes() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    packed = PackedLinear(linear, torch.bfloat16)
    x = torch.randn(4, 16)
    with torch.no_grad():
        packed(x)
        linear.weight.mul_(-2.0)
        torch.testing.assert_close(packed(x), bf16_reference(linear, x), rtol=1e-2, atol=1e-2)


def test_only_fp32_and_bf16_are_offered() -> None:
    with pytest.raises(ValueError, match=r"float32 or bfloat16, not torch\.float16"):
        PackedLinear(nn.Linear(4, 4), torch.float16)


@needs_bf16_kernels
def test_the_bf16_copy_shares_the_fp32_parameters() -> None:
    model = tiny_translator().model
    copy = packed_copy(model, torch.bfloat16)
    wrappers = [m for m in copy.modules() if isinstance(m, PackedLinear)]
    assert wrappers and all(m.dtype == torch.bfloat16 and m.onednn for m in wrappers)
    assert {id(p) for p in copy.parameters()} == {id(p) for p in model.parameters()}
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.fixture
def autocast_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The precision of every autocast region a search opens, in order."""
    asked: list[str] = []
    real_autocast = translator_module.autocast

    def recording_autocast(device: torch.device, precision: str) -> object:
        asked.append(precision)
        return real_autocast(device, precision)

    monkeypatch.setattr(translator_module, "autocast", recording_autocast)
    return asked


@needs_bf16_kernels
def test_bf16_search_uses_the_bf16_copy_without_autocast_and_stays_close_to_fp32(
    autocast_asked: list[str],
) -> None:
    translator = tiny_translator()
    fp32 = translator.translate(SOURCES, beam_size=3)
    bf16 = translator.translate(SOURCES, beam_size=3, precision="bf16")
    assert isinstance(translator._bf16_model, nn.Module)
    assert all(
        m.dtype == torch.bfloat16
        for m in translator._bf16_model.modules()
        if isinstance(m, PackedLinear)
    )
    assert set(autocast_asked) == {"fp32"}  # the layers do bf16 themselves
    assert [t.source for t in bf16] == SOURCES
    # a random model's near-ties may flip a word; the scores of each output stay close
    assert [t.score for t in bf16] == pytest.approx([t.score for t in fp32], abs=0.05)
    again = translator.translate(SOURCES, beam_size=3, precision="bf16")
    assert [t.text for t in again] == [t.text for t in bf16]


def test_without_bf16_kernels_bf16_search_runs_under_autocast(
    monkeypatch: pytest.MonkeyPatch, autocast_asked: list[str]
) -> None:
    translator = tiny_translator()
    monkeypatch.setattr(translator_module, "packing_available", lambda dtype=None: False)
    out = translator.translate(SOURCES[:2], beam_size=2, precision="bf16")
    assert [t.source for t in out] == SOURCES[:2]
    assert translator._bf16_model is None and autocast_asked == ["bf16"]
