"""Greedy and beam search over small, randomly initialised real models (RNN and Transformer).

The fake models in ``fake_models.py`` pin down search logic; these tests check that the same
properties hold when the real ``Seq2Seq`` drives the search: its state reordering, its
attention masks and its padding.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from seq2seq.config import ModelConfig
from seq2seq.decoding import Hypothesis, beam_search, greedy_search
from seq2seq.models import Seq2Seq, build_model

PAD, BOS, EOS = 0, 2, 3
VOCAB = 12

FAMILIES: dict[str, dict[str, Any]] = {
    "lstm-luong_general-feed": {
        "encoder": {"type": "lstm", "hidden_size": 8, "bidirectional": True},
        "decoder": {"type": "lstm", "hidden_size": 16},
        "attention": "luong_general",
    },
    "gru-bahdanau": {
        "encoder": {"type": "gru", "hidden_size": 12},
        "decoder": {"type": "gru", "hidden_size": 12},
        "attention": "bahdanau",
        "bridge": "copy",
    },
    "rnn>lstm-luong_dot-2layers": {
        "encoder": {"type": "rnn", "hidden_size": 8, "layers": 2, "bidirectional": True},
        "decoder": {"type": "lstm", "hidden_size": 16, "layers": 2, "input_feeding": False},
        "attention": "luong_dot",
        "bridge": "zero",
    },
    "lstm>gru-luong_concat": {
        "encoder": {"type": "lstm", "hidden_size": 16, "layers": 2},
        "decoder": {"type": "gru", "hidden_size": 8},
        "attention": "luong_concat",
    },
    "transformer": {
        "encoder": {"type": "transformer", "hidden_size": 16, "embedding_size": 16, "heads": 4},
        "decoder": {"type": "transformer", "hidden_size": 16, "embedding_size": 16, "layers": 2},
    },
    "lstm>transformer": {
        "encoder": {"type": "lstm", "hidden_size": 8, "bidirectional": True},
        "decoder": {"type": "transformer", "hidden_size": 8, "embedding_size": 8, "heads": 2},
    },
    "transformer>gru-multihead": {
        "encoder": {"type": "transformer", "hidden_size": 8, "embedding_size": 8, "heads": 2},
        "decoder": {"type": "gru", "hidden_size": 12, "heads": 3},
        "attention": "multihead",
    },
    "gru>lstm-no-attention": {
        "encoder": {"type": "gru", "hidden_size": 16},
        "decoder": {"type": "lstm", "hidden_size": 16},
        "attention": "none",
    },
}


def make_model(family: str, seed: int) -> Seq2Seq:
    spec = {
        **FAMILIES[family],
        "encoder": {"embedding_size": 8, **FAMILIES[family]["encoder"]},
        "decoder": {"embedding_size": 8, **FAMILIES[family]["decoder"]},
    }
    torch.manual_seed(seed)
    model = build_model(ModelConfig.model_validate(spec), VOCAB, VOCAB, PAD)
    # Random init puts EOS nowhere special; a bias makes it likely enough that some
    # hypotheses finish and others are cut at the maximum length.
    with torch.no_grad():
        model.generator.bias[EOS] += 1.0
    return model.eval()


def random_batch(seed: int, batch: int = 5, max_len: int = 7) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch,), generator=gen)
    lengths[1] = max_len
    src = torch.randint(4, VOCAB, (batch, max_len), generator=gen)
    src[torch.arange(max_len)[None, :] >= lengths[:, None]] = PAD
    return src, lengths


MAX_LENGTHS = torch.tensor([9, 4, 7, 1, 12])


def greedy(model: Seq2Seq, src: Tensor, lengths: Tensor, max_lengths: Tensor) -> list[Hypothesis]:
    return greedy_search(model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths)


def beam(
    model: Seq2Seq, src: Tensor, lengths: Tensor, max_lengths: Tensor, **kwargs: Any
) -> list[list[Hypothesis]]:
    return beam_search(
        model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths, **kwargs
    )


def unpadded(src: Tensor, lengths: Tensor, row: int) -> tuple[Tensor, Tensor]:
    length = int(lengths[row])
    return src[row : row + 1, :length], lengths[row : row + 1]


CASES = [(family, seed) for family in FAMILIES for seed in (0, 1)]
IDS = [f"{family}-seed{seed}" for family, seed in CASES]


@pytest.mark.parametrize(("family", "seed"), CASES, ids=IDS)
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_size_one_equals_greedy(family: str, seed: int, alpha: float) -> None:
    model = make_model(family, seed)
    src, lengths = random_batch(seed)
    greedy_hyps = greedy(model, src, lengths, MAX_LENGTHS)
    beam_hyps = beam(model, src, lengths, MAX_LENGTHS, beam_size=1, length_penalty=alpha)
    for g, [b] in zip(greedy_hyps, beam_hyps, strict=True):
        assert b.tokens == g.tokens
        assert b.finished == g.finished
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-4)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=IDS)
def test_greedy_batched_equals_one_by_one(family: str, seed: int) -> None:
    model = make_model(family, seed)
    src, lengths = random_batch(seed)
    batched = greedy(model, src, lengths, MAX_LENGTHS)
    for row, hyp in enumerate(batched):
        [alone] = greedy(model, *unpadded(src, lengths, row), MAX_LENGTHS[row : row + 1])
        assert hyp.tokens == alone.tokens
        assert hyp.finished == alone.finished
        assert hyp.token_log_probs == pytest.approx(alone.token_log_probs, abs=1e-4)
        if alone.attention is None:
            assert hyp.attention is None
        else:
            assert hyp.attention is not None
            assert hyp.attention.shape == (len(hyp.token_log_probs), int(lengths[row]))
            torch.testing.assert_close(hyp.attention, alone.attention, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=IDS)
def test_beam_batched_equals_one_by_one(family: str, seed: int) -> None:
    model = make_model(family, seed)
    src, lengths = random_batch(seed)
    kwargs = {"beam_size": 4, "n_best": 3, "length_penalty": 0.6}
    batched = beam(model, src, lengths, MAX_LENGTHS, **kwargs)
    for row, hyps in enumerate(batched):
        [alone] = beam(model, *unpadded(src, lengths, row), MAX_LENGTHS[row : row + 1], **kwargs)
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert [h.finished for h in hyps] == [h.finished for h in alone]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-4)


@pytest.mark.parametrize(("family", "seed"), CASES, ids=IDS)
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_n_best_is_sorted_distinct_and_within_limits(family: str, seed: int, alpha: float) -> None:
    model = make_model(family, seed)
    src, lengths = random_batch(seed)
    max_lengths = torch.full((src.size(0),), 6)
    results = beam(model, src, lengths, max_lengths, beam_size=5, n_best=5, length_penalty=alpha)
    assert len(results) == src.size(0)
    for row, hyps in enumerate(results):
        assert len(hyps) == 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({(tuple(h.tokens), h.finished) for h in hyps}) == len(hyps)
        for h in hyps:
            assert len(h.token_log_probs) <= 6
            assert BOS not in h.tokens and EOS not in h.tokens
            assert h.log_prob == pytest.approx(sum(h.token_log_probs), abs=1e-4)
            if h.attention is not None:
                assert h.attention.shape == (len(h.token_log_probs), int(lengths[row]))
                torch.testing.assert_close(
                    h.attention.sum(-1), torch.ones(len(h.token_log_probs)), atol=1e-5, rtol=0
                )


class RowCounting:
    """Passes the contract through to ``model``, recording the rows of each decode step."""

    def __init__(self, model: Seq2Seq) -> None:
        self.model, self.rows = model, []

    def encode(self, src: Tensor, src_lengths: Tensor) -> Any:
        return self.model.encode(src, src_lengths)

    def init_state(self, enc: Any) -> Any:
        return self.model.init_state(enc)

    def decode_step(self, prev_tokens: Tensor, state: Any, enc: Any, attention: bool = True) -> Any:
        self.rows.append(prev_tokens.size(0))
        return self.model.decode_step(prev_tokens, state, enc, attention)


@pytest.mark.parametrize("family", FAMILIES)
def test_beam_search_runs_its_first_step_once_per_input(family: str) -> None:
    """All beams of an input start from the same state: step 0 needs one row per input."""
    counting = RowCounting(make_model(family, 0))
    src, lengths = random_batch(0)
    beam(counting, src, lengths, torch.full((5,), 6), beam_size=3)  # type: ignore[arg-type]
    assert counting.rows[0] == 5
    assert counting.rows[1] == 15  # no input can have stopped: its 3 beams hold 3 tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_search_drops_stopped_rows_from_the_batch(family: str) -> None:
    """Rows that produced EOS or reached their maximum length are not computed any more
    (their results still come back, in input order: see the batched == one-by-one test)."""
    model = make_model(family, 0)
    with torch.no_grad():  # EOS (almost) never: each row runs to its own maximum length
        model.generator.bias[EOS] = -30.0
    counting = RowCounting(model)
    src, lengths = random_batch(0)
    max_lengths = torch.tensor([9, 4, 7, 1, 12])
    hyps = greedy(counting, src, lengths, max_lengths)  # type: ignore[arg-type]
    produced = [len(h.token_log_probs) for h in hyps]
    # With 5 rows any stop is over an eighth of the batch: each step computes exactly the
    # rows still growing.
    assert produced == max_lengths.tolist()
    assert counting.rows == [sum(n > step for n in produced) for step in range(max(produced))]
    assert [h.tokens for h in hyps] == [h.tokens for h in greedy(model, src, lengths, max_lengths)]


@pytest.mark.parametrize("family", FAMILIES)
def test_beam_search_drops_inputs_whose_beams_all_stopped(family: str) -> None:
    model = make_model(family, 0)
    with torch.no_grad():  # EOS (almost) never: each input's beams run to its maximum length
        model.generator.bias[EOS] = -30.0
    counting = RowCounting(model)
    src, lengths = random_batch(0)
    max_lengths = torch.tensor([9, 4, 7, 1, 12])
    results = beam(counting, src, lengths, max_lengths, beam_size=3)  # type: ignore[arg-type]
    assert [len(hyps[0].token_log_probs) for hyps in results] == max_lengths.tolist()
    growing = [3 * sum(n > step for n in max_lengths.tolist()) for step in range(1, 12)]
    assert counting.rows == [5, *growing]
    for row, hyps in enumerate(results):  # each input decoded alone gives the same
        [alone] = beam(model, *unpadded(src, lengths, row), max_lengths[row : row + 1], beam_size=3)
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("beam_size", [1, 3])
def test_searching_without_attention_finds_the_same_outputs_and_keeps_none(
    family: str, beam_size: int
) -> None:
    """``attention=False`` lets a Transformer skip its weights path; the outputs and scores
    stay those of the search that keeps attention, and no hypothesis carries any."""
    model = make_model(family, seed=0)
    src, lengths = random_batch(seed=3)
    with torch.no_grad():
        if beam_size == 1:
            kept = [[h] for h in greedy(model, src, lengths, MAX_LENGTHS)]
            dropped = [
                [h]
                for h in greedy_search(
                    model,
                    src,
                    lengths,
                    bos_id=BOS,
                    eos_id=EOS,
                    max_lengths=MAX_LENGTHS,
                    attention=False,
                )
            ]
        else:
            kept = beam(model, src, lengths, MAX_LENGTHS, beam_size=beam_size, n_best=2)
            dropped = beam(
                model, src, lengths, MAX_LENGTHS, beam_size=beam_size, n_best=2, attention=False
            )
    for want_row, got_row in zip(kept, dropped, strict=True):
        for want, got in zip(want_row, got_row, strict=True):
            assert got.tokens == want.tokens
            assert got.score == pytest.approx(want.score, abs=1e-5)
            assert got.attention is None
            assert (want.attention is None) == (family == "gru>lstm-no-attention")


def test_a_transformer_step_without_attention_returns_none_and_the_same_log_probs() -> None:
    model = make_model("transformer", seed=0)
    src, lengths = random_batch(seed=4)
    prev = torch.full((src.size(0),), BOS)
    with torch.no_grad():
        enc = model.encode(src, lengths)
        with_weights, _, attn = model.decode_step(prev, model.init_state(enc), enc)
        without, _, none = model.decode_step(prev, model.init_state(enc), enc, attention=False)
    assert attn is not None and attn.shape == src.shape
    assert none is None
    torch.testing.assert_close(without, with_weights, rtol=1e-5, atol=1e-5)


def test_the_coverage_penalty_keeps_attention_even_when_not_asked_for() -> None:
    model = make_model("gru-bahdanau", seed=1)
    src, lengths = random_batch(seed=5)
    with torch.no_grad():
        asked = beam(model, src, lengths, MAX_LENGTHS, beam_size=3, coverage_penalty=0.4)
        unasked = beam(
            model, src, lengths, MAX_LENGTHS, beam_size=3, coverage_penalty=0.4, attention=False
        )
    for want, got in zip(asked, unasked, strict=True):
        assert [h.tokens for h in got] == [h.tokens for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want])
