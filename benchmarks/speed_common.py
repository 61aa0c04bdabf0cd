"""What the speed benchmarks share: data, model shapes, peers, FLOPs, the machine, tables.

``train_speed.py`` and ``decode_speed.py`` import this module (``benchmarks/`` is on
``sys.path`` when they run as scripts). Nothing here is part of the ``seq2seq`` package.

Data: the Bible en->es splits tokenized with one joint sentencepiece unigram 8k codec, built
once by ``peer_data.py`` into ``benchmarks/results/peer-data/`` (git-ignored) so that our
models, the plain references and the peers all read the very same pieces.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from seq2seq.config import Config, TokenizerConfig, load_config
from seq2seq.configs import resolve_config
from seq2seq.data.pipeline import Example, TextCodec

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
PEER_DATA_DIR = RESULTS_DIR / "peer-data"
PEER_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
RUN_PEER = ROOT / "benchmarks" / "peers" / "run_peer.py"
PEERS_DIR = ROOT / "benchmarks" / "peers"
NOT_INSTALLED = "not installed: run benchmarks/setup_peers.sh"
MAX_LEN = 120  # pieces per side; training pairs over it are dropped (as the Bible configs do)
TOKENIZER = TokenizerConfig(kind="sentencepiece", model_type="unigram", vocab_size=8000, joint=True)

# --- model shapes -------------------------------------------------------------------------

TRANSFORMER_CONFIG = "bible-en-es/transformer"

_LSTM_BASE: dict[str, Any] = {
    "data": {"corpus": "bible-en-es", "tokenizer": TOKENIZER.model_dump()},
    "model": {
        "encoder": {"type": "lstm", "layers": 1, "hidden_size": 256, "embedding_size": 256,
                    "bidirectional": False, "dropout": 0.2},
        "decoder": {"type": "lstm", "layers": 1, "hidden_size": 256, "embedding_size": 256,
                    "dropout": 0.2, "input_feeding": False, "tie_embeddings": True},
        "attention": "luong_dot",
        "bridge": "copy",
        "share_embeddings": True,
    },
    "train": {"optimizer": "adam", "lr": 0.001, "label_smoothing": 0.1, "clip_grad_norm": 1.0,
              "batch_tokens": 4096, "max_steps": 1},
}  # fmt: skip


def _lstm_variant(attention: str, input_feeding: bool) -> dict[str, Any]:
    model = {**_LSTM_BASE["model"], "attention": attention}
    model["decoder"] = {**model["decoder"], "input_feeding": input_feeding}
    return {**_LSTM_BASE, "model": model}


# Our model shapes, by the label the tables print. "lstm" is PEERS.md's "LSTM + attention"
# (unidirectional 256/256, 1+1 layers, dot attention, no input feeding: one decoder LSTM call
# over the whole target) and matches reference_models.ReferenceLSTMAttention; "lstm-if" is the
# shape the peer configs in benchmarks/peers/*-lstm.yaml actually run (Luong "general"
# attention with input feeding, which steps the decoder one position at a time).
LSTM_SHAPES: dict[str, dict[str, Any]] = {
    "lstm": _lstm_variant("luong_dot", input_feeding=False),
    "lstm-if": _lstm_variant("luong_general", input_feeding=True),
}
MODEL_DESCRIPTIONS = {
    "transformer": "d256, 3+3 layers, 4 heads, ff 1024, pre-norm, tied",
    "lstm": "uni-LSTM 256/256 1+1, dot attention, no input feeding, tied",
    "lstm-if": "uni-LSTM 256/256 1+1, general attention, input feeding, tied",
}


def our_config(model: str) -> Config:
    """The validated config of one of our model shapes (``transformer``, ``lstm``, ``lstm-if``)."""
    if model == "transformer":
        return load_config(resolve_config(TRANSFORMER_CONFIG))
    return load_config(LSTM_SHAPES[model])


def parse_models(text: str) -> list[str]:
    """``--models`` (a comma list of our model labels) as a list.

    Raises:
        ValueError: Naming the unknown labels and the valid ones.
    """
    return parse_choices(text, MODEL_DESCRIPTIONS, "--models")


def parse_choices(text: str, allowed: Sequence[str], option: str) -> list[str]:
    """A comma list given to ``option`` as a list, each item one of ``allowed``.

    Raises:
        ValueError: Naming the unknown items (or an empty list) and the allowed ones.
    """
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown or not chosen:
        raise ValueError(
            f"{option} {text!r}: unknown {', '.join(unknown) or '(empty)'}; "
            f"choose from {', '.join(allowed)}"
        )
    return chosen


def peer_lstm_shape(system: str) -> str:
    """Which of our LSTM labels a peer's LSTM config matches (read from its YAML template)."""
    try:
        if system == "joey":
            decoder = yaml.safe_load((PEERS_DIR / "joey-lstm.yaml").read_text())["model"]["decoder"]
            feeding = bool(decoder.get("input_feeding", True))
        else:
            cfg = yaml.safe_load((PEERS_DIR / "opennmt-lstm.yaml").read_text())
            feeding = bool(cfg.get("input_feed", 1))
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "lstm-if"  # both peers' defaults
    return "lstm-if" if feeding else "lstm"


