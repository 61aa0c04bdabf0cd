"""Generated toy tasks: the first proof that a model learns (Annotated Transformer, Joey NMT).

Sources are random sequences of numbered symbols; the target is the source reversed, copied or
sorted. Generation depends only on the seed and sizes, so every run sees the same data.
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
}


def generate_pairs(task: str, count: int, cfg: ToyConfig, seed: int) -> list[tuple[str, str]]:
    """``count`` (source, target) pairs of space-separated symbols ``"0" .. "num_symbols-1"``."""
    rng = random.Random(seed)
    transform = TOY_TASKS[task]
    pairs = []
    for _ in range(count):
        length = rng.randint(cfg.min_len, cfg.max_len)
        seq = [str(rng.randrange(cfg.num_symbols)) for _ in range(length)]
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
            lines = "".join(
                f"{s}\t{t}\n" for s, t in generate_pairs(task, count, cfg, cfg.seed * 3 + offset)
            )
            tmp = path.with_suffix(".tmp")
            tmp.write_text(lines, encoding="utf-8")
            tmp.replace(path)
        paths[split] = path
    return paths
