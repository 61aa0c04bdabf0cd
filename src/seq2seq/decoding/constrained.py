"""Lexically constrained beam search: phrases that must appear in the output.

Dynamic beam allocation (DBA; Post & Vilar 2018, "Fast Lexically Constrained Decoding with
Dynamic Beam Allocation for Neural Machine Translation", NAACL). A user gives, per source
sentence, target phrases (token-id sequences) that the output must contain, e.g. terminology.

Each hypothesis tracks which constraint tokens it has met and, inside a started phrase, the
next token the phrase needs (``constraint_tracking.py``). Producing another token there
*abandons* the phrase: its met tokens are reset (the token may then start a phrase afresh). A
phrase only counts once all of its tokens were produced in a row, so "every constraint met"
means every phrase occurs contiguously in the output.

At every step the candidates of a row are (Post & Vilar 2018, section 3):

1. the ``beam_size`` best one-token extensions over the whole beam (ordinary beam search),
2. the single best extension of each hypothesis,
3. every extension of each hypothesis that advances a constraint (the phrase's next token, or
   the first token of an unmet phrase).

The beam is then divided into *banks* by the number of constraint tokens met, ``0..C``: each
bank gets ``beam_size // (C + 1)`` slots and the top bank the remainder; slots a bank cannot
fill go to the highest banks that have candidates left. Within a bank, candidates compete by
score. So hypotheses that met constraints are never pushed out by more probable ones that did
not, and with ``beam_size = 1`` the single slot always goes to the most advanced candidate:
the constraints are forced in first.

EOS is masked until a hypothesis has met all of its row's constraints. The most advanced
hypothesis gains one constraint token per step, so every constraint is met within ``C`` steps;
this module therefore raises a row's maximum length to at least ``C + 1`` (its constraint
tokens plus EOS). Only hypotheses that meet every constraint are returned, so an n-best list
may be shorter than ``n_best``; should none of a row's beams meet them, its best beam alone is
returned so the row still has an output.

Ranking and step rules are those of ``beam.py``: scores from
:class:`~seq2seq.decoding.penalties.HypothesisScorer` (length normaliser, coverage penalty) and
the step rules of ``rules.py`` (minimum length, no repeated n-grams), except that constraints
win: a rule never forbids a token that advances a constraint. Early stopping is not applied.
Rows without constraints (one bank) reduce to the plain beam search of ``beam.py``: same
candidates, same frozen finished beams, same ranking. Phrases are tracked in the order
given; the result does not depend on that order unless two phrases share a first token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.decoding.constraint_tracking import (
    ConstraintState,
    ConstraintTable,
    RowConstraints,
    advance,
    advancing_tokens,
    met_after,
)
from seq2seq.decoding.penalties import HypothesisScorer, extension_coverage
from seq2seq.decoding.rules import StepRule, apply_rules
from seq2seq.decoding.search import (
    Hypothesis,
    append_attention,
    check_search_inputs,
    make_hypothesis,
    mask_bos,
    search_step,
)
from seq2seq.errors import InputError
from seq2seq.models.contract import SearchableModel


def bank_sizes(counts: Tensor, totals: Tensor, beam_size: int) -> Tensor:
    """Dynamic beam allocation: slots per bank, ``[batch, banks]``.

    Banks ``0..C_row`` get ``beam_size // (C_row + 1)`` slots each and bank ``C_row`` the
    remainder; slots beyond a bank's ``counts`` go to the highest banks with candidates left.

    Args:
        counts: ``[batch, banks]`` candidates in each bank.
        totals: ``[batch]`` constraint tokens of each row (its top bank).
        beam_size: Slots per row.
    """
    banks = torch.arange(counts.size(1), device=counts.device)
    per_bank = beam_size // (totals + 1)  # [batch]
    sizes = torch.where(banks <= totals.unsqueeze(1), per_bank.unsqueeze(1), 0)
    top = F.one_hot(totals, counts.size(1)) * (beam_size - per_bank * (totals + 1)).unsqueeze(1)
    sizes = torch.minimum(sizes + top, counts)
    unused = beam_size - sizes.sum(1, keepdim=True)  # [batch, 1]
    spare = counts - sizes
    spare_above = spare.flip(1).cumsum(1).flip(1) - spare  # [batch, banks]
    return sizes + (unused - spare_above).clamp(min=0).minimum(spare)


def dynamic_beam_allocation(
    ranking: Tensor, banks: Tensor, candidates: Tensor, totals: Tensor, beam_size: int
) -> tuple[Tensor, Tensor]:
    """Chooses each row's next beam among its candidates (see the module docstring).

    Args:
        ranking: ``[batch, beam * vocab]`` ranking score of every extension.
        banks: ``[batch, beam * vocab]`` constraint tokens each extension has met.
        candidates: ``[batch, beam * vocab]`` bool, the extensions allowed to compete.
        totals: ``[batch]`` constraint tokens of each row.
        beam_size: Slots per row.

    Returns:
        The chosen extensions as indices into ``beam * vocab`` ``[batch, beam]``, best-ranked
        first, and whether each slot holds one ``[batch, beam]`` (False: an empty slot).
    """
    num_banks = int(totals.max()) + 1
    most = min(ranking.size(1), beam_size * (2 + num_banks))  # bound on candidates per row
    top = ranking.masked_fill(~candidates, float("-inf")).topk(most, dim=1)  # best first
    valid = top.values > float("-inf")  # [batch, most]
    bank = banks.gather(1, top.indices)
    in_bank = F.one_hot(bank, num_banks) * valid.unsqueeze(-1)  # [batch, most, banks]
    rank_in_bank = (in_bank.cumsum(1) * in_bank).sum(-1) - 1  # [batch, most]
    sizes = bank_sizes(in_bank.sum(1), totals, beam_size)
    keep = valid & (rank_in_bank < sizes.gather(1, bank))
    slots = torch.arange(most, device=ranking.device)
    first_kept = torch.where(keep, slots, most + slots).argsort(1)[:, :beam_size]
    return top.indices.gather(1, first_kept), keep.gather(1, first_kept)


@dataclass
class _Beams:
    """Beam bookkeeping, as in ``beam.py``, plus each hypothesis' constraint state.

    Attributes:
        log_probs: ``[batch, beam]`` cumulative log-probs; -inf marks an empty slot.
        lengths: ``[batch, beam]`` tokens produced, EOS included.
        finished: ``[batch, beam]`` bool, True once EOS was produced.
        tokens: ``[batch * beam, step]`` token history.
        token_log_probs: ``[batch * beam, step]``.
        attention: ``[batch * beam, step, src_len]`` or None.
        constraints: Per hypothesis ``[batch * beam]``.
    """

    log_probs: Tensor
    lengths: Tensor
    finished: Tensor
    tokens: Tensor
    token_log_probs: Tensor
    attention: Tensor | None
    constraints: ConstraintState


@torch.no_grad()
def constrained_beam_search(
    model: SearchableModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    constraints: Sequence[RowConstraints],
    bos_id: int,
    eos_id: int,
    max_lengths: Tensor,
    beam_size: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
    length_penalty_type: str = "gnmt",
    coverage_penalty: float = 0.0,
    rules: Sequence[StepRule] = (),
    attention: bool = True,
) -> list[list[Hypothesis]]:
    """Beam search whose outputs contain every given phrase (see the module docstring).

    Args:
        model: Any model speaking the contract in ``seq2seq.models.contract``.
        src: Padded source ids ``[batch, src_len]``.
        src_lengths: True source lengths ``[batch]``.
        constraints: Per row, its phrases as target-id sequences (an empty list for none).
        bos_id: Id fed as the first previous token (never produced).
        eos_id: Id that ends a hypothesis.
        max_lengths: ``[batch]`` most tokens per row, EOS included; raised to the row's
            constraint tokens + 1 where shorter, so every constraint can be met.
        beam_size: Hypotheses kept per row (1 forces the constraints in first).
        length_penalty: GNMT alpha; 0 ranks by the plain sum of log-probs.
        n_best: Hypotheses returned per row, at most ``beam_size``.
        length_penalty_type: ``none``, ``average`` or ``gnmt`` (``penalties.py``).
        coverage_penalty: GNMT coverage-penalty beta; 0 = off (needs attention when above 0).
        rules: Step rules (``rules.py``); they never forbid a token that advances a constraint.
        attention: Keep each token's attention (``Hypothesis.attention``), as for
            :func:`seq2seq.decoding.beam.beam_search`.

    Returns:
        Per row, up to ``n_best`` hypotheses that meet every constraint, sorted by score
        (fewer when fewer beams met them; a row where none did gets its best beam alone).

    Raises:
        InputError: When an argument is out of range, a phrase is empty or holds BOS/EOS or
            ids outside the vocabulary, or the coverage penalty is on for a model without
            attention.
    """
    max_lengths = check_search_inputs(src, src_lengths, max_lengths)
    _check_arguments(constraints, src.size(0), beam_size, n_best, (bos_id, eos_id))
    scorer = HypothesisScorer(length_penalty_type, length_penalty, coverage_penalty)
    batch, src_len = src.shape
    device = src.device
    rows = torch.arange(batch, device=device)
    table = ConstraintTable.build(constraints, device)
    max_lengths = torch.maximum(max_lengths, table.totals + 1)
    to_beams = rows.repeat_interleave(beam_size)  # [batch * beam]
    enc = model.encode(src, src_lengths)
    state = model.init_state(enc).select(to_beams)
    enc = enc.select(to_beams)
    hyp_table = table.repeat_interleave(beam_size)
    src_mask = torch.arange(src_len, device=device) < src_lengths.to(device)[to_beams, None]
    attention = attention or scorer.uses_coverage
    beams = _initial_beams(batch, beam_size, src_len, hyp_table, attention)
    prev_tokens = torch.full((batch * beam_size,), bos_id, dtype=torch.long, device=device)
    for step in range(int(max_lengths.max()) if batch else 0):
        frozen = beams.finished | (step >= max_lengths).unsqueeze(1)  # [batch, beam]
        if bool((frozen | beams.log_probs.isneginf()).all()):
            break
        log_probs, state, attn = search_step(model, prev_tokens, state, enc, attention)
        if step == 0:
            _check_in_vocabulary(table, log_probs.size(-1))
        log_probs = mask_bos(log_probs, bos_id)
        allowed = apply_rules(rules, log_probs, beams.tokens, to_beams, eos_id)
        step_log_probs = _step_log_probs(log_probs, allowed, beams, hyp_table, frozen, eos_id)
        coverage = _coverage_term(scorer, beams, attn, frozen, src_mask)
        flat_parents, tokens, live = _choose(
            beams, step_log_probs, hyp_table, frozen, table, scorer, coverage
        )
        flat_parents = flat_parents + (rows * beam_size).unsqueeze(1)  # [batch, beam]
        beams = _advance(
            beams, step_log_probs, attn, flat_parents, tokens, live, frozen, hyp_table, eos_id
        )
        state = state.select(flat_parents.view(-1))
        prev_tokens = tokens.view(-1)
    return _collect(beams, hyp_table, src_lengths, n_best, scorer)


def _check_arguments(
    constraints: Sequence[RowConstraints],
    batch: int,
    beam_size: int,
    n_best: int,
    special_ids: tuple[int, int],
) -> None:
    """Raises InputError naming the bad value and the rule it breaks."""
    if beam_size < 1:
        raise InputError(f"beam_size must be >= 1, got beam_size={beam_size}")
    if not 1 <= n_best <= beam_size:
        raise InputError(f"n_best={n_best} with beam_size={beam_size}: n_best must be 1..beam_size")
    if len(constraints) != batch:
        raise InputError(
            f"{len(constraints)} constraint lists for a batch of {batch}: give one list per row"
        )
    for row, phrases in enumerate(constraints):
        for phrase in phrases:
            if not phrase or any(token < 0 or token in special_ids for token in phrase):
                raise InputError(
                    f"row {row}: constraint phrase {list(phrase)} must be a non-empty list of "
                    f"target ids >= 0 without BOS/EOS {list(special_ids)}"
                )


def _check_in_vocabulary(table: ConstraintTable, vocab: int) -> None:
    """Raises InputError when a constraint id lies outside the model's target vocabulary."""
    outside = table.valid & (table.tokens >= vocab)
    if bool(outside.any()):
        raise InputError(
            f"constraint ids {sorted(set(table.tokens[outside].tolist()))} are outside the "
            f"target vocabulary of {vocab} ids"
        )


