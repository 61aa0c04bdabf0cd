"""Checkpoint files: atomic writes, weight round trips and code-free, checked loading."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from seq2seq.config import ModelConfig
from seq2seq.errors import ModelDirError
from seq2seq.files import atomic_write
from seq2seq.models import Seq2Seq, build_model
from seq2seq.training.checkpoint import (
    append_metrics,
    load_training_state,
    load_weights,
    save_training_state,
    save_weights,
)

VOCAB, PAD = 15, 0
MakeConfig = Callable[..., ModelConfig]


def make_model(cfg: ModelConfig, seed: int) -> Seq2Seq:
    torch.manual_seed(seed)
    return build_model(cfg, VOCAB, VOCAB, PAD).eval()


def outputs(model: Seq2Seq) -> torch.Tensor:
    src = torch.tensor([[4, 5, 6, 3], [7, 3, 0, 0]])
    tgt_in = torch.tensor([[2, 8, 9], [2, 10, 0]])
    logits, _ = model(src, torch.tensor([4, 2]), tgt_in)
    return logits


# --- atomic_write ----------------------------------------------------------------------------


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.bin"
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_atomic_write_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def half_write(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        atomic_write(target, half_write)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


# --- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"decoder": {"hidden_size": 8, "embedding_size": 8, "tie_embeddings": True}},
        {"share_embeddings": True},
        {
            "share_embeddings": True,
            "decoder": {"hidden_size": 8, "embedding_size": 8, "tie_embeddings": True},
        },
        {"encoder": {"type": "gru", "bidirectional": True, "layers": 2}, "attention": "bahdanau"},
    ],
    ids=["plain", "tied", "shared", "tied+shared", "gru-bahdanau"],
)
def test_weights_round_trip(
    tmp_path: Path, small_model_config: MakeConfig, changes: dict[str, Any]
) -> None:
    cfg = small_model_config(**changes)
    trained = make_model(cfg, seed=0)
    path = tmp_path / "model.safetensors"
    save_weights(trained, path)
    fresh = make_model(cfg, seed=1)
    with torch.no_grad():
        assert not torch.equal(outputs(fresh), outputs(trained))
    load_weights(fresh, path)
    for (name, got), (_, want) in zip(
        fresh.state_dict().items(), trained.state_dict().items(), strict=True
    ):
        assert torch.equal(got, want), name
    with torch.no_grad():
        assert torch.equal(outputs(fresh), outputs(trained))
    if cfg.decoder.tie_embeddings:
        assert fresh.generator.weight is fresh.tgt_embed.weight
    if cfg.share_embeddings:
        assert fresh.src_embed.weight is fresh.tgt_embed.weight


def test_missing_weights_file_is_a_model_dir_error(
    tmp_path: Path, small_model_config: MakeConfig
) -> None:
    path = tmp_path / "model.safetensors"
    with pytest.raises(ModelDirError, match=str(path)):
        load_weights(make_model(small_model_config(), 0), path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "header-only"])
def test_corrupt_weights_file_is_a_model_dir_error(
    tmp_path: Path, small_model_config: MakeConfig, damage: str
) -> None:
    model = make_model(small_model_config(), 0)
    path = tmp_path / "model.safetensors"
    save_weights(model, path)
    data = path.read_bytes()
    damaged = {
        "garbage": b"\x00\x01not safetensors at all" * 10,
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "header-only": data[:8],
    }[damage]
    path.write_bytes(damaged)
    with pytest.raises(ModelDirError, match=str(path)):
        load_weights(model, path)


def test_weights_of_another_architecture_are_a_model_dir_error(
    tmp_path: Path, small_model_config: MakeConfig
) -> None:
    path = tmp_path / "model.safetensors"
    save_weights(make_model(small_model_config(), 0), path)
    other = make_model(small_model_config(encoder={"layers": 2}), 0)
    with pytest.raises(ModelDirError, match=str(path)):
        load_weights(other, path)
    wider = make_model(small_model_config(decoder={"hidden_size": 24}), 0)
    with pytest.raises(ModelDirError, match=str(path)):
        load_weights(wider, path)


# --- training state --------------------------------------------------------------------------


def test_training_state_round_trip(tmp_path: Path, small_model_config: MakeConfig) -> None:
    model = make_model(small_model_config(), 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    outputs(model).sum().backward()
    optimizer.step()
    state = {
        "progress": {"step": 7, "epoch": 1, "best_score": None, "best_step": 0},
        "optimizer": optimizer.state_dict(),
        "schedule": {"base_lr": 0.01, "bad_validations": 2},
        "torch_rng": torch.get_rng_state(),
    }
    path = tmp_path / "training_state.pt"
    save_training_state(state, path)
    loaded = load_training_state(path)
    assert loaded["progress"] == state["progress"]
    assert loaded["schedule"] == state["schedule"]
    assert torch.equal(loaded["torch_rng"], state["torch_rng"])
    restored = torch.optim.Adam(make_model(small_model_config(), 1).parameters(), lr=0.5)
    restored.load_state_dict(loaded["optimizer"])
    assert restored.param_groups[0]["lr"] == 0.01
    for key, value in optimizer.state[optimizer.param_groups[0]["params"][0]].items():
        got = restored.state[restored.param_groups[0]["params"][0]][key]
        assert torch.equal(torch.as_tensor(got), torch.as_tensor(value))


class _RunsCodeWhenUnpickled:
    """Unpickling this calls ``open(marker, "w")``: code execution a checkpoint must not do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_training_state_with_a_pickled_object_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "training_state.pt"
    torch.save({"progress": {"step": 1}, "payload": _RunsCodeWhenUnpickled(marker)}, path)
    with pytest.raises(ModelDirError, match=str(path)):
        load_training_state(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"PK\x03\x04broken zip"])
