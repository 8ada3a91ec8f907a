#!/usr/bin/env bash
# The GPU machine's checks, in one call (see the device tool's README). Here, once:
#   ../shared/gpu/pack-deps.sh                     # Debian's C++ deps into .gpu-deps (ignored)
#   mkdir -p .gpu-shared && cp -r ../shared/fixtures .gpu-shared/   # ../shared does not travel
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu-deps", ".gpu-shared"], timeout_s=...)
# It builds against the machine's preinstalled torch, runs the CPU unit tests that need no Python
# reference libraries, the gpu-labelled tests, and the UNet benchmarks on CUDA (fp32, fp16) and CPU,
# a timer-backend profile of SD 1.5 at 512x512 fp16, writing everything under $OUT (default: out/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
deps=$PWD/.gpu-deps
shared=$PWD/.gpu-shared
[[ -d $shared/fixtures ]] || shared=$(cd .. && pwd)/shared
py=$(command -v python3)
torch_prefix=$($py -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
$py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

echo "== build"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_PYTHON="$py" \
  -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" \
  -DASDM_SHARED_DIR="$shared" > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -40; exit 1; }

status=0
echo "== gpu tests"
ctest --test-dir build-gpu -L gpu --output-on-failure --output-junit "$PWD/$out/gpu-tests.xml" || status=1
echo "== cpu tests (no reference libraries, no fuzzer)"
ctest --test-dir build-gpu -LE "gpu|reference|fuzz" -j8 --output-on-failure > "$out/cpu-tests.log" 2>&1 || status=1
tail -3 "$out/cpu-tests.log"

echo "== profile (timer backend; CUDA events and CUPTI come with the rest of the profiler issue)"
build-gpu/asdm profile --model configs/sd15.json --device cuda --dtype fp16 --resolution 512 --batch 2 \
  --runs 10 --warmup 3 -o "$out/profile-timer-sd15-512-fp16.json" --trace "$out/trace-timer-sd15.json" \
  | tail -25 || status=1

echo "== benchmarks"
for dtype in float32 float16; do
  ASDM_BENCH_DEVICE=cuda ASDM_BENCH_DTYPE=$dtype ASDM_BENCH_REPETITIONS=20 build-gpu/asdm_unet_bench \
    --benchmark_format=json --benchmark_out="$out/bench-cuda-$dtype.json" --benchmark_out_format=json \
    | grep -E "median|p10|p90" || status=1
done
ASDM_BENCH_THREADS=16 ASDM_BENCH_REPETITIONS=5 build-gpu/asdm_unet_bench --benchmark_filter=SD15 \
  --benchmark_out="$out/bench-cpu16.json" --benchmark_out_format=json | grep -E "median" || status=1
exit $status
