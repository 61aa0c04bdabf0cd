"""One linear layer of a search step, in each form decoding can run it: microseconds per call.

The rows are the shapes of the benchmark models' decoder layers at batch 32 (greedy) and 128
(beam 4): ``[rows, in] x [in, out]``. The columns are what ``search.precision`` picks between:

- ``fp32 addmm``: MKL on a weight transposed once (fp32 search, small layers);
- ``fp32 oneDNN``: oneDNN on a weight packed once (fp32 search, the output layer);
- ``bf16 oneDNN``: oneDNN on a bf16 weight packed once, the input cast to bf16 and the fp32
  bias added to the product (bf16 search, ``decoding/packed.py``);
- ``int8``: PyTorch's dynamically quantized linear layer as int8 search runs it
  (``quantize.py``: fbgemm's kernel, and oneDNN's too for wide layers from 16 rows on where the
  CPU has AVX-512-VNNI); ``int8 fbgemm`` and ``int8 onednn``: each kernel alone.

Every figure is the best of 5 rounds of ``--calls`` calls on one thread, data hot in cache, so
it shows the kernels' own speed; ``step_profile.py`` shows them in place.

    .venv/bin/python benchmarks/linear_kernels.py
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from seq2seq.decoding.packed import PackedLinear, packing_available
from seq2seq.decoding.quantize import int8_copy, quantize_linears, quantized_engine

SHAPES = [  # rows, in, out
    (32, 256, 768),
    (32, 256, 256),
    (32, 256, 1024),
    (32, 1024, 256),
    (32, 512, 1024),
    (32, 256, 8002),
    (128, 256, 1024),
    (128, 256, 8002),
    (1, 256, 8002),  # one sentence, greedy: below the rows where oneDNN's int8 kernel pays
    (16, 256, 8002),
]


def best_of(call: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """Microseconds per call: the best of ``rounds`` rounds, after a warm-up."""
    for _ in range(max(calls // 10, 5)):
        call()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def forms(linear: nn.Linear) -> dict[str, Callable[[torch.Tensor], torch.Tensor] | None]:
    """The layer in each form, or None where this torch/CPU lacks it."""
    fp32 = PackedLinear(linear)
    fp32.onednn = False
    onednn = PackedLinear(linear)
    onednn.onednn = True
    int8 = {"int8": int8_copy(nn.Sequential(linear))}  # what search.precision: int8 runs
    for engine in ("fbgemm", "onednn"):  # each int8 kernel alone
        int8[f"int8 {engine}"] = None
        if engine in torch.backends.quantized.supported_engines:
            with quantized_engine(engine):
                int8[f"int8 {engine}"] = quantize_linears(nn.Sequential(copy.deepcopy(linear)))
    return {
        "fp32 addmm": fp32,
        "fp32 oneDNN": onednn if packing_available() else None,
        "bf16 oneDNN": PackedLinear(linear, torch.bfloat16)
        if packing_available(torch.bfloat16)
        else None,
        **int8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    header = None
    with torch.no_grad():
        for rows, fan_in, fan_out in SHAPES:
            linear = nn.Linear(fan_in, fan_out)
            x = torch.randn(rows, fan_in)
            timed = {
                name: None if layer is None else best_of(partial(layer, x), args.calls)
                for name, layer in forms(linear).items()
            }
            if header is None:
                header = ["rows x in x out", *timed, "fp32 best / bf16", "fp32 best / int8"]
                print("| " + " | ".join(header) + " |")
                print("|" + "---|" * len(header))
            fp32 = min(t for name, t in timed.items() if name.startswith("fp32") and t)
            ratios = [
                f"{fp32 / timed[name]:.2f}x" if timed[name] else "—"
                for name in ("bf16 oneDNN", "int8")
            ]
            cells = [f"{t:.0f}" if t else "—" for t in timed.values()]
            print(f"| {rows} x {fan_in} x {fan_out} | " + " | ".join([*cells, *ratios]) + " |")


if __name__ == "__main__":
    main()
