"""Task metrics: text hypotheses and references in, corpus-level scores with signatures out.

The last step of evaluation (``seq2seq evaluate``, :mod:`seq2seq.evaluation`): the Translator has
produced one hypothesis per source line, and each metric here compares them with one reference
each. Every :class:`Score` carries a signature saying exactly how it was computed, so a number
printed here can be compared with one from another toolkit.

- ``bleu``, ``chrf``: sacrebleu (Post, 2018, https://aclanthology.org/W18-6319), on raw text.
- ``rouge``: ROUGE-1/2/L F1 (Lin, 2004) from Google's ``rouge-score`` with the Porter stemmer,
  averaged over the pairs, as See et al. (2017, https://arxiv.org/abs/1704.04368) report.
- ``em``, ``f1``: exact match and token-overlap F1 after SQuAD's answer normalisation
  (Rajpurkar et al., 2016, https://arxiv.org/abs/1606.05250), averaged over the pairs.

Each task has default metrics (:data:`TASK_METRICS`); multilingual data (sources starting with a
``<2xx>`` tag) also gets each metric per target language (:func:`score_all`).
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from seq2seq.data.languages import group_by_language
from seq2seq.errors import DataError, InputError

METRICS = ("bleu", "chrf", "rouge", "em", "f1")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "translation": ("bleu", "chrf"),
    "summarization": ("rouge",),
    "qa": ("em", "f1"),
}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_ROUGE_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SQUAD_NORMALISATION = (
    "SQuAD normalisation: lowercase, punctuation and articles a/an/the removed, "
    "whitespace collapsed"
)


@dataclass(frozen=True)
class Score:
    """One corpus-level score on a 0-100 scale.

    Attributes:
        name: What was measured, e.g. ``"BLEU"``, ``"ROUGE-L"``, ``"F1 [de]"`` (one language).
        score: The value, 0-100.
        signature: How it was computed (implementation, version, options, pairs averaged).
    """

    name: str
    score: float
    signature: str

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}  ({self.signature})"


def parse_metrics(text: str) -> tuple[str, ...]:
    """Reads ``--metrics bleu,chrf``: names from :data:`METRICS`, in the order given.

    Raises:
        InputError: An unknown or repeated name, or none at all.
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    allowed = ", ".join(METRICS)
    if not names:
        raise InputError(f"--metrics {text!r}: name at least one of {allowed}")
    for name in names:
        if name not in METRICS:
            raise InputError(f"--metrics: unknown metric {name!r}; choose from {allowed}")
    if len(set(names)) < len(names):
        raise InputError(f"--metrics {text!r}: a metric is named twice")
    return tuple(names)


def score_all(
    hypotheses: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str],
    sources: Sequence[str] | None = None,
) -> list[Score]:
    """Every metric in ``metrics`` over all pairs, then per target language if tagged.

    Args:
        hypotheses: One output per line.
        references: One reference per line, aligned with ``hypotheses``.
        metrics: Names from :data:`METRICS`.
        sources: The source lines; when some start with a language tag (``<2de> ...``), each
            metric is also computed on each language's lines, named e.g. ``"BLEU [de]"``.

    Raises:
        DataError: The lists differ in length or are empty.
    """
    _check_aligned(hypotheses, references)
    scores = [s for name in metrics for s in _METRIC_FUNCTIONS[name](hypotheses, references)]
    for language, lines in group_by_language(sources or []).items():
        hyps = [hypotheses[i] for i in lines]
        refs = [references[i] for i in lines]
        for name in metrics:
            scores += [
                dataclasses.replace(s, name=f"{s.name} [{language}]")
                for s in _METRIC_FUNCTIONS[name](hyps, refs)
            ]
    return scores


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """Corpus BLEU (sacrebleu defaults: 13a tokenization, exponential smoothing)."""
    return [_sacrebleu(BLEU(), hypotheses, references)]


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """Corpus chrF (character n-gram F-score, beta 2; sacrebleu defaults)."""
    return [_sacrebleu(CHRF(), hypotheses, references)]


def _sacrebleu(metric: BLEU | CHRF, hypotheses: Sequence[str], refs: Sequence[str]) -> Score:
    result = metric.corpus_score(list(hypotheses), [list(refs)])
    return Score(result.name, result.score, str(metric.get_signature()))


def rouge(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1, each the mean over pairs of the per-pair F1, x100.

    ``rouge-score`` lowercases, keeps ``[a-z0-9]`` runs as tokens and stems those longer than
    three letters with Porter's stemmer; ROUGE-L is the sentence-level longest common
    subsequence (``rougeL``, not the newline-split ``rougeLsum``).
    """
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        pair = scorer.score(reference, hypothesis)  # rouge-score takes (target, prediction)
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += pair[rouge_type].fmeasure
    signature = (
        f"rouge-score {version('rouge-score')}|F1|mean of {len(hypotheses)} pairs|"
        "stemmer:porter|tokenize:lowercase [a-z0-9]+"
    )
    return [
        Score(_ROUGE_NAMES[t], 100 * totals[t] / len(hypotheses), signature) for t in ROUGE_TYPES
    ]


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lowercase, drop ASCII punctuation, drop the articles
    a/an/the, collapse whitespace (the official evaluation script's ``normalize_answer``)."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of two normalised answers, in [0, 1].

    Two answers that normalise to nothing match (F1 1); one empty side scores 0, as in the
    SQuAD 2.0 evaluation script.
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """Percentage of hypotheses equal to their reference after :func:`normalize_answer`."""
    matches = sum(
        normalize_answer(h) == normalize_answer(r)
        for h, r in zip(hypotheses, references, strict=True)
    )
    signature = f"{_SQUAD_NORMALISATION}|mean of {len(hypotheses)} pairs"
    return [Score("EM", 100 * matches / len(hypotheses), signature)]


def token_f1(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """Mean of :func:`answer_f1` over the pairs, x100."""
    total = sum(answer_f1(h, r) for h, r in zip(hypotheses, references, strict=True))
    signature = f"token overlap F1|{_SQUAD_NORMALISATION}|mean of {len(hypotheses)} pairs"
    return [Score("F1", 100 * total / len(hypotheses), signature)]


_METRIC_FUNCTIONS: dict[str, Callable[[Sequence[str], Sequence[str]], list[Score]]] = {
    "bleu": bleu,
    "chrf": chrf,
    "rouge": rouge,
    "em": exact_match,
    "f1": token_f1,
}


def _check_aligned(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise DataError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must align"
        )
    if not hypotheses:
        raise DataError("no hypotheses to score: give at least one source line")
