#!/usr/bin/env bash
# The Python packages a GPU comparison needs that the GPU machine lacks (it has torch, numpy,
# safetensors, huggingface_hub, Pillow, regex, ... but not diffusers: see the device tool's
# KINDS.md), as wheels for its Python 3.12 in .gpu-python/ (ignored by git), to carry:
#   scripts/pack-gpu-python.sh
#   run(command="... bash scripts/gpu-scale-check.sh", carry=[..., ".gpu-python"])
# There, scripts install them with: pip install --no-index --no-deps --target /tmp/site .gpu-python/*.whl
# The versions are this checkout's .venv's (the ones the CPU tests compare against).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
version() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .gpu-python && mkdir -p .gpu-python
for pkg in diffusers importlib_metadata; do
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
    -d .gpu-python "$pkg==$(version "$pkg")"
done
ls -la .gpu-python