def peer_model_label(system: str, model: str) -> str:
    """Our label for a peer's ``--model`` (``transformer`` or ``lstm``)."""
    return model if model == "transformer" else peer_lstm_shape(system.split("-")[0])


# --- data ---------------------------------------------------------------------------------


def load_codec() -> TextCodec:
    """The joint 8k codec in ``benchmarks/results/peer-data/codec`` (built on first use).

    ``peer_data.py`` trains it on the Bible training split and also writes the pre-tokenized
    files the peers read; it is deterministic, so every later run reloads the same codec.
    """
    if not (PEER_DATA_DIR / "vocab.txt").is_file() or not (PEER_DATA_DIR / "codec").is_dir():
        from peer_data import write_peer_data  # benchmarks/peer_data.py, beside this file

        print(f"building the tokenizer and peer data in {PEER_DATA_DIR} (once)", flush=True)
        write_peer_data(PEER_DATA_DIR, vocab_size=8000, max_len=MAX_LEN, test_lines=1000, seed=0)
    return TextCodec.load(PEER_DATA_DIR / "codec", TOKENIZER)


def encode_pairs(codec: TextCodec, pairs: Sequence[Any]) -> list[Example]:
    """Source/target ids of ``pairs``, dropping pairs over :data:`MAX_LEN` pieces a side."""
    examples = [(codec.encode_src(p.src), codec.encode_tgt(p.tgt)) for p in pairs]
    return [(s, t) for s, t in examples if 0 < len(s) <= MAX_LEN and 0 < len(t) <= MAX_LEN]


# --- peers ----------------------------------------------------------------------------------


def peers_missing() -> str | None:
    """None when the peer venv and runner exist, else the row text to print instead."""
    if not PEER_PYTHON.is_file() or not RUN_PEER.is_file():
        return NOT_INSTALLED
    return None


