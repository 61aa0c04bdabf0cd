"""Batched beam search with length and coverage penalties (Wu et al. 2016, "Google's Neural
Machine Translation System", section 7).

Every row of the batch keeps ``beam_size`` hypotheses; all ``batch * beam_size`` of them advance
through one ``decode_step`` call per target position (the first step runs one row per input:
its beams all start from the same state), and the bookkeeping (scores, lengths,
token and attention histories) lives in tensors reordered by back-pointers, never in Python
lists of hypotheses. Only ``decode_step``, ``DecoderState.select`` and ``EncoderOutput.select``
are used, so any model family works.

Finished hypotheses keep their slot: a beam that produced EOS (or whose row reached its maximum
length) is *frozen*, its only extension costs nothing and carries it unchanged, so it keeps
competing with the live beams for the ``beam_size`` places (as in GNMT and TensorFlow's
``BeamSearchDecoder``). Candidates are ranked by ``log_prob / lp(length) + cp`` (see
``penalties.py``: the length normaliser ``none``/``average``/``gnmt`` and the coverage penalty,
computed from the attention history the beams keep). Step rules (``rules.py``: minimum length,
no repeated n-grams) forbid tokens before the candidates are ranked. Only each beam's
``beam_size`` best tokens are candidates: the extensions of one beam share its length and
coverage, so no other token of that beam could make a row's best ``beam_size``, and the
ranking works on ``[batch, beam, beam]`` instead of vocabulary-wide tensors.

Stopping rule: the search stops when every beam of every row is frozen, i.e. finished with EOS
or cut at its row's maximum length; it never needs more than ``max(max_lengths)`` steps.
Hypotheses cut at the maximum length are returned with ``finished=False``.

Early stopping (``early_stopping=True``) ends a row sooner: after each step, once the row's
``n_best`` best-scoring beams are all finished and the worst of them scores at least the
optimistic bound of every live beam (``log_prob / lp(row max length)``, the best score any
continuation can reach; see :meth:`HypothesisScorer.upper_bound`), the row's live beams are
dropped. Its ``n_best`` finished hypotheses are then what it returns, and the search ends as
soon as every row has ended (a row that ended still rides along in ``decode_step`` until then).
No continuation of a dropped beam could have outscored them, so the best hypothesis returned is
never worse than without early stopping; with ``length_penalty_type="none"`` (and no coverage
penalty) a live beam's extensions cannot even outrank the finished ones, so the results are the
same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from seq2seq.decoding.best_tokens import row_top_k
from seq2seq.decoding.penalties import HypothesisScorer, extension_coverage, summed_attention
from seq2seq.decoding.rules import StepRule, apply_rules
from seq2seq.decoding.search import (
    Hypothesis,
    append_attention,
    check_search_inputs,
    make_hypothesis,
    mask_bos,
    search_step,
    worth_compacting,
)
from seq2seq.errors import InputError
from seq2seq.models.contract import SearchableModel


@dataclass
class _Beams:
    """The beams of every row; beam ``k`` of row ``b`` sits at flat index ``b * beam_size + k``.

    Attributes:
        log_probs: Cumulative log-probs ``[batch, beam]``; -inf marks an empty slot.
        lengths: Tokens produced so far ``[batch, beam]``, EOS included.
        finished: ``[batch, beam]`` bool, True once the hypothesis produced EOS.
        tokens: Token history ``[batch * beam, step]``; entries past ``lengths`` are filler.
        token_log_probs: Per-token log-probs ``[batch * beam, step]``.
        attention: Attention history ``[batch * beam, step, src_len]``, or None.
    """

    log_probs: Tensor
    lengths: Tensor
    finished: Tensor
    tokens: Tensor
    token_log_probs: Tensor
    attention: Tensor | None


@torch.no_grad()
def beam_search(
    model: SearchableModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_lengths: Tensor,
    beam_size: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
    length_penalty_type: str = "gnmt",
    coverage_penalty: float = 0.0,
    rules: Sequence[StepRule] = (),
    early_stopping: bool = False,
    attention: bool = True,
) -> list[list[Hypothesis]]:
    """Beam search over ``decode_step`` for a padded batch (see the module docstring).

    Args:
        model: Any model speaking the contract in ``seq2seq.models.contract``.
        src: Padded source ids ``[batch, src_len]``.
        src_lengths: True source lengths ``[batch]``.
        bos_id: Id fed as the first previous token (never produced).
        eos_id: Id that ends a hypothesis.
        max_lengths: ``[batch]`` most tokens to produce per row, EOS included.
        beam_size: Hypotheses kept per row.
        length_penalty: GNMT alpha (``length_penalty_type="gnmt"``); 0 ranks by the plain sum
            of log-probs.
        n_best: Hypotheses returned per row, at most ``beam_size``.
        length_penalty_type: ``none``, ``average`` or ``gnmt`` (``penalties.py``).
        coverage_penalty: GNMT coverage-penalty beta; 0 = off. Above 0 the model must return
            attention.
        rules: Step rules (``rules.py``) that forbid tokens of live beams before ranking.
        early_stopping: End a row once no live beam can beat its ``n_best`` finished
            hypotheses (module docstring).
        attention: Keep each token's attention over the source (``Hypothesis.attention``);
            without it (and without a coverage penalty, which needs it) the model may skip
            computing the weights and no attention history is kept or reordered.

    Returns:
        Per input row, its ``n_best`` hypotheses sorted by score, best first (fewer only when
        fewer distinct sequences fit within the row's maximum length).

    Raises:
        InputError: When ``beam_size``, ``n_best`` or a penalty is out of range, or when
            ``coverage_penalty > 0`` and the model returns no attention.
    """
    _check_beam_args(beam_size, n_best)
    scorer = HypothesisScorer(length_penalty_type, length_penalty, coverage_penalty)
    max_lengths = check_search_inputs(src, src_lengths, max_lengths)
    batch, src_len = src.shape
    results: list[list[Hypothesis]] = [[] for _ in range(batch)]
    inputs = torch.arange(batch, device=src.device)  # the input rows still being decoded
    src_lengths = src_lengths.to(src.device)
    enc = model.encode(src, src_lengths)
    # The first step runs one row per input: all of a row's beams would start from the same
    # BOS state, and only beam 0 is live (_initial_beams). The state and encoder output are
    # expanded to beams after it.
    state = model.init_state(enc)
    src_mask = torch.arange(src_len, device=src.device) < src_lengths[:, None]
    attention = attention or scorer.uses_coverage
    beams = _initial_beams(batch, beam_size, src_len, src.device, attention)
    prev_tokens = torch.full((batch,), bos_id, dtype=torch.long, device=src.device)
    for step in range(int(max_lengths.max()) if batch else 0):
        frozen = beams.finished | (step >= max_lengths).unsqueeze(1)  # [rows, beam]
        stopped = (frozen | beams.log_probs.isneginf()).all(1)  # [rows]
        if bool(stopped.all()):
            break
        first = step == 0
        if not first and worth_compacting(~stopped):  # inputs whose beams all stopped leave
            done, keep = stopped.nonzero().squeeze(1), (~stopped).nonzero().squeeze(1)
            finished_beams = _rows_of(beams, done)
            _collect_into(results, inputs[done], finished_beams, src_lengths[done], n_best, scorer)
            kept_beams = _beam_rows(keep, beam_size)
            beams, frozen = _rows_of(beams, keep), frozen[keep]
            state, enc = state.select(kept_beams), enc.select(kept_beams)
            prev_tokens = prev_tokens[kept_beams]
            inputs, max_lengths = inputs[keep], max_lengths[keep]
            src_lengths, src_mask = src_lengths[keep], src_mask[keep]
        rows = torch.arange(inputs.numel(), device=src.device)
        to_beams = inputs.repeat_interleave(beam_size)  # [rows * beam]: input of each beam
        log_probs, state, attn = search_step(model, prev_tokens, state, enc, attention)
        log_probs = apply_rules(
            rules,
            mask_bos(log_probs, bos_id),
            beams.tokens[::beam_size] if first else beams.tokens,
            inputs if first else to_beams,
            eos_id,
        )
        if first and attn is not None:  # [batch, src_len] -> every beam's [batch * beam, ...]
            attn = attn.repeat_interleave(beam_size, 0)
        step_log_probs, step_tokens = _expand(log_probs, frozen, eos_id)  # [rows, beam, k]
        candidates = beams.log_probs.unsqueeze(-1) + step_log_probs
        next_lengths = beams.lengths + ~frozen  # [rows, beam]
        coverage = _coverage_term(scorer, beams, attn, frozen, src_mask)  # [rows, beam] or 0
        chosen = _top_k(
            candidates, next_lengths, beam_size, length_penalty, scorer=scorer, coverage=coverage
        )  # [rows, beam]: index into the row's beam * k extensions
        flat_parents = (chosen // step_tokens.size(-1) + rows.unsqueeze(1) * beam_size).view(-1)
        beams = _advance(
            beams,
            candidates.view(rows.numel(), -1).gather(1, chosen),
            step_log_probs.view(rows.numel(), -1).gather(1, chosen),
            step_tokens.view(rows.numel(), -1).gather(1, chosen),
            attn,
            flat_parents,
            frozen,
            eos_id,
        )
        if early_stopping:
            beams = _end_decided_rows(beams, scorer, n_best, max_lengths, src_mask)
        if first:  # the state's rows were inputs; each beam's parent is its input's row
            state = state.select(flat_parents // beam_size)
            enc = enc.select(to_beams)
        else:
            state = state.select(flat_parents)
        prev_tokens = beams.tokens[:, -1]
    _collect_into(results, inputs, beams, src_lengths, n_best, scorer)
    return results


def _collect_into(
    results: list[list[Hypothesis]],
    inputs: Tensor,
    beams: _Beams,
    src_lengths: Tensor,
    n_best: int,
    scorer: HypothesisScorer,
) -> None:
    """Stores the ``n_best`` hypotheses of ``beams``' rows at their input rows ``inputs``."""
    hypotheses = _collect(beams, src_lengths, n_best, scorer.alpha, scorer=scorer)
    for row, row_hypotheses in zip(inputs.tolist(), hypotheses, strict=True):
        results[row] = row_hypotheses


def _beam_rows(rows: Tensor, beam_size: int) -> Tensor:
    """The flat beam indices ``[len(rows) * beam]`` of rows ``rows``, in order."""
    offsets = torch.arange(beam_size, device=rows.device)
    return (rows.unsqueeze(1) * beam_size + offsets).view(-1)


def _rows_of(beams: _Beams, rows: Tensor) -> _Beams:
    """The beams of rows ``rows`` ``[n]`` only (their ``[n, beam]`` and ``[n * beam, ...]``
    entries)."""
    flat = _beam_rows(rows, beams.log_probs.size(1))
    return _Beams(
        log_probs=beams.log_probs[rows],
        lengths=beams.lengths[rows],
        finished=beams.finished[rows],
        tokens=beams.tokens[flat],
        token_log_probs=beams.token_log_probs[flat],
        attention=None if beams.attention is None else beams.attention[flat],
    )


def _check_beam_args(beam_size: int, n_best: int, length_penalty: float = 0.0) -> None:
    """Raises InputError naming the bad value and the rule it breaks."""
    if beam_size < 1:
        raise InputError(f"beam_size must be >= 1, got beam_size={beam_size}")
    if not 1 <= n_best <= beam_size:
        raise InputError(
            f"n_best={n_best} with beam_size={beam_size}: n_best must be between 1 and "
            "beam_size (beam search keeps only beam_size hypotheses); raise beam_size"
        )
    if length_penalty < 0:
        raise InputError(f"length_penalty (GNMT alpha) must be >= 0, got {length_penalty}")


def _initial_beams(
    batch: int, beam_size: int, src_len: int, device: torch.device, attention: bool
) -> _Beams:
    """Empty hypotheses (with an empty attention history if ``attention``); only beam 0 of
    each row is live so step 0 does not pick duplicates."""
    log_probs = torch.full((batch, beam_size), float("-inf"), device=device)
    log_probs[:, 0] = 0.0
    return _Beams(
        log_probs=log_probs,
        lengths=torch.zeros(batch, beam_size, dtype=torch.long, device=device),
        finished=torch.zeros(batch, beam_size, dtype=torch.bool, device=device),
        tokens=torch.zeros(batch * beam_size, 0, dtype=torch.long, device=device),
        token_log_probs=torch.zeros(batch * beam_size, 0, device=device),
        attention=torch.zeros(batch * beam_size, 0, src_len, device=device) if attention else None,
    )


def _expand(log_probs: Tensor, frozen: Tensor, eos_id: int) -> tuple[Tensor, Tensor]:
    """Each beam's ``k = beam`` best one-token extensions: the only ones that can be chosen.

    All extensions of one beam share its length and coverage, so their ranking is their
    token log-prob's; a row's ``beam`` best extensions therefore come from its beams' own
    ``beam`` best tokens, and ranking ``[batch, beam, beam]`` candidates instead of
    ``[batch, beam, vocab]`` gives the same choice.

    Args:
        log_probs: This step's log-probs ``[batch * beam, vocab]``, or ``[batch, vocab]`` on
            the first step (one row per input, shared by its beams).
        frozen: ``[batch, beam]`` beams that must not grow (finished or at max length).
        eos_id: The token a frozen beam "extends" with, at cost 0.

    Returns:
        Token log-probs ``[batch, beam, k]`` and tokens ``[batch, beam, k]``.
    """
    batch, beam_size = frozen.shape
    k = min(beam_size, log_probs.size(-1))
    values, tokens = row_top_k(log_probs, k)  # [batch * (beam or 1), k]
    values = values.view(batch, -1, k).expand(batch, beam_size, k)
    tokens = tokens.view(batch, -1, k).expand(batch, beam_size, k)
    # A frozen beam has a single free extension, so it survives unchanged and keeps competing.
    carry = torch.full_like(values[0, 0], float("-inf"))  # [k]
    carry[0] = 0.0
    frozen = frozen.unsqueeze(-1)
    return torch.where(frozen, carry, values), torch.where(frozen, eos_id, tokens)


def _top_k(
    candidates: Tensor,
    next_lengths: Tensor,
    beam_size: int,
    alpha: float,
    *,
    scorer: HypothesisScorer | None = None,
    coverage: Tensor | float = 0.0,
) -> Tensor:
    """Picks each row's ``beam_size`` best extensions among its ``beam * k`` candidates.

    Candidates are ranked by ``log_prob / lp(length) + cp`` (``penalties.py``).

    Args:
        candidates: Cumulative log-probs of the extensions ``[batch, beam, k]``.
        next_lengths: Length of each beam's extensions ``[batch, beam]``.
        beam_size: How many to keep.
        alpha: GNMT length-penalty alpha, used when no ``scorer`` is given.
        scorer: How candidates are scored (default: GNMT length penalty with ``alpha``).
        coverage: Coverage penalty of each beam's extensions ``[batch, beam]`` (all
            extensions of a beam share this step's attention), or 0.

    Returns:
        The chosen extensions, as indices into each row's flattened ``beam * k`` candidates
        ``[batch, beam]``, best first.
    """
    scorer = scorer or HypothesisScorer("gnmt", alpha)
    batch = candidates.size(0)
    if isinstance(coverage, Tensor):
        coverage = coverage.unsqueeze(-1)  # [batch, beam, 1]
    ranking = scorer.score(candidates, next_lengths.unsqueeze(-1), coverage)
    return ranking.view(batch, -1).topk(beam_size, dim=-1).indices


def _coverage_term(
    scorer: HypothesisScorer,
    beams: _Beams,
    attn: Tensor | None,
    frozen: Tensor,
    src_mask: Tensor,
) -> Tensor | float:
    """The coverage penalty of each beam's extensions ``[batch, beam]`` (0 when off).

    A live beam's coverage includes this step's attention ``attn`` ``[batch * beam, src_len]``;
    a frozen beam does not grow, so its coverage stays. ``src_mask`` is ``[batch, src_len]``.

    Raises:
        InputError: When the penalty is on and the model returns no attention.
    """
    if not scorer.uses_coverage:
        return 0.0
    batch, beam_size = frozen.shape
    coverage = extension_coverage(scorer, beams.attention, beams.lengths, attn, frozen)
    return scorer.coverage(coverage.view(batch, beam_size, -1), src_mask.unsqueeze(1))


def _end_decided_rows(
    beams: _Beams, scorer: HypothesisScorer, n_best: int, max_lengths: Tensor, src_mask: Tensor
) -> _Beams:
    """Early stopping: drops the live beams of every row whose ``n_best`` best finished
    hypotheses all score at least the upper bound of each live beam (module docstring).

    Args:
        beams: The beams after this step.
        scorer: How hypotheses are scored.
        n_best: Finished hypotheses a row needs.
        max_lengths: ``[batch]`` most tokens per row, EOS included.
        src_mask: ``[batch, src_len]`` True on real source positions.

    Returns:
        ``beams`` with the dropped live beams turned into empty slots (log-prob -inf).
    """
    empty = beams.log_probs.isneginf()  # [batch, beam]
    live = ~beams.finished & ~empty
    coverage: Tensor | float = 0.0
    if scorer.uses_coverage and beams.attention is not None:
        summed = summed_attention(beams.attention, beams.lengths).view(*empty.shape, -1)
        coverage = scorer.coverage(summed, src_mask.unsqueeze(1))
    scores = scorer.score(beams.log_probs, beams.lengths, coverage)  # [batch, beam]
    finished_scores = scores.masked_fill(~beams.finished | empty, float("-inf"))
    nth_best = finished_scores.topk(n_best, dim=1).values[:, -1]  # [batch]
    bounds = scorer.upper_bound(beams.log_probs, max_lengths.unsqueeze(1))  # [batch, beam]
    best_live = bounds.masked_fill(~live, float("-inf")).amax(1)  # [batch]
    decided = ~nth_best.isneginf() & (nth_best >= best_live)  # [batch]
    drop = decided.unsqueeze(1) & live
    return replace(beams, log_probs=beams.log_probs.masked_fill(drop, float("-inf")))


def _advance(
    beams: _Beams,
    log_probs: Tensor,
    token_log_probs: Tensor,
    tokens: Tensor,
    attn: Tensor | None,
    flat_parents: Tensor,
    frozen: Tensor,
    eos_id: int,
) -> _Beams:
    """Builds the next beams from the chosen extensions, all ``[batch, beam]``: cumulative
    ``log_probs``, the ``token_log_probs`` they add, their ``tokens``, and their parents
    ``flat_parents`` ``[batch * beam]``; histories are reordered along the back-pointers."""
    batch, beam_size = tokens.shape
    parent_frozen = frozen.view(-1)[flat_parents].view(batch, beam_size)
    parent_attention = None if attn is None else attn.index_select(0, flat_parents)
    history = None if beams.attention is None else beams.attention.index_select(0, flat_parents)
    return _Beams(
        log_probs=log_probs,
        lengths=beams.lengths.view(-1)[flat_parents].view(batch, beam_size) + ~parent_frozen,
        finished=beams.finished.view(-1)[flat_parents].view(batch, beam_size)
        | (~parent_frozen & (tokens == eos_id)),
        tokens=torch.cat([beams.tokens.index_select(0, flat_parents), tokens.view(-1, 1)], 1),
        token_log_probs=torch.cat(
            [beams.token_log_probs.index_select(0, flat_parents), token_log_probs.view(-1, 1)], 1
        ),
        attention=append_attention(history, parent_attention),
    )


def _collect(
    beams: _Beams,
    src_lengths: Tensor,
    n_best: int,
    alpha: float,
    *,
    scorer: HypothesisScorer | None = None,
) -> list[list[Hypothesis]]:
    """Turns the final beams into per-row lists of the ``n_best`` best hypotheses (scored by
    ``scorer``, default: GNMT length penalty with ``alpha``)."""
    scorer = scorer or HypothesisScorer("gnmt", alpha)
    beam_size = beams.log_probs.size(1)
    live = ~beams.log_probs.isneginf().view(-1).cpu()  # empty slots are never returned
    lengths, finished = beams.lengths.view(-1).tolist(), beams.finished.view(-1).tolist()
    tokens, token_lps = beams.tokens.cpu(), beams.token_log_probs.cpu()
    attention = None if beams.attention is None else beams.attention.cpu()
    results = []
    for row, src_length in enumerate(src_lengths.tolist()):
        hypotheses = [
            make_hypothesis(
                tokens[i, : lengths[i]],
                token_lps[i, : lengths[i]],
                None if attention is None else attention[i, : lengths[i], :src_length],
                finished=finished[i],
                scorer=scorer,
            )
            for i in range(row * beam_size, (row + 1) * beam_size)
            if live[i]
        ]
        hypotheses.sort(key=lambda hypothesis: hypothesis.score, reverse=True)
        results.append(hypotheses[:n_best])
    return results
