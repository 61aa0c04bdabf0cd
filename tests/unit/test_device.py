"""Device and precision choice: what ``auto`` picks, and the errors and warnings a user sees."""

from __future__ import annotations

import logging

import pytest
import torch

from seq2seq import device as dev
from seq2seq.errors import ConfigError


def test_auto_device_is_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"train.device: 'cuda': no CUDA device.*auto or cpu"):
        dev.resolve_device("cuda")


@pytest.mark.parametrize(("fast", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_uses_bf16_only_where_it_is_fast(
    monkeypatch: pytest.MonkeyPatch, fast: bool, expected: str
) -> None:
    monkeypatch.setattr(dev, "fast_bf16", lambda device: fast)
    assert dev.resolve_precision("auto", torch.device("cpu")) == expected
    assert dev.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_explicit_bf16_on_slow_hardware_is_kept_but_warned_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(dev, "fast_bf16", lambda device: False)
    monkeypatch.setattr(dev, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="seq2seq.device"):
        for _ in range(3):
            assert dev.resolve_precision("bf16", torch.device("cpu"), key="x.precision") == "bf16"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "x.precision" in warnings[0] and "slower" in warnings[0]


def test_autocast_is_enabled_only_for_bf16() -> None:
    cpu = torch.device("cpu")
    with dev.autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with dev.autocast(cpu, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
