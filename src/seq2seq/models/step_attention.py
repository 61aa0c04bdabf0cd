"""Attention for a decoding step in one pass over the keys and one over the values (CPU).

A search step attends from one query per row (``group`` per sentence in beam search) over the
encoder's keys and values, and over the decoder's own cache. PyTorch's CPU
``scaled_dot_product_attention`` runs two small matrix products per batch entry and head for
that, each a library call with its own set-up, and it reads the memory in blocks that the
prefetchers follow poorly: on the 2-vCPU Zen 4 of docs/benchmarks.md it took ~600 us for
32 x 4 heads x 40 positions with its data out of cache, against ~100 us to merely read that
data. The int8 Transformer spent ~28% of a greedy step in attention.

``step_attention.c`` does the same arithmetic as straight loops: per batch entry and head, the
scores of every query against the keys row by row, a softmax, then the values row by row into
the queries' contexts. It is compiled once per machine with the system's C compiler (``$CC``,
else ``cc``; ``-O3 -march=native``, under a second) into the cache directory and loaded with
ctypes; no PyTorch headers, no build step at install. Without a compiler, with
``SEQ2SEQ_NATIVE=0``, with gradients on, with more than one intra-op thread (the kernel is
single-threaded; PyTorch spreads heads over threads) or for shapes it does not cover,
:func:`step_attention` answers ``None`` and the caller uses PyTorch: same results within
float32 rounding (~1e-6).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from pathlib import Path

import torch
from torch import Tensor

from seq2seq.cache import cache_dir
from seq2seq.files import atomic_write

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("step_attention.c")
MAX_QUERIES = 8
"""Queries per batch entry beyond which PyTorch's batched products are the faster path."""
MAX_WIDTH = 256
"""Widest head (``d_head``) the kernel's accumulators hold."""
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))
"""Compiler flags tried in order: tuned for this CPU, then portable."""

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_ARGTYPES = [_PTR, *[_I64] * 3] * 3 + [_PTR, _I64, _PTR, *[_I64] * 3, *[_I64] * 5, ctypes.c_float]


def step_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None
) -> Tensor | None:
    """Softmax attention of a few queries, or ``None`` where the native kernel does not apply.

    Args:
        query: ``[B, heads, T, d_head]`` float32 with ``T <= MAX_QUERIES``.
        keys, values: ``[B, heads, S, d_head]`` float32 (any strides but the last).
        mask: ``None`` or bool ``[B, 1, 1, S]``, True on positions that may be attended to.

    Returns:
        The context ``[B, heads, T, d_head]`` (a view of a ``[B, T, heads, d_head]`` tensor,
        so merging the heads afterwards copies nothing), or ``None``.
    """
    if torch.is_grad_enabled() or not _applies(query, keys, values):
        return None
    if mask is not None and not _mask_applies(mask, keys):
        return None
    kernel = _kernel()
    if kernel is None:
        return None
    batch, heads, length, width = query.shape
    out = query.new_empty(batch, length, heads, width).transpose(1, 2)
    failed = kernel(
        query.data_ptr(), *query.stride()[:3],
        keys.data_ptr(), *keys.stride()[:3],
        values.data_ptr(), *values.stride()[:3],
        None if mask is None else mask.data_ptr(), 0 if mask is None else mask.stride(0),
        out.data_ptr(), *out.stride()[:3],
        batch, heads, length, keys.size(2), width, width**-0.5,
    )  # fmt: skip
    if failed:
        raise MemoryError("step_attention: could not allocate its score buffer")
    return out


def _applies(query: Tensor, keys: Tensor, values: Tensor) -> bool:
    """CPU float32 tensors of matching shapes the kernel covers, one intra-op thread.

    Spelled out test by test: it runs six times a decoding step, and a generator over the
    three tensors cost more than the checks themselves."""
    shape, memory_shape = query.shape, keys.shape
    return (
        len(shape) == len(memory_shape) == 4
        and shape[2] <= MAX_QUERIES
        and query.is_cpu
        and keys.is_cpu
        and values.is_cpu
        and query.dtype is torch.float32
        and keys.dtype is torch.float32
        and values.dtype is torch.float32
        and memory_shape == values.shape
        and shape[:2] == memory_shape[:2]
        and shape[3] == memory_shape[3]
        and shape[3] % 16 == 0
        and shape[3] <= MAX_WIDTH
        and query.stride(3) == keys.stride(3) == values.stride(3) == 1
        and torch.get_num_threads() == 1
    )


def _mask_applies(mask: Tensor, keys: Tensor) -> bool:
    """A bool key mask ``[B, 1, 1, S]`` with contiguous positions."""
    return (
        mask.dtype == torch.bool
        and mask.dim() == 4
        and mask.size(0) == keys.size(0)
        and mask.size(1) == mask.size(2) == 1
        and mask.size(3) == keys.size(2)
        and mask.stride(3) == 1
    )


def available() -> bool:
    """Whether the native kernel is built and loaded in this process (builds it if needed)."""
    return _kernel() is not None


@functools.cache
def _kernel() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """The compiled ``step_attention`` C function, built on first use; ``None`` if it cannot
    be (the reason is logged once)."""
    if os.environ.get("SEQ2SEQ_NATIVE", "1") == "0":
        logger.info("native step attention off (SEQ2SEQ_NATIVE=0)")
        return None
    try:
        library = ctypes.CDLL(str(build_library()))
    except (OSError, RuntimeError) as err:
        logger.info("native step attention unavailable, using PyTorch's: %s", err)
        return None
    function = library.step_attention
    function.argtypes, function.restype = _ARGTYPES, ctypes.c_int
    return function


def build_library(out_dir: Path | None = None) -> Path:
    """Compiles ``step_attention.c`` for this machine, once: the shared library's name is a
    digest of the source, compiler, flags and CPU, so a changed one builds afresh.

    Args:
        out_dir: Where the library goes (default ``cache_dir() / "native"``).

    Raises:
        RuntimeError: No C compiler, or it failed under every flag set.
    """
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler or not shutil.which(compiler):
        named = os.environ.get("CC", "")
        raise RuntimeError(f"no C compiler found (CC={named!r}, and no 'cc' on PATH)")
    out_dir = out_dir or cache_dir() / "native"
    errors = []
    for flags in FLAG_SETS:
        target = out_dir / f"step_attention-{_digest(compiler, flags)}.so"
        if target.exists():
            return target
        error = _compile(compiler, flags, target)
        if error is None:
            return target
        errors.append(f"{' '.join(flags)}: {error}")
    raise RuntimeError(f"{compiler} could not build {SOURCE.name}: {'; '.join(errors)}")


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> str | None:
    """Builds ``target`` atomically (``atomic_write``); the compiler's last error line on
    failure, else ``None``."""

    def run_compiler(temporary: Path) -> None:
        command = [compiler, *flags, "-std=gnu11", "-shared", "-fPIC", "-o", str(temporary)]
        result = subprocess.run(
            [*command, str(SOURCE), "-lm"], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise _CompileError(lines[-1] if lines else f"exit status {result.returncode}")

    try:
        atomic_write(target, run_compiler)
    except (_CompileError, OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    return None


class _CompileError(Exception):
    """The compiler ran and failed; the message is its last error line."""


def _digest(compiler: str, flags: tuple[str, ...]) -> str:
    """A short digest of what the library depends on: source, compiler, flags and this CPU."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (compiler, *flags, platform.machine(), _cpu_features()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _cpu_features() -> str:
    """The CPU's model and feature flags (``-march=native`` builds for exactly these)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line for line in lines if line.split(":")[0].strip() in wanted}))
