#!/usr/bin/env bash
# Sets up everything asdm needs on a Debian bookworm machine and builds it:
#   1. Debian packages (compiler, CMake, Ninja, ccache, Eigen, fmt, nlohmann-json, CLI11,
#      GoogleTest, Google Benchmark, zlib (.npz files), clang for the fuzzer, clang-format, chromium for the report render test),
#   2. a Python virtual environment in .venv with the pinned torch wheel (libtorch comes from it)
#      and diffusers/transformers/safetensors for the reference tests,
#   3. configures and builds asdm into build/ (Release); scripts/test.sh builds the tests.
# Re-running it is cheap: installed pieces are kept. Environment: ASDM_BUILD_DIR (default build),
# ASDM_BUILD_TYPE (default Release), ASDM_SKIP_APT=1 to skip step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ASDM_BUILD_DIR:-build}
build_type=${ASDM_BUILD_TYPE:-Release}

step() { printf '\n== %s\n' "$*"; }

if [[ ${ASDM_SKIP_APT:-0} != 1 ]]; then
  pkgs=(build-essential cmake ninja-build ccache git python3-venv clang libclang-rt-dev
        libeigen3-dev libfmt-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
        libbenchmark-dev libstb-dev zlib1g-dev chromium clang-format)
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    sudo_cmd=(); [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

step "Python environment (.venv): torch, diffusers, transformers, safetensors"
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
want = {l.split("==")[0]: l.split("==")[1].strip() for l in open("scripts/requirements.txt") if "==" in l and not l.startswith("#")}
sys.exit(0 if all(md.version(k) == v for k, v in want.items()) else 1)
PY
then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r scripts/requirements.txt
fi
.venv/bin/python -c "import torch; print('torch', torch.__version__)"

step "configure ($build_type) and build in $build_dir"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DASDM_PYTHON="$PWD/.venv/bin/python" \
  -DTorch_DIR="$(.venv/bin/python -c 'import torch.utils, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')" \
  > "$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
cmake --build "$build_dir" -j"$(nproc)" --target asdm
echo
echo "asdm is built: $build_dir/asdm --help (scripts/test.sh builds and runs the tests)"
