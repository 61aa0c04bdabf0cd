"""Reading ``metrics.jsonl`` back: records in order, a half-written last line, damaged lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seq2seq.errors import ModelDirError
from seq2seq.training.checkpoint import append_metrics, read_metrics

TRAIN = {"kind": "train", "step": 5, "loss": 2.5}
VALID = {"kind": "valid", "step": 10, "loss": 2.0, "bleu": 3.0}


def test_reads_what_append_metrics_wrote(tmp_path: Path) -> None:
    append_metrics(tmp_path, TRAIN)
    append_metrics(tmp_path, VALID)
    assert read_metrics(tmp_path) == [TRAIN, VALID]


def test_an_unfinished_last_line_is_skipped(tmp_path: Path) -> None:
    append_metrics(tmp_path, TRAIN)
    with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"kind": "valid", "st')  # a run writing right now
    assert read_metrics(tmp_path) == [TRAIN]


def test_a_complete_last_line_without_newline_is_read(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps(TRAIN), encoding="utf-8")
    assert read_metrics(tmp_path) == [TRAIN]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"kind": "train"}'])
def test_a_damaged_line_is_named(tmp_path: Path, bad: str) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps(TRAIN) + "\n" + bad + "\n\n")
    with pytest.raises(ModelDirError, match=r"metrics.jsonl:2: not a metrics record"):
        read_metrics(tmp_path)


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="no such model directory"):
        read_metrics(tmp_path / "nowhere")
    with pytest.raises(ModelDirError, match=r"metrics\.jsonl: missing"):
        read_metrics(tmp_path)
