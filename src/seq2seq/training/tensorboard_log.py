"""Optional TensorBoard logging for training (``log.tensorboard: true``).

The trainer always writes ``metrics.jsonl``; with this option each record also becomes
TensorBoard scalars under ``MODEL_DIR/tensorboard/`` (``train/loss``, ``valid/bleu``, ...), and
every validation adds an image: the attention heatmap of one fixed validation sentence (the
first), so one can watch the alignment form. The image uses the same code as
``seq2seq plot attention`` (greedy output, last decoder layer, mean over heads).

Nothing here changes training: greedy search draws no random numbers, and the model's
train/eval mode is restored after the image is made, so a run with and without TensorBoard
ends with the same weights.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seq2seq.config import LogConfig, SearchConfig
from seq2seq.data.corpus import Pair
from seq2seq.data.pipeline import TextCodec
from seq2seq.errors import ConfigError, InputError
from seq2seq.models.seq2seq import Seq2Seq

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

logger = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
ATTENTION_TAG = "valid/attention"


def require_tensorboard(cfg: LogConfig) -> None:
    """Fails before training starts when ``log.tensorboard`` is on but the package is missing.

    Raises:
        ConfigError: Naming the key and how to install the package.
    """
    if cfg.tensorboard:
        _summary_writer_class()


class TensorBoardLog:
    """Writes metrics records as scalars and attention heatmaps as images.

    Args:
        writer: An open ``SummaryWriter`` on ``MODEL_DIR/tensorboard``.
        codec: Tokenizers and vocabularies, to translate the image's sentence.
        search: Search settings (length limits) for that translation; greedy is forced.
        sentence: The validation source whose attention is drawn (None: no images).
    """

    def __init__(
        self, writer: SummaryWriter, codec: TextCodec, search: SearchConfig, sentence: str | None
    ) -> None:
        self.writer, self.codec, self.search, self.sentence = writer, codec, search, sentence

    def scalars(self, record: Mapping[str, Any]) -> None:
        """One scalar per number in a metrics record, tagged ``{kind}/{key}`` at its step."""
        step = int(record["step"])
        for key, value in record.items():
            if key not in ("kind", "step") and isinstance(value, int | float):
                self.writer.add_scalar(f"{record['kind']}/{key}", value, step)

    def validation(self, record: Mapping[str, Any], model: Seq2Seq) -> None:
        """The validation scalars plus the attention image, flushed so TensorBoard shows them."""
        self.scalars(record)
        if self.sentence is not None:
            self._attention_image(model, int(record["step"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _attention_image(self, model: Seq2Seq, step: int) -> None:
        from seq2seq.attention_map import attention_map
        from seq2seq.decoding.translator import Translator
        from seq2seq.plots import attention_figure

        was_training = model.training  # Translator switches the model to eval mode
        try:
            amap = attention_map(Translator(model, self.codec, self.search), self.sentence, 1)
        except InputError as err:  # no attention: scalars only from now on
            logger.info("tensorboard: no attention image (%s)", err)
            self.sentence = None
            return
        finally:
            model.train(was_training)
        weights, caption = amap.select()
        figure = attention_figure(weights, amap.src_tokens, amap.tgt_tokens, caption)
        self.writer.add_figure(ATTENTION_TAG, figure, step)


def open_log(
    cfg: LogConfig,
    model_dir: Path,
    codec: TextCodec,
    search: SearchConfig,
    valid_pairs: Sequence[Pair],
    start_step: int,
) -> TensorBoardLog | None:
    """The TensorBoard log of a run, or None when ``log.tensorboard`` is off.

    A resumed run (``start_step > 0``) purges events logged after ``start_step`` by the
    interrupted run, so TensorBoard shows each step once.
    """
    if not cfg.tensorboard:
        return None
    writer_class = _summary_writer_class()
    writer = writer_class(
        log_dir=str(model_dir / TENSORBOARD_DIR), purge_step=start_step or None, flush_secs=30
    )
    sentence = valid_pairs[0].src if valid_pairs else None
    return TensorBoardLog(writer, codec, search, sentence)


def _summary_writer_class() -> type[SummaryWriter]:
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "log.tensorboard: true needs the tensorboard package: "
            "pip install 'seq2seq-kit[tensorboard]' (or set log.tensorboard: false)"
        ) from None
    return SummaryWriter
