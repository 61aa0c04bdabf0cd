"""Bible en->es quality at a fixed wall-clock budget: BLEU/chrF on the public test split.

Trains each shipped config for the same number of minutes, one after the other (so each run has
the machine to itself), then translates the test split greedily and with the config's beam and
prints a markdown table. Run by hand; results go in docs/benchmarks.md.

    .venv/bin/python benchmarks/quality_bible.py --minutes 20 --out runs/quality
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import torch

from seq2seq import Translator, load_config, train
from seq2seq.configs import resolve_config
from seq2seq.data.pipeline import read_split, split_paths
from seq2seq.evaluation import translate_and_score

CONFIGS = ["bible-en-es/lstm-plain", "bible-en-es/lstm-attention", "bible-en-es/gru-bahdanau"]


def run_one(name: str, minutes: float, out: Path, threads: int) -> dict[str, object]:
    overrides = [f"train.max_minutes={minutes}", f"train.threads={threads}", "train.progress=false"]
    config = load_config(resolve_config(name), overrides)
    model_dir = out / name.replace("/", "_")
    start = time.monotonic()
    result = train(config, model_dir)
    train_s = time.monotonic() - start
    translator = Translator.load(model_dir)
    test = read_split(split_paths(config.data)["test"])
    refs = [p.tgt for p in test]
    row: dict[str, object] = {"config": name, "steps": result.steps, "train_s": round(train_s)}
    for label, beam in (("greedy", 1), (f"beam{config.search.beam_size}", config.search.beam_size)):
        start = time.monotonic()
        sources = [p.src for p in test]
        bleu, chrf = translate_and_score(translator, sources, refs, beam_size=beam)[0]
        row[f"{label}_bleu"], row[f"{label}_chrf"] = round(bleu.score, 2), round(chrf.score, 2)
        row[f"{label}_s"] = round(time.monotonic() - start, 1)
        row["signature"] = bleu.signature
    row["params"] = sum(
        p.numel() for p in {id(p): p for p in translator.model.parameters()}.values()
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads, {args.minutes:g} min per config"
    )
    rows = []
    for name in args.configs:
        rows.append(run_one(name, args.minutes, args.out, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    beam = next(k for k in rows[0] if k.startswith("beam") and k.endswith("_bleu")).removesuffix(
        "_bleu"
    )
    print(f"\n| config | params | steps | greedy BLEU | greedy chrF | {beam} BLEU | {beam} chrF |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['params']:,} | {r['steps']} | {r['greedy_bleu']} | "
            f"{r['greedy_chrf']} | {r[f'{beam}_bleu']} | {r[f'{beam}_chrf']} |"
        )
    print(f"\nsacrebleu: {rows[0]['signature']}")


if __name__ == "__main__":
    main()
