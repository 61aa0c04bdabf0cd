"""The pointer-generator (``model.copy``) and coverage (``model.coverage``), RNN and Transformer.

Properties, not numbers: the mixed distribution is a distribution over the vocabulary plus the
row's own OOV ids and puts mass on them; p_gen lies in (0, 1); teacher forcing equals step-by-
step decoding; a row's log-probs do not depend on the other rows of its batch; ``select``
reorders the coverage vector; the losses do what their equations say; the config rejects what
the model cannot do, naming the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from seq2seq.config import ModelConfig, load_config
from seq2seq.errors import ConfigError
from seq2seq.models import Seq2Seq, build_model
from seq2seq.models.coverage import CoverageState
from seq2seq.training.copy_loss import copy_sequence_loss, coverage_loss

VOCAB = 12  # ids 12, 13 below are extended (per-sentence OOV) ids
BOS = 2
TRANSFORMER = {"hidden_size": 16, "embedding_size": 16, "heads": 2, "ff_size": 32}
COPY_MODELS: dict[str, dict[str, Any]] = {
    "lstm-luong_general": {"attention": "luong_general"},
    "gru-bahdanau-coverage": {
        "attention": "bahdanau",
        "coverage": True,
        "encoder": {"type": "gru", "bidirectional": True},
        "decoder": {"type": "gru"},
    },
    "lstm-luong_concat-coverage-feed": {
        "attention": "luong_concat",
        "coverage": True,
        "decoder": {"input_feeding": True},
    },
    "transformer": {
        "attention": "multihead",
        "encoder": {"type": "transformer", **TRANSFORMER},
        "decoder": {"type": "transformer", **TRANSFORMER},
    },
    "lstm>transformer": {
        "attention": "multihead",
        "decoder": {"type": "transformer", **TRANSFORMER},
    },
}


def copy_model(small_model_config: Callable[..., ModelConfig], name: str) -> Seq2Seq:
    cfg = small_model_config(copy=True, **COPY_MODELS[name])
    return build_model(cfg, VOCAB, VOCAB, pad_id=0).eval()


def example_batch() -> tuple[Tensor, Tensor, Tensor]:
    """Row 0 has two OOVs (12, 13), row 1 one (12), row 2 none; rows 1 and 2 are padded."""
    src = torch.tensor([[5, 12, 13, 12, 3], [6, 7, 12, 3, 0], [8, 9, 3, 0, 0]])
    lengths = torch.tensor([5, 4, 3])
    tgt_in = torch.tensor([[BOS, 12, 5, 13], [BOS, 12, 7, 4], [BOS, 8, 9, 4]])
    return src, lengths, tgt_in


def step_by_step(model: Seq2Seq, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
    enc = model.encode(src, lengths)
    state = model.init_state(enc)
    steps = []
    for t in range(tgt_in.size(1)):
        log_probs, state, _ = model.decode_step(tgt_in[:, t], state, enc)
        steps.append(log_probs)
    return torch.stack(steps, dim=1)  # [B, T, V + X]


@pytest.mark.parametrize("name", COPY_MODELS)
def test_mixed_distribution_sums_to_one_and_covers_the_rows_own_oovs(
    small_model_config: Callable[..., ModelConfig], name: str
) -> None:
    model = copy_model(small_model_config, name)
    src, lengths, tgt_in = example_batch()
    with torch.no_grad():
        log_probs, attn = model(src, lengths, tgt_in)
    assert log_probs.shape == (3, 4, VOCAB + 2)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 4))
    probs = log_probs.exp()
    assert bool((probs[0, :, VOCAB:] > 0).all())  # row 0 can copy both of its OOVs
    assert bool((probs[1, :, VOCAB] > 0).all())
    assert bool(torch.isneginf(log_probs[1, :, VOCAB + 1]).all())  # row 1 has one OOV only
    assert bool(torch.isneginf(log_probs[2, :, VOCAB:]).all())
    # Copy mass on an OOV is (1 - p_gen) times the attention on its source positions.
    assert attn is not None
    embedded = model.embed_target(tgt_in)
    outputs, *_ = model._teacher_forced(src, lengths, tgt_in)
    p_gen = model.pointer.generation_probability(
        outputs, attn, embedded, model.encode(src, lengths)
    )
    expected = (1 - p_gen[0]) * attn[0, :, [1, 3]].sum(-1)
    torch.testing.assert_close(probs[0, :, VOCAB], expected.detach())


@pytest.mark.parametrize("name", ["lstm-luong_general", "transformer"])
def test_generation_probability_lies_strictly_between_0_and_1(
    small_model_config: Callable[..., ModelConfig], name: str
) -> None:
    model = copy_model(small_model_config, name)
    src, lengths, tgt_in = example_batch()
    with torch.no_grad():
        outputs, attn, embedded, enc = model._teacher_forced(src, lengths, tgt_in)
        p_gen = model.pointer.generation_probability(outputs, attn, embedded, enc)
    assert p_gen.shape == (3, 4)
    assert bool(((p_gen > 0) & (p_gen < 1)).all())


@pytest.mark.parametrize("name", COPY_MODELS)
def test_teacher_forcing_equals_step_by_step_decoding(
    small_model_config: Callable[..., ModelConfig], name: str
) -> None:
    model = copy_model(small_model_config, name)
    src, lengths, tgt_in = example_batch()
    with torch.no_grad():
        forced, _ = model(src, lengths, tgt_in)
        stepped = step_by_step(model, src, lengths, tgt_in)
    torch.testing.assert_close(forced, stepped, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", COPY_MODELS)
def test_a_rows_log_probs_do_not_depend_on_its_batch(
    small_model_config: Callable[..., ModelConfig], name: str
) -> None:
    model = copy_model(small_model_config, name)
    src, lengths, tgt_in = example_batch()
    with torch.no_grad():
        batched, _ = model(src, lengths, tgt_in)
        for row, width in enumerate([VOCAB + 2, VOCAB + 1, VOCAB]):
            length = int(lengths[row])
            alone, _ = model(
                src[row : row + 1, :length], lengths[row : row + 1], tgt_in[row : row + 1]
            )
            assert alone.size(-1) == width
            torch.testing.assert_close(batched[row, :, :width], alone[0], atol=1e-5, rtol=1e-5)


def test_select_reorders_the_coverage_vector(
    small_model_config: Callable[..., ModelConfig],
) -> None:
    model = copy_model(small_model_config, "gru-bahdanau-coverage")
    src, lengths, tgt_in = example_batch()
    with torch.no_grad():
        enc = model.encode(src, lengths)
        state = model.init_state(enc)
        for t in range(2):
            _, state, _ = model.decode_step(tgt_in[:, t], state, enc)
    assert isinstance(state, CoverageState)
    # After two steps the coverage of each real row sums to 2 (two attention distributions).
    torch.testing.assert_close(state.coverage.sum(-1), torch.full((3,), 2.0))
    order = torch.tensor([2, 0, 0, 1])
    picked = state.select(order)
    torch.testing.assert_close(picked.coverage, state.coverage[order])
    torch.testing.assert_close(picked.hidden, state.hidden[:, order])
    with torch.no_grad():  # the reordered state decodes like the original rows
        a, _, _ = model.decode_step(tgt_in[:, 2], state, enc)
        b, _, _ = model.decode_step(tgt_in[order, 2], picked, enc.select(order))
    torch.testing.assert_close(b, a[order])


def test_coverage_without_copy_trains_on_in_vocabulary_ids(
    small_model_config: Callable[..., ModelConfig],
) -> None:
    cfg = small_model_config(attention="luong_concat", coverage=True)
    model = build_model(cfg, VOCAB, VOCAB, pad_id=0)
    src = torch.tensor([[5, 6, 3], [7, 3, 0]])
    logits, attn = model(src, torch.tensor([3, 2]), torch.tensor([[BOS, 5], [BOS, 7]]))
    assert model.pointer is None and logits.shape == (2, 2, VOCAB)
    assert attn is not None and bool((attn[1, :, 2] == 0).all())  # nothing on padding


def test_copy_loss_gathers_extended_gold_ids_and_smooths_over_the_vocabulary() -> None:
    probs = torch.tensor([[0.5, 0.2, 0.1, 0.2, 0.0], [0.1, 0.1, 0.1, 0.1, 0.6]])
    log_probs = probs.log()  # column 4: an extended id, -inf in row 0
    gold = torch.tensor([0, 4])
    loss, stats = copy_sequence_loss(log_probs, gold, vocab_size=4)
    torch.testing.assert_close(loss, -(torch.tensor(0.5).log() + torch.tensor(0.6).log()))
    assert stats.correct == 2 and stats.tokens == 2
    smoothed, _ = copy_sequence_loss(log_probs, gold, vocab_size=4, label_smoothing=0.1)
    assert torch.isfinite(smoothed)  # the -inf of another row's extended id is not averaged


def test_coverage_loss_is_the_overlap_with_earlier_attention() -> None:
    attn = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]])  # [B=1, T=3, S=2]
    # c_1 = (0,0) -> 0; c_2 = (1,0) -> min(.5,1)+min(.5,0) = .5; c_3 = (1.5,.5) -> 0 + .5
    real = torch.ones(1, 3, dtype=torch.bool)
    torch.testing.assert_close(coverage_loss(attn, real), torch.tensor(1.0))
    real[0, 2] = False  # a padded target step does not count
    torch.testing.assert_close(coverage_loss(attn, real), torch.tensor(0.5))


# --- config errors ---------------------------------------------------------------------------


def test_copy_without_attention_is_a_config_error(
    model_config_errors: Callable[[dict[str, Any]], str],
) -> None:
    message = model_config_errors({"attention": "none", "copy": True})
    assert "model: copy needs attention" in message


def test_coverage_with_a_transformer_decoder_is_a_config_error(
    model_config_errors: Callable[[dict[str, Any]], str],
) -> None:
    message = model_config_errors(
        {"decoder": {"type": "transformer", **TRANSFORMER}, "coverage": True}
    )
    assert "coverage applies to RNN decoders only" in message


def test_coverage_with_a_multiplicative_attention_is_a_config_error(
    model_config_errors: Callable[[dict[str, Any]], str],
) -> None:
    message = model_config_errors({"attention": "luong_dot", "coverage": True})
    assert (
        "coverage needs an additive attention ('bahdanau' or 'luong_concat'), got 'luong_dot'"
        in message
    )


def config_error(data: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> str:
    raw = {
        "data": {"corpus": "toy-copy-unseen", **data},
        "model": model,
        "train": {"max_steps": 1, **train},
    }
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    return str(info.value)


def test_copy_with_separate_vocabularies_is_a_config_error() -> None:
    message = config_error({"tokenizer": {"joint": False}}, {"copy": True}, {})
    assert "model.copy needs data.tokenizer.joint: true" in message


def test_coverage_loss_without_coverage_is_a_config_error() -> None:
    message = config_error({}, {}, {"coverage_loss_weight": 1.0})
    assert "train.coverage_loss_weight 1.0 needs model.coverage: true" in message


def test_negative_coverage_loss_weight_is_a_config_error() -> None:
    message = config_error(
        {}, {"coverage": True, "attention": "bahdanau"}, {"coverage_loss_weight": -1}
    )
    assert "train.coverage_loss_weight: -1:" in message
