"""The training loop: one function, a few named helpers.

batches -> ``Seq2Seq.forward`` -> label-smoothed loss over real tokens -> backward -> clip ->
schedule + optimizer step -> periodic validation (loss, perplexity, accuracy, BLEU) ->
checkpoints (best and last) -> stop on a step/epoch/time budget, early stopping or a signal.

Resuming is exact: the data order is a pure function of (seed, epoch), and the checkpoint
holds the position inside the epoch, the optimizer and schedule state and the RNG state, so a
run stopped after N steps and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sacrebleu
import torch
from torch import Tensor, nn
from tqdm import tqdm

from seq2seq._version import __version__
from seq2seq.config import Config, config_to_dict, load_config, save_config
from seq2seq.data.batching import Batch, BucketBatchSampler, collate
from seq2seq.data.pipeline import Example, TextCodec, TrainingData, load_training_data
from seq2seq.decoding.translator import Translator
from seq2seq.device import autocast, resolve_device, resolve_precision
from seq2seq.errors import ModelDirError
from seq2seq.host_memory import keep_freed_memory
from seq2seq.models import Seq2Seq, build_model
from seq2seq.training import checkpoint as ckpt
from seq2seq.training.copy_loss import pointer_batch_loss
from seq2seq.training.loss import TokenStats, sequence_loss
from seq2seq.training.optim import LrSchedule, build_optimizer, build_schedule
from seq2seq.training.tensorboard_log import open_log, require_tensorboard

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """Counters saved with every checkpoint (the "data position" and early-stopping state)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_score: float | None = None  # best validation score seen (picks model.safetensors)
    best_step: int = 0
    patience_best: float | None = None  # best among regular validations (drives patience)
    bad_validations: int = 0
    # The steps since the last train log, so the first log after a resume averages the same
    # steps as an uninterrupted run's.
    window: TokenStats = field(default_factory=TokenStats)


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    stop_reason: str
    best_score: float | None
    last_validation: dict[str, float] = field(default_factory=dict)


def train(
    config: Config, model_dir: str | Path, *, resume: bool = False, model: Seq2Seq | None = None
) -> TrainResult:
    """Trains a model as ``config`` says and writes it to ``model_dir``.

    Args:
        config: The validated configuration (see :func:`seq2seq.load_config`).
        model_dir: Output directory; must not already hold a model unless ``resume``.
        resume: Continue from the last checkpoint in ``model_dir`` exactly where it stopped.
        model: Train this already-built model (in place, from its current weights) instead of
            a new one; its tokenizers and vocabularies must already be saved in ``model_dir``
            (``TextCodec.save``). The Keras-style ``seq2seq.fit`` uses this.

    Returns:
        Where it stopped, why, and the last validation scores.
    """
    model_dir = Path(model_dir)
    _check_model_dir(model_dir, resume)
    if resume:
        _check_same_model_and_data(model_dir, config)
    require_tensorboard(config.log)
    tcfg = config.train
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    keep_freed_memory()  # no page faults re-mapping each step's large tensors
    torch.manual_seed(tcfg.seed)
    model_dir.mkdir(parents=True, exist_ok=True)
    data = load_training_data(
        config.data,
        model_dir,
        tcfg.seed,
        reuse_codec=resume or model is not None,
        copy_source=config.model.copy,
    )
    vocab = data.codec.tgt_vocab
    if model is None:
        model = build_model(config.model, len(data.codec.src_vocab), len(vocab), vocab.pad_id)
    model.to(resolve_device(tcfg.device))
    optimizer = build_optimizer(model, tcfg)
    schedule = build_schedule(optimizer, tcfg)
    progress = _restore(model_dir, model, optimizer, schedule) if resume else Progress()
    if resume:
        _restore_best(model_dir)
        ckpt.rewind_metrics(model_dir, progress.step)
    save_config(config, model_dir / ckpt.CONFIG_FILE)
    (model_dir / "VERSION").write_text(__version__ + "\n", encoding="utf-8")
    logger.info("model: %s parameters", f"{sum(p.numel() for p in model.parameters()):,}")
    loop = _Loop(config, model_dir, model, data, optimizer, schedule, progress)
    return loop.run()


