"""Figures as matplotlib objects: panels, lines, legends, tick labels and sizes (no pixels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from matplotlib.figure import Figure

from seq2seq.errors import InputError, ModelDirError
from seq2seq.plots import (
    PANELS,
    attention_figure,
    attention_figure_size,
    attention_font_size,
    curves_figure,
    load_runs,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def records(lr: float = 0.01, bleu: bool = True) -> list[dict[str, Any]]:
    train = [
        {"kind": "train", "step": s, "epoch": 0, "loss": 3.0 / s, "ppl": 9.0 / s, "acc": s / 20}
        | {"lr": lr, "tokens_per_s": 1000.0, "elapsed_s": float(s)}
        for s in (5, 10, 15, 20)
    ]
    scores = {"bleu": 1.0, "exact": 0.1} if bleu else {}
    valid = [
        {"kind": "valid", "step": s, "loss": 2.0 / s, "ppl": 7.0 / s, "acc": s / 25, **scores}
        for s in (10, 20)
    ]
    return train + valid


def write_run(directory: Path, lines: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in lines)
    (directory / "metrics.jsonl").write_text(text, encoding="utf-8")
    return directory


def axes_by_title(figure: Figure) -> dict[str, Any]:
    return {ax.get_title(): ax for ax in figure.axes}


def test_curves_have_one_panel_per_metric_and_a_line_per_run_and_kind() -> None:
    figure = curves_figure({"lstm": records(), "gru": records(lr=0.002)})
    axes = axes_by_title(figure)
    assert list(axes) == [p.title for p in PANELS]
    loss = axes["loss"]
    labels = [line.get_label() for line in loss.lines]
    assert labels == ["lstm (train)", "lstm (valid)", "gru (train)", "gru (valid)"]
    assert [t.get_text() for t in loss.get_legend().get_texts()] == labels
    assert list(loss.lines[0].get_xdata()) == [5, 10, 15, 20]
    assert list(loss.lines[1].get_ydata()) == [0.2, 0.1]
    assert loss.lines[0].get_color() != loss.lines[2].get_color()  # one colour per run
    assert axes["perplexity"].get_yscale() == "log"
    assert [line.get_label() for line in axes["BLEU (greedy, valid)"].lines] == [
        "lstm (valid)",
        "gru (valid)",
    ]
    assert list(axes["learning rate"].lines[1].get_ydata()) == [0.002] * 4
    assert all(ax.get_xlabel() == "step" for ax in figure.axes)


def test_curves_keep_the_latest_record_of_a_repeated_step() -> None:
    resumed = [*records(), {"kind": "valid", "step": 20, "loss": 0.05, "ppl": 1.1, "acc": 0.9}]
    loss = axes_by_title(curves_figure({"run": resumed}))["loss"]
    assert list(loss.lines[1].get_ydata()) == [0.2, 0.05]


def test_curves_say_when_a_metric_was_not_logged() -> None:
    axes = axes_by_title(curves_figure({"run": records(bleu=False)}))
    bleu = axes["BLEU (greedy, valid)"]
    assert not bleu.lines
    assert [t.get_text() for t in bleu.texts] == ["no data (train.valid_bleu: false?)"]


def test_attention_figure_labels_are_the_pieces() -> None:
    src = ["▁In", "▁the", "▁begin", "ning", "</s>"]
    tgt = ["▁En", "▁el", "▁principio", "</s>"]
    figure = attention_figure(torch.rand(4, 5).softmax(-1), src, tgt, "layer 0")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == src
    assert [t.get_text() for t in ax.get_yticklabels()] == tgt
    assert ax.get_xlabel() == "source" and ax.get_ylabel() == "output"
    assert ax.get_title() == "layer 0"
    assert ax.images[0].get_array().shape == (4, 5)
    assert len(figure.axes) == 2  # the map and its colour bar


def test_attention_figure_grows_and_font_shrinks_with_length() -> None:
    small = attention_figure(torch.rand(3, 4), list("abcd"), list("xyz"))
    big = attention_figure(
        torch.rand(40, 40), [f"s{i}" for i in range(40)], [f"t{i}" for i in range(40)]
    )
    assert tuple(small.get_size_inches()) == attention_figure_size(3, 4) == (4.0, 3.0)
    width, height = big.get_size_inches()
    assert width >= 0.3 * 40 and height >= 0.3 * 40  # about 0.3 inch per cell
    small_font = small.axes[0].get_xticklabels()[0].get_fontsize()
    big_font = big.axes[0].get_xticklabels()[0].get_fontsize()
    assert small_font == attention_font_size(4) == 10
    assert big_font == attention_font_size(40) == 7
    assert len(big.axes[0].get_yticklabels()) == 40


def test_attention_figure_rejects_labels_of_the_wrong_length() -> None:
    with pytest.raises(InputError, match=r"shape \[2, 3\] needs 2 target and 3 source labels"):
        attention_figure(torch.rand(2, 3), ["a", "b"], ["x", "y"])


def test_save_figure_writes_a_png(tmp_path: Path) -> None:
    path = save_figure(curves_figure({"run": records()}), tmp_path / "curves.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_save_figure_into_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        save_figure(curves_figure({"run": records()}), tmp_path / "nowhere" / "curves.png")


def test_load_runs_labels_by_directory_name(tmp_path: Path) -> None:
    runs = load_runs(
        [write_run(tmp_path / "lstm", records()), write_run(tmp_path / "gru", records(lr=0.1))]
    )
    assert list(runs) == ["lstm", "gru"] and runs["lstm"] == records()


def test_load_runs_same_names_are_labelled_by_path(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a" / "run", records())
    b = write_run(tmp_path / "b" / "run", records())
    assert list(load_runs([a, b])) == [str(a), str(b)]


def test_load_runs_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="nowhere: no such model directory"):
        load_runs([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDirError, match=r"empty/metrics.jsonl: missing; is .* `seq2seq train`"):
        load_runs([tmp_path / "empty"])
    (tmp_path / "empty" / "metrics.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ModelDirError, match="no records yet"):
        load_runs([tmp_path / "empty"])


def test_load_runs_names_the_line_that_is_not_utf8(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    good = json.dumps(records()[0]).encode()
    (run / "metrics.jsonl").write_bytes(good + b"\n" + good + b"\n\xff\xfe\n")
    with pytest.raises(ModelDirError) as err:
        load_runs([run])
    assert str(err.value).startswith(f"{run / 'metrics.jsonl'}:3: not valid UTF-8")
