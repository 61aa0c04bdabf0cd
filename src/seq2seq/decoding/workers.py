"""Decoding separate batches at once, one single-threaded worker each.

Search steps are small matrix products ``[batch, d] x [d, d']``; split over two threads, each
product pays the threading overhead for little work, so two cores decode barely faster than
one. Giving each core its own batch instead (CTranslate2's ``inter_threads``) keeps both busy
on full-size products. Workers are threads, not processes: PyTorch releases the GIL inside its
kernels, the model is shared without copies (also a model still being trained, as in
validation), and results come back in order without pickling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_workers(
    work: Callable[[Item], Result], items: Sequence[Item], workers: int
) -> list[Result]:
    """``[work(item) for item in items]``, with up to ``workers`` items in flight at once.

    Each worker runs single-threaded (``torch.set_num_threads(1)``); the caller's thread
    count is restored afterwards. Items are handed out in order as workers free up, so
    batches of different lengths balance themselves. With one worker (or one item) this is a
    plain loop in the calling thread.

    Args:
        work: Decodes one item (e.g. one batch); must only read shared state.
        items: What to decode.
        workers: How many items may be decoded at once.

    Returns:
        The results in the order of ``items``.
    """
    if workers <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    threads = torch.get_num_threads()

    def single_threaded(item: Item) -> Result:
        torch.set_num_threads(1)
        return work(item)

    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            return list(pool.map(single_threaded, items))
    finally:
        torch.set_num_threads(threads)
