"""int8 inference on CPU: the model's linear layers with int8 weights (``search.precision: int8``).

Search spends most of its time in small matrix products ``[batch, d] x [d, d']`` (the output
layer over the vocabulary above all). Dynamic quantization stores each ``nn.Linear`` weight as
int8 with one scale per output channel and quantizes the activations on the fly, so those
products run on fbgemm's int8 kernels: on an AVX2-only CPU a Transformer decodes ~1.6x and an
LSTM ~1.8x faster than in fp32 (docs/benchmarks.md), like CTranslate2's ``int8`` compute type.
A recurrent decoder's cell products become int8 layers too (``models/rnn_cells.py``); its gate
arithmetic, embeddings, norms and attention stay fp32. Whole sequences through an RNN (the
encoder) have no int8 kernel that beats fp32; on a CPU with bf16 instructions they run in bf16,
1.4-1.9x faster than fp32 (``attach_bf16_sequences``). Training is untouched: this
makes a quantized copy for decoding only.

Layers with many outputs (the output layer over the vocabulary, ``WIDE_FROM``) are packed for
oneDNN's int8 kernel as well, on CPUs with AVX-512-VNNI: there it is 1.15-1.3x faster than
fbgemm's from 16 rows on (a 256x8002 layer at 128 rows: 2.0 -> 1.6 ms), and slower below
(1 row: 64 -> 96 us). :class:`WideInt8Linear` picks per call by the number of rows; both
kernels give the same outputs up to float rounding (~5e-7).

Each quantized layer is an :class:`Int8Linear`: it calls the int8 kernel directly. PyTorch's own
dynamically quantized module wraps that call in attribute lookups and a dtype cast that cost
~6 us a call, and a Transformer search step makes 19 such calls (~2% of an int8 greedy step).

PyTorch marks ``torch.ao.quantization`` deprecated in favour of torchao, whose replacement
targets ``torch.compile``; the eager fbgemm path used here is what is fast without compiling,
and it is present in every torch this package supports.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from seq2seq.decoding.packed import bf16_instructions, packing_available
from seq2seq.errors import ConfigError
from seq2seq.models.rnn_cells import attach_bf16_sequences, attach_cell_products

WIDE_FROM = 4096  # output features from which a layer also gets oneDNN's int8 kernel
ONEDNN_FROM_ROWS = 16  # rows from which that kernel is the faster one (measured, AVX-512-VNNI)


class Int8Linear(nn.Module):
    """A linear layer with per-channel int8 weights, quantizing its input on every call.

    Holds the weights as PyTorch's dynamic quantization packed them (for the engine current
    when it did) and runs ``quantized::linear_dynamic`` on them, as ``torch.ao``'s dynamic
    ``Linear`` does, without its per-call overhead (module docstring).

    Args:
        quantized: A layer made by ``torch.ao.quantization.quantize_dynamic`` (int8 weights).
    """

    def __init__(self, quantized: nn.Module) -> None:
        super().__init__()
        self.in_features, self.out_features = quantized.in_features, quantized.out_features
        self.packed = quantized._packed_params._packed_params  # the kernel's packed weights

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in] -> [..., out]`` (float32)."""
        return torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=True)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class WideInt8Linear(nn.Module):
    """An int8 layer with many outputs, packed for two kernels: fbgemm's (which the default
    engine, ``x86``, runs) for a few rows, oneDNN's from ``ONEDNN_FROM_ROWS`` rows on (module
    docstring).

    Args:
        few_rows: The layer quantized under the default engine.
        many_rows: The same layer quantized under the ``onednn`` engine.
    """

    def __init__(self, few_rows: nn.Module, many_rows: nn.Module) -> None:
        super().__init__()
        self.few_rows, self.many_rows = few_rows, many_rows

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in] -> [..., out]``."""
        rows = x.numel() // max(x.size(-1), 1)
        return (self.many_rows if rows >= ONEDNN_FROM_ROWS else self.few_rows)(x)


def onednn_int8_helps() -> bool:
    """Whether wide layers should get oneDNN's int8 kernel: this torch has the ``onednn``
    quantized engine and the CPU has AVX-512-VNNI (where it was measured faster)."""
    vnni = bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)())
    return vnni and "onednn" in torch.backends.quantized.supported_engines


def int8_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (on the CPU, in eval mode) whose ``nn.Linear`` layers hold
    per-channel int8 weights (and whose RNN sequences run in bf16 where the CPU has bf16
    instructions); ``model`` itself is not changed.

    Raises:
        ConfigError: The installed torch has no dynamic quantization.
    """
    quantization = getattr(torch.ao, "quantization", None)
    if quantization is None or not hasattr(quantization, "quantize_dynamic"):
        raise ConfigError(
            "search.precision: 'int8' needs torch.ao.quantization, which this torch "
            f"{torch.__version__} lacks; use fp32"
        )
    clone = copy.deepcopy(model)
    attach_cell_products(clone)  # RNN decoder steps: int8 cell products too (rnn_cells.py)
    if bf16_instructions() and packing_available(torch.bfloat16):
        attach_bf16_sequences(clone)  # int8 has no sequence kernel; bf16 is the fast one
    wide = [
        name
        for name, layer in clone.named_modules()
        if isinstance(layer, nn.Linear) and layer.out_features >= WIDE_FROM
    ]
    many_rows: dict[str, nn.Module] = {}
    if wide and onednn_int8_helps():
        with quantized_engine("onednn"):  # a layer alone is no parent: wrap it to swap it
            for name in wide:
                alone = nn.Sequential(copy.deepcopy(clone.get_submodule(name)))
                many_rows[name] = quantize_linears(alone)[0]
    quantize_linears(clone)
    for name, layer in many_rows.items():
        parent, _, attribute = name.rpartition(".")
        owner = clone.get_submodule(parent)
        setattr(owner, attribute, WideInt8Linear(getattr(owner, attribute), layer))
    return clone.eval()


def quantize_linears(module: nn.Module) -> nn.Module:
    """``module`` with its ``nn.Linear`` children, at any depth, replaced in place by
    :class:`Int8Linear` layers: per-channel int8 weights, packed for the current engine."""
    quantization = torch.ao.quantization
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
        warnings.filterwarnings("ignore", "torch.quantize_per", UserWarning)
        quantization.quantize_dynamic(
            module,
            {nn.Linear: quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )
    quantized_kind = torch.ao.nn.quantized.dynamic.Linear
    for parent in list(module.modules()):  # as packed.py swaps its layers
        for name, child in list(parent.named_children()):
            if isinstance(child, quantized_kind):
                setattr(parent, name, Int8Linear(child))
    return module


@contextmanager
def quantized_engine(engine: str) -> Iterator[None]:
    """Packs int8 weights for ``engine``'s kernels inside the block (the engine is global)."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous
