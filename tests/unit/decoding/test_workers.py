"""``search.workers``: batches decoded at once give the same translations, in input order."""

from __future__ import annotations

import threading

import pytest
import torch
from tiny_translator import SOURCES, tiny_translator

from seq2seq.decoding.workers import map_in_workers


def test_results_keep_the_order_of_the_items() -> None:
    items = list(range(20))
    assert map_in_workers(lambda x: x * x, items, workers=3) == [x * x for x in items]


def test_each_worker_is_single_threaded_and_the_caller_keeps_its_threads() -> None:
    before = torch.get_num_threads()
    seen: list[tuple[str, int]] = []

    def work(item: int) -> int:
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return item

    map_in_workers(work, list(range(8)), workers=2)
    assert {threads for _, threads in seen} == {1}
    assert all(name != threading.main_thread().name for name, _ in seen)
    assert torch.get_num_threads() == before


def test_one_worker_runs_in_the_calling_thread() -> None:
    names = map_in_workers(lambda _: threading.current_thread().name, [1, 2, 3], workers=1)
    assert set(names) == {threading.main_thread().name}


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    def work(item: int) -> int:
        if item == 3:
            raise ValueError("bad item 3")
        return item

    with pytest.raises(ValueError, match="bad item 3"):
        map_in_workers(work, list(range(6)), workers=2)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_translations_with_workers_equal_those_without(beam_size: int) -> None:
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
