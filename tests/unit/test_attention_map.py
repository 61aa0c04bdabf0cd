"""The attention behind one translation: layer/head selection, agreement with search, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from seq2seq.attention_map import (
    NO_ATTENTION,
    AttentionMap,
    attention_map,
    teacher_forced_attention,
)
from seq2seq.config import ModelConfig, SearchConfig, TokenizerConfig
from seq2seq.data.corpus import Pair
from seq2seq.data.pipeline import TextCodec
from seq2seq.decoding.translator import Translator
from seq2seq.errors import InputError
from seq2seq.models import build_model

MakeModelConfig = Callable[..., ModelConfig]
PAIRS = [Pair("1 2 3 4", "4 3 2 1", "t:1"), Pair("5 6 7", "7 6 5", "t:2"), Pair("8 9", "9 8", "")]
TRANSFORMER = {"type": "transformer", "hidden_size": 16, "embedding_size": 16, "heads": 2}


def make_translator(model_cfg: ModelConfig, beam_size: int = 1) -> Translator:
    codec = TextCodec.build(PAIRS, TokenizerConfig(kind="word"))
    vocab = codec.tgt_vocab
    model = build_model(model_cfg, len(codec.src_vocab), len(vocab), vocab.pad_id)
    search = SearchConfig(beam_size=beam_size, max_len_ratio=1.0, max_len_extra=3)
    return Translator(model, codec, search)


def synthetic_map(layers: int = 2, heads: int = 3, rows: int = 4, cols: int = 5) -> AttentionMap:
    weights = torch.rand(layers, heads, rows, cols).softmax(-1)
    return AttentionMap(
        "src", "out", [f"s{i}" for i in range(cols)], [f"t{i}" for i in range(rows)], weights, 1
    )


def test_select_defaults_to_last_layer_mean_of_heads() -> None:
    amap = synthetic_map()
    weights, caption = amap.select()
    torch.testing.assert_close(weights, amap.weights[1].mean(0))
    assert caption == "layer 1 (of 2), mean of 3 heads"


def test_select_layer_head_and_averages() -> None:
    amap = synthetic_map()
    torch.testing.assert_close(amap.select(0, 2)[0], amap.weights[0, 2])
    torch.testing.assert_close(amap.select("avg", "avg")[0], amap.weights.mean((0, 1)))
    torch.testing.assert_close(amap.select("0", "AVG")[0], amap.weights[0].mean(0))
    assert amap.select("avg", 1)[1] == "mean of 2 layers, head 1 (of 3)"
    assert synthetic_map(layers=1, heads=1).select()[1] == "attention"


@pytest.mark.parametrize(
    ("layer", "head", "message"),
    [
        (2, None, "--layer 2: out of range: this model has 2 decoder layers; allowed: 0..1 or avg"),
        ("-1", None, "--layer -1: out of range"),
        (None, 3, "--head 3: out of range: this model has 3 attention heads; allowed: 0..2 or avg"),
        ("last", None, "--layer last: not a number; allowed: 0..1 or avg"),
        (None, "x", "--head x: not a number; allowed: 0..2 or avg"),
    ],
)
def test_bad_layer_or_head_names_flag_value_and_range(
    layer: object, head: object, message: str
) -> None:
    with pytest.raises(InputError) as err:
        synthetic_map().select(layer, head)  # type: ignore[arg-type]
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_rnn_map_equals_search_attention_and_rows_sum_to_one(
    small_model_config: MakeModelConfig, beam_size: int
) -> None:
    translator = make_translator(small_model_config(), beam_size)
    amap = attention_map(translator, "1 2 3 4", beam_size=beam_size)
    translation = translator.translate(
        ["1 2 3 4"], beam_size=beam_size, n_best=1, return_attention=True
    )[0]
    best = translation.candidates[0]
    assert (amap.num_layers, amap.num_heads) == (1, 1)
    assert amap.src_tokens == ["1", "2", "3", "4", "</s>"]
    assert amap.tgt_tokens[: len(best.tokens)] == best.tokens
    assert amap.weights.shape == (1, 1, len(best.token_log_probs), 5)
    assert amap.output == best.text and amap.beam_size == beam_size
    # Teacher forcing the chosen output reproduces the attention search recorded.
    assert best.attention is not None
    torch.testing.assert_close(amap.weights[0, 0], best.attention.float())
    torch.testing.assert_close(amap.weights.sum(-1), torch.ones(1, 1, amap.weights.size(2)))


def test_eos_row_only_when_produced(small_model_config: MakeModelConfig) -> None:
    translator = make_translator(small_model_config())
    amap = attention_map(translator, "5 6 7")
    best = translator.translate(["5 6 7"])[0].candidates[0]
    produced_eos = len(best.token_log_probs) == len(best.tokens) + 1
    assert (amap.tgt_tokens[-1] == "</s>") == produced_eos
    assert len(amap.tgt_tokens) == len(best.token_log_probs)


def test_transformer_gives_every_layer_and_head(small_model_config: MakeModelConfig) -> None:
    cfg = small_model_config(
        encoder={**TRANSFORMER, "layers": 1},
        decoder={**TRANSFORMER, "layers": 2},
        attention="multihead",
    )
    amap = attention_map(make_translator(cfg), "1 2 3")
    assert (amap.num_layers, amap.num_heads) == (2, 2)
    assert amap.weights.shape[-1] == len(amap.src_tokens) == 4
    assert amap.weights.shape[-2] == len(amap.tgt_tokens)
    torch.testing.assert_close(amap.weights.sum(-1), torch.ones(amap.weights.shape[:-1]))


def test_model_mode_is_restored(small_model_config: MakeModelConfig) -> None:
    translator = make_translator(small_model_config(decoder={"dropout": 0.3}))
    translator.model.train()
    teacher_forced_attention(translator, [5, 6, 3], [2, 5])
    assert translator.model.training


def test_attention_free_model_is_a_one_line_error(small_model_config: MakeModelConfig) -> None:
    translator = make_translator(small_model_config(attention="none"))
    with pytest.raises(InputError, match=r"^model has no attention \(model.attention: none\)$"):
        attention_map(translator, "1 2 3")
    assert NO_ATTENTION == "model has no attention (model.attention: none)"


def test_blank_source_is_an_error(small_model_config: MakeModelConfig) -> None:
    with pytest.raises(InputError, match="source sentence is empty"):
        attention_map(make_translator(small_model_config()), "   ")
