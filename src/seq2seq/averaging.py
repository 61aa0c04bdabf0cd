"""Checkpoint averaging: one model whose weights are the mean of several checkpoints.

Averaging the last few checkpoints of a run (Vaswani et al. 2017; Junczys-Dowmunt et al. 2016)
or the same model trained from different seeds usually decodes a little better than any one of
them, at no decoding cost. It only makes sense for checkpoints of one architecture with one
vocabulary, so both are checked before any weight is touched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from seq2seq._version import __version__
from seq2seq.config import save_config
from seq2seq.errors import InputError, ModelDirError
from seq2seq.model_dir import check_new_model_dir, check_same_vocabulary, load_model_dir
from seq2seq.training import checkpoint as ckpt

SOURCES_FILE = "averaged_from.json"


def average_checkpoints(sources: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Writes a model directory whose weights average those of ``sources``.

    Args:
        sources: Model directories (their best weights, ``model.safetensors``) or weight files
            inside model directories (e.g. ``run/last.safetensors``); at least two.
        out_dir: A new directory; it gets the first source's config, tokenizers and
            vocabularies, the averaged weights, and ``averaged_from.json`` naming the sources.

    Returns:
        ``out_dir``.

    Raises:
        InputError: Fewer than two sources.
        ModelDirError: A source is missing or damaged, its architecture or vocabulary differs
            from the first one's, or ``out_dir`` is a file or already holds a model (both
            checked before any checkpoint is loaded).
    """
    if len(sources) < 2:
        raise InputError(f"average needs at least two checkpoints, got {len(sources)}")
    out_dir = Path(out_dir)
    check_new_model_dir(out_dir)
    if (out_dir / ckpt.CONFIG_FILE).exists():
        raise ModelDirError(f"{out_dir}: already holds a model; choose a new output directory")
    located = [_locate(Path(source)) for source in sources]
    first_dir, first_weights = located[0]
    config, model, codec = load_model_dir(first_dir, first_weights)
    total = {name: t.double().clone() for name, t in model.state_dict().items()}
    for model_dir, weights in located[1:]:
        check_same_vocabulary(
            [first_dir, model_dir], "only checkpoints that share one vocabulary can be averaged"
        )
        other_config, other, _ = load_model_dir(model_dir, weights)
        if other_config.model != config.model:
            raise ModelDirError(
                f"{model_dir}: its model section differs from {first_dir}'s; only checkpoints "
                "of one architecture can be averaged"
            )
        for name, tensor in other.state_dict().items():
            total[name] += tensor.double()
    count = len(located)
    averaged = {name: (t / count).to(model.state_dict()[name].dtype) for name, t in total.items()}
    with torch.no_grad():
        model.load_state_dict(averaged)
    out_dir.mkdir(parents=True, exist_ok=True)
    codec.save(out_dir)
    ckpt.save_weights(model, out_dir / ckpt.BEST_WEIGHTS)
    names = [str(d / w) for d, w in located]
    (out_dir / SOURCES_FILE).write_text(json.dumps(names, indent=1) + "\n", encoding="utf-8")
    (out_dir / "VERSION").write_text(__version__ + "\n", encoding="utf-8")
    save_config(config, out_dir / ckpt.CONFIG_FILE)  # last: marks the directory complete
    return out_dir


def _locate(source: Path) -> tuple[Path, str]:
    """``(model_dir, weights file name)`` for a model directory or a weights file in one."""
    if source.is_dir():
        return source, ckpt.BEST_WEIGHTS
    if source.suffix == ".safetensors" and source.is_file():
        return source.parent, source.name
    raise ModelDirError(f"{source}: not a model directory or a .safetensors file inside one")
