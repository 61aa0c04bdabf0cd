"""``log.tensorboard``: the config key, the missing-package error, and scalar tags."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seq2seq.config import Config, LogConfig, config_to_dict, load_config
from seq2seq.errors import ConfigError
from seq2seq.training.tensorboard_log import TensorBoardLog, open_log, require_tensorboard
from seq2seq.training.trainer import train

MakeConfig = Callable[..., Config]
MISSING = (
    "log.tensorboard: true needs the tensorboard package: pip install 'seq2seq-kit[tensorboard]'"
)


class RecordingWriter:
    """Stands in for ``SummaryWriter``: remembers ``add_scalar`` calls."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))


def test_off_by_default_and_old_configs_still_load(toy_config: MakeConfig) -> None:
    raw = config_to_dict(toy_config())
    del raw["log"]
    assert load_config(raw).log == LogConfig(tensorboard=False)
    assert load_config(raw, ["log.tensorboard=true"]).log.tensorboard


def test_unknown_log_key_lists_the_allowed_ones(toy_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match=r"log\.wandb: unknown key; allowed here: tensorboard"):
        load_config(config_to_dict(toy_config()), ["log.wandb=true"])


def test_scalars_are_tagged_kind_slash_key() -> None:
    writer = RecordingWriter()
    log = TensorBoardLog(writer, None, None, None)  # type: ignore[arg-type]
    log.scalars({"kind": "valid", "step": 20, "loss": 1.5, "bleu": 3, "note": "text"})
    assert writer.scalars == [("valid/loss", 1.5, 20), ("valid/bleu", 3, 20)]


def test_off_means_no_writer(tmp_path: Path) -> None:
    assert open_log(LogConfig(), tmp_path, None, None, [], 0) is None  # type: ignore[arg-type]
    assert not (tmp_path / "tensorboard").exists()


@pytest.fixture
def no_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes ``import tensorboard`` fail, as on a machine without the package."""
    monkeypatch.setitem(sys.modules, "tensorboard", None)


@pytest.mark.usefixtures("no_tensorboard")
def test_missing_package_is_a_one_line_error_naming_the_key() -> None:
    require_tensorboard(LogConfig(tensorboard=False))  # off: nothing to check
    with pytest.raises(ConfigError) as err:
        require_tensorboard(LogConfig(tensorboard=True))
    assert str(err.value).startswith(MISSING)
    assert "\n" not in str(err.value)


@pytest.mark.usefixtures("no_tensorboard")
def test_train_fails_before_writing_anything(toy_config: MakeConfig, tmp_path: Path) -> None:
    config: Any = toy_config(log={"tensorboard": True})
    with pytest.raises(ConfigError, match="needs the tensorboard package"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # a retry after installing starts cleanly
