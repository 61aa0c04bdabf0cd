"""Where and in which precision a model runs: device choice, bf16 detection, autocast.

bf16 autocast keeps fp32 master weights (the optimizer never sees bf16) and runs matmuls in
bf16. It is fast only where the hardware has bf16 matrix units: CUDA GPUs from Ampere on, and
CPUs with AMX or AVX-512-BF16. Elsewhere PyTorch emulates bf16 matmuls hundreds of times slower
than fp32 (measured 0.3 vs 131 GFLOP/s on an AVX2-only EPYC), so ``precision: auto`` picks bf16
only where it is fast, and an explicit ``bf16`` on such a CPU is allowed but warned about.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, ExitStack, nullcontext

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from seq2seq.errors import ConfigError

logger = logging.getLogger(__name__)
_CUDA_BF16_ATTENTION = [
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
]
_warned: set[tuple[str, str]] = set()  # slow-bf16 warnings already given (once per key/device)


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"{key}: {name!r} is not a device; use cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}: {name!r}: no CUDA device is available here; use auto or cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"{key}: {name!r}: only cpu, cuda, cuda:N or auto are supported")
    return device


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 matmuls beat fp32: a bf16-capable GPU, or a CPU with AMX/AVX-512-BF16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, check, lambda: False)() for check in checks)


def resolve_precision(name: str, device: torch.device, key: str = "train.precision") -> str:
    """Maps ``auto|fp32|bf16|int8`` to the precision actually used (``fp32``, ``bf16`` or
    ``int8``; int8 is a search setting and runs on CPUs only)."""
    if name == "int8" and device.type != "cpu":
        raise ConfigError(
            f"{key}: 'int8' (int8 linear layers) runs on a CPU only; on {device.type} use "
            "fp32 or bf16"
        )
    if name == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if name == "bf16" and not fast_bf16(device) and (key, device.type) not in _warned:
        _warned.add((key, device.type))
        logger.warning(
            "%s: bf16 on this %s has no bf16 matrix units and runs far slower than fp32",
            key,
            device.type,
        )
    return name


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """bf16 autocast when ``precision == "bf16"``, otherwise a no-op context.

    On CUDA, bf16 attention would otherwise go to cuDNN's kernel, which is rebuilt for every
    new sequence-length shape; with a different batch shape at every step that made training
    ~12x slower than fp32 on an H200. The flash / memory-efficient kernels have no such cost.
    """
    cast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if device.type != "cuda" or precision != "bf16":
        return cast
    stack = ExitStack()
    stack.enter_context(cast)
    stack.enter_context(sdpa_kernel(_CUDA_BF16_ATTENTION))
    return stack


def rnn_autocast_guard(x: torch.Tensor) -> tuple[AbstractContextManager[object], torch.Tensor]:
    """Runs recurrent kernels in fp32 on CPU under autocast.

    oneDNN has no bf16 LSTM primitive on many CPUs ("could not create a primitive descriptor"),
    so inside a CPU autocast region the RNN call is taken out of autocast and fed fp32 input.

    Returns:
        The context to run the RNN in, and ``x`` in the dtype it expects.
    """
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        return torch.autocast("cpu", enabled=False), x.float()
    return nullcontext(), x
