"""A Keras-style front end, for people coming from the Keras seq2seq tutorial.

::

    import seq2seq
    model = seq2seq.Seq2Seq.from_config("toy/reverse-lstm", train_pairs)
    model.summary()
    history = seq2seq.fit(model, train_pairs, valid_pairs, epochs=10, optimizer="rmsprop",
                          metrics=["accuracy", "bleu"])
    history.history["val_loss"]          # one value per epoch, like Keras' History
    seq2seq.evaluate(model, test_pairs)  # {"loss": ..., "accuracy": ...}
    model.predict(["1 2 3"])             # ["3 2 1"]
    model.save("runs/keras")             # a normal model directory: `seq2seq translate` reads it

A thin wrapper and nothing more: every call goes to the one implementation of its job.
``fit`` runs :func:`seq2seq.training.trainer.train` (the loop behind ``seq2seq train``) on the
wrapper's already-built model; ``evaluate`` is the trainer's ``validate``; ``predict`` is
:class:`~seq2seq.decoding.translator.Translator`; ``summary`` is
:func:`seq2seq.summary.summary_text`; ``save``/``load`` write and read a model directory.

Names: ``seq2seq.Seq2Seq`` is this wrapper. The ``nn.Module`` it wraps is
``seq2seq.models.Seq2Seq`` (same class name, one level down), available as ``model.module``.

Where it differs from Keras:

- The vocabulary is built from text when the model is made (``from_config(config, pairs)``,
  Keras' ``TextVectorization.adapt``), so ``summary()`` works before ``fit``.
- ``fit`` writes its pairs as TSV into its model directory (a temporary one unless
  ``model_dir`` is given) and points ``config.data`` at them, so that directory is an ordinary
  training run: ``metrics.jsonl``, checkpoints, ``seq2seq plot curves`` all work on it.
- Each ``fit`` call is a new training run from the model's current weights with a fresh
  optimizer; ``seq2seq train --resume DIR`` continues a run exactly instead.
- One epoch = one pass over the training pairs in batches of ``batch_size`` sentences;
  validation runs at the end of each epoch and ``loss``/``accuracy`` are token-weighted means
  over the epoch.
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seq2seq._version import __version__
from seq2seq.config import Config, DataConfig, config_to_dict, load_config, save_config
from seq2seq.configs import resolve_config
from seq2seq.data.corpus import Pair
from seq2seq.data.pipeline import Example, TextCodec, within_length_limits
from seq2seq.decoding.translator import Translator
from seq2seq.errors import DataError, InputError, ModelDirError
from seq2seq.model_dir import check_new_model_dir, load_model_dir
from seq2seq.models import Seq2Seq as Seq2SeqModule
from seq2seq.models import build_model
from seq2seq.summary import summary_text
from seq2seq.training import checkpoint as ckpt
from seq2seq.training.trainer import train, validate

PairLike = Pair | tuple[str, str] | Sequence[str]
ConfigSource = Config | str | Path | Mapping[str, Any]

METRICS = {"accuracy": "acc", "perplexity": "ppl", "bleu": "bleu", "exact_match": "exact"}
"""Keras-style metric name -> key in ``metrics.jsonl``. BLEU and exact match (sequence
accuracy) decode greedily, so they exist for validation data only."""
DECODED_METRICS = ("bleu", "exact_match")
TRAIN_FILE, VALID_FILE = "train.tsv", "valid.tsv"


@dataclass
class History:
    """What ``fit`` returns, like Keras' ``History``.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``, one value
            per epoch.
        epoch: The epoch numbers, from 0.
        params: ``epochs``, ``steps`` (per epoch) and ``batch_size``.
        model_dir: The training run's directory (``metrics.jsonl``, checkpoints).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    params: dict[str, int] = field(default_factory=dict)
    model_dir: Path | None = None


