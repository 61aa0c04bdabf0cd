"""Where decoding time goes, measured in place: every PyTorch operator of a real search, timed.

The PyTorch profiler inflates small operators 2-3x on this kind of machine, and a
microbenchmark of one operator runs with its data hot in cache, where a search step finds most
of it evicted by the other ~20 MB of weights it streams (our measurements: the same
``[32, 256] x [256, 256]`` product takes ~80 us alone and ~140 us inside a step). Here the
search runs as users run it (``Translator``, batches of ``--batch`` sentences, output forced to
``--force-len`` tokens as in ``decode_speed.py``), and a dispatch mode times each ATen operator
call where it happens, with ``perf_counter`` around the kernel only. It prints, per phase
(``encode``: the encoder and the cross-attention memory; ``step``: ``decode_step``; ``search``:
everything else the search and ``Translator`` do) and per operator, the milliseconds per batch
and per step and the calls per step.

The timing adds Python work around every operator, so the wall time it reports is about twice
a plain run's, and the ``between ops`` line is mostly the timer's own cost. Each operator's
time also includes calling it from Python (~5-10 us), which dominates for views, selects and
transposes; the products, attention, softmax and copies are what to read. One worker, one
thread (the per-worker view of ``decode_speed.py --workers 2``).

    .venv/bin/python benchmarks/step_profile.py --model transformer --beam 1
    .venv/bin/python benchmarks/step_profile.py --model lstm-if --beam 4 --precision int8
    .venv/bin/python benchmarks/step_profile.py --model transformer --precision bf16
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import speed_common as common
from decode_speed import ForcedLength, random_subjects, search_settings
from seq2seq import Translator
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs

PHASES = ("encode", "step", "search")


class OperatorTimer(TorchDispatchMode):
    """Adds each ATen call's wall time to ``seconds[(phase, operator)]``; ``phase`` is set
    by the caller while the model's ``encode`` or ``decode_step`` runs."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "search"
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        key = (self.phase, func.overloadpacket.__name__)
        self.seconds[key] += time.perf_counter() - start
        self.calls[key] += 1
        return out

    def __deepcopy__(self, memo: dict[int, Any]) -> OperatorTimer:
        # Translator decodes with a copy of the model (packed or int8 weights); that copy must
        # still report to this timer.
        return self


class PhaseMarking(torch.nn.Module):
    """Wraps the searched model so ``timer.phase`` says which of its calls is running."""

    def __init__(self, model: torch.nn.Module, timer: OperatorTimer) -> None:
        super().__init__()
        self.model, self.timer = model, timer

    def _in_phase(self, phase: str, call: Callable[..., Any], *args: Any) -> Any:
        self.timer.phase = phase
        try:
            return call(*args)
        finally:
            self.timer.phase = "search"

    def encode(self, *args: Any) -> Any:
        return self._in_phase("encode", self.model.encode, *args)

    def init_state(self, *args: Any) -> Any:  # projects the cross-attention memory
        return self._in_phase("encode", self.model.init_state, *args)

    def decode_step(self, *args: Any) -> Any:
        return self._in_phase("step", self.model.decode_step, *args)


def profile(args: argparse.Namespace) -> tuple[OperatorTimer, float, int]:
    """Runs the search once for warm-up and once timed; returns the timer, the timed run's
    wall seconds and its batch count."""
    torch.set_num_threads(1)
    codec = common.load_codec()
    subject = next(
        s
        for s in random_subjects(
            [args.model], codec, torch.device("cpu"), args.seed, ["int8", "bf16"]
        )
        if s.precision == args.precision and s.cached
    )
    timer = OperatorTimer()
    model = PhaseMarking(ForcedLength(subject.model, codec.tgt_vocab.eos_id), timer)
    args.natural, args.workers = False, 1
    search = search_settings(subject.search, args.beam, args).model_copy(
        update={"precision": subject.precision}
    )
    translator = Translator(model, codec, search)  # type: ignore[arg-type]
    sources = [pair.src for pair in read_pairs(corpus_files("bible-en-es")["test"])][: args.n]
    translator.translate(sources[: args.batch])  # warm-up: weights prepared, memory mapped
    with timer:
        start = time.perf_counter()
        translator.translate(sources)
        seconds = time.perf_counter() - start
    return timer, seconds, -(-len(sources) // args.batch)


def print_table(
    timer: OperatorTimer, seconds: float, batches: int, args: argparse.Namespace
) -> None:
    steps = args.force_len
    timed = sum(timer.seconds.values())
    print(
        f"{args.model} ({args.precision}), beam {args.beam}, batch {args.batch}, "
        f"{args.force_len} forced tokens, {batches} batches, 1 thread"
    )
    print(f"wall {seconds * 1000 / batches:.1f} ms/batch under the timer")
    print(f"{'phase':7} {'operator':44} {'ms/batch':>9} {'ms/step':>8} {'calls/step':>10}")
    for phase in PHASES:
        rows = sorted(
            ((op, s) for (p, op), s in timer.seconds.items() if p == phase),
            key=lambda row: -row[1],
        )
        total = sum(s for _, s in rows)
        print(f"{phase:7} {'(all operators)':44} {total * 1000 / batches:9.1f}")
        for op, s in rows[: args.top]:
            calls = timer.calls[(phase, op)] / batches / steps
            per_batch = s * 1000 / batches
            print(f"{'':7} {op:44} {per_batch:9.2f} {per_batch / steps:8.3f} {calls:10.1f}")
    between = (seconds - timed) * 1000 / batches
    print(f"{'':7} {'between ops (Python, dispatch, timer)':44} {between:9.1f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(common.MODEL_DESCRIPTIONS), default="transformer")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--precision", choices=("fp32", "int8", "bf16"), default="fp32")
    parser.add_argument("--n", type=int, default=320, help="first n test sentences")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--force-len", type=int, default=25)
    parser.add_argument("--top", type=int, default=12, help="operators listed per phase")
    parser.add_argument("--seed", type=int, default=1234)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    timer, seconds, batches = profile(args)
    print_table(timer, seconds, batches, args)


if __name__ == "__main__":
    main()
