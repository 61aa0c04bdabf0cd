"""Decoding throughput: target tokens per second on the Bible test split, ours against peers.

Our side runs what a user gets: :class:`seq2seq.Translator` (tokenize, sort by length, batches
of ``--batch`` sentences, ``greedy_search`` or ``beam_search``, detokenize) over the first
``--n`` test sentences, after one untimed batch of warm-up. The Transformer is timed with its
key/value cache and without it (``decoder.incremental = False``: the whole prefix re-run at every
step), with the same weights.

By default every output is forced to ``--force-len`` tokens so that systems (and random
weights) are comparable: a thin wrapper masks EOS at every step and the search's maximum length
is set to that length, so every hypothesis runs exactly ``--force-len`` steps, as the peers do
with ``min_length = max_length``. ``--natural`` lets EOS happen (the search settings of the
model's config); use it with ``--model-dir`` to time a trained model as it really decodes.
Target tokens are counted without EOS, as the peers count them.

Peers (Joey NMT, OpenNMT-py, CTranslate2 fp32/int8; greedy and beam 4) run through
``benchmarks/peers/run_peer.py`` on the same sentences in the same sentencepiece pieces, each on
its own briefly trained model of the same shape (forced length makes the weights irrelevant).

    .venv/bin/python benchmarks/decode_speed.py --beams 1,4,5
    .venv/bin/python benchmarks/decode_speed.py --beams 1,4 --int8 --repeat 3   # medians
    .venv/bin/python benchmarks/decode_speed.py --n 64 --beams 1,4 --no-peers
    .venv/bin/python benchmarks/decode_speed.py --natural --model-dir runs/quality/x --no-peers
    .venv/bin/python benchmarks/decode_speed.py --models transformer --peer-systems ct2-fp32 \
        --threads 1 --force-len 1    # with --force-len 25: encoder vs per-step time, one worker
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import speed_common as common
from seq2seq import Translator
from seq2seq.config import SearchConfig
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs
from seq2seq.data.pipeline import TextCodec
from seq2seq.errors import Seq2SeqError
from seq2seq.models import build_model
from seq2seq.models.contract import DecoderState, EncoderOutput
from seq2seq.models.transformer import TransformerDecoder

OURS = "seq2seq-kit"
PEER_SYSTEMS = {
    "joey": "Joey NMT",
    "opennmt": "OpenNMT-py",
    "ct2-fp32": "CTranslate2 fp32",
    "ct2-int8": "CTranslate2 int8",
}
PEER_BEAMS = (1, 4)  # what run_peer.py decode-speed accepts
NO_CACHE = ", no cache"  # suffix of the label of a Transformer decoding without its cache


class ForcedLength(nn.Module):
    """Wraps a model so that search never ends a hypothesis early.

    ``decode_step`` sets the EOS log-probability to -inf at every step; with the search's
    maximum length set to N, every hypothesis then holds exactly N tokens (it is cut there, as
    if EOS were forced at step N). Benchmark code only: it changes nothing in the model.
    """

    def __init__(self, model: nn.Module, eos_id: int) -> None:
        super().__init__()
        self.model, self.eos_id = model, eos_id

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return self.model.encode(src, src_lengths)

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        return self.model.init_state(enc)

    def decode_step(
        self, prev_tokens: Tensor, state: DecoderState, enc: EncoderOutput, attention: bool = True
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        log_probs, state, attn = self.model.decode_step(prev_tokens, state, enc, attention)
        log_probs[:, self.eos_id] = float("-inf")  # [batch, vocab], a fresh tensor
        return log_probs, state, attn


@dataclass
class Subject:
    """One of our models to time.

    Attributes:
        label: What the table prints in the model column.
        shape: The model label peers are compared on (None: no comparable peer).
        model: The model (in eval mode, on the device).
        search: Its search settings (beam size and batch are set per run).
        cached: For a Transformer, whether the decoder uses its key/value cache.
    """

    label: str
    shape: str | None
    model: nn.Module
    search: SearchConfig
    cached: bool = True
    precision: str = "fp32"


def random_subjects(
    models: list[str], codec: TextCodec, device: torch.device, seed: int, precisions: list[str]
) -> list[Subject]:
    """Randomly initialised models of our shapes; the Transformer twice (cache, no cache);
    each model once more per entry of ``precisions`` (``int8``, ``bf16``: linear layers in
    that precision)."""
    vocab = codec.tgt_vocab
    subjects = []
    for name in models:
        config = common.our_config(name)
        torch.manual_seed(seed)
        model = build_model(config.model, len(codec.src_vocab), len(vocab), vocab.pad_id)
        subjects.append(Subject(name, name, model.to(device).eval(), config.search))
        if name == "transformer":
            subjects.append(Subject(name + NO_CACHE, name, model, config.search, False))
        for precision in precisions:
            label = f"{name}, {precision}"  # e.g. "transformer, int8"
            subjects.append(Subject(label, name, model, config.search, precision=precision))
    return subjects


def trained_subjects(model_dir: Path, device: torch.device) -> tuple[list[Subject], TextCodec]:
    """A trained model directory (and, for a Transformer, the same model without its cache)."""
    translator = Translator.load(model_dir, device=device.type)
    model = translator.model
    transformer = isinstance(model.decoder, TransformerDecoder)
    label = f"{model_dir.name} ({'transformer' if transformer else 'rnn'})"
    shape = "transformer" if transformer else None
    subjects = [Subject(label, shape, model, translator.search)]
    if transformer:
        subjects.append(Subject(label + NO_CACHE, shape, model, translator.search, False))
    return subjects, translator.codec


def search_settings(base: SearchConfig, beam: int, args: argparse.Namespace) -> SearchConfig:
    """The subject's search settings with this run's beam and batch (and forced length)."""
    settings: dict[str, Any] = {
        "beam_size": beam, "n_best": 1, "batch_size": args.batch, "workers": args.workers,
    }  # fmt: skip
    if not args.natural:  # max length = force_len for every sentence (see ForcedLength)
        settings |= {
            "max_len": args.force_len,
            "max_len_ratio": 1.0,
            "max_len_extra": args.force_len,
        }
    return base.model_copy(update=settings)


def time_subject(
    subject: Subject, beam: int, codec: TextCodec, sources: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Translates ``sources`` once untimed (first batch) and once timed (all)."""
    decoder = subject.model.decoder
    if isinstance(decoder, TransformerDecoder):
        decoder.incremental = subject.cached
    model = subject.model if args.natural else ForcedLength(subject.model, codec.tgt_vocab.eos_id)
    search = search_settings(subject.search, beam, args).model_copy(
        update={"precision": subject.precision}
    )
    translator = Translator(model, codec, search)  # type: ignore[arg-type]
    device = next(subject.model.parameters()).device
    translator.translate(sources[: args.batch])  # warm-up
    common.synchronize(device)
    start = time.perf_counter()
    translations = translator.translate(sources)
    common.synchronize(device)
    seconds = time.perf_counter() - start
    lengths = [len(t.candidates[0].tokens) for t in translations]
    row: dict[str, Any] = {
        "system": OURS, "model": subject.label, "shape": subject.shape, "beam": beam,
        "tokens_per_s": round(sum(lengths) / seconds, 1), "sentences": len(lengths),
        "tgt_tokens": sum(lengths), "seconds": round(seconds, 3),
    }  # fmt: skip
    if not args.natural and any(n != args.force_len for n in lengths):
        row["warning"] = f"output lengths {min(lengths)}..{max(lengths)}, not all {args.force_len}"
    return row


