#!/usr/bin/env bash
# The GPU scripts at toy scale on the CPU (configs/tiny.json, 64x64), as their headers give them:
# gpu-deploy-check.sh, gpu-scale-check.sh and gpu-sd-chain.sh must finish with status 0, and leave
# in $OUT what the device tool brings back (at most 8 files, none over 16 MiB, at most two folders
# down) with results.tar.gz holding each step's outputs. No session has had a GPU to run them on, so
# this is what keeps a renamed flag or a changed output from being found only on the device.
# usage: gpu_scripts_toy.sh BUILD_DIR PYTHON SCRATCH
set -uo pipefail
build=$1 py=$2 scratch=$3
cd "$(dirname "$0")/../.."
rm -rf "$scratch" && mkdir -p "$scratch"
fail=0
check_out() {  # NAME OUT EXPECTED-MEMBERS...
  local name=$1 out=$2; shift 2
  local n
  n=$(find "$out" -type f | wc -l)
  if ((n > 8)); then echo "FAIL $name: $n files in \$OUT (the device returns 8)"; fail=1; fi
  if [[ -n $(find "$out" -mindepth 4 -type f) ]]; then echo "FAIL $name: files over two folders down"; fail=1; fi
  if [[ -n $(find "$out" -type f -size +16M) ]]; then echo "FAIL $name: a file over 16 MiB"; fail=1; fi
  local listing
  listing=$(tar -tzf "$out/results.tar.gz" 2> /dev/null) || { echo "FAIL $name: no readable results.tar.gz"; fail=1; return; }
  local m
  for m in "$@"; do
    grep -qx "./$m" <<< "$listing" || { echo "FAIL $name: results.tar.gz lacks $m"; fail=1; }
  done
  if grep -q '\.safetensors$' <<< "$listing"; then echo "FAIL $name: weights in results.tar.gz"; fail=1; fi
  echo "ok $name: $n files in \$OUT, $(wc -l <<< "$listing") entries in results.tar.gz"
}
run() {  # NAME SCRIPT ENV...
  local name=$1 script=$2; shift 2
  local out=$scratch/$name-out
  mkdir -p "$out"
  env OUT="$out" STAGE="$scratch/$name-stage" "$@" bash "scripts/$script" > "$scratch/$name.log" 2>&1
  local rc=$?
  if ((rc != 0)); then
    echo "FAIL $name: status $rc (log: $scratch/$name.log)"; tail -20 "$scratch/$name.log"; fail=1
  fi
}
toy=(DEVICE=cpu CONFIG=configs/tiny.json RES=64 ASDM="$build/asdm" PY="$py")
run deploy gpu-deploy-check.sh "${toy[@]}" QUICK=1 LATENT=8 BENCH="$build/asdm_unet_bench" W="$scratch/deploy-work"
check_out deploy "$scratch/deploy-out" compare-b2.json compare-b8.json profile-eager.json profile-nhwc.json \
  bench-eager.json op-shares-nchw.json op-shares-nhwc.json
run scale gpu-scale-check.sh "${toy[@]}" STEPS=3 W="$scratch/scale-work"
check_out scale "$scratch/scale-out" scale.tsv plain.jsonl checkpointing.jsonl lean.jsonl
[[ $(wc -l < "$scratch/scale-out/scale.tsv") -ge 8 ]] || { echo "FAIL scale: scale.tsv has too few rows"; fail=1; }
# Low targets: the tiny model's fixed parts take a third of its forward on a busy machine, so the
# GPU defaults (0.22 0.35) can be out of reach here.
run chain gpu-sd-chain.sh "${toy[@]}" XL_CONFIG=configs/tiny.json XL_RES=64 TARGETS="0.1 0.15" \
  WORK="$scratch/chain-work"
check_out chain "$scratch/chain-out" sd15/timings.tsv sd15/importance.json sd15/candidates-0.1.json \
  sd15/candidates-0.15.json sd15/bench.json sd15/profile-b8.json sd15/report/report.html sdxl/bench.json
exit $fail
