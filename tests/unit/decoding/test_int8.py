"""``search.precision: int8``: a quantized copy decodes; the model itself is untouched."""

from __future__ import annotations

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator
from torch import nn

from seq2seq.decoding.quantize import int8_copy
from seq2seq.device import resolve_precision
from seq2seq.errors import ConfigError


def test_the_copy_has_int8_linear_layers_and_the_model_keeps_fp32() -> None:
    translator = tiny_translator()
    model = translator.model
    before = {name: p.clone() for name, p in model.state_dict().items()}
    quantized = int8_copy(model)
    linear_kinds = {type(m).__module__ for m in quantized.modules() if "Linear" in type(m).__name__}
    assert any("quantized" in kind for kind in linear_kinds)
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
