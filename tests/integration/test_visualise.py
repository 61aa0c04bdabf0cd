"""``seq2seq plot curves|attention`` and TensorBoard logging on real, short training runs.

Every figure is checked as matplotlib objects built from what the runs wrote; every user-facing
error of the plot verbs is asserted as one ``seq2seq: error:`` line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seq2seq import Config, Translator, train
from seq2seq.cli import main
from seq2seq.plots import curves_figure, load_runs
from seq2seq.training.checkpoint import read_metrics

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ERROR_PREFIX = "seq2seq: error: "
GRU = {"type": "gru", "layers": 1, "hidden_size": 16, "embedding_size": 8}


@pytest.fixture(scope="module")
def runs(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short runs: LSTM (40 steps), GRU (20), attention-free (10); TensorBoard on for
    the LSTM and the attention-free one."""
    root = tmp_path_factory.mktemp("visualise")
    settings = {
        "lstm": ({"max_steps": 40, "valid_every": 20}, {}, {"tensorboard": True}),
        "gru": ({"max_steps": 20, "valid_every": 10}, {"encoder": GRU, "decoder": GRU}, {}),
        "plain": (
            {"max_steps": 10, "valid_every": 10},
            {"attention": "none"},
            {"tensorboard": True},
        ),
    }
    for name, (train_cfg, model_cfg, log_cfg) in settings.items():
        train(toy_config(train=train_cfg, model=model_cfg, log=log_cfg), root / name)
    return {name: root / name for name in settings}


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def assert_one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], text: str) -> None:
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(ERROR_PREFIX), err
    assert text in err, f"{text!r} not in {err!r}"


def test_plot_curves_of_two_runs(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "curves.png"
    assert run_cli(["plot", "curves", str(runs["lstm"]), str(runs["gru"]), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (2 runs)\n"
    assert out.read_bytes()[:8] == PNG_MAGIC
    # The figure the command drew, rebuilt from the same records.
    loss = {ax.get_title(): ax for ax in curves_figure(load_runs([runs["lstm"], runs["gru"]])).axes}
    lines = {line.get_label(): line for line in loss["loss"].lines}
    assert set(lines) == {"lstm (train)", "lstm (valid)", "gru (train)", "gru (valid)"}
    records = read_metrics(runs["lstm"])
    assert list(lines["lstm (train)"].get_xdata()) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert list(lines["lstm (valid)"].get_xdata()) == [20, 40]
    assert list(lines["lstm (valid)"].get_ydata()) == [
        r["loss"] for r in records if r["kind"] == "valid"
    ]
    assert list(lines["gru (valid)"].get_xdata()) == [10, 20]
    assert len(loss["BLEU (greedy, valid)"].lines) == 2


@pytest.mark.parametrize("beam", ["1", "3"])
def test_plot_attention(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], beam: str
) -> None:
    out = tmp_path / "attention.png"
    argv = ["plot", "attention", str(runs["lstm"]), "1 2 3", "-o", str(out), "--beam", beam]
    assert run_cli([*argv, "--layer", "0", "--head", "avg"]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = Translator.load(runs["lstm"]).translate(["1 2 3"], beam_size=int(beam))[0]
    assert printed[0] == expected.text
    rows = len(expected.candidates[0].token_log_probs)
    assert printed[1] == f"wrote {out} ({rows} output x 4 source tokens)"
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_plot_errors(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = str(tmp_path / "nowhere")
    assert_one_line_error(capsys, ["plot", "curves", nowhere], "nowhere: no such model directory")
    assert_one_line_error(
        capsys, ["plot", "attention", nowhere, "1 2"], "nowhere: no such model directory"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(
        capsys, ["plot", "curves", str(runs["gru"]), str(empty)], "empty/metrics.jsonl: missing"
    )
    lstm = str(runs["lstm"])
    assert_one_line_error(
        capsys,
        ["plot", "attention", lstm, "1 2", "--layer", "1"],
        "--layer 1: out of range: this model has 1 decoder layer; allowed: 0 or avg",
    )
    assert_one_line_error(
        capsys,
        ["plot", "attention", lstm, "1 2", "--head", "2"],
        "--head 2: out of range: this model has 1 attention head; allowed: 0 or avg",
    )
    assert_one_line_error(
        capsys, ["plot", "attention", lstm, "1 2", "--layer", "top"], "--layer top: not a number"
    )
    assert_one_line_error(
        capsys,
        ["plot", "attention", str(runs["plain"]), "1 2"],
        "model has no attention (model.attention: none)",
    )
    assert_one_line_error(
        capsys,
        ["plot", "attention", lstm, "1 2", "-o", str(tmp_path / "no" / "a.png")],
        "does not exist",
    )


def test_tensorboard_has_the_metrics_scalars_and_an_attention_image(
    runs: dict[str, Path],
) -> None:
    events = EventAccumulator(
        str(runs["lstm"] / "tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    events.Reload()
    records = read_metrics(runs["lstm"])
    expected: dict[str, dict[int, float]] = {}  # tag -> step -> value, from metrics.jsonl
    for record in records:
        for key, value in record.items():
            if key not in ("kind", "step"):
                expected.setdefault(f"{record['kind']}/{key}", {})[record["step"]] = value
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, by_step in expected.items():
        logged = {e.step: e.value for e in events.Scalars(tag)}
        assert logged == pytest.approx(by_step, rel=1e-6), tag
    images = events.Images("valid/attention")
    assert [image.step for image in images] == [20, 40]
    assert all(image.width > 0 and image.height > 0 for image in images)
    assert not (runs["gru"] / "tensorboard").exists()


def test_tensorboard_without_attention_logs_scalars_only(runs: dict[str, Path]) -> None:
    events = EventAccumulator(str(runs["plain"] / "tensorboard"))
    events.Reload()
    assert "valid/loss" in events.Tags()["scalars"]
    assert events.Tags()["images"] == []


def test_tensorboard_does_not_change_training(toy_config: MakeConfig, tmp_path: Path) -> None:
    for name, enabled in (("off", False), ("on", True)):
        train(
            toy_config(train={"max_steps": 10, "valid_every": 5}, log={"tensorboard": enabled}),
            tmp_path / name,
        )
    off, on = (load_file(tmp_path / n / "last.safetensors") for n in ("off", "on"))
    assert off.keys() == on.keys()
    assert all((off[k] == on[k]).all() for k in off)
