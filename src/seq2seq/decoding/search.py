"""What every search returns, and the small pieces greedy and beam search share.

Search sits between ``encode`` and ``Vocab.decode`` in the inference data flow (DESIGN.md):
it repeats ``decode_step`` and hands back :class:`Hypothesis` objects of target ids, scores and
attention. Nothing here knows which model family produced the log-probs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.decoding.penalties import HypothesisScorer, gnmt_length_penalty
from seq2seq.errors import InputError
from seq2seq.models.contract import DecoderState, EncoderOutput, SearchableModel

__all__ = [
    "Hypothesis",
    "append_attention",
    "check_search_inputs",
    "gnmt_length_penalty",
    "make_hypothesis",
    "mask_bos",
    "search_step",
    "worth_compacting",
]

COMPACT_WHEN_STOPPED = 0.125  # drop stopped rows once they are this share of the batch


@dataclass
class Hypothesis:
    """One searched target sequence.

    Attributes:
        tokens: Produced target ids, without BOS and without EOS.
        score: Ranking score: ``log_prob`` divided by the length normaliser of
            ``len(token_log_probs)``, plus the coverage penalty when one is set (see
            ``penalties.py``; equal to ``log_prob`` with no length and no coverage penalty).
        log_prob: Sum of ``token_log_probs``.
        token_log_probs: Log-prob of each produced token, EOS included when produced.
        attention: ``[len(token_log_probs), src_len]`` attention weights over the real source
            positions of this row (padding cut off), or None when the model returns none.
        finished: True when EOS was produced, False when cut at the maximum length.
    """

    tokens: list[int]
    score: float
    log_prob: float
    token_log_probs: list[float]
    attention: Tensor | None
    finished: bool


def check_search_inputs(src: Tensor, src_lengths: Tensor, max_lengths: Tensor) -> Tensor:
    """Validates the shared search arguments and returns ``max_lengths`` ``[batch]`` on ``src``'s
    device (a 0-d ``max_lengths`` is broadcast to every row).

    Raises:
        InputError: When the shapes disagree or a maximum length is negative.
    """
    if src.dim() != 2:
        raise InputError(f"src must be [batch, src_len], got shape {list(src.shape)}")
    batch = src.size(0)
    if src_lengths.shape != (batch,):
        raise InputError(
            f"src_lengths must be [batch]={[batch]} to match src, got {list(src_lengths.shape)}"
        )
    max_lengths = max_lengths.to(device=src.device, dtype=torch.long)
    if max_lengths.dim() == 0:
        max_lengths = max_lengths.expand(batch)
    if max_lengths.shape != (batch,):
        raise InputError(
            f"max_lengths must be [batch]={[batch]} or a scalar, got {list(max_lengths.shape)}"
        )
    if bool((max_lengths < 0).any()):
        raise InputError(f"max_lengths must be >= 0, got {max_lengths.tolist()}")
    return max_lengths


def mask_bos(log_probs: Tensor, bos_id: int) -> Tensor:
    """Returns ``log_probs`` ``[rows, vocab]`` (as float32) with BOS set to -inf: BOS only ever
    starts a target, so search never produces it.

    A float32 ``log_probs`` is changed in place: ``decode_step`` hands search a tensor of its
    own (see ``models/contract.py``), and a vocabulary-wide copy per step is worth avoiding.
    """
    log_probs = log_probs.float()
    log_probs[:, bos_id] = float("-inf")
    return log_probs


def search_step(
    model: SearchableModel,
    prev_tokens: Tensor,
    state: DecoderState,
    enc: EncoderOutput,
    attention: bool,
) -> tuple[Tensor, DecoderState, Tensor | None]:
    """``model.decode_step``, asking for attention weights only when the search keeps them
    (``attention``); weights a model returns anyway are then dropped, so hypotheses carry
    attention exactly when it was asked for."""
    log_probs, state, attn = model.decode_step(prev_tokens, state, enc, attention)
    return log_probs, state, attn if attention else None


def append_attention(history: Tensor | None, attn: Tensor | None) -> Tensor | None:
    """Appends one step's attention ``[rows, src_len]`` to ``history`` ``[rows, step, src_len]``.

    Returns None as soon as the model returns no attention (attention-free models).
    """
    if history is None or attn is None:
        return None
    return torch.cat([history, attn.to(history.dtype).unsqueeze(1)], 1)


def make_hypothesis(
    produced: Tensor,
    token_log_probs: Tensor,
    attention: Tensor | None,
    *,
    finished: bool,
    alpha: float = 0.0,
    scorer: HypothesisScorer | None = None,
) -> Hypothesis:
    """Builds a :class:`Hypothesis` from one row's tensors, already cut to its length.

    Args:
        produced: Produced ids ``[length]``, ending with EOS when ``finished``.
        token_log_probs: ``[length]``.
        attention: ``[length, src_len]`` with padding already cut, or None.
        finished: Whether the last produced id is EOS.
        alpha: GNMT length-penalty alpha for ``score`` (when no ``scorer`` is given).
        scorer: How ``score`` is computed; default: GNMT length penalty with ``alpha``.
    """
    scorer = scorer or HypothesisScorer("gnmt", alpha)
    ids = produced.tolist()
    token_lps = token_log_probs.tolist()
    log_prob = sum(token_lps)
    return Hypothesis(
        tokens=ids[:-1] if finished else ids,
        score=scorer.score_one(log_prob, len(token_lps), attention),
        log_prob=log_prob,
        token_log_probs=token_lps,
        attention=attention,
        finished=finished,
    )


def worth_compacting(live: Tensor) -> bool:
    """Whether enough rows of the model's batch have stopped to drop them from it.

    ``live`` ``[rows]`` is True on the rows (greedy: hypotheses; beam: inputs) still growing.
    Dropping costs one ``DecoderState.select``; every later step then computes fewer rows. On
    natural-length Bible output ~25% of greedy's row-steps (45% at beam 4) ran on rows that had
    stopped, so stopped rows leave once they are an eighth of the batch.
    """
    stopped = live.numel() - int(live.sum())
    return stopped > 0 and stopped >= COMPACT_WHEN_STOPPED * live.numel()
