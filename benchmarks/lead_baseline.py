"""Lead-N baseline for summarization: the first N sentences of the source as the summary.

The floor every summarization model must beat (See et al. 2017 report lead-3 on CNN/Daily
Mail). It is scored with the same ROUGE function as ``seq2seq evaluate``
(:func:`seq2seq.metrics.rouge`: rouge-score, Porter stemmer, mean F1), so its rows compare with
a model's. Reads a ``source<TAB>target`` TSV (plain or .gz) such as a split of the built-in
``debian-summaries`` corpus. Run by hand; results go in docs/benchmarks.md.

    .venv/bin/python benchmarks/lead_baseline.py ~/.cache/seq2seq-kit/debian-summaries/test.tsv
    .venv/bin/python benchmarks/lead_baseline.py test.tsv --sentences 3
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from seq2seq.data.corpus import read_pairs
from seq2seq.errors import Seq2SeqError
from seq2seq.metrics import Score, rouge

# A sentence ends at . ! or ? followed by whitespace; "e.g. foo" splits too, as in lead-N
# baselines built on simple splitters. Kept simple on purpose: the baseline must be obvious.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead(text: str, sentences: int = 1) -> str:
    """The first ``sentences`` sentences of ``text``, whitespace collapsed.

    Example:
        ``lead("Fast tool. Written in C. Free.", 2)`` is ``"Fast tool. Written in C."``.
    """
    if sentences < 1:
        raise ValueError(f"sentences must be at least 1, got {sentences}")
    return " ".join(_SENTENCE_END.split(" ".join(text.split()))[:sentences])


def score_lead(tsv_path: Path | str, sentences: int = 1) -> list[Score]:
    """ROUGE-1/2/L F1 of the lead-``sentences`` baseline on a ``source<TAB>target`` TSV."""
    pairs = read_pairs(tsv_path)
    hypotheses = [lead(pair.src, sentences) for pair in pairs]
    scores = rouge(hypotheses, [pair.tgt for pair in pairs])
    return [Score(f"lead-{sentences} {s.name}", s.score, s.signature) for s in scores]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv", type=Path, help="source<TAB>target file (a test split)")
    parser.add_argument("--sentences", type=int, default=1, help="N of lead-N (default 1)")
    args = parser.parse_args(argv)
    if args.sentences < 1:
        parser.error("--sentences must be at least 1")
    try:
        scores = score_lead(args.tsv, args.sentences)
    except Seq2SeqError as err:
        print(f"lead_baseline: error: {err}", file=sys.stderr)
        return 2
    for score in scores:
        print(score)
    return 0


if __name__ == "__main__":
    sys.exit(main())
