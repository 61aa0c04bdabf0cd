"""Training throughput: source+target tokens per second, ours against plain PyTorch and peers.

Every system trains on the Bible en->es training split in the same joint sentencepiece 8k
pieces. Our models and the plain-PyTorch references (``reference_models.py``) train on the
very same batches (our ``BucketBatchSampler``, ~4096 padded tokens, epoch 0 of a fixed seed),
one full step each (forward, backward, clipping, Adam), with the batch collated inside the
timed loop as the trainer does. The first ``--warmup`` steps are not timed. Joey NMT and
OpenNMT-py train the same shapes through ``benchmarks/peers/run_peer.py`` in their own venv
(their own batching of 4096 tokens; they drop the first 10% of their steps).

Models (``speed_common.MODEL_DESCRIPTIONS``): ``transformer`` is the shipped
``bible-en-es/transformer``; ``lstm`` is PEERS.md's LSTM + attention (dot attention, no input
feeding), as ``reference_models.ReferenceLSTMAttention``; ``lstm-if`` (general attention with
input feeding) is the shape the peers' LSTM configs actually run, so their rows sit there.

Tokens are counted as the peers count them: the sentencepiece pieces of source and target,
no BOS/EOS, no padding. MFU is the FLOPs of one training step on a real batch (forward and
backward, counted with ``torch.utils.flop_counter.FlopCounterMode``) per token, times tokens
per second, over the matmul peak measured in this run (2048x2048, threads as set, best of 5, at
the start and at the end): fp32, or bf16 for bf16 rows where bf16 is fast. A peer's MFU uses
our FLOPs per token for the same shape (marked ``~``). Where bf16 is emulated (no AMX or
AVX-512-BF16, as on an AVX2-only CPU) a step takes minutes: only our Transformer is timed, for
``--bf16-steps`` steps.

    .venv/bin/python benchmarks/train_speed.py --steps 40 --warmup 5
    .venv/bin/python benchmarks/train_speed.py --steps 5 --warmup 2 --only ours --no-peers
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import speed_common as common
from reference_models import build_reference, reference_loss
from seq2seq.data.batching import Batch, BucketBatchSampler, collate
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs
from seq2seq.data.pipeline import Example
from seq2seq.device import autocast, fast_bf16
from seq2seq.host_memory import keep_freed_memory
from seq2seq.models import build_model
from seq2seq.training.optim import build_optimizer, build_schedule
from seq2seq.training.trainer import batch_loss

OURS, REFERENCE = "seq2seq-kit", "plain PyTorch"
PEER_NAMES = {"joey": "Joey NMT", "opennmt": "OpenNMT-py"}
REFERENCE_MODELS = ("transformer", "lstm")  # reference_models.py has no input-feeding LSTM


@dataclass
class Trainee:
    """A model and the function that runs one full training step of it on a batch."""

    model: nn.Module
    step: Callable[[Batch], None]


@dataclass
class Job:
    """One row to measure."""

    system: str
    model: str
    precision: str = "fp32"


def build_ours(
    model: str, vocab_size: int, pad_id: int, device: torch.device, precision: str
) -> Trainee:
    """Our model and the trainer's step (``seq2seq.training.trainer._Loop._train_step``)."""
    config = common.our_config(model)
    tcfg = config.train
    net = build_model(config.model, vocab_size, vocab_size, pad_id).to(device).train()
    optimizer = build_optimizer(net, tcfg)
    schedule = build_schedule(optimizer, tcfg)
    counter = itertools.count()

    def step(batch: Batch) -> None:
        schedule.step(next(counter))
        with autocast(device, precision):
            loss, stats = batch_loss(net, batch, tcfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        (loss / max(stats.tokens, 1)).backward()
        if tcfg.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(net.parameters(), tcfg.clip_grad_norm)
        optimizer.step()

    return Trainee(net, step)


def build_plain(
    model: str, vocab_size: int, pad_id: int, device: torch.device, precision: str
) -> Trainee:
    """A reference model with the textbook step: loss, ``zero_grad``, backward, clip, Adam."""
    net = build_reference(model, vocab_size, pad_id).to(device).train()
    config = common.our_config(model)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=config.train.lr, betas=config.train.adam_betas
    )
    smoothing = config.train.label_smoothing

    def step(batch: Batch) -> None:
        with autocast(device, precision):
            logits = net(batch.src, batch.src_lengths, batch.tgt_in)
            loss = reference_loss(logits, batch.tgt_out, batch.pad_id, smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()

    return Trainee(net, step)


BUILDERS = {OURS: build_ours, REFERENCE: build_plain}


def training_batches(
    examples: list[Example], count: int, batch_tokens: int, seed: int
) -> list[list[Example]]:
    """The first ``count`` batches of epoch 0, as the trainer's sampler makes them."""
    lengths = [max(len(s), len(t)) + 1 for s, t in examples]
    sampler = BucketBatchSampler(lengths, batch_tokens=batch_tokens, shuffle=True, seed=seed)
    indices = sampler.batches(0)
    if len(indices) < count:
        raise SystemExit(f"asked for {count} batches; one epoch has {len(indices)}")
    return [[examples[i] for i in batch] for batch in indices[:count]]


def pieces(examples: list[Example]) -> int:
    """Source + target pieces (no specials, no padding)."""
    return sum(len(s) + len(t) for s, t in examples)


class Measurer:
    """Times jobs on fixed batches; counts FLOPs once per (system, model)."""

    def __init__(
        self, batches: list[list[Example]], specials: dict[str, int], args: argparse.Namespace
    ) -> None:
        self.batches, self.specials, self.args = batches, specials, args
        self.device = torch.device(args.device)
        self.flops_per_token: dict[tuple[str, str], float] = {}

    def collate(self, examples: list[Example]) -> Batch:
        return collate(examples, **self.specials).to(self.device)

    def time_steps(
        self, trainee: Trainee, warmup: list[list[Example]], timed: list[list[Example]]
    ) -> float:
        """Seconds for the ``timed`` steps, after the untimed ``warmup`` steps."""
        for examples in warmup:
            trainee.step(self.collate(examples))
        common.synchronize(self.device)
        start = time.perf_counter()
        for examples in timed:  # collated inside the loop, as the trainer does
            trainee.step(self.collate(examples))
        common.synchronize(self.device)
        return time.perf_counter() - start

    def run(self, job: Job, vocab_size: int) -> dict[str, Any]:
        """Builds a fresh model (fixed seed), counts FLOPs, warms up, times the steps."""
        args, device = self.args, self.device
        emulated = job.precision == "bf16" and not fast_bf16(device)
        # Emulated bf16 takes minutes a step: no warm-up (the fp32 rows warmed the process up;
        # one-time costs are negligible next to the step) and only --bf16-steps steps.
        warmup, steps = (0, args.bf16_steps) if emulated else (args.warmup, args.steps)
        torch.manual_seed(args.seed)
        trainee = BUILDERS[job.system](
            job.model, vocab_size, self.specials["pad_id"], device, job.precision
        )
        key = (job.system, job.model)
        timed = self.batches[warmup : warmup + steps]
        if key not in self.flops_per_token:  # one extra, untimed step on the first timed batch
            flops = common.count_flops(lambda: trainee.step(self.collate(timed[0])))
            self.flops_per_token[key] = flops / pieces(timed[0])
        seconds = self.time_steps(trainee, self.batches[:warmup], timed)
        tokens = sum(pieces(b) for b in timed)
        params = sum(p.numel() for p in {id(p): p for p in trainee.model.parameters()}.values())
        row = {
            "system": job.system, "model": job.model, "precision": job.precision,
            "tokens_per_s": round(tokens / seconds, 1), "timed_steps": len(timed),
            "timed_seconds": round(seconds, 3), "timed_tokens": tokens,
            "flops_per_token": round(self.flops_per_token[key]), "params": params,
        }  # fmt: skip
        if emulated:
            row["note"] = (
                f"bf16 emulated on this CPU (no bf16 units): {len(timed)} step(s), no warm-up"
            )
        return row


def peer_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Joey NMT and OpenNMT-py, each model, through run_peer.py (or why they could not run)."""
    missing = common.peers_missing()
    if missing:  # one row per peer says so
        return [{"system": name, "model": "all", "precision": "fp32", "error": missing}
                for name in PEER_NAMES.values()]  # fmt: skip
    rows = []
    for system, model in itertools.product(PEER_NAMES, ("transformer", "lstm")):
        label = common.peer_model_label(system, model)
        if label not in args.models:
            continue
        row: dict[str, Any] = {"system": PEER_NAMES[system], "model": label, "precision": "fp32"}
        steps = args.steps + args.warmup  # the runner drops its first 10% as warm-up
        result = common.run_peer(
            ["train-speed", "--system", system, "--model", model,
             "--data", str(common.PEER_DATA_DIR), "--steps", str(steps),
             "--threads", str(args.threads)],
            f"train-{system}-{model}", args.peer_timeout,
        )  # fmt: skip
        row["tokens_per_s"] = result.get("tok_s")
        row |= {
            k: result[k]
            for k in ("error", "timed_steps", "timed_seconds", "params", "versions")
            if k in result
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def add_comparisons(
    rows: list[dict[str, Any]], peaks: dict[str, float], flops: dict[tuple[str, str], float]
) -> None:
    """Adds ratios vs the plain reference and the fastest peer, and MFU, to every row."""
    for row in rows:
        rate = row.get("tokens_per_s")
        reference = next(
            (
                r.get("tokens_per_s")
                for r in rows
                if r["system"] == REFERENCE
                and r["model"] == row["model"]
                and r["precision"] == row["precision"]
            ),
            None,
        )
        peer_rates = [
            r["tokens_per_s"]
            for r in rows
            if r["system"] in PEER_NAMES.values()
            and r["model"] == row["model"]
            and r.get("tokens_per_s")
        ]
        row["vs_reference"] = ratio_value(rate, reference)
        row["vs_fastest_peer"] = ratio_value(rate, max(peer_rates, default=None))
        per_token = row.get("flops_per_token") or flops.get((OURS, row["model"]))
        peak = peaks.get(row["precision"], peaks["fp32"])
        if rate and per_token:
            row["mfu"] = round(rate * per_token / peak, 4)
            row["mfu_estimated"] = "flops_per_token" not in row


def ratio_value(value: float | None, base: float | None) -> float | None:
    return round(value / base, 3) if value and base else None


def print_table(rows: list[dict[str, Any]], peaks: dict[str, float]) -> None:
    """The markdown table, then what its columns mean."""
    table = []
    for r in rows:
        name = r["system"] + ("" if r["precision"] == "fp32" else f", {r['precision']} autocast")
        if r.get("note"):
            name += " *"
        if r.get("error"):
            table.append([name, r["model"], common.error_cell(r["error"]), "—", "—", "—"])
            continue
        mfu = (
            "—"
            if "mfu" not in r
            else ("~" if r["mfu_estimated"] else "") + f"{100 * r['mfu']:.1f}%"
        )
        table.append(
            [
                name,
                r["model"],
                f"{r['tokens_per_s']:,.0f}",
                common.ratio_text(r["vs_reference"]),
                common.ratio_text(r["vs_fastest_peer"]),
                mfu,
            ]
        )
    header = ["system", "model", "src+tgt tokens/s", "vs plain PyTorch", "vs fastest peer", "MFU"]
    print()
    print(common.markdown_table(header, table))
    print()
    for model, description in common.MODEL_DESCRIPTIONS.items():
        if any(r["model"] == model for r in rows):
            print(f"- {model}: {description}")
    peak_text = ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in peaks.items())
    print(f"- matmul peak, best at the start and end of this run (2048x2048): {peak_text}")
    print("- MFU = FLOPs per token (forward + backward) x tokens/s / peak")
    print("- `~` MFU: a peer's rate times our FLOPs per token for the same shape")
    common.print_errors(rows)
    for r in rows:
        if r.get("note"):
            print(f"- * {r['system']} {r['model']} {r['precision']}: {r['note']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per system")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before them")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only",
        choices=("ours", "reference", "peers"),
        action="append",
        help="repeatable; default: all",
    )
    parser.add_argument(
        "--models",
        default="transformer,lstm,lstm-if",
        help="comma list of transformer, lstm, lstm-if",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="cuda: ours and reference only"
    )
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast rows")
    parser.add_argument(
        "--bf16-steps", type=int, default=2, help="timed bf16 steps where bf16 is emulated"
    )
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--peer-timeout", type=float, default=3600, help="seconds per peer run")
    parser.add_argument("--json", type=Path, help="save the rows here")
    args = parser.parse_args()
    try:
        args.models = common.parse_models(args.models)
    except ValueError as err:
        parser.error(str(err))
    args.only = set(args.only or ("ours", "reference", "peers"))
    if args.no_peers or args.device == "cuda":
        args.only.discard("peers")
    return args


def jobs_for(args: argparse.Namespace) -> list[Job]:
    jobs = []
    for precision in ("fp32",) if args.no_bf16 else ("fp32", "bf16"):
        models = (
            args.models if precision == "fp32" else [m for m in args.models if m == "transformer"]
        )
        if "ours" in args.only:
            jobs += [Job(OURS, m, precision) for m in models]
        # Emulated bf16 costs minutes a step: there, only our Transformer shows the penalty.
        if "reference" in args.only and (
            precision == "fp32" or fast_bf16(torch.device(args.device))
        ):
            jobs += [Job(REFERENCE, m, precision) for m in models if m in REFERENCE_MODELS]
    return jobs


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as `seq2seq train` does; the plain reference shares this process
    device = torch.device(args.device)
    machine = common.machine_description(device, args.threads)
    print(f"machine: {machine}", flush=True)
    codec = common.load_codec()
    vocab = codec.tgt_vocab
    examples = common.encode_pairs(codec, read_pairs(corpus_files("bible-en-es")["train"]))
    jobs = jobs_for(args)
    count = args.warmup + max(args.steps, args.bf16_steps)
    batches = training_batches(examples, count, args.batch_tokens, args.seed)
    specials = {"pad_id": vocab.pad_id, "bos_id": vocab.bos_id, "eos_id": vocab.eos_id}
    dtypes = {"fp32": torch.float32}
    if any(j.precision == "bf16" for j in jobs) and fast_bf16(device):
        dtypes["bf16"] = torch.bfloat16
    peaks = {name: common.matmul_peak(device, dtype) for name, dtype in dtypes.items()}
    peak = peaks["fp32"] / 1e9
    print(f"{len(examples):,} training pairs, vocab {len(vocab):,}; fp32 peak {peak:,.0f} GFLOP/s")
    measurer = Measurer(batches, specials, args)
    rows = []
    for job in jobs:
        rows.append(measurer.run(job, len(vocab)))
        print(json.dumps(rows[-1]), flush=True)
    if "peers" in args.only:
        rows += peer_rows(args)
    # Measured again at the end, the better of the two: a busy moment lowers a peak.
    peaks = {name: max(peaks[name], common.matmul_peak(device, d)) for name, d in dtypes.items()}
    add_comparisons(rows, peaks, measurer.flops_per_token)
    print_table(rows, peaks)
    common.save_json(
        args.json,
        {"command": common.command_line(), "machine": machine, "peaks": peaks, "rows": rows},
    )
    print(f"\ncommand: {common.command_line()}")
    print(f"machine: {machine}")


if __name__ == "__main__":
    main()