def _initial_beams(
    batch: int, beam_size: int, src_len: int, hyp_table: ConstraintTable, attention: bool
) -> _Beams:
    """Empty hypotheses; only beam 0 of each row is live so step 0 picks no duplicates."""
    device = hyp_table.tokens.device
    log_probs = torch.full((batch, beam_size), float("-inf"), device=device)
    log_probs[:, 0] = 0.0
    return _Beams(
        log_probs=log_probs,
        lengths=torch.zeros(batch, beam_size, dtype=torch.long, device=device),
        finished=torch.zeros(batch, beam_size, dtype=torch.bool, device=device),
        tokens=torch.zeros(batch * beam_size, 0, dtype=torch.long, device=device),
        token_log_probs=torch.zeros(batch * beam_size, 0, device=device),
        attention=torch.zeros(batch * beam_size, 0, src_len, device=device) if attention else None,
        constraints=ConstraintState.initial(hyp_table),
    )


def _step_log_probs(
    log_probs: Tensor,
    allowed: Tensor,
    beams: _Beams,
    hyp_table: ConstraintTable,
    frozen: Tensor,
    eos_id: int,
) -> Tensor:
    """This step's token log-probs ``[batch * beam, vocab]``.

    Args:
        log_probs: The model's log-probs with BOS masked ``[batch * beam, vocab]``.
        allowed: ``log_probs`` after the step rules (forbidden tokens at -inf).
        beams, hyp_table, frozen, eos_id: The search's bookkeeping.

    Returns:
        The rules' choice, except that tokens advancing a constraint keep their log-prob, EOS
        is forbidden until every constraint is met, and a frozen beam's single free extension
        is EOS at cost 0.
    """
    advancing = advancing_tokens(beams.constraints, hyp_table, log_probs.size(-1))
    step_log_probs = torch.where(advancing, log_probs, allowed)
    unmet = beams.constraints.num_met() < hyp_table.totals  # [batch * beam]
    step_log_probs[:, eos_id] = step_log_probs[:, eos_id].masked_fill(unmet, float("-inf"))
    carry = torch.full_like(step_log_probs[0], float("-inf"))  # [vocab]
    carry[eos_id] = 0.0
    return torch.where(frozen.view(-1, 1), carry, step_log_probs)


