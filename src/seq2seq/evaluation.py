"""Corpus-level scores with sacrebleu, reported with their signatures.

Signatures say exactly how a score was computed (tokenization, smoothing, version), so a BLEU
printed here can be compared with one from another toolkit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from seq2seq.data.corpus import read_lines
from seq2seq.decoding.translator import Translator
from seq2seq.errors import DataError


@dataclass(frozen=True)
class Score:
    name: str
    score: float
    signature: str

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}  ({self.signature})"


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> list[Score]:
    """BLEU and chrF of ``hypotheses`` against one reference each (raw, untokenized text)."""
    if len(hypotheses) != len(references):
        raise DataError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must align"
        )
    scores = []
    for metric in (BLEU(), CHRF()):
        result = metric.corpus_score(list(hypotheses), [list(references)])
        scores.append(Score(result.name, result.score, str(metric.get_signature())))
    return scores


def evaluate_files(
    translator: Translator, src_path: Path, ref_path: Path, **search: object
) -> tuple[list[Score], list[str]]:
    """Translates ``src_path`` and scores it against ``ref_path`` (line-aligned files).

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
    return translate_and_score(translator, sources, references, **search)


def translate_and_score(
    translator: Translator, sources: Sequence[str], references: Sequence[str], **search: object
) -> tuple[list[Score], list[str]]:
    """Translates ``sources`` and scores the output against ``references`` (aligned).

    Returns:
        The scores and the hypotheses, in input order.
    """
    hypotheses = [t.text for t in translator.translate(sources, **search)]
    return corpus_scores(hypotheses, references), hypotheses
