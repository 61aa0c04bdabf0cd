"""Lexically constrained beam search (dynamic beam allocation): every phrase appears, and
without constraints it is plain beam search."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
import torch
from fake_models import BOS, EOS, MarkovModel, TableModel
from test_real_model_search import BOS as REAL_BOS
from test_real_model_search import EOS as REAL_EOS
from test_real_model_search import make_model
from test_real_model_search import random_batch as real_batch
from test_search import assert_same_hypothesis, random_batch
from tiny_translator import SOURCES, tiny_translator
from torch import Tensor

from seq2seq.decoding import Hypothesis, beam_search, greedy_search
from seq2seq.decoding.constrained import bank_sizes, constrained_beam_search
from seq2seq.decoding.constraint_tracking import (
    ConstraintState,
    ConstraintTable,
    advance,
    met_after,
)
from seq2seq.decoding.rules import NoRepeatNgram
from seq2seq.errors import InputError

Phrases = list[list[int]]


def run(
    model: object,
    src: Tensor,
    lengths: Tensor,
    max_lengths: Tensor,
    constraints: Sequence[Phrases],
    **kwargs: object,
) -> list[list[Hypothesis]]:
    options = {"bos_id": BOS, "eos_id": EOS, **kwargs}
    return constrained_beam_search(
        model, src, lengths, constraints=constraints, max_lengths=max_lengths, **options
    )


def contains(tokens: list[int], phrase: list[int]) -> bool:
    """Whether ``phrase`` occurs contiguously in ``tokens``."""
    n = len(phrase)
    return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


def assert_meets(hyp: Hypothesis, phrases: Phrases, bos: int = BOS, eos: int = EOS) -> None:
    """Every phrase occurs contiguously; BOS and EOS are never among the tokens."""
    for phrase in phrases:
        assert contains(hyp.tokens, phrase), f"{phrase} not in {hyp.tokens}"
    assert eos not in hyp.tokens and bos not in hyp.tokens


# Several constraints per row, multi-token phrases, a row without any, a repeated token.
CONSTRAINTS: list[Phrases] = [[[5, 6], [2]], [], [[7, 7, 3]], [[4], [3, 2, 6]], [[6, 5, 4, 3]]]


@pytest.mark.parametrize("beam_size", [1, 2, 3, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_constraint_appears_with_a_fake_model(beam_size: int, seed: int) -> None:
    model = MarkovModel(tgt_vocab=8, seed=seed)
    src, lengths = random_batch(seed)
    max_lengths = torch.tensor([8, 8, 4, 9, 2])  # the last row is too short: raised to 5
    results = run(model, src, lengths, max_lengths, CONSTRAINTS, beam_size=beam_size)
    for hyps, phrases, max_len in zip(results, CONSTRAINTS, max_lengths.tolist(), strict=True):
        [best] = hyps
        assert_meets(best, phrases)
        needed = sum(len(p) for p in phrases) + 1
        assert len(best.token_log_probs) <= max(max_len, needed)


@pytest.mark.parametrize("family", ["lstm-luong_general-feed", "transformer", "gru-bahdanau"])
@pytest.mark.parametrize("beam_size", [1, 4])
def test_every_constraint_appears_with_real_models(family: str, beam_size: int) -> None:
    model = make_model(family, seed=3)
    src, lengths = real_batch(3)
    constraints = [[[5, 6], [11]], [[8, 8, 9]], [], [[4], [10, 7]], [[6], [9], [5]]]
    max_lengths = torch.tensor([9, 6, 7, 3, 12])
    results = run(
        model,
        src,
        lengths,
        max_lengths,
        constraints,
        beam_size=beam_size,
        bos_id=REAL_BOS,
        eos_id=REAL_EOS,
    )
    for hyps, phrases in zip(results, constraints, strict=True):
        assert_meets(hyps[0], phrases, REAL_BOS, REAL_EOS)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
@pytest.mark.parametrize("beam_size", [1, 2, 4])
def test_without_constraints_it_is_plain_beam_search(beam_size: int, alpha: float) -> None:
    model = MarkovModel(seed=5)
    src, lengths = random_batch(5)
    max_lengths = torch.tensor([9, 2, 5, 7, 1])
    options = {"beam_size": beam_size, "n_best": beam_size, "length_penalty": alpha}
    got = run(model, src, lengths, max_lengths, [[]] * 5, **options)
    want = beam_search(
        model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths, **options
    )
    for got_row, want_row in zip(got, want, strict=True):
        assert len(got_row) == len(want_row)
        for g, w in zip(got_row, want_row, strict=True):
            assert_same_hypothesis(g, w)
    if beam_size == 1:
        greedy = greedy_search(model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths)
        for [g], w in zip(got, greedy, strict=True):
            assert g.tokens == w.tokens and g.finished == w.finished


def test_rows_without_constraints_are_unaffected_by_their_neighbours() -> None:
    model = MarkovModel(tgt_vocab=8, seed=6)
    src, lengths = random_batch(6)
    max_lengths = torch.full((5,), 7)
    mixed = run(model, src, lengths, max_lengths, CONSTRAINTS, beam_size=3, n_best=2)
    plain = beam_search(
        model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths, beam_size=3, n_best=2
    )
    for g, w in zip(mixed[1], plain[1], strict=True):  # row 1 has no constraints
        assert_same_hypothesis(g, w)


def test_batched_equals_one_by_one() -> None:
    model = MarkovModel(tgt_vocab=8, seed=7)
    src, lengths = random_batch(7)
    max_lengths = torch.tensor([8, 3, 6, 9, 5])
    batched = run(model, src, lengths, max_lengths, CONSTRAINTS, beam_size=4, n_best=2)
    for row, phrases in enumerate(CONSTRAINTS):
        n = int(lengths[row])
        alone = run(
            model,
            src[row : row + 1, :n],
            lengths[row : row + 1],
            max_lengths[row : row + 1],
            [phrases],
            beam_size=4,
            n_best=2,
        )
        for g, w in zip(batched[row], alone[0], strict=True):
            assert_same_hypothesis(g, w)


def test_phrase_order_does_not_matter_when_first_tokens_differ() -> None:
    model = MarkovModel(tgt_vocab=9, seed=8)
    src, lengths = random_batch(8, batch=1)
    phrases = [[5, 6], [2], [7, 3, 8]]
    results = set()
    for order in itertools.permutations(phrases):
        [hyps] = run(model, src, lengths, torch.tensor([10]), [list(order)], beam_size=5, n_best=3)
        results.add(tuple((tuple(h.tokens), round(h.score, 5)) for h in hyps))
    assert len(results) == 1


def test_eos_waits_for_the_constraints_and_scores_are_the_models() -> None:
    # The model wants to stop at once (EOS 0.97 from BOS); the constraint [3] forces a detour.
    eager = [0.0, 0.97, 0.01, 0.01, 0.01]
    model = TableModel([eager, eager, eager, [0.0, 0.9, 0.05, 0.04, 0.01], eager])
    src, lengths = torch.tensor([[2, 3]]), torch.tensor([2])
    for beam_size in (1, 3):
        [[hyp]] = run(model, src, lengths, torch.tensor([5]), [[[3]]], beam_size=beam_size)
        assert hyp.tokens == [3] and hyp.finished
        assert hyp.log_prob == pytest.approx(float(torch.tensor([0.01, 0.9]).log().sum()))


def test_constraints_win_over_step_rules() -> None:
    # No token may repeat, yet the phrase [4, 4] repeats one: the constraint is still met.
    model = MarkovModel(tgt_vocab=8, seed=9)
    src, lengths = random_batch(9, batch=1)
    rules = [NoRepeatNgram(1)]
    [[hyp]] = run(model, src, lengths, torch.tensor([6]), [[[4, 4]]], beam_size=3, rules=rules)
    assert contains(hyp.tokens, [4, 4])
    others = [t for t in hyp.tokens if t != 4]
    assert len(others) == len(set(others))


def test_every_returned_hypothesis_meets_the_constraints() -> None:
    # An n-best list holds only hypotheses with every phrase, best first: beams cut at the
    # maximum length before meeting them are left out (n-best lists get shorter), so MBR or
    # a user reading candidate 2 never gets an output missing a phrase.
    model = MarkovModel(tgt_vocab=8, seed=10)
    src, lengths = random_batch(10)
    results = run(model, src, lengths, torch.full((5,), 6), CONSTRAINTS, beam_size=6, n_best=6)
    for hyps, phrases in zip(results, CONSTRAINTS, strict=True):
        assert hyps
        assert all(all(contains(h.tokens, p) for p in phrases) for h in hyps)
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
    sizes = [(len(hyps), bool(phrases)) for hyps, phrases in zip(results, CONSTRAINTS, strict=True)]
    assert any(size < 6 for size, constrained in sizes if constrained)  # some beams missed
    assert all(size == 6 for size, constrained in sizes if not constrained)


# --- the constraint state machine ---------------------------------------------------------------


def walk(phrases: Phrases, tokens: list[int]) -> list[int]:
    """Constraint tokens met after each of ``tokens``, for one hypothesis."""
    table = ConstraintTable.build([phrases], torch.device("cpu"))
    state = ConstraintState.initial(table)
    met = []
    for token in tokens:
        state = advance(state, table, torch.tensor([token]), torch.tensor([False]))
        met.append(int(state.num_met()))
    return met


def test_a_phrase_counts_only_when_produced_contiguously() -> None:
    phrases = [[2, 3, 4], [5]]
    assert walk(phrases, [2, 3, 4]) == [1, 2, 3]
    assert walk(phrases, [2, 3, 6, 4]) == [1, 2, 0, 0]  # abandoned: reset
    assert walk(phrases, [2, 3, 2, 3, 4]) == [1, 2, 1, 2, 3]  # abandoned by its own start
    assert walk(phrases, [2, 5, 3, 4]) == [1, 1, 1, 1]  # 5 abandons [2..] but meets [5]
    assert walk(phrases, [5, 5, 2, 3, 4, 2]) == [1, 1, 2, 3, 4, 4]  # met phrases stay met
    assert walk([[7], [7]], [7, 1, 7]) == [1, 1, 2]  # a repeated phrase must occur twice


def test_frozen_hypotheses_keep_their_state() -> None:
    table = ConstraintTable.build([[[2, 3]]], torch.device("cpu"))
    state = advance(ConstraintState.initial(table), table, torch.tensor([2]), torch.tensor([False]))
    kept = advance(state, table, torch.tensor([EOS]), torch.tensor([True]))
    assert kept.met.tolist() == state.met.tolist() and kept.progress.tolist() == [1]


def test_met_after_agrees_with_advance() -> None:
    vocab = 7
    constraints = [[[2, 3, 4], [5]], [[3, 3], [2, 6]], [], [[4, 5, 6, 2]]]
    table = ConstraintTable.build(constraints, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    state = ConstraintState.initial(table)
    for _ in range(12):  # random walks through many states
        predicted = met_after(state, table, vocab)  # [rows, vocab]
        for token in range(vocab):
            tokens = torch.full((len(constraints),), token)
            after = advance(state, table, tokens, torch.zeros(len(constraints), dtype=torch.bool))
            assert predicted[:, token].tolist() == after.num_met().tolist()
        tokens = torch.randint(2, vocab, (len(constraints),), generator=gen)
        state = advance(state, table, tokens, torch.zeros(len(constraints), dtype=torch.bool))


def test_bank_sizes_share_the_beam_and_pass_on_unused_slots() -> None:
    totals = torch.tensor([2, 2, 0, 4])
    counts = torch.tensor([[5, 5, 5, 0, 0], [5, 0, 1, 0, 0], [9, 0, 0, 0, 0], [0, 0, 0, 1, 0]])
    sizes = bank_sizes(counts, totals, beam_size=5)
    assert sizes.tolist() == [
        [1, 1, 3, 0, 0],  # 5 // 3 each, the remainder to the top bank
        [4, 0, 1, 0, 0],  # unused slots flow down to banks with candidates
        [5, 0, 0, 0, 0],  # no constraints: one bank, plain beam search
        [0, 0, 0, 1, 0],  # fewer candidates than slots
    ]
    assert bank_sizes(torch.tensor([[3, 3, 3, 3]]), torch.tensor([3]), 2).tolist() == [
        [0, 0, 0, 2]  # beam smaller than the banks: the most advanced bank first
    ]
    assert bank_sizes(torch.tensor([[3, 3, 1, 0]]), torch.tensor([3]), 2).tolist() == [[0, 1, 1, 0]]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraints", "kwargs", "message"),
    [
        ([[[]]], {}, r"row 0: constraint phrase \[\] must be a non-empty list"),
        ([[[2, EOS]]], {}, r"row 0: constraint phrase \[2, 1\] .* without BOS/EOS"),
        ([[[-3]]], {}, "target ids >= 0"),
        ([[[2]], [[3]]], {}, "2 constraint lists for a batch of 1"),
        ([[[40]]], {}, r"constraint ids \[40\] are outside the target vocabulary of 6 ids"),
        ([[[2]]], {"n_best": 3}, "n_best=3 with beam_size=2"),
        ([[[2]]], {"beam_size": 0, "n_best": 0}, "beam_size must be >= 1"),
    ],
)
def test_bad_arguments_raise_input_error(
    constraints: list[Phrases], kwargs: dict[str, int], message: str
) -> None:
    src, lengths = torch.tensor([[2, 3]]), torch.tensor([2])
    options = {"beam_size": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        run(MarkovModel(), src, lengths, torch.tensor([4]), constraints, **options)


def test_coverage_penalty_needs_attention() -> None:
    model = TableModel([[0.0, 0.5, 0.25, 0.25]] * 4)
    with pytest.raises(InputError, match=r"coverage_penalty=0\.5 needs attention"):
        run(
            model,
            torch.tensor([[2]]),
            torch.tensor([1]),
            torch.tensor([3]),
            [[[2]]],
            beam_size=2,
            coverage_penalty=0.5,
        )


# --- Translator: phrases as text -----------------------------------------------------------------


@pytest.mark.parametrize("beam_size", [1, 4])
def test_translator_outputs_contain_every_phrase(beam_size: int) -> None:
    translator = tiny_translator(seed=1, beam_size=beam_size)
    constraints = [["big dog", "the"], [], ["cat runs"], ["fast", "a small"]]
    plain = translator.translate(SOURCES)
    constrained = translator.translate(SOURCES, constraints=constraints)
    for got, phrases in zip(constrained, constraints, strict=True):
        words = f" {got.text} "
        assert all(f" {p} " in words for p in phrases), (got.text, phrases)
    assert constrained[1].text == plain[1].text  # no phrases: the plain result
    streamed = list(translator.translate_stream(SOURCES, chunk_size=3, constraints=constraints))
    assert [t.text for t in streamed] == [t.text for t in constrained]


@pytest.mark.parametrize(
    ("constraints", "overrides", "message"),
    [
        ([["big"]], {}, "1 constraint lists for 4 sources: give one list of phrases per source"),
        (
            [["  "], [], [], []],
            {},
            "constraint '  ' for source 'la casa es grande' tokenizes to nothing",
        ),
        (
            [[], ["big zebra"], [], []],
            {},
            r"constraint 'big zebra' for source 'un perro': \['zebra'\] not in the target",
        ),
        ([[], ["</s>"], [], []], {}, r"\['</s>'\] not in the target vocabulary \(or special\)"),
        ([["big"], [], [], []], {"sample": True}, "constraints need beam search, not sampling"),
    ],
)
def test_translator_constraint_errors(
    constraints: list[list[str]], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        tiny_translator().translate(SOURCES, constraints=constraints, **overrides)


def test_translate_stream_with_more_constraint_lists_than_sources() -> None:
    stream = tiny_translator().translate_stream(SOURCES[:2], constraints=[[], [], ["big"]])
    with pytest.raises(InputError, match="more constraint lists than sources"):
        list(stream)