def peer_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each peer, model and beam (1 and 4 only) through run_peer.py, or why it could not run."""
    selected = {system: PEER_SYSTEMS[system] for system in args.peer_systems}
    missing = common.peers_missing()
    if missing:  # one row per peer says so
        beam = min(args.beams)
        return [{"system": name, "model": "all", "shape": None, "beam": beam, "error": missing}
                for name in selected.values()]  # fmt: skip
    rows = []
    for system, name in selected.items():
        for model in ("transformer", "lstm"):
            shape = common.peer_model_label(system, model)
            if shape not in args.models:
                continue
            for beam in (b for b in args.beams if b in PEER_BEAMS):
                row: dict[str, Any] = {"system": name, "model": shape, "shape": shape, "beam": beam}
                result = common.run_peer(
                    ["decode-speed", "--system", system, "--model", model,
                     "--data", str(common.PEER_DATA_DIR), "--beam", str(beam), "--n", str(args.n),
                     "--batch", str(args.batch), "--force-len", str(args.force_len),
                     "--threads", str(args.threads)],
                    f"decode-{system}-{model}-beam{beam}", args.peer_timeout,
                )  # fmt: skip
                row["tokens_per_s"] = result.get("tok_s")
                keep = ("error", "warning", "sentences", "tgt_tokens", "seconds", "versions")
                row |= {k: result[k] for k in keep if k in result}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def median_rows(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per system, model and beam: the first round's row with the median tokens/s
    over the rounds (``runs`` lists them all; a row that failed in any round keeps its error).

    Every system runs once per round, in the same order, so a noisy minute on a shared machine
    hits one round of all systems rather than all rounds of one.
    """
    if len(rounds) == 1:
        return rounds[0]
    merged = []
    for first, *others in zip(*rounds, strict=True):
        rates = [row.get("tokens_per_s") for row in (first, *others)]
        row = dict(first)
        if all(rate is not None for rate in rates):
            row["tokens_per_s"] = round(statistics.median(rates), 1)  # type: ignore[type-var]
            row["runs"] = rates
        merged.append(row)
    return merged


