#!/usr/bin/env bash
# The GPU machine's checks, in one call (see the device tool's README). Here, once per change:
#   ../shared/gpu/pack-deps.sh                     # Debian's C++ deps into .gpu-deps (ignored)
#   mkdir -p .gpu-shared && cp -r ../shared/fixtures ../shared/third_party .gpu-shared/
#                                                 # ../shared does not travel (Gloo's headers too)
#   scripts/gpu-check.sh --prebuilt               # optional: copies this machine's build into
#                                                 # .gpu-prebuilt, used there if the build fails
#                                                 # (or instead of it: GPU_CHECK_PREBUILT=1)
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu-deps", ".gpu-shared", ".gpu-prebuilt"])
# There it builds against the machine's preinstalled torch (the gpu tests, the profiler and the
# benchmarks only: CI runs the rest), runs the gpu-labelled tests, profiles SD 1.5 at 512x512 fp16
# batch 2 with each latency backend and at batch 8, with CUDA graphs (--graphs) at both batches,
# compares CUPTI with CUDA events per unit, bench's UNet rounds replayed from graphs, runs
# the proxy world's ablation, incubation and bench on CUDA, and the UNet and per-block benchmarks
# (4.5 minutes on an H100 machine with 16 cores with the carried binaries, plus the build
# without them). Switches:
#   GPU_CHECK_EXPERIMENTS=1  also CUPTI recording every API call, and none (kernel tracing alone)
#   GPU_CHECK_ONLY=profiles  stop after the profiles;  GPU_TEST_FILTER  a gtest filter for the tests
#   PROFILE_RUNS=N           the profiles' runs (20)
# $OUT (default: out/) gets gpu-check.log and results.tar.gz with everything else, weights aside (the
# device returns at most 8 files: scripts/gpu-out.sh), packed again after every step.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --prebuilt ]]; then
  rm -rf .gpu-prebuilt && mkdir -p .gpu-prebuilt
  cp build/asdm build/asdm_unet_bench build/asdm_eval_bench build/tests/gpu/asdm_gpu_tests .gpu-prebuilt/
  cp build/libasdm_nccl.so .gpu-prebuilt/ 2> /dev/null || echo "no NCCL plugin built: CUDA jobs use Gloo"
  cp build/libasdm_cuda_graphs.so .gpu-prebuilt/ 2> /dev/null || echo "no CUDA-graphs plugin built: --graphs will say so"
  du -sh .gpu-prebuilt; exit 0
fi
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
source scripts/gpu-out.sh  # from here $out is a staging folder, packed into $OUT/results.tar.gz
all=$out/all
mkdir -p "$all"
start=$(date +%s)
elapsed() { pack; echo "[$(( $(date +%s) - start )) s]"; }
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
use_prebuilt() {
  bin=.gpu-prebuilt; tests=.gpu-prebuilt/asdm_gpu_tests
  export ASDM_BINARY_DIR=/tmp/asdm-gpu-scratch; mkdir -p $ASDM_BINARY_DIR
}
# GPU_CHECK_PREBUILT=1: run the carried binaries (built on the CPU machine against the pip wheel of
# the same torch) without building, to save device time; the build is the fallback.
if [[ ${GPU_CHECK_PREBUILT:-0} == 1 ]] && .gpu-prebuilt/asdm --version > "$all/prebuilt.log" 2>&1; then
  echo "using the carried prebuilt binaries: $(head -1 "$all/prebuilt.log")"
  use_prebuilt
elif cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_PYTHON="$py" -DASDM_BUILD_BENCHMARKS=ON \
     -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" \
     -DASDM_SHARED_DIR="$shared" > "$all/configure.log" 2>&1 &&
   timeout 420 cmake --build build-gpu -j"$(nproc)" --target asdm asdm_gpu_tests asdm_unet_bench asdm_eval_bench > "$all/build.log" 2>&1; then
  echo "built against $torch_prefix $(elapsed)"
  export ASDM_BINARY_DIR=$PWD/build-gpu
else
  tail -5 "$all/configure.log"; grep -E "error|Error" "$all/build.log" | head -20
  if [[ -x .gpu-prebuilt/asdm ]]; then
    echo "build failed: using the carried prebuilt binaries (built on the CPU machine against the same torch 2.11.0)"
    use_prebuilt
  else
    exit 1
  fi
