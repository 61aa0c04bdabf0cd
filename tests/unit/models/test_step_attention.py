"""The native step-attention kernel: PyTorch's attention to float32 rounding wherever it
applies, ``None`` (so PyTorch runs) wherever it does not, built once per machine, and a
decoder that uses it decodes what the PyTorch path decodes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import seq2seq.models.attention as attention_module
from seq2seq.config import ModelConfig
from seq2seq.decoding import beam_search, greedy_search
from seq2seq.models import build_model
from seq2seq.models import step_attention as native
from seq2seq.models.step_attention import MAX_QUERIES, build_library, step_attention


@pytest.fixture
def kernel_built() -> None:
    """Skips where this machine cannot build the kernel (no C compiler); asked at run time, so
    the build lands in the test session's cache, not the user's."""
    if not native.available():
        pytest.skip("the native kernel cannot be built here (no C compiler)")


needs_kernel = pytest.mark.usefixtures("kernel_built")


@pytest.fixture
def fresh_kernel() -> Iterator[None]:
    """Forgets the loaded kernel before and after a test that changes how it is built."""
    native._kernel.cache_clear()
    yield
    native._kernel.cache_clear()


def memory(batch: int, heads: int, length: int, width: int) -> tuple[Tensor, Tensor]:
    """Keys and values interleaved as the cross-attention packs them ``[B, h, S, 2, d]``."""
    packed = torch.randn(batch, heads, length, 2, width)
    return packed[..., 0, :], packed[..., 1, :]


def key_mask(batch: int, length: int) -> Tensor:
    """``[B, 1, 1, S]`` with random padding but at least one real position per row."""
    mask = torch.rand(batch, length) > 0.4
    mask[:, 0] = True
    return mask[:, None, None, :]


def reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@needs_kernel
@pytest.mark.parametrize("queries", [1, 3, MAX_QUERIES])
@pytest.mark.parametrize("length", [1, 7, 40])
@pytest.mark.parametrize("width", [16, 64, 128])
def test_equals_pytorch_attention(queries: int, length: int, width: int) -> None:
    q = torch.randn(3, 2, queries, width)
    k, v = memory(3, 2, length, width)
    mask = key_mask(3, length)
    with torch.no_grad():
        got = step_attention(q, k, v, mask)
        unmasked = step_attention(q, k.contiguous(), v.contiguous(), None)
    assert got is not None and unmasked is not None
    assert got.shape == (3, 2, queries, width)
    torch.testing.assert_close(got, reference(q, k, v, mask), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(unmasked, reference(q, k, v, None), rtol=1e-5, atol=1e-5)


@needs_kernel
def test_masked_positions_get_no_weight_and_a_fully_masked_row_gets_zeros() -> None:
    q = torch.randn(2, 4, 1, 32)
    k, v = memory(2, 4, 9, 32)
    mask = torch.ones(2, 1, 1, 9, dtype=torch.bool)
    mask[0, ..., 5:] = False
    mask[1] = False
    with torch.no_grad():
        before = step_attention(q, k, v, mask)
        k[0, :, 5:], v[0, :, 5:] = 1e4, -1e4  # what sits under the padding must not matter
        after = step_attention(q, k, v, mask)
    assert before is not None and after is not None
    torch.testing.assert_close(after[0], before[0], rtol=0, atol=0)
    assert torch.equal(after[1], torch.zeros_like(after[1]))


@needs_kernel
def test_the_context_merges_heads_without_a_copy() -> None:
    q = torch.randn(4, 2, 1, 16)
    k, v = memory(4, 2, 5, 16)
    with torch.no_grad():
        context = step_attention(q, k, v, None)
    assert context is not None
    assert context.transpose(1, 2).is_contiguous()  # [B, T, heads, d]: merge_heads is a view


@needs_kernel
@pytest.mark.parametrize(
    "case",
    [
        "gradients",
        "too many queries",
        "odd head width",
        "two threads",
        "float64",
        "per-query mask",
        "strided head width",
    ],
)
def test_answers_none_where_it_does_not_apply(case: str) -> None:
    q = torch.randn(2, 2, 1, 32)
    k, v = memory(2, 2, 6, 32)
    mask: Tensor | None = None
    threads = torch.get_num_threads()
    if case == "too many queries":
        q = torch.randn(2, 2, MAX_QUERIES + 1, 32)
    elif case == "odd head width":
        q, k, v = q[..., :24], k[..., :24], v[..., :24]
    elif case == "two threads":
        torch.set_num_threads(2)
    elif case == "float64":
        q, k, v = q.double(), k.double(), v.double()
    elif case == "per-query mask":
        mask = torch.ones(2, 2, 1, 6, dtype=torch.bool)  # one mask per head
    elif case == "strided head width":
        q = torch.randn(2, 2, 1, 64)[..., ::2]
    try:
        if case == "gradients":
            assert step_attention(q.requires_grad_(), k, v, mask) is None
        else:
            with torch.no_grad():
                assert step_attention(q, k, v, mask) is None
    finally:
        torch.set_num_threads(threads)


def test_switched_off_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, fresh_kernel: None
) -> None:
    monkeypatch.setenv("SEQ2SEQ_NATIVE", "0")
    q = torch.randn(1, 1, 1, 16)
    k, v = memory(1, 1, 3, 16)
    with torch.no_grad():
        assert step_attention(q, k, v, None) is None
    assert not native.available()


def test_without_a_compiler_decoding_falls_back_to_pytorch(
    monkeypatch: pytest.MonkeyPatch, fresh_kernel: None, tmp_path: Path
) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(RuntimeError, match="no C compiler found"):
        build_library(tmp_path)
    q = torch.randn(1, 1, 1, 16)
    k, v = memory(1, 1, 3, 16)
    with torch.no_grad():
        assert step_attention(q, k, v, None) is None


def test_a_failing_compiler_is_reported_with_its_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'error: this compiler is broken' >&2\nexit 1\n")
    compiler.chmod(compiler.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(compiler))
    with pytest.raises(RuntimeError, match=r"could not build step_attention\.c: .*this compiler"):
        build_library(tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())  # nothing half-written left behind


@needs_kernel
def test_builds_once_per_machine(tmp_path: Path) -> None:
    first = build_library(tmp_path)
    built_at = os.stat(first).st_mtime_ns
    assert build_library(tmp_path) == first
    assert os.stat(first).st_mtime_ns == built_at
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def tiny_transformer() -> torch.nn.Module:
    """Heads 16 wide, so the decoder's attention is the kernel's to take."""
    side = {
        "type": "transformer",
        "hidden_size": 32,
        "embedding_size": 32,
        "layers": 2,
        "heads": 2,
        "ff_size": 64,
    }
    config = {"encoder": side, "decoder": side}
    torch.manual_seed(0)
    return build_model(ModelConfig.model_validate(config), 20, 20, 0).eval()


@needs_kernel
@pytest.mark.parametrize("beam", [1, 3])
def test_search_decodes_the_same_with_and_without_it(
    beam: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_transformer()
    gen = torch.Generator().manual_seed(1)
    src = torch.randint(4, 20, (5, 9), generator=gen)
    lengths = torch.tensor([9, 3, 6, 9, 1])
    src[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    settings = {"bos_id": 2, "eos_id": 3, "max_lengths": torch.full((5,), 12), "attention": False}
    calls: list[tuple[int, bool]] = []  # (queries, took the kernel)

    def counted(query: Tensor, *args: Tensor | None) -> Tensor | None:
        out = step_attention(query, *args)  # type: ignore[arg-type]
        calls.append((query.size(2), out is not None))
        return out

    def decode() -> list[tuple[list[int], float]]:
        if beam == 1:
            found = greedy_search(model, src, lengths, **settings)
        else:
            found = [h[0] for h in beam_search(model, src, lengths, beam_size=beam, **settings)]
        return [(list(h.tokens), h.score) for h in found]

    monkeypatch.setattr(attention_module, "step_attention", counted)
    native_result = decode()
    steps = [took for queries, took in calls if queries <= MAX_QUERIES]  # not the encoder's
    assert steps and all(steps)  # every search step's attention took the kernel
    monkeypatch.setattr(attention_module, "step_attention", lambda *args: None)
    pytorch_result = decode()
    assert [t for t, _ in native_result] == [t for t, _ in pytorch_result]
    for (_, got), (_, want) in zip(native_result, pytorch_result, strict=True):
        assert got == pytest.approx(want, abs=1e-4)
