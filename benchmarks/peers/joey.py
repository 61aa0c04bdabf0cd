"""Joey NMT 2.3.0: training and decoding speed, run in-process through Joey's own code.

Training goes through ``joeynmt.training.train`` (what ``python -m joeynmt train`` runs);
decoding through ``joeynmt.prediction.predict`` (what ``joeynmt test`` runs per data set), with
the model loaded before the clock starts. Three patches, each for a gap in Joey 2.3.0:

* ``RecurrentEncoder.forward`` reads the backward direction's final state even when
  ``bidirectional: false`` and crashes; the patched forward takes the forward state alone.
* ``predict`` does not pass ``testing.min_output_length`` to search; the patched ``search``
  receives it, so every hypothesis is exactly ``--force-len`` tokens.
* ``TrainManager._train_step`` / ``_save_checkpoint`` are wrapped to time each step and count
  its tokens (Joey logs target tokens per second only).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from common import (
    PeerError,
    StepClock,
    check_data_dir,
    count_params,
    count_real,
    decode_result,
    fresh_dir,
    head_lines,
    load_template,
    set_threads,
    write_peer_vocab,
    write_yaml,
)

DEV_LINES = 16  # a placeholder dev set: Joey needs one, the timed steps never validate


def _config(model: str, data_dir: Path, work: Path) -> dict[str, Any]:
    """The template for ``model`` with the data and model paths of ``work`` filled in."""
    cfg = load_template(f"joey-{model}")
    check_data_dir(data_dir, "train.src", "train.tgt", "vocab.txt")
    write_peer_vocab(data_dir, work / "vocab.txt")
    head_lines(data_dir / "train.src", work / "dev.src", DEV_LINES)
    head_lines(data_dir / "train.tgt", work / "dev.tgt", DEV_LINES)
    cfg["data"]["train"] = str(data_dir / "train")
    cfg["data"]["dev"] = str(work / "dev")
    for side in ("src", "trg"):
        cfg["data"][side]["voc_file"] = str(work / "vocab.txt")
    cfg["training"]["model_dir"] = str(work / "model")
    cfg["model_dir"] = str(work / "model")
    return cfg


def _unidirectional_safe_forward(
    self: Any, src_embed: Any, src_length: Any, mask: Any, **kwargs: Any
) -> tuple[Any, Any]:
    """Joey's ``RecurrentEncoder.forward`` that also works with ``bidirectional: false``.

    Same computation as Joey's; only the final state differs: the top layer's forward state
    ``[batch, hidden]`` instead of a concatenation with a backward state that does not exist.
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    total_length = src_embed.size(1)
    src_embed = self.emb_dropout(src_embed)
    packed = pack_padded_sequence(src_embed, src_length.cpu(), batch_first=True)
    output, hidden = self.rnn(packed)
    if isinstance(hidden, tuple):
        hidden = hidden[0]  # LSTM: (h, c) -> h
    output, _ = pad_packed_sequence(output, batch_first=True, total_length=total_length)
    directions = 2 if self.rnn.bidirectional else 1
    # hidden: [layers * directions, batch, hidden] -> [layers, directions, batch, hidden]
    layerwise = hidden.view(self.rnn.num_layers, directions, hidden.size(1), self.rnn.hidden_size)
    last = [layerwise[-1, d] for d in range(directions)]  # each [batch, hidden]
    return output, torch.cat(last, dim=1)


def _patch_encoder() -> None:
    from joeynmt import encoders

    encoders.RecurrentEncoder.forward = _unidirectional_safe_forward


def _patch_step_clock(clock: StepClock, seen: dict[str, Any]) -> None:
    """Wrap Joey's step and checkpoint methods so that ``clock`` times every step."""
    from joeynmt.training import TrainManager

    train_step, save_checkpoint = TrainManager._train_step, TrainManager._save_checkpoint

    @functools.wraps(train_step)
    def timed_step(self: Any, batch: Any) -> Any:
        skip = {self.model.pad_index, self.model.bos_index, self.model.eos_index}
        clock.start(count_real(batch.src, skip), count_real(batch.trg, skip))
        seen["model"] = self.model
        return train_step(self, batch)

    @functools.wraps(save_checkpoint)
    def stop_then_save(self: Any, new_best: bool, score: float) -> None:
        if clock.end is None:  # the save after the last step: validation never runs
            clock.stop()
        save_checkpoint(self, new_best, score)

    TrainManager._train_step = timed_step
    TrainManager._save_checkpoint = stop_then_save


