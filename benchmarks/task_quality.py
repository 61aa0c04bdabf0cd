"""Summarization, question answering and multilingual translation at one wall-clock budget.

Trains every shipped task config side by side (one process each, all at once, so every run sees
the same machine), then scores each on its corpus' test split with the metric its field reports
(``seq2seq evaluate --split test``: ROUGE for summaries, exact match / F1 for QA, BLEU / chrF per
language for gettext-multi) and prints one table. The corpora must be prepared first
(``seq2seq data prepare NAME``; ``SEQ2SEQ_CACHE`` says where).

The pointer-generator runs in two phases as See et al. (2017) trained it: most of the budget
without the coverage loss, the last fifth with ``train.coverage_loss_weight=1.0``.

Example (one GPU, five minutes a model)::

    SEQ2SEQ_CACHE=cache python benchmarks/task_quality.py --minutes 5 --device cuda --out runs/tasks
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SEQ2SEQ = [sys.executable, "-m", "seq2seq.cli"]
COVERAGE_PHASE = 0.2  # share of the pointer-generator's budget trained with the coverage loss


@dataclass(frozen=True)
class Run:
    """One model to train and score.

    Attributes:
        name: Directory name and table label.
        config: Shipped config name.
        overrides: Extra ``key=value`` items for ``seq2seq train``.
        coverage_phase: Finish with the coverage loss switched on (pointer-generator).
    """

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    coverage_phase: bool = False
    corpus: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus", self.config.split("/")[0])


RUNS = (
    Run("summaries-lstm-attention", "debian-summaries/lstm-attention"),
    Run("summaries-pointer-generator", "debian-summaries/pointer-generator", coverage_phase=True),
    Run("summaries-transformer", "debian-summaries/transformer"),
    Run("cloze-lstm-attention", "debian-cloze-qa/lstm-attention"),
    Run("cloze-pointer-generator", "debian-cloze-qa/pointer-generator"),
    Run("cloze-transformer", "debian-cloze-qa/transformer"),
    Run("faq-transformer", "debian-faq-qa/transformer"),
    Run("gettext-multilingual", "gettext-multi/transformer"),
    Run("gettext-de", "gettext-multi/transformer-de"),
    Run("gettext-fr", "gettext-multi/transformer-fr"),
    Run("gettext-es", "gettext-multi/transformer-es"),
)


def train_commands(run: Run, out: Path, args: argparse.Namespace) -> list[list[str]]:
    """The ``seq2seq train`` command(s) of one run: one phase, or two for coverage."""
    model_dir = str(out / run.name)
    common = [f"train.device={args.device}", *args.set, "--no-progress"]
    first = args.minutes * (1 - COVERAGE_PHASE) if run.coverage_phase else args.minutes
    commands = [[*SEQ2SEQ, "train", run.config, "-o", model_dir, *run.overrides, *common,
                 "--max-minutes", str(first)]]  # fmt: skip
    if run.coverage_phase:
        commands.append([*SEQ2SEQ, "train", "--resume", model_dir,
                         "train.coverage_loss_weight=1.0", *common,
                         "--max-minutes", str(args.minutes - first)])  # fmt: skip
    return commands


def start_run(run: Run, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """Trains and then evaluates one run in a background shell, logging to ``out/NAME.log``."""
    out = args.out
    evaluate = [*SEQ2SEQ, "evaluate", str(out / run.name), "--split", "test",
                "--device", args.device, "--batch-size", str(args.eval_batch),
                "--beam", str(args.eval_beam),
                "--hyp-output", str(out / f"{run.name}.hyp")]  # fmt: skip
    steps = [*train_commands(run, out, args), evaluate]
    script = " && ".join(" ".join(map(_quote, cmd)) for cmd in steps)
    script += f" > {_quote(str(out / run.name))}.scores"
    log = open(out / f"{run.name}.log", "wb")  # noqa: SIM115 (closed when the process ends)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    return subprocess.Popen(["bash", "-c", script], stdout=log, stderr=log, env=env)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def last_step(model_dir: Path) -> int | None:
    """The last logged training step (``metrics.jsonl``), or None when nothing was logged."""
    path = model_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    steps = [json.loads(line).get("step") for line in path.read_text().splitlines() if line]
    return max((s for s in steps if isinstance(s, int)), default=None)


def run_all(runs: list[Run], args: argparse.Namespace) -> dict[str, int]:
    """Runs ``runs``, at most ``args.parallel`` at a time (0: all at once); their exit codes."""
    limit = args.parallel or len(runs)
    pending, running, codes = list(runs), {}, {}
    while pending or running:
        while pending and len(running) < limit:
            run = pending.pop(0)
            running[run.name] = start_run(run, args)
        time.sleep(1)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                codes[name] = proc.returncode
                del running[name]
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per model")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cuda")
    parser.add_argument("--out", type=Path, required=True, help="folder for models and logs")
    parser.add_argument("--runs", help="comma list of run names (default: all)")
    parser.add_argument("--eval-batch", type=int, default=64, help="sentences decoded together")
    parser.add_argument("--eval-beam", type=int, default=4, help="beam size of the test decoding")
    parser.add_argument("--parallel", type=int, default=0, help="runs at a time (0 = all)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run"
    )
    args = parser.parse_args()
    chosen = set(args.runs.split(",")) if args.runs else {r.name for r in RUNS}
    unknown = chosen - {r.name for r in RUNS}
    if unknown:
        parser.error(f"unknown run(s) {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    codes = run_all([r for r in RUNS if r.name in chosen], args)
    print(f"all runs ended after {time.time() - start:.0f} s\n")
    print("| run | config | steps | test scores |")
    print("|---|---|---|---|")
    for run in RUNS:
        if run.name not in codes:
            continue
        scores_file = args.out / f"{run.name}.scores"
        if codes[run.name] != 0:
            tail = (args.out / f"{run.name}.log").read_text(errors="replace").strip()
            scores = "failed: " + (tail.splitlines()[-1] if tail else f"exit {codes[run.name]}")
        else:
            lines = scores_file.read_text().splitlines()
            scores = "; ".join(line.split("  (")[0] for line in lines if line.strip())
        print(f"| {run.name} | {run.config} | {last_step(args.out / run.name)} | {scores} |")


if __name__ == "__main__":
    main()
