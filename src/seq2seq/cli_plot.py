"""``seq2seq plot curves|attention``: the plotting verbs of the command line.

Kept apart from :mod:`seq2seq.cli` so that file stays a list of verbs; like every verb these
only parse and print, and matplotlib is imported when a plot is asked for, not at start-up.
The work is done by :mod:`seq2seq.plots` and :mod:`seq2seq.attention_map`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seq2seq.errors import InputError


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    """Adds ``plot curves`` and ``plot attention`` to the ``seq2seq`` subcommands."""
    p = sub.add_parser("plot", help="training curves or an attention heatmap, as an image")
    plot_sub = p.add_subparsers(dest="plot_command", required=True, metavar="WHAT")
    curves = plot_sub.add_parser(
        "curves", help="loss, perplexity, accuracy, BLEU and learning rate of one or more runs"
    )
    curves.add_argument("model_dirs", nargs="+", type=Path, metavar="MODEL_DIR")
    curves.add_argument("-o", "--output", type=Path, default=Path("curves.png"), help="image")
    curves.set_defaults(handler=_run_curves)
    attention = plot_sub.add_parser(
        "attention", help="cross-attention heatmap of one translated sentence"
    )
    attention.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    attention.add_argument("source", help="the sentence to translate")
    attention.add_argument("-o", "--output", type=Path, default=Path("attention.png"), help="image")
    attention.add_argument(
        "--beam", "--beam-size", dest="beam_size", type=int, help="beam size (1 = greedy)"
    )
    attention.add_argument(
        "--layer", help="decoder layer, counted from 0 (default: the last), or avg"
    )
    attention.add_argument("--head", help="attention head, counted from 0, or avg (default)")
    attention.set_defaults(handler=_run_attention)


def _run_curves(args: argparse.Namespace) -> int:
    from seq2seq.plots import curves_figure, load_runs, save_figure

    _check_image_path(args.output)
    runs = load_runs(args.model_dirs)
    path = save_figure(curves_figure(runs), args.output)
    print(f"wrote {path} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return 0


def _run_attention(args: argparse.Namespace) -> int:
    from seq2seq.attention_map import attention_map
    from seq2seq.decoding.translator import Translator
    from seq2seq.plots import attention_figure, save_figure

    _check_image_path(args.output)
    translator = Translator.load(args.model_dir)
    amap = attention_map(translator, args.source, beam_size=args.beam_size)
    weights, caption = amap.select(args.layer, args.head)
    title = f"{caption}, beam {amap.beam_size}"
    figure = attention_figure(weights, amap.src_tokens, amap.tgt_tokens, title)
    path = save_figure(figure, args.output)
    print(amap.output)
    print(f"wrote {path} ({len(amap.tgt_tokens)} output x {len(amap.src_tokens)} source tokens)")
    return 0


def _check_image_path(path: Path) -> None:
    """Raises InputError unless ``-o`` names a writable place and an image format matplotlib
    writes; checked before any run is read or sentence translated, as matplotlib only finds
    out in ``savefig`` (format from the extension, as it decides it, case-insensitively)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from seq2seq.cli import check_output_path  # local: seq2seq.cli imports this module

    check_output_path(path, "-o")
    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    suffix = path.suffix.removeprefix(".").lower()
    if suffix not in formats:
        problem = f"unknown image format {suffix!r}" if suffix else "no file extension"
        raise InputError(f"-o {path}: {problem}; use one of {', '.join(formats)}")