def test_corrupt_training_state_is_a_model_dir_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "training_state.pt"
    path.write_bytes(content)
    with pytest.raises(ModelDirError, match=str(path)):
        load_training_state(path)


def test_missing_training_state_is_a_model_dir_error(tmp_path: Path) -> None:
    path = tmp_path / "training_state.pt"
    with pytest.raises(ModelDirError, match=r"training_state\.pt.*--resume"):
        load_training_state(path)


def test_metrics_are_appended_as_json_lines(tmp_path: Path) -> None:
    append_metrics(tmp_path, {"kind": "train", "step": 1, "loss": 2.5})
    append_metrics(tmp_path, {"kind": "valid", "step": 1, "bleu": 10.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"kind": "train", "step": 1, "loss": 2.5},
        {"kind": "valid", "step": 1, "bleu": 10.0},
    ]


def packed_lstm(seed: int) -> tuple[torch.nn.LSTM, torch.Tensor]:
    """An LSTM whose weights are all views of one flat buffer, as cuDNN lays them out on a GPU."""
    torch.manual_seed(seed)
    rnn = torch.nn.LSTM(3, 4)
    flat = torch.cat([p.detach().reshape(-1) for p in rnn.parameters()])
    offset = 0
    for param in rnn.parameters():
        size = param.numel()
        param.data = flat[offset : offset + size].view_as(param)
        offset += size
    return rnn, flat


def test_weights_that_are_views_of_one_buffer_save_and_load(tmp_path: Path) -> None:
    """Saving a packed model must not refuse it, and the file must hold each weight once."""
    rnn, flat = packed_lstm(0)
    path = tmp_path / "model.safetensors"
    save_weights(rnn, path)
    fresh = torch.nn.LSTM(3, 4)
    load_weights(fresh, path)
    for (name, got), (_, want) in zip(
        fresh.state_dict().items(), rnn.state_dict().items(), strict=True
    ):
        assert torch.equal(got, want), name
    assert path.stat().st_size < 2 * flat.numel() * 4  # not one copy of the buffer per weight


def test_weights_load_into_a_packed_model(tmp_path: Path) -> None:
    """Resuming on a GPU loads into a model whose RNN weights cuDNN has already packed; the
    values must land in the packed buffer (found on an H200: safetensors' load_model refused)."""
    source = torch.nn.LSTM(3, 4)
    path = tmp_path / "model.safetensors"
    save_weights(source, path)
    target, flat = packed_lstm(1)
    load_weights(target, path)
    for (name, got), (_, want) in zip(
        target.state_dict().items(), source.state_dict().items(), strict=True
    ):
        assert torch.equal(got, want), name
    assert torch.equal(flat, torch.cat([p.detach().reshape(-1) for p in source.parameters()]))
