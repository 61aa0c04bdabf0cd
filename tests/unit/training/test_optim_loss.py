"""The training objective, its token statistics, optimizers and learning-rate schedules."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.config import TrainConfig
from seq2seq.data.batching import Batch, collate
from seq2seq.models import build_model
from seq2seq.training.loss import TokenStats, sequence_loss
from seq2seq.training.optim import (
    LrSchedule,
    build_optimizer,
    build_schedule,
    noam_factor,
    warmup_factor,
)
from seq2seq.training.trainer import batch_loss

PAD, BOS, EOS = 0, 2, 3
VOCAB = 9


def random_logits(seed: int, tokens: int = 12) -> tuple[Tensor, Tensor]:
    """``logits [tokens, V]`` and ``gold [tokens]`` (what the trainer passes: real positions)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(tokens, VOCAB, generator=gen) * 3, torch.randint(
        4, VOCAB, (tokens,), generator=gen
    )


# --- loss and token statistics ---------------------------------------------------------------


def test_unsmoothed_loss_is_cross_entropy() -> None:
    logits, gold = random_logits(0)
    loss, stats = sequence_loss(logits, gold)
    assert stats.tokens == len(gold)
    torch.testing.assert_close(loss / stats.tokens, F.cross_entropy(logits, gold))
    assert stats.loss == pytest.approx(float(F.cross_entropy(logits, gold)), rel=1e-5)
    assert stats.nll_sum == pytest.approx(float(loss), rel=1e-6)
    assert stats.perplexity == pytest.approx(math.exp(stats.loss), rel=1e-5)


def test_label_smoothing_mixes_in_the_uniform_distribution() -> None:
    eps = 0.1
    logits, gold = random_logits(1)
    loss, stats = sequence_loss(logits, gold, label_smoothing=eps)
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, gold[:, None]).squeeze(-1)
    uniform = -log_probs.mean(-1)
    torch.testing.assert_close(loss, ((1 - eps) * nll + eps * uniform).sum())
    torch.testing.assert_close(
        loss, F.cross_entropy(logits, gold, label_smoothing=eps, reduction="sum")
    )
    # Perplexity and the nll stay the unsmoothed ones.
    assert stats.nll_sum == pytest.approx(float(nll.sum()), rel=1e-5)
    assert stats.loss_sum == pytest.approx(float(loss), rel=1e-6)
    assert stats.loss_sum != pytest.approx(stats.nll_sum)
    assert stats.perplexity == pytest.approx(math.exp(float(nll.mean())), rel=1e-5)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_loss_gradient_equals_autograd_through_cross_entropy(eps: float) -> None:
    logits, gold = random_logits(2, tokens=20)
    ours = logits.clone().requires_grad_()
    loss, stats = sequence_loss(ours, gold, label_smoothing=eps)
    (loss / stats.tokens * 3.0).backward()
    reference = logits.clone().requires_grad_()
    expected = F.cross_entropy(reference, gold, label_smoothing=eps, reduction="sum")
    (expected / len(gold) * 3.0).backward()
    assert ours.grad is not None and reference.grad is not None
    torch.testing.assert_close(ours.grad, reference.grad)


def test_accuracy_counts_arg_max_hits() -> None:
    gold = torch.tensor([3, 4, 5, 6, 7])
    predicted = torch.tensor([3, 1, 5, 6, 2])
    _, stats = sequence_loss(F.one_hot(predicted, VOCAB).float() * 10, gold)
    assert (stats.tokens, stats.correct) == (5, 3)
    assert stats.accuracy == pytest.approx(0.6)


def toy_batch(extra_pad_columns: int = 0) -> Batch:
    examples = [([4, 5, 6, 7], [7, 6, 5, 4]), ([8], [8]), ([5, 6], [6, 5])]
    batch = collate(examples, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    if not extra_pad_columns:
        return batch

    def pad(t: Tensor) -> Tensor:
        return torch.cat([t, torch.full((t.size(0), extra_pad_columns), PAD)], dim=1)

    return Batch(pad(batch.src), batch.src_lengths, pad(batch.tgt_in), pad(batch.tgt_out), PAD)


def test_batch_loss_is_cross_entropy_mean_over_real_tokens(small_model_config: Any) -> None:
    model = build_model(small_model_config(), VOCAB, VOCAB, PAD).eval()
    batch = toy_batch()
    loss, stats = batch_loss(model, batch)
    assert stats.tokens == batch.num_tgt_tokens == 4 + 1 + 2 + 3  # targets + EOS each
    with torch.no_grad():
        logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    want = F.cross_entropy(logits.reshape(-1, VOCAB), batch.tgt_out.reshape(-1), ignore_index=PAD)
    torch.testing.assert_close(loss / stats.tokens, want)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_extra_padding_columns_change_nothing(
    small_model_config: Any, label_smoothing: float
) -> None:
    model = build_model(small_model_config(), VOCAB, VOCAB, PAD).eval()
    _, stats = batch_loss(model, toy_batch(), label_smoothing)
    _, padded = batch_loss(model, toy_batch(extra_pad_columns=3), label_smoothing)
    assert (padded.tokens, padded.correct) == (stats.tokens, stats.correct)
    assert padded.loss_sum == pytest.approx(stats.loss_sum, rel=1e-5)
    assert padded.nll_sum == pytest.approx(stats.nll_sum, rel=1e-5)


def test_token_stats_add_weighs_batches_by_tokens() -> None:
    total = TokenStats()
    total.add(TokenStats(loss_sum=10.0, nll_sum=8.0, correct=3, tokens=4))
    total.add(TokenStats(loss_sum=2.0, nll_sum=2.0, correct=6, tokens=6))
    assert (total.tokens, total.correct) == (10, 9)
    assert total.loss == pytest.approx(1.2)
    assert total.accuracy == pytest.approx(0.9)
    assert total.perplexity == pytest.approx(math.exp(1.0))


def test_empty_token_stats_do_not_divide_by_zero() -> None:
    stats = TokenStats()
    assert stats.loss == 0.0
    assert stats.accuracy == 0.0
    assert stats.perplexity == pytest.approx(1.0)


# --- schedules -------------------------------------------------------------------------------


@pytest.mark.parametrize("warmup", [1, 4, 100])
def test_noam_factor_peaks_at_one_at_warmup_then_decays_as_inverse_sqrt(warmup: int) -> None:
    factors = [noam_factor(step, warmup) for step in range(10 * warmup)]
    assert max(factors) == pytest.approx(1.0)
    assert factors.index(max(factors)) == warmup - 1  # step is 0-based: update `warmup`
    for step in range(warmup - 1):
        assert factors[step] == pytest.approx((step + 1) / warmup)
        assert factors[step] < factors[step + 1]
    for n in (warmup, 4 * warmup, 9 * warmup):
        assert noam_factor(n - 1, warmup) == pytest.approx(1 / math.sqrt(n / warmup))
    assert noam_factor(4 * warmup - 1, warmup) == pytest.approx(0.5)


def test_noam_factor_without_warmup_is_inverse_sqrt() -> None:
    assert noam_factor(0, 0) == pytest.approx(1.0)
    assert noam_factor(3, 0) == pytest.approx(0.5)


def test_warmup_factor_is_linear_then_flat() -> None:
    assert [warmup_factor(s, 4) for s in range(6)] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    )
    assert warmup_factor(0, 0) == 1.0
    assert warmup_factor(1000, 0) == 1.0


def one_param_optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def test_schedule_step_sets_the_learning_rate_of_every_group() -> None:
    optimizer = torch.optim.SGD(
        [{"params": [nn.Parameter(torch.zeros(1))]}, {"params": [nn.Parameter(torch.zeros(1))]}],
        lr=1.0,
    )
    schedule = LrSchedule(optimizer, "noam", lr=0.5, warmup_steps=4)
    assert schedule.step(1) == pytest.approx(0.25)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.25, 0.25])
    assert schedule.step(3) == pytest.approx(0.5)


def test_constant_schedule_warms_up_and_respects_min_lr() -> None:
    schedule = LrSchedule(one_param_optimizer(), "constant", lr=0.1, warmup_steps=10, min_lr=0.05)
    assert schedule.lr_at(0) == pytest.approx(0.05)  # 0.01 from warm-up, floored
    assert schedule.lr_at(9) == pytest.approx(0.1)
    assert schedule.lr_at(10_000) == pytest.approx(0.1)