class _Loop:
    """Holds what the training steps share so each helper stays small."""

    def __init__(
        self,
        config: Config,
        model_dir: Path,
        model: Seq2Seq,
        data: TrainingData,
        optimizer: torch.optim.Optimizer,
        schedule: LrSchedule,
        progress: Progress,
    ) -> None:
        self.config, self.cfg, self.model_dir = config, config.train, model_dir
        self.model, self.data, self.codec = model, data, data.codec
        self.optimizer, self.schedule, self.progress = optimizer, schedule, progress
        lengths = [max(len(s), len(t)) + 1 for s, t in data.train]
        self.sampler = BucketBatchSampler(
            lengths,
            batch_size=self.cfg.batch_size,
            batch_tokens=self.cfg.batch_tokens,
            shuffle=True,
            seed=self.cfg.seed,
        )
        self.last_validation: dict[str, float] = {}
        self.validated_at = -1
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(self.cfg.precision, self.device)
        logger.info("training on %s in %s", self.device, self.precision)
        self.tensorboard = open_log(
            config.log, model_dir, data.codec, config.search, data.valid_pairs, progress.step
        )

    def run(self) -> TrainResult:
        start = time.monotonic()
        stop_reason = self._budget_reason(start)
        window_start, window_tokens = time.monotonic(), 0  # throughput of this process
        bar = tqdm(
            total=self.cfg.max_steps,
            initial=self.progress.step,
            disable=not self.cfg.progress,
            unit="step",
            dynamic_ncols=True,
        )
        self.model.train()
        with _stop_on_signals() as signalled:
            while stop_reason is None:
                for batch in self._epoch_batches():
                    stats = self._train_step(batch)
                    self.progress.window.add(stats)
                    window_tokens += batch.num_src_tokens + batch.num_tgt_tokens
                    bar.update(1)
                    if self.progress.step % self.cfg.log_every == 0:
                        rate = window_tokens / max(time.monotonic() - window_start, 1e-9)
                        self._log_train(self.progress.window, rate, start, bar)
                        self.progress.window = TokenStats()
                        window_start, window_tokens = time.monotonic(), 0
                    if self.progress.step % self.cfg.valid_every == 0:
                        self._validate_and_save(regular=True)
                    stop_reason = self._stop_reason(start, signalled)
                    if stop_reason:
                        break
                else:
                    self.progress.epoch += 1
                    self.progress.batch_in_epoch = 0
                    stop_reason = self._stop_reason(start, signalled)
        bar.close()
        self._finish(stop_reason)
        if self.tensorboard is not None:
            self.tensorboard.close()
        return TrainResult(
            self.model_dir,
            self.progress.step,
            stop_reason,
            self.progress.best_score,
            self.last_validation,
        )

    def _epoch_batches(self) -> Iterator[Batch]:
        """Batches of the current epoch from the saved position on; advances the position."""
        vocab = self.codec.tgt_vocab
        batches = self.sampler.batches(self.progress.epoch)
        for index in range(self.progress.batch_in_epoch, len(batches)):
            examples = [self.data.train[i] for i in batches[index]]
            self.progress.batch_in_epoch = index + 1
            batch = collate(examples, pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id)
            yield batch.to(self.device)

    def _train_step(self, batch: Batch) -> TokenStats:
        """Forward, loss averaged over real target tokens, backward, clip, update."""
        self.schedule.step(self.progress.step)
        with autocast(self.device, self.precision):  # fp32 weights; bf16 matmuls if asked
            loss, stats = batch_loss(
                self.model, batch, self.cfg.label_smoothing, self.cfg.coverage_loss_weight
            )
        self.optimizer.zero_grad(set_to_none=True)
        (loss / max(stats.tokens, 1)).backward()
        if self.cfg.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
        self.optimizer.step()
        self.progress.step += 1
        return stats

    def _budget_reason(self, start: float) -> str | None:
        cfg, p = self.cfg, self.progress
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return f"reached max_steps={cfg.max_steps}"
        if cfg.max_epochs is not None and p.epoch >= cfg.max_epochs:
            return f"reached max_epochs={cfg.max_epochs}"
        if cfg.max_minutes is not None and time.monotonic() - start >= cfg.max_minutes * 60:
            return f"reached max_minutes={cfg.max_minutes}"
        return None

    def _stop_reason(self, start: float, signalled: list[str]) -> str | None:
        if signalled:
            return f"stopped by {signalled[0]}; resume with --resume"
        patience = self.cfg.early_stopping_patience
        if patience is not None and self.progress.bad_validations >= patience:
            return f"early stopping: no improvement in {patience} validations"
        return self._budget_reason(start)

    def _log_train(self, window: TokenStats, rate: float, start: float, bar: tqdm) -> None:
        record = {
            "kind": "train",
            "step": self.progress.step,
            "epoch": self.progress.epoch,
            "loss": window.loss,
            "ppl": window.perplexity,
            "acc": window.accuracy,
            "lr": self.optimizer.param_groups[0]["lr"],
            "tokens_per_s": rate,
            "elapsed_s": time.monotonic() - start,
        }
        ckpt.append_metrics(self.model_dir, record)
        if self.tensorboard is not None:
            self.tensorboard.scalars(record)
        postfix = {
            "loss": f"{window.loss:.3f}",
            "ppl": f"{window.perplexity:.1f}",
            "tok_s": f"{rate:,.0f}",
        }
        if self.cfg.max_steps is None and self.cfg.max_minutes is not None:
            # tqdm's own ETA needs a step total; under a time budget the ETA is the time left.
            left = max(self.cfg.max_minutes * 60 - record["elapsed_s"], 0.0)
            postfix["eta"] = f"{left / 60:.1f}min"
        bar.set_postfix(postfix)
        logger.info(
            "step %d loss %.4f ppl %.2f %.0f tok/s",
            self.progress.step,
            window.loss,
            window.perplexity,
            rate,
        )

    def _validate_and_save(self, regular: bool) -> None:
        """Validates, saves last (and best) weights; only regular validations drive patience."""
        scores = validate(
            self.model, self.codec, self.config, self.data.valid, self.data.valid_pairs
        )
        self.model.train()
        self.last_validation, self.validated_at = scores, self.progress.step
        record = {"kind": "valid", "step": self.progress.step, **scores}
        if not regular:
            record["at_stop"] = True  # rewind_metrics drops it if the run is resumed
        ckpt.append_metrics(self.model_dir, record)
        if self.tensorboard is not None:
            self.tensorboard.validation(record, self.model)
        logger.info(
            "validation at step %d: %s",
            self.progress.step,
            ", ".join(f"{k} {v:.4g}" for k, v in scores.items()),
        )
        score = _oriented(scores, self.cfg.early_stopping_metric)
        p = self.progress
        if regular:
            improved = p.patience_best is None or score > p.patience_best
            p.patience_best = score if improved else p.patience_best
            p.bad_validations = 0 if improved else p.bad_validations + 1
            self.schedule.on_validation(improved)
        if p.best_score is None or score > p.best_score:
            best = self.model_dir / ckpt.BEST_WEIGHTS
            if not regular and best.is_file():  # put back on resume (_restore_best)
                best.replace(self.model_dir / ckpt.BEST_BEFORE_STOP)
            p.best_score, p.best_step = score, p.step
            ckpt.save_weights(self.model, best)
        if regular:  # at a stop, _finish saved the state before this validation
            self._save_last()

    def _save_last(self) -> None:
        ckpt.save_weights(self.model, self.model_dir / ckpt.LAST_WEIGHTS)
        state = {
            "progress": asdict(self.progress),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }
        ckpt.save_training_state(state, self.model_dir / ckpt.TRAINING_STATE)

    def _finish(self, stop_reason: str) -> None:
        """Saves a resumable checkpoint, then validates if the last step was not validated.

        The resumable state is saved *before* that extra validation and is not saved again
        after it, so its scores touch neither patience nor the best score a resumed run
        starts from. The stop's own best weights (if it was the best) are kept for the user
        until a resume puts the previous best back (``_restore_best``), and its metrics
        record is dropped then: a resumed run continues exactly like an uninterrupted one.
        """
        logger.info("stopping after step %d: %s", self.progress.step, stop_reason)
        self._save_last()
        if self.validated_at != self.progress.step:
            self._validate_and_save(regular=False)