class Seq2Seq:
    """A trained or trainable model with its tokenizers and config, used Keras-style.

    Args:
        config: The full configuration (model, tokenizer, training and search settings).
        module: The ``nn.Module`` (:class:`seq2seq.models.Seq2Seq`).
        codec: Tokenizers and vocabularies matching ``module``'s embeddings.
    """

    def __init__(self, config: Config, module: Seq2SeqModule, codec: TextCodec) -> None:
        self.config, self.module, self.codec = config, module, codec
        self.model_dir: Path | None = None  # the last training run's directory
        self._workspace: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def from_config(
        cls, config: ConfigSource, pairs: Sequence[PairLike], overrides: Sequence[str] = ()
    ) -> Seq2Seq:
        """Builds tokenizers and vocabularies from ``pairs``, then an untrained model.

        Args:
            config: A :class:`Config`, a YAML path, a shipped config name (``toy/reverse-lstm``)
                or a mapping. A mapping may leave out ``data`` and ``train`` (defaults apply);
                the data source is always the pairs given here and to :func:`fit`.
            pairs: ``(source, target)`` texts the vocabulary is built from, usually the
                training pairs.
            overrides: ``key=value`` settings, as on the command line (``train.lr=0.01``).

        Raises:
            ConfigError: The config is invalid (every problem listed).
            DataError: A pair is empty or holds a tab or newline.
        """
        workspace = tempfile.TemporaryDirectory(prefix="seq2seq-")
        vocab_file = Path(workspace.name) / TRAIN_FILE
        pair_list = _as_pairs("pairs", pairs)
        _write_tsv(vocab_file, pair_list)
        config = _resolve(config, vocab_file, vocab_file, list(overrides))
        torch.manual_seed(config.train.seed)  # the same initial weights as `seq2seq train`
        codec = TextCodec.build(pair_list, config.data.tokenizer, config.train.seed)
        module = build_model(
            config.model, len(codec.src_vocab), len(codec.tgt_vocab), codec.tgt_vocab.pad_id
        )
        model = cls(config, module, codec)
        model._workspace = workspace
        return model

    @classmethod
    def load(cls, model_dir: str | Path) -> Seq2Seq:
        """Loads a model directory (written by :meth:`save`, ``fit`` or ``seq2seq train``)."""
        config, module, codec = load_model_dir(Path(model_dir))
        return cls(config, module, codec)

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Prints the Keras-style table of layers, output shapes and parameter counts."""
        m = self.config.model
        title = f"Seq2Seq: {m.encoder.type} -> {m.decoder.type}, attention {m.attention}"
        print_fn(summary_text(self.module, title))

    def predict(self, sources: Sequence[str], beam_size: int | None = None) -> list[str]:
        """Translates each source sentence (beam search from ``config.search`` by default)."""
        if isinstance(sources, str):
            raise InputError("predict takes a list of sentences; wrap one sentence: [text]")
        translator = Translator(self.module, self.codec, self.config.search)
        return [t.text for t in translator.translate(list(sources), beam_size=beam_size)]

    def fit(
        self, train_pairs: Sequence[PairLike], valid_pairs: Sequence[PairLike], **kw: Any
    ) -> History:
        """Same as ``seq2seq.fit(self, ...)``."""
        return fit(self, train_pairs, valid_pairs, **kw)

    def evaluate(self, pairs: Sequence[PairLike], **kw: Any) -> dict[str, float]:
        """Same as ``seq2seq.evaluate(self, ...)``."""
        return evaluate(self, pairs, **kw)

    def save(self, model_dir: str | Path) -> Path:
        """Writes a model directory with the current weights, usable by ``seq2seq translate``.

        The training data files ``config.data`` names are copied in and the saved config points
        at the copies, so the directory is self-contained.

        Raises:
            ModelDirError: ``model_dir`` already holds a model.
        """
        model_dir = Path(model_dir)
        check_new_model_dir(model_dir)
        if (model_dir / ckpt.CONFIG_FILE).exists():
            raise ModelDirError(f"{model_dir}: already holds a model; choose a new directory")
        model_dir.mkdir(parents=True, exist_ok=True)
        train_file, valid_file = _copy_data(self.config.data, model_dir)
        config = _resolve(self.config, train_file, valid_file, [])
        self.codec.save(model_dir)
        ckpt.save_weights(self.module, model_dir / ckpt.BEST_WEIGHTS)
        if self.model_dir is not None and (self.model_dir / ckpt.METRICS_FILE).is_file():
            shutil.copyfile(self.model_dir / ckpt.METRICS_FILE, model_dir / ckpt.METRICS_FILE)
        (model_dir / "VERSION").write_text(__version__ + "\n", encoding="utf-8")
        save_config(config, model_dir / ckpt.CONFIG_FILE)  # last: marks the directory complete
        return model_dir


def fit(
    model: Seq2Seq,
    train_pairs: Sequence[PairLike],
    valid_pairs: Sequence[PairLike],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    metrics: Sequence[str] = ("accuracy",),
    verbose: bool = True,
    model_dir: str | Path | None = None,
) -> History:
    """Trains ``model`` in place for ``epochs`` epochs with the project's training loop.

    Args:
        model: The wrapper to train (its weights are updated).
        train_pairs, valid_pairs: ``(source, target)`` texts; validation runs after each epoch.
        epochs: Passes over ``train_pairs``.
        batch_size: Sentences per batch.
        optimizer: ``adam``, ``adamw``, ``rmsprop`` or ``sgd`` (default: ``train.optimizer``).
        learning_rate: Default: ``train.lr`` (1e-3, Keras' RMSprop default too).
        metrics: Besides the loss: ``accuracy`` (token), ``perplexity``, ``bleu`` and
            ``exact_match`` (sequence accuracy; these two decode greedily, validation only).
        verbose: Show the progress bar.
        model_dir: Where the run is written (must not hold a model); default: a temporary
            directory kept while ``model`` lives.

    Returns:
        The per-epoch metrics (:class:`History`).

    Raises:
        InputError: ``epochs`` or ``batch_size`` is not a whole number >= 1, or a metric is
            unknown (all checked before any file is written).
        ModelDirError: ``model_dir`` is a file, lies under one, or already holds a model.
    """
    _check_count("epochs", epochs)
    _check_count("batch_size", batch_size)
    wanted = _check_metrics(metrics)
    train_list = _as_pairs("train_pairs", train_pairs)
    valid_list = _as_pairs("valid_pairs", valid_pairs)
    workspace = None if model_dir else tempfile.TemporaryDirectory(prefix="seq2seq-")
    run_dir = Path(model_dir or workspace.name)  # type: ignore[union-attr]
    check_new_model_dir(run_dir)
    if (run_dir / ckpt.CONFIG_FILE).exists():
        raise ModelDirError(f"{run_dir}: already holds a model; choose a new model_dir")
    steps = _steps_per_epoch(model.codec, train_list, model.config.data, batch_size)
    settings = {
        "max_epochs": epochs,
        "max_steps": None,
        "max_minutes": None,
        "batch_size": batch_size,
        "batch_tokens": None,
        "valid_every": steps,  # validate and log once per epoch, at its end
        "log_every": steps,
        "valid_bleu": any(m in DECODED_METRICS for m in wanted),
        "progress": verbose,
    }
    settings |= {
        k: v for k, v in (("optimizer", optimizer), ("lr", learning_rate)) if v is not None
    }
    config = _resolve(model.config, run_dir / TRAIN_FILE, run_dir / VALID_FILE, [], settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_tsv(run_dir / TRAIN_FILE, train_list)
    _write_tsv(run_dir / VALID_FILE, valid_list)
    model.codec.save(run_dir)  # train() reads the codec of an already-built model from here
    train(config, run_dir, model=model.module)
    model.module.eval()
    model.config, model.model_dir, model._workspace = config, run_dir, workspace
    history = _history(ckpt.read_metrics(run_dir), steps, wanted)
    history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
    history.model_dir = run_dir
    return history


def evaluate(
    model: Seq2Seq, pairs: Sequence[PairLike], *, metrics: Sequence[str] = ("accuracy",)
) -> dict[str, float]:
    """Loss and ``metrics`` on ``pairs`` (teacher-forced loss; greedy decoding for BLEU).

    Returns a dict (Keras' ``return_dict=True``): ``{"loss": ..., "accuracy": ...}``.
    """
    wanted = _check_metrics(metrics)
    pair_list = _as_pairs("pairs", pairs)
    examples: list[Example] = [
        (model.codec.encode_src(p.src), model.codec.encode_tgt(p.tgt)) for p in pair_list
    ]
    train_cfg = model.config.train.model_copy(
        update={
            "valid_bleu": any(m in DECODED_METRICS for m in wanted),
            "valid_max_sentences": None,
        }
    )
    config = model.config.model_copy(update={"train": train_cfg})
    scores = validate(model.module, model.codec, config, examples, pair_list)
    model.module.eval()
    return {"loss": scores["loss"], **{m: scores[METRICS[m]] for m in wanted}}


def _check_count(name: str, value: object) -> None:
    """Raises unless ``value`` is a whole number >= 1.

    Checked up front: past this point ``batch_size`` divides the epoch into steps (0 would be a
    ``ZeroDivisionError``, ``None`` a ``TypeError``) and both end up in ``config.train`` under
    names a Keras user never wrote.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}: got {value!r}; expected a whole number >= 1")


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(
            f"metrics: unknown {', '.join(map(repr, unknown))}; allowed: {', '.join(METRICS)}"
        )
    return list(dict.fromkeys(metrics))


def _as_pairs(name: str, pairs: Sequence[PairLike]) -> list[Pair]:
    """Validated :class:`Pair` objects; ``name[i]`` in errors points at the bad item."""
    if isinstance(pairs, str) or not len(pairs):
        raise DataError(f"{name}: expected a non-empty list of (source, target) pairs")
    result = []
    for i, item in enumerate(pairs):
        src, tgt = (item.src, item.tgt) if isinstance(item, Pair) else _two_texts(name, i, item)
        for side, text in (("source", src), ("target", tgt)):
            if not text.strip() or "\t" in text or "\n" in text or "\r" in text:
                raise DataError(
                    f"{name}[{i}]: the {side} {text!r} must be non-empty text without tabs or "
                    "line breaks"
                )
        result.append(Pair(src.strip(), tgt.strip(), f"{name}[{i}]"))
    return result


def _two_texts(name: str, index: int, item: object) -> tuple[str, str]:
    if (
        isinstance(item, Sequence)
        and not isinstance(item, str)
        and len(item) == 2
        and all(isinstance(text, str) for text in item)
    ):
        return item[0], item[1]
    raise DataError(f"{name}[{index}]: expected a (source, target) pair of strings, got {item!r}")


def _write_tsv(path: Path, pairs: Sequence[Pair]) -> None:
    path.write_text("".join(f"{p.src}\t{p.tgt}\n" for p in pairs), encoding="utf-8")


def _resolve(
    config: ConfigSource,
    train_file: Path,
    valid_file: Path,
    overrides: list[str],
    train_settings: Mapping[str, Any] | None = None,
) -> Config:
    """The config with ``data`` pointing at the wrapper's TSV files (and training changes).

    A mapping may leave out ``data`` and ``train``; a config without any budget gets
    ``max_epochs: 1``, the default of Keras' ``fit(epochs=1)`` (``fit`` sets the real one).
    """
    if isinstance(config, Config):
        raw = config_to_dict(config)
    elif isinstance(config, Mapping):
        raw = copy.deepcopy(dict(config))
    else:
        raw = config_to_dict(load_config(resolve_config(config)))
    data = raw.setdefault("data", {})
    data.update(corpus=None, train=str(train_file), valid=str(valid_file), test=None)
    train_section = raw.setdefault("train", {})
    if not any(train_section.get(k) for k in ("max_steps", "max_epochs", "max_minutes")):
        train_section["max_epochs"] = 1
    train_section.update(train_settings or {})
    return load_config(raw, overrides)


def _copy_data(data: DataConfig, model_dir: Path) -> tuple[Path, Path]:
    """Copies the TSV files of ``data`` into ``model_dir``; returns the copies' paths."""
    copies = []
    for source, name in ((data.train, TRAIN_FILE), (data.valid, VALID_FILE)):
        target = (model_dir / name).resolve()
        source_path = Path(source) if isinstance(source, str) else None
        if source_path is not None and source_path.is_file() and source_path.resolve() != target:
            shutil.copyfile(source_path, target)
        copies.append(target)
    return copies[0], copies[1]


def _steps_per_epoch(
    codec: TextCodec, pairs: Sequence[Pair], data: DataConfig, batch_size: int
) -> int:
    """Updates in one epoch: the kept training pairs in batches of ``batch_size``.

    The trainer drops pairs over ``data.max_src_len``/``max_tgt_len`` (the same rule as
    ``load_training_data``), and with a sentence cap and no token cap its sampler cuts every
    epoch into ``ceil(kept / batch_size)`` batches.
    """
    kept = sum(
        within_length_limits((codec.encode_src(p.src), codec.encode_tgt(p.tgt)), data)
        for p in pairs
    )
    return max(1, math.ceil(kept / batch_size))


def _history(records: list[dict[str, Any]], steps: int, wanted: list[str]) -> History:
    """Per-epoch values from the epoch-end records (``log_every = valid_every = steps``)."""
    train_at = {r["step"]: r for r in records if r["kind"] == "train"}
    valid_at = {r["step"]: r for r in records if r["kind"] == "valid"}
    history = History()
    for step in sorted(s for s in train_at if s % steps == 0 and s in valid_at):
        history.epoch.append(step // steps - 1)
        for prefix, record in (("", train_at[step]), ("val_", valid_at[step])):
            for name in ["loss", *wanted]:
                key = "loss" if name == "loss" else METRICS[name]
                if key in record:
                    history.history.setdefault(prefix + name, []).append(float(record[key]))
    return history
