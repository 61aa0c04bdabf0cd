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
no repeated n-grams) forbid tokens before the candidates are ranked. A row's ``beam_size``
best extensions are chosen in one ``topk`` over a small candidate pool: the extensions of one
beam share its log-prob, length and coverage, so their ranking follows the token log-prob, and
only the ``beam_size`` vocabulary blocks whose best token ranks highest (over all of the row's
beams) can hold them (:func:`_best_extensions`).

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

from seq2seq.decoding.best_tokens import BLOCK, MIN_BLOCKS
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
        coverage = _coverage_term(scorer, beams, attn, frozen, src_mask)  # [rows, beam] or 0
        parents, tokens, token_log_probs, log_probs_after = _best_extensions(
            log_probs, beams, frozen, scorer, coverage, eos_id
        )  # [rows, beam] each
        flat_parents = (parents + rows.unsqueeze(1) * beam_size).view(-1)
        beams = _advance(
            beams, log_probs_after, token_log_probs, tokens, attn, flat_parents, frozen, eos_id
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


def _best_extensions(
    log_probs: Tensor,
    beams: _Beams,
    frozen: Tensor,
    scorer: HypothesisScorer,
    coverage: Tensor | float,
    eos_id: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each row's ``beam`` best one-token extensions of its beams, ranked by
    ``log_prob / lp(length) + cp`` (``penalties.py``).

    A live beam extends with any token; a frozen beam (finished, or at its row's maximum
    length) has one extension, EOS at cost 0, which carries it unchanged so it keeps competing.
    The ranking of a beam's extensions is increasing in the token's log-prob (all share the
    beam's log-prob, length and coverage), so on a CPU the vocabulary is searched in blocks of
    ``BLOCK`` columns (see ``best_tokens.py``): the block maxima are ranked as if they were
    tokens, and only the ``beam`` best blocks of a row (plus a partial last block) can hold its
    ``beam`` best extensions. One row then ranks ``beam * BLOCK`` candidates instead of
    ``beam * vocab``, in one ``topk`` per row rather than one per beam.

    Args:
        log_probs: This step's log-probs ``[rows * beam, vocab]``, or ``[rows, vocab]`` on the
            first step (one row per input: only its beam 0 is live).
        beams: The beams before this step.
        frozen: ``[rows, beam]`` beams that must not grow.
        scorer: How candidates are ranked.
        coverage: Coverage penalty of each beam's extensions ``[rows, beam]`` (they share this
            step's attention), or 0.
        eos_id: The token a frozen beam "extends" with.

    Returns:
        Per row, best first, ``[rows, beam]`` each: the parent beam (index within the row), the
        token, the token's log-prob (0 for a frozen beam's carry) and the extension's
        cumulative log-prob. Slots a row cannot fill (fewer candidates than beams) get a -inf
        log-prob and so stay empty.
    """
    rows, beam_size = frozen.shape
    # g = growing_beams: the beams with log-probs this step (1 on the first step).
    growing_beams, vocab = log_probs.size(0) // rows, log_probs.size(1)
    by_beam = log_probs.view(rows, growing_beams, vocab)
    cumulative = beams.log_probs[:, :growing_beams]  # [rows, g]
    stuck = frozen[:, :growing_beams]
    lengths = (beams.lengths + ~frozen)[:, :growing_beams]  # each beam's extensions' length
    if isinstance(coverage, Tensor):
        coverage = coverage[:, :growing_beams]

    def rank(token_log_probs: Tensor, parents: Tensor | None = None) -> Tensor:
        """Scores of extensions ``[rows, n, m]``: ``m`` tokens of each of the beams
        ``parents`` ``[rows, n]`` (None: of every beam, in order)."""

        def of_parents(values: Tensor) -> Tensor:  # [rows, g] -> [rows, n, 1]
            return (values if parents is None else values.gather(1, parents)).unsqueeze(-1)

        cover = of_parents(coverage) if isinstance(coverage, Tensor) else coverage
        return scorer.score(of_parents(growing) + token_log_probs, of_parents(lengths), cover)

    growing = cumulative.masked_fill(stuck, float("-inf"))  # frozen beams do not extend
    beam_ids = torch.arange(growing_beams, device=log_probs.device)
    # The candidate pool: ranking scores, token log-probs and flat ids (parent * vocab + token).
    scores, token_lps, flat = [], [], []
    whole = vocab - vocab % BLOCK
    blocks = whole // BLOCK
    if log_probs.device.type == "cpu" and blocks >= max(MIN_BLOCKS, 4 * beam_size):
        by_block = by_beam[:, :, :whole].reshape(rows, growing_beams * blocks, BLOCK)
        block_best = rank(by_block.amax(-1).view(rows, growing_beams, blocks))
        best = block_best.view(rows, -1).topk(beam_size, dim=-1).indices  # [rows, beam] blocks
        values = by_block.gather(1, best.unsqueeze(-1).expand(-1, -1, BLOCK))  # [rows, beam, B]
        parents = best // blocks
        scores.append(rank(values, parents).view(rows, -1))
        token_lps.append(values.view(rows, -1))
        starts = parents * vocab + (best % blocks) * BLOCK
        flat.append((starts.unsqueeze(-1) + torch.arange(BLOCK, device=best.device)).view(rows, -1))
        if whole < vocab:  # the partial last block of every beam is always a candidate
            tail = by_beam[:, :, whole:]
            scores.append(rank(tail).view(rows, -1))
            token_lps.append(tail.reshape(rows, -1))
            columns = torch.arange(whole, vocab, device=best.device)
            flat.append((beam_ids.unsqueeze(1) * vocab + columns).view(1, -1).expand(rows, -1))
    else:
        scores.append(rank(by_beam).view(rows, -1))
        token_lps.append(by_beam.reshape(rows, -1))
        flat.append(torch.arange(growing_beams * vocab, device=log_probs.device).expand(rows, -1))
    carried = cumulative.masked_fill(~stuck, float("-inf"))  # a frozen beam's one extension
    carry_start = sum(part.size(1) for part in scores)
    scores.append(scorer.score(carried, lengths, coverage))
    token_lps.append(torch.zeros_like(carried))
    flat.append((beam_ids * vocab + eos_id).expand(rows, -1))
    missing = beam_size - carry_start - growing_beams  # a tiny vocabulary: pad with empty slots
    if missing > 0:
        scores.append(carried.new_full((rows, missing), float("-inf")))
        token_lps.append(carried.new_full((rows, missing), float("-inf")))
        flat.append(beam_ids.new_full((rows, missing), eos_id))
    chosen = torch.cat(scores, 1).topk(beam_size, dim=-1).indices  # [rows, beam]
    token_log_probs = torch.cat(token_lps, 1).gather(1, chosen)
    flat_ids = torch.cat(flat, 1).gather(1, chosen)
    parents, tokens = flat_ids // vocab, flat_ids % vocab
    is_carry = (chosen >= carry_start) & (chosen < carry_start + growing_beams)
    log_probs_after = torch.where(
        is_carry, carried.gather(1, parents), growing.gather(1, parents) + token_log_probs
    )
    return parents, tokens, token_log_probs, log_probs_after


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
