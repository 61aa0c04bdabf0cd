"""``seq2seq average``: the mean of checkpoints of one model, and every refusal."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from seq2seq.averaging import average_checkpoints
from seq2seq.cli import main
from seq2seq.config import Config
from seq2seq.decoding.translator import Translator
from seq2seq.errors import InputError, ModelDirError
from seq2seq.model_dir import load_model_dir
from seq2seq.training.trainer import train

MakeConfig = Callable[..., Config]
SOURCES = ["1 2 3", "4 5 6 7", "2 2 8"]


@pytest.fixture(scope="module")
def runs(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short runs of one config with different seeds (one vocabulary: same toy data)."""
    root = tmp_path_factory.mktemp("average")
    dirs = []
    for seed in (1, 2):
        train(
            toy_config(train={"seed": seed, "max_steps": 30, "valid_every": 30}), root / f"s{seed}"
        )
        dirs.append(root / f"s{seed}")
    return dirs


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_model_dir(model_dir)[1].state_dict()


def test_average_is_the_elementwise_mean(runs: list[Path], tmp_path: Path) -> None:
    out = average_checkpoints(runs, tmp_path / "avg")
    a, b, mean = weights(runs[0]), weights(runs[1]), weights(out)
    for name in mean:
        torch.testing.assert_close(mean[name], (a[name] + b[name]) / 2)
    assert (out / "averaged_from.json").is_file()


def test_a_model_averaged_with_itself_translates_the_same(runs: list[Path], tmp_path: Path) -> None:
    out = average_checkpoints([runs[0], runs[0] / "model.safetensors"], tmp_path / "avg")
    for name, tensor in weights(out).items():
        torch.testing.assert_close(tensor, weights(runs[0])[name])
    got = [t.text for t in Translator.load(out).translate(SOURCES)]
    assert got == [t.text for t in Translator.load(runs[0]).translate(SOURCES)]


def test_cli_average_writes_a_model_translate_can_use(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "avg"
    assert main(["average", str(runs[0]), str(runs[1] / "last.safetensors"), "-o", str(out)]) == 0
    assert "mean of 2 checkpoints" in capsys.readouterr().out
    assert len(Translator.load(out).translate(SOURCES)) == 3


def test_one_checkpoint_is_an_input_error(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least two checkpoints, got 1"):
        average_checkpoints([runs[0]], tmp_path / "avg")


def test_existing_output_is_refused(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["average", str(runs[0]), str(runs[1]), "-o", str(runs[1])]) == 2
    assert "already holds a model" in capsys.readouterr().err


def test_another_vocabulary_is_refused(runs: list[Path], tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs[1], other)
    vocab = other / "src.vocab"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "extra\n", encoding="utf-8")
    with pytest.raises(ModelDirError, match=r"vocabulary \(src.vocab\) differs"):
        average_checkpoints([runs[0], other], tmp_path / "avg")


def test_another_architecture_is_refused(
    toy_config: MakeConfig, runs: list[Path], tmp_path: Path
) -> None:
    gru = tmp_path / "gru"
    train(toy_config(model={"decoder": {"type": "gru"}}, train={"max_steps": 2}), gru)
    with pytest.raises(ModelDirError, match="model section differs"):
        average_checkpoints([runs[0], gru], tmp_path / "avg")


def test_a_path_that_is_no_checkpoint_is_named(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match=r"not a model directory or a \.safetensors file"):
        average_checkpoints([runs[0], tmp_path / "nothing.txt"], tmp_path / "avg")
