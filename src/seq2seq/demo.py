"""``seq2seq demo``: the whole job on the built-in corpus in a few minutes.

Trains the shipped LSTM+attention config on English->Spanish Bible verses for a time budget,
shows a handful of held-out test verses beside their references, and scores the whole public
test split with BLEU and chrF. Everything goes through the same ``train`` and ``Translator`` a
user calls.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from seq2seq.config import load_config
from seq2seq.configs import resolve_config
from seq2seq.data.pipeline import read_split, split_paths
from seq2seq.decoding.translator import Translator
from seq2seq.evaluation import translate_and_score
from seq2seq.model_dir import check_new_model_dir
from seq2seq.training.trainer import train

SAMPLES = 5


def run_demo(config_name: str, minutes: float, out_dir: Path | None, out: TextIO) -> Path:
    """Trains for ``minutes``, prints sample translations and test scores; returns the model dir."""
    out_dir = out_dir or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    check_new_model_dir(out_dir)
    config = load_config(resolve_config(config_name), [f"train.max_minutes={minutes}"])
    corpus = config.data.corpus or "the configured corpus"
    out.write(f"Training {config_name} on {corpus} for {minutes:g} minutes into {out_dir}\n")
    out.flush()
    result = train(config, out_dir)
    out.write(f"Trained {result.steps} steps ({result.stop_reason}).\n\n")
    translator = Translator.load(out_dir)
    test_pairs = read_split(split_paths(config.data)["test"])
    beam = config.search.beam_size
    out.write(f"Translating the test split ({len(test_pairs)} sentences, beam {beam})...\n\n")
    out.flush()
    scores, hypotheses = translate_and_score(
        translator, [p.src for p in test_pairs], [p.tgt for p in test_pairs]
    )
    step = max(len(test_pairs) // SAMPLES, 1)
    for pair, hypothesis in list(zip(test_pairs, hypotheses, strict=True))[::step][:SAMPLES]:
        out.write(f"source:     {pair.src}\nreference:  {pair.tgt}\ntranslated: {hypothesis}\n\n")
    for score in scores:
        out.write(f"{score}\n")
    out.write(f"\nTry it: seq2seq translate {out_dir} <<< 'In the beginning was the Word.'\n")
    return out_dir
