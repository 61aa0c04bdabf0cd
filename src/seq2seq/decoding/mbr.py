"""Minimum Bayes risk (MBR) decoding: among candidate outputs, pick the one the others agree
with most.

Beam search returns the single most probable output, which is not the output expected to score
best: the mode of a translation model's distribution is often short or odd (Eikema & Aziz
2020, "Is MAP Decoding All You Need?"). MBR (Kumar & Byrne 2004) instead chooses

    h* = argmax_{h in H} E_{y ~ p(y|x)} [u(h, y)]  ~=  argmax_i 1/(N-1) sum_{j != i} u(h_i, h_j)

where the candidates ``h_1..h_N`` double as pseudo-references and ``u`` is a sentence-level
metric (sacrebleu chrF or BLEU). Weights are **uniform**: with sampled candidates
(``search.sample``) the samples already follow the model's distribution, so a plain mean is the
Monte Carlo estimate of the expected utility, and a sequence drawn twice counts twice. With
beam n-best candidates the mean is a consensus vote among the most probable outputs; we do not
weight by their probabilities, which the peaked beam scores would let one candidate dominate.

This module is pure text in, ranking out; :class:`~seq2seq.decoding.translator.Translator`
generates the candidates (see :func:`candidate_settings`) and reorders them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import get_args

from sacrebleu.metrics import BLEU, CHRF

from seq2seq.config import MbrMetric, SearchConfig
from seq2seq.errors import InputError

Utility = Callable[[str, str], float]
"""``(hypothesis, pseudo_reference) -> score`` in ``[0, 100]``."""


def sentence_utility(metric: str) -> Utility:
    """The sentence-level sacrebleu metric ``metric`` as a utility function.

    ``bleu`` uses ``effective_order`` (the usual choice for single sentences, where a missing
    4-gram would otherwise zero the score).

    Raises:
        InputError: ``metric`` is not one of ``chrf``, ``bleu``.
    """
    if metric == "chrf":
        chrf = CHRF()
        return lambda hyp, ref: chrf.sentence_score(hyp, [ref]).score
    if metric == "bleu":
        bleu = BLEU(effective_order=True)
        return lambda hyp, ref: bleu.sentence_score(hyp, [ref]).score
    raise InputError(
        f"unknown MBR metric {metric!r}; choose one of {', '.join(get_args(MbrMetric))}"
    )


def expected_utilities(candidates: Sequence[str], metric: str) -> list[float]:
    """Each candidate's mean utility against every *other* candidate (uniform weights).

    Identical strings are scored once; a duplicate still counts as a separate pseudo-reference.

    Args:
        candidates: ``N >= 1`` candidate outputs (one sentence each).
        metric: ``chrf`` or ``bleu``.

    Returns:
        ``N`` expected utilities in ``[0, 100]``; ``[0.0]`` for a single candidate.

    Raises:
        InputError: No candidates, or an unknown metric.
    """
    if not candidates:
        raise InputError("MBR needs at least one candidate, got none")
    utility = sentence_utility(metric)
    if len(candidates) == 1:
        return [0.0]
    cache: dict[tuple[str, str], float] = {}
    totals = []
    for i, hypothesis in enumerate(candidates):
        total = 0.0
        for j, reference in enumerate(candidates):
            if i != j:
                key = (hypothesis, reference)
                if key not in cache:
                    cache[key] = utility(hypothesis, reference)
                total += cache[key]
        totals.append(total / (len(candidates) - 1))
    return totals


def mbr_ranking(candidates: Sequence[str], metric: str) -> list[tuple[int, float]]:
    """Candidate indices with their expected utility, best first (ties: earlier index first,
    i.e. the search's own order decides)."""
    utilities = expected_utilities(candidates, metric)
    order = sorted(range(len(candidates)), key=lambda i: -utilities[i])
    return [(i, utilities[i]) for i in order]


def mbr_select(candidates: Sequence[str], metric: str) -> int:
    """Index of the candidate with the highest expected utility against the others."""
    return mbr_ranking(candidates, metric)[0][0]


def candidate_settings(search: SearchConfig) -> SearchConfig:
    """The search that generates MBR's candidates: ``mbr_candidates`` samples when
    ``search.sample``, else the beam n-best of ``mbr_candidates`` with the beam widened to at
    least that many. Every other setting is kept."""
    beam_size = search.beam_size if search.sample else max(search.beam_size, search.mbr_candidates)
    return search.model_copy(update={"n_best": search.mbr_candidates, "beam_size": beam_size})
