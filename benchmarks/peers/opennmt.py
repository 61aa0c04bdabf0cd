"""OpenNMT-py 3.5.1: training and decoding speed, run in-process through its own entry points.

Training goes through ``onmt.bin.train.train`` (what ``onmt_train -config`` runs) with the
template ``opennmt-{model}.yaml``; decoding through ``InferenceEnginePY.infer_file`` (what
``onmt_translate`` runs), with the model loaded before the clock starts. Steps are timed by
wrapping ``Trainer._gradient_accumulation`` (forward, backward and the optimizer update of one
step); OpenNMT-py's own "tok/s" log lines count per reporting window and are not used.

OpenNMT-py 3.5.1 declares ``torch<2.3`` but runs on torch 2.13 here; loading its checkpoints
needs ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (run_peer.py sets it before torch is imported).
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


def _config(model: str, data_dir: Path, work: Path, steps: int, self_attn_type: str | None) -> Path:
    """Fill the template for ``model`` and write it to ``work/config.yaml``."""
    cfg = load_template(f"opennmt-{model}")
    check_data_dir(data_dir, "train.src", "train.tgt", "vocab.txt")
    write_peer_vocab(data_dir, work / "vocab.txt")
    cfg["data"]["corpus_1"].update(
        path_src=str(data_dir / "train.src"), path_tgt=str(data_dir / "train.tgt")
    )
    cfg["src_vocab"] = str(work / "vocab.txt")
    cfg["save_model"] = str(work / "model")
    cfg["train_steps"] = steps
    cfg["save_checkpoint_steps"] = steps
    if self_attn_type is not None:
        cfg["self_attn_type"] = self_attn_type
    return write_yaml(work / "config.yaml", cfg)


def _patch_step_clock(clock: StepClock, seen: dict[str, Any]) -> None:
    """Wrap OpenNMT-py's step so that ``clock`` times it and counts its tokens."""
    import onmt.train_single
    from onmt.constants import DefaultTokens
    from onmt.trainer import Trainer

    build_trainer, accumulate = onmt.train_single.build_trainer, Trainer._gradient_accumulation

    @functools.wraps(build_trainer)
    def build_and_keep(opt: Any, device_id: int, model: Any, vocabs: Any, *args: Any, **kw: Any):
        vocab = vocabs["tgt"]
        seen["skip"] = {
            vocab[tok] for tok in (DefaultTokens.PAD, DefaultTokens.BOS, DefaultTokens.EOS)
        }
        seen["model"] = model
        return build_trainer(opt, device_id, model, vocabs, *args, **kw)

    @functools.wraps(accumulate)
    def timed_step(self: Any, true_batches: list[Any], *args: Any, **kwargs: Any) -> Any:
        skip = seen["skip"]
        src = sum(count_real(b["src"], skip) for b in true_batches)
        tgt = sum(count_real(b["tgt"], skip) for b in true_batches)
        clock.start(src, tgt)
        out = accumulate(self, true_batches, *args, **kwargs)
        clock.stop()  # the last call's stop is the end of the timed run
        return out

    onmt.train_single.build_trainer = build_and_keep
    Trainer._gradient_accumulation = timed_step


def _train(config: Path) -> tuple[StepClock, Any]:
    """Run ``onmt_train -config config`` in-process; return the clock and the model."""
    from onmt.bin.train import _get_parser, train

    opt, _ = _get_parser().parse_known_args(["-config", str(config)])
    clock, seen = StepClock(), {}
    _patch_step_clock(clock, seen)
    train(opt)
    return clock, seen.get("model")


