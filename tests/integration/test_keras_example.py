"""``examples/keras_style.py``, the Keras LSTM seq2seq example, must learn the reversal task.

It runs in-process on the session's single thread (about 30 s), then its saved model goes
through ``seq2seq translate`` like any model directory.
"""

from __future__ import annotations

import io
import runpy
from pathlib import Path

import pytest

from seq2seq.cli import main

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "keras_style.py"
MIN_SEQUENCE_ACCURACY = 0.75  # reaches ~0.89; a model that has not learned reversal gets ~0


def test_keras_example_learns_reversal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = runpy.run_path(str(EXAMPLE), run_name="keras_style")
    scores = example["main"](tmp_path / "saved")
    printed = capsys.readouterr().out
    assert scores["exact_match"] >= MIN_SEQUENCE_ACCURACY, printed
    assert scores["accuracy"] >= 0.9
    assert "Total params: " in printed  # model.summary()
    assert "Epoch 15/15 - loss: " in printed and "val_accuracy: " in printed  # the history
    assert f"saved to {tmp_path / 'saved'}" in printed

    monkeypatch.setattr("sys.stdin", io.StringIO("1 2 3\n7 0 5 5\n"))
    assert main(["translate", str(tmp_path / "saved"), "--beam", "1"]) == 0
    outputs = capsys.readouterr().out.splitlines()
    assert len(outputs) == 2 and all(set(line.split()) <= set("0123456789") for line in outputs)