fi
export ASDM_EXE=$PWD/$bin/asdm

status=0
echo "== gpu tests $(elapsed)"
$tests --gtest_filter="${GPU_TEST_FILTER:-*}" --gtest_output=xml:"$all/gpu-tests.xml" 2>&1 | grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) |Failure|error" || true
grep -q 'failures="0"' "$all/gpu-tests.xml" || status=1

profile() {  # NAME BACKEND BATCH [extra args]: one SD 1.5 512x512 fp16 profile
  local name=$1 backend=$2 batch=$3; shift 3
  $bin/asdm profile --model configs/sd15.json --device cuda --dtype fp16 --resolution 512 --batch "$batch" \
    --runs "${PROFILE_RUNS:-20}" --warmup 5 --backend "$backend" -o "$name" "$@" > "$all/$(basename "$name" .json).txt" 2>&1 || status=1
  grep -E "backend; forward|device activity|joined by|API records|warning|sampler loop" "$all/$(basename "$name" .json).txt"
}
echo "== profiles: SD 1.5, 512x512, fp16, batch 2 $(elapsed)"
profile "$out/profile-cuda-events-sd15-512-fp16.json" cuda-events 2
profile "$out/profile-cupti-sd15-512-fp16.json" cupti 2 --trace "$out/trace-cupti-sd15.json"
head -14 "$all/profile-cupti-sd15-512-fp16.txt" | tail -11
profile "$out/profile-timer-sd15-512-fp16.json" timer 2
if [[ ${GPU_CHECK_EXPERIMENTS:-0} == 1 ]]; then
  echo "-- CUPTI recording every API call (the old default), none (no attribution: kernel tracing's own"
  echo "   overhead), and CUDA events again (drift)"
  ASDM_CUPTI_API_RECORDS=all profile "$all/profile-cupti-all-api.json" cupti 2
  ASDM_CUPTI_API_RECORDS=none profile "$all/profile-cupti-no-api.json" cupti 2
  profile "$all/profile-cuda-events-again.json" cuda-events 2
  ASDM_CUPTI_API_RECORDS=all profile "$all/profile-cupti-all-api-b8.json" cupti 8
fi
echo "-- sampler loop: 10 DDIM steps, guidance 7.5 (UNet batch 2)"
profile "$all/profile-sampler-loop.json" cuda-events 1 --sampler-steps 10 --guidance 7.5
echo "-- batch 8"
profile "$all/profile-cuda-events-b8.json" cuda-events 8
profile "$all/profile-cupti-b8.json" cupti 8
echo "-- CUDA graphs (issue 21): unit events inside the graph; unobserved = graph replays"
profile "$out/profile-graphs-sd15-512-fp16.json" cuda-events 2 --graphs
profile "$all/profile-graphs-b8.json" cuda-events 8 --graphs
for pair in "$out/profile-cuda-events-sd15-512-fp16.json $out/profile-cupti-sd15-512-fp16.json cupti-vs-events" \
            "$all/profile-cuda-events-b8.json $all/profile-cupti-b8.json cupti-vs-events-b8"; do
  set -- $pair
  $py scripts/compare_profiles.py "$1" "$2" > "$all/$3.txt" 2>&1 && { echo "-- $3"; head -2 "$all/$3.txt"; tail -2 "$all/$3.txt"; }
done

if [[ ${GPU_CHECK_ONLY:-} == profiles ]]; then  # the profiler's checks alone (to spend less device time)
  echo "== done (profiles only) $(elapsed), status $status"
  exit $status
fi

echo "== ablation: the proxy teacher, tier 1, 16 prompts, K 4, on CUDA $(elapsed)"
head -16 configs/prompts/proxy-default-val.txt > "$all/ablation-prompts.txt"
t0=$SECONDS
$bin/asdm ablate --model assets/proxy-default/teacher --prompts "$all/ablation-prompts.txt" --device cuda --rows 8 \
  -o "$out/importance-proxy-cuda.json" > "$all/ablation.txt" 2>&1 || status=1
echo "$((SECONDS - t0)) s"; grep -A9 "by tier-1" "$all/ablation.txt" || tail -3 "$all/ablation.txt"

