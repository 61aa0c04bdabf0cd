"""Generated toy tasks: the first proof that a model learns (Annotated Transformer, Joey NMT).

Sources are random sequences of numbered symbols; the target is the source reversed, copied or
sorted. Generation depends only on the seed and sizes, so every run sees the same data.

``copy-unseen`` tests a pointer-generator (``model.copy``): training uses symbols
``0 .. num_symbols-1`` only, while every dev/test sequence also holds symbols
``num_symbols .. 2*num_symbols-1``, never seen in training and so outside a word vocabulary;
only a model that copies can reproduce them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from seq2seq.config import ToyConfig

TOY_TASKS: dict[str, Callable[[list[str]], list[str]]] = {
    "reverse": lambda seq: seq[::-1],
    "copy": lambda seq: list(seq),
    "sort": lambda seq: sorted(seq, key=int),
    "copy-unseen": lambda seq: list(seq),
}
UNSEEN_SYMBOL_TASKS = {"copy-unseen"}  # dev/test also draw symbols never seen in training


def _sequence(rng: random.Random, cfg: ToyConfig, unseen: bool) -> list[str]:
    """Random symbols; with ``unseen``, from twice the symbols and at least one unseen one."""
    length = rng.randint(cfg.min_len, cfg.max_len)
    symbols = cfg.num_symbols * (2 if unseen else 1)
    seq = [str(rng.randrange(symbols)) for _ in range(length)]
    if unseen:
        seq[rng.randrange(length)] = str(cfg.num_symbols + rng.randrange(cfg.num_symbols))
    return seq


def generate_pairs(
    task: str, count: int, cfg: ToyConfig, seed: int, unseen: bool = False
) -> list[tuple[str, str]]:
    """``count`` (source, target) pairs of space-separated symbols ``"0" .. "num_symbols-1"``
    (with ``unseen``, also ``num_symbols .. 2*num_symbols-1``: at least one per sequence)."""
    rng = random.Random(seed)
    transform = TOY_TASKS[task]
    pairs = []
    for _ in range(count):
        seq = _sequence(rng, cfg, unseen)
        pairs.append((" ".join(seq), " ".join(transform(seq))))
    return pairs


def write_toy_splits(task: str, cfg: ToyConfig, out_dir: Path) -> dict[str, Path]:
    """Writes ``train/dev/test.tsv`` once per (task, sizes); later calls reuse them."""
    sizes = {"train": cfg.num_train, "dev": cfg.num_valid, "test": cfg.num_test}
    paths = {}
    for offset, (split, count) in enumerate(sizes.items()):
        path = out_dir / f"{split}.tsv"
        if not path.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            unseen = task in UNSEEN_SYMBOL_TASKS and split != "train"
            pairs = generate_pairs(task, count, cfg, cfg.seed * 3 + offset, unseen)
            lines = "".join(f"{s}\t{t}\n" for s, t in pairs)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(lines, encoding="utf-8")
            tmp.replace(path)
        paths[split] = path
    return paths
