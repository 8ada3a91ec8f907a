#!/usr/bin/env bash
# Builds (if needed) and runs every test with CTest: unit tests, the diffusers fixture parity test,
# the reference test against the real diffusers library, and the CLI tests. GPU tests (label gpu)
# skip cleanly without a GPU. Extra arguments go to ctest (e.g. -R Parity, -L gpu). It first checks
# the formatting (scripts/format.sh --check) and fails on a diff; ASDM_SKIP_FORMAT=1 skips that.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${ASDM_SKIP_FORMAT:-0} == 1 ]] || bash scripts/format.sh --check
build_dir=${ASDM_BUILD_DIR:-build}
[[ -f $build_dir/CMakeCache.txt ]] || { echo "no build in $build_dir: run scripts/setup.sh first" >&2; exit 1; }
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
