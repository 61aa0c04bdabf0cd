#!/usr/bin/env bash
# Creates benchmarks/.venv-peers/: Joey NMT 2.3.0, OpenNMT-py 3.5.1 and CTranslate2 4.8.5 next to
# torch 2.13.0 (CPU), for the speed comparisons in benchmarks/peers/run_peer.py.
#
#   bash benchmarks/setup_peers.sh          # rerunning is a no-op once it has succeeded
#
# The peers never enter seq2seq-kit's own dependencies. Every pip call goes through the repo's
# constraints.txt (torch==2.13.0, the local CPU wheel): any other torch spec would pull a
# multi-GB CUDA build. Facts behind each step: /work/shared/PEERS.md and benchmarks/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV=benchmarks/.venv-peers
PYTHON="${PYTHON:-python3.11}"
CONSTRAINTS="$ROOT/constraints.txt"
# The stamp holds a hash of this script and the constraints: editing either reinstalls.
STAMP="$VENV/.installed"
WANT="$(cat "$0" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "peer venv up to date: $VENV"
    exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --disable-pip-version-check -q -c "$CONSTRAINTS")

# 1. torch first, so that nothing later can choose another build.
"${PIP[@]}" torch==2.13.0

# 2. Joey NMT: its metadata omits importlib_metadata, which it imports.
"${PIP[@]}" joeynmt==2.3.0 importlib_metadata

# 3. OpenNMT-py declares torch<2.3: install it without dependencies, then those by hand
#    (its declared list minus torch). pip then prints a "requires torch<2.3" conflict notice:
#    expected, and harmless for what run_peer.py uses.
"${PIP[@]}" --no-deps OpenNMT-py==3.5.1
"${PIP[@]}" configargparse "ctranslate2==4.8.5" "tensorboard>=2.3" flask waitress \
    "pyonmttok>=1.37,<2" pyyaml sacrebleu rapidfuzz pyahocorasick six spacy fasttext-wheel

# 4. Check that the three import and that torch is still the CPU wheel.
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md

import ctranslate2  # noqa: F401
import joeynmt  # noqa: F401
import onmt  # noqa: F401
import torch

assert torch.__version__.split("+")[0] == "2.13.0", f"torch {torch.__version__}, not 2.13.0"
for name in ("torch", "joeynmt", "OpenNMT-py", "ctranslate2"):
    print(f"{name} {md.version(name)}")
EOF

echo "$WANT" >"$STAMP"
echo "peer venv ready: $VENV"
