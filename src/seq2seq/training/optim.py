"""Optimizers and learning-rate schedules, built from plain arguments.

The schedule is stepped once per update and, for ``plateau``, told about each validation. Its
whole state is two numbers, so resuming restores it exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seq2seq.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW, RMSprop (the Keras seed's choice) or SGD over the model's parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    makers = {
        "adam": lambda: torch.optim.Adam(
            params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay
        ),
        "adamw": lambda: torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay
        ),
        "rmsprop": lambda: torch.optim.RMSprop(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        ),
        "sgd": lambda: torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        ),
    }
    return makers[cfg.optimizer]()


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up from ``1/warmup`` to 1 over the first ``warmup_steps`` updates."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def noam_factor(step: int, warmup_steps: int) -> float:
    """Vaswani et al. (2017), normalised to peak at 1: linear warm-up, then ``1/sqrt(step)``."""
    n = step + 1
    if warmup_steps <= 0:
        return 1.0 / math.sqrt(n)
    return min(n / warmup_steps, math.sqrt(warmup_steps / n))


class LrSchedule:
    """Sets the learning rate of every parameter group before each update.

    ``constant``: ``lr`` (after optional linear warm-up). ``noam``: ``lr * noam_factor``.
    ``plateau``: ``lr`` multiplied by ``factor`` after ``patience`` validations without
    improvement, never below ``min_lr``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: str,
        lr: float,
        warmup_steps: int,
        factor: float = 0.5,
        patience: int = 2,
        min_lr: float = 0.0,
    ) -> None:
        self.optimizer, self.kind, self.warmup_steps = optimizer, kind, warmup_steps
        self.factor, self.patience, self.min_lr = factor, patience, min_lr
        self.base_lr = lr
        self.bad_validations = 0

    def lr_at(self, step: int) -> float:
        shape = noam_factor if self.kind == "noam" else warmup_factor
        return max(self.base_lr * shape(step, self.warmup_steps), self.min_lr)

    def step(self, step: int) -> float:
        """Applies the learning rate for update number ``step`` (0-based) and returns it."""
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def on_validation(self, improved: bool) -> None:
        if self.kind != "plateau":
            return
        self.bad_validations = 0 if improved else self.bad_validations + 1
        if self.bad_validations > self.patience:
            self.base_lr = max(self.base_lr * self.factor, self.min_lr)
            self.bad_validations = 0

    def state_dict(self) -> dict[str, float | int]:
        return {"base_lr": self.base_lr, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.base_lr = float(state["base_lr"])
        self.bad_validations = int(state["bad_validations"])


def build_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> LrSchedule:
    return LrSchedule(
        optimizer,
        cfg.schedule,
        cfg.lr,
        cfg.warmup_steps,
        cfg.plateau_factor,
        cfg.plateau_patience,
        cfg.min_lr,
    )
