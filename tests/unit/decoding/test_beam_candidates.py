"""Beam search's choice of each row's best extensions (``beam._best_extensions``) equals ranking
every extension of every beam: vocabulary blocks, a partial last block, frozen and empty beams,
the first step's one row per input, coverage and the length penalties included."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.decoding.beam import _Beams, _best_extensions
from seq2seq.decoding.best_tokens import BLOCK, MIN_BLOCKS
from seq2seq.decoding.penalties import HypothesisScorer

EOS = 1
NEG_INF = float("-inf")


def make_beams(rows: int, beam: int, generator: torch.Generator) -> tuple[_Beams, torch.Tensor]:
    """Random beams: cumulative log-probs (one empty slot per row), lengths, finished flags;
    and which beams are frozen (finished, or row 0 at its maximum length)."""
    log_probs = -torch.rand(rows, beam, generator=generator) * 10
    log_probs[:, -1] = NEG_INF  # an empty slot
    lengths = torch.randint(1, 9, (rows, beam), generator=generator)
    finished = torch.rand(rows, beam, generator=generator) < 0.3
    frozen = finished.clone()
    frozen[0] = True  # row 0 reached its maximum length: every beam is frozen
    tokens = torch.zeros(rows * beam, 0, dtype=torch.long)
    beams = _Beams(log_probs, lengths, finished, tokens, tokens.float(), None)
    return beams, frozen


def brute_force(
    log_probs: torch.Tensor,
    beams: _Beams,
    frozen: torch.Tensor,
    scorer: HypothesisScorer,
    coverage: torch.Tensor | float,
) -> list[list[float]]:
    """Every row's candidate scores, best first: each live beam with every token, and each
    frozen beam once, carried with EOS at cost 0."""
    rows, beam = frozen.shape
    per_row = log_probs.size(0) // rows
    by_beam = log_probs.view(rows, per_row, -1)
    best = []
    for row in range(rows):
        scores = []
        for b in range(per_row):
            cum, length = beams.log_probs[row, b], beams.lengths[row, b]
            cover = coverage[row, b] if isinstance(coverage, torch.Tensor) else coverage
            if frozen[row, b]:
                scores.append(float(scorer.score(cum, length, cover)))
            else:
                scores += scorer.score(cum + by_beam[row, b], length + 1, cover).tolist()
        scores += [NEG_INF] * beam  # rows with fewer candidates than beams
        best.append(sorted(scores, reverse=True)[:beam])
    return best


def assert_best_of_all(
    log_probs: torch.Tensor,
    beams: _Beams,
    frozen: torch.Tensor,
    scorer: HypothesisScorer,
    coverage: torch.Tensor | float,
) -> None:
    """The chosen extensions are consistent (token log-prob, carry, cumulative log-prob) and
    their scores are the best ``beam`` of all candidates, best first."""
    rows = frozen.size(0)
    per_row = log_probs.size(0) // rows
    vocab = log_probs.size(1)
    parents, tokens, token_lps, after = _best_extensions(
        log_probs, beams, frozen, scorer, coverage, EOS
    )

    want = brute_force(log_probs, beams, frozen, scorer, coverage)
    by_beam = log_probs.view(rows, per_row, vocab)
    for row in range(rows):
        got = []
        for parent, token, token_lp, cumulative in zip(
            parents[row].tolist(),
            tokens[row].tolist(),
            token_lps[row].tolist(),
            after[row].tolist(),
            strict=True,
        ):
            if cumulative == NEG_INF:  # an empty slot
                got.append(NEG_INF)
                continue
            length = beams.lengths[row, parent]
            cover = coverage[row, parent] if isinstance(coverage, torch.Tensor) else coverage
            if frozen[row, parent]:  # carried unchanged
                assert (token, token_lp) == (EOS, 0.0)
                assert cumulative == beams.log_probs[row, parent]
            else:
                assert token_lp == by_beam[row, parent, token]
                assert cumulative == pytest.approx(float(beams.log_probs[row, parent]) + token_lp)
                length = length + 1
            got.append(float(scorer.score(torch.tensor(cumulative), length, cover)))
        assert got == pytest.approx(want[row], abs=1e-5)
        assert got == sorted(got, reverse=True)


@pytest.mark.parametrize("vocab", [3, 7, MIN_BLOCKS * BLOCK - 1, 125 * BLOCK, 125 * BLOCK + 3])
@pytest.mark.parametrize("first_step", [False, True])
@pytest.mark.parametrize(
    "penalties", [("none", 0.0, False), ("gnmt", 1.0, True), ("average", 0.0, True)]
)
def test_best_extensions_are_the_best_of_all_extensions(
    vocab: int, first_step: bool, penalties: tuple[str, float, bool]
) -> None:
    kind, alpha, with_coverage = penalties
    rows, beam = 3, 4
    generator = torch.Generator().manual_seed(vocab + first_step)
    beams, frozen = make_beams(rows, beam, generator)
    if first_step:  # one row per input; only beam 0 is live
        beams.log_probs[:] = NEG_INF
        beams.log_probs[:, 0] = 0.0
    per_row = 1 if first_step else beam
    log_probs = torch.log_softmax(torch.randn(rows * per_row, vocab, generator=generator) * 3, -1)
    log_probs[:, 0] = NEG_INF  # a forbidden token (BOS, or a step rule)
    scorer = HypothesisScorer(kind, alpha, 0.5 if with_coverage else 0.0)
    coverage = -torch.rand(rows, beam, generator=generator) if with_coverage else 0.0

    assert_best_of_all(log_probs, beams, frozen, scorer, coverage)


def test_a_frozen_or_empty_beam_never_extends() -> None:
    """Row 0's beams are all frozen: it keeps exactly its non-empty beams, unchanged."""
    generator = torch.Generator().manual_seed(0)
    beams, frozen = make_beams(2, 4, generator)
    log_probs = torch.log_softmax(torch.randn(8, 3000, generator=generator), -1)
    scorer = HypothesisScorer("gnmt", 1.0)
    parents, tokens, _, after = _best_extensions(log_probs, beams, frozen, scorer, 0.0, EOS)
    kept = sorted(parents[0][~after[0].isneginf()].tolist())
    assert kept == [0, 1, 2]  # beam 3 is an empty slot
    assert tokens[0][~after[0].isneginf()].tolist() == [EOS] * 3


@settings(max_examples=40, deadline=None)
@given(
    vocab=st.sampled_from([5, MIN_BLOCKS * BLOCK, 40 * BLOCK + 9]),
    levels=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_best_extensions_with_many_ties(vocab: int, levels: int, seed: int) -> None:
    """Few distinct log-probs, so many candidates tie (and whole blocks share their maximum):
    the scores chosen are still the best ones."""
    generator = torch.Generator().manual_seed(seed)
    beams, frozen = make_beams(2, 4, generator)
    log_probs = -torch.randint(0, levels, (8, vocab), generator=generator).float()
    assert_best_of_all(log_probs, beams, frozen, HypothesisScorer("gnmt", 1.0), 0.0)
