"""Sampling: each option changes the drawn outputs the way it claims, reproducibly."""

from __future__ import annotations

import math

import pytest
import torch
from fake_models import BOS, EOS, TableModel
from test_real_model_search import BOS as REAL_BOS
from test_real_model_search import CASES, IDS, MAX_LENGTHS, greedy, make_model, random_batch
from test_real_model_search import EOS as REAL_EOS

from seq2seq.decoding import sample_search
from seq2seq.decoding.sampling import filtered_log_probs

# BOS -> first token: A (2) 0.5, B (3) 0.3, C (4) 0.15, D (5) 0.05; every token -> EOS.
FIRST = [0.0, 0.0, 0.5, 0.3, 0.15, 0.05]
TO_EOS = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
ONE_STEP = TableModel([FIRST, TO_EOS, TO_EOS, TO_EOS, TO_EOS, TO_EOS])


def first_tokens(n: int, **options: object) -> list[int]:
    """The first token of ``n`` samples of one source row."""
    src, lengths = torch.tensor([[1]]), torch.tensor([1])
    (samples,) = sample_search(
        ONE_STEP,
        src,
        lengths,
        bos_id=BOS,
        eos_id=EOS,
        max_lengths=torch.tensor([3]),
        num_samples=n,
        generator=torch.Generator().manual_seed(0),
        **options,
    )
    assert all(h.tokens[1:] == [] and h.finished for h in samples)
    return [h.tokens[0] for h in samples]


def test_samples_follow_the_model_distribution() -> None:
    drawn = first_tokens(4000)
    for token, p in zip((2, 3, 4, 5), FIRST[2:], strict=True):
        share = drawn.count(token) / len(drawn)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / len(drawn)), (token, share)


@pytest.mark.parametrize(
    ("options", "allowed"),
    [
        ({"top_k": 2}, {2, 3}),
        ({"top_p": 0.7}, {2, 3}),  # 0.5 < 0.7: B is needed to reach the mass
        ({"top_p": 0.8}, {2, 3}),  # 0.5 + 0.3 reaches 0.8 exactly: C is not needed
        ({"top_p": 0.81}, {2, 3, 4}),
        ({"top_k": 1}, {2}),
        ({"temperature": 0.0}, {2}),
    ],
)
def test_top_k_top_p_and_temperature_zero_restrict_the_draws(
    options: dict[str, float], allowed: set[int]
) -> None:
    assert set(first_tokens(400, **options)) == allowed


def test_low_temperature_sharpens_and_high_temperature_flattens() -> None:
    cold = first_tokens(2000, temperature=0.5)
    hot = first_tokens(2000, temperature=2.0)
    assert cold.count(2) > 0.6 * 2000 > hot.count(2)
    assert hot.count(5) > cold.count(5)


def test_filtered_distribution_sums_to_one_and_keeps_the_best_token() -> None:
    log_probs = torch.log_softmax(torch.randn(4, 9), dim=-1)
    for options in ({"top_k": 3}, {"top_p": 0.05}, {"top_p": 0.9, "top_k": 5}):
        filtered = filtered_log_probs(
            log_probs, temperature=1.0, **{"top_k": 0, "top_p": 1.0, **options}
        )
        torch.testing.assert_close(filtered.exp().sum(-1), torch.ones(4))
        assert torch.equal(filtered.argmax(-1), log_probs.argmax(-1))


def test_a_temperature_too_small_for_float32_still_draws_the_best_token() -> None:
    # log-probs / 1e-40 overflow to -inf for every token; the best one must survive.
    assert set(first_tokens(50, temperature=1e-40)) == {2}


@pytest.mark.parametrize(("family", "seed"), CASES, ids=IDS)
@pytest.mark.parametrize("options", [{"temperature": 1e-4}, {"top_k": 1}], ids=["cold", "top1"])
def test_near_zero_temperature_and_top_k_1_equal_greedy(
    family: str, seed: int, options: dict[str, float]
) -> None:
    model = make_model(family, seed)
    src, lengths = random_batch(seed)
    want = greedy(model, src, lengths, MAX_LENGTHS)
    got = sample_search(
        model,
        src,
        lengths,
        bos_id=REAL_BOS,
        eos_id=REAL_EOS,
        max_lengths=MAX_LENGTHS,
        num_samples=2,
        generator=torch.Generator().manual_seed(seed),
        **options,
    )
    for row, (expected, samples) in enumerate(zip(want, got, strict=True)):
        for hyp in samples:
            assert hyp.tokens == expected.tokens, row
            assert hyp.log_prob == pytest.approx(expected.log_prob, abs=1e-4)


def test_the_same_seed_gives_the_same_samples_and_another_seed_others() -> None:
    model = make_model("transformer", 0)
    src, lengths = random_batch(0)

    def draw(seed: int) -> list[list[list[int]]]:
        rows = sample_search(
            model,
            src,
            lengths,
            bos_id=REAL_BOS,
            eos_id=REAL_EOS,
            max_lengths=MAX_LENGTHS,
            num_samples=3,
            generator=torch.Generator().manual_seed(seed),
        )
        return [[h.tokens for h in samples] for samples in rows]

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)
