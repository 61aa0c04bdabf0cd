"""The ``seq2seq`` command: thin subcommands over the Python API.

Parsing and printing live here; the work happens in the functions each verb calls. A user error
(:class:`Seq2SeqError`) becomes its message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm import tqdm

from seq2seq.cli_plot import add_plot_parser
from seq2seq.errors import InputError, ModelDirError, Seq2SeqError

if TYPE_CHECKING:  # imported by the verbs that need it, not at start-up
    from seq2seq.config import SearchConfig

EXIT_USAGE = 2
# What a shell reports for a process killed by SIGPIPE (128 + 13), as `yes | head -1` does:
# the reader stopped early, which is not an error of ours, and pipefail scripts expect it.
EXIT_BROKEN_PIPE = 141

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    # parse_known_args lets `key=value` overrides follow options (`train CFG -o DIR k=v`).
    args, extras = parser.parse_known_args(argv)
    if extras and getattr(args, "command", None) == "train":
        args.items += [e for e in extras if "=" in e and not e.startswith("-")]
        extras = [e for e in extras if "=" not in e or e.startswith("-")]
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    _setup_logging(args.verbose)
    try:
        return args.handler(args) or 0
    except Seq2SeqError as err:
        for line in str(err).splitlines() or [type(err).__name__]:
            print(f"seq2seq: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("seq2seq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _quiet_broken_pipe() -> int:
    """Ends quietly when the reader of our output went away (``seq2seq translate | head``).

    As the Python documentation's SIGPIPE recipe advises, stdout is pointed at devnull so that
    the interpreter's final flush of what is still buffered does not fail a second time (and
    print "Exception ignored ... BrokenPipeError").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass
    return EXIT_BROKEN_PIPE


def check_output_path(path: Path, option: str) -> None:
    """Raises InputError unless ``path`` can become an output file.

    Called before a model is loaded or a line decoded, so that a typo in ``-o`` costs no
    decoding time; the directory and missing-folder cases are the ones users hit.
    """
    if path.is_dir():
        raise InputError(f"{option} {path}: is a directory, expected a file path")
    if not path.parent.is_dir():
        raise InputError(
            f"{option} {path}: the directory {path.parent} does not exist; create it first"
        )


def _open_output(path: Path, option: str) -> TextIO:
    """Opens ``path`` for writing UTF-8 text; an OSError becomes a one-line InputError."""
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()
        raise InputError(f"{option} {path}: cannot write ({reason})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2seq", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_data(sub)
    _add_train(sub)
    _add_translate(sub)
    _add_evaluate(sub)
    _add_summary(sub)
    add_plot_parser(sub)
    _add_average(sub)
    return parser


# --- demo ------------------------------------------------------------------------------------


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="train an LSTM+attention model on the built-in corpus, then score it"
    )
    p.add_argument("--minutes", type=float, default=5.0, help="training time budget (default 5)")
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="model directory (default runs/demo-TIME)"
    )
    p.add_argument(
        "--config", default="bible-en-es/lstm-attention", help="config path or shipped name"
    )
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from seq2seq.demo import run_demo

    run_demo(args.config, args.minutes, args.output, out=sys.stdout)
    return 0


# --- data ------------------------------------------------------------------------------------


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list or prepare built-in corpora")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    data_sub.add_parser("list", help="show the built-in corpora").set_defaults(
        handler=_run_data_list
    )
    prep = data_sub.add_parser("prepare", help="prepare a built-in corpus")
    prep.add_argument("name")
    prep.add_argument(
        "--from-sword",
        action="store_true",
        help="bible-en-es: rebuild from the Debian SWORD modules and compare",
    )
    prep.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        metavar="DIR",
        help="Debian corpora: read already-downloaded inputs instead of running apt (an apt "
        "lists folder for debian-summaries/debian-cloze-qa; .deb files or extracted package "
        "trees for gettext-multi)",
    )
    prep.add_argument("-o", "--output", type=Path, default=None, help="output directory")
    prep.set_defaults(handler=_run_data_prepare)


def _run_data_list(_args: argparse.Namespace) -> int:
    from seq2seq.data.builtin import CORPORA, listed_sizes

    for info in CORPORA.values():
        print(f"{info.name:<18} {info.task:<13} {listed_sizes(info)}")
        print(f"{'':<18} {info.description}; licence: {info.licence}")
    return 0


def _run_data_prepare(args: argparse.Namespace) -> int:
    from seq2seq.cache import cache_dir
    from seq2seq.data.builtin import CORPORA, PREPARERS, corpus_files, prepare_corpus

    if args.name not in CORPORA:
        raise InputError(f"unknown corpus {args.name!r}; choose one of {', '.join(CORPORA)}")
    if args.name in PREPARERS:
        return _print_prepared(prepare_corpus(args.name, args.output, args.from_dir))
    if args.from_dir is not None:
        raise InputError(f"--from applies only to {', '.join(PREPARERS)}, not {args.name}")
    if args.from_sword:
        if args.name != "bible-en-es":
            raise InputError("--from-sword applies only to bible-en-es")
        from seq2seq.data.builtin import bible

        out_dir = args.output or cache_dir() / "bible-en-es-rebuilt"
        paths = bible.prepare_from_sword(out_dir)
        differences = bible.compare_with_shipped(out_dir)
        for split, path in paths.items():
            print(f"{split}: {path}")
        if differences:
            print("differs from the shipped corpus:\n  " + "\n  ".join(differences))
            return 1
        print("identical to the shipped corpus")
        return 0
    if args.output is not None:  # shipped and toy corpora live in the package or the cache
        raise InputError(
            f"-o applies to {', '.join(PREPARERS)} and --from-sword, not {args.name}; without "
            "-o this command prints where its files are"
        )
    for split, path in corpus_files(args.name).items():
        print(f"{split}: {path}")
    return 0


def _print_prepared(result: Any) -> int:
    """Prints where a Debian corpus lies and its line counts (a ``Prepared`` result)."""
    folder = result.paths["train"].parent
    if result.reused:
        print(f"{result.name}: reusing the prepared corpus in {folder} (delete it to rebuild)")
    else:
        print(f"{result.name}: prepared in {result.info.get('seconds', 0):.1f} s -> {folder}")
    for split, path in result.paths.items():
        print(f"{split}: {path} ({result.counts[split]:,} lines)")
    return 0