def train_speed(model: str, data_dir: Path, steps: int, threads: int) -> dict[str, Any]:
    """Train OpenNMT-py from scratch for ``steps`` steps; source+target tokens per second."""
    set_threads(threads)
    work = fresh_dir(data_dir / "peer-runs" / f"opennmt-{model}-train")
    clock, net = _train(_config(model, data_dir, work, steps, self_attn_type=None))
    result = clock.summary()
    result["params"] = count_params(net) if net is not None else None
    result["note"] = (
        "tokens = sentencepiece pieces of the data files (no BOS/EOS/padding), counted in "
        "OpenNMT-py's batches; time from the start of the first timed step to the end of the "
        "last (data loading in the main process, forward, backward, Adam); 4096-token "
        "length-sorted batches counted by OpenNMT-py with padding; num_workers 0 and "
        "bucket_size 32768 instead of the defaults (see benchmarks/README.md); no validation"
    )
    if model == "transformer":
        result["note"] += "; self_attn_type scaled-dot-flash (OpenNMT-py 3.5's default)"
    else:
        result["note"] += "; unidirectional LSTM encoder, Luong 'general' attention, input feed"
    return result


def ensure_model(model: str, data_dir: Path, steps: int, self_attn_type: str | None) -> Path:
    """An OpenNMT-py checkpoint of the benchmark shape under ``DIR/peer-models``.

    ``self_attn_type="scaled-dot"`` gives the model that CTranslate2's converter accepts; None
    keeps OpenNMT-py's default (scaled-dot-flash), the one ``onmt_translate`` is timed with.
    A checkpoint already there is reused whatever its step count (speed does not depend on it).
    """
    name = f"opennmt-{model}" + (f"-{self_attn_type}" if self_attn_type else "")
    work = data_dir / "peer-models" / name
    cached = sorted(work.glob("model_step_*.pt"))
    if cached:
        return cached[-1]
    fresh_dir(work)
    ckpt = work / f"model_step_{steps}.pt"
    _train(_config(model, data_dir, work, steps, self_attn_type))
    if not ckpt.is_file():
        raise PeerError(f"OpenNMT-py trained {steps} steps but wrote no {ckpt}")
    return ckpt


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
    check_data_dir(data_dir, "test.src")
    ckpt = ensure_model(model, data_dir, model_steps, self_attn_type=None)
    run = fresh_dir(data_dir / "peer-runs" / f"opennmt-{model}-decode")
    if not head_lines(data_dir / "test.src", run / "decode.src", n):
        raise PeerError(f"{data_dir / 'test.src'} is empty")
    engine = _engine(ckpt, run, beam, batch, force_len)
    start = time.perf_counter()
    _, preds = engine.infer_file()
    seconds = time.perf_counter() - start
    lengths = [len(nbest[0].split()) for nbest in preds]
    return decode_result(lengths, seconds, force_len) | {
        "note": "InferenceEnginePY.infer_file as onmt_translate runs it"
        + (" (decoder KV cache)" if model == "transformer" else "")
        + "; -batch_type sents, -min_length = -max_length = --force-len, -max_length_ratio 0"
    }


def _engine(ckpt: Path, run: Path, beam: int, batch: int, force_len: int) -> Any:
    """OpenNMT-py's translation engine with the model loaded, as ``onmt_translate`` builds it."""
    from onmt.bin.translate import _get_parser
    from onmt.inference_engine import InferenceEnginePY
    from onmt.utils.misc import set_random_seed
    from onmt.utils.parse import ArgumentParser

    argv = [
        "-model", str(ckpt), "-src", str(run / "decode.src"), "-output", str(run / "hyps.txt"),
        "-beam_size", str(beam), "-batch_size", str(batch), "-batch_type", "sents",
        "-min_length", str(force_len), "-max_length", str(force_len), "-gpu", "-1",
        "-n_best", "1", "-max_length_ratio", "0",
    ]  # fmt: skip
    # -max_length_ratio 0: otherwise OpenNMT-py caps a batch at 1.25 x its source length + 5
    # tokens, so batches of short verses stop before the forced length.
    opt = _get_parser().parse_args(argv)
    ArgumentParser.validate_translate_opts(opt)
    ArgumentParser._get_all_transform_translate(opt)
    ArgumentParser._validate_transforms_opts(opt)
    ArgumentParser.validate_translate_opts_dynamic(opt)
    set_random_seed(opt.seed, False)
    return InferenceEnginePY(opt)
