#!/usr/bin/env bash
# The whole chain at Stable Diffusion scale on the GPU machine, in one device call (issue 20). Here:
#   ../shared/gpu/pack-deps.sh            # Debian's C++ deps into .gpu-deps (ignored by git)
#   scripts/gpu-check.sh --prebuilt      # this machine's build into .gpu-prebuilt
#   run(command="bash scripts/gpu-sd-chain.sh", carry=[".gpu-deps", ".gpu-prebuilt"], timeout_s=590)
# There: SD 1.5 at 512x512 fp16 (random weights, asdm init, checked through 25 fp16 steps): profile
# with CUDA events at batch 2 and 8 and with CUPTI at batch 2; ablate tier 1 of every removable unit
# on 8 prompts, K = 4, 25 steps, guidance 7.5 (timed); search at 0.22 and 0.35 with --measure
# (the predictor's error per candidate); build; a 20-step incubation at batch 8 with bf16 autocast
# (samples/s, peak memory); bench of teacher and student (UNet, and the 25-step pipeline split into
# text encoder, UNet x steps and VAE); report. Then, while time is left (SDXL_BUDGET_S, default 150 s
# before the call's end), SDXL at 1024x1024: init, profile and bench. Everything small comes back
# in $OUT/results.tar.gz (weights stay behind; scripts/gpu-out.sh): the stage timings, logs,
# artifacts and the report; $OUT also gets the log and SD 1.5's timings.tsv. The same script runs on
# a CPU at toy scale (every stage, the CUPTI profile aside; 15 s here):
#   DEVICE=cpu CONFIG=configs/tiny.json RES=64 XL_CONFIG=configs/tiny.json XL_RES=64 ASDM=build/asdm \
#     PY=.venv/bin/python bash scripts/gpu-sd-chain.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee "$out/gpu-sd-chain.log") 2>&1
source scripts/gpu-out.sh  # from here $out is a staging folder, packed into $OUT/results.tar.gz
DEVICE=${DEVICE:-cuda} CONFIG=${CONFIG:-configs/sd15.json} RES=${RES:-512}
XL_CONFIG=${XL_CONFIG:-configs/sdxl.json} XL_RES=${XL_RES:-1024} LIMIT_S=${LIMIT_S:-590}
WORK=${WORK:-/tmp}  # the chains' folders: $WORK/sd15, $WORK/sdxl (weights included; not returned)
if [[ $DEVICE == cpu ]]; then
  DTYPE=${DTYPE:-fp32} BACKEND=${BACKEND:-timer} AMP=${AMP:-0}
else
  DTYPE=${DTYPE:-fp16} BACKEND=${BACKEND:-cuda-events} AMP=${AMP:-1}
fi
start=$(date +%s)
deps=$PWD/.gpu-deps
py=${PY:-$(command -v python3)}
torch_lib=$($py -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:$torch_lib:${LD_LIBRARY_PATH:-}"
[[ $DEVICE == cpu ]] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
echo "cpus: $(nproc)"
asdm=${ASDM:-.gpu-prebuilt/asdm}
if ! $asdm --version > /dev/null 2>&1; then
  echo "no runnable $asdm: building (takes most of the call)"
  torch_prefix=$($py -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_BUILD_TESTS=OFF \
    -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" > "$out/configure.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target asdm > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  asdm=build-gpu/asdm
fi
$asdm --version
keep() {  # the small outputs of a chain folder
  local w=$1 dst=$2
  mkdir -p "$dst"
  cp "$w"/*.json "$w"/*.tsv "$w"/*.log "$dst"/ 2>/dev/null
  cp -r "$w/report" "$dst"/ 2>/dev/null
  cp "$w"/incubated/incubation.json* "$w"/incubated/*.jsonl "$dst"/ 2>/dev/null
  true
}
# The chain is one long command: snapshot its small outputs every minute, so that a kill at the
# call's limit still brings back the stages that finished.
(while sleep 60; do keep $WORK/sd15 "$out/sd15"; pack; done) &
snapshots=$!
W=$WORK/sd15 ASDM=$asdm CONFIG=$CONFIG DEVICE=$DEVICE DTYPE=$DTYPE BACKEND=$BACKEND RES=$RES \
  BATCH=2 PROMPTS=8 K=4 ABLATE_STEPS=25 GUIDANCE=7.5 TARGETS="${TARGETS:-0.22 0.35}" MEASURE=1 INC_STEPS=20 \
  INC_BATCH=8 INC_IMAGES=8 BENCH_RUNS=20 PIPE_STEPS=25 PIPE_RUNS=3 QUALITY=4 PROFILE_RUNS=30 \
  CHECK_STEPS=25 AMP=$AMP scripts/sd-chain.sh
rc=$?
kill $snapshots 2> /dev/null; wait $snapshots 2> /dev/null
dev=(--device "$DEVICE" --dtype "$DTYPE")
$asdm -q profile --model $WORK/sd15/teacher --resolution "$RES" --batch 8 "${dev[@]}" \
  --backend "$BACKEND" --runs 30 -o $WORK/sd15/profile-b8.json > $WORK/sd15/profile-b8.log 2>&1
[[ $DEVICE == cpu ]] || $asdm -q profile --model $WORK/sd15/teacher --resolution "$RES" --batch 2 "${dev[@]}" \
  --backend cupti --runs 20 -o $WORK/sd15/profile-cupti.json > $WORK/sd15/profile-cupti.log 2>&1
keep $WORK/sd15 "$out/sd15"; pack; show "$out/sd15/timings.tsv"
echo "== SD 1.5 chain: rc $rc, $(( $(date +%s) - start )) s"
budget=${SDXL_BUDGET_S:-150}
if (( $(date +%s) - start < LIMIT_S - budget )); then
  W=$WORK/sdxl && rm -rf $W && mkdir -p $W
  $asdm -q init --config "$XL_CONFIG" -o $W/teacher --dtype "$DTYPE" > $W/init.log 2>&1 &&
  $asdm -q profile --model $W/teacher --resolution "$XL_RES" --batch 2 "${dev[@]}" \
    --backend "$BACKEND" --runs 20 -o $W/profile.json > $W/profile.log 2>&1 &&
  $asdm -q bench --models teacher=$W/teacher "${dev[@]}" --resolution "$XL_RES" --batch 2 \
    --runs 10 --steps 25 --guidance 5 --pipeline-runs 1 --quality-prompts 0 -o $W/bench.json > $W/bench.log 2>&1 ||
    echo "SDXL: a stage failed (logs in results.tar.gz, sdxl/)"
  keep $W "$out/sdxl"
  echo "== SDXL: $(( $(date +%s) - start )) s"
else
  echo "== no time left for SDXL (SDXL_BUDGET_S=$budget before the ${LIMIT_S} s limit)"
fi
exit $rc
