#!/usr/bin/env bash
# Keeps a trained proxy teacher and its attribute classifier in the repository, with a manifest of
# SHA-256 hashes (checked by tests/proxy/kept_assets_test.cpp), the commands, seed and thread count
# that made them, and their eval numbers.
#   scripts/keep-proxy-assets.sh RUN_DIR CLASSIFIER_DIR EVAL_JSON "TRAIN COMMAND" "CLASSIFIER COMMAND"
# RUN_DIR is an `asdm proxy train` output; the UNet is kept in float16 (asdm proxy export).
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1 classifier=$2 eval=$3 train_cmd=$4 classifier_cmd=$5
dest=assets/proxy-default
rm -rf "$dest"
mkdir -p "$dest"
build/asdm -q proxy export --model "$run" --out "$dest/teacher" --dtype float16
cp -r "$classifier" "$dest/classifier"
cp "$run/train.jsonl" "$dest/teacher/train.jsonl"
cp "$eval" "$dest/eval.json"
python3 - "$dest" "$run" "$train_cmd" "$classifier_cmd" <<'PY'
import hashlib, json, os, sys
dest, run, train_cmd, classifier_cmd = sys.argv[1:]
files = {}
for root, _, names in os.walk(dest):
    for n in sorted(names):
        p = os.path.join(root, n)
        rel = os.path.relpath(p, dest)
        if rel == "MANIFEST.json":
            continue
        files[rel] = hashlib.sha256(open(p, "rb").read()).hexdigest()
opts = json.load(open(os.path.join(run, "train_options.json")))
ev = json.load(open(os.path.join(dest, "eval.json")))
manifest = {
    "what": "the proxy world's default teacher (float16 UNet) and attribute classifier",
    "command": train_cmd,
    "classifier_command": classifier_cmd,
    "seed": opts["seed"],
    "threads": 2,
    "eval_threads": ev.get("device", {}).get("threads"),
    "train_options": opts,
    "eval": {k: ev[k] for k in ("samples", "prompts", "attribute_accuracy", "mean_attribute_accuracy",
                                "all_attributes_correct", "proxy_fid", "sampler", "argv") if k in ev},
    "files": dict(sorted(files.items())),
}
json.dump(manifest, open(os.path.join(dest, "MANIFEST.json"), "w"), indent=2)
print(f"kept {len(files)} files in {dest}")
PY
du -sh "$dest"
