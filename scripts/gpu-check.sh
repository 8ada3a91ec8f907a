#!/usr/bin/env bash
# The GPU machine's checks, in one call (see the device tool's README). Here, once per change:
#   ../shared/gpu/pack-deps.sh                     # Debian's C++ deps into .gpu-deps (ignored)
#   mkdir -p .gpu-shared && cp -r ../shared/fixtures .gpu-shared/   # ../shared does not travel
#   scripts/gpu-check.sh --prebuilt               # optional: copies this machine's build into
#                                                 # .gpu-prebuilt, used there if the build fails
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu-deps", ".gpu-shared", ".gpu-prebuilt"])
# There it builds against the machine's preinstalled torch (the gpu tests, the profiler and the
# benchmarks only: CI runs the rest), runs the gpu-labelled tests, profiles SD 1.5 at 512x512 fp16
# batch 2 with each latency backend, compares CUPTI with CUDA events per unit, and runs the UNet
# benchmarks. Everything lands under $OUT (default: out/): gpu-check.log, the three profiles,
# the CUPTI trace, and results.tar.gz with the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --prebuilt ]]; then
  rm -rf .gpu-prebuilt && mkdir -p .gpu-prebuilt
  cp build/asdm build/asdm_unet_bench build/tests/gpu/asdm_gpu_tests .gpu-prebuilt/
  du -sh .gpu-prebuilt; exit 0
fi
out=${OUT:-out}
mkdir -p "$out/all"
all=$out/all
exec > >(tee "$out/gpu-check.log") 2>&1
start=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - start )) s]"; }
deps=$PWD/.gpu-deps
shared=$PWD/.gpu-shared
[[ -d $shared/fixtures ]] || shared=$(cd .. && pwd)/shared
py=$(command -v python3)
torch_prefix=$($py -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
torch_lib=$($py -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
echo "cpus: $(nproc)"; $py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:$torch_lib:${LD_LIBRARY_PATH:-}"
export ASDM_SOURCE_DIR=$PWD ASDM_SHARED_DIR=$shared

echo "== build $(elapsed)"
bin=build-gpu
tests=build-gpu/tests/gpu/asdm_gpu_tests
if cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_PYTHON="$py" -DASDM_BUILD_BENCHMARKS=ON \
     -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" \
     -DASDM_SHARED_DIR="$shared" > "$all/configure.log" 2>&1 &&
   timeout 420 cmake --build build-gpu -j"$(nproc)" --target asdm asdm_gpu_tests asdm_unet_bench > "$all/build.log" 2>&1; then
  echo "built against $torch_prefix $(elapsed)"
  export ASDM_BINARY_DIR=$PWD/build-gpu
else
  tail -5 "$all/configure.log"; grep -E "error|Error" "$all/build.log" | head -20
  if [[ -x .gpu-prebuilt/asdm ]]; then
    echo "build failed: using the carried prebuilt binaries (built on the CPU machine against the same torch 2.11.0)"
    bin=.gpu-prebuilt; tests=.gpu-prebuilt/asdm_gpu_tests
    export ASDM_BINARY_DIR=/tmp/asdm-gpu-scratch; mkdir -p $ASDM_BINARY_DIR
  else
    exit 1
  fi
fi
export ASDM_EXE=$PWD/$bin/asdm

status=0
echo "== gpu tests $(elapsed)"
$tests --gtest_output=xml:"$all/gpu-tests.xml" 2>&1 | grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) |Failure|error" || true
grep -q 'failures="0"' "$all/gpu-tests.xml" || status=1

echo "== profiles: SD 1.5, 512x512, fp16, batch 2 $(elapsed)"
for backend in cupti cuda-events timer; do
  trace=(); [[ $backend == cupti ]] && trace=(--trace "$out/trace-cupti-sd15.json")
  $bin/asdm profile --model configs/sd15.json --device cuda --dtype fp16 --resolution 512 --batch 2 \
    --runs 20 --warmup 5 --backend $backend -o "$out/profile-$backend-sd15-512-fp16.json" "${trace[@]}" \
    > "$all/profile-$backend.txt" 2>&1 || status=1
  head -12 "$all/profile-$backend.txt"; tail -3 "$all/profile-$backend.txt"; elapsed
done
$py scripts/compare_profiles.py "$out/profile-cuda-events-sd15-512-fp16.json" "$out/profile-cupti-sd15-512-fp16.json" \
  > "$all/cupti-vs-events.txt" 2>&1 && { head -3 "$all/cupti-vs-events.txt"; tail -1 "$all/cupti-vs-events.txt"; }

echo "== benchmarks $(elapsed)"
for dtype in float16 float32; do
  ASDM_BENCH_DEVICE=cuda ASDM_BENCH_DTYPE=$dtype ASDM_BENCH_REPETITIONS=20 $bin/asdm_unet_bench \
    --benchmark_out="$all/bench-cuda-$dtype.json" --benchmark_out_format=json 2>&1 | grep -E "median|p10|p90" || status=1
done
ASDM_BENCH_THREADS=16 ASDM_BENCH_REPETITIONS=5 $bin/asdm_unet_bench --benchmark_filter=SD15 \
  --benchmark_out="$all/bench-cpu16.json" --benchmark_out_format=json 2>&1 | grep -E "median" || status=1
echo "== done $(elapsed), status $status"
tar -C "$out" -czf "$out/results.tar.gz" all && rm -rf "$all"
exit $status