echo "== incubation on CUDA: a 42%-faster student of the proxy teacher, 60 steps, bfloat16 autocast $(elapsed)"
t0=$SECONDS
{ $bin/asdm profile --model assets/proxy-default/teacher --device cuda --resolution 128 --batch 8 --text-tokens 12 \
    -o "$all/profile-proxy-cuda.json" &&
  $bin/asdm search --profile "$all/profile-proxy-cuda.json" --importance "$out/importance-proxy-cuda.json" \
    --target-speedup 0.4 --max-candidates 1 -o "$all/cand40.json" &&
  $bin/asdm build --teacher assets/proxy-default/teacher --candidates "$all/cand40.json" --clme -o "$all/s40" &&
  $bin/asdm incubate --teacher assets/proxy-default/teacher --student "$all/s40" -o "$all/s40-inc" --device cuda --amp \
    --steps 60 --batch 16 --lr 2e-4 --classifier assets/proxy-default/classifier --eval-n 50 ; } > "$all/incubate.txt" 2>&1 || status=1
cp "$all/s40-inc/incubation.json" "$out/incubation-cuda.json" 2>/dev/null
echo "$((SECONDS - t0)) s"; tail -5 "$all/incubate.txt"

echo "== asdm bench (UNet on CUDA, fp16) and asdm report $(elapsed)"
t0=$SECONDS
{ $bin/asdm bench --models "teacher=assets/proxy-default/teacher,student=$all/s40-inc" --device cuda --dtype fp16 --batch 8 \
    --runs 20 --quality-prompts 50 --classifier assets/proxy-default/classifier -o "$out/bench-cuda.json" &&
  $bin/asdm report "$out/bench-cuda.json" "$all/profile-proxy-cuda.json" "$out/importance-proxy-cuda.json" "$all/cand40.json" \
    "$all/s40-inc/incubation.json" -o "$out/report" ; } > "$all/bench.txt" 2>&1 || status=1
echo "$((SECONDS - t0)) s"; tail -6 "$all/bench.txt"

echo "== asdm bench with CUDA graphs: the proxy teacher and student, UNet rounds replayed $(elapsed)"
$bin/asdm bench --models "teacher=assets/proxy-default/teacher,student=$all/s40-inc" --device cuda --dtype fp16 --batch 8 \
  --runs 20 --graphs --quality-prompts 0 --pipeline-runs 0 -o "$out/bench-cuda-graphs.json" > "$all/bench-graphs.txt" 2>&1 || status=1
tail -4 "$all/bench-graphs.txt"

echo "== benchmarks $(elapsed)"
ASDM_BENCH_DEVICE=cuda ASDM_BENCH_DTYPE=float16 ASDM_BENCH_REPETITIONS=20 $bin/asdm_unet_bench \
  --benchmark_out="$all/bench-cuda-float16.json" --benchmark_out_format=json 2>&1 | grep -E "_median|rror" || status=1
ASDM_BENCH_DEVICE=cuda ASDM_BENCH_DTYPE=float32 ASDM_BENCH_REPETITIONS=20 $bin/asdm_unet_bench --benchmark_filter=UNetForward \
  --benchmark_out="$all/bench-cuda-float32.json" --benchmark_out_format=json 2>&1 | grep -E "_median|rror" || status=1
ASDM_BENCH_THREADS=16 ASDM_BENCH_REPETITIONS=5 $bin/asdm_unet_bench --benchmark_filter=SD15 \
  --benchmark_out="$all/bench-cpu16.json" --benchmark_out_format=json 2>&1 | grep -E "_median|rror" || status=1
# Metric features (issue 19): Inception (random weights of the real network) at batch 64, fp16 and
# fp32, images/s.
for dt in float16 float32; do
  ASDM_BENCH_DEVICE=cuda ASDM_BENCH_DTYPE=$dt ASDM_BENCH_BATCH=64 ASDM_BENCH_REPETITIONS=10 \
    $bin/asdm_eval_bench --benchmark_filter=Inception --benchmark_out="$all/eval-bench-cuda-$dt.json" \
    --benchmark_out_format=json 2>&1 | grep -E "_median|rror" || status=1
done
echo "== done $(elapsed), status $status"
exit $status
