"""Decoding separate batches at once, one single-threaded worker each.

Search steps are small matrix products ``[batch, d] x [d, d']``; split over two threads, each
product pays the threading overhead for little work, so two cores decode barely faster than
one. Giving each core its own batch instead (CTranslate2's ``inter_threads``) keeps both busy
on full-size products.

Workers are forked processes where that is safe, threads otherwise. A search step runs ~100
small PyTorch calls, and between them each thread needs the GIL, so two threads on two cores
wait for each other; forked processes do not (measured: 2 processes decode 15-20% faster than
2 threads, docs/benchmarks.md). A fork shares the model's weights copy-on-write and sees them
as they are at the call, so a model still being trained (validation) is decoded with its
current weights. Forking a process that runs other threads can deadlock the child (a lock held
by another thread at the fork is never released in it), so with any other thread alive (a
server, a progress-bar monitor, TensorBoard's writer) the workers are threads.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")
WorkerKind = Literal["auto", "thread", "process"]

# The job a forked pool works on: set just before the fork, so children inherit it and only
# item indices and results cross the pipe (work is usually a closure, which cannot be pickled).
_job: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def map_in_workers(
    work: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int,
    *,
    kind: WorkerKind = "auto",
) -> list[Result]:
    """``[work(item) for item in items]``, with up to ``workers`` items in flight at once.

    Each worker runs single-threaded (``torch.set_num_threads(1)``); the caller's thread
    count is kept. Items are handed out in order as workers free up, so batches of different
    lengths balance themselves. With one worker (or one item) this is a plain loop in the
    calling thread.

    Args:
        work: Decodes one item (e.g. one batch). It must not change shared state: in a worker
            process the change would be lost. Its results must pickle for processes.
        items: What to decode.
        workers: How many items may be decoded at once.
        kind: ``process`` (forked), ``thread``, or ``auto``: processes when
            :func:`can_fork_workers`, else threads.

    Returns:
        The results in the order of ``items``.
    """
    if workers <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    workers = min(workers, len(items))
    if kind == "process" or (kind == "auto" and can_fork_workers()):
        return _map_in_processes(work, items, workers)
    return _map_in_threads(work, items, workers)


def can_fork_workers() -> bool:
    """Whether forked worker processes are safe here: a platform with ``fork``, only this
    thread running, and not itself a daemonic process (those may not have children)."""
    return (
        sys.platform.startswith("linux")
        and threading.active_count() == 1
        and not multiprocessing.current_process().daemon
    )


def _map_in_threads(
    work: Callable[[Item], Result], items: Sequence[Item], workers: int
) -> list[Result]:
    threads = torch.get_num_threads()

    def single_threaded(item: Item) -> Result:
        torch.set_num_threads(1)
        return work(item)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(single_threaded, items))
    finally:
        torch.set_num_threads(threads)


def _map_in_processes(
    work: Callable[[Item], Result], items: Sequence[Item], workers: int
) -> list[Result]:
    global _job
    _job = (work, items)
    try:
        with multiprocessing.get_context("fork").Pool(workers, _single_threaded_child) as pool:
            return pool.map(_run_item, range(len(items)), chunksize=1)
    finally:
        _job = None


def _single_threaded_child() -> None:
    """Pool initializer: one thread, and Ctrl-C left to the parent, which stops the pool
    (otherwise every child would print its own KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def _run_item(index: int) -> Any:
    assert _job is not None, "set by _map_in_processes before the fork"
    work, items = _job
    return work(items[index])
