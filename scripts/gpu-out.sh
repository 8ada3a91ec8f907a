# Sourced by the GPU scripts (gpu-check, gpu-deploy-check, gpu-sd-chain, gpu-scale-check) once
# their log is set up. The device tool brings back at most 8 files from $OUT (16 MiB each, 64 MiB
# in all, two folders down), and a script writes dozens. So a script writes its results under
# $stage (a folder outside $OUT; STAGE=dir picks it) and `pack`, called after every step and on
# exit (a TERM at the call's limit included), rolls the whole folder into $OUT/results.tar.gz,
# leaving weights out (*.safetensors, *.bin, *.pt, *.pth, *.ckpt, *.npz). A kill at the limit then
# still brings back everything up to the last finished step. `show FILE...` also copies a few small
# files to $OUT itself, to read without unpacking (the log, results.tar.gz and at most five such).
# After sourcing, $out is the staging folder and $results the real $OUT.
results=$out
stage=${STAGE:-$(mktemp -d /tmp/asdm-results.XXXXXX)}
mkdir -p "$stage"
out=$stage
pack() {
  tar -C "$stage" --exclude='*.safetensors' --exclude='*.bin' --exclude='*.pt' --exclude='*.pth' \
    --exclude='*.ckpt' --exclude='*.npz' -czf "$results/results-part$BASHPID.tar.gz" . 2> /dev/null &&
    mv -f "$results/results-part$BASHPID.tar.gz" "$results/results.tar.gz"  # whole archives only
  local size
  size=$(stat -c %s "$results/results.tar.gz" 2> /dev/null || echo 0)
  if ((size > 15 * 1024 * 1024)); then
    echo "warning: $results/results.tar.gz is $((size >> 20)) MiB; the device tool returns 16 MiB at most"
  fi
}
show() {
  local f
  for f in "$@"; do [[ -f $f ]] && cp "$f" "$results/"; done
  true
}
trap 'pack; rm -f "$results"/results-part*.tar.gz; echo "results: $results/results.tar.gz (tar -xzf; unpacked in $stage)"' EXIT
trap 'exit 143' TERM
