"""Figures that show what a model learned: training curves and attention heatmaps.

Both build a matplotlib :class:`~matplotlib.figure.Figure` directly on the Agg canvas, never
through ``pyplot``: no global figure registry, no GUI backend, safe to call from the trainer
(TensorBoard images) and from tests, which inspect the returned Figure and Axes.

Inputs are plain data: the records of ``metrics.jsonl`` (see
:func:`seq2seq.training.checkpoint.read_metrics`) and an
:class:`~seq2seq.attention_map.AttentionMap`'s ``[T, S]`` weights with their token labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from seq2seq.errors import InputError, ModelDirError
from seq2seq.training.checkpoint import METRICS_FILE, read_metrics


@dataclass(frozen=True)
class Panel:
    """One subplot of the curves figure: a metrics key plotted for train and/or valid."""

    key: str
    title: str
    kinds: tuple[str, ...]
    log_scale: bool = False


PANELS = (
    Panel("loss", "loss", ("train", "valid")),
    Panel("ppl", "perplexity", ("train", "valid"), log_scale=True),
    Panel("acc", "token accuracy", ("train", "valid")),
    Panel("bleu", "BLEU (greedy, valid)", ("valid",)),
    Panel("exact", "sequence accuracy (exact match, valid)", ("valid",)),
    Panel("lr", "learning rate", ("train",)),
)
LINE_STYLES = {"train": "-", "valid": "--"}
MARKERS = {"train": "", "valid": "o"}


def load_runs(model_dirs: Sequence[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Reads each run's ``metrics.jsonl``; keys are the legend labels (the directory names).

    Two runs with the same directory name (``a/run``, ``b/run``) are labelled by their paths.

    Raises:
        ModelDirError: A directory or its ``metrics.jsonl`` is missing, holds no records, or
            has a line that is not a metrics record or not UTF-8 (named as ``path:line``).
    """
    paths = [Path(d) for d in model_dirs]
    names = [p.name or str(p) for p in paths]
    runs: dict[str, list[dict[str, Any]]] = {}
    for path, name in zip(paths, names, strict=True):
        records = read_metrics(path)
        if not records:
            raise ModelDirError(
                f"{path / METRICS_FILE}: no records yet; the first is written after "
                "train.log_every steps"
            )
        runs[name if names.count(name) == 1 else str(path)] = records
    return runs


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Loss, perplexity, accuracy, BLEU, exact match and learning rate against steps.

    One colour per run; training windows drawn solid, validations dashed with markers. A step
    logged twice (a run resumed from an earlier checkpoint) keeps its latest record.

    Args:
        runs: Legend label -> ``metrics.jsonl`` records of that run.
    """
    figure = _new_figure(15.0, 8.0)
    axes = figure.subplots(2, 3).ravel()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, panel in zip(axes, PANELS, strict=True):
        for colour, (label, records) in zip(colours, runs.items(), strict=True):
            for kind in panel.kinds:
                steps, values = _series(records, kind, panel.key)
                if steps:
                    ax.plot(
                        steps,
                        values,
                        LINE_STYLES[kind],
                        marker=MARKERS[kind],
                        markersize=3,
                        color=colour,
                        label=f"{label} ({kind})",
                    )
        _decorate(ax, panel)
    figure.suptitle("training curves: solid = train, dashed = validation")
    return figure


def _series(
    records: Sequence[Mapping[str, Any]], kind: str, key: str
) -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` in the records of ``kind``, sorted by step."""
    by_step = {
        int(r["step"]): float(r[key])
        for r in records
        if r.get("kind") == kind and isinstance(r.get(key), int | float)
    }
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def _decorate(ax: Axes, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    if not ax.lines:
        hint = "train.valid_bleu: false?" if panel.key in ("bleu", "exact") else "not logged"
        ax.text(0.5, 0.5, f"no data ({hint})", ha="center", va="center", transform=ax.transAxes)
        return
    if panel.log_scale:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def attention_figure(
    weights: Tensor, src_tokens: Sequence[str], tgt_tokens: Sequence[str], title: str = ""
) -> Figure:
    """A heatmap of attention: source pieces along x, produced target pieces along y.

    The figure grows with the sentence and the font shrinks, so every label stays readable up
    to 40 x 40 tokens (about 0.3 inch per cell, font 10 pt down to 7 pt).

    Args:
        weights: ``[T, S]`` attention, row ``t`` over the source when producing token ``t``.
        src_tokens: ``S`` column labels. tgt_tokens: ``T`` row labels.
        title: Drawn above the map (e.g. the layer and head shown).

    Raises:
        InputError: The labels do not match the shape of ``weights``.
    """
    rows, cols = weights.shape
    if (rows, cols) != (len(tgt_tokens), len(src_tokens)):
        raise InputError(
            f"attention of shape [{rows}, {cols}] needs {rows} target and {cols} source labels, "
            f"got {len(tgt_tokens)} and {len(src_tokens)}"
        )
    font = attention_font_size(max(rows, cols))
    figure = _new_figure(*attention_figure_size(rows, cols))
    ax = figure.add_subplot()
    image = ax.imshow(weights.detach().float().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(cols), list(src_tokens), rotation=90, fontsize=font)
    ax.set_yticks(range(rows), list(tgt_tokens), fontsize=font)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=font + 1)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return figure


def attention_figure_size(rows: int, cols: int) -> tuple[float, float]:
    """Width and height in inches: about 0.3 inch per cell plus room for labels."""
    return max(4.0, 2.0 + 0.3 * cols), max(3.0, 1.8 + 0.3 * rows)


def attention_font_size(tokens: int) -> float:
    """10 pt for short sentences, shrinking to 7 pt at 40 tokens and beyond."""
    return max(7.0, min(10.0, 11.0 - 0.1 * tokens))


def save_figure(figure: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Writes ``figure`` (PNG, or any format matplotlib knows from the suffix)."""
    path = Path(path)
    if path.parent != Path() and not path.parent.is_dir():
        raise InputError(f"{path}: the directory {path.parent} does not exist")
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure
