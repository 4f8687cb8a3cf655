#!/usr/bin/env bash
# The LibTorch backend's tests (feature `tch`): LibTorch's autograd kernels for convolution,
# batch norm and leaky ReLU against burn's own ops (`crate/src/nn/torch_autograd.rs`), and a
# short GAN run on `--device tch`. Builds against a PyTorch 2.9.0 from pip in a virtual
# environment (T2I_TORCH_VENV, default ~/.cache/t2i-torchenv), which it creates when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${T2I_TORCH_VENV:-$HOME/.cache/t2i-torchenv}
if ! "$VENV/bin/python" -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.9.0
fi
TORCH_LIB=$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cargo test --release -p t2i --features tch --lib torch_autograd
cargo test --release -p t2i --features tch --test tch_training
