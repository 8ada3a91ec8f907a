#!/usr/bin/env bash
# The whole asdm chain on a Stable Diffusion-sized random-weight pipeline (asdm init): init, profile,
# ablate (tier 1, every removable unit), search at each target, build, a training set and a short
# incubate, bench of teacher and students (UNet and whole pipeline), report. Every stage is timed
# (wall seconds and peak resident memory, /usr/bin/time) into $W/timings.tsv; a summary is printed
# at the end. Quality numbers are meaningless here (random weights); speed, memory and the latency
# predictor are not. Used by scripts/sd-chain-smoke.sh (CPU) and scripts/gpu-sd-chain.sh (GPU).
#
# Settings (environment; defaults: the CPU smoke run):
#   ASDM=build/asdm  W=runs/sd-chain  CONFIG=configs/sd15.json  DEVICE=cpu  DTYPE=fp32
#   BACKEND=timer  RES=256  BATCH=1  PROMPTS=2  K=1  ABLATE_STEPS=2  GUIDANCE=7.5
#   TARGETS="0.22"  MEASURE=0  INC_STEPS=2  INC_BATCH=1  INC_IMAGES=2  BENCH_RUNS=3
#   PIPE_STEPS=4  PIPE_RUNS=1  QUALITY=2  PROFILE_RUNS=5  CHECK_STEPS=0  THREADS=0  AMP=0
set -euo pipefail
cd "$(dirname "$0")/.."
ASDM=${ASDM:-build/asdm} W=${W:-runs/sd-chain} CONFIG=${CONFIG:-configs/sd15.json}
DEVICE=${DEVICE:-cpu} DTYPE=${DTYPE:-fp32} BACKEND=${BACKEND:-timer} RES=${RES:-256} BATCH=${BATCH:-1}
PROMPTS=${PROMPTS:-2} K=${K:-1} ABLATE_STEPS=${ABLATE_STEPS:-2} GUIDANCE=${GUIDANCE:-7.5}
TARGETS=${TARGETS:-0.22} MEASURE=${MEASURE:-0} INC_STEPS=${INC_STEPS:-2} INC_BATCH=${INC_BATCH:-1}
INC_IMAGES=${INC_IMAGES:-2} BENCH_RUNS=${BENCH_RUNS:-3} PIPE_STEPS=${PIPE_STEPS:-4}
PIPE_RUNS=${PIPE_RUNS:-1} QUALITY=${QUALITY:-2} PROFILE_RUNS=${PROFILE_RUNS:-5}
CHECK_STEPS=${CHECK_STEPS:-0} THREADS=${THREADS:-0} AMP=${AMP:-0}
[[ -x $ASDM ]] || { echo "no asdm binary at $ASDM (scripts/setup.sh builds it)" >&2; exit 1; }
rm -rf "$W" && mkdir -p "$W"
timings=$W/timings.tsv
printf 'stage\tseconds\tpeak_rss_mib\n' > "$timings"
start=$(date +%s)
# stage NAME CMD...: runs asdm with the arguments, logs to $W/NAME.log, records time and memory.
stage() {
  local name=$1; shift
  echo "== $name ($(( $(date +%s) - start )) s so far): asdm $*"
  local t0=$(date +%s%N)
  local timer=(/usr/bin/time -f '%M' -o "$W/$name.rss")
  [[ -x /usr/bin/time ]] || { timer=(); echo 0 > "$W/$name.rss"; }  # no GNU time: no memory column
  if ! "${timer[@]}" "$ASDM" "$@" > "$W/$name.log" 2>&1; then
    tail -20 "$W/$name.log"; echo "stage $name failed" >&2
    [[ ${optional:-0} == 1 ]] && return 1
    exit 1
  fi
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '%s\t%d.%d\t%d\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) $(( $(tail -1 "$W/$name.rss") / 1024 )) >> "$timings"
  tail -3 "$W/$name.log"
}
threads=(); [[ $THREADS == 0 ]] || threads=(--threads "$THREADS")
dev=(--device "$DEVICE" --dtype "$DTYPE")

