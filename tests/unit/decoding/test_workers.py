"""``search.workers``: batches decoded at once give the same translations, in input order."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Iterator

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator

import seq2seq.decoding.translator as translator_module
from seq2seq.decoding.workers import can_fork_workers, map_in_workers

KINDS = ["thread", "process"] if sys.platform.startswith("linux") else ["thread"]


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A second thread alive for the test's duration (as a server or progress bar has)."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.mark.parametrize("kind", KINDS)
def test_results_keep_the_order_of_the_items(kind: str) -> None:
    items = list(range(20))
    assert map_in_workers(lambda x: x * x, items, workers=3, kind=kind) == [x * x for x in items]


def test_each_worker_is_single_threaded_and_the_caller_keeps_its_threads() -> None:
    before = torch.get_num_threads()
    seen: list[tuple[str, int]] = []

    def work(item: int) -> int:
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return item

    map_in_workers(work, list(range(8)), workers=2, kind="thread")
    assert {threads for _, threads in seen} == {1}
    assert all(name != threading.main_thread().name for name, _ in seen)
    assert torch.get_num_threads() == before


def test_one_worker_runs_in_the_calling_thread() -> None:
    names = map_in_workers(lambda _: threading.current_thread().name, [1, 2, 3], workers=1)
    assert set(names) == {threading.main_thread().name}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers")
def test_worker_processes_are_single_threaded_children_and_the_caller_keeps_its_threads() -> None:
    before = torch.get_num_threads()
    seen = map_in_workers(
        lambda _: (os.getpid(), torch.get_num_threads()), list(range(8)), workers=2, kind="process"
    )
    assert {threads for _, threads in seen} == {1}
    assert os.getpid() not in {pid for pid, _ in seen}
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers")
def test_ctrl_c_is_left_to_the_parent_not_each_worker_process() -> None:
    ignored = map_in_workers(
        lambda _: signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
        [1, 2, 3],
        workers=2,
        kind="process",
    )
    assert ignored == [True, True, True]
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_in_a_worker_reaches_the_caller(kind: str) -> None:
    def work(item: int) -> int:
        if item == 3:
            raise ValueError("bad item 3")
        return item

    with pytest.raises(ValueError, match="bad item 3"):
        map_in_workers(work, list(range(6)), workers=2, kind=kind)


@pytest.mark.usefixtures("another_thread")
def test_with_another_thread_running_workers_are_threads_not_forks() -> None:
    assert not can_fork_workers()
    pids = map_in_workers(lambda _: os.getpid(), list(range(4)), workers=2)
    assert set(pids) == {os.getpid()}


def test_auto_forks_exactly_when_forking_is_safe() -> None:
    forks = can_fork_workers()
    pids = map_in_workers(lambda _: os.getpid(), list(range(4)), workers=2)
    assert (os.getpid() not in pids) == forks


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam_size", [1, 3])
def test_translations_with_workers_equal_those_without(
    beam_size: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        translator_module, "map_in_workers", functools.partial(map_in_workers, kind=kind)
    )
    translator = tiny_translator()
    words = " ".join(SOURCES).split()
    sources = [
        " ".join(words[(i * 3 + j) % len(words)] for j in range(1 + i % 6)) for i in range(23)
    ]
    search = {"beam_size": beam_size, "batch_size": 4}
    alone = translator.translate(sources, workers=1, **search)
    together = translator.translate(sources, workers=3, **search)
    assert [t.source for t in together] == sources
    assert [[c.text for c in t.candidates] for t in together] == [
        [c.text for c in t.candidates] for t in alone
    ]
    assert [t.score for t in together] == pytest.approx([t.score for t in alone])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers")
def test_worker_processes_decode_with_the_weights_of_the_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validation during training: weights changed between calls are seen by new workers."""
    monkeypatch.setattr(
        translator_module, "map_in_workers", functools.partial(map_in_workers, kind="process")
    )
    translator = tiny_translator()
    sources = [*SOURCES, *SOURCES]
    before = translator.translate(sources, workers=2, batch_size=2)
    with torch.no_grad():
        for parameter in translator.model.parameters():
            parameter.mul_(-1.5)
    alone = translator.translate(sources, workers=1, batch_size=2)
    together = translator.translate(sources, workers=2, batch_size=2)
    assert [t.text for t in together] == [t.text for t in alone]
    assert [t.score for t in together] == pytest.approx([t.score for t in alone])
    assert [t.score for t in together] != pytest.approx([t.score for t in before])
