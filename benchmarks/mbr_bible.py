"""Bible en->es: BLEU/chrF with and without minimum Bayes risk (MBR) decoding, on the test split.

Trains nothing: give a model directory trained on bible-en-es (``seq2seq train
bible-en-es/... -o DIR``). Translates the first ``--n`` sentences of the public test split
(default all 930) with the model's own beam search, then with MBR over the beam's n-best and,
with ``--sample``, over samples; prints one JSON line per run and a markdown table for
docs/benchmarks.md. Never touches the reserved books (the shipped test split holds Zeph, Mark,
Phil, Col only).

    .venv/bin/python benchmarks/mbr_bible.py runs/bible-lstm --candidates 16 --metric chrf
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import yaml

from seq2seq import Translator
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs
from seq2seq.evaluation import corpus_scores


def runs(args: argparse.Namespace, beam_size: int) -> list[tuple[str, dict[str, object]]]:
    """(label, Translator.translate overrides) of each decoding compared."""
    mbr = {"mbr": True, "mbr_candidates": args.candidates, "mbr_metric": args.metric}
    chosen = [
        (f"beam {beam_size}", {"beam_size": beam_size}),
        (f"MBR {args.metric}, beam {args.candidates}-best", {**mbr, "beam_size": beam_size}),
    ]
    if args.sample:
        sampling = {"sample": True, "temperature": args.temperature, "seed": args.seed}
        label = f"MBR {args.metric}, {args.candidates} samples (T={args.temperature:g})"
        chosen.append((label, {**mbr, **sampling}))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="a model trained on bible-en-es")
    parser.add_argument("--n", type=int, default=None, help="test sentences (default all)")
    parser.add_argument("--candidates", type=int, default=16, help="MBR candidates")
    parser.add_argument("--metric", choices=("chrf", "bleu"), default="chrf")
    parser.add_argument("--beam", type=int, default=None, help="default: the model's beam")
    parser.add_argument("--sample", action="store_true", help="also MBR over samples")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="batches decoded at once")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = yaml.safe_load((args.model_dir / "config.yaml").read_text())["data"]["corpus"]
    if corpus != "bible-en-es":
        parser.error(f"{args.model_dir} was trained on {corpus!r}, not bible-en-es")
    translator = Translator.load(args.model_dir)
    test = read_pairs(corpus_files("bible-en-es")["test"])[: args.n]
    sources, references = [p.src for p in test], [p.tgt for p in test]
    beam_size = args.beam or translator.search.beam_size
    print(
        f"model: {args.model_dir}, {len(test)} test sentences, machine: "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads"
    )
    rows = []
    for label, overrides in runs(args, beam_size):
        start = time.monotonic()
        decoded = translator.translate(sources, workers=args.workers, **overrides)
        hypotheses = [t.text for t in decoded]
        bleu, chrf = corpus_scores(hypotheses, references)
        rows.append(
            {
                "decoding": label,
                "bleu": round(bleu.score, 2),
                "chrf": round(chrf.score, 2),
                "seconds": round(time.monotonic() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print("\n| decoding | BLEU | chrF | seconds |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['decoding']} | {row['bleu']} | {row['chrf']} | {row['seconds']} |")
    print(f"\nsacrebleu: {bleu.signature}")


if __name__ == "__main__":
    main()
