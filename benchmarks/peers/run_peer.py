"""Times a peer toolkit on the benchmark data; prints one JSON line on stdout.

Runs with the peer venv's python (``bash benchmarks/setup_peers.sh`` makes it); never imports
``seq2seq``. DIR is what ``benchmarks/peer_data.py`` writes. Everything the peers log goes to
stderr; stdout carries only the result line (``{"error": ...}`` and exit status 1 when the
peer cannot be run).

    P=benchmarks/.venv-peers/bin/python
    $P benchmarks/peers/run_peer.py train-speed --system joey --model transformer \\
        --data runs/peer-data --steps 200
    $P benchmarks/peers/run_peer.py decode-speed --system ct2-int8 --model transformer \\
        --data runs/peer-data --beam 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# OpenNMT-py 3.5.1 pickles its options into checkpoints; torch >= 2.6 refuses them by default.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

from common import PeerError, emit, stdout_to_stderr, versions

TRAIN_SYSTEMS = ("joey", "opennmt")
DECODE_SYSTEMS = ("joey", "opennmt", "ct2-fp32", "ct2-int8")
MODELS = ("transformer", "lstm")


def train_speed(args: argparse.Namespace) -> dict[str, Any]:
    """Dispatch ``train-speed`` to the peer's runner."""
    import joey
    import opennmt

    runners: dict[str, Callable[..., dict[str, Any]]] = {
        "joey": joey.train_speed,
        "opennmt": opennmt.train_speed,
    }
    return runners[args.system](args.model, args.data, args.steps, args.threads)


def decode_speed(args: argparse.Namespace) -> dict[str, Any]:
    """Dispatch ``decode-speed`` to the peer's runner."""
    options = {
        "model": args.model, "data_dir": args.data, "beam": args.beam, "n": args.n,
        "batch": args.batch, "force_len": args.force_len, "threads": args.threads,
        "model_steps": args.model_steps,
    }  # fmt: skip
    if args.system.startswith("ct2-"):
        import ct2

        return ct2.decode_speed(args.system, **options)
    import joey
    import opennmt

    runners: dict[str, Callable[..., dict[str, Any]]] = {
        "joey": joey.decode_speed,
        "opennmt": opennmt.decode_speed,
    }
    return runners[args.system](**options)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The two subcommands and their options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train-speed", help="train from scratch; src+tgt tokens/s")
    train.add_argument("--system", choices=TRAIN_SYSTEMS, required=True)
    train.add_argument("--model", choices=MODELS, required=True)
    train.add_argument("--data", type=Path, required=True, help="peer_data.py's output DIR")
    train.add_argument("--steps", type=int, required=True, help="training steps (>= 2)")
    train.add_argument("--threads", type=int, default=2, help="torch threads")
    train.set_defaults(run=train_speed)

    decode = sub.add_parser("decode-speed", help="translate test.src; target tokens/s")
    decode.add_argument("--system", choices=DECODE_SYSTEMS, required=True)
    decode.add_argument("--model", choices=MODELS, required=True)
    decode.add_argument("--data", type=Path, required=True, help="peer_data.py's output DIR")
    decode.add_argument("--beam", type=int, choices=(1, 4), required=True)
    decode.add_argument("--n", type=int, default=1000, help="first n lines of test.src")
    decode.add_argument("--batch", type=int, default=32, help="sentences per batch")
    decode.add_argument("--force-len", type=int, default=25, help="output tokens per sentence")
    decode.add_argument(
        "--threads", type=int, default=2, help="torch threads; CTranslate2: workers"
    )
    decode.add_argument(
        "--model-steps", type=int, default=20,
        help="training steps of the cached model in DIR/peer-models (first run only)",
    )  # fmt: skip
    decode.set_defaults(run=decode_speed)
    args = parser.parse_args(argv)
    if args.command == "train-speed" and args.steps < 2:
        parser.error("--steps must be at least 2")
    args.data = args.data.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one measurement; print its JSON line; 0 on success, 1 when it failed."""
    args = parse_args(argv)
    header = {
        "command": args.command,
        "system": args.system,
        "model": args.model,
        "threads": args.threads,
    }
    if args.command == "decode-speed":
        header |= {"beam": args.beam, "n": args.n, "batch": args.batch}
        header |= {"force_len": args.force_len}
    start = time.perf_counter()
    with stdout_to_stderr() as stdout:
        try:
            result = header | args.run(args)
            status = 0
        except PeerError as err:
            result, status = header | {"error": str(err)}, 1
        except Exception as err:  # a peer's own failure: report it, keep the line
            traceback.print_exc()
            result, status = header | {"error": f"{type(err).__name__}: {err}"}, 1
        except SystemExit as err:  # a peer's option parser gave up (its message is above)
            result = header | {"error": f"the peer exited with status {err.code}; see stderr"}
            status = 1
        result["wall_s"] = round(time.perf_counter() - start, 1)
        result["versions"] = versions()
        emit(stdout, result)
    return status


if __name__ == "__main__":
    sys.exit(main())
