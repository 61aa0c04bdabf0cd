"""What the peer runners share: the data directory, step timing, the JSON line, threads.

Runs inside ``benchmarks/.venv-peers`` (never imports ``seq2seq``). The data directory is the
one ``benchmarks/peer_data.py`` writes: ``train.src``, ``train.tgt``, ``test.src`` (pieces
separated by spaces) and ``vocab.txt`` (our specials ``<pad> <unk> <s> </s>`` first).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

PEERS_DIR = Path(__file__).resolve().parent
OUR_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
WARMUP_FRACTION = 0.1  # share of the steps dropped from a training-speed figure


class PeerError(Exception):
    """A peer cannot be run as asked; the message becomes the JSON ``error``."""


def load_template(name: str) -> dict[str, Any]:
    """Load ``benchmarks/peers/{name}.yaml``, a peer config with the paths left empty."""
    with (PEERS_DIR / f"{name}.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def write_yaml(path: Path, cfg: dict[str, Any]) -> Path:
    """Write ``cfg`` as YAML to ``path`` and return the path."""
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def check_data_dir(data_dir: Path, *names: str) -> None:
    """Raise PeerError unless ``data_dir`` holds every file in ``names``."""
    missing = [n for n in names if not (data_dir / n).is_file()]
    if missing:
        raise PeerError(
            f"{data_dir}: missing {', '.join(missing)}; write it with "
            f"`.venv/bin/python benchmarks/peer_data.py --out {data_dir}`"
        )


def write_peer_vocab(data_dir: Path, out: Path) -> int:
    """Write ``vocab.txt`` without our 4 specials to ``out``; the peers add their own.

    Both peers put their specials first (Joey: ``<unk> <pad> <s> </s>``, OpenNMT-py:
    ``<unk> <blank> <s> </s>``), so the vocabulary size stays the same as ours.

    Returns:
        The number of pieces written.
    """
    check_data_dir(data_dir, "vocab.txt")
    tokens = (data_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if tuple(tokens[:4]) != OUR_SPECIALS:
        raise PeerError(f"{data_dir / 'vocab.txt'}: the first 4 lines must be {OUR_SPECIALS}")
    out.write_text("".join(f"{tok}\n" for tok in tokens[4:]), encoding="utf-8")
    return len(tokens) - 4


def head_lines(src: Path, dst: Path, n: int) -> list[str]:
    """Copy the first ``n`` lines of ``src`` to ``dst``; return them (without newlines)."""
    with src.open(encoding="utf-8") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(n), f, strict=False)]
    dst.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return lines


def fresh_dir(path: Path) -> Path:
    """Empty ``path`` (creating it) and return it."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def set_threads(threads: int) -> None:
    """Give torch ``threads`` intra-op threads (the peers' only parallelism on CPU)."""
    import torch

    torch.set_num_threads(threads)


def count_params(module: Any) -> int:
    """Parameters of a torch module, each tied tensor counted once."""
    unique = {id(p): p for p in module.parameters()}
    return sum(p.numel() for p in unique.values())


def count_real(ids: Any, skip_ids: set[int]) -> int:
    """Positions of an id tensor that hold real pieces (not padding, BOS or EOS)."""
    mask = None
    for skip in skip_ids:
        keep = ids != skip
        mask = keep if mask is None else mask & keep
    return int(mask.sum()) if mask is not None else int(ids.numel())


@dataclass
class StepClock:
    """Times training steps from the outside of a peer's loop.

    ``start(tokens)`` is called as each step begins, ``stop()`` after the last one ends. A
    step's time runs from its start to the next step's start, so data loading, the optimizer
    update and logging all count, as they do in a real run.
    """

    starts: list[float] = field(default_factory=list)
    src_tokens: list[int] = field(default_factory=list)
    tgt_tokens: list[int] = field(default_factory=list)
    end: float | None = None

    def start(self, src_tokens: int, tgt_tokens: int) -> None:
        self.starts.append(time.perf_counter())
        self.src_tokens.append(src_tokens)
        self.tgt_tokens.append(tgt_tokens)

    def stop(self) -> None:
        self.end = time.perf_counter()

    def summary(self) -> dict[str, Any]:
        """Throughput over the steps after the first ``WARMUP_FRACTION`` of them."""
        steps = len(self.starts)
        if self.end is None or steps < 2:
            raise PeerError(f"the peer ran {steps} timed step(s); need at least 2")
        skip = min(steps - 1, max(1, math.ceil(WARMUP_FRACTION * steps)))
        seconds = self.end - self.starts[skip]
        src, tgt = sum(self.src_tokens[skip:]), sum(self.tgt_tokens[skip:])
        return {
            "tok_s": round((src + tgt) / seconds, 1),
            "src_tok_s": round(src / seconds, 1),
            "tgt_tok_s": round(tgt / seconds, 1),
            "steps": steps,
            "warmup_steps_dropped": skip,
            "timed_steps": steps - skip,
            "timed_seconds": round(seconds, 3),
            "timed_src_tokens": src,
            "timed_tgt_tokens": tgt,
            "sec_per_step": round(seconds / (steps - skip), 4),
        }


@contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Send everything written to fd 1 (Python or C++) to stderr; yield the real stdout.

    The peers log and print freely; the caller parses exactly one JSON line from stdout.
    """
    sys.stdout.flush()
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    real_stdout = os.fdopen(saved_fd, "w", encoding="utf-8")
    try:
        yield real_stdout
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        real_stdout.close()


def emit(out: TextIO, result: dict[str, Any]) -> None:
    """Write ``result`` as the one JSON line on ``out``."""
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()


def versions() -> dict[str, str]:
    """Versions of the packages that matter for the figures."""
    import importlib.metadata as md

    found = {}
    for name in ("torch", "joeynmt", "OpenNMT-py", "ctranslate2"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return found


def decode_result(lengths: list[int], seconds: float, force_len: int) -> dict[str, Any]:
    """The decode-speed figures shared by every system."""
    tokens = sum(lengths)
    result: dict[str, Any] = {
        "tok_s": round(tokens / seconds, 1),
        "sents_s": round(len(lengths) / seconds, 2),
        "sentences": len(lengths),
        "tgt_tokens": tokens,
        "seconds": round(seconds, 3),
    }
    if any(length != force_len for length in lengths):
        result["warning"] = (
            f"output lengths {min(lengths)}..{max(lengths)}, not all {force_len}: "
            "the forced length did not hold"
        )
    return result
