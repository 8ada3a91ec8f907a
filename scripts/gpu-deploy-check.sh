#!/usr/bin/env bash
# Issue 21 on the GPU machine, in one device call (aim: under 8 minutes with carried binaries):
# speed as deployed. Here, first:
#   ../shared/gpu/pack-deps.sh           # Debian's C++ deps into .gpu-deps
#   scripts/gpu-check.sh --prebuilt      # asdm, asdm_unet_bench and libasdm_cuda_graphs.so into .gpu-prebuilt
#   scripts/pack-gpu-python.sh           # diffusers for the baselines, into .gpu-python
#   run(command="bash scripts/gpu-deploy-check.sh",
#       carry=[".gpu-deps", ".gpu-prebuilt", ".gpu-python"], timeout_s=540)
# There, on SD 1.5 with random weights (speed does not depend on their values), fp16, 512x512:
#   1. bench/compare_diffusers.py, one interleaved run per batch (2 and 8): diffusers eager (SDPA),
#      diffusers + torch.compile (COMPILE_B2, default "default,max-autotune"; COMPILE_B8, default
#      "default": each mode compiles again per shape), asdm eager and asdm replaying a CUDA graph,
#      and each side again in channels-last memory (--channels-last: diffusers-nhwc, asdm-nhwc,
#      asdm-graphs-nhwc);
#   2. asdm profile of the teacher eager, --graphs and --channels-last (unit times inside the
#      graph, coverage, the SDPA kernels);
#   3. asdm bench of the teacher and a BK-SDM-Small student (asdm build --preset small), eager,
#      --graphs and --graphs --channels-last: UNet speed-up each way, and the 25-step pipeline's
#      time per image with graphs;
#   4. while time is left, bench/op_shares.py: diffusers' forward by operator, NCHW and NHWC.
# $OUT gets deploy.log, compare-b2/b8.json and results.tar.gz (everything: the comparisons, profiles,
# bench JSONs and logs; scripts/gpu-out.sh, since the device returns at most 8 files). The same script
# runs on a CPU at toy scale, without --graphs and --compile:
#   DEVICE=cpu CONFIG=configs/tiny.json RES=64 LATENT=8 ASDM=build/asdm BENCH=build/asdm_unet_bench \
#     bash scripts/gpu-deploy-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee "$out/deploy.log") 2>&1
source scripts/gpu-out.sh  # from here $out is a staging folder, packed into $OUT/results.tar.gz
CONFIG=${CONFIG:-configs/sd15.json} RES=${RES:-512} LATENT=${LATENT:-64} DEVICE=${DEVICE:-cuda}
W=${W:-/tmp/asdm-deploy} PY=${PY:-$(command -v python3)}
COMPILE_B2=${COMPILE_B2:-default,max-autotune} COMPILE_B8=${COMPILE_B8:-default}
# QUICK=1 (the CPU toy check in CI): every timing loop at its shortest.
if [[ ${QUICK:-0} == 1 ]]; then r2=(4 2) r8=(2 1) pr=3 br=3 pp=1 opr=1; else r2=(40 4) r8=(24 3) pr=20 br=30 pp=3 opr=5; fi
start=$(date +%s)
step() { pack; echo "== $* ($(($(date +%s) - start)) s)"; }
deps=$PWD/.gpu-deps
torch_lib=$($PY -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:$torch_lib:${LD_LIBRARY_PATH:-}"
[[ $DEVICE == cpu ]] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
asdm=${ASDM:-.gpu-prebuilt/asdm} bench=${BENCH:-.gpu-prebuilt/asdm_unet_bench}
if ! $asdm --version > /dev/null 2>&1 || ! [[ -x $bench ]]; then
  step "no runnable $asdm / $bench: building them and the CUDA-graphs plugin (takes most of the call)"
  torch_prefix=$($PY -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_BUILD_TESTS=OFF \
    -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" > "$out/configure.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target asdm asdm_unet_bench > "$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log"; exit 1; }
  asdm=build-gpu/asdm bench=build-gpu/asdm_unet_bench
fi
$asdm --version
if [[ -d .gpu-python ]] && ! $PY -c 'import diffusers' 2> /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/asdm-site \
    .gpu-python/*.whl && export PYTHONPATH=/tmp/asdm-site${PYTHONPATH:+:$PYTHONPATH}
fi
status=0
gpu=(); [[ $DEVICE == cpu ]] || gpu=(--dtype fp16)
graphs=(); [[ $DEVICE == cpu ]] || graphs=(--graphs)

step "asdm against diffusers, batch 2"
compile=(); [[ $DEVICE == cpu || -z $COMPILE_B2 ]] || compile=(--compile "$COMPILE_B2")
$PY bench/compare_diffusers.py --config "$CONFIG" --latent "$LATENT" --batch 2 --device "$DEVICE" \
  "${gpu[@]}" "${graphs[@]}" "${compile[@]}" --channels-last --runs "${r2[0]}" --rounds "${r2[1]}" --bench "$bench" \
  --workdir "$W/cache" --json "$out/compare-b2.json" || status=1
step "asdm against diffusers, batch 8"
compile=(); [[ $DEVICE == cpu || -z $COMPILE_B8 ]] || compile=(--compile "$COMPILE_B8")
$PY bench/compare_diffusers.py --config "$CONFIG" --latent "$LATENT" --batch 8 --device "$DEVICE" \
  "${gpu[@]}" "${graphs[@]}" "${compile[@]}" --channels-last --runs "${r8[0]}" --rounds "${r8[1]}" --bench "$bench" \
  --workdir "$W/cache" --json "$out/compare-b8.json" || status=1

step "profiles of the teacher: eager, with graphs, in channels-last"
for mode in eager graphs nhwc; do
  # Eager and channels-last with the kernel view too (a CUPTI pass after the events): which kernels
  # NHWC changes, and the layout copies it adds (libtorch's CUDA GroupNorm reads NCHW).
  backend=(); [[ $DEVICE == cpu ]] || backend=(--backend cuda-events,cupti)
  [[ $mode == graphs ]] && backend=(--backend cuda-events)
  extra=(); [[ $mode == graphs ]] && extra=("${graphs[@]}")
  [[ $mode == nhwc ]] && extra=(--channels-last)
  [[ $mode == graphs && ${#graphs[@]} == 0 ]] && continue
  $asdm profile --model "$CONFIG" --device "$DEVICE" "${gpu[@]}" --resolution "$RES" --batch 2 --runs "$pr" \
    --warmup 5 "${backend[@]}" "${extra[@]}" -o "$out/profile-$mode.json" > "$out/profile-$mode.txt" 2>&1 || status=1
  grep -E "backend; forward|CUDA graphs|attention \(SDPA\)|channels-last|device activity" "$out/profile-$mode.txt"
done

step "a random SD 1.5 pipeline and its BK-SDM-Small student"
rm -rf "$W/teacher" "$W/student"
$asdm -q init --config "$CONFIG" -o "$W/teacher" --seed 0 &&
  $asdm -q build --teacher "$W/teacher" --preset small -o "$W/student" || exit 1
for mode in eager graphs graphs-nhwc; do
  extra=(); [[ $mode == graphs* ]] && extra=("${graphs[@]}")
  [[ $mode == *nhwc ]] && extra+=(--channels-last)
  [[ $mode == graphs* && ${#graphs[@]} == 0 ]] && continue
  step "bench teacher and student, $mode"
  $asdm bench --models "teacher=$W/teacher,student=$W/student" --device "$DEVICE" "${gpu[@]}" --batch 2 \
    --resolution "$RES" --runs "$br" --pipeline-runs "$pp" --quality-prompts 0 "${extra[@]}" --no-samples \
    -o "$out/bench-$mode.json" > "$out/bench-$mode.txt" 2>&1 || status=1
  tail -4 "$out/bench-$mode.txt"
done
# Operator shares of diffusers' forward (bench/op_shares.py): what fusing GroupNorm + SiLU or GEGLU
# could save at most on this card, NCHW and NHWC (the GroupNorm layout copies show under 'copy').
if (( $(date +%s) - start < ${OPS_BEFORE_S:-420} )); then
  for mode in nchw nhwc; do
    step "operator shares, diffusers, batch 2, $mode"
    cl=(); [[ $mode == nhwc ]] && cl=(--channels-last)
    $PY bench/op_shares.py --config "$CONFIG" --latent "$LATENT" --batch 2 --device "$DEVICE" "${gpu[@]}" \
      "${cl[@]}" --runs "$opr" --json "$out/op-shares-$mode.json" > "$out/op-shares-$mode.txt" 2>&1 || status=1
    sed -n '/^group/,$p' "$out/op-shares-$mode.txt"
  done
else
  step "no time left for the operator shares (OPS_BEFORE_S=${OPS_BEFORE_S:-420} s)"
fi
show "$out/compare-b2.json" "$out/compare-b8.json"
step "done, status $status"
exit $status