def test_plateau_reduces_after_patience_validations_without_improvement() -> None:
    schedule = LrSchedule(
        one_param_optimizer(), "plateau", lr=1.0, warmup_steps=0, factor=0.5, patience=2
    )
    for _ in range(2):  # up to `patience` bad validations are tolerated
        schedule.on_validation(improved=False)
        assert schedule.lr_at(100) == 1.0
    schedule.on_validation(improved=False)
    assert schedule.lr_at(100) == 0.5
    # An improvement resets the count.
    schedule.on_validation(improved=False)
    schedule.on_validation(improved=True)
    schedule.on_validation(improved=False)
    schedule.on_validation(improved=False)
    assert schedule.lr_at(100) == 0.5
    schedule.on_validation(improved=False)
    assert schedule.lr_at(100) == 0.25


def test_plateau_never_goes_below_min_lr() -> None:
    schedule = LrSchedule(
        one_param_optimizer(), "plateau", 1.0, 0, factor=0.1, patience=0, min_lr=0.05
    )
    for _ in range(5):
        schedule.on_validation(improved=False)
    assert schedule.lr_at(0) == pytest.approx(0.05)


@pytest.mark.parametrize("kind", ["constant", "noam"])
def test_validations_do_not_change_other_schedules(kind: str) -> None:
    schedule = LrSchedule(one_param_optimizer(), kind, 1.0, 4, patience=0)
    before = [schedule.lr_at(s) for s in range(10)]
    for _ in range(5):
        schedule.on_validation(improved=False)
    assert [schedule.lr_at(s) for s in range(10)] == before


def test_schedule_state_dict_round_trip_continues_identically() -> None:
    def make() -> LrSchedule:
        return LrSchedule(one_param_optimizer(), "plateau", 1.0, 3, factor=0.5, patience=1)

    original = make()
    for improved in (False, False, False):  # one reduction and one bad validation pending
        original.on_validation(improved)
    restored = make()
    restored.load_state_dict(original.state_dict())
    assert restored.state_dict() == original.state_dict()
    for schedule in (original, restored):
        schedule.on_validation(improved=False)  # the pending one triggers the next reduction
    assert restored.lr_at(0) == original.lr_at(0)
    assert [restored.lr_at(s) for s in range(6)] == [original.lr_at(s) for s in range(6)]
    assert original.lr_at(10) == 0.25


def train_config(**changes: Any) -> TrainConfig:
    return TrainConfig.model_validate({"max_steps": 1, **changes})


def test_build_schedule_uses_the_train_section() -> None:
    cfg = train_config(
        schedule="plateau", lr=0.2, warmup_steps=2, plateau_factor=0.1, plateau_patience=0
    )
    schedule = build_schedule(one_param_optimizer(), cfg)
    assert schedule.lr_at(0) == pytest.approx(0.1)
    schedule.on_validation(improved=False)
    assert schedule.lr_at(5) == pytest.approx(0.02)


# --- optimizers ------------------------------------------------------------------------------

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "sgd": torch.optim.SGD,
}


def test_every_optimizer_name_in_the_config_is_covered() -> None:
    choices = TrainConfig.model_fields["optimizer"].annotation.__args__  # type: ignore[union-attr]
    assert set(choices) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_build_optimizer_for_every_name(name: str) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)
    cfg = train_config(optimizer=name, lr=0.05, weight_decay=0.01, momentum=0.5)
    optimizer = build_optimizer(model, cfg)
    assert type(optimizer) is OPTIMIZERS[name]
    [group] = optimizer.param_groups
    assert group["lr"] == 0.05
    assert group["weight_decay"] == 0.01
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.5
    else:
        assert tuple(group["betas"]) == cfg.adam_betas
    # Frozen parameters are left out.
    assert len(group["params"]) == 3
    assert all(p.requires_grad for p in group["params"])
    # One update moves the trainable weights and leaves the frozen one alone.
    frozen_before = model[0].bias.detach().clone()
    weight_before = model[1].weight.detach().clone()
    model(torch.randn(5, 3)).pow(2).sum().backward()
    optimizer.step()
    assert torch.equal(model[0].bias, frozen_before)
    assert not torch.equal(model[1].weight, weight_before)
