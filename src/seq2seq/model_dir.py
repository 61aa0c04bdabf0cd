"""Reading a model directory back: config, codec, model and its best weights.

The layout is described in :mod:`seq2seq.training.checkpoint`. Everything needed to rebuild the
model is in the directory; nothing is downloaded and loading runs no pickled code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seq2seq.config import Config, load_config
from seq2seq.data.pipeline import TextCodec
from seq2seq.errors import ConfigError, ModelDirError
from seq2seq.models import Seq2Seq, build_model
from seq2seq.training.checkpoint import BEST_WEIGHTS, CONFIG_FILE, load_weights


def load_model_dir(
    model_dir: Path, weights: str = BEST_WEIGHTS
) -> tuple[Config, Seq2Seq, TextCodec]:
    """Rebuilds the trained model in ``model_dir`` on the CPU, in eval mode."""
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: no such model directory")
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelDirError(
            f"{config_path}: missing; is {model_dir} a directory written by `train`?"
        )
    try:
        config = load_config(config_path)
    except ConfigError as err:
        raise ModelDirError(f"{config_path}: corrupt config ({str(err).splitlines()[0]})") from None
    codec = TextCodec.load(model_dir, config.data.tokenizer)
    model = build_model(
        config.model, len(codec.src_vocab), len(codec.tgt_vocab), codec.tgt_vocab.pad_id
    )
    load_weights(model, model_dir / weights)
    return config, model.eval(), codec


def check_new_model_dir(path: str | Path) -> None:
    """Raises unless ``path`` can become a directory: it, or its nearest existing parent, is one.

    Called by ``train -o``, ``demo -o``, ``average -o`` and the Keras-style ``fit(model_dir=...)``
    before any work, so that a typo naming a file costs no training time and ends in one line
    rather than the ``FileExistsError``/``NotADirectoryError`` of a late ``mkdir``.

    Raises:
        ModelDirError: Naming ``path`` and the file in the way.
    """
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())  # "/" or "." always does
    if not existing.is_dir():
        raise ModelDirError(
            f"{path}: {existing} is a file, not a directory; choose a new output directory"
        )


VOCAB_FILES = ("src.vocab", "tgt.vocab")


def check_same_vocabulary(model_dirs: Sequence[Path], why: str) -> None:
    """Raises unless every model directory has the first one's vocabulary files.

    Args:
        model_dirs: Model directories to compare (the first is the reference).
        why: What needs them equal, ending the message (``"... can be averaged"``).

    Raises:
        ModelDirError: Naming the directory and the vocabulary file that differs.
    """
    first = model_dirs[0]
    for other in model_dirs[1:]:
        for name in VOCAB_FILES:
            a, b = first / name, other / name
            if a.is_file() and b.is_file() and a.read_bytes() != b.read_bytes():
                raise ModelDirError(
                    f"{other}: its vocabulary ({name}) differs from {first}'s; {why}"
                )
