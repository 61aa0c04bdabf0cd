"""Tracking lexical constraints: which phrase tokens each hypothesis has produced.

Constrained beam search (``constrained.py``) asks two things of every hypothesis at every step:
how many constraint tokens it would have met after each possible next token (its *bank*), and
which tokens bring it closer to its constraints. This module answers both for all hypotheses
at once, over tensors, and advances the state once tokens are chosen.

A sentence's phrases are concatenated into constraint *positions*. A hypothesis marks positions
as met; inside a started phrase only the phrase's next token continues it, and any other token
*abandons* it (its met positions are cleared, and the token may start a phrase afresh), so a
phrase counts only once all of its tokens were produced in a row. The first unmet phrase
starting with a token is the one it opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

RowConstraints = Sequence[Sequence[int]]
"""The phrases of one row, each a non-empty sequence of target ids."""


@dataclass(frozen=True)
class ConstraintTable:
    """The phrases of every hypothesis, flattened to constraint *positions*.

    Each hypothesis row holds its sentence's phrases concatenated; ``C`` is the most constraint
    tokens of any sentence, at least 1 (a filler position keeps every tensor non-empty).

    Attributes:
        tokens: ``[rows, C]`` target id at each position (0 on filler).
        valid: ``[rows, C]`` bool, False on filler.
        phrase_start: ``[rows, C]`` position of the first token of each position's phrase.
        continues: ``[rows, C]`` bool, True when the next position is in the same phrase.
        totals: ``[rows]`` constraint tokens of the row (``C_row``).
    """

    tokens: Tensor
    valid: Tensor
    phrase_start: Tensor
    continues: Tensor
    totals: Tensor

    @classmethod
    def build(cls, constraints: Sequence[RowConstraints], device: torch.device) -> ConstraintTable:
        """Flattens ``constraints`` (per row, its phrases) into position tensors."""
        width = max([1, *(sum(len(p) for p in phrases) for phrases in constraints)])
        rows = len(constraints)
        tokens = torch.zeros(rows, width, dtype=torch.long)
        phrase_start = torch.arange(width).repeat(rows, 1)  # filler: its own phrase
        continues = torch.zeros(rows, width, dtype=torch.bool)
        totals = torch.zeros(rows, dtype=torch.long)
        for row, phrases in enumerate(constraints):
            position = 0
            for phrase in phrases:
                end = position + len(phrase)
                tokens[row, position:end] = torch.tensor(list(phrase))
                phrase_start[row, position:end] = position
                continues[row, position : end - 1] = True
                position = end
            totals[row] = position
        valid = torch.arange(width).unsqueeze(0) < totals.unsqueeze(1)
        return cls(*(t.to(device) for t in (tokens, valid, phrase_start, continues, totals)))

    def repeat_interleave(self, times: int) -> ConstraintTable:
        """Each row repeated ``times`` times in place (one copy per beam)."""
        return ConstraintTable(*(t.repeat_interleave(times, 0) for t in self._fields()))

    @property
    def starts(self) -> Tensor:
        """``[rows, C]`` bool: positions that begin a phrase."""
        positions = torch.arange(self.tokens.size(1), device=self.tokens.device)
        return self.valid & (self.phrase_start == positions)

    def _fields(self) -> tuple[Tensor, ...]:
        return self.tokens, self.valid, self.phrase_start, self.continues, self.totals


@dataclass(frozen=True)
class ConstraintState:
    """How far each hypothesis is through its constraints.

    Attributes:
        met: ``[hyps, C]`` bool, constraint positions produced (complete phrases and the
            started part of the current one).
        progress: ``[hyps]`` the next position the started phrase needs, -1 outside a phrase.
    """

    met: Tensor
    progress: Tensor

    @classmethod
    def initial(cls, table: ConstraintTable) -> ConstraintState:
        rows = table.tokens.size(0)
        return cls(
            torch.zeros_like(table.valid),
            torch.full((rows,), -1, dtype=torch.long, device=table.tokens.device),
        )

    def select(self, indices: Tensor) -> ConstraintState:
        return ConstraintState(
            self.met.index_select(0, indices), self.progress.index_select(0, indices)
        )

    def num_met(self) -> Tensor:
        """``[hyps]`` constraint tokens met: the hypothesis' bank."""
        return self.met.sum(1)