def validate(
    model: Seq2Seq, codec: TextCodec, config: Config, examples: list[Example], pairs: list[Any]
) -> dict[str, float]:
    """Teacher-forced loss/perplexity/accuracy on all examples; greedy BLEU on a prefix.

    ``exact`` is the fraction of greedy outputs identical to the reference (sequence accuracy).
    """
    model.eval()
    vocab = codec.tgt_vocab
    stats = TokenStats()
    device = next(model.parameters()).device
    precision = resolve_precision(config.train.precision, device)
    with torch.no_grad(), autocast(device, precision):
        for start in range(0, len(examples), 64):
            batch = collate(
                examples[start : start + 64],
                pad_id=vocab.pad_id,
                bos_id=vocab.bos_id,
                eos_id=vocab.eos_id,
            )
            stats.add(batch_loss(model, batch.to(device))[1])
    scores = {"loss": stats.loss, "ppl": stats.perplexity, "acc": stats.accuracy}
    if config.train.valid_bleu:
        subset = pairs[: config.train.valid_max_sentences]
        translator = Translator(model, codec, config.search)
        hyps = [
            t.text for t in translator.translate([p.src for p in subset], beam_size=1, n_best=1)
        ]
        refs = [p.tgt for p in subset]
        scores["bleu"] = sacrebleu.corpus_bleu(hyps, [refs]).score
        scores["exact"] = sum(h == r for h, r in zip(hyps, refs, strict=True)) / max(len(refs), 1)
    return scores


