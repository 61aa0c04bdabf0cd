"""Keep freed CPU memory in the process for reuse, instead of handing it back to the kernel.

A CPU training step allocates and frees the same large tensors every time: on the Bible
Transformer the output layer's ``[tokens, 8000]`` logits, log-probs and gradients are 120 MB
each. glibc's ``malloc`` serves blocks above 32 MB with a fresh ``mmap`` and returns them with
``munmap`` on free (and trims the heap top above 128 KB), so every step pays the kernel to map
and zero those pages again on first touch: ~100,000 page faults a step, measured at 1.3 million
in 13 steps. With ``mmap`` off and trimming above 1 GiB, freed blocks are reused: 0.4 million
faults over the same run, and +6-20% training tokens/s in interleaved runs (docs/benchmarks.md).

Decoding on a CPU has the same pattern at a smaller size: every step allocates the
``[rows, vocab]`` logits and log-probs (4 MB each at beam 4, batch 32, 8k vocabulary) and frees
them again. Kept memory removed ~95,000 page faults per 160 sentences at beam 4 and gave
+12-15% target tokens/s (greedy and beam 4, docs/benchmarks.md), so :class:`Translator` asks
for it on its first CPU search as ``train`` does at its start.

The cost is that the process's resident memory stays near its peak, which a training or
decoding process reaches at every step anyway. It changes nothing off glibc (macOS, musl,
Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h> mallopt parameters
_M_MMAP_MAX = -4
_TRIM_ABOVE = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Tells glibc's allocator to reuse freed memory rather than return it to the kernel
    (once per process; later calls return the first answer).

    Returns:
        True if glibc accepted both settings, False where there is no glibc ``mallopt``.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # another C library: leave it alone
        return False
    mallopt = libc.mallopt
    accepted = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE) == 1
    logger.debug("glibc malloc keeps freed memory: %s", accepted)
    return accepted
