"""Evaluation: translate sources with the one Translator, then score with the task's metrics.

The metrics themselves live in :mod:`seq2seq.metrics`; each score carries a signature saying
exactly how it was computed (tokenization, smoothing, stemmer, version), so a number printed
here can be compared with one from another toolkit. Sources come from two line-aligned files
(:func:`evaluate_files`) or from a split of a model's own data config (:func:`evaluate_split`),
read exactly as training read it (QA fields joined with ``<sep>``, ``data.languages`` applied).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seq2seq.config import DataConfig
from seq2seq.data.corpus import read_lines
from seq2seq.data.pipeline import read_data_split
from seq2seq.decoding.translator import Translator
from seq2seq.errors import DataError
from seq2seq.metrics import TASK_METRICS, Score, score_all

__all__ = ["Score", "corpus_scores", "evaluate_files", "evaluate_split", "translate_and_score"]

TRANSLATION_METRICS = TASK_METRICS["translation"]


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """BLEU and chrF of ``hypotheses`` against one reference each (raw, untokenized text)."""
    return score_all(hypotheses, references, TRANSLATION_METRICS)


def evaluate_files(
    translator: Translator,
    src_path: Path,
    ref_path: Path,
    *,
    metrics: Sequence[str] = TRANSLATION_METRICS,
    **search: object,
) -> tuple[list[Score], list[str]]:
    """Translates ``src_path`` and scores it against ``ref_path`` (line-aligned files).

    Args:
        translator: The model to evaluate.
        src_path: Source text, one input a line (as ``seq2seq translate`` reads it).
        ref_path: One reference a line.
        metrics: Names from :data:`seq2seq.metrics.METRICS`.
        search: ``SearchConfig`` overrides (``beam_size=5``).

    Returns:
        The scores and the hypotheses, in file order.
    """
    sources = list(read_lines(src_path))
    references = list(read_lines(ref_path))
    if len(sources) != len(references):
        raise DataError(
            f"{src_path} has {len(sources)} lines but {ref_path} has {len(references)}: "
            "source and reference files must have the same number of lines"
        )
    return translate_and_score(translator, sources, references, metrics=metrics, **search)


def evaluate_split(
    translator: Translator,
    data: DataConfig,
    split: str,
    *,
    metrics: Sequence[str] | None = None,
    **search: object,
) -> tuple[list[Score], list[str]]:
    """Translates the ``dev`` or ``test`` split of a data config and scores it.

    Args:
        translator: The model to evaluate.
        data: The model's own ``data`` section, so the split is read as training read it.
        split: ``"dev"`` or ``"test"``.
        metrics: Names from :data:`seq2seq.metrics.METRICS`; default: those of ``data.task``.
        search: ``SearchConfig`` overrides.

    Returns:
        The scores and the hypotheses, in file order.
    """
    pairs = read_data_split(data, split)
    chosen = TASK_METRICS[data.task] if metrics is None else metrics
    return translate_and_score(
        translator, [p.src for p in pairs], [p.tgt for p in pairs], metrics=chosen, **search
    )


def translate_and_score(
    translator: Translator,
    sources: Sequence[str],
    references: Sequence[str],
    *,
    metrics: Sequence[str] = TRANSLATION_METRICS,
    **search: object,
) -> tuple[list[Score], list[str]]:
    """Translates ``sources`` and scores the output against ``references`` (aligned).

    Sources starting with a language tag (``<2de> ...``) add per-language scores.

    Returns:
        The scores and the hypotheses, in input order.
    """
    hypotheses = [t.text for t in translator.translate(sources, **search)]
    return score_all(hypotheses, references, metrics, sources), hypotheses