COMPARED = (("vs_ct2_fp32", "CTranslate2 fp32"), ("vs_opennmt", "OpenNMT-py"))


def peer_row(rows: list[dict[str, Any]], system: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """``system``'s row of the same shape and beam as ``row`` (None without a comparable one)."""
    if not row["shape"]:
        return None
    return next(
        (r for r in rows
         if r["system"] == system and r["shape"] == row["shape"] and r["beam"] == row["beam"]),
        None,
    )  # fmt: skip


def add_comparisons(rows: list[dict[str, Any]]) -> None:
    """Ratios against CTranslate2 fp32 and OpenNMT-py of the same shape and beam."""
    for row in rows:
        rate = row.get("tokens_per_s")
        for key, system in COMPARED:
            peer = peer_row(rows, system, row)
            base = peer.get("tokens_per_s") if peer else None
            row[key] = round(rate / base, 3) if rate and base else None


def round_ratio_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Our tokens/s over each compared peer's, round by round. Both sides of a round run
    minutes apart, so a noisy spell of a shared machine moves them together; the median of
    these ratios is steadier than the ratio of the medians in the table."""
    lines = []
    for row in rows:
        if row["system"] != OURS or "runs" not in row:
            continue
        for _, system in COMPARED:
            peer = peer_row(rows, system, row)
            if peer is None or "runs" not in peer:
                continue
            ratios = [ours / theirs for ours, theirs in zip(row["runs"], peer["runs"], strict=True)]
            rounds = " / ".join(f"{ratio:.2f}" for ratio in ratios)
            lines.append(
                f"- {row['model']} beam {row['beam']} vs {system}, per round: {rounds} "
                f"(median {statistics.median(ratios):.2f}x)"
            )
    return lines


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The markdown table (by beam, ours first), the cache speed-ups, and what was run."""
    table = []
    for row in sorted(rows, key=lambda r: (r["beam"], r["system"] != OURS)):
        if row.get("error"):
            error = common.error_cell(row["error"])
            table.append([row["system"], row["model"], row["beam"], error, "—", "—"])
            continue
        rate = f"{row['tokens_per_s']:,.0f}" + (" !" if row.get("warning") else "")
        ratios = [common.ratio_text(row[k]) for k in ("vs_ct2_fp32", "vs_opennmt")]
        table.append([row["system"], row["model"], row["beam"], rate, *ratios])
    header = ["system", "model", "beam", "tgt tokens/s", "vs CTranslate2 fp32", "vs OpenNMT-py"]
    print()
    print(common.markdown_table(header, table))
    print()
    mode = (
        "natural lengths (EOS allowed)"
        if args.natural
        else f"output forced to {args.force_len} tokens"
    )
    sentences = max((r.get("sentences", 0) for r in rows), default=0)
    print(f"- {sentences} test sentences, batches of {args.batch}, {mode}; tokens exclude EOS")
    if args.repeat > 1:
        print(f"- tokens/s: median of {args.repeat} rounds of every system (each run in the JSON)")
    labels = {r["model"].removesuffix(NO_CACHE) for r in rows}
    for model, description in common.MODEL_DESCRIPTIONS.items():
        if model in labels:
            print(f"- {model}: {description}")
    common.print_errors(rows)
    for row in rows:
        if row.get("warning"):
            print(f"- ! {row['system']} {row['model']} beam {row['beam']}: {row['warning']}")
    ours = {(r["model"], r["beam"]): r["tokens_per_s"] for r in rows if r["system"] == OURS}
    for (label, beam), uncached in ours.items():
        cached = ours.get((label.removesuffix(NO_CACHE), beam))
        if label.endswith(NO_CACHE) and cached:
            print(f"- key/value cache speed-up, {label.removesuffix(NO_CACHE)} beam {beam}: "
                  f"{cached / uncached:.2f}x")  # fmt: skip
    for line in round_ratio_lines(rows):
        print(line)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="first n test sentences (930 exist)")
    parser.add_argument("--batch", type=int, default=32, help="sentences per batch")
    parser.add_argument("--beams", default="1,4,5", help="comma list; peers run 1 and 4 only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=1, help="ours: batches at once, single-threaded each"
    )
    parser.add_argument("--int8", action="store_true", help="also time ours with int8 layers")
    parser.add_argument("--bf16", action="store_true", help="also time ours with bf16 layers")
    parser.add_argument("--force-len", type=int, default=25, help="output tokens per sentence")
    parser.add_argument("--natural", action="store_true", help="let EOS happen (no peers)")
    parser.add_argument("--model-dir", type=Path, help="time this trained model instead")
    parser.add_argument(
        "--models",
        default="transformer,lstm,lstm-if",
        help="comma list of transformer, lstm, lstm-if: our random-weight models and the peer rows",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: ours only")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--peer-systems",
        default=",".join(PEER_SYSTEMS),
        help=f"comma list of the peers to run: {', '.join(PEER_SYSTEMS)}",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every system; tokens/s is the median"
    )
    parser.add_argument("--peer-timeout", type=float, default=3600, help="seconds per peer run")
    parser.add_argument("--json", type=Path, help="save the rows here")
    args = parser.parse_args()
    args.beams = sorted({int(b) for b in args.beams.split(",") if b.strip()})
    try:
        args.models = common.parse_models(args.models)
        args.peer_systems = common.parse_choices(
            args.peer_systems, list(PEER_SYSTEMS), "--peer-systems"
        )
    except ValueError as err:
        parser.error(str(err))
    if min(args.force_len, args.n, args.batch, args.repeat, *args.beams) < 1:
        parser.error("--force-len, --n, --batch, --repeat and every beam must be at least 1")
    args.peers = not (args.no_peers or args.natural or args.device == "cuda")
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    machine = common.machine_description(device, args.threads)
    print(f"machine: {machine}", flush=True)
    if args.model_dir is not None:
        try:
            subjects, codec = trained_subjects(args.model_dir, device)
        except Seq2SeqError as err:  # not a model directory, or an unreadable one
            raise SystemExit(f"--model-dir: {err}") from None
    else:
        codec = common.load_codec()
        precisions = [name for name in ("int8", "bf16") if getattr(args, name)]
        subjects = random_subjects(args.models, codec, device, args.seed, precisions)
    sources = [p.src for p in read_pairs(corpus_files("bible-en-es")["test"])[: args.n]]
    rounds = []
    for number in range(args.repeat):
        if args.repeat > 1:
            print(f"round {number + 1} of {args.repeat}", flush=True)
        rows = []
        for beam in args.beams:
            for subject in subjects:
                rows.append(time_subject(subject, beam, codec, sources, args))
                print(json.dumps(rows[-1]), flush=True)
        if args.peers:
            rows += peer_rows(args)
        rounds.append(rows)
    rows = median_rows(rounds)
    add_comparisons(rows)
    print_table(rows, args)
    command = common.command_line()
    common.save_json(args.json, {"command": command, "machine": machine, "rows": rows})
    print(f"\ncommand: {command}")
    print(f"machine: {machine}")


if __name__ == "__main__":
    main()
