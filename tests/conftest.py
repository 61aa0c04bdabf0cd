"""Shared test setup: an isolated corpus cache, fixed seeds, few threads, small configs.

Every test session gets its own ``SEQ2SEQ_CACHE`` so generated toy corpora never land in the
user's cache (and subprocesses started by the tests inherit it). Each test starts from the
same torch seed, and torch uses a single CPU thread (the brief allows up to two) so the tiny
models run fast and predictably on small, shared CI machines.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from seq2seq.config import Config, ModelConfig, load_config
from seq2seq.errors import ConfigError

SEED = 1234
MAX_THREADS = 1  # at most 2 (see few_threads)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Points ``SEQ2SEQ_CACHE`` at a per-session temporary directory."""
    cache = tmp_path_factory.mktemp("seq2seq-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQ2SEQ_CACHE", str(cache))
        yield cache


@pytest.fixture(autouse=True, scope="session")
def few_threads() -> Iterator[None]:
    """Caps torch's CPU threads for the whole session (module fixtures that train included).

    One thread: the models here are tiny, and on a busy two-core machine a second intra-op
    thread mostly spin-waits for a core, which made the model tests ~30x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, MAX_THREADS))
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def seeded_torch() -> None:
    """Every test starts from the same torch seed and thread cap (a test may change either)."""
    torch.set_num_threads(min(torch.get_num_threads(), MAX_THREADS))
    torch.manual_seed(SEED)


@pytest.fixture(autouse=True)
def restore_library_logging() -> Iterator[None]:
    """Undoes the CLI's logging setup (handlers, level, propagation) after each test, so a test
    that calls ``seq2seq.cli.main`` cannot hide log records from a later test's ``caplog``."""
    logger = logging.getLogger("seq2seq")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[2]
    logger.setLevel(saved[1])


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` merged in, nested mappings merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


SMALL_MODEL: dict[str, Any] = {
    "encoder": {"type": "lstm", "layers": 1, "hidden_size": 16, "embedding_size": 8},
    "decoder": {"type": "lstm", "layers": 1, "hidden_size": 16, "embedding_size": 8},
    "attention": "luong_general",
    "bridge": "linear",
}


@pytest.fixture(scope="session")
def small_model_config() -> Callable[..., ModelConfig]:
    """Factory: ``small_model_config(attention="bahdanau", decoder={"type": "gru"})``.

    Starts from a one-layer LSTM pair with hidden size 16 and embeddings of 8; keyword
    arguments are merged into the ``model`` section before validation.
    """

    def make(**changes: Any) -> ModelConfig:
        return ModelConfig.model_validate(deep_update(SMALL_MODEL, changes))

    return make


TOY_TRAINING: dict[str, Any] = {
    "data": {
        "corpus": "toy-reverse",
        "toy": {
            "num_train": 200,
            "num_valid": 20,
            "num_test": 20,
            "min_len": 2,
            "max_len": 6,
            "num_symbols": 8,
            "seed": 3,
        },
        "tokenizer": {"kind": "word", "joint": True},
    },
    "model": SMALL_MODEL,
    "train": {
        "optimizer": "adam",
        "lr": 0.01,
        "batch_size": 16,
        "batch_tokens": None,
        "max_steps": 20,
        "valid_every": 10,
        "log_every": 5,
        "valid_max_sentences": 20,
        "progress": False,
    },
    "search": {"beam_size": 1, "max_len_ratio": 1.0, "max_len_extra": 3},
}


@pytest.fixture(scope="session")
def toy_config() -> Callable[..., Config]:
    """Factory for a tiny, fast training config on the toy reversal task.

    ``toy_config(train={"max_steps": 8})`` merges the given sections into the defaults above.
    """

    def make(**changes: Any) -> Config:
        return load_config(deep_update(TOY_TRAINING, changes))

    return make


@pytest.fixture(scope="session")
def model_config_errors() -> Callable[[dict[str, Any]], str]:
    """Factory: the ``ConfigError`` message for a toy config with this ``model`` section."""

    def errors(model: dict[str, Any]) -> str:
        raw = {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 1}, "model": model}
        with pytest.raises(ConfigError) as info:
            load_config(raw)
        return str(info.value)

    return errors
