"""Step rules: small filters on one step's log-probs that greedy, beam and sampling all apply.

At every target step a search asks ``decode_step`` for log-probs ``[rows, vocab]`` and, before
choosing, passes them through its rules in order. A rule sees the tokens each row has produced
so far and forbids the tokens that would break it by setting their log-prob to -inf; it never
renormalises, so a chosen token's recorded log-prob is still the model's own. Rules know
nothing about models or beams, which is why one rule serves every search:

- :class:`MinLength`: EOS is forbidden until a row has produced its minimum number of tokens.
- :class:`NoRepeatNgram`: no n-gram occurs twice in an output (as in fairseq and Hugging Face
  ``no_repeat_ngram_size``).

:func:`apply_rules` runs them and keeps every row able to end: a row whose rules forbid every
token gets EOS back at its model log-prob (a minimum length yields before a search dead-ends).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from seq2seq.errors import InputError


class StepRule(Protocol):
    """Forbids some next tokens given what each row produced so far."""

    def __call__(self, log_probs: Tensor, history: Tensor, batch_rows: Tensor) -> Tensor:
        """Returns ``log_probs`` ``[rows, vocab]`` with forbidden tokens set to -inf.

        Args:
            log_probs: This step's log-probs ``[rows, vocab]``.
            history: Tokens produced so far ``[rows, step]`` (BOS not included); a row still
                growing has produced exactly ``step`` tokens.
            batch_rows: ``[rows]`` the input row of each searched row (beams and samples of
                one input share it), for rules with per-input settings.
        """
        ...


@dataclass(frozen=True)
class MinLength:
    """Forbids EOS while a row has produced fewer than its minimum number of tokens.

    Attributes:
        min_lengths: Fewest tokens before EOS, per input row ``[batch]`` (EOS not counted).
        eos_id: The end-of-sequence id.
    """

    min_lengths: Tensor
    eos_id: int

    def __post_init__(self) -> None:
        if bool((self.min_lengths < 0).any()):
            raise InputError(f"min_lengths must be >= 0, got {self.min_lengths.tolist()}")

    def __call__(self, log_probs: Tensor, history: Tensor, batch_rows: Tensor) -> Tensor:
        minimum = self.min_lengths.to(batch_rows.device)[batch_rows]  # [rows]
        too_short = history.size(1) < minimum  # [rows]
        forbid = torch.zeros_like(log_probs, dtype=torch.bool)
        forbid[:, self.eos_id] = too_short
        return log_probs.masked_fill(forbid, float("-inf"))


@dataclass(frozen=True)
class NoRepeatNgram:
    """Forbids any token that would complete an n-gram the row has already produced.

    Attributes:
        size: ``n``; 1 forbids repeating any token, 3 any trigram.
    """

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InputError(f"no_repeat_ngram_size must be >= 1 for a rule, got {self.size}")

    def __call__(self, log_probs: Tensor, history: Tensor, batch_rows: Tensor) -> Tensor:
        banned = repeated_ngram_tokens(history, self.size, log_probs.size(-1))
        return log_probs.masked_fill(banned, float("-inf"))


def repeated_ngram_tokens(history: Tensor, size: int, vocab: int) -> Tensor:
    """The next tokens that would repeat an n-gram of ``history``.

    Every n-gram already produced whose first ``size - 1`` tokens equal the row's last
    ``size - 1`` tokens bans its last token.

    Args:
        history: Produced tokens ``[rows, step]``.
        size: The n-gram size ``n >= 1``.
        vocab: Vocabulary size.

    Returns:
        ``[rows, vocab]`` bool, True on banned tokens.
    """
    rows, step = history.shape
    if step < size:  # no complete n-gram yet
        return torch.zeros(rows, vocab, dtype=torch.bool, device=history.device)
    ngrams = history.unfold(1, size, 1)  # [rows, step - size + 1, size]
    suffix = history[:, step - size + 1 :]  # [rows, size - 1]: the n-gram being started
    matches = (ngrams[:, :, :-1] == suffix.unsqueeze(1)).all(-1)  # [rows, step - size + 1]
    counts = torch.zeros(rows, vocab, device=history.device)
    counts.scatter_add_(1, ngrams[:, :, -1], matches.float())  # duplicates add up, never clash
    return counts > 0


def apply_rules(
    rules: Sequence[StepRule], log_probs: Tensor, history: Tensor, batch_rows: Tensor, eos_id: int
) -> Tensor:
    """Runs ``rules`` in order on ``log_probs`` ``[rows, vocab]`` (see :class:`StepRule`).

    A row left with no allowed token gets EOS back at its log-prob in ``log_probs``, so a
    search can always end it (its minimum length, if any, then goes unmet).
    """
    if not rules:
        return log_probs
    filtered = log_probs
    for rule in rules:
        filtered = rule(filtered, history, batch_rows)
    stuck = filtered.isneginf().all(-1)  # [rows]
    if bool(stuck.any()):
        filtered = filtered.clone()
        filtered[stuck, eos_id] = log_probs[stuck, eos_id]
    return filtered


def min_output_lengths(
    src_lengths: Sequence[int], min_len: int, min_len_ratio: float, max_lengths: Tensor
) -> Tensor:
    """Per-row minimum output lengths (EOS not counted) ``[batch]`` on ``max_lengths``' device.

    A row's minimum is ``max(min_len, ceil(min_len_ratio * source tokens))``, lowered to
    ``max_length - 1`` so the row can still end with EOS within its maximum length.

    Args:
        src_lengths: Source tokens of each row (without EOS).
        min_len: Absolute minimum.
        min_len_ratio: Minimum output tokens per source token.
        max_lengths: ``[batch]`` most tokens per row, EOS included.
    """
    wanted = [max(min_len, math.ceil(n * min_len_ratio)) for n in src_lengths]
    wanted_t = torch.tensor(wanted, dtype=torch.long, device=max_lengths.device)
    return torch.minimum(wanted_t, (max_lengths - 1).clamp(min=0))


def length_and_repeat_rules(
    eos_id: int, min_lengths: Tensor | None, no_repeat_ngram_size: int
) -> list[StepRule]:
    """The rules the ``search`` settings ask for: :class:`MinLength` when some row has a
    minimum other than 0, :class:`NoRepeatNgram` when ``no_repeat_ngram_size`` is above 0."""
    if no_repeat_ngram_size < 0:
        raise InputError(f"no_repeat_ngram_size must be >= 0 (0 = off), got {no_repeat_ngram_size}")
    rules: list[StepRule] = []
    if min_lengths is not None and bool((min_lengths != 0).any()):  # MinLength rejects < 0
        rules.append(MinLength(min_lengths, eos_id))
    if no_repeat_ngram_size > 0:
        rules.append(NoRepeatNgram(no_repeat_ngram_size))
    return rules