# --- train -----------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a config")
    p.add_argument(
        "items",
        nargs="*",
        metavar="CONFIG|key=value",
        help="a YAML config (path or shipped name) followed by key=value overrides",
    )
    p.add_argument("-o", "--output", type=Path, help="model directory to write")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="MODEL_DIR",
        help="continue the run in MODEL_DIR (or -o) exactly where it stopped",
    )
    p.add_argument("--max-steps", type=int, help="stop after this many updates in total")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes (this run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from seq2seq.config import load_config
    from seq2seq.configs import resolve_config
    from seq2seq.model_dir import check_new_model_dir
    from seq2seq.training.checkpoint import CONFIG_FILE
    from seq2seq.training.trainer import train

    config_items = [i for i in args.items if "=" not in i]
    overrides = [i for i in args.items if "=" in i]
    model_dir = Path(args.resume) if isinstance(args.resume, str) else args.output
    if isinstance(args.resume, str) and args.output and args.output != model_dir:
        raise InputError(
            f"train: --resume {args.resume} continues in that directory; -o {args.output} "
            "names another (give one of them)"
        )
    if model_dir is None:
        raise InputError(
            "train: give the model directory with -o MODEL_DIR (or --resume MODEL_DIR)"
        )
    if not args.resume:
        check_new_model_dir(model_dir)
    if len(config_items) > 1:
        raise InputError(f"train: expected one config, got {', '.join(config_items)}")
    if args.resume and not config_items:
        source: Path = model_dir / CONFIG_FILE
        if not source.is_file():
            raise ModelDirError(f"{model_dir}: nothing to resume ({CONFIG_FILE} missing)")
    elif config_items:
        source = resolve_config(config_items[0])
    else:
        raise InputError(
            "train: give a CONFIG (a YAML path or a shipped name such as toy/reverse-lstm)"
        )
    overrides += _flag_overrides(args)
    config = load_config(source, overrides)
    result = train(config, model_dir, resume=bool(args.resume))
    scores = ", ".join(f"{k} {v:.4g}" for k, v in result.last_validation.items())
    print(f"trained {result.steps} steps ({result.stop_reason}); last validation: {scores}")
    print(f"model saved in {result.model_dir}")
    return 0


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.max_minutes is not None:
        overrides.append(f"train.max_minutes={args.max_minutes}")
    if args.no_progress:
        overrides.append("train.progress=false")
    return overrides


# --- translate / evaluate --------------------------------------------------------------------


def _add_search_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--beam", "--beam-size", dest="beam_size", type=int, help="beam size (1 = greedy)"
    )
    p.add_argument("--nbest", "--n-best", dest="n_best", type=int, help="hypotheses per input")
    p.add_argument("--length-penalty", type=float, help="GNMT alpha (0 = none)")
    p.add_argument("--batch-size", type=int, help="sentences decoded together")
    p.add_argument(
        "--workers", type=int, help="CPU: batches decoded at once, single-threaded each (0 = cores)"
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8", "auto"),
        help="bf16 linear layers (CPU; autocast on GPU), or int8 linear layers (CPU)",
    )
    p.add_argument(
        "--sample", action="store_const", const=True, help="draw --nbest samples instead of beam"
    )
    p.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy)")
    p.add_argument("--top-k", type=int, help="sample from the k most probable tokens")
    p.add_argument("--top-p", type=float, help="sample from the nucleus of this mass")
    p.add_argument("--seed", type=int, help="seed for reproducible samples")
    p.add_argument(
        "--length-penalty-type",
        choices=("none", "average", "gnmt"),
        help="beam ranking: log-prob / 1 (none), / length (average), / GNMT lp (gnmt)",
    )
    p.add_argument("--coverage-penalty", type=float, help="GNMT coverage beta (0 = off)")
    p.add_argument("--min-len", type=int, help="fewest output tokens before EOS")
    p.add_argument("--min-len-ratio", type=float, help="fewest output tokens per source token")
    p.add_argument(
        "--no-repeat-ngram-size", type=int, help="no n-gram of this size twice (0 = off)"
    )
    p.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        help="beam: end a sentence once no live beam can beat its n-best finished ones",
    )
    p.add_argument(
        "--mbr",
        action="store_const",
        const=True,
        help="minimum Bayes risk: pick the candidate the other candidates agree with most",
    )
    p.add_argument("--mbr-candidates", type=int, help="MBR: samples (--sample) or beam n-best")
    p.add_argument("--mbr-metric", choices=("chrf", "bleu"), help="MBR: sentence-level utility")


def _search_overrides(args: argparse.Namespace) -> dict[str, object]:
    keys = (
        "beam_size",
        "n_best",
        "length_penalty",
        "batch_size",
        "workers",
        "precision",
        "sample",
        "temperature",
        "top_k",
        "top_p",
        "seed",
        "length_penalty_type",
        "coverage_penalty",
        "min_len",
        "min_len_ratio",
        "no_repeat_ngram_size",
        "early_stopping",
        "mbr",
        "mbr_candidates",
        "mbr_metric",
    )
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


# Flags (by SearchConfig field) that only one kind of search reads.
_SAMPLING_FLAGS = {
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "seed": "--seed",
}
_MBR_FLAGS = {"mbr_candidates": "--mbr-candidates", "mbr_metric": "--mbr-metric"}


def _warn_ignored_flags(args: argparse.Namespace, search: SearchConfig) -> None:
    """Warns on stderr about flags the user gave that the search will not read.

    A user who passes ``--temperature 0.7`` and forgets ``--sample`` would otherwise get beam
    search and believe the temperature was used. The flags default to None (``--with-attention``
    to False), so a warning means the user typed the flag. ``search`` is the model's own
    ``SearchConfig``, which may turn sampling or MBR on without the flag.
    """
    groups = [
        (_SAMPLING_FLAGS, args.sample or search.sample, "--sample"),
        (_MBR_FLAGS, args.mbr or search.mbr, "--mbr"),
    ]
    for flags, applies, needed in groups:
        given = [flag for key, flag in flags.items() if getattr(args, key) is not None]
        if given and not applies:
            logger.warning("%s: ignored, only used with %s", ", ".join(given), needed)
    if getattr(args, "with_attention", False) and args.output_format != "json":
        logger.warning("--with-attention: ignored, only used with --output-format json")


def _add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the model runs (auto: cuda when available)",
    )


def _add_translate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate lines from stdin or a file")
    p.add_argument(
        "model_dirs",
        type=Path,
        nargs="+",
        metavar="MODEL_DIR",
        help="a model directory; several decode as an ensemble (same vocabularies)",
    )
    p.add_argument("-i", "--input", type=Path, help="input file (default stdin)")
    p.add_argument("-o", "--output", type=Path, help="output file (default stdout)")
    p.add_argument("--output-format", choices=("text", "json"), default="text")
    p.add_argument(
        "--input-format",
        choices=("text", "json"),
        default="text",
        help='json: one {"text": ..., "constraints": [...]} object per line',
    )
    p.add_argument(
        "--constraints",
        type=Path,
        metavar="FILE",
        help="JSON lines: per input line, a list of phrases the output must contain",
    )
    p.add_argument(
        "--with-attention",
        action="store_true",
        help="json: add each candidate's attention (output x source tokens)",
    )
    _add_device_flag(p)
    _add_search_flags(p)
    p.set_defaults(handler=_run_translate)


def _run_translate(args: argparse.Namespace) -> int:
    from seq2seq.data.constraints import translation_input
    from seq2seq.data.corpus import read_lines
    from seq2seq.decoding.translator import Translator

    if args.output:
        check_output_path(args.output, "-o")
        for option, source in (("-i", args.input), ("--constraints", args.constraints)):
            if source and args.output.exists() and args.output.samefile(source):
                # Opening the output empties it while the input is still being read.
                raise InputError(f"-o {args.output} is also the {option} file; write elsewhere")
    translator = (
        Translator.load(args.model_dirs[0], device=args.device)
        if len(args.model_dirs) == 1
        else Translator.load_ensemble(args.model_dirs, device=args.device)
    )
    _warn_ignored_flags(args, translator.search)
    lines = read_lines(args.input) if args.input else _stdin_lines()
    lines, constraints = translation_input(
        lines, str(args.input or "<stdin>"), args.input_format, args.constraints
    )
    want_attention = args.with_attention and args.output_format == "json"
    translations = translator.translate_stream(
        lines,
        constraints=constraints,
        **_search_overrides(args),
        return_attention=want_attention or None,  # None: the model's search setting
    )
    # The output is opened (and an existing file emptied) only once the first translation is
    # ready: every bad search option and bad line of the first chunk has been raised by then.
    # Validating up front instead would need Translator's private _search_settings and would
    # still let a bad input line empty the file.
    first = next(translations, None)
    out = _open_output(args.output, "-o") if args.output else sys.stdout
    try:
        for translation in itertools.chain([] if first is None else [first], translations):
            out.write(_format(translation, args.output_format, args.with_attention) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _stdin_lines() -> Iterable[str]:
    """The lines of stdin, read as bytes and decoded strictly line by line (as ``-i FILE``).

    A text stream with no bytes beneath it (``io.StringIO``, as tests and embedding code
    set) is already decoded and is read as it is.
    """
    from seq2seq.data.corpus import read_stream_lines

    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return (line.rstrip("\r\n") for line in sys.stdin)
    return read_stream_lines(buffer, "<stdin>")


def _format(translation: object, fmt: str, with_attention: bool = False) -> str:
    from seq2seq.decoding.translator import Translation

    assert isinstance(translation, Translation)
    if fmt == "text":
        return "\n".join(c.text for c in translation.candidates)
    record = {
        "source": translation.source,
        "text": translation.text,
        "score": translation.score,
        "confidence": translation.confidence,
        "nbest": [_candidate_record(c, with_attention) for c in translation.candidates],
    }
    if with_attention:  # one attention column per source token and the end-of-sentence mark
        record["source_tokens"] = [*translation.source_tokens, "</s>"]
    return json.dumps(record, ensure_ascii=False)


def _candidate_record(candidate: Any, with_attention: bool) -> dict[str, Any]:
    record = {
        "text": candidate.text,
        "score": candidate.score,
        "log_prob": candidate.log_prob,
        "confidence": candidate.confidence,
        "tokens": candidate.tokens,
        "token_log_probs": candidate.token_log_probs,
        "token_probs": candidate.token_probs,
    }
    if candidate.mbr_utility is not None:
        record["mbr_utility"] = candidate.mbr_utility
    if with_attention:
        weights = candidate.attention
        record["attention"] = (
            None if weights is None else [[round(w, 4) for w in row] for row in weights.tolist()]
        )
    return record


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="translate a source file (or a data split) and score it against references"
    )
    p.add_argument("model_dir", type=Path)
    p.add_argument("--src", type=Path, help="source file, one input a line")
    p.add_argument("--ref", type=Path, help="reference file, line-aligned")
    p.add_argument(
        "--split",
        choices=("dev", "test"),
        help="instead of --src/--ref: this split of the model's own data config",
    )
    p.add_argument(
        "--metrics",
        help="comma-separated, from bleu,chrf,rouge,em,f1 (default by data.task: translation "
        "bleu,chrf; summarization rouge; qa em,f1)",
    )
    p.add_argument("--hyp-output", type=Path, help="also write the translations here")
    _add_device_flag(p)
    _add_search_flags(p)
    p.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from seq2seq.decoding.translator import Translator
    from seq2seq.device import resolve_device
    from seq2seq.evaluation import evaluate_files, evaluate_split
    from seq2seq.metrics import TASK_METRICS, parse_metrics
    from seq2seq.model_dir import load_model_dir

    if args.split and (args.src or args.ref):
        raise InputError("evaluate: give either --split or --src and --ref, not both")
    if not args.split and not (args.src and args.ref):
        raise InputError("evaluate: give --src FILE and --ref FILE, or --split dev|test")
    chosen = parse_metrics(args.metrics) if args.metrics is not None else None
    if args.hyp_output:
        check_output_path(args.hyp_output, "--hyp-output")
    config, model, codec = load_model_dir(args.model_dir)
    device = resolve_device(args.device, key="--device")
    translator = Translator(model.to(device), codec, config.search)
    _warn_ignored_flags(args, config.search)
    metrics = chosen or TASK_METRICS[config.data.task]
    search = _search_overrides(args)
    if args.split:
        scores, hypotheses = evaluate_split(
            translator, config.data, args.split, metrics=metrics, **search
        )
    else:
        scores, hypotheses = evaluate_files(
            translator, args.src, args.ref, metrics=metrics, **search
        )
    if args.hyp_output:
        with _open_output(args.hyp_output, "--hyp-output") as out:
            out.writelines(h + "\n" for h in hypotheses)
    for score in scores:
        print(score)
    return 0


# --- summary ---------------------------------------------------------------------------------


def _add_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="Keras-style table of layers, output shapes and parameters")
    p.add_argument("target", help="a model directory, a YAML config or a shipped config name")
    p.set_defaults(handler=_run_summary)


def _run_summary(args: argparse.Namespace) -> int:
    from seq2seq.summary import summary_for

    print(summary_for(args.target))
    return 0


# --- average ---------------------------------------------------------------------------------


def _add_average(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of checkpoints of one model")
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CKPT",
        help="model directories or .safetensors files inside them (at least two)",
    )
    p.add_argument("-o", "--output", required=True, help="new model directory")
    p.set_defaults(handler=_run_average)


def _run_average(args: argparse.Namespace) -> int:
    from seq2seq.averaging import average_checkpoints

    out = average_checkpoints(args.checkpoints, args.output)
    print(f"wrote {out} (mean of {len(args.checkpoints)} checkpoints)")
    return 0


def _setup_logging(verbose: bool) -> None:
    """INFO to stderr through tqdm so log lines do not break the progress bar."""

    class _TqdmHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            tqdm.write(self.format(record), file=sys.stderr)

    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("seq2seq")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


if __name__ == "__main__":
    sys.exit(main())