def batch_loss(
    model: Seq2Seq, batch: Batch, label_smoothing: float = 0.0, coverage_weight: float = 0.0
) -> tuple[Tensor, TokenStats]:
    """Loss of a batch, with the output layer applied to real target positions only.

    A copy model (or a coverage loss) goes through :func:`pointer_batch_loss`.
    """
    if model.pointer is not None or coverage_weight > 0.0:
        return pointer_batch_loss(model, batch, label_smoothing, coverage_weight)
    features, _ = model.features(batch.src, batch.src_lengths, batch.tgt_in)  # [B, T, H]
    real = batch.tgt_out != batch.pad_id
    logits = model.generator(features[real])  # [tokens, V]
    return sequence_loss(logits, batch.tgt_out[real], label_smoothing)


def _oriented(scores: dict[str, float], metric: str) -> float:
    """Higher is better for every metric (loss is negated)."""
    return -scores["loss"] if metric == "loss" else scores[metric]


def _check_same_model_and_data(model_dir: Path, config: Config) -> None:
    """Raises ModelDirError when a resume changes a ``model`` or ``data`` setting.

    The checkpoint's weights fit the stored architecture and its vocabularies were built from
    the stored data: a resume under another tokenizer or corpus trains on ``<unk>`` and
    leaves a ``config.yaml`` that no longer describes the model. ``train``, ``search`` and
    ``log`` settings (budgets, learning rate, decoding) may change.
    """
    stored = config_to_dict(load_config(model_dir / ckpt.CONFIG_FILE))
    new = config_to_dict(config)
    changed = [
        f"{key}: {old!r} -> {value!r}"
        for section in ("model", "data")
        for key, old, value in _differences(stored[section], new[section], section)
    ]
    if changed:
        raise ModelDirError(
            f"{model_dir}: a resume keeps the model and data settings it was trained with; "
            f"changed: {'; '.join(changed)} (train a new model to change them)"
        )


def _differences(old: Any, new: Any, key: str) -> Iterator[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every leaf where two config mappings differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            yield from _differences(old.get(name), new.get(name), f"{key}.{name}")
    elif old != new:
        yield key, old, new


# What makes a directory hold a model: weights or a resumable state. A config.yaml alone is
# what a run leaves when it fails (or is killed) before its first checkpoint.
_MODEL_FILES = (ckpt.BEST_WEIGHTS, ckpt.LAST_WEIGHTS, ckpt.TRAINING_STATE)


def _restore_best(model_dir: Path) -> None:
    """Puts back the best weights a validation at the last stop replaced: an uninterrupted
    run never validated there, so its best model does not include that step."""
    before_stop = model_dir / ckpt.BEST_BEFORE_STOP
    if before_stop.is_file():
        before_stop.replace(model_dir / ckpt.BEST_WEIGHTS)


def _check_model_dir(model_dir: Path, resume: bool) -> None:
    if resume:
        if not (model_dir / ckpt.TRAINING_STATE).is_file():
            raise ModelDirError(
                f"{model_dir}: nothing to resume ({ckpt.TRAINING_STATE} missing); "
                "train without --resume first"
            )
    elif any((model_dir / name).exists() for name in _MODEL_FILES):
        raise ModelDirError(
            f"{model_dir}: already holds a model; use --resume to continue it or choose a new "
            "output directory"
        )
    else:  # at most a run that died before its first checkpoint: start afresh
        (model_dir / ckpt.METRICS_FILE).unlink(missing_ok=True)


def _restore(
    model_dir: Path, model: Seq2Seq, optimizer: torch.optim.Optimizer, schedule: LrSchedule
) -> Progress:
    state = ckpt.load_training_state(model_dir / ckpt.TRAINING_STATE)
    ckpt.load_weights(model, model_dir / ckpt.LAST_WEIGHTS)
    try:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        fields = dict(state["progress"])
        window = TokenStats(**fields.pop("window", {}))  # absent from older checkpoints
        progress = Progress(**fields, window=window)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelDirError(f"{model_dir / ckpt.TRAINING_STATE}: incompatible ({err})") from None
    logger.info(
        "resuming at step %d (epoch %d, batch %d)",
        progress.step,
        progress.epoch,
        progress.batch_in_epoch,
    )
    return progress


@contextmanager
def _stop_on_signals() -> Iterator[list[str]]:
    """Turns the first SIGINT/SIGTERM into a graceful stop; a second SIGINT interrupts."""
    received: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        signal.signal(signum, previous[signum])

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals cannot be caught here
        yield received
        return
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
