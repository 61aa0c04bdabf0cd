"""Minimum Bayes risk decoding: the selection rule on hand-made candidates, and the Translator
path that generates candidates by beam search or sampling and reranks them."""

from __future__ import annotations

import pytest
from sacrebleu.metrics import BLEU, CHRF
from tiny_translator import SOURCES, tiny_translator

from seq2seq.config import SearchConfig
from seq2seq.decoding.mbr import candidate_settings, expected_utilities, mbr_ranking, mbr_select
from seq2seq.errors import InputError

HOUSES = [
    "completely different words here",
    "the house is big",
    "the house is large",
    "the houses are big",
]


def brute_force(candidates: list[str], metric: str) -> list[float]:
    """Mean sentence score of each candidate against every other one, straight from sacrebleu."""
    scorer = CHRF() if metric == "chrf" else BLEU(effective_order=True)
    return [
        sum(scorer.sentence_score(h, [r]).score for j, r in enumerate(candidates) if j != i)
        / (len(candidates) - 1)
        for i, h in enumerate(candidates)
    ]


def test_the_consensus_wins_over_the_first_candidate() -> None:
    # The first candidate (the search's best) disagrees with all others; two others agree.
    candidates = ["x y z", "a b c", "a b c", "a b d"]
    for metric in ("chrf", "bleu"):
        ranking = mbr_ranking(candidates, metric)
        assert [i for i, _ in ranking] == [1, 2, 3, 0]  # tie 1/2: the earlier index first
        assert ranking[0][1] == ranking[1][1] > ranking[2][1] > ranking[3][1] == 0.0
        assert mbr_select(candidates, metric) == 1


@pytest.mark.parametrize("metric", ["chrf", "bleu"])
def test_the_pick_has_the_highest_mean_utility_against_the_others(metric: str) -> None:
    expected = brute_force(HOUSES, metric)
    assert expected_utilities(HOUSES, metric) == pytest.approx(expected)
    best = mbr_select(HOUSES, metric)
    assert expected[best] == max(expected)
    assert best != 0


def test_a_duplicate_counts_as_another_pseudo_reference() -> None:
    # "p q r" alone vs "s t u" drawn twice: the twice-drawn output is the expected-utility pick.
    assert mbr_select(["p q r", "s t u", "s t u"], "chrf") == 1
    utilities = expected_utilities(["p q r", "s t u", "s t u"], "chrf")
    assert utilities[1] == utilities[2] == pytest.approx(50.0)  # (0 + 100) / 2


def test_one_candidate_and_bad_arguments() -> None:
    assert mbr_select(["only"], "chrf") == 0
    assert expected_utilities(["only"], "bleu") == [0.0]
    with pytest.raises(InputError, match="MBR needs at least one candidate"):
        mbr_select([], "chrf")
    with pytest.raises(InputError, match="unknown MBR metric 'ter'; choose one of chrf, bleu"):
        mbr_select(["a", "b"], "ter")


def test_candidate_settings_widen_the_beam_or_draw_more_samples() -> None:
    beam = candidate_settings(SearchConfig(beam_size=4, mbr=True, mbr_candidates=8))
    assert (beam.beam_size, beam.n_best) == (8, 8)
    wide = candidate_settings(SearchConfig(beam_size=12, mbr=True, mbr_candidates=8))
    assert (wide.beam_size, wide.n_best) == (12, 8)
    sampled = candidate_settings(SearchConfig(sample=True, beam_size=1, mbr_candidates=6))
    assert (sampled.beam_size, sampled.n_best, sampled.sample) == (1, 6, True)


@pytest.mark.parametrize(
    "generation",
    [{"beam_size": 5}, {"sample": True, "seed": 3, "temperature": 1.5}],
    ids=["beam", "sampling"],
)
def test_translator_reranks_the_candidates_by_expected_utility(
    generation: dict[str, object],
) -> None:
    translator = tiny_translator(seed=0)
    plain = translator.translate(SOURCES, **generation, n_best=5)
    reranked = translator.translate(
        SOURCES, **generation, mbr=True, mbr_candidates=5, n_best=3, mbr_metric="chrf"
    )
    for before, after in zip(plain, reranked, strict=True):
        texts = [c.text for c in before.candidates]
        ranking = mbr_ranking(texts, "chrf")
        assert [c.text for c in after.candidates] == [texts[i] for i, _ in ranking[:3]]
        utilities = [c.mbr_utility for c in after.candidates]
        assert utilities == pytest.approx([u for _, u in ranking[:3]])
        assert after.text == texts[mbr_select(texts, "chrf")]
    assert all(c.mbr_utility is None for t in plain for c in t.candidates)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"mbr": True, "mbr_candidates": 4, "n_best": 5, "beam_size": 5},
            "n_best \\(5\\) must be <= mbr_candidates \\(4\\)",
        ),
        ({"mbr_candidates": 1}, "mbr_candidates: 1: Input should be greater than or equal to 2"),
        ({"mbr_metric": "ter"}, "mbr_metric: 'ter': Input should be 'chrf' or 'bleu'"),
    ],
)
def test_bad_mbr_settings_raise_input_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        tiny_translator().translate(SOURCES, **overrides)


def test_mbr_n_best_is_bounded_by_the_candidates_not_the_beam() -> None:
    translator = tiny_translator(seed=0, beam_size=1)  # a greedy default, as in toy configs
    for translation in translator.translate(SOURCES, mbr=True, mbr_candidates=4, n_best=3):
        assert len(translation.candidates) == 3
        assert len({c.text for c in translation.candidates}) == 3  # from the beam's 4-best
