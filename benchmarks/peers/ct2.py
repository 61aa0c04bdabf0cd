"""CTranslate2 4.8.5: decoding speed of the OpenNMT-py Transformer, converted, fp32 or int8.

The model is OpenNMT-py's (``opennmt.ensure_model``) trained with ``self_attn_type:
scaled-dot``: CTranslate2's converter refuses OpenNMT-py 3.5's default ``scaled-dot-flash``
(the weights are the same; only the attention kernel OpenNMT-py would use differs). It is
converted once to float32 under ``DIR/peer-models/ct2-transformer``; int8 is CTranslate2's
quantization of those weights at load time (``compute_type="int8"``).

Timed: one ``Translator.translate_batch`` call over all the sentences, which splits them into
batches of ``--batch`` and hands the batches to ``inter_threads`` workers, each with
``intra_threads`` OpenMP threads. The headline figure is 2 workers x 1 thread (on 2 cores the
tiny per-step matmuls lose to threading overhead); 1 worker x 2 threads is reported beside it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import opennmt
from common import PeerError, check_data_dir, decode_result

COMPUTE_TYPES = {"ct2-fp32": "float32", "ct2-int8": "int8"}


def ensure_model(model: str, data_dir: Path, steps: int) -> Path:
    """The converted CTranslate2 model directory (converting the OpenNMT-py model once)."""
    if model != "transformer":
        raise PeerError(
            "CTranslate2 4.8.5's OpenNMT-py converter accepts Transformer models only "
            "(its check_opt requires encoder_type and decoder_type 'transformer'); no RNN "
            "model can be converted, so there is no CTranslate2 LSTM figure"
        )
    out = data_dir / "peer-models" / f"ct2-{model}"
    if (out / "model.bin").is_file():
        return out
    import ctranslate2

    ckpt = opennmt.ensure_model(model, data_dir, steps, self_attn_type="scaled-dot")
    converter = ctranslate2.converters.OpenNMTPyConverter(str(ckpt), unsafe_deserialization=True)
    converter.convert(str(out), force=True)
    return out


def _translate(
    model_dir: Path,
    compute_type: str,
    workers: int,
    threads_per_worker: int,
    sources: list[list[str]],
    beam: int,
    batch: int,
    force_len: int,
) -> dict[str, Any]:
    """Load a Translator, then time one translate_batch over ``sources``."""
    import ctranslate2

    translator = ctranslate2.Translator(
        str(model_dir),
        device="cpu",
        compute_type=compute_type,
        inter_threads=workers,
        intra_threads=threads_per_worker,
    )
    start = time.perf_counter()
    results = translator.translate_batch(
        sources,
        max_batch_size=batch,
        batch_type="examples",
        beam_size=beam,
        min_decoding_length=force_len,
        max_decoding_length=force_len,
    )
    seconds = time.perf_counter() - start
    del translator
    lengths = [len(result.hypotheses[0]) for result in results]
    return decode_result(lengths, seconds, force_len)


def decode_speed(
    system: str,
    model: str,
    data_dir: Path,
    beam: int,
    n: int,
    batch: int,
    force_len: int,
    threads: int,
    model_steps: int,
) -> dict[str, Any]:
    """Target tokens per second with ``threads`` single-threaded workers, and 1 x ``threads``."""
    check_data_dir(data_dir, "test.src")
    model_dir = ensure_model(model, data_dir, model_steps)
    with (data_dir / "test.src").open(encoding="utf-8") as f:
        sources = [line.split() for _, line in zip(range(n), f, strict=False)]
    if not sources:
        raise PeerError(f"{data_dir / 'test.src'} is empty")
    compute_type = COMPUTE_TYPES[system]
    args = (sources, beam, batch, force_len)
    result = _translate(model_dir, compute_type, threads, 1, *args)
    one_worker = _translate(model_dir, compute_type, 1, threads, *args)
    result.update(
        inter_threads=threads,
        intra_threads=1,
        tok_s_1_worker=one_worker["tok_s"],
        one_worker=f"1 worker x {threads} threads",
        note=f"compute_type {compute_type}; tok_s: {threads} workers x 1 thread on separate "
        f"batches of {batch}; tok_s_1_worker: 1 worker x {threads} threads; model converted "
        "from OpenNMT-py trained with self_attn_type scaled-dot",
    )
    if "warning" in one_worker:
        result["warning_1_worker"] = one_worker["warning"]
    return result
