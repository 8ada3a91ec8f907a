#!/usr/bin/env bash
# Issue 24 on the GPU machine, in one device call: the training speed and memory of an SD 1.5-sized
# student (random weights: speed and memory do not depend on them). Here:
#   ../shared/gpu/pack-deps.sh            # Debian's C++ deps into .gpu-deps
#   scripts/gpu-check.sh --prebuilt      # this machine's asdm (and libasdm_nccl.so) into .gpu-prebuilt
#   scripts/pack-gpu-python.sh           # diffusers for the baseline, into .gpu-python
#   mkdir -p .gpu-shared && cp -r ../shared/third_party .gpu-shared/   # Gloo's headers, for a build there
#   run(command="bash scripts/gpu-scale-check.sh",
#       carry=[".gpu-deps", ".gpu-prebuilt", ".gpu-python", ".gpu-shared"], timeout_s=480)
# There: asdm init SD 1.5, its BK-SDM-Base student (asdm build --preset base), a training set of 16
# teacher images encoded to latents, then asdm incubate --one-shot at 512x512, a global batch of 8,
# bf16 autocast, under torchrun with one process (NCCL, world size 1), in these variants:
#   plain | --activation-checkpointing | --accumulate 2 | --teacher-dtype bfloat16 | all three |
#   task + output loss only (the baseline's loss) with and without checkpointing
# and the same student trained by diffusers + PyTorch (bench/train_diffusers.py: task + output
# loss, AdamW, bf16 autocast) with and without gradient checkpointing. samples/s (median of the
# steps after the first two) and peak memory go to $OUT/scale.tsv; each run's log and
# incubation.jsonl to $OUT/results.tar.gz (scripts/gpu-out.sh). The same script runs on a CPU
# at toy scale: DEVICE=cpu CONFIG=configs/tiny.json RES=64 ASDM=build/asdm bash scripts/gpu-scale-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee "$out/gpu-scale-check.log") 2>&1
source scripts/gpu-out.sh  # from here $out is a staging folder, packed into $OUT/results.tar.gz
CONFIG=${CONFIG:-configs/sd15.json} RES=${RES:-512} BATCH=${BATCH:-8} STEPS=${STEPS:-8}
DEVICE=${DEVICE:-cuda} W=${W:-/tmp/asdm-scale} PY=${PY:-$(command -v python3)}
start=$(date +%s)
deps=$PWD/.gpu-deps
torch_lib=$($PY -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu:$torch_lib:${LD_LIBRARY_PATH:-}"
[[ $DEVICE == cpu ]] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
asdm=${ASDM:-.gpu-prebuilt/asdm}
if ! $asdm --version > /dev/null 2>&1; then
  echo "no runnable $asdm: building asdm and the NCCL plugin (takes most of the call)"
  torch_prefix=$($PY -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DASDM_BUILD_TESTS=OFF \
    -DCMAKE_PREFIX_PATH="$deps;$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" > "$out/configure.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target asdm asdm_nccl > "$out/build.log" 2>&1 ||
    cmake --build build-gpu -j"$(nproc)" --target asdm >> "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  asdm=build-gpu/asdm
fi
$asdm --version
if [[ -d .gpu-python ]] && ! $PY -c 'import diffusers' 2> /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/asdm-site \
    .gpu-python/*.whl && export PYTHONPATH=/tmp/asdm-site${PYTHONPATH:+:$PYTHONPATH}
fi
rm -rf "$W" && mkdir -p "$W/images"
step() { pack; echo "== $* ($(( $(date +%s) - start )) s)"; }
step init; $asdm -q init --config "$CONFIG" -o "$W/teacher" --seed 0 || exit 1
step build; $asdm -q build --teacher "$W/teacher" --preset base -o "$W/student" || exit 1
step "training set"
for i in $(seq 0 15); do echo "a photo of object number $i on a table" > "$W/images/img-$i.txt"; done
ls "$W"/images/*.txt | sed 's/.*/cat &/' | sh > "$W/prompts.txt"
dtype=(); [[ $DEVICE == cpu ]] || dtype=(--dtype fp16)
$asdm -q generate --model "$W/teacher" --prompts "$W/prompts.txt" --steps 2 --resolution "$RES" \
  --device "$DEVICE" "${dtype[@]}" -o "$W/images/img.png" > "$W/generate.log" 2>&1 || { tail "$W/generate.log"; exit 1; }
$asdm -q latents --model "$W/teacher" --images "$W/images" --resolution "$RES" --device "$DEVICE" \
  -o "$W/latents.safetensors" > "$W/latents.log" 2>&1 || { tail "$W/latents.log"; exit 1; }

printf 'runner\tvariant\tsamples_per_s\tpeak_mib\n' > "$out/scale.tsv"
amp=(); [[ $DEVICE == cpu ]] || amp=(--amp)
port=29555
incubate() {  # NAME FLAGS...: one torchrun process (a process group of one: NCCL on CUDA)
  local name=$1; shift
  step "incubate $name"
  port=$((port + 1))
  $PY -m torch.distributed.run --nproc-per-node 1 --master-port $port --no-python \
    $asdm incubate --teacher "$W/teacher" --student "$W/student" --data "$W/latents.safetensors" \
    --one-shot --steps "$STEPS" --batch "$BATCH" --device "$DEVICE" "${amp[@]}" --no-eval \
    --checkpoint-every 100000 -o "$W/$name" "$@" > "$W/$name.log" 2>&1 || { tail -5 "$W/$name.log"; return; }
  $PY - "$W/$name/incubation.jsonl" "$name" >> "$out/scale.tsv" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rest = lines[2:] or lines
print("asdm\t%s\t%.2f\t%.0f" % (sys.argv[2], statistics.median(l["samples_per_s"] for l in rest),
                              max(l["peak_bytes"] for l in lines) / 2**20))
PY
  grep -m1 "examples per step" "$W/$name.log" || true
  cp "$W/$name/incubation.jsonl" "$out/$name.jsonl"; cp "$W/$name.log" "$out/"
}
incubate plain
incubate checkpointing --activation-checkpointing
incubate accumulate2 --accumulate 2
incubate teacher-bf16 --teacher-dtype bfloat16
incubate lean --activation-checkpointing --accumulate 2 --teacher-dtype bfloat16
incubate task-output --weights feature=0,semantic=0
incubate task-output-checkpointing --weights feature=0,semantic=0 --activation-checkpointing
if $PY -c 'import diffusers' 2> /dev/null; then
  for gc in "" --gradient-checkpointing; do
    step "diffusers $gc"
    ampflag=(); [[ $DEVICE == cpu ]] || ampflag=(--amp)
    $PY bench/train_diffusers.py --teacher "$W/teacher/unet" --student "$W/student/unet" --resolution "$RES" \
      --batch "$BATCH" --steps "$STEPS" --device "$DEVICE" "${ampflag[@]}" $gc > "$W/diffusers$gc.json" || continue
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print("diffusers\ttask-output%s\t%.2f\t%.0f" % ("-checkpointing" if r["gradient_checkpointing"] else "", r["samples_per_s"], r["peak_bytes"] / 2**20))' \
      "$W/diffusers$gc.json" >> "$out/scale.tsv"
    cp "$W/diffusers$gc.json" "$out/"
  done
else
  echo "no diffusers here (scripts/pack-gpu-python.sh makes .gpu-python): no baseline"
fi
show "$out/scale.tsv"
step done
column -t "$out/scale.tsv" 2> /dev/null || cat "$out/scale.tsv"
