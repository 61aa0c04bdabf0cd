"""Reallocating a large tensor after freeing it costs no page faults once freed memory is kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import resource, sys, torch
    from seq2seq.host_memory import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    def faults_touching_a_fresh_64_mb_tensor():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(16 * 1024 * 1024)  # written, then freed when it goes out of scope
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    faults_touching_a_fresh_64_mb_tensor()  # the first time always maps new pages
    print(min(faults_touching_a_fresh_64_mb_tensor() for _ in range(3)))
    """
)


def faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults() -> None:
    assert faults("default") > 10_000  # 64 MB in 4 KB pages, mapped again every time
    assert faults("keep") < 1_000
