"""Output directories and settings that used to crash ``train``, ``demo`` and ``plot curves``.

A file where a model directory should go, a seed torch or sentencepiece cannot take, and a
damaged ``metrics.jsonl`` must each end as one ``seq2seq: error:`` line and exit code 2, before
any training starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import assert_user_error, run_cli, write_config

from seq2seq import Config
from seq2seq.config import config_to_dict

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]


@pytest.fixture
def config_path(toy_config: MakeConfig, tmp_path: Path) -> Path:
    """A tiny toy training config written as YAML."""
    raw = config_to_dict(toy_config(train={"max_steps": 6, "valid_every": 3}))
    return write_config(tmp_path / "toy.yaml", raw)


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    """A plain file where users type an output directory by mistake."""
    path = tmp_path / "afile"
    path.write_text("not a directory\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("under", ["", "sub"], ids=["file", "under-a-file"])
def test_train_into_a_file_names_the_file(
    capsys: pytest.CaptureFixture[str], config_path: Path, afile: Path, under: str
) -> None:
    target = afile / under if under else afile
    lines = assert_user_error(
        capsys,
        ["train", str(config_path), "-o", str(target)],
        f"{target}: {afile} is a file, not a directory; choose a new output directory",
    )
    assert len(lines) == 1
    assert afile.read_text(encoding="utf-8") == "not a directory\n"


def test_demo_into_a_file_names_the_file_before_training(
    capsys: pytest.CaptureFixture[str], afile: Path
) -> None:
    argv = ["demo", "--config", "toy/reverse-lstm", "--minutes", "0.01", "-o", str(afile)]
    lines = assert_user_error(capsys, argv, f"{afile}: {afile} is a file, not a directory")
    assert len(lines) == 1


def test_average_into_a_file_still_names_the_file(
    capsys: pytest.CaptureFixture[str], afile: Path, tmp_path: Path
) -> None:
    argv = ["average", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(afile / "sub")]
    assert_user_error(capsys, argv, f"{afile / 'sub'}: {afile} is a file, not a directory")


@pytest.mark.parametrize("seed", [-1, 2**32, 99999999999999999999999])
def test_train_seed_out_of_range_is_a_config_error(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path, seed: int
) -> None:
    out = tmp_path / "run"
    argv = ["train", str(config_path), "-o", str(out), f"train.seed={seed}"]
    lines = assert_user_error(capsys, argv, "train.seed", str(seed))
    assert len(lines) == 1
    assert not out.exists()


def test_train_accepts_the_largest_seed_with_a_sentencepiece_tokenizer(
    toy_config: MakeConfig, tmp_path: Path
) -> None:
    """2**32 - 1 reaches both torch.manual_seed and sentencepiece's seed setter (uint32)."""
    raw = config_to_dict(
        toy_config(
            data={"tokenizer": {"kind": "sentencepiece", "model_type": "bpe", "vocab_size": 24}},
            train={"seed": 2**32 - 1, "max_steps": 2, "valid_every": 2},
        )
    )
    config_path = write_config(tmp_path / "bpe.yaml", raw)
    out = tmp_path / "run"
    assert run_cli(["train", str(config_path), "-o", str(out)]) == 0
    assert (out / "config.yaml").is_file()


def test_plot_curves_names_the_line_that_is_not_utf8(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    record = json.dumps({"kind": "train", "step": 1, "loss": 1.0}).encode()
    (run / "metrics.jsonl").write_bytes(record + b"\n\xff\xfe\n")
    out = tmp_path / "curves.png"
    argv = ["plot", "curves", str(run), "-o", str(out)]
    lines = assert_user_error(capsys, argv, f"{run / 'metrics.jsonl'}:2: not valid UTF-8")
    assert len(lines) == 1
    assert not out.exists()