def run_peer(args: list[str], log_name: str, timeout_s: float) -> dict[str, Any]:
    """Runs ``run_peer.py ARGS`` in the peer venv; returns its JSON line (or ``{"error"}``).

    The peer's stderr goes to ``benchmarks/results/logs/LOG_NAME.log``.
    """
    logs = RESULTS_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{log_name}.log"
    command = [str(PEER_PYTHON), str(RUN_PEER), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired as err:
        log.write_text(str(err.stderr or ""), encoding="utf-8")
        return {"error": f"timed out after {timeout_s:.0f} s (log: {log})"}
    log.write_text(done.stderr, encoding="utf-8")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {done.returncode}, no JSON line: {tail[0]} (log: {log})"}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as err:
        return {"error": f"unreadable JSON line ({err}); log: {log}"}


# --- FLOPs and the machine's peak -------------------------------------------------------------


def _rnn_forward_flops(input_shape: Sequence[int], weights: Sequence[Sequence[int]]) -> int:
    """``2 * tokens * (|W_ih| + |W_hh|)``: the gate matmuls of one RNN call over every token."""
    tokens = math.prod(input_shape[:-1])
    return 2 * tokens * sum(math.prod(w) for w in weights if len(w) == 2)


def _mkldnn_rnn(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    return _rnn_forward_flops(input_shape, [w_ih, w_hh])


def _mkldnn_rnn_backward(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    return 2 * _rnn_forward_flops(input_shape, [w_ih, w_hh])  # input and weight gradients


def _cudnn_rnn(input_shape: Any, weights: Any, *args: Any, **kwargs: Any) -> int:
    return _rnn_forward_flops(input_shape, weights)


def _cudnn_rnn_backward(input_shape: Any, weights: Any, *args: Any, **kwargs: Any) -> int:
    return 2 * _rnn_forward_flops(input_shape, weights)


def _cpu_sdpa(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward(grad: Any, query: Any, key: Any, value: Any, *a: Any, **k: Any) -> int:
    return sdpa_backward_flop_count(grad, query, key, value)


aten = torch.ops.aten
# FlopCounterMode knows matmuls and the GPU attention kernels; these are the fused kernels it
# misses that our models run: oneDNN/cuDNN LSTMs and PyTorch's CPU flash attention.
EXTRA_FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    aten.mkldnn_rnn_layer: _mkldnn_rnn,
    aten.mkldnn_rnn_layer_backward: _mkldnn_rnn_backward,
    aten._cudnn_rnn: _cudnn_rnn,
    aten._cudnn_rnn_backward: _cudnn_rnn_backward,
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matmuls (and fused RNN/attention kernels) that ``fn()`` runs."""
    with FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS) as counter:
        fn()
    return counter.get_total_flops()


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work, so wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5
) -> float:
    """Best FLOP/s of ``size x size`` matmuls in ``dtype`` (threads as set), best of ``repeats``."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    inner = 1 if device.type == "cpu" else 20
    best = math.inf
    for _ in range(repeats + 1):  # the first is a warm-up
        synchronize(device)
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / inner)
    return 2 * size**3 / best


# --- reporting -----------------------------------------------------------------------------


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo, with the matrix extensions that matter here."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line),
        platform.machine(),
    )
    flags = next(
        (line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")),
        [],
    )
    extensions = [
        f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags
    ]
    return f"{name} ({', '.join(extensions) or 'no AVX2'})"


def machine_description(device: torch.device, threads: int) -> str:
    """One line: CPU (or GPU), cores, threads, torch and Python versions, date."""
    parts = [f"CPU {cpu_model()}, {os.cpu_count()} logical cores, {threads} torch threads"]
    if device.type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    parts.append(f"torch {torch.__version__}, Python {platform.python_version()}")
    parts.append(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return "; ".join(parts)


def command_line() -> str:
    """The command that produced this output, as it can be pasted into a shell."""
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):  # outside the working directory: keep it absolute
        python = python.relative_to(Path.cwd())
    return shlex.join([str(python), *sys.argv])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio_text(value: float | None) -> str:
    """A ratio as ``1.23x``, or an em dash when there is none."""
    return "—" if value is None else f"{value:.2f}x"


def error_cell(error: str, limit: int = 60) -> str:
    """A peer's error, cut to fit a table cell (:func:`print_errors` prints it whole)."""
    return error if len(error) <= limit else error[: limit - 3].rstrip() + "..."


def print_errors(rows: Sequence[dict[str, Any]]) -> None:
    """Each distinct error message once, with the rows it stopped."""
    seen: dict[str, list[str]] = {}
    for row in rows:
        if row.get("error") and row["error"] != NOT_INSTALLED:
            seen.setdefault(row["error"], []).append(f"{row['system']} {row['model']}")
    for error, where in seen.items():
        print(f"- error ({', '.join(dict.fromkeys(where))}): {error}")


def save_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Writes ``payload`` to ``path`` (when given) as indented JSON."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"rows saved to {path}")