check=(); [[ $CHECK_STEPS == 0 ]] || check=(--check "$CHECK_STEPS" --device "$DEVICE" --check-dtype "$DTYPE")
stage init init --config "$CONFIG" -o "$W/teacher" --seed 0 "${check[@]}"
cat > "$W/prompts.txt" <<'PROMPTS'
a photo of an astronaut riding a horse on mars
a red double-decker bus driving down a city street
two cats sleeping on a couch next to a remote control
a bowl of fruit on a wooden kitchen table
a man riding a wave on top of a surfboard
a clock tower in the middle of a town square at night
a plate of pasta with tomato sauce and basil
a train crossing a bridge over a river in autumn
PROMPTS
head -n "$PROMPTS" "$W/prompts.txt" > "$W/ablate-prompts.txt"

stage profile profile --model "$W/teacher" --resolution "$RES" --batch "$BATCH" "${dev[@]}" \
  --backend "$BACKEND" --runs "$PROFILE_RUNS" --warmup 1 "${threads[@]}" -o "$W/profile.json"
stage ablate ablate --model "$W/teacher" --prompts "$W/ablate-prompts.txt" --resolution "$RES" --tier 1 --timesteps "$K" \
  --steps "$ABLATE_STEPS" --guidance "$GUIDANCE" --batch "$PROMPTS" --profile "$W/profile.json" \
  --bootstrap 200 "${dev[@]}" "${threads[@]}" -o "$W/importance.json"
cands=()
first=${TARGETS%% *}
for t in $TARGETS; do
  measure=(); [[ $MEASURE == 0 ]] || measure=(--measure --runs 10 --warmup 2 "${dev[@]}" "${threads[@]}")
  # The first target's candidates are built; a later target that fails (e.g. out of reach on this
  # profile) is left out and the chain goes on.
  opt=1; [[ $t == "$first" ]] && opt=0
  optional=$opt stage "search-$t" search --profile "$W/profile.json" --importance "$W/importance.json" \
    --target-speedup "$t" "${measure[@]}" -o "$W/candidates-$t.json" || continue
  cands+=("$W/candidates-$t.json")
done
stage build build --teacher "$W/teacher" --candidates "$W/candidates-$first.json" --pick 1 -o "$W/student"

# A training set: the teacher's own images of the prompts, encoded.
mkdir -p "$W/images"
head -n "$INC_IMAGES" "$W/prompts.txt" > "$W/train-prompts.txt"
stage generate generate --model "$W/teacher" --prompts "$W/train-prompts.txt" --steps 2 --resolution "$RES" \
  "${dev[@]}" -o "$W/images/img.png"
i=0; while read -r p; do echo "$p" > "$W/images/img-$i.txt"; i=$((i + 1)); done < "$W/train-prompts.txt"
stage latents latents --model "$W/teacher" --images "$W/images" --resolution "$RES" "${dev[@]}" \
  -o "$W/latents.safetensors"
amp=(); [[ $AMP == 0 ]] || amp=(--amp)
stage incubate incubate --teacher "$W/teacher" --student "$W/student" --data "$W/latents.safetensors" \
  --steps "$INC_STEPS" --batch "$INC_BATCH" --device "$DEVICE" "${amp[@]}" "${threads[@]}" --no-eval \
  -o "$W/incubated"

stage bench bench --models "teacher=$W/teacher,student=$W/student" "${dev[@]}" --resolution "$RES" \
  --batch "$BATCH" --runs "$BENCH_RUNS" --warmup 1 --steps "$PIPE_STEPS" --guidance "$GUIDANCE" \
  --pipeline-runs "$PIPE_RUNS" --quality-prompts "$QUALITY" --prompts "$W/prompts.txt" -o "$W/bench.json"
stage report report "$W/profile.json" "$W/importance.json" "${cands[@]}" "$W/bench.json" \
  "$W/incubated/incubation.json" --title "asdm on $(basename "$CONFIG" .json), random weights, $DEVICE $DTYPE" \
  -o "$W/report"

echo "== done in $(( $(date +%s) - start )) s"
cat "$timings"