def _train(cfg: dict[str, Any], steps: int) -> tuple[StepClock, Any]:
    """Train with Joey for ``steps`` updates; return the clock and the model."""
    from joeynmt.helpers import make_model_dir
    from joeynmt.helpers_for_ddp import get_logger
    from joeynmt.training import train

    cfg["training"]["updates"] = steps
    # What `python -m joeynmt train` does before calling train().
    model_dir = Path(cfg["model_dir"])
    make_model_dir(model_dir, overwrite=True)
    write_yaml(model_dir / "config.yaml", cfg)
    get_logger("", log_file=str(model_dir / "train.log"))
    clock, seen = StepClock(), {}
    _patch_step_clock(clock, seen)
    train(rank=0, world_size=1, cfg=cfg, skip_test=True)
    return clock, seen.get("model")


def train_speed(model: str, data_dir: Path, steps: int, threads: int) -> dict[str, Any]:
    """Train Joey from scratch for ``steps`` steps; source+target tokens per second."""
    set_threads(threads)
    _patch_encoder()
    work = fresh_dir(data_dir / "peer-runs" / f"joey-{model}-train")
    clock, net = _train(_config(model, data_dir, work), steps)
    result = clock.summary()
    result["params"] = count_params(net) if net is not None else None
    result["note"] = (
        "tokens = sentencepiece pieces of the data files (no BOS/EOS/padding), counted in "
        "Joey's batches; time from the start of the first timed step to the end of the last "
        "(data loading and the Adam update included); batches of 4096 tokens counted by Joey "
        "with padding; no validation"
    )
    if model == "lstm":
        result["note"] += (
            "; unidirectional encoder through a one-line patch of Joey's RecurrentEncoder "
            "(it crashes with bidirectional: false); Luong 'general' attention, input feeding "
            "and a bridge to the decoder state as Joey does by default"
        )
    return result


def ensure_model(model: str, data_dir: Path, steps: int) -> Path:
    """A Joey checkpoint of the benchmark shape under ``DIR/peer-models`` (trained once)."""
    work = data_dir / "peer-models" / f"joey-{model}"
    ckpt = work / "model" / "latest.ckpt"
    if ckpt.is_file():
        return work
    fresh_dir(work)
    _train(_config(model, data_dir, work), steps)
    if not ckpt.is_file():
        raise PeerError(f"Joey trained {steps} steps but wrote no {ckpt}")
    return work


def decode_speed(
    model: str,
    data_dir: Path,
    beam: int,
    n: int,
    batch: int,
    force_len: int,
    threads: int,
    model_steps: int,
) -> dict[str, Any]:
    """Translate the first ``n`` lines of ``test.src``; target tokens per second."""
    set_threads(threads)
    _patch_encoder()
    check_data_dir(data_dir, "test.src")
    work = ensure_model(model, data_dir, model_steps)
    net, test_data, args = _load_for_test(model, data_dir, work, beam, batch, force_len, n)

    import joeynmt.prediction as prediction
    from joeynmt.search import search

    prediction.search = functools.partial(search, min_output_length=force_len)
    start = time.perf_counter()
    _, _, _, hyps, _, _ = prediction.predict(
        model=net,
        data=test_data,
        device=args.device,
        n_gpu=0,
        compute_loss=False,
        normalization="none",
        num_workers=0,
        args=args.test,
        autocast=args.autocast,
    )
    seconds = time.perf_counter() - start
    eos = net.trg_vocab._itos[net.eos_index]
    lengths = [len([tok for tok in hyp if tok != eos]) for hyp in hyps]
    return decode_result(lengths, seconds, force_len) | {
        "note": "joeynmt.prediction.predict as `joeynmt test` runs it (no KV cache); "
        "min_output_length passed to search by a patch (Joey 2.3.0 drops it at test time)"
    }


def _load_for_test(
    model: str, data_dir: Path, work: Path, beam: int, batch: int, force_len: int, n: int
) -> tuple[Any, Any, Any]:
    """Joey's model from the cached checkpoint and its dataset of the first ``n`` sources."""
    from joeynmt.config import parse_global_args
    from joeynmt.data import load_data
    from joeynmt.helpers import load_checkpoint
    from joeynmt.model import build_model

    run = fresh_dir(data_dir / "peer-runs" / f"joey-{model}-decode")
    cfg = _config(model, data_dir, run)
    cfg["model_dir"] = cfg["training"]["model_dir"] = str(work / "model")
    lines = head_lines(data_dir / "test.src", run / "decode.src", n)
    if not lines:
        raise PeerError(f"{data_dir / 'test.src'} is empty")
    cfg["data"]["test"] = str(run / "decode")
    cfg["testing"].update(
        beam_size=beam,
        batch_size=batch,
        max_output_length=force_len,
        min_output_length=force_len,
    )
    args = parse_global_args(cfg, rank=0, mode="test")
    src_vocab, trg_vocab, _, _, test_data = load_data(cfg=args.data, datasets=["test"])
    net = build_model(args.model, src_vocab=src_vocab, trg_vocab=trg_vocab)
    state = load_checkpoint(work / "model" / "latest.ckpt", map_location=args.device)
    net.load_state_dict(state["model_state"])
    net.eval()
    return net, test_data, args
