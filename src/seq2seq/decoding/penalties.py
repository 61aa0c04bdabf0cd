"""How a hypothesis is scored: length normalisation and the coverage penalty.

Beam search ranks hypotheses of different lengths against each other, and a plain sum of
log-probs favours short ones (each extra token adds a negative term). GNMT (Wu et al. 2016,
"Google's Neural Machine Translation System", section 7, eq. 14) scores a hypothesis ``Y`` of a
source ``X`` as

    s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
    lp(Y) = ((5 + |Y|) / 6) ** alpha
    cp(X; Y) = beta * sum_j log(min(sum_i p_ij, 1.0))

where ``p_ij`` is the attention of target step ``i`` on source position ``j``: the coverage
penalty ``cp`` (at most 0) punishes outputs that leave source words unattended. The length
normaliser ``lp`` is a choice here (:data:`LENGTH_PENALTY_TYPES`): ``none`` (1), ``average``
(``|Y|``, the mean token log-prob) or ``gnmt``. Every normaliser grows with the length, which
gives the optimistic bound early stopping uses (:meth:`HypothesisScorer.upper_bound`).

Search (``beam.py``, ``search.py``) calls :class:`HypothesisScorer`; nothing here knows about
models or beams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from seq2seq.errors import InputError

LengthPenaltyType = Literal["none", "average", "gnmt"]
LENGTH_PENALTY_TYPES: tuple[str, ...] = ("none", "average", "gnmt")

COVERAGE_FLOOR = 1e-6
"""Smallest coverage ``sum_i p_ij`` that enters the log: a never-attended source position costs
``beta * log(1e-6)`` instead of -inf, so hypotheses stay comparable and rankable."""


def gnmt_length_penalty(length: int | Tensor, alpha: float) -> float | Tensor:
    """GNMT length penalty ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016, eq. 14).

    Dividing a hypothesis' log-prob by ``lp`` stops beam search from favouring short outputs
    merely because they sum fewer negative terms. ``alpha = 0`` gives 1 (plain log-probs).

    Args:
        length: Hypothesis length, an int or an integer tensor of any shape.
        alpha: Strength of the penalty, usually in ``[0, 1]``.

    Returns:
        A float for an int length, else a float tensor shaped like ``length``.
    """
    return ((5 + length) / 6) ** alpha


def length_normaliser(length: Tensor, kind: str, alpha: float) -> Tensor:
    """The divisor of a hypothesis' log-prob, ``[...]`` float, shaped like ``length``.

    Args:
        length: Tokens produced, EOS included ``[...]``.
        kind: ``none`` (1: rank by the log-prob), ``average`` (the length, at least 1: rank by
            the mean token log-prob) or ``gnmt`` (``((5 + length) / 6) ** alpha``).
        alpha: The GNMT alpha (used by ``gnmt`` only).
    """
    length = length if length.is_floating_point() else length.float()
    if kind == "none":
        return torch.ones_like(length)
    if kind == "average":
        return length.clamp(min=1.0)
    return gnmt_length_penalty(length, alpha)


def length_normaliser_of(length: int, kind: str, alpha: float) -> float:
    """:func:`length_normaliser` of one length, in plain Python: scoring a finished
    hypothesis needs no tensor (building one costs more than the arithmetic)."""
    if kind == "none":
        return 1.0
    if kind == "average":
        return float(max(length, 1))
    return float(gnmt_length_penalty(length, alpha))


def coverage_penalty(coverage: Tensor, src_mask: Tensor, beta: float) -> Tensor:
    """GNMT coverage penalty ``beta * sum_j log(min(coverage_j, 1))`` (Wu et al. 2016, eq. 14).

    Args:
        coverage: Attention summed over the target steps so far ``[..., src_len]``.
        src_mask: ``[..., src_len]`` bool, True on real source positions (padding adds 0).
        beta: Strength of the penalty (0 turns it off).

    Returns:
        The penalty ``[...]``, at most 0; 0 once every real source position has received a
        total attention of at least 1.
    """
    capped = coverage.float().clamp(min=COVERAGE_FLOOR, max=1.0).log()  # [..., src_len]
    return beta * capped.masked_fill(~src_mask, 0.0).sum(-1)


@dataclass(frozen=True)
class HypothesisScorer:
    """Scores hypotheses as ``log_prob / normaliser(length) + coverage penalty``.

    Attributes:
        length_penalty_type: One of :data:`LENGTH_PENALTY_TYPES`.
        alpha: GNMT length-penalty alpha (``gnmt`` only), ``>= 0``.
        beta: Coverage-penalty weight, ``>= 0``; 0 ignores attention altogether.
    """

    length_penalty_type: str = "gnmt"
    alpha: float = 0.0
    beta: float = 0.0

    def __post_init__(self) -> None:
        if self.length_penalty_type not in LENGTH_PENALTY_TYPES:
            raise InputError(
                f"length_penalty_type {self.length_penalty_type!r} is not one of "
                f"{', '.join(LENGTH_PENALTY_TYPES)}"
            )
        if self.alpha < 0:
            raise InputError(f"length_penalty (GNMT alpha) must be >= 0, got {self.alpha}")
        if self.beta < 0:
            raise InputError(f"coverage_penalty (GNMT beta) must be >= 0, got {self.beta}")

    @property
    def uses_coverage(self) -> bool:
        return self.beta > 0

    def normaliser(self, length: Tensor) -> Tensor:
        """See :func:`length_normaliser`."""
        return length_normaliser(length, self.length_penalty_type, self.alpha)

    def coverage(self, coverage: Tensor | None, src_mask: Tensor) -> Tensor | float:
        """The coverage penalty ``[...]`` of summed attention ``[..., src_len]`` (0 when off)."""
        if coverage is None or not self.uses_coverage:
            return 0.0
        return coverage_penalty(coverage, src_mask, self.beta)

    def score(self, log_prob: Tensor, length: Tensor, coverage_term: Tensor | float) -> Tensor:
        """``log_prob / normaliser(length) + coverage_term``, all broadcast together."""
        return log_prob / self.normaliser(length) + coverage_term

    def upper_bound(self, log_prob: Tensor, max_length: Tensor) -> Tensor:
        """The best score any extension of a live hypothesis can still reach.

        Extending only adds log-probs ``<= 0``, every normaliser grows with the length and the
        coverage penalty is at most 0, so ``log_prob / normaliser(max_length)`` (with
        ``log_prob <= 0``) bounds every continuation that stops within ``max_length`` tokens.

        Args:
            log_prob: Current cumulative log-probs ``[...]``.
            max_length: Most tokens the hypothesis may reach, broadcastable to ``log_prob``.
        """
        return log_prob / self.normaliser(max_length)

    def score_one(self, log_prob: float, length: int, attention: Tensor | None) -> float:
        """The score of one finished or cut hypothesis.

        Args:
            log_prob: Sum of its token log-probs.
            length: Tokens produced, EOS included.
            attention: ``[length, src_len]`` over the real source positions, or None.
        """
        term = 0.0
        if attention is not None and self.uses_coverage:
            coverage = attention.sum(0)  # [src_len]
            all_real = torch.ones_like(coverage, dtype=torch.bool)
            term = float(coverage_penalty(coverage, all_real, self.beta))
        normaliser = length_normaliser_of(length, self.length_penalty_type, self.alpha)
        return log_prob / normaliser + term


def summed_attention(attention: Tensor, lengths: Tensor) -> Tensor:
    """Each hypothesis' attention history ``[rows, step, src_len]`` summed over its own
    ``lengths`` (any shape with ``rows`` elements) steps: ``[rows, src_len]`` (the filler a
    frozen hypothesis gathers after its length is left out)."""
    steps = torch.arange(attention.size(1), device=attention.device)
    own = steps < lengths.reshape(-1, 1)  # [rows, step]
    return (attention * own.unsqueeze(-1)).sum(1)


def extension_coverage(
    scorer: HypothesisScorer,
    history: Tensor | None,
    lengths: Tensor,
    attn: Tensor | None,
    frozen: Tensor,
) -> Tensor:
    """Coverage of each hypothesis' one-token extensions ``[rows, src_len]``: its attention
    ``history`` ``[rows, step, src_len]`` summed over its ``lengths`` steps, plus this step's
    ``attn`` ``[rows, src_len]`` unless it is ``frozen`` (a frozen hypothesis does not grow).

    Raises:
        InputError: When the model returns no attention (coverage needs it).
    """
    if attn is None or history is None:
        raise InputError(
            f"coverage_penalty={scorer.beta} needs attention weights, but this model returns "
            "none (model.attention: none); set search.coverage_penalty to 0"
        )
    live = (~frozen).reshape(-1, 1)  # [rows, 1]
    return summed_attention(history, lengths) + attn.float() * live
