"""Model directories: atomic writes, code-free loading.

A model directory is self-contained (DESIGN.md):

- ``config.yaml``: the full resolved config.
- ``model.safetensors``: the best weights by validation (what ``Translator.load`` reads).
- ``last.safetensors`` + ``training_state.pt``: the latest weights and everything else needed
  to resume exactly (optimizer, schedule, RNG states, data position, counters).
- tokenizer and vocabulary files, ``metrics.jsonl``, ``VERSION``.

Every file is written to a temporary name in the same directory and renamed into place, so an
interrupted write never leaves a half-written checkpoint. Weights load through safetensors and
the training state through ``torch.load(weights_only=True)``: loading executes no code.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from seq2seq.errors import ModelDirError
from seq2seq.files import atomic_write

BEST_WEIGHTS = "model.safetensors"
LAST_WEIGHTS = "last.safetensors"
TRAINING_STATE = "training_state.pt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
# The best weights a validation at a stop replaced; a resume puts them back (see trainer.py).
BEST_BEFORE_STOP = "best_before_stop.safetensors"


def _storage_key(tensor: torch.Tensor) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Identifies a weight by where it lives, so tied names (one tensor) share a key."""
    return (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))


def save_weights(model: nn.Module, path: Path) -> None:
    """Writes weights as safetensors: CPU copies, tied weights stored once.

    Copies, because on a GPU cuDNN packs an RNN's weights into one flat buffer that each
    weight is a view of, and safetensors refuses to save views of a larger buffer. A tied
    weight (the same tensor under two names) is stored under its first name; loading re-ties it.
    """
    tensors: dict[str, torch.Tensor] = {}
    stored: set[tuple[int, tuple[int, ...], tuple[int, ...]]] = set()
    for name, tensor in model.state_dict().items():
        key = _storage_key(tensor)
        if key not in stored:
            stored.add(key)
            tensors[name] = tensor.detach().to("cpu", copy=True).contiguous()
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))


def load_weights(model: nn.Module, path: Path) -> None:
    """Loads safetensors weights into ``model``; a missing or corrupt file is a user error.

    The file is read on the CPU and copied into the model's own tensors (``load_state_dict``),
    so it loads into a model on any device, also one whose RNN weights cuDNN has packed into one
    buffer (safetensors' ``load_model`` refuses those). A tied weight stored once fills every
    name that shares its tensor.
    """
    if not path.is_file():
        raise ModelDirError(f"{path}: missing weights file; is this a trained model directory?")
    try:
        tensors = load_file(str(path))
        names_by_key: dict[tuple[int, tuple[int, ...], tuple[int, ...]], list[str]] = {}
        for name, tensor in model.state_dict().items():
            names_by_key.setdefault(_storage_key(tensor), []).append(name)
        stored = set(tensors)
        missing = [names[0] for names in names_by_key.values() if not stored.intersection(names)]
        unexpected = stored - {n for names in names_by_key.values() for n in names}
        if not missing and not unexpected:
            model.load_state_dict(tensors, strict=False)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ModelDirError(
            f"{path}: corrupt or incompatible weights ({_first_line(err)})"
        ) from None
    if missing or unexpected:
        raise ModelDirError(
            f"{path}: weights do not match config.yaml (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )


def save_training_state(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; --resume needs a directory written by `train`")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # torch's text would advise weights_only=False: never
        raise ModelDirError(
            f"{path}: refused: it holds objects other than tensors and plain data, so it was "
            "not written by `seq2seq train` (loading never runs code from a checkpoint)"
        ) from None
    except Exception as err:  # torch raises many types for a damaged pickle
        raise ModelDirError(f"{path}: corrupt training state ({_first_line(err)})") from None


def append_metrics(model_dir: Path, record: dict[str, Any]) -> None:
    """Appends one JSON line; a line is small enough to be written in one call."""
    with open(model_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def rewind_metrics(model_dir: Path, step: int) -> None:
    """Drops the records a run resumed at ``step`` will write again: those after ``step``
    (logged after the last checkpoint, before a crash or ``kill -9``), the validation made at
    the stop (``at_stop``; the resumed run validates where an uninterrupted one would) and a
    half-written last line. Rewritten atomically; nothing to do without a metrics file."""
    path = model_dir / METRICS_FILE
    if not path.is_file():
        return
    kept = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not line.endswith("\n") or not isinstance(record, dict):
            continue
        if record.get("at_stop") or not isinstance(record.get("step"), int):
            continue
        if record["step"] <= step:
            kept.append(line)
    atomic_write(path, lambda tmp: tmp.write_text("".join(kept), encoding="utf-8"))


def read_metrics(model_dir: Path) -> list[dict[str, Any]]:
    """The records :func:`append_metrics` wrote, oldest first (``kind`` is train or valid).

    A run may still be writing: an unfinished last line (no newline yet) is skipped rather
    than reported, so curves can be drawn while training goes on.

    Raises:
        ModelDirError: ``model_dir`` or its ``metrics.jsonl`` is missing, or a line is not a
            JSON object with ``kind`` and ``step``.
    """
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: no such model directory")
    path = model_dir / METRICS_FILE
    if not path.is_file():
        raise ModelDirError(
            f"{path}: missing; is {model_dir} a directory written by `seq2seq train`?"
        )
    lines = [_utf8(path, n, raw) for n, raw in enumerate(path.read_bytes().split(b"\n"), 1)]
    unfinished = lines.pop()  # "" when the file ends with a newline
    records = [_metrics_record(path, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if unfinished.strip():
        with contextlib.suppress(ModelDirError):  # being written right now
            records.append(_metrics_record(path, len(lines) + 1, unfinished))
    return records


def _utf8(path: Path, line_no: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelDirError(
            f"{path}:{line_no}: not valid UTF-8; metrics.jsonl holds JSON text, so the file "
            "is damaged"
        ) from None


def _metrics_record(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not (isinstance(record, dict) and "kind" in record and "step" in record):
        raise ModelDirError(
            f"{path}:{line_no}: not a metrics record (a JSON object with kind and step)"
        )
    return record


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
