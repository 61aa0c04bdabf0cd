"""The CUDA paths, checked on a GPU in one short run: training in fp32 and bf16 autocast
(Transformer and cuDNN LSTM), checkpoints written from the GPU, exact resume, and cached vs
uncached decoding through the one ``Translator``.

Usage (on a machine with a GPU; prints a markdown table and the machine):

    PYTHONPATH=src python benchmarks/gpu_check.py --steps 300 --out runs/gpu-check

Figures are short-run checks (a few hundred steps), not quality results.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from seq2seq.config import load_config
from seq2seq.configs import resolve_config
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs
from seq2seq.decoding.translator import Translator
from seq2seq.evaluation import corpus_scores
from seq2seq.training import checkpoint as ckpt
from seq2seq.training.trainer import train

CONFIGS = ["bible-en-es/transformer", "bible-en-es/lstm-attention"]
DEVICE = "cuda"  # --device cpu runs the same checks as a quick local smoke test
VALID_N = 300  # dev sentences decoded for the validation BLEU


def synchronize() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def train_run(name: str, precision: str, steps: int, out: Path) -> dict[str, object]:
    """Trains ``steps`` updates on CUDA and reports throughput and the final validation."""
    config = load_config(
        resolve_config(name),
        [
            f"train.device={DEVICE}",
            f"train.precision={precision}",
            f"train.max_steps={steps}",
            "train.max_minutes=null",
            f"train.valid_every={steps}",
            f"train.valid_max_sentences={VALID_N}",
            f"train.log_every={min(25, steps)}",
            "train.progress=false",
            f"search.precision={precision}",
        ],
    )
    model_dir = out / f"{name.replace('/', '-')}-{precision}"
    start = time.perf_counter()
    result = train(config, model_dir)
    seconds = time.perf_counter() - start
    rates = [r["tokens_per_s"] for r in ckpt.read_metrics(model_dir) if r["kind"] == "train"]
    steady = rates[1:] or rates  # the first window includes CUDA start-up
    return {
        "config": name,
        "precision": precision,
        "steps": result.steps,
        "seconds": round(seconds, 1),
        "tokens_per_s": round(sum(steady) / len(steady)),
        "valid_loss": round(result.last_validation["loss"], 4),
        "valid_bleu": round(result.last_validation.get("bleu", float("nan")), 2),
        "model_dir": str(model_dir),
    }


def resume_check(out: Path, steps: int) -> float:
    """Max weight difference between an interrupted+resumed run and an uninterrupted one."""
    overrides = [
        f"train.device={DEVICE}",
        "train.max_minutes=null",
        "train.valid_every=1000",
        "train.valid_bleu=false",
        "train.early_stopping_metric=loss",
        "train.progress=false",
        "model.encoder.dropout=0.0",
        "model.decoder.dropout=0.0",
    ]
    name = "bible-en-es/transformer"
    whole = load_config(resolve_config(name), [*overrides, f"train.max_steps={2 * steps}"])
    half = load_config(resolve_config(name), [*overrides, f"train.max_steps={steps}"])
    train(whole, out / "resume-whole")
    train(half, out / "resume-split")
    train(whole, out / "resume-split", resume=True)
    a = ckpt_tensors(out / "resume-whole")
    b = ckpt_tensors(out / "resume-split")
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def ckpt_tensors(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / ckpt.LAST_WEIGHTS))


def decode_check(model_dir: str, n: int) -> list[dict[str, object]]:
    """Greedy and beam-5 target tokens/s on CUDA, with and without the key/value cache."""
    pairs = read_pairs(corpus_files("bible-en-es")["test"])[:n]
    sources, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    translator = Translator.load(model_dir, device=DEVICE)
    rows = []
    for beam in (1, 5):
        for cached in (True, False):
            translator.model.decoder.incremental = cached
            translator.translate(sources[:32], beam_size=beam)  # warm-up
            synchronize()
            start = time.perf_counter()
            out = translator.translate(sources, beam_size=beam)
            synchronize()
            seconds = time.perf_counter() - start
            tokens = sum(len(t.candidates[0].token_log_probs) for t in out)
            bleu = corpus_scores([t.text for t in out], refs)[0].score
            rows.append(
                {
                    "beam": beam,
                    "cache": cached,
                    "tgt_tokens_per_s": round(tokens / seconds),
                    "bleu": round(bleu, 2),
                }
            )
    translator.model.decoder.incremental = True
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--decode-n", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--valid-n", type=int, default=300)
    parser.add_argument("--only-resume", action="store_true", help="just the resume check")
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    parser.add_argument("--no-decode", action="store_true", help="skip decode and resume checks")
    args = parser.parse_args()
    global DEVICE, VALID_N
    DEVICE, VALID_N = args.device, args.valid_n
    gpu = torch.cuda.get_device_name() if DEVICE == "cuda" else platform.processor()
    print(
        f"machine: {gpu}, torch {torch.__version__}, "
        f"python {platform.python_version()}, cudnn {torch.backends.cudnn.version()}"
    )
    if args.only_resume:
        diff = resume_check(args.out, steps=min(40, args.steps))
        print(f"resume on {DEVICE}: max |weight difference| resumed vs uninterrupted = {diff:.3g}")
        return
    rows = []
    for name in args.configs:
        for precision in ("fp32", "bf16"):
            rows.append(train_run(name, precision, args.steps, args.out))
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| config | precision | steps | seconds | tokens/s | valid loss | valid BLEU (greedy) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['precision']} | {r['steps']} | {r['seconds']} | "
            f"{r['tokens_per_s']:,} | {r['valid_loss']} | {r['valid_bleu']} |"
        )
    if args.no_decode:
        return
    transformer_dir = str(rows[0]["model_dir"])
    decode = decode_check(transformer_dir, args.decode_n)
    print("\n| beam | KV cache | target tokens/s | BLEU |")
    print("|---|---|---|---|")
    for r in decode:
        print(f"| {r['beam']} | {r['cache']} | {r['tgt_tokens_per_s']:,} | {r['bleu']} |")
    diff = resume_check(args.out, steps=min(40, args.steps))
    print(f"\nresume on {DEVICE}: max |weight difference| resumed vs uninterrupted = {diff:.3g}")


if __name__ == "__main__":
    main()