def _coverage_term(
    scorer: HypothesisScorer, beams: _Beams, attn: Tensor | None, frozen: Tensor, src_mask: Tensor
) -> Tensor | float:
    """The coverage penalty of each hypothesis' extensions ``[batch * beam, 1]`` (0 when off).

    Coverage sums the attention of the tokens a hypothesis produced plus, unless it is frozen,
    this step's ``attn`` ``[batch * beam, src_len]``; ``src_mask`` is ``[batch * beam, src_len]``.

    Raises:
        InputError: When the penalty is on and the model returns no attention.
    """
    if not scorer.uses_coverage:
        return 0.0
    coverage = extension_coverage(scorer, beams.attention, beams.lengths, attn, frozen)
    return scorer.coverage(coverage, src_mask).unsqueeze(1)


def _choose(
    beams: _Beams,
    step_log_probs: Tensor,
    hyp_table: ConstraintTable,
    frozen: Tensor,
    table: ConstraintTable,
    scorer: HypothesisScorer,
    coverage: Tensor | float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gathers the candidates and allocates the beam among banks.

    Returns:
        Parent beam within its row, chosen token, and whether the slot is filled, each
        ``[batch, beam]``.
    """
    batch, beam_size = frozen.shape
    vocab = step_log_probs.size(-1)
    cumulative = beams.log_probs.view(-1, 1) + step_log_probs  # [batch * beam, vocab]
    next_lengths = (beams.lengths + ~frozen).view(-1, 1)
    ranking = scorer.score(cumulative, next_lengths, coverage)
    hyp_state = beams.constraints
    banks = met_after(hyp_state, hyp_table, vocab)
    banks = torch.where(frozen.view(-1, 1), hyp_state.num_met().unsqueeze(1), banks)
    candidates = advancing_tokens(hyp_state, hyp_table, vocab)
    candidates |= F.one_hot(ranking.argmax(1), vocab).bool()  # each hypothesis' best extension
    row_ranking = ranking.view(batch, -1)  # [batch, beam * vocab]
    best = row_ranking.topk(beam_size, dim=1).indices
    candidates = candidates.view(batch, -1).scatter(1, best, True)
    candidates &= row_ranking > float("-inf")
    chosen, live = dynamic_beam_allocation(
        row_ranking, banks.view(batch, -1), candidates, table.totals, beam_size
    )
    return chosen // vocab, chosen % vocab, live


def _advance(
    beams: _Beams,
    step_log_probs: Tensor,
    attn: Tensor | None,
    flat_parents: Tensor,
    tokens: Tensor,
    live: Tensor,
    frozen: Tensor,
    hyp_table: ConstraintTable,
    eos_id: int,
) -> _Beams:
    """Next beams from the chosen ``flat_parents`` and ``tokens`` ``[batch, beam]``; a slot
    that is not ``live`` gets log-prob -inf (empty)."""
    batch, beam_size = tokens.shape
    parents, flat_tokens = flat_parents.view(-1), tokens.view(-1)
    token_log_probs = step_log_probs[parents, flat_tokens]  # [batch * beam]
    parent_frozen = frozen.view(-1)[parents]
    log_probs = beams.log_probs.view(-1)[parents] + token_log_probs
    history = None if beams.attention is None else beams.attention.index_select(0, parents)
    parent_attention = None if attn is None else attn.index_select(0, parents)
    constraint_state = advance(
        beams.constraints.select(parents), hyp_table, flat_tokens, parent_frozen
    )
    return _Beams(
        log_probs=log_probs.masked_fill(~live.view(-1), float("-inf")).view(batch, beam_size),
        lengths=(beams.lengths.view(-1)[parents] + ~parent_frozen).view(batch, beam_size),
        finished=(
            beams.finished.view(-1)[parents] | (~parent_frozen & (flat_tokens == eos_id))
        ).view(batch, beam_size),
        tokens=torch.cat([beams.tokens.index_select(0, parents), flat_tokens[:, None]], 1),
        token_log_probs=torch.cat(
            [beams.token_log_probs.index_select(0, parents), token_log_probs[:, None]], 1
        ),
        attention=append_attention(history, parent_attention),
        constraints=constraint_state,
    )


def _collect(
    beams: _Beams,
    hyp_table: ConstraintTable,
    src_lengths: Tensor,
    n_best: int,
    scorer: HypothesisScorer,
) -> list[list[Hypothesis]]:
    """Per row, up to ``n_best`` hypotheses meeting every constraint, by score.

    The other beams (cut at the maximum length, phrases unmet) are returned only by a row
    none of whose beams met its constraints, and then only its best one, so that the row
    still has an output.
    """
    beam_size = beams.log_probs.size(1)
    live = (~beams.log_probs.isneginf()).view(-1).tolist()
    all_met = (beams.constraints.num_met() == hyp_table.totals).tolist()
    lengths, finished = beams.lengths.view(-1).tolist(), beams.finished.view(-1).tolist()
    tokens, token_lps = beams.tokens.cpu(), beams.token_log_probs.cpu()
    attention = None if beams.attention is None else beams.attention.float().cpu()
    results = []
    for row, src_length in enumerate(src_lengths.tolist()):
        ranked = []
        for i in range(row * beam_size, (row + 1) * beam_size):
            if not live[i]:
                continue
            hypothesis = make_hypothesis(
                tokens[i, : lengths[i]],
                token_lps[i, : lengths[i]],
                None if attention is None else attention[i, : lengths[i], :src_length],
                finished=finished[i],
                scorer=scorer,
            )
            ranked.append((all_met[i], hypothesis.score, hypothesis))
        ranked.sort(key=lambda item: item[:2], reverse=True)
        met = [hypothesis for all_of_them, _, hypothesis in ranked if all_of_them]
        results.append(met[:n_best] if met else [hypothesis for _, _, hypothesis in ranked[:1]])
    return results