def _abandoned(state: ConstraintState, table: ConstraintTable) -> tuple[Tensor, Tensor]:
    """What ``met`` becomes if the started phrase is abandoned.

    Returns:
        ``met`` with the started phrase's tokens cleared ``[hyps, C]``, and how many tokens
        that clears ``[hyps]`` (0 outside a phrase).
    """
    inside = state.progress >= 0
    current = state.progress.clamp(min=0).unsqueeze(1)  # [hyps, 1]
    positions = torch.arange(table.tokens.size(1), device=table.tokens.device)
    started = (
        inside.unsqueeze(1)
        & (table.phrase_start == table.phrase_start.gather(1, current))
        & (positions < current)
    )  # [hyps, C]
    return state.met & ~started, started.sum(1)


def _expected(state: ConstraintState, table: ConstraintTable) -> Tensor:
    """``[hyps]`` the token the started phrase needs next (meaningless outside a phrase)."""
    return table.tokens.gather(1, state.progress.clamp(min=0).unsqueeze(1)).squeeze(1)


def _phrase_openers(met: Tensor, table: ConstraintTable, vocab: int) -> Tensor:
    """``[hyps, vocab]`` bool: tokens that begin a phrase not yet met, given ``met``."""
    openers = (table.starts & ~met).long()  # [hyps, C]
    counts = torch.zeros(met.size(0), vocab, dtype=torch.long, device=met.device)
    return counts.scatter_add_(1, table.tokens, openers) > 0


def met_after(state: ConstraintState, table: ConstraintTable, vocab: int) -> Tensor:
    """The bank of every one-token extension: ``[hyps, vocab]`` constraint tokens met after it.

    Agrees with :func:`advance` (a test checks it) but scores every token at once.
    """
    met, cleared = _abandoned(state, table)
    after = (state.num_met() - cleared).unsqueeze(1) + _phrase_openers(met, table, vocab)
    inside = state.progress >= 0
    expected = _expected(state, table).unsqueeze(1)  # [hyps, 1]
    continued = torch.where(inside, state.num_met() + 1, after.gather(1, expected).squeeze(1))
    return after.scatter(1, expected, continued.unsqueeze(1))


def advancing_tokens(state: ConstraintState, table: ConstraintTable, vocab: int) -> Tensor:
    """``[hyps, vocab]`` bool: the tokens that bring each hypothesis closer to its constraints
    (inside a phrase its next token, else the first token of every unmet phrase)."""
    inside = state.progress >= 0
    opening = _phrase_openers(state.met, table, vocab) & ~inside.unsqueeze(1)
    continuing = F.one_hot(_expected(state, table), vocab).bool() & inside.unsqueeze(1)
    return opening | continuing


def advance(
    state: ConstraintState, table: ConstraintTable, tokens: Tensor, keep: Tensor
) -> ConstraintState:
    """Each hypothesis' state after producing ``tokens`` ``[hyps]``; rows where ``keep``
    ``[hyps]`` is True (frozen hypotheses) keep their state unchanged."""
    inside = state.progress >= 0
    continuing = inside & (tokens == _expected(state, table))  # [hyps]
    abandoned, _ = _abandoned(state, table)
    met = torch.where(continuing.unsqueeze(1), state.met, abandoned)
    opens = table.starts & ~abandoned & (table.tokens == tokens.unsqueeze(1))  # [hyps, C]
    opened = ~continuing & opens.any(1)
    position = torch.where(continuing, state.progress, opens.long().argmax(1))  # first opener
    advanced = continuing | opened
    met = met | (F.one_hot(position, met.size(1)).bool() & advanced.unsqueeze(1))
    goes_on = advanced & table.continues.gather(1, position.unsqueeze(1)).squeeze(1)
    progress = torch.where(goes_on, position + 1, -1)
    return ConstraintState(
        torch.where(keep.unsqueeze(1), state.met, met), torch.where(keep, state.progress, progress)
    )
