"""Properties of greedy and beam search, checked against small fake models (no golden numbers)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch
from fake_models import BOS, EOS, PAD, MarkovModel, TableModel, score_sequence
from torch import Tensor

from seq2seq.decoding import Hypothesis, beam_search, gnmt_length_penalty, greedy_search
from seq2seq.errors import InputError

Search = Callable[..., list[Hypothesis]]


def random_batch(seed: int, batch: int = 5, max_src_len: int = 6) -> tuple[Tensor, Tensor]:
    """Padded source ids ``[batch, src_len]`` (ids 1..6, PAD after each row's length)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_src_len + 1, (batch,), generator=gen)
    lengths[0] = max_src_len  # at least one full row, the others padded
    src = torch.randint(1, 7, (batch, max_src_len), generator=gen)
    src[torch.arange(max_src_len).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD
    return src, lengths


def run_greedy(
    model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor
) -> list[Hypothesis]:
    return greedy_search(model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths)


def run_beam(
    model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor, **kwargs: float
) -> list[list[Hypothesis]]:
    return beam_search(
        model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths, **kwargs
    )


def best_of_beam(**kwargs: float) -> Search:
    def search(model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor) -> list:
        return [hyps[0] for hyps in run_beam(model, src, lengths, max_lengths, **kwargs)]

    return search


SEARCHES = {"greedy": run_greedy, "beam4": best_of_beam(beam_size=4, length_penalty=0.6)}


def produced_ids(hyp: Hypothesis) -> list[int]:
    """The ids the search produced, EOS included when it finished."""
    return [*hyp.tokens, EOS] if hyp.finished else hyp.tokens


def assert_same_hypothesis(got: Hypothesis, want: Hypothesis) -> None:
    assert got.tokens == want.tokens
    assert got.finished == want.finished
    assert got.token_log_probs == pytest.approx(want.token_log_probs, abs=1e-5)
    assert got.score == pytest.approx(want.score, abs=1e-5)
    if want.attention is None:
        assert got.attention is None
    else:
        assert got.attention is not None
        torch.testing.assert_close(got.attention, want.attention)


def test_gnmt_length_penalty() -> None:
    assert gnmt_length_penalty(7, 0.0) == 1.0
    assert gnmt_length_penalty(1, 1.0) == 1.0
    assert gnmt_length_penalty(7, 0.5) == pytest.approx(math.sqrt(2.0))
    lengths = torch.tensor([1, 7])
    torch.testing.assert_close(gnmt_length_penalty(lengths, 1.0), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy(seed: int, alpha: float) -> None:
    model = MarkovModel(seed=seed)
    src, lengths = random_batch(seed)
    max_lengths = torch.tensor([8, 3, 5, 1, 10])
    greedy = run_greedy(model, src, lengths, max_lengths)
    beam = run_beam(model, src, lengths, max_lengths, beam_size=1, length_penalty=alpha)
    for g, [b] in zip(greedy, beam, strict=True):
        assert b.tokens == g.tokens
        assert b.finished == g.finished
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-5)
        assert b.score == pytest.approx(
            g.log_prob / gnmt_length_penalty(len(g.token_log_probs), alpha), abs=1e-5
        )


@pytest.mark.parametrize("seed", [0, 3])
def test_n_best_sorted_and_distinct(seed: int) -> None:
    model = MarkovModel(seed=seed)
    src, lengths = random_batch(seed)
    max_lengths = torch.full((5,), 6)
    for alpha in (0.0, 1.0):
        results = run_beam(
            model, src, lengths, max_lengths, beam_size=5, n_best=5, length_penalty=alpha
        )
        for hyps in results:
            assert len(hyps) == 5
            scores = [h.score for h in hyps]
            assert scores == sorted(scores, reverse=True)
            assert len({tuple(h.tokens) for h in hyps}) == len(hyps)


def test_invalid_beam_arguments_raise_input_error() -> None:
    model = MarkovModel()
    src, lengths = random_batch(0)
    max_lengths = torch.full((5,), 4)
    with pytest.raises(InputError, match=r"n_best=5.*beam_size=3.*n_best must be"):
        run_beam(model, src, lengths, max_lengths, beam_size=3, n_best=5)
    with pytest.raises(InputError, match="beam_size"):
        run_beam(model, src, lengths, max_lengths, beam_size=0)
    with pytest.raises(InputError, match="max_lengths"):
        run_greedy(model, src, lengths, torch.tensor([4, 4, -1, 4, 4]))
    with pytest.raises(InputError, match="max_lengths"):
        run_greedy(model, src, lengths, torch.tensor([4, 4]))


@pytest.mark.parametrize("name", list(SEARCHES))
def test_batched_equals_one_by_one(name: str) -> None:
    search = SEARCHES[name]
    model = MarkovModel(seed=4)
    src, lengths = random_batch(4, batch=6)
    max_lengths = torch.tensor([9, 2, 5, 7, 1, 4])
    batched = search(model, src, lengths, max_lengths)
    for row, got in enumerate(batched):
        n = int(lengths[row])
        [alone] = search(
            model, src[row : row + 1, :n], lengths[row : row + 1], max_lengths[row : row + 1]
        )
        assert_same_hypothesis(got, alone)


def all_sequences(max_len: int, ordinary: list[int]) -> list[list[int]]:
    """Every produced sequence a search can return: EOS-terminated ones up to ``max_len`` tokens
    and the ones cut at exactly ``max_len`` tokens."""
    finished = [
        [*prefix, EOS] for n in range(max_len) for prefix in itertools.product(ordinary, repeat=n)
    ]
    return finished + [list(seq) for seq in itertools.product(ordinary, repeat=max_len)]


@pytest.mark.parametrize("alpha", [0.0, 0.8])
@pytest.mark.parametrize("seed", [0, 5])
def test_exhaustive_beam_finds_the_best_sequence(seed: int, alpha: float) -> None:
    model = MarkovModel(tgt_vocab=4, seed=seed)  # ordinary tokens 2 and 3
    src = torch.tensor([[3, 1, 4, 5]])
    lengths, max_len = torch.tensor([4]), 3
    sequences = all_sequences(max_len, [2, 3])  # 7 finished + 8 cut = 15
    brute = []
    for seq in sequences:
        log_probs, _ = score_sequence(model, src[0], seq)
        brute.append((sum(log_probs) / gnmt_length_penalty(len(seq), alpha), seq))
    brute.sort(reverse=True)

    [hyps] = run_beam(
        model, src, lengths, torch.tensor([max_len]), beam_size=16, n_best=16, length_penalty=alpha
    )
    assert len(hyps) == len(sequences)  # every sequence survives; empty slots are dropped
    produced = [produced_ids(h) for h in hyps]
    assert sorted(map(tuple, produced)) == sorted(map(tuple, sequences))
    assert produced[0] == brute[0][1]
    assert [h.score for h in hyps] == pytest.approx([score for score, _ in brute], abs=1e-5)
    [greedy] = run_greedy(model, src, lengths, torch.tensor([max_len]))
    assert (
        hyps[0].score
        >= greedy.score / gnmt_length_penalty(len(greedy.token_log_probs), alpha) - 1e-6
    )


@pytest.mark.parametrize("name", list(SEARCHES))
def test_max_lengths_and_eos(name: str) -> None:
    search = SEARCHES[name]
    model = MarkovModel(seed=6)
    src, lengths = random_batch(6)
    max_lengths = torch.tensor([0, 1, 2, 4, 12])
    seen_finished = False
    for hyp, max_len in zip(
        search(model, src, lengths, max_lengths), max_lengths.tolist(), strict=True
    ):
        produced = len(hyp.token_log_probs)
        assert produced <= max_len
        assert BOS not in hyp.tokens and EOS not in hyp.tokens
        assert len(hyp.tokens) == produced - int(hyp.finished)
        if not hyp.finished:
            assert produced == max_len
        seen_finished |= hyp.finished
    assert seen_finished  # the EOS ramp ends the longest-allowed row


@pytest.mark.parametrize("name", list(SEARCHES))
def test_finished_flag_on_hand_made_chains(name: str) -> None:
    search = SEARCHES[name]
    src, lengths, max_lengths = torch.tensor([[2, 3]]), torch.tensor([2]), torch.tensor([5])
    uniform = [0.0, 0.25, 0.25, 0.25, 0.25]
    always_eos = TableModel([[0.0, 0.97, 0.01, 0.01, 0.01], *[uniform] * 4])
    [hyp] = search(always_eos, src, lengths, max_lengths)
    assert hyp.tokens == [] and hyp.finished and len(hyp.token_log_probs) == 1
    never_eos = TableModel([[0.0, 1e-9, 0.5, 0.3, 0.2 - 1e-9]] * 5)
    [hyp] = search(never_eos, src, lengths, max_lengths)
    assert not hyp.finished and len(hyp.tokens) == 5 and hyp.attention is None


def test_attention_shape_rows_sum_to_one_and_follow_back_pointers() -> None:
    model = MarkovModel(seed=7)
    src, lengths = random_batch(7)
    max_lengths = torch.full((5,), 7)
    results = run_beam(model, src, lengths, max_lengths, beam_size=4, n_best=4, length_penalty=0.5)
    results.append(run_greedy(model, src, lengths, max_lengths))
    for row, hyps in enumerate(results[:-1]):
        n = int(lengths[row])
        for hyp in [*hyps, results[-1][row]]:
            assert hyp.attention is not None
            assert hyp.attention.shape == (len(hyp.token_log_probs), n)
            torch.testing.assert_close(hyp.attention.sum(-1), torch.ones(len(hyp.token_log_probs)))
            # Re-scoring the chosen tokens reproduces both the log-probs and the attention, so
            # histories and the decoder state were reordered along the right back-pointers.
            log_probs, attention = score_sequence(model, src[row, :n], produced_ids(hyp))
            assert hyp.token_log_probs == pytest.approx(log_probs, abs=1e-5)
            torch.testing.assert_close(hyp.attention, attention)


def test_length_penalty_prefers_longer_hypotheses() -> None:
    # BOS -> EOS: 0.5 gives [] with log 0.5; BOS -> a -> EOS: 0.49 * 0.97 gives [a], slightly
    # less probable but longer: alpha=1 divides its log-prob by lp(2) = 7/6 and it wins.
    rest = [0.0, 0.4, 0.3, 0.3]
    model = TableModel([[0.0, 0.5, 0.49, 0.01], rest, [0.0, 0.97, 0.02, 0.01], rest])
    src, lengths, max_lengths = torch.tensor([[2]]), torch.tensor([1]), torch.tensor([3])
    [[plain]] = run_beam(model, src, lengths, max_lengths, beam_size=3, length_penalty=0.0)
    [[penalised]] = run_beam(model, src, lengths, max_lengths, beam_size=3, length_penalty=1.0)
    assert plain.tokens == [] and plain.finished
    assert penalised.tokens == [2] and penalised.finished
    assert penalised.log_prob < plain.log_prob


@pytest.mark.parametrize("name", list(SEARCHES))
def test_log_prob_is_sum_of_token_log_probs(name: str) -> None:
    model = MarkovModel(seed=8)
    src, lengths = random_batch(8)
    for hyp in SEARCHES[name](model, src, lengths, torch.full((5,), 6)):
        assert hyp.log_prob == pytest.approx(sum(hyp.token_log_probs))
        assert all(lp <= 0.0 for lp in hyp.token_log_probs)
