"""Reading a model directory back: config, codec, model and its best weights.

The layout is described in :mod:`seq2seq.training.checkpoint`. Everything needed to rebuild the
model is in the directory; nothing is downloaded and loading runs no pickled code.
"""

from __future__ import annotations

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
